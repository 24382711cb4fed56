//! The HTTP and GraphQL edge: every limit at its value and one past it (refused with its code and
//! status before any source is called), methods and content types, introspection, the rate
//! limit per user, health and readiness, the headers on every answer, and the request metrics.

use std::time::Duration;

use overblick::config::{GraphqlSettings, RateLimitSettings};
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{LENA, TOLVAN, TestApp, error_codes, token};

/// Small limits, so queries at each limit are easy to write.
fn small_limits() -> GraphqlSettings {
    GraphqlSettings {
        introspection: Some(true),
        redact_source_errors: None,
        max_depth: 4,
        max_complexity: 10,
        max_aliases: 2,
        max_root_fields: 2,
        max_query_bytes: 300,
        max_batch: 1,
        max_body_bytes: 1024,
        subscriptions: Default::default(),
    }
}

async fn app_with(graphql: GraphqlSettings) -> TestApp {
    TestApp::builder()
        .sources(&["vc-gottsunda"])
        .graphql(graphql)
        .start()
        .await
}

/// POSTs `query` as Tolvan.
async fn post_query(app: &TestApp, query: &str) -> (StatusCode, HeaderMap, Value) {
    app.post(Some(&token(TOLVAN)), json!({ "query": query }))
        .await
}

/// Sends `request` and reads the answer, which must be JSON.
async fn send(request: reqwest::RequestBuilder) -> (StatusCode, HeaderMap, Value) {
    let response = request.send().await.expect("the service answers");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a body");
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("a JSON body with {status}, got {e}: {text}"));
    (status, headers, json)
}

/// The query must run: 200, data, no errors.
async fn assert_runs(app: &TestApp, query: &str) {
    let (status, _, body) = post_query(app, query).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    assert!(body.get("errors").is_none(), "{query}: {body}");
    assert!(body["data"].is_object(), "{query}: {body}");
}

/// The query must be refused with 400 and `code`, and no source asked.
async fn assert_refused(app: &TestApp, query: &str, code: &str) {
    let hits = app.upstream_hits();
    let (status, _, body) = post_query(app, query).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
    assert_eq!(error_codes(&body), [code], "{query}: {body}");
    assert!(body["data"].is_null(), "{body}");
    assert_eq!(app.upstream_hits(), hits, "no source is called: {query}");
}

#[tokio::test]
async fn a_query_as_deep_as_max_depth_runs_and_one_level_deeper_is_refused_before_any_source_is_called()
 {
    let app = app_with(small_limits()).await;
    assert_refused(
        &app,
        "{ overview { medications { provenance { careUnit { name } } } } }",
        "QUERY_TOO_DEEP",
    )
    .await;
    assert_eq!(app.upstream_hits(), 0);
    assert_runs(
        &app,
        "{ overview { medications { provenance { sourceName } } } }",
    )
    .await;
    assert!(app.upstream_hits() > 0, "the query within the limit ran");
}

#[tokio::test]
async fn fields_count_towards_max_complexity_with_fragments_counted_where_they_are_spread() {
    let app = app_with(small_limits()).await;
    // 10 fields: the fragment's two fields count twice.
    let at_limit = "{ overview { medications { name provenance { ...P } } bookings { provenance { ...P } } } } \
                    fragment P on Provenance { sourceId sourceName }";
    let past_limit = "{ overview { medications { name provenance { ...P } } bookings { id provenance { ...P } } } } \
                      fragment P on Provenance { sourceId sourceName }";
    assert_refused(&app, past_limit, "QUERY_TOO_COMPLEX").await;
    assert_runs(&app, at_limit).await;
}

#[tokio::test]
async fn max_aliases_are_accepted_and_one_more_is_refused() {
    let app = app_with(small_limits()).await;
    assert_refused(
        &app,
        "{ o: overview { m: medications { n: name } } }",
        "TOO_MANY_ALIASES",
    )
    .await;
    assert_runs(&app, "{ o: overview { m: medications { name } } }").await;
}

#[tokio::test]
async fn max_root_fields_are_accepted_and_one_more_is_refused() {
    let app = app_with(small_limits()).await;
    assert_refused(
        &app,
        "{ overview { medications { name } } viewer { name } consents { id } }",
        "TOO_MANY_ROOT_FIELDS",
    )
    .await;
    // Through a fragment too.
    assert_refused(
        &app,
        "{ overview { medications { name } } ...R } fragment R on Query { viewer { name } consents { id } }",
        "TOO_MANY_ROOT_FIELDS",
    )
    .await;
    assert_runs(
        &app,
        "{ overview { medications { name } } viewer { name } }",
    )
    .await;
}

