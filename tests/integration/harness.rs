//! Starts the real service on port 0 against real simulated FHIR sources on loopback, and talks
//! to it over HTTP as a client would.

use std::path::{Path, PathBuf};
use std::time::Duration;

use overblick::app::Application;
use overblick::audit::AccessRecord;
use overblick::auth::demo;
use overblick::config::catalog::SourceEntry;
use overblick::config::{
    CacheSettings, DatabaseSettings, EngineSettings, Mode, Settings, SourceHttpSettings,
    load_catalog,
};
use overblick::domain::PersonId;
use overblick::simulator::{SimulatorHandle, start_catalog};
use overblick::store::Store;
use overblick::store::testing::{self, TestDatabase};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

pub const TOLVAN: &str = "19121212-1212";

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

pub struct Builder {
    only: Option<Vec<&'static str>>,
    engine: EngineSettings,
    cache: CacheSettings,
    latency: Option<Duration>,
    database: Option<TestDatabase>,
}

impl Builder {
    /// The database to run on (from `overblick::store::testing::databases()`), instead of a
    /// fresh SQLite file.
    pub fn database(mut self, database: TestDatabase) -> Self {
        self.database = Some(database);
        self
    }

    /// Only these demo sources (by id), instead of all of `sources/`.
    pub fn sources(mut self, ids: &[&'static str]) -> Self {
        self.only = Some(ids.to_vec());
        self
    }

    pub fn source_timeout(mut self, t: Duration) -> Self {
        self.engine.source_timeout = t;
        self
    }

    pub fn deadline(mut self, t: Duration) -> Self {
        self.engine.deadline = t;
        self
    }

    pub fn cache(mut self, cache: CacheSettings) -> Self {
        self.cache = cache;
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
        if let Some(latency) = self.latency {
            for entry in &mut catalog {
                if let Some(sim) = &mut entry.simulator {
                    sim.latency = latency;
                }
            }
        }
        let simulators = start_catalog(&mut catalog)
            .await
            .expect("the simulators start");
        let database = self.database.unwrap_or_else(testing::sqlite);
        TestApp::start(catalog, simulators, self.engine, self.cache, database).await
    }
}

pub struct TestApp {
    pub url: String,
    pub client: reqwest::Client,
    pub catalog: Vec<SourceEntry>,
    pub simulators: Vec<SimulatorHandle>,
    /// The service's own store (the same database, the same access-log writer).
    pub store: Store,
    // Removed when the test ends; declared last so the store's connections close first.
    _database: TestDatabase,
}

impl TestApp {
    pub fn builder() -> Builder {
        Builder {
            only: None,
            engine: EngineSettings::default(),
            cache: CacheSettings::default(),
            latency: None,
            database: None,
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
        let settings = Settings {
            mode: Mode::Demo,
            listen: "127.0.0.1:0".parse().unwrap(),
            catalog: catalog.clone(),
            engine,
            cache,
            source_http: SourceHttpSettings::default(),
            issuers: Vec::new(),
            database: DatabaseSettings {
                url: database.url.clone(),
            },
            graphiql: true,
        };
        let app = Application::build(&settings)
            .await
            .expect("the service starts");
        let store = app.store().clone();
        let addr = app.spawn();
        TestApp {
            url: format!("http://{addr}"),
            client: reqwest::Client::new(),
            catalog,
            simulators,
            store,
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
        let url = entry.base_url.as_deref().unwrap();
        self.simulators
            .iter()
            .find(|s| s.base_url() == url)
            .expect("a simulator for every source")
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

    /// The access log's records about `patient` (any written form), newest first.
    pub async fn access_log(&self, patient: &str) -> Vec<AccessRecord> {
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
