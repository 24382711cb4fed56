//! Starts the real service on port 0 against real simulated FHIR sources on loopback, and talks
//! to it over HTTP as a client would.

use std::path::{Path, PathBuf};
use std::time::Duration;

use overblick::app::Application;
use overblick::audit::AccessRecord;
use overblick::auth::demo;
use overblick::config::catalog::SourceEntry;
use overblick::config::{
    AccessFile, CacheSettings, DEMO_ENGAGEMENT_INDEX_FILE, DEMO_POPULATION_FILE, DatabaseSettings,
    EngagementIndexSettings, EngineSettings, GraphqlSettings, IssuerSettings, Mode,
    PlatformSettings, PolicyOverrides, RateLimitSettings, ServerSettings, Settings,
    SourceHttpSettings, SourcePolicy, load_catalog,
};
use overblick::domain::{HsaId, PersonId};
use overblick::store::Store;
use overblick::store::testing::{self, TestDatabase};
use overblick_simulators::rivta::RivtaHandle;
use overblick_simulators::{
    EngagementIndexHandle, FhirHandle, Simulator, SimulatorHandle, start_engagement_index,
};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

pub use overblick::store::testing::databases;

pub const TOLVAN: &str = "19121212-1212";
/// Lena Tolvansson, guardian of Elias in the demo's population register.
pub const LENA: &str = "19880412-2383";
/// Elias Tolvansson, born 2020-06-15.
pub const ELIAS: &str = "20200615-2397";
/// Margareta Tolvansson, Tolvan's daughter.
pub const MARGARETA: &str = "19600301-2389";

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// A demo token for `person`, valid for an hour.
pub fn token(person: &str) -> String {
    demo::mint(
        &PersonId::parse(person).expect("a valid test personnummer"),
        None,
        Duration::from_secs(3600),
    )
}

/// A demo staff token for Karin Lindqvist at Gottsunda vårdcentral, Region Uppsala.
pub fn staff_token() -> String {
    demo::mint_staff(&demo::DEMO_STAFF.identity(), Duration::from_secs(3600))
}

/// A demo staff token for Karin Lindqvist signed in at another care unit and provider.
pub fn staff_token_at(care_unit: &str, care_provider: &str) -> String {
    let mut staff = demo::DEMO_STAFF.identity();
    staff.care_unit = HsaId::parse(care_unit).expect("a valid HSA-id");
    staff.care_unit_name = None;
    staff.care_provider = HsaId::parse(care_provider).expect("a valid HSA-id");
    staff.care_provider_name = None;
    demo::mint_staff(&staff, Duration::from_secs(3600))
}

/// A valid personnummer of someone born on `date` (serial 238, check digit computed).
pub fn born_on(date: chrono::NaiveDate) -> String {
    let nine = format!("{}238", date.format("%y%m%d"));
    let sum: u32 = nine
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0') * if i % 2 == 0 { 2 } else { 1 };
            d / 10 + d % 10
        })
        .sum();
    format!("{}-238{}", date.format("%Y%m%d"), (10 - sum % 10) % 10)
}

/// How the service under test is set up.
pub struct Options {
    pub engine: EngineSettings,
    /// Every source's policy (a catalog entry's overrides still apply).
    pub policy: SourcePolicy,
    /// The GraphQL edge's limits; introspection on and sources' error text shown, as in the
    /// demo.
    pub graphql: GraphqlSettings,
    /// Off unless a test switches it on: most tests send many requests as one user.
    pub rate_limit: RateLimitSettings,
    /// The listener's header read timeout and connections per address (the defaults).
    pub server: ServerSettings,
    pub cache: CacheSettings,
    /// Token issuers to trust besides the demo issuer.
    pub issuers: Vec<IssuerSettings>,
    /// A fresh SQLite file when `None`.
    pub database: Option<TestDatabase>,
    /// Or the URL of a database a test keeps (one of [`databases`]), to start several
    /// services on it.
    pub database_url: Option<String>,
    pub delegation: bool,
    /// The population register as TOML; the demo's when `None`.
    pub population: Option<String>,
    /// The national service platform connection (engagement index, TLS).
    pub platform: PlatformSettings,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            engine: EngineSettings::default(),
            policy: SourcePolicy::default(),
            graphql: GraphqlSettings {
                introspection: Some(true),
                redact_source_errors: Some(false),
                ..GraphqlSettings::default()
            },
            rate_limit: RateLimitSettings {
                enabled: false,
                ..RateLimitSettings::default()
            },
            server: ServerSettings::default(),
            cache: CacheSettings::default(),
            issuers: Vec::new(),
            database: None,
            database_url: None,
            delegation: true,
            population: None,
            platform: PlatformSettings::default(),
        }
    }
}

