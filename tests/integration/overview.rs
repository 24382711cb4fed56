//! The overview over the demo's ten sources (eight FHIR, two on the national service platform,
//! guided by the demo's engagement index): every domain, merged, filtered and ordered.

use serde_json::{Value, json};

use crate::harness::{TestApp, error_codes, provenance_sources, states};

const EVERYTHING: &str = r#"
query Everything {
  overview {
    patient { personId birthDate name }
    contacts(status: ALL) { id role roleText name profession hsaId careUnit { name hsaId } phone email start end provenance { sourceId sourceName system careUnit { name hsaId } careProvider { name hsaId } recordId fetchedAt } }
    carePlans { id title kind category status description start end nextReview owner careUnit { name hsaId } provenance { sourceId recordId } }
    agreements { id kind description status responsible start due carePlan provenance { sourceId recordId } }
    medications(status: ALL) { id name code { system code display } dosage dose { value unit unitCode } status recordKind start end prescriber reason provenance { sourceId recordId } }
    measurements { nodes { id name code { system code display } value { value unit } valueText components { name value { value unit } } time status measuredBy provenance { sourceId recordId } } }
    labResults { nodes { id analysis code { system code display } value { value unit } valueText referenceRange { low { value unit } high { value unit } text } abnormal interpretation time status report laboratory provenance { sourceId recordId } } }
    bookings { id start end status title serviceType careUnit { name hsaId } location practitioner patientMayCancel patientMayRebook provenance { sourceId recordId } }
    sources { source sourceName domain state itemCount latencyMs fetchedAt message }
  }
}"#;

/// A list's items; a paged list's (a connection's) are in its `nodes`.
fn list<'a>(body: &'a Value, field: &str) -> &'a Vec<Value> {
    let value = &body["data"]["overview"][field];
    value
        .get("nodes")
        .unwrap_or(value)
        .as_array()
        .unwrap_or_else(|| panic!("{field} in {body}"))
}

#[tokio::test]
async fn the_demo_overview_shows_all_seven_domains_from_all_ten_sources() {
    let app = TestApp::builder().engagement_index().start().await;
    let body = app.query(EVERYTHING).await;
    assert!(body.get("errors").is_none(), "{body}");
    for field in [
        "contacts",
        "carePlans",
        "agreements",
        "medications",
        "measurements",
        "labResults",
        "bookings",
    ] {
        assert!(!list(&body, field).is_empty(), "{field} is empty");
    }
    let overview = &body["data"]["overview"];
    assert_eq!(overview["patient"]["name"], "Tolvan Tolvansson");
    assert_eq!(overview["patient"]["personId"], "19121212-1212");
    assert_eq!(overview["patient"]["birthDate"], "1912-12-12");

    let statuses = states(&body);
    let mut sources: Vec<&str> = statuses.iter().map(|(s, _, _)| s.as_str()).collect();
    sources.sort();
    sources.dedup();
    assert_eq!(sources.len(), 10, "{sources:?}");
    assert!(statuses.iter().all(|(_, _, state)| state == "FROM_SOURCE"));

    insta::assert_json_snapshot!("demo_overview", body, {
        ".data.overview.**.fetchedAt" => "[fetchedAt]",
        ".data.overview.sources[].latencyMs" => "[latencyMs]",
    });
}

fn named<'a>(items: &'a [Value], key: &str, value: &str) -> Vec<&'a Value> {
    items
        .iter()
        .filter(|i| i[key].as_str().is_some_and(|v| v.contains(value)))
        .collect()
}

#[tokio::test]
async fn a_prescription_two_systems_share_is_one_item_with_both_provenances() {
    let app = TestApp::builder().start().await;
    let body = app
        .query("{ overview { medications(status: ALL) { name dose { value unit } start provenance { sourceId } } } }")
        .await;
    let eliquis = named(list(&body, "medications"), "name", "Eliquis");
    assert_eq!(eliquis.len(), 1, "{eliquis:?}");
    // Two FHIR systems and the national service platform (RIV-TA) report it.
    assert_eq!(
        provenance_sources(eliquis[0]),
        ["akademiska-sjukhuset", "region-uppsala-npo", "vc-gottsunda"]
    );
}

