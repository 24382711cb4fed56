//! Lab reports beside the flat list of lab results: the real service on port 0 against the
//! demo's lab (FHIR) and the national service platform (RIV-TA) on loopback.

use std::path::Path;

use overblick::config::catalog::{SourceEntry, parse_source_file};
use overblick_simulators::ServerOptions;
use overblick_simulators::rivta::{self, RivtaData, RivtaHandle};
use serde_json::{Value, json};

use crate::harness::{Options, TestApp, repo_path, staff_token};

const LAB: &str = "klinisk-kemi-uppsala";
const PLATFORM: &str = "region-uppsala-npo";

const REPORTS: &str = r#"{ overview {
    labReports { totalCount nodes {
        id title time status conclusion comments
        laboratory { name hsaId } orderingUnit { name hsaId }
        results { id reportId analysis abnormal interpretation laboratory }
        provenance { sourceId recordId }
    } }
    labResults { totalCount nodes { id reportId analysis abnormal interpretation laboratory } }
} }"#;

async fn demo_lab() -> TestApp {
    TestApp::builder().sources(&[LAB, PLATFORM]).start().await
}

fn nodes<'a>(body: &'a Value, list: &str) -> &'a Vec<Value> {
    body["data"]["overview"][list]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{list} in {body}"))
}

fn report<'a>(body: &'a Value, title: &str) -> &'a Value {
    nodes(body, "labReports")
        .iter()
        .find(|r| r["title"] == title)
        .unwrap_or_else(|| panic!("a report {title:?} in {body}"))
}

