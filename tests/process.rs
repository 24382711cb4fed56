//! Runs the real `overblick` binary as a child process, as it is deployed, and checks what only a
//! whole process shows: the access log survives the process being killed mid-burst, and the
//! application log of a whole run names nobody.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use overblick::auth::demo::{
    self, DEMO_CHILD, DEMO_DELEGATE, DEMO_GUARDIAN, DEMO_PATIENT, DEMO_STAFF,
};
use overblick::domain::PersonId;
use overblick::store::Store;
use overblick::store::testing::databases;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// A port nobody listens on right now. Another process may take it before the service binds it;
/// [`Service::start`] then tries another.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// The `overblick` binary serving a demo-mode config on a database, its stdout and stderr in
/// files. Killed when dropped, so a failing test leaves no process behind.
struct Service {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Service {
    /// Starts the service on `database_url` with `RUST_LOG=rust_log` and waits until
    /// `GET /healthz` answers.
    async fn start(database_url: &str, rust_log: &str) -> Service {
        Self::start_with(database_url, rust_log, "").await
    }

    /// As [`Service::start`], with `extra` (TOML tables) added to the config.
    async fn start_with(database_url: &str, rust_log: &str, extra: &str) -> Service {
        let mut last_failure = String::new();
        for _ in 0..3 {
            match Self::try_start(database_url, rust_log, extra).await {
                Ok(service) => return service,
                Err(failure) => last_failure = failure,
            }
        }
        panic!("the service does not start: {last_failure}");
    }

    async fn try_start(database_url: &str, rust_log: &str, extra: &str) -> Result<Service, String> {
        let dir = tempfile::tempdir().expect("a temp dir");
        let port = free_port();
        let config = dir.path().join("overblick.toml");
        // Demo mode: the demo token issuer is trusted and catalog entries without a base URL
        // get the built-in simulators, in the service's own process. No rate limit: the burst
        // below is one user's 200 overviews at once, by design.
        std::fs::write(
            &config,
            format!(
                "mode = \"demo\"\nlisten = \"127.0.0.1:{port}\"\nsources = {:?}\n\
                 [database]\nurl = {database_url:?}\n\
                 [rate_limit]\nenabled = false\n\
                 [access]\ndelegation = true\npopulation_file = {:?}\n{extra}",
                repo_path("sources"),
                repo_path("sources/registers/population.toml"),
            ),
        )
        .expect("the config is written");
        let stdout = File::create(dir.path().join("stdout")).expect("a stdout file");
        let stderr = File::create(dir.path().join("stderr")).expect("a stderr file");
        let child = Command::new(env!("CARGO_BIN_EXE_overblick"))
            .arg("--config")
            .arg(&config)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .env("RUST_LOG", rust_log)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("the overblick binary starts");
        let mut service = Service {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        };
        let client = reqwest::Client::new();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Some(status) = service.child.try_wait().expect("the child's status") {
                return Err(format!("exited with {status}: {}", service.stderr()));
            }
            let health = client
                .get(format!("{}/healthz", service.url))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if health.is_ok_and(|r| r.status() == StatusCode::OK) {
                return Ok(service);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!(
            "no answer on /healthz in 30 s: {}",
            service.stderr()
        ))
    }

    /// What the service wrote to stderr: its application log.
    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).expect("the stderr file")
    }

    /// What the service wrote to stdout: the demo's console.
    fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stdout")).expect("the stdout file")
    }

    /// Stops the service as Ctrl-C does, so everything it would log on the way out is logged;
    /// killed if it has not stopped in 10 s.
    fn stop(&mut self) {
        let sent = Command::new("kill")
            .arg("-INT")
            .arg(self.child.id().to_string())
            .status()
            .is_ok_and(|s| s.success());
        let started = Instant::now();
        while sent && started.elapsed() < Duration::from_secs(10) {
            if self.child.try_wait().expect("the child's status").is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response as a client saw it: status, `x-request-id` and the JSON body.
struct Answer {
    status: StatusCode,
    request_id: Option<String>,
    body: Value,
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    query: &str,
    variables: Value,
) -> reqwest::Result<Answer> {
    let response = client
        .post(format!("{url}/graphql"))
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(json!({ "query": query, "variables": variables }).to_string())
        .timeout(Duration::from_secs(20))
        .send()
        .await?;
    let status = response.status();
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // A body cut off by the kill is no answer: `json` fails on it.
    let text = response.text().await?;
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Answer {
        status,
        request_id,
        body,
    })
}

fn person_token(person: demo::DemoPerson) -> String {
    demo::mint(&person.id(), Some(person.name), Duration::from_secs(3600))
}

fn error_codes(body: &Value) -> Vec<&str> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["extensions"]["code"].as_str().unwrap_or(""))
                .collect()
        })
        .unwrap_or_default()
}