#[tokio::test]
async fn the_same_medication_matched_on_clinical_facts_is_one_item_but_a_different_dose_is_not() {
    let app = TestApp::builder().start().await;
    let body = app
        .query("{ overview { medications(status: ALL) { name dose { value unit } start status provenance { sourceId } } } }")
        .await;
    let metformin = named(list(&body, "medications"), "name", "Metformin");
    assert_eq!(metformin.len(), 2, "{metformin:#?}");
    let current = metformin
        .iter()
        .find(|m| m["dose"]["value"] == 500.0)
        .expect("metformin 500 mg");
    assert_eq!(
        provenance_sources(current),
        [
            "region-uppsala-npo",
            "solgarden-korttidsboende",
            "vc-gottsunda"
        ]
    );
    let old = metformin
        .iter()
        .find(|m| m["dose"]["value"] == 1000.0)
        .expect("metformin 1000 mg");
    assert_eq!(provenance_sources(old), ["vc-sodermalm"]);
    assert_eq!(old["status"], "ENDED");
}

#[tokio::test]
async fn bookings_two_systems_share_collapse_by_identifier_and_by_time_and_unit() {
    let app = TestApp::builder().start().await;
    let body = app
        .query("{ overview { bookings { start careUnit { hsaId } provenance { sourceId } } } }")
        .await;
    let bookings = list(&body, "bookings");
    let heart = bookings
        .iter()
        .filter(|b| b["start"] == "2027-02-15T08:30:00Z")
        .collect::<Vec<_>>();
    assert_eq!(heart.len(), 1, "{heart:#?}");
    assert_eq!(
        provenance_sources(heart[0]),
        ["akademiska-sjukhuset", "hjartkliniken-fyris"]
    );
    let home_visit = bookings
        .iter()
        .filter(|b| b["start"] == "2027-01-12T12:00:00Z")
        .collect::<Vec<_>>();
    assert_eq!(home_visit.len(), 1, "{home_visit:#?}");
    assert_eq!(
        provenance_sources(home_visit[0]),
        ["uppsala-hemtjanst", "vc-gottsunda"]
    );
}

#[tokio::test]
async fn the_same_lab_result_from_the_hospital_and_the_lab_is_one_item_and_a_later_one_stays_apart()
{
    let app = TestApp::builder().start().await;
    let body = app
        .query("{ overview { labResults { nodes { analysis time value { value } abnormal provenance { sourceId } } } } }")
        .await;
    let creatinine = named(list(&body, "labResults"), "analysis", "Kreatinin");
    let oct3: Vec<_> = creatinine
        .iter()
        .filter(|l| l["time"] == "2026-10-03T06:15:00Z")
        .collect();
    assert_eq!(oct3.len(), 1, "{creatinine:#?}");
    assert_eq!(
        provenance_sources(oct3[0]),
        ["akademiska-sjukhuset", "klinisk-kemi-uppsala"]
    );
    let oct20: Vec<_> = creatinine
        .iter()
        .filter(|l| l["time"] == "2026-10-20T06:05:00Z")
        .collect();
    assert_eq!(oct20.len(), 1);
    assert_eq!(oct20[0]["abnormal"], "HIGH");
}

#[tokio::test]
async fn named_contacts_come_first_and_the_named_doctor_seen_twice_is_one_contact() {
    let app = TestApp::builder().start().await;
    let body = app
        .query("{ overview { contacts { role name provenance { sourceId } } } }")
        .await;
    let contacts = list(&body, "contacts");
    assert_eq!(contacts[0]["role"], "NAMED_DOCTOR", "{contacts:#?}");
    assert_eq!(contacts[0]["name"], "Karin Lindqvist");
    assert_eq!(
        provenance_sources(&contacts[0]),
        ["akademiska-sjukhuset", "vc-gottsunda"]
    );
    let roles: Vec<&str> = contacts
        .iter()
        .map(|c| c["role"].as_str().unwrap())
        .collect();
    assert!(roles.contains(&"NAMED_CARE_CONTACT"));
    assert!(roles.contains(&"MUNICIPAL_CARE_CONTACT"));
    // The named doctor in Stockholm ended in 2020: not shown unless asked for.
    assert!(contacts.iter().all(|c| c["name"] != "Johan Ek"));
}

