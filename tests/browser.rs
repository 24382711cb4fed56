//! The API as a browser uses it, in headless Chromium: GraphiQL starting from the service's own
//! assets with no network beyond loopback (and running a subscription), a browser app on
//! another origin calling `/graphql` under CORS, and the demo's overview page filling in while
//! its sources answer.
//!
//! Pages that settle are read with Chromium's command line (`--dump-dom` after a virtual-time
//! budget, which waits while fetches are pending); pages that keep changing while they stream
//! are watched over the DevTools protocol (`common/chromium.rs`). Needs `chromium` (Debian's
//! package); with `CI` set a missing one fails the tests, elsewhere they are skipped with a
//! message.

#[path = "common/chromium.rs"]
mod chromium;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chromium::{Browser, chromium};
use overblick::app::Application;
use overblick::auth::demo;
use overblick::auth::demo::DEMO_PATIENT;
use overblick::config::{Mode, Settings};
use overblick_simulators::{Behaviour, Change, Simulator};

/// The page at `url` as Chromium leaves it after `budget` of virtual time (which does not run
/// while network fetches are pending), in a fresh profile with every background service off,
/// so the only network it touches is the page's own.
fn dump_dom(chromium: &Path, url: &str, budget: Duration) -> Page {
    let profile = tempfile::tempdir().expect("a temp dir");
    let mut child = Command::new(chromium)
        .args(chromium::FLAGS)
        // The page's console and network errors, for the failure messages.
        .args(["--enable-logging=stderr", "--v=0"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--virtual-time-budget={}", budget.as_millis()))
        .arg("--dump-dom")
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    // Read as it comes (a full pipe would stall the browser), and give up after a minute.
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let err = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let started = Instant::now();
    loop {
        if child
            .try_wait()
            .expect("chromium can be waited for")
            .is_some()
        {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not finish {url} within a minute: {}",
                err.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let dom = out.join().unwrap_or_default();
    let log = err.join().unwrap_or_default();
    assert!(
        dom.contains("<html"),
        "chromium dumped no DOM for {url}: {log}"
    );
    Page { dom, log }
}

/// What Chromium left of a page: its DOM, and its log (console messages among them).
struct Page {
    dom: String,
    log: String,
}

impl std::fmt::Display for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let console: Vec<&str> = self
            .log
            .lines()
            .filter(|l| l.contains("CONSOLE") || l.contains("ERROR"))
            .collect();
        write!(
            f,
            "DOM (start): {:.3000}\nchromium's log: {}",
            self.dom,
            console.join("\n")
        )
    }
}

/// The service as the demo runs it (GraphiQL with a demo token), on port 0 with a fresh
/// database and one simulated source; `adjust` changes its settings first.
async fn start_service(adjust: impl FnOnce(&mut Settings)) -> Service {
    start_demo(&["vc-gottsunda"], adjust).await
}

/// The service as the demo runs it, with the demo's standing facts (care relationships, the
/// consent, the delegation) and these of its simulated sources; `adjust` changes its settings
/// first.
async fn start_demo(sources: &[&str], adjust: impl FnOnce(&mut Settings)) -> Service {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("sources");
    let mut settings = Settings::demo(&dir).expect("the demo settings load");
    settings
        .catalog
        .retain(|e| sources.contains(&e.info.id.as_str()));
    assert_eq!(
        settings.catalog.len(),
        sources.len(),
        "the demo has {sources:?}"
    );
    let dir = tempfile::tempdir().expect("a temp dir");
    settings.database.url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("overblick.sqlite").display()
    );
    settings.listen = "127.0.0.1:0".parse().unwrap();
    adjust(&mut settings);
    // As the demo: every simulated FHIR source may tell the service of its changes.
    overblick::demo::give_notify_secrets(&mut settings.catalog);
    let simulators = overblick::demo::start_simulators(&mut settings.catalog)
        .await
        .expect("the simulators start");
    let app = Application::build(&settings)
        .await
        .expect("the service starts");
    if settings.mode == Mode::Demo {
        overblick::app::seed_demo(app.store())
            .await
            .expect("the demo's facts are seeded");
    }
    let addr = app.spawn();
    simulators.notify_service(&settings.catalog, None, &format!("http://{addr}"));
    Service {
        addr,
        simulators,
        _dir: dir,
    }
}

/// A running service, and what it needs kept for the test's life.
struct Service {
    addr: SocketAddr,
    simulators: overblick::demo::CatalogSimulators,
    _dir: tempfile::TempDir,
}

impl Service {
    /// Sets how the simulator of the source with this id answers.
    fn set_behaviour(&self, source: &str, behaviour: Behaviour) {
        self.simulators
            .for_source(source)
            .unwrap_or_else(|| panic!("a simulator for {source}"))
            .server()
            .set_behaviour(behaviour);
    }
}

impl Service {
    /// Makes the simulated FHIR source with this id change the demo patient's records, and
    /// tell the service (a rest-hook notification), as a care provider's system would.
    async fn change(&self, source: &str, change: Change) {
        let Some(Simulator::Fhir(handle)) = self.simulators.for_source(source) else {
            panic!("{source} is a simulated FHIR source");
        };
        let person = DEMO_PATIENT.id();
        let changed = handle
            .change(&person.digits(), change)
            .await
            .unwrap_or_else(|e| panic!("{source} changes: {e}"));
        assert_eq!(
            changed.notified,
            Some(true),
            "the service took the notification"
        );
    }
}

/// GraphQL requests the service answered with `outcome`, from its metrics.
async fn answered(service: SocketAddr, outcome: &str) -> u64 {
    let text = reqwest::get(format!("http://{service}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| {
            l.starts_with("overblick_graphql_requests_total{")
                && l.contains(&format!("outcome=\"{outcome}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// The DOM without its `<noscript>` (whose message is there, unshown, when scripts run).
fn shown(dom: &str) -> String {
    let mut rest = dom;
    let mut out = String::new();
    while let Some(start) = rest.find("<noscript>") {
        out.push_str(&rest[..start]);
        rest = rest[start..]
            .split_once("</noscript>")
            .map_or("", |(_, after)| after);
    }
    out.push_str(rest);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_starts_from_the_services_own_assets_and_runs_its_schema_query_with_the_demo_token()
 {
    let Some(chromium) = chromium() else { return };
    // GraphiQL's schema query (graphql-js's introspection query) nests 15 deep through
    // `ofType`; with the demo's own limits it must run (introspection counts one level).
    let running = start_service(|_| {}).await;
    let service = running.addr;
    let before = answered(service, "ok").await;

    let url = format!("http://{service}/graphql");
    let page =
        tokio::task::spawn_blocking(move || dump_dom(&chromium, &url, Duration::from_secs(10)))
            .await
            .unwrap();
    let shown = shown(&page.dom);

    // The page's own failure message (its text is also in the inline script, so not that).
    assert!(
        !shown.contains("id=\"graphiql-failed\""),
        "GraphiQL started: {page}"
    );
    assert!(
        shown.contains("graphiql-container"),
        "GraphiQL's editor is on the page: {page}"
    );
    assert!(
        shown.contains("graphiql-execute-button"),
        "with its run button: {page}"
    );
    // On start GraphiQL asks for the schema through the page's fetcher, with the page's
    // headers: an answered (`ok`, not `unauthenticated`) request means the query ran as the
    // demo patient. The only network the page had is this service on loopback, and its
    // policy allows nothing else.
    let after = answered(service, "ok").await;
    assert!(
        after > before,
        "GraphiQL's schema query ran with the demo token ({before} -> {after}): {}\n{page}",
        reqwest::get(format!("http://{service}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    );
}

/// A browser app's page, served by the test on its own loopback origin: it asks the service
/// for Tolvan's medications with a bearer token and writes what came back (or why not) into
/// `#out`.
fn app_page(service: SocketAddr, token: &str) -> String {
    let settings = serde_json::json!({
        "url": format!("http://{service}/graphql"),
        "token": token,
        "query": "{ overview { medications { name } } }",
    });
    format!(
        r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>app</title></head>
<body><pre id="out">waiting</pre>
<script>
  const s = {settings};
  const out = document.getElementById("out");
  fetch(s.url, {{
    method: "POST",
    headers: {{ "authorization": "Bearer " + s.token, "content-type": "application/json" }},
    body: JSON.stringify({{ query: s.query }}),
  }})
    .then((r) => r.json())
    .then((body) => {{ out.textContent = "answer: " + JSON.stringify(body); }})
    .catch((e) => {{ out.textContent = "fetch failed: " + e; }});
</script></body></html>"#
    )
}

/// Serves `page` on `GET /` of a fresh loopback port; its origin.
async fn serve_page(page: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = axum::Router::new().route(
        "/",
        axum::routing::get(move || async move { axum::response::Html(page) }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_a_configured_origin_reads_the_api_and_one_on_another_origin_is_refused_by_cors()
{
    let Some(chromium) = chromium() else { return };
    // Two app origins; the service is started knowing only the first.
    let allowed_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let allowed_origin = format!("http://{}", allowed_listener.local_addr().unwrap());
    let configured = allowed_origin.clone();
    let running = start_service(move |s| {
        s.server.cors_loopback = false;
        s.server.cors_origins = vec![configured];
    })
    .await;
    let service = running.addr;
    let token = demo::mint(&demo::DEMO_PATIENT.id(), None, Duration::from_secs(600));
    let page = app_page(service, &token);
    allowed_listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(allowed_listener).unwrap();
    let router = axum::Router::new().route(
        "/",
        axum::routing::get({
            let page = page.clone();
            move || async move { axum::response::Html(page) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    let other_origin = serve_page(page).await;

    let page = {
        let (chromium, url) = (chromium.clone(), format!("{allowed_origin}/"));
        tokio::task::spawn_blocking(move || dump_dom(&chromium, &url, Duration::from_secs(10)))
            .await
            .unwrap()
    };
    assert!(
        page.dom
            .contains("answer: {\"data\":{\"overview\":{\"medications\":[{\"name\":"),
        "the configured origin's page shows Tolvan's medications: {page}"
    );
    assert!(!page.dom.contains("\"errors\""), "{page}");

    let page = {
        let url = format!("{other_origin}/");
        tokio::task::spawn_blocking(move || dump_dom(&chromium, &url, Duration::from_secs(10)))
            .await
            .unwrap()
    };
    assert!(
        page.dom.contains("fetch failed: TypeError"),
        "another origin's page cannot read the answer: {page}"
    );
    assert!(
        page.log.contains("CORS policy"),
        "refused by CORS, not for another reason: {page}"
    );

    // What the browser was told: the configured origin's preflight is allowed, the other's
    // carries no CORS header at all.
    let client = reqwest::Client::new();
    let preflight = |origin: String| {
        client
            .request(
                reqwest::Method::OPTIONS,
                format!("http://{service}/graphql"),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let allowed = preflight(allowed_origin.clone()).await.unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        allowed_origin.as_str()
    );
    let refused = preflight(other_origin).await.unwrap();
    assert!(
        refused
            .headers()
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-")),
        "{:?}",
        refused.headers()
    );
}

/// The demo page's condition for "this source's chip is in this state".
fn chip(source: &str, state: &str) -> String {
    format!(
        "document.querySelector('#sources li[data-source=\"{source}\"][data-state=\"{state}\"]')"
    )
}

/// The demo page's condition for "a medication this source reported is shown".
fn medication_from(source: &str) -> String {
    format!(
        "document.querySelector('section[data-section=\"medications\"] li[data-source~=\"{source}\"]')"
    )
}

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_the_fast_sources_medications_while_a_slow_source_is_pending_then_its_medications_without_a_reload()
 {
    let Some(chromium) = chromium() else { return };
    let running = start_demo(&["vc-gottsunda", "akademiska-sjukhuset"], |s| {
        // The slow source answers well within its timeout, long after the first event.
        s.policy.timeout = Duration::from_secs(30);
        s.engine.deadline = Duration::from_secs(30);
    })
    .await;
    running.set_behaviour(
        "akademiska-sjukhuset",
        Behaviour::Delay(Duration::from_secs(5)),
    );
    let mut browser = Browser::start(&chromium).await;
    browser
        .navigate(&format!("http://{}/?som=patient", running.addr))
        .await;

    browser
        .wait_for(
            "the fast source's medications",
            &medication_from("vc-gottsunda"),
            WAIT,
        )
        .await;
    // Marks this document: a reload would lose it.
    browser.eval("window.sameDocument = true").await;
    let pending = [
        "document.body.dataset.transport === 'sse'".to_owned(),
        "document.querySelector('#status').dataset.status === 'pending'".to_owned(),
        chip("akademiska-sjukhuset", "PENDING"),
        chip("vc-gottsunda", "FROM_SOURCE"),
        format!("!{}", medication_from("akademiska-sjukhuset")),
        "document.querySelector('section[data-section=\"medications\"]').dataset.state === 'ok'"
            .to_owned(),
    ];
    for condition in &pending {
        assert!(
            browser.holds(condition).await,
            "while the slow source works: {condition}\n{}",
            browser.body().await
        );
    }
    assert!(
        browser
            .holds(&format!(
                "{}.textContent.includes('Väntar på svar')",
                chip("akademiska-sjukhuset", "PENDING")
            ))
            .await,
        "the chip says so in the API's Swedish label: {}",
        browser.body().await
    );

    browser
        .wait_for(
            "the slow source's medications",
            &medication_from("akademiska-sjukhuset"),
            WAIT,
        )
        .await;
    browser
        .wait_for(
            "the overview complete and live",
            "document.querySelector('#status').dataset.status === 'live'",
            WAIT,
        )
        .await;
    for condition in [
        chip("akademiska-sjukhuset", "FROM_SOURCE"),
        chip("vc-gottsunda", "FROM_SOURCE"),
        "window.sameDocument === true".to_owned(),
        "document.body.dataset.transport === 'sse'".to_owned(),
        // The measurements are drawn as charts over time.
        "document.querySelector('section[data-section=\"measurements\"] figure[data-chart] svg polyline')"
            .to_owned(),
    ] {
        assert!(
            browser.holds(&condition).await,
            "once every source answered: {condition}\n{}",
            browser.body().await
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_with_the_demo_token_runs_a_subscription_and_shows_its_result() {
    let Some(chromium) = chromium() else { return };
    let running = start_service(|_| {}).await;
    let mut browser = Browser::start(&chromium).await;
    browser
        .navigate(&format!("http://{}/graphql", running.addr))
        .await;
    let editor = "document.querySelector('.graphiql-query-editor .CodeMirror')";
    browser
        .wait_for("GraphiQL's editor", &format!("{editor}.CodeMirror"), WAIT)
        .await;
    browser
        .eval(&format!(
            "{editor}.CodeMirror.setValue('subscription Live {{ overview {{ complete medications {{ name }} }} }}')"
        ))
        .await;
    browser
        .eval("document.querySelector('.graphiql-execute-button').click()")
        .await;
    let result = "(document.querySelector('.result-window .CodeMirror').CodeMirror.getValue())";
    browser
        .wait_for(
            "the subscription's last event in the result pane",
            &format!("{result}.includes('\"complete\": true') && {result}.includes('Eliquis')"),
            WAIT,
        )
        .await;
    assert!(
        !browser
            .holds(&format!("{result}.includes('\"errors\"')"))
            .await,
        "{}",
        browser.body().await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_without_consent_are_told_so_in_swedish_and_staff_with_consent_see_the_overview() {
    let Some(chromium) = chromium() else { return };
    let running = start_demo(&["vc-gottsunda", "hjartkliniken-fyris"], |_| {}).await;
    let mut browser = Browser::start(&chromium).await;
    browser.navigate(&format!("http://{}/", running.addr)).await;
    browser
        .wait_for(
            "the sign-in chooser",
            "document.querySelectorAll('input[name=\"who\"]').length === 5",
            WAIT,
        )
        .await;

    // Chosen with the keyboard alone: the first person, arrow keys to the staff member
    // without consent (the last), Tab to the button, Enter.
    browser
        .eval("document.querySelector('input[name=\"who\"]').focus()")
        .await;
    browser.press("Space").await;
    for _ in 0..4 {
        browser.press("ArrowDown").await;
    }
    assert!(
        browser
            .holds("document.querySelector('#who-staff').checked")
            .await,
        "the arrow keys choose: {}",
        browser.body().await
    );
    browser.press("Tab").await;
    assert!(
        browser
            .holds("document.activeElement === document.querySelector('#signin-button')")
            .await,
        "Tab reaches the button: {}",
        browser.body().await
    );
    browser.press("Enter").await;
    browser
        .wait_for(
            "the consent notice",
            "document.querySelector('[data-notice=\"CONSENT_REQUIRED\"]')",
            WAIT,
        )
        .await;
    browser
        .wait_for(
            "the overview of her own provider's data",
            "document.querySelector('#status').dataset.status === 'live'",
            WAIT,
        )
        .await;
    for condition in [
        "document.querySelector('[data-notice=\"CONSENT_REQUIRED\"]').textContent.includes('samtycke')"
            .to_owned(),
        medication_from("vc-gottsunda"),
        format!("!{}", medication_from("hjartkliniken-fyris")),
    ] {
        assert!(
            browser.holds(&condition).await,
            "staff without consent: {condition}\n{}",
            browser.body().await
        );
    }

    browser
        .navigate(&format!("http://{}/?som=staff-consent", running.addr))
        .await;
    browser
        .wait_for(
            "the other provider's medications",
            &medication_from("hjartkliniken-fyris"),
            WAIT,
        )
        .await;
    browser
        .wait_for(
            "the whole overview",
            "document.querySelector('#status').dataset.status === 'live'",
            WAIT,
        )
        .await;
    for condition in [
        medication_from("vc-gottsunda"),
        "!document.querySelector('[data-notice]')".to_owned(),
    ] {
        assert!(
            browser.holds(&condition).await,
            "staff with consent: {condition}\n{}",
            browser.body().await
        );
    }
}

#[tokio::test]
async fn the_demo_serves_the_page_and_its_identities_and_production_serves_neither() {
    let demo = start_service(|_| {}).await;
    let page = reqwest::get(format!("http://{}/", demo.addr))
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(
        page.headers()["content-security-policy"],
        overblick::http::headers::PAGE_POLICY
    );
    let people = reqwest::get(format!("http://{}/demo/identities", demo.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let people: serde_json::Value = serde_json::from_str(&people).unwrap();
    let ids: Vec<&str> = people
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["patient", "guardian", "delegate", "staff-consent", "staff"]
    );

    let production = start_demo(&[], |s| s.mode = Mode::Production).await;
    for path in ["/", "/demo/identities", "/page/page.js"] {
        let response = reqwest::get(format!("http://{}{path}", production.addr))
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path} in production");
    }
}

#[tokio::test]
async fn every_demo_identity_opens_the_overview_the_page_offers_it_for() {
    let demo = start_demo(&["vc-gottsunda", "hjartkliniken-fyris"], |_| {}).await;
    let people = reqwest::get(format!("http://{}/demo/identities", demo.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let people: serde_json::Value = serde_json::from_str(&people).unwrap();
    let client = reqwest::Client::new();
    let mut answers = std::collections::BTreeMap::new();
    for person in people.as_array().unwrap() {
        let body = serde_json::json!({
            "query": "query($p: PersonId, $purpose: Purpose) { overview(patient: $p, purpose: $purpose) \
                      { medications { provenance { sourceId } } contacts { name } } }",
            "variables": { "p": person["patient"], "purpose": person["purpose"] },
        });
        let text = client
            .post(format!("http://{}/graphql", demo.addr))
            .bearer_auth(person["token"].as_str().unwrap())
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let answer: serde_json::Value = serde_json::from_str(&text).unwrap();
        answers.insert(person["id"].as_str().unwrap().to_owned(), answer);
    }
    let codes = |id: &str| -> Vec<String> {
        answers[id]["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let sources = |id: &str| -> Vec<String> {
        answers[id]["data"]["overview"]["medications"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|m| m["provenance"].as_array().unwrap().clone())
            .map(|p| p["sourceId"].as_str().unwrap().to_owned())
            .collect()
    };
    for id in ["patient", "guardian", "staff-consent"] {
        assert!(codes(id).is_empty(), "{id}: {}", answers[id]);
        assert!(
            answers[id]["data"]["overview"]["medications"].is_array(),
            "{id}: {}",
            answers[id]
        );
    }
    assert!(
        sources("staff-consent")
            .iter()
            .any(|s| s == "hjartkliniken-fyris")
            && sources("staff-consent").iter().any(|s| s == "vc-gottsunda"),
        "staff with consent see both providers: {}",
        answers["staff-consent"]
    );
    assert_eq!(codes("staff"), ["CONSENT_REQUIRED"], "{}", answers["staff"]);
    assert!(
        !sources("staff").iter().any(|s| s == "hjartkliniken-fyris"),
        "staff without consent see their own provider's only: {}",
        answers["staff"]
    );
    // The delegation covers medications and bookings, not contacts.
    assert!(
        answers["delegate"]["data"]["overview"]["medications"].is_array(),
        "{}",
        answers["delegate"]
    );
    assert_eq!(codes("delegate"), ["FORBIDDEN"], "{}", answers["delegate"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_reading_sent_by_a_source_appears_on_the_page_without_a_reload() {
    let Some(chromium) = chromium() else { return };
    let running = start_demo(&["vc-gottsunda", "akademiska-sjukhuset"], |_| {}).await;
    let mut browser = Browser::start(&chromium).await;
    browser
        .navigate(&format!("http://{}/?som=patient", running.addr))
        .await;
    browser
        .wait_for(
            "the overview complete and live",
            "document.querySelector('#status').dataset.status === 'live'",
            WAIT,
        )
        .await;
    // Marks this document: a reload would lose it.
    browser.eval("window.sameDocument = true").await;
    let rows =
        "document.querySelectorAll('section[data-section=\"measurements\"] tbody tr').length";
    let before = browser.eval(rows).await.as_u64().expect("a count");
    running.change("vc-gottsunda", Change::Measurement).await;

    // A blood pressure is two values (systolic and diastolic), each a row of the chart's table.
    browser
        .wait_for(
            "the new reading on the page",
            &format!("{rows} >= {before} + 2"),
            WAIT,
        )
        .await;
    for condition in [
        // The chip of the source whose data changed says so; the other's does not.
        "document.querySelector('#sources li[data-source=\"vc-gottsunda\"][data-changed]')".to_owned(),
        "!document.querySelector('#sources li[data-source=\"akademiska-sjukhuset\"][data-changed]')".to_owned(),
        "document.querySelector('#status').dataset.status === 'live'".to_owned(),
        "window.sameDocument === true".to_owned(),
    ] {
        assert!(
            browser.holds(&condition).await,
            "after the change: {condition}\n{}",
            browser.body().await
        );
    }
}
