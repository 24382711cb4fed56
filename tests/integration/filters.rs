//! The filters a chart uses: `from`/`to` as dates or instants, `code` as a FHIR token matched
//! across LOINC, SNOMED CT and NPU through the concept map, and the latest value per kind, over
//! the demo's sources (FHIR and the national service platform).

use serde_json::{Value, json};

use crate::harness::{TestApp, error_codes};

/// A list's items: a plain list, or a connection's `nodes`.
fn list<'a>(body: &'a Value, field: &str) -> &'a Vec<Value> {
    let value = &body["data"]["overview"][field];
    value
        .get("nodes")
        .unwrap_or(value)
        .as_array()
        .unwrap_or_else(|| panic!("{field} in {body}"))
}

fn times(items: &[Value]) -> Vec<&str> {
    items.iter().map(|i| i["time"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn a_weight_coded_in_snomed_ct_over_the_platform_is_found_by_a_loinc_filter() {
    let app = TestApp::builder().start().await;
    for code in ["29463-7", "http://loinc.org|29463-7", "LOINC|29463-7"] {
        let body = app
            .query_with(
                "query($c: String) { overview { measurements(code: $c) { nodes { time code { system code } concept { id nameSv nameEn } provenance { sourceId } } } sources { source domain itemCount } } }",
                json!({ "c": code }),
            )
            .await;
        assert!(body.get("errors").is_none(), "{code}: {body}");
        let weights = list(&body, "measurements");
        // The newest weight Tolvan may see came from Gottsunda over the platform on
        // 2026-11-17 at 08:00 Swedish time, coded SNOMED CT 27113001.
        let newest = &weights[0];
        assert_eq!(newest["time"], "2026-11-17T07:00:00Z", "{code}: {body}");
        assert_eq!(
            newest["code"],
            json!({ "system": "http://snomed.info/sct", "code": "27113001" })
        );
        assert_eq!(newest["provenance"][0]["sourceId"], "region-uppsala-npo");
        assert!(
            weights.iter().all(|w| w["concept"]
                == json!({ "id": "body-weight", "nameSv": "Kroppsvikt", "nameEn": "Body weight" })),
            "{body}"
        );
        // The platform's count under the filter counts it.
        let platform = body["data"]["overview"]["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["source"] == "region-uppsala-npo" && s["domain"] == "MEASUREMENTS")
            .unwrap();
        assert_eq!(platform["itemCount"], 1, "{body}");
    }
}

#[tokio::test]
async fn a_loinc_code_finds_lab_results_coded_in_npu_and_no_other_analysis() {
    let app = TestApp::builder().start().await;
    let body = app
        .query(r#"{ overview { loinc: labResults(code: "http://loinc.org|14682-9") { nodes { code { system code } concept { id } } } npu: labResults(code: "NPU|NPU04998") { nodes { id } } } }"#)
        .await;
    let creatinine = list(&body, "loinc");
    assert!(!creatinine.is_empty(), "{body}");
    assert!(
        creatinine
            .iter()
            .all(|l| l["concept"]["id"] == "creatinine")
    );
    assert!(creatinine.iter().any(|l| l["code"]["code"] == "NPU04998"));
    assert_eq!(creatinine.len(), list(&body, "npu").len());
}

#[tokio::test]
async fn a_malformed_code_fails_only_its_own_list_with_invalid_argument() {
    let app = TestApp::builder().sources(&["vc-gottsunda"]).start().await;
    for code in [
        "LOINC|29463-8",
        "weight|29463-7",
        "http://loinc.org|",
        "a|b|c",
    ] {
        let body = app
            .query_with(
                "query($c: String) { overview { measurements(code: $c) { nodes { id } } labResults { nodes { id } } } }",
                json!({ "c": code }),
            )
            .await;
        assert_eq!(error_codes(&body), ["INVALID_ARGUMENT"], "{code}: {body}");
        assert_eq!(
            body["errors"][0]["path"],
            json!(["overview", "measurements"])
        );
        assert!(body["data"]["overview"]["measurements"].is_null());
        assert!(!list(&body, "labResults").is_empty());
    }
}

#[tokio::test]
async fn a_date_range_is_swedish_calendar_days_with_the_day_in_to_included() {
    let app = TestApp::builder()
        .sources(&["akademiska-sjukhuset"])
        .start()
        .await;
    let body = app
        .query(r#"{ overview {
            days: labResults(code: "1988-5", from: "2026-09-28", to: "2026-09-30") { nodes { time } }
            instants: labResults(code: "1988-5", from: "2026-09-28T00:00:00Z", to: "2026-09-30T00:00:00+02:00") { nodes { time } }
            oneDay: labResults(from: "2026-09-28", to: "2026-09-28") { nodes { time } }
        } }"#)
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    // The CRP of 01:30 Swedish time on the 28th (still the 27th in UTC) and the one on the
    // 30th, which a date in `to` includes.
    assert_eq!(
        times(list(&body, "days")),
        ["2026-09-30T05:30:00Z", "2026-09-27T23:30:00Z"]
    );
    // As instants, `to` is exclusive and a UTC midnight leaves out the night-time sample.
    assert!(list(&body, "instants").is_empty(), "{body}");
    let one_day = times(list(&body, "oneDay"));
    assert!(!one_day.is_empty());
    assert!(
        one_day.iter().all(|t| *t == "2026-09-27T23:30:00Z"),
        "{one_day:?}"
    );
}

#[tokio::test]
async fn a_date_range_that_ends_before_it_starts_is_an_invalid_argument() {
    let app = TestApp::builder().sources(&["vc-gottsunda"]).start().await;
    let body = app
        .query(r#"{ overview { measurements(from: "2026-11-02", to: "2026-11-01") { nodes { id } } } }"#)
        .await;
    assert_eq!(error_codes(&body), ["INVALID_ARGUMENT"], "{body}");
}

#[tokio::test]
async fn the_latest_values_are_one_per_concept_newest_first() {
    let app = TestApp::builder().start().await;
    let body = app
        .query("{ overview { latestMeasurements { time name concept { id } code { system code } } latestLabResults { time analysis concept { id } code { system code } provenance { sourceId } } } }")
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    for field in ["latestMeasurements", "latestLabResults"] {
        let items = list(&body, field);
        let t = times(items);
        let mut sorted = t.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(t, sorted, "{field} newest first");
        let mut kinds: Vec<String> = items
            .iter()
            .map(|i| {
                // As the view tells kinds: concept, else system and code, else the name.
                match (i["concept"]["id"].as_str(), &i["code"]) {
                    (Some(concept), _) => concept.to_owned(),
                    (None, Value::Null) => format!("{}{}", i["name"], i["analysis"]),
                    (None, code) => code.to_string(),
                }
            })
            .collect();
        let n = kinds.len();
        kinds.sort();
        kinds.dedup();
        assert_eq!(kinds.len(), n, "{field}: one per kind: {body}");
    }
    let weight: Vec<&Value> = list(&body, "latestMeasurements")
        .iter()
        .filter(|m| m["concept"]["id"] == "body-weight")
        .collect();
    // One weight, whatever system coded it: the platform's, the newest Tolvan may see.
    assert_eq!(weight.len(), 1);
    assert_eq!(weight[0]["time"], "2026-11-17T07:00:00Z");
    let crp: Vec<&Value> = list(&body, "latestLabResults")
        .iter()
        .filter(|l| l["concept"]["id"] == "c-reactive-protein")
        .collect();
    // The CRP of 2026-11-21 is not yet approved for Tolvan: his latest is the one of 30 September.
    assert_eq!(crp.len(), 1);
    assert_eq!(crp[0]["time"], "2026-09-30T05:30:00Z");

    let filtered = app
        .query(r#"{ overview { latestLabResults(code: "http://loinc.org|2823-3") { time concept { id } } } }"#)
        .await;
    let potassium = list(&filtered, "latestLabResults");
    assert_eq!(potassium.len(), 1, "{filtered}");
    assert_eq!(potassium[0]["concept"]["id"], "potassium");
}