pub struct Builder {
    only: Option<Vec<&'static str>>,
    /// Start the demo's engagement index and guide the RIV-TA sources by it.
    engagement_index: bool,
    latency: Option<Duration>,
    /// Per-source policy overrides, as a catalog file's `[policy]` would give them.
    overrides: Vec<(&'static str, PolicyOverrides)>,
    /// Move the demo's story to this day, as the demo does to today.
    story_today: Option<chrono::NaiveDate>,
    options: Options,
}

impl Builder {
    /// Overrides the policy of the source `id`, as its catalog file's `[policy]` would.
    pub fn source_policy(mut self, id: &'static str, overrides: PolicyOverrides) -> Self {
        self.overrides.push((id, overrides));
        self
    }

    /// Token issuers to trust besides the demo issuer.
    pub fn issuers(mut self, issuers: Vec<IssuerSettings>) -> Self {
        self.options.issuers = issuers;
        self
    }

    /// The database to run on (one of [`databases`]), instead of a fresh SQLite file.
    pub fn database(mut self, database: &TestDatabase) -> Self {
        self.options.database_url = Some(database.url.clone());
        self
    }

    /// Delegation switched on (the default here, as in the demo) or off.
    pub fn delegation(mut self, on: bool) -> Self {
        self.options.delegation = on;
        self
    }

    /// The population register, as TOML (`[[person]]` entries).
    pub fn population(mut self, toml: &str) -> Self {
        self.options.population = Some(toml.to_owned());
        self
    }

    /// The demo's engagement index (`sources/registers/engagement-index.toml`) guides the calls
    /// to RIV-TA sources, as in the demo.
    pub fn engagement_index(mut self) -> Self {
        self.engagement_index = true;
        self
    }

    /// The demo's story moved so that its "today" is `today`, as `cargo run` moves it to the
    /// real today (without it, the records are as written, dated around 2026-11-22).
    pub fn story_today(mut self, today: chrono::NaiveDate) -> Self {
        self.story_today = Some(today);
        self
    }

