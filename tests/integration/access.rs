//! Who may ask for what, bad input, and the access log.

use overblick::store::testing;
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{TOLVAN, TestApp, error_codes, token};

const MEDS: &str = "{ overview { medications { name } } }";

#[tokio::test]
async fn a_request_without_a_token_gets_401_and_no_source_is_called() {
    let app = TestApp::builder().sources(&["vc-gottsunda"]).start().await;
    let (status, headers, body) = app.post(None, json!({ "query": MEDS })).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        headers[reqwest::header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    assert_eq!(app.upstream_hits(), 0);
}

#[tokio::test]
async fn a_bad_or_foreign_token_gets_401() {
    let app = TestApp::builder().sources(&["vc-gottsunda"]).start().await;
    let good = token(TOLVAN);
    let mut tampered = good.clone();
    tampered.pop();
    tampered.push(if good.ends_with('A') { 'B' } else { 'A' });
    for bad in ["garbage", "a.b.c", tampered.as_str()] {
        let (status, headers, body) = app.post(Some(bad), json!({ "query": MEDS })).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad}");
        assert!(
            headers[reqwest::header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .contains("invalid_token")
        );
        assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    }
    assert_eq!(app.upstream_hits(), 0);
}

#[tokio::test]
async fn an_invalid_personnummer_is_an_invalid_person_id_error_never_an_empty_overview() {
    let app = TestApp::builder().sources(&["vc-gottsunda"]).start().await;
    for bad in [
        json!("19121212-1213"),
        json!("19121312-1212"),
        json!("1212121212"),
        json!("tolvan"),
        json!(191212121212u64),
    ] {
        let body = app
            .query_with(
                "query($p: PersonId) { overview(patient: $p) { medications { name } } }",
                json!({ "p": bad }),
            )
            .await;
        assert_eq!(error_codes(&body), ["INVALID_PERSON_ID"], "{bad}: {body}");
        assert!(body["data"].is_null(), "{body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(
            !message.contains("1212121"),
            "the input is not echoed: {message}"
        );
    }
    // Also as a literal in the query text.
    let body = app
        .query(r#"{ overview(patient: "19121212-1213") { medications { name } } }"#)
        .await;
    assert_eq!(error_codes(&body), ["INVALID_PERSON_ID"]);
    assert_eq!(app.upstream_hits(), 0);
}

#[tokio::test]
async fn both_written_forms_of_the_own_personnummer_are_accepted() {
    let app = TestApp::builder().sources(&["vc-gottsunda"]).start().await;
    for form in ["19121212-1212", "191212121212"] {
        let body = app
            .query_with(
                "query($p: PersonId) { overview(patient: $p) { patient { personId } medications { name } } }",
                json!({ "p": form }),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(
            body["data"]["overview"]["patient"]["personId"],
            "19121212-1212"
        );
    }
}

#[tokio::test]
async fn a_patient_asking_for_another_person_is_refused_and_no_source_is_called() {
    let app = TestApp::builder().sources(&["vc-gottsunda"]).start().await;
    // 19010101-0007 is a valid personnummer that is not Tolvan's.
    let body = app
        .query(r#"{ overview(patient: "19010101-0007") { medications { name } } }"#)
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);
    assert!(body["data"].is_null());
    assert_eq!(app.upstream_hits(), 0);
    let log = app.access_records("19010101-0007").await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].outcome, "FORBIDDEN");
    assert_eq!(log[0].patient, "190101010007");
}

#[tokio::test]
async fn every_overview_access_is_in_the_access_log_with_the_sources_read() {
    for database in testing::databases().await {
        let backend = database.backend;
        let app = TestApp::builder()
            .sources(&["vc-gottsunda", "klinisk-kemi-uppsala"])
            .database(&database)
            .start()
            .await;
        app.query("{ overview { medications { name } labResults { nodes { analysis } } } }")
            .await;
        let log = app.access_records(TOLVAN).await;
        assert_eq!(log.len(), 1, "{backend:?}");
        let record = &log[0];
        assert_eq!(record.outcome, "granted");
        assert_eq!(record.actor_role, "patient");
        assert_eq!(record.actor_person.as_deref(), Some("191212121212"));
        assert_eq!(record.patient, "191212121212");
        assert_eq!(record.domains, ["medications", "lab_results"]);
        assert_eq!(record.sources, ["klinisk-kemi-uppsala", "vc-gottsunda"]);
        assert!(!record.emergency);
        assert!(!record.request_id.is_empty());
    }
}

#[tokio::test]
async fn answers_are_never_stored_by_browsers_or_proxies() {
    let app = TestApp::builder().sources(&["vc-gottsunda"]).start().await;
    let (_, headers, _) = app
        .post(Some(&token(TOLVAN)), json!({ "query": MEDS }))
        .await;
    assert_eq!(headers[reqwest::header::CACHE_CONTROL], "no-store");
    assert!(headers.contains_key("x-request-id"));
}

#[tokio::test]
async fn graphiql_is_served_on_get_with_a_ready_demo_token() {
    let app = TestApp::builder().sources(&["vc-gottsunda"]).start().await;
    let response = app
        .client
        .get(format!("{}/graphql", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert!(page.contains("graphiql"), "a GraphiQL page");
    assert!(page.contains("Bearer "), "pre-filled with a demo token");
}