/// How many overviews the burst asks for, how many at once, and after how many answers with
/// data the service is killed. Killing on a count of answers rather than after a sleep keeps
/// the kill inside the burst however slow the machine is.
const BURST: usize = 200;
const AT_ONCE: usize = 8;
const KILL_AFTER: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_access_that_returned_data_is_missing_from_the_access_log_when_the_service_is_killed_mid_burst()
 {
    let tolvan = DEMO_PATIENT.id();
    for db in databases().await {
        let started = Instant::now();
        let mut service = Service::start(&db.url, "warn").await;
        let token = Arc::new(person_token(DEMO_PATIENT));
        let client = reqwest::Client::new();
        let next = Arc::new(AtomicUsize::new(0));
        let with_data = Arc::new(AtomicUsize::new(0));
        let enough = Arc::new(tokio::sync::Notify::new());
        // Request ids of the answers that carried data, and how many requests got no answer.
        let returned: Arc<Mutex<Vec<String>>> = Arc::default();
        let failed = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..AT_ONCE)
            .map(|_| {
                let (client, url, token) = (client.clone(), service.url.clone(), token.clone());
                let (next, with_data, enough) = (next.clone(), with_data.clone(), enough.clone());
                let (returned, failed) = (returned.clone(), failed.clone());
                tokio::spawn(async move {
                    while next.fetch_add(1, Ordering::SeqCst) < BURST {
                        let query = "{ overview { medications { id } } }";
                        match post(&client, &url, &token, query, json!({})).await {
                            Ok(a)
                                if a.status == StatusCode::OK
                                    && a.body["data"]["overview"].is_object() =>
                            {
                                let id =
                                    a.request_id.expect("an answer with data has a request id");
                                returned.lock().unwrap().push(id);
                                if with_data.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER {
                                    enough.notify_one();
                                }
                            }
                            Ok(_) => {}
                            Err(_) => {
                                failed.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                    }
                })
            })
            .collect();
        tokio::time::timeout(Duration::from_secs(60), enough.notified())
            .await
            .unwrap_or_else(|_| panic!("{:?}: {KILL_AFTER} overviews in 60 s", db.backend));
        // SIGKILL: no shutdown, no flushing, as a crash or an OOM kill.
        service.child.kill().expect("the service is killed");
        service.child.wait().expect("the killed service is reaped");
        for worker in workers {
            worker.await.expect("a burst worker finishes");
        }

        let returned = returned.lock().unwrap().clone();
        let failed = failed.load(Ordering::SeqCst);
        assert!(
            returned.len() >= KILL_AFTER,
            "{:?}: {} answers with data before the kill",
            db.backend,
            returned.len()
        );
        assert!(
            failed > 0 && returned.len() < BURST,
            "{:?}: the kill came after the burst ({} answers with data, {failed} failed): it proves nothing",
            db.backend,
            returned.len()
        );

        let store = Store::open(&db.url)
            .await
            .expect("the database opens after the kill");
        let logged: HashSet<String> = store
            .access_log(&tolvan, None, None)
            .await
            .expect("the access log reads")
            .into_iter()
            .filter(|r| r.outcome == "granted")
            .map(|r| r.request_id)
            .collect();
        let missing: Vec<&String> = returned.iter().filter(|id| !logged.contains(*id)).collect();
        assert!(
            missing.is_empty(),
            "{:?}: {} of {} accesses that returned data have no access record: {missing:?}",
            db.backend,
            missing.len(),
            returned.len()
        );
        eprintln!(
            "{:?}: {} answers with data, all in the access log; {failed} requests failed at or after the kill; {:.1} s",
            db.backend,
            returned.len(),
            started.elapsed().as_secs_f64()
        );
    }
}

/// A subscription's request id and, for each event with data, the sources of that data.
type Streamed = (String, Vec<HashSet<String>>);

/// One subscription's events as the client read them, until its end or the kill: for each
/// event that carried data, the sources of that data.
async fn subscribe(client: &reqwest::Client, url: &str, token: &str) -> Option<Streamed> {
    let query = "subscription { overview { complete medications { id provenance { sourceId } } } }";
    let mut response = client
        .post(format!("{url}/graphql"))
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::ACCEPT, "text/event-stream")
        .body(json!({ "query": query }).to_string())
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .ok()?;
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())?
        .to_owned();
    let mut buffer = String::new();
    let mut events = Vec::new();
    // An error mid-stream (the kill) ends the reading; what was read counts.
    while let Ok(Some(chunk)) = response.chunk().await {
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data:")) else {
                continue;
            };
            let Ok(event) = serde_json::from_str::<Value>(data.trim()) else {
                continue;
            };
            let sources: HashSet<String> = event["data"]["overview"]["medications"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|m| m["provenance"].as_array().cloned().unwrap_or_default())
                .filter_map(|p| p["sourceId"].as_str().map(str::to_owned))
                .collect();
            if !sources.is_empty() {
                events.push(sources);
            }
        }
    }
    Some((request_id, events))
}

