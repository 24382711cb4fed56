//! One failing source never fails the overview: the rest comes back, and the failure is named.

use std::time::{Duration, Instant};

use overblick::config::{CacheSettings, GraphqlSettings};
use overblick_simulators::Behaviour;
use serde_json::Value;

use crate::harness::{TestApp, error_codes, provenance_sources, states};

const MEDICATIONS: &str = "{ overview { medications(status: ALL) { name provenance { sourceId } } sources { source domain state itemCount message fetchedAt } } }";

fn medication_sources(body: &Value) -> Vec<String> {
    let mut all: Vec<String> = body["data"]["overview"]["medications"]
        .as_array()
        .expect("medications")
        .iter()
        .flat_map(provenance_sources)
        .collect();
    all.sort();
    all.dedup();
    all
}

fn state_of(body: &Value, source: &str) -> String {
    states(body)
        .into_iter()
        .find(|(s, d, _)| s == source && d == "MEDICATIONS")
        .map(|(_, _, state)| state)
        .unwrap_or_else(|| panic!("{source} is in sources: {body}"))
}

async fn two_sources() -> TestApp {
    TestApp::builder()
        .sources(&["vc-gottsunda", "akademiska-sjukhuset"])
        .source_timeout(Duration::from_millis(400))
        .deadline(Duration::from_secs(2))
        .start()
        .await
}

#[tokio::test]
async fn a_hanging_source_yields_partial_data_within_the_deadline() {
    let app = two_sources().await;
    app.simulator("akademiska-sjukhuset")
        .set_behaviour(Behaviour::Hang);
    let started = Instant::now();
    let body = app.query(MEDICATIONS).await;
    // The simulator would hang forever; the answer comes back once the source's time is up.
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(medication_sources(&body), ["vc-gottsunda"]);
    assert_eq!(state_of(&body, "akademiska-sjukhuset"), "TIMED_OUT");
    assert_eq!(state_of(&body, "vc-gottsunda"), "FROM_SOURCE");
    let errors = body["errors"]
        .as_array()
        .expect("an error names the source");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0]["extensions"]["code"], "SOURCE_TIMEOUT");
    assert_eq!(errors[0]["extensions"]["source"], "akademiska-sjukhuset");
    assert_eq!(
        errors[0]["path"],
        serde_json::json!(["overview", "medications"])
    );
}

#[tokio::test]
async fn the_overall_deadline_bounds_a_source_with_a_longer_timeout() {
    let app = TestApp::builder()
        .sources(&["vc-gottsunda", "akademiska-sjukhuset"])
        .source_timeout(Duration::from_secs(60))
        .deadline(Duration::from_millis(500))
        .start()
        .await;
    app.simulator("akademiska-sjukhuset")
        .set_behaviour(Behaviour::Hang);
    let started = Instant::now();
    let body = app.query(MEDICATIONS).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(state_of(&body, "akademiska-sjukhuset"), "TIMED_OUT");
    assert_eq!(medication_sources(&body), ["vc-gottsunda"]);
}

#[tokio::test]
async fn a_source_that_fails_or_sends_nonsense_is_reported_failed_and_the_rest_is_served() {
    for behaviour in [
        Behaviour::Status(500),
        Behaviour::Status(503),
        Behaviour::Status(404),
        Behaviour::Garbage,
        Behaviour::Truncated,
        Behaviour::ProtocolError,
    ] {
        let app = two_sources().await;
        app.simulator("akademiska-sjukhuset")
            .set_behaviour(behaviour);
        let body = app.query(MEDICATIONS).await;
        assert_eq!(
            state_of(&body, "akademiska-sjukhuset"),
            "FAILED",
            "{behaviour:?}"
        );
        assert_eq!(medication_sources(&body), ["vc-gottsunda"], "{behaviour:?}");
        assert_eq!(error_codes(&body), ["SOURCE_ERROR"], "{behaviour:?}");
        let status = states(&body);
        assert_eq!(status.len(), 2, "{behaviour:?}");
        let message = body["data"]["overview"]["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["source"] == "akademiska-sjukhuset")
            .unwrap()["message"]
            .as_str()
            .expect("a message says what went wrong")
            .to_owned();
        assert!(message.starts_with("Akademiska sjukhuset"), "{message}");
        assert!(
            !message.contains("191212"),
            "no personnummer in messages: {message}"
        );
    }
}

#[tokio::test]
async fn a_source_that_fails_after_its_ttl_is_served_stale_from_the_cache() {
    let app = TestApp::builder()
        .sources(&["vc-gottsunda", "akademiska-sjukhuset"])
        .cache(CacheSettings {
            ttl: Duration::from_millis(300),
            stale_window: Duration::from_secs(600),
            ..CacheSettings::default()
        })
        .start()
        .await;
    let fresh = app.query(MEDICATIONS).await;
    assert_eq!(state_of(&fresh, "akademiska-sjukhuset"), "FROM_SOURCE");
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.simulator("akademiska-sjukhuset")
        .set_behaviour(Behaviour::Status(502));
    let body = app.query(MEDICATIONS).await;
    assert_eq!(
        state_of(&body, "akademiska-sjukhuset"),
        "STALE_SOURCE_FAILED"
    );
    assert_eq!(state_of(&body, "vc-gottsunda"), "FROM_SOURCE");
    assert_eq!(
        medication_sources(&body),
        medication_sources(&fresh),
        "the stale data is shown"
    );
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["extensions"]["code"], "SOURCE_ERROR");
    assert_eq!(errors[0]["extensions"]["stale"], true);
}

