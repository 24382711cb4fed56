//! The edge's defences from the security review (issue 13): the security headers on every kind
//! of answer, GraphiQL's own Content-Security-Policy, connections that trickle their headers or
//! pile up from one address, and the per-address limit on requests without a valid token. And
//! from issue 14: GraphiQL's assets served by the service, CORS for configured origins, and
//! compressed answers that keep the edge's headers.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use overblick::config::{GraphqlSettings, RateLimitSettings, ServerSettings};
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{LENA, TOLVAN, TestApp, error_codes, token};

/// A generous bound for anything the service should do "at once" or "after a short timeout",
/// so a busy machine does not fail the test; a service without the defence never does it.
const WITHIN: Duration = Duration::from_secs(10);

/// The directives of a Content-Security-Policy, each with its sources.
fn directives(policy: &str) -> HashMap<String, Vec<String>> {
    policy
        .split(';')
        .filter_map(|d| {
            let mut words = d.split_whitespace();
            let name = words.next()?.to_ascii_lowercase();
            Some((name, words.map(str::to_owned).collect()))
        })
        .collect()
}

fn policy(headers: &HeaderMap) -> HashMap<String, Vec<String>> {
    directives(
        headers
            .get(header::CONTENT_SECURITY_POLICY)
            .expect("a Content-Security-Policy")
            .to_str()
            .unwrap(),
    )
}

fn assert_secure(what: &str, headers: &HeaderMap) {
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{what}");
    assert_eq!(headers[header::REFERRER_POLICY], "no-referrer", "{what}");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store", "{what}");
    let policy = policy(headers);
    assert_eq!(policy["frame-ancestors"], ["'none'"], "{what}: {policy:?}");
    assert_eq!(policy["default-src"], ["'none'"], "{what}: {policy:?}");
}

#[tokio::test]
async fn every_answer_carries_nosniff_no_referrer_and_a_frame_ancestors_policy() {
    let app = TestApp::builder()
        .sources(&["vc-gottsunda"])
        .graphql(GraphqlSettings {
            introspection: Some(true),
            max_query_bytes: 1024,
            max_body_bytes: 1024,
            ..GraphqlSettings::default()
        })
        .rate_limit(RateLimitSettings {
            enabled: true,
            per_second: 1,
            burst: 10,
            unauthenticated_per_second: 1,
            unauthenticated_burst: 3,
        })
        .start()
        .await;
    let url = |path: &str| format!("{}{path}", app.url);
    let json_post = || {
        app.client
            .post(url("/graphql"))
            .bearer_auth(token(TOLVAN))
            .header(header::CONTENT_TYPE, "application/json")
    };
    let requests = [
        ("healthz", app.client.get(url("/healthz")), 200),
        ("readyz", app.client.get(url("/readyz")), 200),
        ("metrics", app.client.get(url("/metrics")), 200),
        ("GraphiQL", app.client.get(url("/graphql")), 200),
        (
            "an overview",
            json_post().body(r#"{"query":"{ overview { medications { name } } }"}"#),
            200,
        ),
        (
            "GET query",
            app.client
                .get(url(
                    "/graphql?query=%7B%20viewer%20%7B%20personId%20%7D%20%7D",
                ))
                .bearer_auth(token(TOLVAN)),
            200,
        ),
        ("invalid", json_post().body(r#"{"query":"{ nope }"}"#), 400),
        (
            "no token",
            app.client
                .post(url("/graphql"))
                .header(header::CONTENT_TYPE, "application/json")
                .body("{}"),
            401,
        ),
        ("another method", app.client.delete(url("/graphql")), 405),
        ("POST to a GET path", app.client.post(url("/healthz")), 405),
        ("too large", json_post().body(" ".repeat(2000)), 413),
        (
            "not JSON",
            json_post()
                .header(header::CONTENT_TYPE, "text/plain")
                .body("{}"),
            415,
        ),
        ("no such path", app.client.get(url("/no/such/path")), 404),
    ];
    for (what, request, expected) in requests {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), expected, "{what}");
        assert_secure(what, response.headers());
        let is_html = response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html");
        if !is_html {
            // Nothing to load or run: the strict policy, whatever the answer is.
            assert_eq!(
                response.headers()[header::CONTENT_SECURITY_POLICY],
                "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
                "{what}"
            );
        }
    }

    // 429 for one signed-in user over their rate.
    let query = json!({ "query": "{ viewer { personId } }" });
    let mut limited = None;
    for _ in 0..200 {
        let (status, headers, _) = app.post(Some(&token(LENA)), query.clone()).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(headers);
            break;
        }
    }
    assert_secure("429 per user", &limited.expect("the user's rate limit"));

    // 429 for an address over its budget for requests without a valid token.
    let mut limited = None;
    for _ in 0..200 {
        let (status, headers, _) = app.post(Some("not-a-token"), query.clone()).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(headers);
            break;
        }
    }
    assert_secure("429 per address", &limited.expect("the address's limit"));
}