/// The live overview's events are accesses too: every event that reached the subscriber with
/// data is in the access log, naming the sources of that data, although the service is killed
/// while subscriptions are streaming.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_subscription_event_that_carried_data_is_missing_from_the_access_log_when_the_service_is_killed()
 {
    let tolvan = DEMO_PATIENT.id();
    for db in databases().await {
        // No cache, and a first event after 20 ms: the demo's sources answer in 15 to 65 ms,
        // so most subscriptions bring their data in several events, each its own access.
        let mut service = Service::start_with(
            &db.url,
            "warn",
            "[cache]\nenabled = false\n[graphql.subscriptions]\nfirst_answer = \"20ms\"\n",
        )
        .await;
        let token = Arc::new(person_token(DEMO_PATIENT));
        let client = reqwest::Client::new();
        let next = Arc::new(AtomicUsize::new(0));
        let with_data = Arc::new(AtomicUsize::new(0));
        let enough = Arc::new(tokio::sync::Notify::new());
        let received: Arc<Mutex<Vec<Streamed>>> = Arc::default();
        let workers: Vec<_> = (0..AT_ONCE)
            .map(|_| {
                let (client, url, token) = (client.clone(), service.url.clone(), token.clone());
                let (next, with_data, enough) = (next.clone(), with_data.clone(), enough.clone());
                let received = received.clone();
                tokio::spawn(async move {
                    while next.fetch_add(1, Ordering::SeqCst) < BURST {
                        let Some((id, events)) = subscribe(&client, &url, &token).await else {
                            continue;
                        };
                        if events.is_empty() {
                            continue;
                        }
                        received.lock().unwrap().push((id, events));
                        if with_data.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER {
                            enough.notify_one();
                        }
                    }
                })
            })
            .collect();
        tokio::time::timeout(Duration::from_secs(90), enough.notified())
            .await
            .unwrap_or_else(|_| panic!("{:?}: {KILL_AFTER} subscriptions in 90 s", db.backend));
        service.child.kill().expect("the service is killed");
        service.child.wait().expect("the killed service is reaped");
        for worker in workers {
            worker.await.expect("a burst worker finishes");
        }
        let received = received.lock().unwrap().clone();
        let events: usize = received.iter().map(|(_, e)| e.len()).sum();
        assert!(
            events > received.len(),
            "{:?}: every subscription brought its data in one event: nothing tested events after the first",
            db.backend
        );
        assert!(
            received.len() >= KILL_AFTER && received.len() < BURST,
            "{:?}: {} subscriptions with data: the kill was not inside the burst",
            db.backend,
            received.len()
        );

        let store = Store::open(&db.url)
            .await
            .expect("the database opens after the kill");
        let mut logged: std::collections::HashMap<String, HashSet<String>> = Default::default();
        for record in store
            .access_log(&tolvan, None, None)
            .await
            .expect("the access log reads")
            .into_iter()
            .filter(|r| r.outcome == "granted")
        {
            logged
                .entry(record.request_id)
                .or_default()
                .extend(record.sources);
        }
        let mut unlogged = Vec::new();
        for (id, events) in &received {
            let seen: HashSet<&String> = events.iter().flatten().collect();
            let named = logged.get(id);
            let missing: Vec<&&String> = seen
                .iter()
                .filter(|s| !named.is_some_and(|n| n.contains(**s)))
                .collect();
            if !missing.is_empty() {
                unlogged.push(format!("{id}: {missing:?}"));
            }
        }
        assert!(
            unlogged.is_empty(),
            "{:?}: data from these sources reached subscribers with no access record naming them: {unlogged:?}",
            db.backend
        );
        eprintln!(
            "{:?}: {} subscriptions with data ({} events), every source of it in the access log",
            db.backend,
            received.len(),
            received.iter().map(|(_, e)| e.len()).sum::<usize>()
        );
    }
}