/// Two sources, with what a failing source says about its failure kept from clients
/// (`redact`: production's default) or shown (the demo's).
async fn two_sources_with_source_errors(redact: bool) -> TestApp {
    TestApp::builder()
        .sources(&["vc-gottsunda", "akademiska-sjukhuset"])
        .source_timeout(Duration::from_millis(400))
        .deadline(Duration::from_secs(2))
        .graphql(GraphqlSettings {
            introspection: Some(true),
            redact_source_errors: Some(redact),
            ..GraphqlSettings::default()
        })
        .start()
        .await
}

fn status_message(body: &Value, source: &str) -> String {
    body["data"]["overview"]["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .find(|s| s["source"] == source)
        .and_then(|s| s["message"].as_str())
        .unwrap_or_else(|| panic!("{source} has a message: {body}"))
        .to_owned()
}

#[tokio::test]
async fn with_source_errors_redacted_what_a_failing_source_said_reaches_neither_its_error_nor_its_status()
 {
    let failed = ("failed (SOURCE_ERROR)", "SOURCE_ERROR");
    for (behaviour, (words, code)) in [
        // An OperationOutcome with status 200, one with status 500, an HTML page from a proxy.
        (Behaviour::ProtocolError, failed),
        (Behaviour::Status(500), failed),
        (Behaviour::Garbage, failed),
        (
            Behaviour::Hang,
            ("did not answer in time (SOURCE_TIMEOUT)", "SOURCE_TIMEOUT"),
        ),
    ] {
        let app = two_sources_with_source_errors(true).await;
        app.simulator("akademiska-sjukhuset")
            .set_behaviour(behaviour);
        let body = app.query(MEDICATIONS).await;
        assert_eq!(error_codes(&body), [code], "{behaviour:?}: {body}");
        let error = &body["errors"][0];
        assert_eq!(
            error["message"],
            format!("Akademiska sjukhuset {words}; its medications are missing"),
            "{behaviour:?}"
        );
        assert_eq!(error["extensions"]["source"], "akademiska-sjukhuset");
        assert_eq!(
            status_message(&body, "akademiska-sjukhuset"),
            format!("Akademiska sjukhuset {words}"),
            "{behaviour:?}"
        );
        let answer = body.to_string();
        for upstream in [
            "simulated",
            "exception",
            "HTTP 500",
            "Bad Gateway",
            "not JSON",
        ] {
            assert!(
                !answer.contains(upstream),
                "{behaviour:?}: {upstream:?} reached the client: {answer}"
            );
        }
        // The rest is served as ever.
        assert_eq!(medication_sources(&body), ["vc-gottsunda"], "{behaviour:?}");
    }
}

#[tokio::test]
async fn with_source_errors_shown_the_error_and_the_status_say_what_the_source_reported() {
    // The simulator's OperationOutcomes: severity and code are read, `diagnostics` never is
    // (servers echo requests there).
    for (behaviour, reported) in [
        (
            Behaviour::ProtocolError,
            "reported an error: error exception",
        ),
        (Behaviour::Status(500), "answered HTTP 500: error exception"),
    ] {
        let app = two_sources_with_source_errors(false).await;
        app.simulator("akademiska-sjukhuset")
            .set_behaviour(behaviour);
        let body = app.query(MEDICATIONS).await;
        assert_eq!(error_codes(&body), ["SOURCE_ERROR"], "{behaviour:?}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.starts_with("Akademiska sjukhuset ") && message.contains(reported),
            "{behaviour:?}: {message}"
        );
        let status = status_message(&body, "akademiska-sjukhuset");
        assert!(status.contains(reported), "{behaviour:?}: {status}");
        assert!(!status.contains("(SOURCE_ERROR)"), "{status}");
    }
}