#[tokio::test]
async fn a_query_of_max_query_bytes_runs_and_one_byte_longer_is_refused() {
    let app = app_with(small_limits()).await;
    let query = "{ overview { medications { name } } }";
    let at_limit = format!("{query:<300}");
    assert_eq!(at_limit.len(), 300);
    assert_refused(&app, &format!("{at_limit} "), "QUERY_TOO_LARGE").await;
    assert_runs(&app, &at_limit).await;
}

/// One HTTP/1.1 exchange over a plain socket, for what reqwest will not send: a declared
/// length with no body behind it, and a chunked body. Returns the status and the body.
async fn raw_post(app: &TestApp, head_extra: &str, body: &[&[u8]]) -> (u16, String, Value) {
    let addr = app.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("the service accepts");
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nConnection: close\r\n{head_extra}\r\n",
        token(TOLVAN)
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in body {
        // The service may answer and close before all of it is sent.
        if stream.write_all(chunk).await.is_err() {
            break;
        }
    }
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the service answers without waiting for the rest of the body")
        .expect("the answer is read");
    let answer = String::from_utf8(answer).expect("a text answer");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    let status = head[9..12].parse().expect("a status code");
    // The answer itself may be chunked: take the JSON between the first `{` and the last `}`.
    let json = &body[body.find('{').unwrap_or(0)..=body.rfind('}').unwrap_or(0)];
    let json = serde_json::from_str(json).unwrap_or_else(|e| panic!("JSON, got {e}: {body}"));
    (status, head.to_owned(), json)
}

fn chunked(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = parts
        .iter()
        .map(|p| {
            let mut chunk = format!("{:x}\r\n", p.len()).into_bytes();
            chunk.extend_from_slice(p);
            chunk.extend_from_slice(b"\r\n");
            chunk
        })
        .collect();
    out.push(b"0\r\n\r\n".to_vec());
    out
}