/// Every written form of a personnummer: 12 digits, `YYYYMMDD-NNNC`, 10 digits, `YYMMDD-NNNC`
/// and `YYMMDD+NNNC` (the ten-digit form of someone a hundred or older).
fn written_forms(digits: &str) -> Vec<String> {
    assert_eq!(digits.len(), 12, "{digits}");
    vec![
        digits.to_owned(),
        format!("{}-{}", &digits[..8], &digits[8..]),
        digits[2..].to_owned(),
        format!("{}-{}", &digits[2..8], &digits[8..]),
        format!("{}+{}", &digits[2..8], &digits[8..]),
    ]
}

const EMERGENCY_REASON: &str = "Medvetslös vid ankomst, anhöriga ej nåbara";

/// A whole run as every kind of user: GraphiQL loaded in a browser (in the demo the page holds
/// a token for Tolvan), the patient, a refused and a malformed request, bad tokens, care staff
/// in care and in an emergency, a guardian, a delegate, blocks and the access log. Returns the
/// request ids the service answered with.
async fn whole_run(url: &str) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut request_ids = Vec::new();
    for _ in 0..2 {
        let page = client
            .get(format!("{url}/graphql"))
            .header(reqwest::header::ACCEPT, "text/html")
            .send()
            .await
            .expect("the service answers");
        assert_eq!(page.status(), StatusCode::OK);
        let id = page.headers()["x-request-id"].to_str().unwrap().to_owned();
        let html = page.text().await.expect("the page");
        assert!(
            html.contains("GraphiQL") && html.contains("Bearer eyJ"),
            "the demo's GraphiQL page, with its token: {html}"
        );
        request_ids.push(id);
    }
    let mut ask = async |token: &str, query: &str, variables: Value| -> Value {
        let a = post(&client, url, token, query, variables)
            .await
            .expect("the service answers");
        assert_eq!(a.status, StatusCode::OK, "{query}: {}", a.body);
        request_ids.push(a.request_id.expect("every answer has a request id"));
        a.body
    };
    let tolvan = person_token(DEMO_PATIENT);
    let lena = person_token(DEMO_GUARDIAN);
    let margareta = person_token(DEMO_DELEGATE);
    let karin = demo::mint_staff(&DEMO_STAFF.identity(), Duration::from_secs(3600));
    let tolvan_id = "19121212-1212";

    let all = ask(
        &tolvan,
        "{ overview { patient { personId name } contacts { name } carePlans { title } \
         agreements { description } medications { name dosage } measurements { nodes { name } } \
         labResults { nodes { analysis } } bookings { start } sources { source state } } viewer { personId name } }",
        json!({}),
    )
    .await;
    assert!(all["data"]["overview"]["medications"].is_array(), "{all}");

    let other = ask(
        &tolvan,
        "query($p: PersonId) { overview(patient: $p) { medications { name } } }",
        json!({ "p": "19880412-2383" }),
    )
    .await;
    assert_eq!(error_codes(&other), ["FORBIDDEN"], "{other}");

    let invalid = ask(
        &tolvan,
        "query($p: PersonId) { overview(patient: $p) { medications { name } } }",
        json!({ "p": "19121212-1213" }),
    )
    .await;
    assert_eq!(error_codes(&invalid), ["INVALID_PERSON_ID"], "{invalid}");

    let expired = demo::mint_with(&DEMO_PATIENT.id(), Some(DEMO_PATIENT.name), -7200, 3600);
    for bad in [expired.as_str(), "not-a-token", "eyJhbGciOiJub25lIn0.e30."] {
        let a = post(
            &client,
            url,
            bad,
            "{ overview { medications { name } } }",
            json!({}),
        )
        .await
        .expect("the service answers");
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
    }

    let until = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let related = ask(
        &karin,
        "mutation($p: PersonId!, $u: DateTime!) { registerCareRelationship(patient: $p, validUntil: $u) { id patient } }",
        json!({ "p": tolvan_id, "u": until }),
    )
    .await;
    assert!(
        related["data"]["registerCareRelationship"]["id"].is_string(),
        "{related}"
    );
    let consent = ask(
        &karin,
        "mutation($p: PersonId!, $u: DateTime!) { registerConsent(patient: $p, validUntil: $u) { id active } }",
        json!({ "p": tolvan_id, "u": until }),
    )
    .await;
    assert_eq!(
        consent["data"]["registerConsent"]["active"], true,
        "{consent}"
    );
    let staff_overview = "query($p: PersonId, $purpose: Purpose, $reason: String) { \
        viewer { staff { name hsaId } } \
        overview(patient: $p, purpose: $purpose, reason: $reason) { patient { name } \
        medications { name } labResults { nodes { analysis } } blockedData { careProvider { name } } } }";
    let care = ask(
        &karin,
        staff_overview,
        json!({ "p": tolvan_id, "purpose": "CARE" }),
    )
    .await;
    assert!(care["data"]["overview"]["medications"].is_array(), "{care}");

    let block = ask(
        &tolvan,
        "mutation { setBlock(careProvider: \"SE2120003005-0001\") { id active } }",
        json!({}),
    )
    .await;
    let block_id = block["data"]["setBlock"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a block: {block}"))
        .to_owned();
    let emergency = ask(
        &karin,
        staff_overview,
        json!({ "p": tolvan_id, "purpose": "EMERGENCY", "reason": EMERGENCY_REASON }),
    )
    .await;
    assert!(
        emergency["data"]["overview"]["medications"].is_array(),
        "{emergency}"
    );
    let no_reason = ask(
        &karin,
        staff_overview,
        json!({ "p": tolvan_id, "purpose": "EMERGENCY" }),
    )
    .await;
    assert_eq!(error_codes(&no_reason), ["REASON_REQUIRED"], "{no_reason}");
    let lifted = ask(
        &tolvan,
        "mutation($id: ID!) { liftBlock(id: $id) { active } }",
        json!({ "id": block_id }),
    )
    .await;
    assert_eq!(lifted["data"]["liftBlock"]["active"], false, "{lifted}");

    let guardian = ask(
        &lena,
        "query($p: PersonId) { viewer { actsFor { patient name role } } \
         overview(patient: $p) { patient { name } medications { name } bookings { start } } }",
        json!({ "p": "20200615-2397" }),
    )
    .await;
    assert!(
        guardian["data"]["overview"]["medications"].is_array(),
        "{guardian}"
    );

    let valid_until = (chrono::Utc::now() + chrono::Duration::days(30))
        .date_naive()
        .to_string();
    let granted = ask(
        &tolvan,
        "mutation($d: PersonId!, $u: Date!) { grantDelegation(delegate: $d, domains: [MEDICATIONS, BOOKINGS], validUntil: $u) { id active } }",
        json!({ "d": "19600301-2389", "u": valid_until }),
    )
    .await;
    assert_eq!(
        granted["data"]["grantDelegation"]["active"], true,
        "{granted}"
    );
    let delegate = ask(
        &margareta,
        "query($p: PersonId) { viewer { actsFor { patient name role domains } } \
         overview(patient: $p) { patient { name } medications { name } labResults { nodes { analysis } } } }",
        json!({ "p": tolvan_id }),
    )
    .await;
    assert!(
        delegate["data"]["overview"]["medications"].is_array(),
        "{delegate}"
    );
    assert_eq!(error_codes(&delegate), ["FORBIDDEN"], "{delegate}");

    let log = ask(
        &tolvan,
        "{ accessLog { nodes { role purpose reason emergency outcome requestId careUnit { name } } } \
         consents { id } blocks { id } delegations { id } }",
        json!({}),
    )
    .await;
    let entries = log["data"]["accessLog"]["nodes"]
        .as_array()
        .expect("an access log");
    assert!(
        entries.iter().any(|e| e["reason"] == EMERGENCY_REASON),
        "the emergency access is in the access log: {log}"
    );
    request_ids
}

