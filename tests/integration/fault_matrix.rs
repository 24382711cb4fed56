//! The fault matrix: one source misbehaves in each of the ways care-provider systems do (hang,
//! 500s, connection reset, garbage, a 50 MB body, a slow drip of bytes, records missing required
//! elements) while two others stay healthy. Each time the overview comes back within the
//! deadline with that source's state and code, and exactly what the healthy sources gave without
//! the fault. Also the policies around each source: breaker, retry budget, bulkhead, stale data
//! with its age, and the per-source answer-size cap.
//!
//! Every test runs twice, with the misbehaving source a FHIR source (`fhir::`) and a RIV-TA
//! producer behind the service platform (`riv_ta::`): the simulators share one fault layer, and
//! the policies wrap every protocol's adapter alike.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use overblick::config::{CacheSettings, PolicyOverrides, SourcePolicy};
use overblick_simulators::Behaviour;
use serde_json::{Value, json};

use crate::harness::{MARGARETA, TOLVAN, TestApp, error_codes, token};

/// The misbehaving source of each protocol: both hold Tolvan's medications.
const FHIR_FAULTY: &str = "akademiska-sjukhuset";
const RIVTA_FAULTY: &str = "region-uppsala-npo";
const HEALTHY: [&str; 2] = ["vc-gottsunda", "hjartkliniken-fyris"];
const DEADLINE: Duration = Duration::from_secs(2);

const QUERY: &str = "{ overview { medications(status: ALL) { name provenance { sourceId recordId } } sources { source domain state code itemCount leftOut ageSeconds message } } }";

/// One source's `sources` entry for medications.
fn status<'a>(body: &'a Value, source: &str) -> &'a Value {
    body["data"]["overview"]["sources"]
        .as_array()
        .expect("sources in the answer")
        .iter()
        .find(|s| s["source"] == source && s["domain"] == "MEDICATIONS")
        .unwrap_or_else(|| panic!("{source} is in sources: {body}"))
}