#[tokio::test]
async fn ids_are_the_same_across_requests_and_restarts() {
    let query = "{ overview { medications(status: ALL) { id name } bookings { id } labResults { nodes { id } } contacts(status: ALL) { id } } }";
    let first = TestApp::builder().start().await;
    let a = first.query(query).await;
    let again = first.query(query).await;
    let restarted = TestApp::builder().start().await;
    let b = restarted.query(query).await;
    assert_eq!(a["data"], again["data"]);
    assert_eq!(a["data"], b["data"]);
    let ids: Vec<&Value> = list(&a, "medications").iter().map(|m| &m["id"]).collect();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(ids.len(), unique.len(), "ids are unique");
}

#[tokio::test]
async fn only_the_domains_the_query_selects_are_fetched() {
    let app = TestApp::builder().start().await;
    let body = app
        .query("query { overview { ...meds } } fragment meds on Overview { medications { name } }")
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert!(app.upstream_hits_for("MedicationRequest") > 0);
    for other in [
        "Observation",
        "Appointment",
        "CareTeam",
        "CarePlan",
        "Goal",
        "Patient",
        "DiagnosticReport",
    ] {
        assert_eq!(app.upstream_hits_for(other), 0, "{other} was fetched");
    }
}

#[tokio::test]
async fn medications_default_to_current_ones_and_ended_ones_come_on_request() {
    let app = TestApp::builder().start().await;
    let body = app
        .query("{ overview { current: medications { status end } ended: medications(status: ENDED) { status end } all: medications(status: ALL) { id } } }")
        .await;
    let current = list(&body, "current");
    let ended = list(&body, "ended");
    let all = list(&body, "all");
    assert!(!current.is_empty() && !ended.is_empty());
    assert_eq!(current.len() + ended.len(), all.len());
    assert!(current.iter().all(|m| m["status"] != "ENDED"));
}

#[tokio::test]
async fn bookings_split_into_upcoming_and_past_and_respect_a_date_range() {
    let app = TestApp::builder().start().await;
    let body = app
        .query_with(
            "query($from: DateOrDateTime, $to: DateOrDateTime) { overview { upcoming: bookings(status: UPCOMING) { start } past: bookings(status: PAST) { start } all: bookings { start } feb: bookings(from: $from, to: $to) { start } } }",
            json!({ "from": "2027-02-01T00:00:00+01:00", "to": "2027-03-01T00:00:00+01:00" }),
        )
        .await;
    let upcoming = list(&body, "upcoming");
    let past = list(&body, "past");
    assert!(!upcoming.is_empty() && !past.is_empty());
    assert_eq!(upcoming.len() + past.len(), list(&body, "all").len());
    let feb = list(&body, "feb");
    assert!(!feb.is_empty());
    assert!(
        feb.iter()
            .all(|b| b["start"].as_str().unwrap().starts_with("2027-02"))
    );
    // Earliest first.
    let starts: Vec<&str> = list(&body, "all")
        .iter()
        .map(|b| b["start"].as_str().unwrap())
        .collect();
    let mut sorted = starts.clone();
    sorted.sort();
    assert_eq!(starts, sorted);
}

#[tokio::test]
async fn a_range_that_ends_before_it_starts_is_an_invalid_argument() {
    let app = TestApp::builder().sources(&["vc-gottsunda"]).start().await;
    let body = app
        .query(r#"{ overview { labResults(from: "2026-02-01T00:00:00Z", to: "2026-01-01T00:00:00Z") { nodes { id } } } }"#)
        .await;
    assert_eq!(error_codes(&body), ["INVALID_ARGUMENT"]);
}

#[tokio::test]
async fn measurements_come_newest_first_and_patient_entered_ones_say_so() {
    let app = TestApp::builder()
        .sources(&["vc-gottsunda", "elevhalsan-uppsala"])
        .start()
        .await;
    let body = app
        .query(
            "{ overview { measurements { nodes { time measuredBy provenance { sourceId } } } } }",
        )
        .await;
    let items = list(&body, "measurements");
    let times: Vec<&str> = items.iter().filter_map(|m| m["time"].as_str()).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted);
    assert!(items.iter().any(|m| m["measuredBy"] == "PATIENT"));
    assert!(
        items
            .iter()
            .any(|m| provenance_sources(m) == ["elevhalsan-uppsala"]
                && m["time"].as_str().unwrap().starts_with("19"))
    );
}