    /// Only these demo sources (by id), instead of all of `sources/`.
    pub fn sources(mut self, ids: &[&'static str]) -> Self {
        self.only = Some(ids.to_vec());
        self
    }

    pub fn source_timeout(mut self, t: Duration) -> Self {
        self.options.policy.timeout = t;
        self
    }

    /// Every source's policy.
    pub fn policy(mut self, policy: SourcePolicy) -> Self {
        self.options.policy = policy;
        self
    }

    pub fn graphql(mut self, graphql: GraphqlSettings) -> Self {
        self.options.graphql = graphql;
        self
    }

    pub fn rate_limit(mut self, rate_limit: RateLimitSettings) -> Self {
        self.options.rate_limit = rate_limit;
        self
    }

    pub fn server(mut self, server: ServerSettings) -> Self {
        self.options.server = server;
        self
    }

    pub fn deadline(mut self, t: Duration) -> Self {
        self.options.engine.deadline = t;
        self
    }

    pub fn cache(mut self, cache: CacheSettings) -> Self {
        self.options.cache = cache;
        self
    }

    /// Overrides every simulated source's latency.
    pub fn latency(mut self, l: Duration) -> Self {
        self.latency = Some(l);
        self
    }

    pub async fn start(self) -> TestApp {
        let mut catalog = load_catalog(&repo_path("sources")).expect("the demo catalog loads");
        if let Some(only) = &self.only {
            catalog.retain(|e| only.contains(&e.info.id.as_str()));
            assert_eq!(
                catalog.len(),
                only.len(),
                "every requested demo source exists"
            );
        }
        for (id, overrides) in self.overrides {
            catalog
                .iter_mut()
                .find(|e| e.info.id == id)
                .unwrap_or_else(|| panic!("no source {id}"))
                .policy = overrides;
        }
        if let Some(latency) = self.latency {
            for entry in &mut catalog {
                if let Some(sim) = &mut entry.simulator {
                    sim.latency = latency;
                }
            }
        }
        if let Some(today) = self.story_today {
            overblick::demo::move_story_to(&mut catalog, today);
        }
        // Every simulated FHIR source may notify the service, as in the demo.
        overblick::demo::give_notify_secrets(&mut catalog);
        let simulators = overblick::demo::start_simulators(&mut catalog)
            .await
            .expect("the simulators start");
        let mut options = self.options;
        let index = if self.engagement_index {
            let index =
                start_engagement_index(&repo_path("sources").join(DEMO_ENGAGEMENT_INDEX_FILE))
                    .await
                    .expect("the engagement index starts");
            options.platform.engagement_index = Some(EngagementIndexSettings::new(
                Some(index.base_url().to_owned()),
                index.logical_address().to_owned(),
            ));
            Some(index)
        } else {
            None
        };
        let mut app = TestApp::start_with(catalog, simulators.fhir(), options).await;
        app.rivta = simulators.rivta();
        app.index = index;
        simulators.notify_service(&app.catalog, Some(&app.platform_secret), &app.url);
        app.sources = simulators.started.clone();
        app
    }
}

pub struct TestApp {
    pub url: String,
    pub client: reqwest::Client,
    pub catalog: Vec<SourceEntry>,
    pub simulators: Vec<SimulatorHandle>,
    /// The demo's RIV-TA simulators, when the demo catalog was started.
    pub rivta: Vec<RivtaHandle>,
    /// The demo's engagement index, when asked for.
    pub index: Option<EngagementIndexHandle>,
    /// The service's own store (the same database, the same access-log writer).
    pub store: Store,
    /// The service's engine (its change hub: what a source's notification publishes).
    pub engine: std::sync::Arc<overblick::engine::Engine>,
    /// The service's routes, for requests made in-process: an answer's body is then read only
    /// as fast as the test reads it, with no socket buffers in between.
    pub router: axum::Router,
    /// Every demo simulator by source id, when the demo catalog was started.
    pub sources: Vec<(String, Simulator)>,
    /// The secret the platform's notifications (`POST /notify/rivta`) must carry.
    pub platform_secret: String,
    _dir: tempfile::TempDir,
    // Removed when the test ends; declared last so the store's connections close first.
    _database: Option<TestDatabase>,
}

impl TestApp {
    pub fn builder() -> Builder {
        Builder {
            only: None,
            engagement_index: false,
            latency: None,
            overrides: Vec::new(),
            story_today: None,
            options: Options::default(),
        }
    }

    /// Starts the service over `catalog` (whose entries already have base URLs).
    pub async fn start(
        catalog: Vec<SourceEntry>,
        simulators: Vec<SimulatorHandle>,
        engine: EngineSettings,
        cache: CacheSettings,
        database: TestDatabase,
    ) -> TestApp {
        let options = Options {
            engine,
            cache,
            database: Some(database),
            ..Options::default()
        };
        Self::start_with(catalog, simulators, options).await
    }

    /// Starts the service over `catalog` as `options` say.
    pub async fn start_with(
        catalog: Vec<SourceEntry>,
        simulators: Vec<SimulatorHandle>,
        options: Options,
    ) -> TestApp {
        let dir = tempfile::tempdir().expect("a temp dir");
        let population_file = match &options.population {
            Some(toml) => {
                let path = dir.path().join("population.toml");
                std::fs::write(&path, toml).expect("the register is written");
                path
            }
            None => repo_path("sources").join(DEMO_POPULATION_FILE),
        };
        let database = match options.database_url {
            Some(_) => None,
            None => Some(options.database.unwrap_or_else(testing::sqlite)),
        };
        let url = match (&database, options.database_url) {
            (Some(db), _) => db.url.clone(),
            (None, Some(url)) => url,
            (None, None) => unreachable!("a database is chosen above"),
        };
        let mut platform = options.platform;
        let platform_secret = platform
            .notify_secret
            .get_or_insert_with(overblick::notify::Secret::generate)
            .expose()
            .to_owned();
        let settings = Settings {
            mode: Mode::Demo,
            listen: "127.0.0.1:0".parse().unwrap(),
            catalog: catalog.clone(),
            engine: options.engine,
            cache: options.cache,
            source_http: SourceHttpSettings::default(),
            policy: options.policy,
            graphql: options.graphql,
            rate_limit: options.rate_limit,
            server: options.server,
            issuers: options.issuers,
            database: DatabaseSettings { url },
            access: AccessFile {
                delegation: options.delegation,
                population_file: Some(population_file),
            },
            platform,
            graphiql: true,
        };
        let app = Application::build(&settings)
            .await
            .expect("the service starts");
        let store = app.store().clone();
        let engine = app.engine().clone();
        let router = app.router();
        let addr = app.spawn();
        TestApp {
            url: format!("http://{addr}"),
            client: reqwest::Client::new(),
            catalog,
            simulators,
            rivta: Vec::new(),
            index: None,
            store,
            engine,
            router,
            sources: Vec::new(),
            platform_secret,
            _dir: dir,
            _database: database,
        }
    }