/// (source, record id) of every provenance entry from `sources`, across all medications.
fn records_from(body: &Value, sources: &[&str]) -> BTreeSet<(String, String)> {
    body["data"]["overview"]["medications"]
        .as_array()
        .expect("medications")
        .iter()
        .flat_map(|m| m["provenance"].as_array().unwrap().iter())
        .filter(|p| sources.contains(&p["sourceId"].as_str().unwrap()))
        .map(|p| {
            (
                p["sourceId"].as_str().unwrap().to_owned(),
                p["recordId"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The healthy sources' part of an answer: their records and their status entries.
fn healthy_part(body: &Value) -> (BTreeSet<(String, String)>, Vec<Value>) {
    let statuses = HEALTHY
        .iter()
        .map(|s| {
            let st = status(body, s);
            json!({ "state": st["state"], "itemCount": st["itemCount"], "code": st["code"] })
        })
        .collect();
    (records_from(body, &HEALTHY), statuses)
}

/// Three sources, no cache (every overview asks every source), a 2 s deadline and the faulty
/// source's calls limited to 1 s.
async fn three_sources(faulty: &'static str, policy: SourcePolicy) -> TestApp {
    TestApp::builder()
        .sources(&[HEALTHY[0], faulty, HEALTHY[1]])
        .deadline(DEADLINE)
        .policy(SourcePolicy {
            timeout: Duration::from_secs(1),
            ..policy
        })
        .cache(CacheSettings {
            enabled: false,
            ..CacheSettings::default()
        })
        .start()
        .await
}

/// Runs the overview with `faulty` behaving as `fault`; checks it came back within the deadline
/// with the healthy part unchanged, and returns it.
async fn under(faulty: &'static str, fault: Behaviour, app: &TestApp, baseline: &Value) -> Value {
    app.simulator(faulty).set_behaviour(fault);
    let started = Instant::now();
    let body = app.query(QUERY).await;
    let took = started.elapsed();
    app.simulator(faulty).set_behaviour(Behaviour::Normal);
    // The deadline plus room for a loaded machine; a hung call would take 30 s or forever.
    assert!(
        took < DEADLINE + Duration::from_secs(3),
        "{fault:?} took {took:?}"
    );
    assert_eq!(
        healthy_part(&body),
        healthy_part(baseline),
        "{fault:?} changed what the healthy sources gave"
    );
    assert!(
        !records_from(baseline, &HEALTHY).is_empty(),
        "the healthy sources hold records to compare"
    );
    body
}

/// Runs the overview as `person` in a task of its own, to look at the sources while it waits.
fn spawn_query(app: &TestApp, person: &str) -> tokio::task::JoinHandle<Value> {
    let (url, client, token) = (app.url.clone(), app.client.clone(), token(person));
    tokio::spawn(async move {
        let text = client
            .post(format!("{url}/graphql"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(json!({ "query": QUERY }).to_string())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        serde_json::from_str(&text).unwrap()
    })
}

fn assert_failed(faulty: &'static str, body: &Value, fault: Behaviour, state: &str, code: &str) {
    let st = status(body, faulty);
    assert_eq!(st["state"], state, "{fault:?}: {st}");
    assert_eq!(st["code"], code, "{fault:?}: {st}");
    assert!(
        records_from(body, &[faulty]).is_empty(),
        "{fault:?}: nothing from the faulty source"
    );
    let errors: Vec<&Value> = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{fault:?}: an error names the source: {body}"))
        .iter()
        .filter(|e| e["extensions"]["source"] == faulty)
        .collect();
    assert_eq!(errors.len(), 1, "{fault:?}: {errors:?}");
    assert_eq!(errors[0]["extensions"]["code"], code, "{fault:?}");
}

async fn every_fault_of_one_source_leaves_the_healthy_sources_answer_unchanged_and_names_the_fault(
    faulty: &'static str,
) {
    let app = three_sources(
        faulty,
        SourcePolicy {
            // Each fault once, without the breaker opening between them.
            breaker_failures: 100,
            // Far above any real answer here, far below 50 MB: the cap, not the time limit, ends
            // the large bodies however fast this machine reads.
            max_body_bytes: 1_000_000,
            ..SourcePolicy::default()
        },
    )
    .await;
    let baseline = app.query(QUERY).await;
    assert_eq!(status(&baseline, faulty)["state"], "FROM_SOURCE");
    assert!(!records_from(&baseline, &[faulty]).is_empty());

    let hang = under(faulty, Behaviour::Hang, &app, &baseline).await;
    assert_failed(
        faulty,
        &hang,
        Behaviour::Hang,
        "TIMED_OUT",
        "SOURCE_TIMEOUT",
    );

    for fault in [
        Behaviour::Status(500),
        Behaviour::Status(503),
        Behaviour::ProtocolError,
        Behaviour::Reset,
        Behaviour::Garbage,
        Behaviour::Truncated,
        Behaviour::Huge {
            bytes: 50_000_000,
            declared: true,
        },
        Behaviour::Huge {
            bytes: 50_000_000,
            declared: false,
        },
    ] {
        let body = under(faulty, fault, &app, &baseline).await;
        assert_failed(faulty, &body, fault, "FAILED", "SOURCE_ERROR");
    }

    let drip = Behaviour::Drip {
        every: Duration::from_millis(100),
    };
    let body = under(faulty, drip, &app, &baseline).await;
    assert_failed(faulty, &body, drip, "TIMED_OUT", "SOURCE_TIMEOUT");

    // Records missing required elements: the source answered, its unreadable records are left
    // out and counted, and the list is flagged as incomplete.
    let body = under(faulty, Behaviour::MissingRequired, &app, &baseline).await;
    let st = status(&body, faulty);
    assert_eq!(st["state"], "FROM_SOURCE", "{st}");
    assert!(st["leftOut"].as_u64().unwrap() > 0, "{st}");
    assert_eq!(error_codes(&body), ["SOURCE_INCOMPLETE"], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["source"], faulty);
}

async fn a_body_over_the_sources_own_cap_is_a_source_error_and_not_read_further(
    faulty: &'static str,
) {
    let app = TestApp::builder()
        .sources(&[HEALTHY[0], faulty])
        .source_policy(
            faulty,
            PolicyOverrides {
                max_body_bytes: Some(2_000),
                ..PolicyOverrides::default()
            },
        )
        .start()
        .await;
    let body = app.query(QUERY).await;
    let st = status(&body, faulty);
    assert_eq!(st["state"], "FAILED", "{st}");
    assert!(
        st["message"].as_str().unwrap().contains("2000 bytes"),
        "{st}"
    );
    assert_eq!(status(&body, HEALTHY[0])["state"], "FROM_SOURCE");
}

async fn the_breaker_opens_after_repeated_failures_fails_fast_and_closes_when_the_source_recovers(
    faulty: &'static str,
) {
    let app = three_sources(
        faulty,
        SourcePolicy {
            max_attempts: 1,
            breaker_failures: 3,
            breaker_cool_down: Duration::from_millis(600),
            ..SourcePolicy::default()
        },
    )
    .await;
    let baseline = app.query(QUERY).await;
    let sim = app.simulator(faulty);
    // The requests one call makes (the FHIR searches behind medications; one SOAP call).
    let per_call = sim.hits();
    sim.set_behaviour(Behaviour::Status(500));
    for _ in 0..3 {
        let body = app.query(QUERY).await;
        assert_eq!(status(&body, faulty)["code"], "SOURCE_ERROR");
    }
    let open = &format!("overblick_source_breaker_state{{source=\"{faulty}\"}}");
    assert_eq!(app.metric(open).await, Some(2.0), "open");

    // Open: the source is not asked, the answer says so, the others serve as before.
    let hits = sim.hits();
    let body = app.query(QUERY).await;
    assert_eq!(sim.hits(), hits, "no call while the breaker is open");
    let st = status(&body, faulty);
    assert_eq!(st["state"], "FAILED", "{st}");
    assert_eq!(st["code"], "SOURCE_UNAVAILABLE", "{st}");
    assert_eq!(healthy_part(&body), healthy_part(&baseline));
    assert_eq!(error_codes(&body), ["SOURCE_UNAVAILABLE"]);

    // Still down after the cool-down: one trial call, which fails, and it stays open.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let body = app.query(QUERY).await;
    assert_eq!(sim.hits(), hits + per_call, "exactly one trial call");
    assert_eq!(status(&body, faulty)["code"], "SOURCE_ERROR");
    let body = app.query(QUERY).await;
    assert_eq!(status(&body, faulty)["code"], "SOURCE_UNAVAILABLE");
    assert_eq!(sim.hits(), hits + per_call);

    // Recovered: the next trial succeeds and the breaker closes.
    sim.set_behaviour(Behaviour::Normal);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let body = app.query(QUERY).await;
    assert_eq!(status(&body, faulty)["state"], "FROM_SOURCE");
    assert_eq!(
        records_from(&body, &[faulty]),
        records_from(&baseline, &[faulty])
    );
    assert_eq!(app.metric(open).await, Some(0.0), "closed");
    let body = app.query(QUERY).await;
    assert_eq!(status(&body, faulty)["state"], "FROM_SOURCE");
    assert!(body.get("errors").is_none(), "{body}");
}

async fn retries_of_a_failing_source_stay_within_its_retry_budget(faulty: &'static str) {
    // 20% of calls plus a floor of 1 retry a second over the budget's 10 s window.
    let app = three_sources(
        faulty,
        SourcePolicy {
            max_attempts: 3,
            backoff_initial: Duration::from_millis(1),
            backoff_max: Duration::from_millis(5),
            retry_budget_percent: 20,
            retry_budget_floor: 1,
            breaker_failures: 1_000,
            ..SourcePolicy::default()
        },
    )
    .await;
    let sim = app.simulator(faulty);
    // How many requests one healthy call makes (the FHIR searches behind medications).
    app.query(QUERY).await;
    let per_call = sim.hits();
    assert!(per_call > 0);

    sim.set_behaviour(Behaviour::Status(503));
    sim.reset_hits();
    let calls = 40u64;
    for _ in 0..calls {
        let body = app.query(QUERY).await;
        assert_eq!(status(&body, faulty)["state"], "FAILED");
    }
    let attempts = app
        .metric(&format!(
            "overblick_source_requests_total{{source=\"{faulty}\"}}"
        ))
        .await
        .expect("requests are counted") as u64
        - 1; // the healthy call above
    // Without a budget: 3 attempts a call. With it: the calls, 20% of them, and the floor's
    // reserve of 10.
    let allowed = calls + calls / 5 + 10;
    assert!(attempts > calls, "503s are retried: {attempts} attempts");
    assert!(
        attempts <= allowed,
        "{attempts} attempts for {calls} calls, budget {allowed}"
    );
    assert!(
        sim.hits() <= attempts * per_call,
        "{} upstream requests",
        sim.hits()
    );
}

async fn a_source_at_its_concurrency_limit_sheds_further_calls_at_once_while_others_serve(
    faulty: &'static str,
) {
    let app = TestApp::builder()
        .sources(&[HEALTHY[0], faulty])
        .source_policy(
            faulty,
            PolicyOverrides {
                max_concurrent: Some(1),
                timeout: Some(Duration::from_secs(5)),
                ..PolicyOverrides::default()
            },
        )
        .deadline(Duration::from_secs(5))
        .start()
        .await;
    app.simulator(faulty)
        .set_behaviour(Behaviour::Delay(Duration::from_millis(1500)));
    // Two patients, so the cache cannot join the calls into one.
    let slow = spawn_query(&app, TOLVAN);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let started = Instant::now();
    let body = app.post_as(&token(MARGARETA), QUERY, json!({})).await;
    assert!(
        started.elapsed() < Duration::from_millis(1200),
        "shed at once, not queued behind the slow call: {:?}",
        started.elapsed()
    );
    let st = status(&body, faulty);
    assert_eq!(st["state"], "FAILED", "{st}");
    assert_eq!(st["code"], "SOURCE_OVERLOADED", "{st}");
    assert_eq!(status(&body, HEALTHY[0])["state"], "FROM_SOURCE");
    assert_eq!(error_codes(&body), ["SOURCE_OVERLOADED"]);
    let slow = slow.await.unwrap();
    assert_eq!(status(&slow, faulty)["state"], "FROM_SOURCE", "{slow}");
    assert!(
        app.metric(
            &format!("overblick_source_calls_total{{source=\"{faulty}\",domain=\"medications\",outcome=\"shed\"}}")
        )
        .await
            >= Some(1.0)
    );
}

async fn stale_data_served_for_a_failing_source_shows_its_age(faulty: &'static str) {
    let app = TestApp::builder()
        .sources(&[HEALTHY[0], faulty])
        .cache(CacheSettings {
            ttl: Duration::from_millis(200),
            stale_window: Duration::from_secs(600),
            ..CacheSettings::default()
        })
        .start()
        .await;
    let fresh = app.query(QUERY).await;
    assert_eq!(status(&fresh, faulty)["ageSeconds"], 0);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    app.simulator(faulty).set_behaviour(Behaviour::Status(500));
    let body = app.query(QUERY).await;
    let st = status(&body, faulty);
    assert_eq!(st["state"], "STALE_SOURCE_FAILED", "{st}");
    assert_eq!(st["code"], "SOURCE_ERROR", "{st}");
    assert!(st["ageSeconds"].as_u64().unwrap() >= 1, "{st}");
    assert_eq!(
        records_from(&body, &[faulty]),
        records_from(&fresh, &[faulty])
    );
    assert_eq!(status(&body, HEALTHY[0])["ageSeconds"], 0);
}

async fn a_timed_out_attempt_is_retried_when_attempts_are_shorter_than_the_call(
    faulty: &'static str,
) {
    let app = TestApp::builder()
        .sources(&[HEALTHY[0], faulty])
        .policy(SourcePolicy {
            timeout: Duration::from_millis(1500),
            attempt_timeout: Some(Duration::from_millis(300)),
            ..SourcePolicy::default()
        })
        .cache(CacheSettings {
            enabled: false,
            ..CacheSettings::default()
        })
        .start()
        .await;
    let sim = app.simulator(faulty);
    app.query(QUERY).await;
    let per_attempt = sim.hits();
    sim.reset_hits();
    sim.set_behaviour(Behaviour::Hang);
    let started = Instant::now();
    let body = app.query(QUERY).await;
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(status(&body, faulty)["state"], "TIMED_OUT");
    assert!(
        sim.hits() >= 2,
        "the hung attempt was given up and retried: {} requests",
        sim.hits()
    );
    assert!(sim.hits() <= 3 * per_attempt, "within max_attempts");
}

async fn a_call_past_its_time_is_cancelled_and_its_connection_dropped_not_left_running(
    faulty: &'static str,
) {
    let app = TestApp::builder()
        .sources(&[HEALTHY[0], faulty])
        .source_timeout(Duration::from_millis(500))
        .start()
        .await;
    let sim = app.simulator(faulty);
    // Eight bytes a second: the answer alone would take minutes to send whole.
    sim.set_behaviour(Behaviour::Drip {
        every: Duration::from_secs(1),
    });
    let query = spawn_query(&app, TOLVAN);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        sim.fault_bodies_sending() > 0,
        "the slow answer is being sent while the call waits"
    );
    let body = query.await.unwrap();
    assert_eq!(status(&body, faulty)["state"], "TIMED_OUT");
    // The simulator stops sending only when the client has closed the connection.
    let started = Instant::now();
    while sim.fault_bodies_sending() > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{} answers are still being sent to a call that gave up",
            sim.fault_bodies_sending()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(sim.hits() > 0);
}

/// Each test above, once against a FHIR source and once against a RIV-TA source.
macro_rules! for_both_protocols {
    ($($name:ident),+ $(,)?) => {
        mod fhir {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::FHIR_FAULTY).await
                }
            )+
        }
        mod riv_ta {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::RIVTA_FAULTY).await
                }
            )+
        }
    };
}

for_both_protocols!(
    every_fault_of_one_source_leaves_the_healthy_sources_answer_unchanged_and_names_the_fault,
    a_body_over_the_sources_own_cap_is_a_source_error_and_not_read_further,
    the_breaker_opens_after_repeated_failures_fails_fast_and_closes_when_the_source_recovers,
    retries_of_a_failing_source_stay_within_its_retry_budget,
    a_source_at_its_concurrency_limit_sheds_further_calls_at_once_while_others_serve,
    stale_data_served_for_a_failing_source_shows_its_age,
    a_timed_out_attempt_is_retried_when_attempts_are_shorter_than_the_call,
    a_call_past_its_time_is_cancelled_and_its_connection_dropped_not_left_running
);