/// The value of `name="…"` in an HTML start tag.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = start + tag[start..].find('"')?;
    Some(tag[start..end].to_owned())
}

/// Every start tag `<name …>` in `html`, attributes and all.
fn tags<'a>(html: &'a str, name: &str) -> Vec<&'a str> {
    let open = format!("<{name}");
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find(&open) {
        let tag = &rest[at..];
        let end = tag.find('>').expect("a closed tag");
        if tag[open.len()..].starts_with([' ', '>', '\n']) {
            found.push(&tag[..=end]);
        }
        rest = &tag[end..];
    }
    found
}

/// The CSP source that allows loading `url` from the page: `'self'` for a path on the service
/// itself, else the URL's origin.
fn source_of(url: &str) -> String {
    if url.starts_with('/') && !url.starts_with("//") {
        return "'self'".into();
    }
    reqwest::Url::parse(url)
        .unwrap_or_else(|e| panic!("{url}: {e}"))
        .origin()
        .ascii_serialization()
}

#[tokio::test]
async fn the_graphiql_page_loads_only_what_its_own_policy_allows_and_nobody_may_frame_it() {
    let app = TestApp::builder().sources(&["vc-gottsunda"]).start().await;
    let mut nonces = Vec::new();
    for _ in 0..2 {
        let response = app
            .client
            .get(format!("{}/graphql", app.url))
            .header(header::ACCEPT, "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_secure("GraphiQL", response.headers());
        let policy = policy(response.headers());
        let html = response.text().await.unwrap();
        assert!(html.contains("GraphiQL"), "{html}");

        for (directive, sources) in &policy {
            for source in sources {
                assert!(
                    !source.contains("unsafe") && !source.contains('*') && source != "https:",
                    "{directive} {source}: nothing broader than the page needs"
                );
            }
        }
        assert_eq!(policy["connect-src"], ["'self'"], "only this service");
        // Scripts and styles from the service itself (besides the nonced inline code), fonts
        // only inside its stylesheet: no CDN, no font service.
        for directive in ["script-src", "style-src"] {
            let others: Vec<_> = policy[directive]
                .iter()
                .filter(|s| !s.starts_with("'nonce-"))
                .collect();
            assert_eq!(others, ["'self'"], "{directive}: {policy:?}");
        }
        assert_eq!(policy["font-src"], ["data:"], "{policy:?}");
        assert!(
            !html.contains("https://"),
            "nothing loaded from elsewhere: {html}"
        );
        assert_eq!(policy["base-uri"], ["'none'"]);
        assert_eq!(policy["form-action"], ["'none'"]);
        let nonce_of = |directive: &str| {
            policy[directive]
                .iter()
                .find_map(|s| s.strip_prefix("'nonce-")?.strip_suffix('\''))
                .unwrap_or_else(|| panic!("{directive} has a nonce: {policy:?}"))
                .to_owned()
        };
        let nonce = nonce_of("script-src");
        assert_eq!(nonce_of("style-src"), nonce);
        assert!(nonce.len() >= 22, "a nonce of at least 128 bits: {nonce}");
        nonces.push(nonce.clone());

        let scripts = tags(&html, "script");
        assert!(scripts.len() >= 2, "{html}");
        for script in scripts {
            match attribute(script, "src") {
                Some(src) => assert!(
                    policy["script-src"].contains(&source_of(&src)),
                    "{src} is allowed by script-src {:?}",
                    policy["script-src"]
                ),
                None => assert_eq!(
                    attribute(script, "nonce").as_deref(),
                    Some(nonce.as_str()),
                    "an inline script runs by the page's nonce: {script}"
                ),
            }
        }
        for style in tags(&html, "style") {
            assert_eq!(attribute(style, "nonce").as_deref(), Some(nonce.as_str()));
        }
        let links = tags(&html, "link");
        assert!(!links.is_empty(), "{html}");
        for link in links {
            let href = attribute(link, "href").expect("a link has an href");
            match attribute(link, "rel").as_deref() {
                Some("stylesheet") => assert!(
                    policy["style-src"].contains(&source_of(&href)),
                    "{href} is allowed by style-src {:?}",
                    policy["style-src"]
                ),
                Some("icon") => {
                    assert!(href.starts_with("data:"), "{href}");
                    assert!(policy["img-src"].contains(&"data:".to_owned()));
                }
                other => panic!("an unexpected link {other:?}: {link}"),
            }
        }
        // A referrer policy in the page would override the header's.
        assert!(!html.contains("name=\"referrer\""), "{html}");
        assert!(
            !html.contains(" style=\""),
            "inline style attributes would be blocked"
        );
    }
    assert_ne!(nonces[0], nonces[1], "a fresh nonce for each page");
}

/// Reads from `stream` until the service closes it (end of stream or reset) or `WITHIN` has
/// passed since `started`; whether it was closed.
async fn closed_by_the_service(stream: &mut TcpStream, started: Instant) -> bool {
    let mut buf = [0u8; 1024];
    while started.elapsed() < WITHIN {
        match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) | Err(_) => {}
        }
    }
    false
}