#[tokio::test]
async fn a_body_of_max_body_bytes_is_read_and_one_byte_more_is_refused_with_413_declared_or_chunked()
 {
    let app = app_with(small_limits()).await;
    let json = r#"{"query":"{ overview { medications { name } } }"}"#;
    let at_limit = format!("{json:<1024}");
    let past_limit = format!("{at_limit} ");

    // Declared with Content-Length (reqwest sets it).
    let send_raw = |body: String| {
        app.client
            .post(format!("{}/graphql", app.url))
            .bearer_auth(token(TOLVAN))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
    };
    let (status, _, body) = send(send_raw(past_limit.clone())).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(error_codes(&body), ["PAYLOAD_TOO_LARGE"]);
    assert_eq!(app.upstream_hits(), 0);

    // A declared length over the limit is refused before any of the body is read: none is sent.
    let (status, _, body) = raw_post(&app, "Content-Length: 1000000000\r\n", &[]).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(error_codes(&body), ["PAYLOAD_TOO_LARGE"]);

    // Chunked, without a length: counted as it is read.
    let (a, b) = past_limit.as_bytes().split_at(600);
    let chunks = chunked(&[a, b]);
    let chunks: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
    let (status, head, body) = raw_post(&app, "Transfer-Encoding: chunked\r\n", &chunks).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(error_codes(&body), ["PAYLOAD_TOO_LARGE"]);
    assert!(
        head.to_ascii_lowercase()
            .contains("cache-control: no-store"),
        "{head}"
    );
    assert_eq!(app.upstream_hits(), 0);

    let (a, b) = at_limit.as_bytes().split_at(600);
    let chunks = chunked(&[a, b]);
    let chunks: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
    let (status, _, body) = raw_post(&app, "Transfer-Encoding: chunked\r\n", &chunks).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["overview"]["medications"].is_array(), "{body}");

    let (status, _, body) = send(send_raw(at_limit)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn batching_is_off_by_default_and_a_batch_within_max_batch_runs_where_it_is_allowed() {
    let op = json!({ "query": "{ overview { medications { name } } }" });
    let app = app_with(small_limits()).await;
    let (status, _, body) = app
        .post(Some(&token(TOLVAN)), json!([op.clone(), op.clone()]))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_codes(&body), ["BATCH_TOO_LARGE"]);
    assert_eq!(app.upstream_hits(), 0);

    let app = app_with(GraphqlSettings {
        max_batch: 2,
        ..small_limits()
    })
    .await;
    let (status, _, body) = app
        .post(
            Some(&token(TOLVAN)),
            json!([op.clone(), op.clone(), op.clone()]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_codes(&body), ["BATCH_TOO_LARGE"]);
    assert_eq!(app.upstream_hits(), 0);

    let viewer = json!({ "query": "{ viewer { personId } }" });
    let (status, _, body) = app.post(Some(&token(TOLVAN)), json!([op, viewer])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answers = body.as_array().expect("one answer per operation");
    assert_eq!(answers.len(), 2);
    assert!(answers[0]["data"]["overview"]["medications"].is_array());
    assert_eq!(answers[1]["data"]["viewer"]["personId"], TOLVAN);
}

#[tokio::test]
async fn a_query_over_get_runs_and_a_mutation_over_get_is_refused_with_405() {
    let app = app_with(small_limits()).await;
    let get = |params: &[(&str, &str)]| {
        let mut url = reqwest::Url::parse(&format!("{}/graphql", app.url)).unwrap();
        for (k, v) in params {
            url.query_pairs_mut().append_pair(k, v);
        }
        app.client.get(url).bearer_auth(token(TOLVAN))
    };
    let (status, headers, body) = send(get(&[(
        "query",
        "mutation { withdrawConsent(id: \"x\") { id } }",
    )]))
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert_eq!(headers[header::ALLOW], "POST");
    assert_eq!(error_codes(&body), ["METHOD_NOT_ALLOWED"]);

    let (status, _, body) = send(get(&[
        (
            "query",
            "query Meds($p: PersonId) { overview(patient: $p) { medications { name } } } \
             mutation M { withdrawConsent(id: \"x\") { id } }",
        ),
        ("variables", r#"{"p":"19121212-1212"}"#),
        ("operationName", "Meds"),
    ]))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"]["overview"]["medications"].is_array(), "{body}");
    assert!(app.upstream_hits() > 0);

    // Another method on /graphql: 405 naming the ones it takes.
    let (status, headers, body) = send(app.client.put(format!("{}/graphql", app.url))).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert_eq!(headers[header::ALLOW], "GET, POST");
    assert_eq!(error_codes(&body), ["METHOD_NOT_ALLOWED"]);
}

#[tokio::test]
async fn a_get_without_a_query_serves_graphiql_where_it_is_switched_on() {
    let app = app_with(small_limits()).await;
    let response = app
        .client
        .get(format!("{}/graphql", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("GraphiQL"));
}

#[tokio::test]
async fn a_post_that_is_not_json_gets_415() {
    let app = app_with(small_limits()).await;
    let (status, _, body) = send(
        app.client
            .post(format!("{}/graphql", app.url))
            .bearer_auth(token(TOLVAN))
            .header(header::CONTENT_TYPE, "text/plain")
            .body(r#"{"query":"{ overview { medications { name } } }"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert_eq!(error_codes(&body), ["UNSUPPORTED_MEDIA_TYPE"]);
    assert_eq!(app.upstream_hits(), 0);
}

#[tokio::test]
async fn malformed_json_and_malformed_graphql_get_a_json_error_with_a_code() {
    let app = app_with(small_limits()).await;
    let raw = |body: &'static str| {
        app.client
            .post(format!("{}/graphql", app.url))
            .bearer_auth(token(TOLVAN))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
    };
    for (body, code) in [
        (r#"{"query": "#, "BAD_REQUEST"),
        ("not json", "BAD_REQUEST"),
        ("42", "BAD_REQUEST"),
        (r#"{"variables": {}}"#, "BAD_REQUEST"),
        (r#"{"query": 5}"#, "BAD_REQUEST"),
        (
            r#"{"query": "{ overview { name } }", "variables": "19121212-1212"}"#,
            "BAD_REQUEST",
        ),
        ("[]", "BAD_REQUEST"),
        (
            r#"{"query": "{ overview { medications { "}"#,
            "GRAPHQL_PARSE_FAILED",
        ),
        (r#"{"query": "query { overview"}"#, "GRAPHQL_PARSE_FAILED"),
    ] {
        let (status, _, answer) = send(raw(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(error_codes(&answer), [code], "{body}: {answer}");
        let message = answer["errors"][0]["message"].as_str().unwrap();
        assert!(
            !message.contains("1212"),
            "the input is not echoed: {message}"
        );
    }
    assert_eq!(app.upstream_hits(), 0);
}

#[tokio::test]
async fn every_error_graphql_itself_raises_has_a_code() {
    let app = app_with(GraphqlSettings::default()).await;
    for (request, code) in [
        (
            json!({ "query": "{ overview { medications { nam } } }" }),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            json!({ "query": "query A { viewer { name } } query B { viewer { name } }" }),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            json!({ "query": "query A { viewer { name } }", "operationName": "C" }),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            json!({ "query": "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }" }),
            "GRAPHQL_VALIDATION_FAILED",
        ),
    ] {
        let hits = app.upstream_hits();
        let (status, _, body) = app.post(Some(&token(TOLVAN)), request.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{request}: {body}");
        assert_eq!(error_codes(&body), [code], "{request}: {body}");
        assert_eq!(app.upstream_hits(), hits);
    }
    // A variable whose value does not fit its type.
    let (_, _, body) = app
        .post(
            Some(&token(TOLVAN)),
            json!({
                "query": "query($p: Purpose) { overview(purpose: $p) { medications { name } } }",
                "variables": { "p": "NO_SUCH_PURPOSE" },
            }),
        )
        .await;
    let codes = error_codes(&body);
    assert!(
        !codes.is_empty() && codes.iter().all(|c| !c.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn a_fragment_bomb_and_deeply_nested_brackets_are_refused_at_once() {
    let app = app_with(GraphqlSettings::default()).await;
    // Each fragment spreads the one before twice: 2^30 fields, in about 1.5 KB.
    let mut bomb =
        String::from("{ overview { ...F30 } } fragment F0 on Overview { medications { name } }");
    for i in 1..=30 {
        bomb.push_str(&format!(
            " fragment F{i} on Overview {{ ...F{p} ...F{p} }}",
            p = i - 1
        ));
    }
    let started = std::time::Instant::now();
    assert_refused(&app, &bomb, "QUERY_TOO_COMPLEX").await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    let nested = format!(
        "{{ overview(reason: {}\"x\"{}) {{ medications {{ name }} }} }}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    assert!(nested.len() < GraphqlSettings::default().max_query_bytes);
    assert_refused(&app, &nested, "QUERY_TOO_DEEP").await;
    // The service is still up.
    assert_runs(&app, "{ viewer { personId } }").await;
}

#[tokio::test]
async fn with_introspection_off_the_schema_cannot_be_queried_and_errors_suggest_no_field_names() {
    let app = app_with(GraphqlSettings {
        introspection: Some(false),
        ..GraphqlSettings::default()
    })
    .await;
    assert_refused(
        &app,
        "{ __schema { queryType { name } } }",
        "INTROSPECTION_DISABLED",
    )
    .await;
    assert_refused(
        &app,
        r#"{ __type(name: "Overview") { fields { name } } }"#,
        "INTROSPECTION_DISABLED",
    )
    .await;
    let (status, _, body) = post_query(&app, "{ overveiw { medications { name } } }").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_codes(&body), ["GRAPHQL_VALIDATION_FAILED"]);
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(!message.contains("Did you mean"), "{message}");
    // __typename is not introspection.
    assert_runs(&app, "{ __typename }").await;
}

#[tokio::test]
async fn in_the_demo_introspection_and_suggestions_are_on() {
    let app = TestApp::builder().sources(&["vc-gottsunda"]).start().await;
    assert_runs(&app, "{ __schema { queryType { name } } }").await;
    let (status, _, body) = post_query(&app, "{ overveiw { medications { name } } }").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("Did you mean"), "{message}");
}

#[tokio::test]
async fn the_fourth_quick_request_of_one_user_gets_429_with_retry_after_while_another_user_is_served()
 {
    let app = TestApp::builder()
        .sources(&["vc-gottsunda"])
        .rate_limit(RateLimitSettings {
            enabled: true,
            per_second: 1,
            burst: 3,
            ..RateLimitSettings::default()
        })
        .start()
        .await;
    let query = json!({ "query": "{ viewer { personId } }" });
    for _ in 0..3 {
        let (status, _, body) = app.post(Some(&token(TOLVAN)), query.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, headers, body) = app.post(Some(&token(TOLVAN)), query.clone()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(error_codes(&body), ["RATE_LIMITED"]);
    let retry_after: u64 = headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .expect("whole seconds");
    assert!(retry_after >= 1, "{retry_after}");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    // Another user (who may well share the first one's address) is still served.
    let (status, _, body) = app.post(Some(&token(LENA)), query).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn health_and_readiness_answer_200_with_the_database_up() {
    let app = app_with(GraphqlSettings::default()).await;
    for (path, text) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let response = app
            .client
            .get(format!("{}{path}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.text().await.unwrap(), text);
    }
}

#[tokio::test]
async fn every_kind_of_answer_carries_no_store_and_its_own_request_id() {
    let app = app_with(small_limits()).await;
    let url = |path: &str| format!("{}{path}", app.url);
    let json_post = || {
        app.client
            .post(url("/graphql"))
            .bearer_auth(token(TOLVAN))
            .header(header::CONTENT_TYPE, "application/json")
    };
    let requests = [
        (app.client.get(url("/healthz")), 200),
        (app.client.get(url("/readyz")), 200),
        (app.client.get(url("/metrics")), 200),
        (app.client.get(url("/graphql")), 200),
        (
            json_post().body(r#"{"query":"{ overview { medications { name } } }"}"#),
            200,
        ),
        (json_post().body(r#"{"query":"{ nope }"}"#), 400),
        (
            app.client
                .post(url("/graphql"))
                .header(header::CONTENT_TYPE, "application/json")
                .body("{}"),
            401,
        ),
        (app.client.delete(url("/graphql")), 405),
        (app.client.post(url("/healthz")), 405),
        (json_post().body(" ".repeat(2000)), 413),
        (
            json_post()
                .header(header::CONTENT_TYPE, "text/plain")
                .body("{}"),
            415,
        ),
        (app.client.get(url("/no/such/path")), 404),
    ];
    let mut ids = std::collections::HashSet::new();
    for (request, expected) in requests {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap();
        assert_eq!(status, expected, "{body}");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store", "{status}");
        let id = headers["x-request-id"].to_str().unwrap().to_owned();
        assert_eq!(id.len(), 24, "{id}");
        assert!(ids.insert(id), "each answer has its own id");
        if status >= 400 {
            let json: Value = serde_json::from_str(&body)
                .unwrap_or_else(|e| panic!("{status}: a JSON error, got {e}: {body}"));
            assert!(!error_codes(&json)[0].is_empty(), "{status}: {body}");
        }
    }
}

#[tokio::test]
async fn request_metrics_name_the_operation_by_its_root_fields_and_hold_no_personnummer() {
    let app = app_with(GraphqlSettings::default()).await;
    let body = app
        .post_as(
            &token(TOLVAN),
            "query Tolvan191212121212($p: PersonId) { overview(patient: $p) { medications { name } } }",
            json!({ "p": TOLVAN }),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    // Client-chosen text in a refused request (operation name, unknown field, alias).
    let (status, _, _) = app
        .post(
            Some(&token(TOLVAN)),
            json!({
                "query": "query P191212121212 { x191212121212: p19121212_1212 { name } }",
                "operationName": "P191212121212",
            }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let text = app
        .client
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"overblick_graphql_requests_total{operation="overview",outcome="ok"} 1"#,
        r#"overblick_graphql_requests_total{operation="invalid",outcome="rejected"} 1"#,
        r#"overblick_graphql_request_duration_seconds_count{operation="overview"} 1"#,
        "overblick_graphql_requests_in_flight 0",
    ] {
        assert!(text.contains(line), "{line} in:\n{text}");
    }
    for personnummer in [
        "191212121212",
        "19121212-1212",
        "1212121212",
        "19121212_1212",
    ] {
        assert!(!text.contains(personnummer), "{personnummer} in:\n{text}");
    }
}

#[tokio::test]
async fn an_unused_fragment_cycle_or_bomb_is_refused_at_once_not_a_crash() {
    let app = app_with(GraphqlSettings::default()).await;
    let mut bomb = String::from("{ viewer { name } } fragment F0 on Query { viewer { name } }");
    for i in 1..=30 {
        bomb.push_str(&format!(
            " fragment F{i} on Query {{ ...F{p} ...F{p} }}",
            p = i - 1
        ));
    }
    for query in [
        "{ viewer { name } } fragment A on Query { ...B } fragment B on Query { ...A }",
        &bomb,
    ] {
        let started = std::time::Instant::now();
        let (status, _, body) = post_query(&app, query).await;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let codes = error_codes(&body);
        assert!(
            !codes.is_empty() && codes.iter().all(|c| c == "GRAPHQL_VALIDATION_FAILED"),
            "{body}"
        );
    }
    assert_eq!(app.upstream_hits(), 0);
    assert_runs(&app, "{ viewer { personId } }").await;
}