/// The lines of `text` that contain one of `forbidden`, each with what it contains.
fn naming(text: &str, forbidden: &[String]) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            forbidden
                .iter()
                .find(|f| line.contains(f.as_str()))
                .map(|f| format!("{f:?} in: {line}"))
        })
        .collect()
}

/// `log` without the terminal colour codes tracing writes even to a file, which would otherwise
/// split what the search looks for.
fn without_ansi_colours(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut rest = log;
    while let Some(start) = rest.find("\x1b[") {
        out.push_str(&rest[..start]);
        let code = &rest[start + 2..];
        match code.find(|c: char| c.is_ascii_alphabetic()) {
            Some(end) => rest = &code[end + 1..],
            None => rest = "",
        }
    }
    out.push_str(rest);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_run_at_trace_level_with_graphiql_writes_no_token_personnummer_or_name_to_the_log()
{
    let mut forbidden: Vec<String> = [DEMO_PATIENT, DEMO_GUARDIAN, DEMO_CHILD, DEMO_DELEGATE]
        .iter()
        .flat_map(|p| written_forms(p.personnummer))
        .collect();
    // The mistyped number of the refused request is someone's personnummer but for one digit.
    forbidden.extend(written_forms("191212121213"));
    forbidden.extend(
        [
            "Tolvan",
            "Tolvansson",
            "Lena",
            "Elias",
            "Margareta",
            "Karin Lindqvist",
            "Lindqvist",
            EMERGENCY_REASON,
            "Medvetslös",
            // A bearer token carries the personnummer and the name, only base64-encoded.
            "eyJ",
            "Bearer",
        ]
        .map(str::to_owned),
    );
    assert!(
        PersonId::parse("19121212-1213").is_err(),
        "the mistyped number is invalid"
    );

    for db in databases().await {
        let started = Instant::now();
        // Everything at the most verbose level: dependencies (hyper, reqwest, sqlx, handlebars)
        // as well as the service's own code, and the targets the service never logs asked for
        // by name: RUST_LOG must not be able to turn them on.
        let mut service =
            Service::start(&db.url, "trace,handlebars=trace,handlebars::render=trace").await;
        let request_ids = whole_run(&service.url).await;
        service.stop();
        let log = without_ansi_colours(&service.stderr());

        // The capture worked: the log has the run's requests in it.
        assert!(
            log.lines().count() > request_ids.len(),
            "{:?}: the application log has only {} lines",
            db.backend,
            log.lines().count()
        );
        assert!(
            request_ids.iter().any(|id| log.contains(id.as_str())),
            "{:?}: no request id of the run is in the application log",
            db.backend
        );
        // The demo's banner names the demo patient to the person at the console: it is the
        // demo's user interface, on stdout, not the log. The search below finds him there, so
        // it would find him in the log.
        let banner = service.stdout();
        assert!(
            banner.contains("Överblick demo is running") && !naming(&banner, &forbidden).is_empty(),
            "{:?}: the demo banner, naming Tolvan, is on stdout: {banner}",
            db.backend
        );

        let leaks = naming(&log, &forbidden);
        assert!(
            leaks.is_empty(),
            "{:?}: the application log names people:\n{}",
            db.backend,
            leaks.join("\n")
        );
        eprintln!(
            "{:?}: {} requests, {} log lines, no token, personnummer or name; {:.1} s",
            db.backend,
            request_ids.len(),
            log.lines().count(),
            started.elapsed().as_secs_f64()
        );
    }
}

#[test]
fn the_binary_refuses_to_serve_a_simulated_source_in_production_naming_the_file_and_the_field() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = dir.path().join("overblick.toml");
    std::fs::write(
        dir.path().join("issuer.pem"),
        "not needed: startup stops before keys",
    )
    .unwrap();
    std::fs::write(
        &config,
        format!(
            "mode = \"production\"\nlisten = \"127.0.0.1:0\"\nsources = {:?}\n\
             [database]\nurl = \"sqlite://{}?mode=rwc\"\n\
             [[issuers]]\nissuer = \"https://idp.example.se\"\naudience = \"overblick\"\n\
             algorithm = \"RS256\"\npublic_key_file = \"issuer.pem\"\n",
            repo_path("sources"),
            dir.path().join("overblick.sqlite").display(),
        ),
    )
    .unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_overblick"))
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs");

    assert!(!out.status.success(), "it must not start");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("field `simulator`"), "{stderr}");
    assert!(stderr.contains("sources/"), "names the file: {stderr}");
    assert!(
        !dir.path().join("overblick.sqlite").exists(),
        "nothing is started or created before the refusal"
    );
}