    /// The simulator serving the source with this id.
    pub fn simulator(&self, source_id: &str) -> &SimulatorHandle {
        let entry = self
            .catalog
            .iter()
            .find(|e| e.info.id == source_id)
            .unwrap_or_else(|| panic!("no source {source_id}"));
        let url = entry.base_url().unwrap();
        self.simulators
            .iter()
            .chain(self.rivta.iter().map(|r| r.server()))
            .find(|s| s.base_url() == url)
            .expect("a simulator for every source")
    }

    /// The FHIR simulator of the source with this id, with its records' controls.
    pub fn fhir_source(&self, source_id: &str) -> FhirHandle {
        self.sources
            .iter()
            .find_map(|(id, s)| match s {
                Simulator::Fhir(handle) if id == source_id => Some(handle.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no simulated FHIR source {source_id}"))
    }

    /// The RIV-TA simulator of the source with this id, with its answers' controls.
    pub fn rivta_source(&self, source_id: &str) -> RivtaHandle {
        self.sources
            .iter()
            .find_map(|(id, s)| match s {
                Simulator::RivTa(handle) if id == source_id => Some(handle.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no simulated RIV-TA source {source_id}"))
    }

    /// The secret the source with this id sends with its notifications.
    pub fn notify_secret(&self, source_id: &str) -> String {
        self.catalog
            .iter()
            .find(|e| e.info.id == source_id)
            .and_then(|e| match &e.protocol {
                overblick::config::catalog::ProtocolConfig::FhirR4(c) => c.notify_secret.clone(),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no notification secret for {source_id}"))
            .expose()
            .to_owned()
    }

    /// Requests received by all simulators together.
    pub fn upstream_hits(&self) -> u64 {
        self.simulators.iter().map(|s| s.hits()).sum()
    }

    /// Requests for `resource_type` received by all simulators together.
    pub fn upstream_hits_for(&self, resource_type: &str) -> u64 {
        self.simulators
            .iter()
            .map(|s| s.hits_for(resource_type))
            .sum()
    }

    /// POSTs a GraphQL request with `authorization` as the bearer token (none when `None`).
    pub async fn post(
        &self,
        authorization: Option<&str>,
        body: Value,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.url))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some(token) = authorization {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the service answers");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        let json =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("a JSON body, got {e}: {text}"));
        (status, headers, json)
    }

    /// Runs `query` as Tolvan and returns the whole GraphQL response (data and errors).
    pub async fn query(&self, query: &str) -> Value {
        self.query_with(query, json!({})).await
    }

    pub async fn query_with(&self, query: &str, variables: Value) -> Value {
        let (status, _, body) = self
            .post(
                Some(&token(TOLVAN)),
                json!({ "query": query, "variables": variables }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// POSTs `query` with `variables` as the holder of `token`; the answer must be HTTP 200.
    pub async fn post_as(&self, token: &str, query: &str, variables: Value) -> Value {
        self.post_as_full(token, query, variables).await.1
    }

    /// As [`post_as`](Self::post_as), with the response headers.
    pub async fn post_as_full(
        &self,
        token: &str,
        query: &str,
        variables: Value,
    ) -> (HeaderMap, Value) {
        let (status, headers, body) = self
            .post(
                Some(token),
                json!({ "query": query, "variables": variables }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (headers, body)
    }

    /// The service's `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .expect("the service answers")
            .text()
            .await
            .expect("a body")
    }

    /// The value of the metric sample `name{labels}` (labels exactly as printed), if present.
    pub async fn metric(&self, sample: &str) -> Option<f64> {
        let text = self.metrics().await;
        text.lines()
            .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' '))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
    }

    /// The access log's records about `patient` (any written form), newest first.
    pub async fn access_records(&self, patient: &str) -> Vec<AccessRecord> {
        let patient = PersonId::parse(patient).expect("a valid test personnummer");
        self.store
            .access_log(&patient, None, None)
            .await
            .expect("the access log reads")
    }
}

/// The `extensions.code` of every error in a response.
pub fn error_codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The `sources` entries of an overview, as (source, domain, state).
pub fn states(body: &Value) -> Vec<(String, String, String)> {
    body["data"]["overview"]["sources"]
        .as_array()
        .expect("sources in the answer")
        .iter()
        .map(|s| {
            (
                s["source"].as_str().unwrap().to_owned(),
                s["domain"].as_str().unwrap().to_owned(),
                s["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The source ids in an item's provenance.
pub fn provenance_sources(item: &Value) -> Vec<String> {
    item["provenance"]
        .as_array()
        .expect("provenance")
        .iter()
        .map(|p| p["sourceId"].as_str().unwrap().to_owned())
        .collect()
}

/// One GraphQL-over-SSE stream, read event by event.
pub struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl EventStream {
    pub async fn open(app: &TestApp, bearer: &str, query: &str, variables: Value) -> EventStream {
        let response = app
            .client
            .post(format!("{}/graphql", app.url))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .bearer_auth(bearer)
            .body(json!({ "query": query, "variables": variables }).to_string())
            .send()
            .await
            .expect("the service answers");
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()[reqwest::header::CONTENT_TYPE],
            "text/event-stream"
        );
        EventStream {
            response,
            buffer: String::new(),
        }
    }

    /// The next event's name and data (JSON, or null for an empty one); None at the end.
    /// Keep-alive comments are skipped.
    pub async fn next(&mut self) -> Option<(String, Value)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let mut name = "message".to_owned();
                let mut data = Vec::new();
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push(v.strip_prefix(' ').unwrap_or(v).to_owned());
                    }
                }
                if name == "message" && data.is_empty() {
                    continue;
                }
                let data = data.join("\n");
                let value = if data.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_str(&data).expect("an event's data is JSON")
                };
                return Some((name, value));
            }
            let chunk = tokio::time::timeout(Duration::from_secs(20), self.response.chunk())
                .await
                .expect("the stream says something within 20 s")
                .expect("the stream reads")?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The data of every `next` event until `complete`.
    pub async fn until_complete(&mut self) -> Vec<Value> {
        let mut events = Vec::new();
        while let Some((name, data)) = self.next().await {
            match name.as_str() {
                "next" => events.push(data),
                "complete" => return events,
                other => panic!("unexpected event {other}"),
            }
        }
        panic!("the stream ended without `complete` after {events:?}")
    }

    /// The next `next` event's data.
    pub async fn next_event(&mut self) -> Value {
        match self.next().await {
            Some((name, data)) if name == "next" => data,
            other => panic!("expected an event `next`, got {other:?}"),
        }
    }
}

/// One graphql-transport-ws connection, signed in.
pub struct Socket {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Socket {
    pub async fn open(app: &TestApp, bearer: &str) -> Socket {
        let url = format!("{}/graphql", app.url.replacen("http", "ws", 1));
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = url.as_str().into_client_request().unwrap();
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let mut socket = Socket { socket };
        socket
            .send(json!({
                "type": "connection_init",
                "payload": { "Authorization": format!("Bearer {bearer}") }
            }))
            .await;
        let ack = socket.receive().await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        socket
    }

    pub async fn send(&mut self, message: Value) {
        use futures::SinkExt;
        self.socket
            .send(tokio_tungstenite::tungstenite::Message::Text(
                message.to_string().into(),
            ))
            .await
            .unwrap();
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({
            "id": id,
            "type": "subscribe",
            "payload": { "query": query, "variables": variables }
        }))
        .await;
    }

    /// The next message that is not a ping (pings are answered).
    pub async fn receive(&mut self) -> Value {
        use futures::StreamExt;
        loop {
            let message = tokio::time::timeout(Duration::from_secs(20), self.socket.next())
                .await
                .expect("a message within 20 s")
                .expect("the socket is open")
                .unwrap();
            let tokio_tungstenite::tungstenite::Message::Text(text) = message else {
                continue;
            };
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["type"] == "ping" {
                self.send(json!({ "type": "pong" })).await;
                continue;
            }
            return value;
        }
    }

    /// The payload of the next `next` message (acknowledgements skipped).
    pub async fn next_payload(&mut self) -> Value {
        loop {
            let message = self.receive().await;
            match message["type"].as_str() {
                Some("next") => return message["payload"].clone(),
                Some("connection_ack" | "pong") => continue,
                other => panic!("unexpected {other:?}: {message}"),
            }
        }
    }
}
