//! A small run of the benchmark harness (`benches/overview/`): it checks that the harness starts
//! sources and the service, drives load, counts upstream calls and memory, and reports, with
//! numbers that make sense. It asserts no timing: these machines are shared and noisy.

#[path = "../benches/overview/harness.rs"]
#[allow(dead_code)]
mod harness;
#[path = "../benches/overview/report.rs"]
#[allow(dead_code)]
mod report;

use std::sync::Arc;
use std::time::Duration;

use harness::{LoadSpec, OverblickOptions, OverblickProcess, Sources, Target, drive, patients};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_benchmark_harness_measures_a_small_run_sanely() {
    let latency = Duration::from_millis(20);
    let sources = Arc::new(Sources::start(3, latency).await);
    let process = OverblickProcess::start(
        &harness::overblick_binary(),
        &sources.urls(),
        &OverblickOptions {
            cache: false,
            source_timeout: Duration::from_secs(5),
            deadline: Duration::from_secs(10),
            cpu: None,
            isolate_first: None,
        },
    )
    .await
    .expect("Överblick starts against the fixed sources");
    let spec = LoadSpec {
        clients: 1,
        warmup: Duration::from_millis(200),
        duration: Duration::from_secs(1),
        check_every: 1,
        expected_items: 3 * harness::ITEMS_PER_SOURCE,
        pace: None,
    };
    let hits = sources.clone();
    let result = drive(
        Arc::new(Target::overblick(process.graphql_url(), &patients(5))),
        &spec,
        Arc::new(move || hits.hits()),
        process.pid(),
    )
    .await;

    assert!(result.requests > 0, "some requests were measured");
    assert_eq!(result.failed, 0);
    assert_eq!(result.partial, 0, "every answer held all 60 items");
    assert_eq!(result.checked, result.requests);
    let (p50, p99) = (result.percentile_ms(0.5), result.percentile_ms(0.99));
    assert!(
        p50 >= latency.as_secs_f64() * 1000.0,
        "no overview can be faster than its sources: p50 {p50} ms"
    );
    assert!(p99 >= p50);
    // Cache off: two searches (MedicationRequest, MedicationStatement) per source per request,
    // give or take the requests in flight at the edges of the window.
    let per_request = result.upstream as f64 / result.started as f64;
    assert!(
        (5.0..=7.0).contains(&per_request),
        "about 6 upstream calls per request, got {per_request}"
    );
    assert!(
        result.gateway_cpu > Duration::ZERO,
        "the gateway used CPU to answer"
    );
    let (peak, rss) = harness::memory(process.pid()).expect("/proc tells the gateway's memory");
    assert!(peak >= rss && rss > 1024 * 1024);

    let row = report::Row::new(
        "3 sources, 1 client, cache off",
        "Överblick",
        3,
        1,
        &result,
        Some(peak),
    );
    let report = report::Report {
        date: "today".into(),
        machine: harness::machine(),
        setup: "smoke".into(),
        timed: Vec::new(),
        rows: vec![row],
        findings: vec![],
    };
    let md = report.markdown();
    assert!(
        md.contains("| 3 sources, 1 client, cache off | Överblick |"),
        "{md}"
    );
    let dir = tempfile::tempdir().unwrap();
    match report.plot(&dir.path().join("plot.png")) {
        Ok(()) => assert!(
            std::fs::metadata(dir.path().join("plot.png"))
                .unwrap()
                .len()
                > 1000
        ),
        // A machine without Debian's DejaVu font cannot draw text; the table is still written.
        Err(e) if e.contains("DejaVuSans") => eprintln!("note: {e}"),
        Err(e) => panic!("the plot failed: {e}"),
    }
}