async fn healthz_on_a_fresh_connection(app: &TestApp) -> StatusCode {
    // A new client: no pooled connection of an earlier request.
    reqwest::Client::new()
        .get(format!("{}/healthz", app.url))
        .timeout(WITHIN)
        .send()
        .await
        .expect("the service answers")
        .status()
}

#[tokio::test]
async fn a_connection_that_trickles_its_headers_is_closed_after_the_header_read_timeout() {
    let app = TestApp::builder()
        .sources(&["vc-gottsunda"])
        .server(ServerSettings {
            header_read_timeout: Duration::from_millis(300),
            ..ServerSettings::default()
        })
        .start()
        .await;
    let addr = app.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    stream
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n").as_bytes())
        .await
        .unwrap();
    // A header line every 100 ms, never the blank line that ends the head: a timeout that
    // each byte restarted would never fire.
    let mut closed = false;
    let mut buf = [0u8; 1024];
    while started.elapsed() < WITHIN {
        if stream.write_all(b"X-Slow: a\r\n").await.is_err() {
            closed = true;
            break;
        }
        match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(_)) | Err(_) => {}
        }
    }
    assert!(
        closed,
        "the trickling connection is still open after {:?}",
        started.elapsed()
    );
    assert_eq!(healthz_on_a_fresh_connection(&app).await, StatusCode::OK);
}