fn sources_of(item: &Value) -> Vec<&str> {
    item["provenance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sourceId"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_report_lists_its_results_and_each_result_names_the_report() {
    let app = demo_lab().await;
    let body = app.query(REPORTS).await;
    assert!(body.get("errors").is_none(), "{body}");
    let report = report(&body, "Klinisk kemi: njurfunktion, salter och blodstatus");
    assert_eq!(report["time"], "2026-10-03T06:15:00Z");
    assert_eq!(report["status"], "FINAL");
    assert_eq!(
        report["laboratory"]["name"],
        "Klinisk kemi och farmakologi, Akademiska sjukhuset"
    );
    assert!(
        report["conclusion"]
            .as_str()
            .unwrap()
            .starts_with("Normal njurfunktion"),
        "{report}"
    );
    let results = report["results"].as_array().unwrap();
    let analyses: Vec<&str> = results
        .iter()
        .map(|r| r["analysis"].as_str().unwrap())
        .collect();
    for analysis in ["P-Kreatinin", "P-Natrium", "P-Kalium", "B-Hemoglobin (Hb)"] {
        assert!(analyses.contains(&analysis), "{analysis} in {analyses:?}");
    }
    let flat = nodes(&body, "labResults");
    for result in results {
        assert_eq!(result["reportId"], report["id"], "{result}");
        // The same result, under the same id, in the flat list.
        assert!(flat.iter().any(|f| f["id"] == result["id"]), "{result}");
    }
}

#[tokio::test]
async fn results_from_the_platform_carry_their_abnormal_flag_interpretation_and_laboratory() {
    let app = demo_lab().await;
    let body = app.query(REPORTS).await;
    assert!(body.get("errors").is_none(), "{body}");
    let report = report(&body, "Klinisk kemi");
    assert_eq!(sources_of(report), [PLATFORM]);
    assert_eq!(report["laboratory"]["hsaId"], "SE2321000024-AKS200");
    assert_eq!(
        report["laboratory"]["name"],
        "Klinisk kemi och farmakologi, Akademiska sjukhuset"
    );
    assert_eq!(report["orderingUnit"]["name"], "Gottsunda vårdcentral");
    assert_eq!(report["orderingUnit"]["hsaId"], "SE2321000024-GOT001");
    assert_eq!(report["status"], "FINAL");
    assert!(
        report["conclusion"]
            .as_str()
            .unwrap()
            .starts_with("Vitamin B12 normaliserat"),
        "{report}"
    );
    // Two analyses, and the conclusion as a result of its own (as in `labResults`).
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 3, "{report}");
    let hb = results
        .iter()
        .find(|r| r["analysis"] == "B—Hemoglobin; masskonc. = ? g/L")
        .unwrap_or_else(|| panic!("Hb in {report}"));
    assert_eq!(hb["abnormal"], "LOW");
    assert_eq!(hb["interpretation"], "Lågt");
    assert_eq!(
        hb["laboratory"],
        "Klinisk kemi och farmakologi, Akademiska sjukhuset"
    );
    for result in results {
        assert_eq!(result["reportId"], report["id"]);
        assert!(result["laboratory"].is_string(), "{result}");
    }
}

#[tokio::test]
async fn two_distinct_reports_never_merge() {
    let app = demo_lab().await;
    let body = app.query(REPORTS).await;
    let reports = nodes(&body, "labReports");
    // Four FHIR reports Tolvan may see (a fifth is not yet approved for him) and the
    // platform's, all from the same laboratory.
    assert_eq!(reports.len(), 5, "{body}");
    assert_eq!(body["data"]["overview"]["labReports"]["totalCount"], 5);
    let mut ids: Vec<&str> = reports.iter().map(|r| r["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5);
    assert!(
        reports
            .iter()
            .all(|r| r["provenance"].as_array().unwrap().len() == 1)
    );
    // Newest first.
    let times: Vec<&str> = reports
        .iter()
        .map(|r| r["time"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted);

    // Staff (with a care relationship, in the lab's own region) see the report not yet
    // approved for the patient, as a report of its own.
    let staff = staff_token();
    let until = (chrono::Utc::now() + chrono::TimeDelta::days(30)).to_rfc3339();
    let registered = app
        .post_as(
            &staff,
            "mutation($p: PersonId!, $u: DateTime!) { registerCareRelationship(patient: $p, validUntil: $u) { id } }",
            json!({ "p": "191212121212", "u": until }),
        )
        .await;
    assert!(registered["errors"].is_null(), "{registered}");
    let staff = app
        .post_as(
            &staff,
            r#"query { overview(patient: "191212121212", purpose: CARE) { labReports { totalCount } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        staff["data"]["overview"]["labReports"]["totalCount"], 6,
        "{staff}"
    );
}

#[tokio::test]
async fn the_flat_lab_results_list_is_the_same_with_or_without_reports() {
    let app = demo_lab().await;
    let flat_only = app
        .query(
            "{ overview { labResults { totalCount nodes { id analysis time value { value } } } } }",
        )
        .await;
    let both = app
        .query("{ overview { labReports { nodes { id results { id } } } labResults { totalCount nodes { id analysis time value { value } } } } }")
        .await;
    assert!(both.get("errors").is_none(), "{both}");
    assert_eq!(
        flat_only["data"]["overview"]["labResults"],
        both["data"]["overview"]["labResults"]
    );
    // Every result of a report is in the flat list once.
    let flat: Vec<&Value> = nodes(&both, "labResults")
        .iter()
        .map(|r| &r["id"])
        .collect();
    let mut in_reports: Vec<&Value> = nodes(&both, "labReports")
        .iter()
        .flat_map(|r| r["results"].as_array().unwrap())
        .map(|r| &r["id"])
        .collect();
    assert!(in_reports.iter().all(|id| flat.contains(id)));
    let count = in_reports.len();
    in_reports.dedup();
    assert_eq!(in_reports.len(), count, "a result in two reports");
}

#[tokio::test]
async fn reports_are_filtered_by_time_and_paged() {
    let app = demo_lab().await;
    let body = app
        .query(r#"{ overview { labReports(from: "2026-11-01", first: 1) { totalCount pageInfo { hasNextPage } nodes { title } } } }"#)
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let reports = &body["data"]["overview"]["labReports"];
    // 2026-11-03 (FHIR) and 2026-11-17 (the platform): newest first.
    assert_eq!(reports["totalCount"], 2, "{body}");
    assert_eq!(reports["pageInfo"]["hasNextPage"], true);
    assert_eq!(reports["nodes"][0]["title"], "Klinisk kemi");
}

/// A RIV-TA source serving the demo's platform data for lab results only.
fn platform_route(n: usize, base_url: &str) -> SourceEntry {
    let text = format!(
        r#"
id = "route-{n}"
name = "Route {n}"
domains = ["lab-results"]

[protocol.riv-ta]
logical_address = "SE2321000024-R{n:03}"
base_url = "{base_url}"

[care_provider]
name = "Region Uppsala"
hsa_id = "SE2321000024-0001"
"#
    );
    parse_source_file(Path::new("tests/integration/lab_reports.rs"), &text)
        .expect("a valid catalog entry")
}

fn producer(n: usize) -> RivtaHandle {
    let data = RivtaData::load_dir(&repo_path("sources/demo-data/region-uppsala-npo"))
        .expect("the demo's RIV-TA data loads");
    rivta::start(
        data,
        vec![format!("SE2321000024-R{n:03}")],
        &ServerOptions::default(),
    )
    .expect("the producer starts")
}

#[tokio::test]
async fn the_same_report_from_two_sources_is_one_report_with_both_provenances() {
    let producers = [producer(0), producer(1)];
    let catalog = producers
        .iter()
        .enumerate()
        .map(|(n, p)| platform_route(n, p.base_url()))
        .collect();
    let app = TestApp::start_with(catalog, Vec::new(), Options::default()).await;
    let body = app.query(REPORTS).await;
    assert!(body.get("errors").is_none(), "{body}");
    let reports = nodes(&body, "labReports");
    assert_eq!(reports.len(), 1, "{body}");
    let report = &reports[0];
    assert_eq!(sources_of(report), ["route-0", "route-1"]);
    // Both routes' fields, whichever answered first.
    assert_eq!(report["orderingUnit"]["name"], "Gottsunda vårdcentral");
    assert_eq!(report["laboratory"]["hsaId"], "SE2321000024-AKS200");
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 3, "{report}");
    let flat = nodes(&body, "labResults");
    assert_eq!(flat.len(), 3, "{body}");
    assert!(flat.iter().all(|r| r["id"] != Value::Null));
    for result in flat {
        assert_eq!(result["reportId"], report["id"]);
        assert!(result["laboratory"].is_string(), "{result}");
    }
}
