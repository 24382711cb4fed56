//! The source cache: repeated and concurrent overviews do not multiply upstream calls.

use std::time::Duration;

use overblick::config::CacheSettings;

use crate::harness::{TestApp, states};

const QUERY: &str = "{ overview { medications { name } labResults { nodes { analysis } } sources { source domain state } } }";

#[tokio::test]
async fn a_second_identical_query_is_served_from_the_cache_without_calling_the_sources() {
    let app = TestApp::builder()
        .sources(&["vc-gottsunda", "klinisk-kemi-uppsala"])
        .start()
        .await;
    let first = app.query(QUERY).await;
    let hits = app.upstream_hits();
    assert!(hits > 0);
    assert!(states(&first).iter().all(|(_, _, s)| s == "FROM_SOURCE"));

    let second = app.query(QUERY).await;
    assert_eq!(app.upstream_hits(), hits, "no new upstream calls");
    assert!(states(&second).iter().all(|(_, _, s)| s == "FROM_CACHE"));
    assert_eq!(
        first["data"]["overview"]["medications"],
        second["data"]["overview"]["medications"]
    );
}

#[tokio::test]
async fn fifty_concurrent_identical_queries_make_one_upstream_call_per_source_and_domain() {
    // A latency long enough that all fifty arrive while the first calls are still out.
    let app = TestApp::builder()
        .sources(&["vc-gottsunda", "akademiska-sjukhuset"])
        .latency(Duration::from_millis(300))
        .start()
        .await;
    let queries = (0..50).map(|_| app.query(QUERY));
    let bodies = futures::future::join_all(queries).await;
    assert!(bodies.iter().all(|b| b.get("errors").is_none()));
    // Medications: one MedicationRequest and one MedicationStatement search per source.
    // Lab results: one Observation and one DiagnosticReport search per source.
    for source in ["vc-gottsunda", "akademiska-sjukhuset"] {
        let sim = app.simulator(source);
        for resource in [
            "MedicationRequest",
            "MedicationStatement",
            "Observation",
            "DiagnosticReport",
        ] {
            assert_eq!(sim.hits_for(resource), 1, "{source} {resource}");
        }
    }
}

#[tokio::test]
async fn with_the_cache_off_every_query_goes_to_the_sources() {
    let app = TestApp::builder()
        .sources(&["vc-gottsunda"])
        .cache(CacheSettings {
            enabled: false,
            ..CacheSettings::default()
        })
        .start()
        .await;
    app.query(QUERY).await;
    let hits = app.upstream_hits();
    let second = app.query(QUERY).await;
    assert_eq!(app.upstream_hits(), 2 * hits);
    assert!(states(&second).iter().all(|(_, _, s)| s == "FROM_SOURCE"));
}

/// Care plans and agreements both come from a source's CarePlan search: an overview asking for
/// both sends it once, not once per domain, even with the cache off.
#[tokio::test]
async fn an_overview_of_care_plans_and_agreements_searches_each_sources_care_plans_once() {
    let app = TestApp::builder()
        .sources(&["vc-gottsunda", "akademiska-sjukhuset"])
        .latency(Duration::from_millis(100))
        .cache(CacheSettings {
            enabled: false,
            ..CacheSettings::default()
        })
        .start()
        .await;
    let body = app
        .query("{ overview { carePlans { title } agreements { description } } }")
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert!(
        !body["data"]["overview"]["carePlans"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{body}"
    );
    // Gottsunda offers both domains (its self-care agreements are activities of a CarePlan).
    assert!(
        !body["data"]["overview"]["agreements"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{body}"
    );
    assert_eq!(app.simulator("vc-gottsunda").hits_for("Goal"), 1);
    for source in ["vc-gottsunda", "akademiska-sjukhuset"] {
        let sim = app.simulator(source);
        assert_eq!(sim.hits_for("CarePlan"), 1, "{source}: {body}");
    }
    // The next overview is a new search: shared only while under way, never cached.
    app.query("{ overview { carePlans { title } } }").await;
    assert_eq!(app.simulator("vc-gottsunda").hits_for("CarePlan"), 2);
}