#[tokio::test]
async fn a_new_connection_from_an_address_at_its_cap_is_closed_at_once_and_a_closed_one_frees_its_place()
 {
    let app = TestApp::builder()
        .sources(&["vc-gottsunda"])
        .server(ServerSettings {
            max_connections_per_ip: 3,
            // Longer than the test: the held connections send nothing for a while.
            header_read_timeout: Duration::from_secs(120),
            ..ServerSettings::default()
        })
        .start()
        .await;
    let addr = app.url.trim_start_matches("http://");
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    let mut extra = TcpStream::connect(addr).await.unwrap();
    assert!(
        closed_by_the_service(&mut extra, Instant::now()).await,
        "the fourth connection is closed"
    );
    // The three within the cap are served (and then closed, as they ask).
    for mut stream in held {
        stream
            .write_all(
                format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .unwrap();
        let mut answer = String::new();
        tokio::time::timeout(WITHIN, stream.read_to_string(&mut answer))
            .await
            .expect("an answer")
            .expect("an answer");
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok"),
            "{answer}"
        );
    }
    // Their places are free again (once the service has seen them closed).
    let started = Instant::now();
    loop {
        let served = reqwest::Client::new()
            .get(format!("{}/healthz", app.url))
            .timeout(WITHIN)
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK);
        if served {
            break;
        }
        assert!(started.elapsed() < WITHIN, "no place freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// POSTs a small query with `authorization` from `client`: status, headers, body.
async fn ask(
    app: &TestApp,
    client: &reqwest::Client,
    authorization: &str,
) -> (StatusCode, HeaderMap, Value) {
    let response = client
        .post(format!("{}/graphql", app.url))
        .bearer_auth(authorization)
        .header(header::CONTENT_TYPE, "application/json")
        .body(json!({ "query": "{ viewer { personId } }" }).to_string())
        .send()
        .await
        .expect("the service answers");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("JSON, got {e}: {text}"));
    (status, headers, body)
}

#[tokio::test]
async fn requests_without_a_valid_token_are_limited_per_address_before_the_token_is_looked_at() {
    let (per_second, burst) = (1, 3);
    let app = TestApp::builder()
        .sources(&["vc-gottsunda"])
        .rate_limit(RateLimitSettings {
            enabled: true,
            per_second: 1000,
            burst: 1000,
            unauthenticated_per_second: per_second,
            unauthenticated_burst: burst,
        })
        .start()
        .await;
    let client = reqwest::Client::new();
    let valid = token(TOLVAN);

    // A signed-in user's requests do not spend the address's budget: many users behind one
    // NAT address share it.
    for _ in 0..(3 * burst) {
        let (status, _, body) = ask(&app, &client, &valid).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    // Bad tokens from this address: 401 while its budget lasts, then 429.
    let started = Instant::now();
    let mut unauthorized = 0;
    let limited = loop {
        let (status, headers, body) = ask(&app, &client, "eyJhbGciOiJub25lIn0.e30.").await;
        match status {
            StatusCode::UNAUTHORIZED => unauthorized += 1,
            StatusCode::TOO_MANY_REQUESTS => break (headers, body, Instant::now()),
            other => panic!("{other}: {body}"),
        }
        assert!(unauthorized <= 100, "never limited");
    };
    let (headers, body, limited_at) = limited;
    // At least the burst, and no more than what refilled meanwhile.
    let refilled = started.elapsed().as_secs() as u32 * per_second + 1;
    assert!(
        unauthorized >= burst && unauthorized <= burst + refilled,
        "{unauthorized} bad tokens answered 401 before the limit"
    );
    assert_eq!(error_codes(&body), ["RATE_LIMITED"], "{body}");
    let retry_after: u64 = headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .expect("whole seconds");
    assert!(retry_after >= 1);
    assert!(
        !headers.contains_key(header::WWW_AUTHENTICATE),
        "refused before the token was judged"
    );

    // Over its budget, the address is refused before any token is looked at: a valid one too
    // (unless a request's worth refilled meanwhile).
    let (status, _, body) = ask(&app, &client, &valid).await;
    if status != StatusCode::TOO_MANY_REQUESTS {
        assert!(
            limited_at.elapsed() >= Duration::from_secs(1) / per_second,
            "{status}: {body}"
        );
    }

    // Another address has its own budget.
    let elsewhere = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<IpAddr>().unwrap())
        .build()
        .unwrap();
    let (status, _, body) = ask(&app, &elsewhere, "not-a-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

/// The paths of the scripts and stylesheets the GraphiQL page loads.
async fn graphiql_assets(app: &TestApp) -> Vec<String> {
    let html = app
        .client
        .get(format!("{}/graphql", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut assets: Vec<String> = tags(&html, "script")
        .into_iter()
        .filter_map(|t| attribute(t, "src"))
        .chain(
            tags(&html, "link")
                .into_iter()
                .filter(|t| attribute(t, "rel").as_deref() == Some("stylesheet"))
                .filter_map(|t| attribute(t, "href")),
        )
        .collect();
    assets.sort();
    assets
}

#[tokio::test]
async fn graphiqls_assets_are_served_by_the_service_with_their_types_and_a_year_long_cache() {
    let app = TestApp::builder().sources(&["vc-gottsunda"]).start().await;
    let assets = graphiql_assets(&app).await;
    assert_eq!(
        assets.len(),
        4,
        "React, ReactDOM, GraphiQL's script and CSS: {assets:?}"
    );
    for path in &assets {
        assert!(path.starts_with("/graphiql/assets/"), "{path}");
        let response = app
            .client
            .get(format!("{}{path}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let h = response.headers();
        let content_type = h[header::CONTENT_TYPE].to_str().unwrap();
        if path.ends_with(".js") {
            assert_eq!(content_type, "text/javascript; charset=utf-8", "{path}");
        } else {
            assert_eq!(content_type, "text/css; charset=utf-8", "{path}");
        }
        // Versioned by name, and no patient data: the one answer a browser may keep.
        assert_eq!(
            h[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable",
            "{path}"
        );
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        assert_eq!(policy(h)["default-src"], ["'none'"], "{path}");
        assert!(h.contains_key("x-request-id"), "{path}");
        assert!(response.bytes().await.unwrap().len() > 1000, "{path}");
    }
    let missing = app
        .client
        .get(format!("{}/graphiql/assets/react.development.js", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_secure("a missing asset", missing.headers());
}

/// An `OPTIONS /graphql` preflight from `origin`, as a browser sends it before a POST with a
/// bearer token.
async fn preflight(app: &TestApp, client: &reqwest::Client, origin: &str) -> reqwest::Response {
    client
        .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.url))
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            "authorization,content-type",
        )
        .send()
        .await
        .expect("the service answers")
}

fn cors_headers(headers: &HeaderMap) -> Vec<String> {
    headers
        .keys()
        .map(|k| k.as_str().to_owned())
        .filter(|k| k.starts_with("access-control-"))
        .collect()
}

fn values(headers: &HeaderMap, name: header::HeaderName) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|v| v.to_str().unwrap().split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .collect()
}

#[tokio::test]
async fn a_configured_origins_preflight_is_answered_without_a_token_or_rate_limit_and_others_get_no_cors_headers()
 {
    const APP: &str = "https://app.example.se";
    let app = TestApp::builder()
        .sources(&["vc-gottsunda"])
        .server(ServerSettings {
            cors_origins: vec![APP.to_owned()],
            ..ServerSettings::default()
        })
        .rate_limit(RateLimitSettings {
            enabled: true,
            per_second: 1000,
            burst: 1000,
            unauthenticated_per_second: 1,
            unauthenticated_burst: 2,
        })
        .start()
        .await;
    let client = reqwest::Client::new();

    // Far more preflights than the address's budget for requests without a token.
    for _ in 0..10 {
        let response = preflight(&app, &client, APP).await;
        assert!(response.status().is_success(), "{}", response.status());
        let h = response.headers();
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], APP);
        assert!(
            values(h, header::VARY).contains(&"origin".to_owned()),
            "{h:?}"
        );
        assert_eq!(
            values(h, header::ACCESS_CONTROL_ALLOW_METHODS),
            ["get", "post"]
        );
        assert_eq!(
            values(h, header::ACCESS_CONTROL_ALLOW_HEADERS),
            ["authorization", "content-type"]
        );
        assert!(h.contains_key(header::ACCESS_CONTROL_MAX_AGE), "{h:?}");
        assert!(
            !h.contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS),
            "bearer tokens, no cookies"
        );
        assert_secure("a preflight", h);
        assert!(h.contains_key("x-request-id"));
    }
    // None of them spent the budget: a bad token is still judged (401), not refused (429).
    let (status, _, body) = ask(&app, &client, "not-a-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // The request itself: the answer names the origin, so the page may read it.
    let response = client
        .post(format!("{}/graphql", app.url))
        .header(header::ORIGIN, APP)
        .bearer_auth(token(TOLVAN))
        .header(header::CONTENT_TYPE, "application/json")
        .body(json!({ "query": "{ viewer { personId } }" }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], APP);

    // Any other origin: no CORS header at all, on the preflight or the request.
    for other in ["https://evil.example", "http://127.0.0.1:3000", "null"] {
        let response = preflight(&app, &client, other).await;
        assert_eq!(
            cors_headers(response.headers()),
            Vec::<String>::new(),
            "{other}"
        );
        assert_secure("a refused preflight", response.headers());
        let response = client
            .post(format!("{}/graphql", app.url))
            .header(header::ORIGIN, other)
            .bearer_auth(token(TOLVAN))
            .header(header::CONTENT_TYPE, "application/json")
            .body(json!({ "query": "{ viewer { personId } }" }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(
            cors_headers(response.headers()),
            Vec::<String>::new(),
            "{other}"
        );
    }
}

#[tokio::test]
async fn without_configured_origins_no_answer_carries_cors_headers() {
    let app = TestApp::builder().sources(&["vc-gottsunda"]).start().await;
    let client = reqwest::Client::new();
    let response = preflight(&app, &client, "http://127.0.0.1:3000").await;
    assert_eq!(cors_headers(response.headers()), Vec::<String>::new());
    assert_secure("a preflight", response.headers());
}

#[tokio::test]
async fn answers_are_gzipped_or_brotli_compressed_when_asked_and_keep_the_edge_headers() {
    let app = TestApp::builder().sources(&["vc-gottsunda"]).start().await;
    // Introspection: an answer well over the 1 KiB threshold.
    let query = json!({ "query": "{ __schema { types { name description } } }" });
    let ask_with = |encoding: Option<&'static str>| {
        let mut request = app
            .client
            .post(format!("{}/graphql", app.url))
            .bearer_auth(token(TOLVAN))
            .header(header::CONTENT_TYPE, "application/json")
            .body(query.to_string());
        if let Some(encoding) = encoding {
            request = request.header(header::ACCEPT_ENCODING, encoding);
        }
        request.send()
    };
    let plain = ask_with(None).await.unwrap();
    assert!(!plain.headers().contains_key(header::CONTENT_ENCODING));
    let plain = plain.bytes().await.unwrap();
    assert!(plain.len() > 1024, "{}", plain.len());

    for (asked, expected) in [("gzip", "gzip"), ("br", "br"), ("gzip, deflate, br", "br")] {
        let response = ask_with(Some(asked)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let h = response.headers().clone();
        assert_eq!(h[header::CONTENT_ENCODING], expected, "{asked}");
        assert!(
            values(&h, header::VARY).contains(&"accept-encoding".to_owned()),
            "{asked}: {h:?}"
        );
        assert_secure(asked, &h);
        assert!(h.contains_key("x-request-id"), "{asked}");
        let body = response.bytes().await.unwrap();
        assert!(
            body.len() < plain.len() / 2,
            "{asked}: {} bytes",
            body.len()
        );
        if expected == "gzip" {
            assert_eq!(body[..2], [0x1f, 0x8b], "gzip's magic number");
        }
    }

    // Small answers go out as they are.
    let small = app
        .client
        .get(format!("{}/healthz", app.url))
        .header(header::ACCEPT_ENCODING, "gzip, br")
        .send()
        .await
        .unwrap();
    assert!(!small.headers().contains_key(header::CONTENT_ENCODING));
    assert_eq!(small.text().await.unwrap(), "ok");

    // GraphiQL's assets too, with their cache header kept.
    let asset = graphiql_assets(&app).await.pop().unwrap();
    let response = app
        .client
        .get(format!("{}{asset}", app.url))
        .header(header::ACCEPT_ENCODING, "br")
        .send()
        .await
        .unwrap();
    let h = response.headers();
    assert_eq!(h[header::CONTENT_ENCODING], "br", "{asset}");
    assert_eq!(
        h[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
}
