//! The API as a browser uses it, in headless Chromium: GraphiQL starting from the service's own
//! assets with no network beyond loopback, and a browser app on another origin calling
//! `/graphql` under CORS.
//!
//! Chromium is driven by its command line only (`--dump-dom` after a virtual-time budget, which
//! waits while fetches are pending): no DevTools client crate. What the page did is read from
//! the DOM it leaves and from the service's own metrics. Needs `chromium` (Debian's package);
//! with `CI` set a missing one fails the tests, elsewhere they are skipped with a message.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use overblick::app::Application;
use overblick::auth::demo;
use overblick::config::Settings;

const CHROMIUM: &str = "/usr/bin/chromium";

/// The browser, or `None` (after saying why) when it is missing outside CI.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("OVERBLICK_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(CHROMIUM));
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is missing: install Debian's `chromium` (.ci/run does)",
        path.display()
    );
    eprintln!(
        "skipped: {} is missing (apt-get install chromium)",
        path.display()
    );
    None
}

/// The page at `url` as Chromium leaves it after `budget` of virtual time (which does not run
/// while network fetches are pending), in a fresh profile with every background service off,
/// so the only network it touches is the page's own.
fn dump_dom(chromium: &Path, url: &str, budget: Duration) -> Page {
    let profile = tempfile::tempdir().expect("a temp dir");
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
            // The page's console and network errors, for the failure messages.
            "--enable-logging=stderr",
            "--v=0",
        ])
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
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("sources");
    let mut settings = Settings::demo(&sources).expect("the demo settings load");
    settings.catalog.retain(|e| e.info.id == "vc-gottsunda");
    assert_eq!(settings.catalog.len(), 1, "the demo has vc-gottsunda");
    let dir = tempfile::tempdir().expect("a temp dir");
    settings.database.url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("overblick.sqlite").display()
    );
    settings.listen = "127.0.0.1:0".parse().unwrap();
    adjust(&mut settings);
    let simulators = overblick::demo::start_simulators(&mut settings.catalog)
        .await
        .expect("the simulators start");
    let app = Application::build(&settings)
        .await
        .expect("the service starts");
    Service {
        addr: app.spawn(),
        _simulators: simulators,
        _dir: dir,
    }
}

/// A running service, and what it needs kept for the test's life.
struct Service {
    addr: SocketAddr,
    _simulators: overblick::demo::CatalogSimulators,
    _dir: tempfile::TempDir,
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
