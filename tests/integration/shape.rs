//! The shape of an overview answer, as typed clients (Apollo, Relay, generated code) rely on
//! it: every selected field is in `data.overview`; a list that is refused or fails is `null`
//! with exactly one coded error at its path; a bad argument fails only its own list; the
//! overview itself is `null` only when the viewer may see none of it. And the counts in
//! `sources`: `itemCount` is what the list shows from a source, `reportedCount` what the
//! source reported that the viewer may see.

use serde_json::{Value, json};

use crate::harness::{
    ELIAS, LENA, MARGARETA, TOLVAN, TestApp, error_codes, staff_token, staff_token_at, token,
};

/// Another care unit of Region Uppsala: its staff have a care relationship but no consent.
const OTHER_UNIT: &str = "SE2321000024-AKS000";
const REGION_UPPSALA: &str = "SE2321000024-0001";

/// Every field of `Overview` the rules apply to, with a selection of each.
const FIELDS: [(&str, &str); 10] = [
    ("patient", "patient { personId name }"),
    ("contacts", "contacts(status: ALL) { id }"),
    ("carePlans", "carePlans { id }"),
    ("agreements", "agreements { id }"),
    ("medications", "medications(status: ALL) { id }"),
    (
        "measurements",
        "measurements(first: 5) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id } } }",
    ),
    ("labResults", "labResults { totalCount nodes { id } }"),
    (
        "labReports",
        "labReports { totalCount nodes { id results { id reportId } } }",
    ),
    ("bookings", "bookings { id }"),
    (
        "sources",
        "sources { source domain itemCount reportedCount }",
    ),
];

/// Lists a delegate of medications and bookings may not see.
const UNDELEGATED: [&str; 6] = [
    "contacts",
    "carePlans",
    "agreements",
    "measurements",
    "labResults",
    "labReports",
];

/// One viewer: who they are, whose overview they open, and how.
struct Viewer {
    role: &'static str,
    token: String,
    patient: &'static str,
    purpose: Option<&'static str>,
    reason: Option<&'static str>,
    /// The lists this viewer gets as `null` with `FORBIDDEN`.
    refused: &'static [&'static str],
}

fn in_days(days: i64) -> String {
    (chrono::Utc::now() + chrono::TimeDelta::days(days)).to_rfc3339()
}

async fn expect_no_errors(app: &TestApp, token: &str, query: &str, variables: Value) {
    let body = app.post_as(token, query, variables).await;
    assert!(body["errors"].is_null(), "{query}: {body}");
}

/// The demo with Margareta as Tolvan's delegate for medications and bookings, Karin (at
/// Gottsunda) with a care relationship and Tolvan's consent, and Karin at another unit of the
/// same region with a care relationship only; and the six viewers.
async fn viewers(app: &TestApp) -> Vec<Viewer> {
    let until = (chrono::Utc::now().date_naive() + chrono::TimeDelta::days(30)).to_string();
    expect_no_errors(
        app,
        &token(TOLVAN),
        "mutation($d: PersonId!, $u: Date!) { grantDelegation(delegate: $d, domains: [MEDICATIONS, BOOKINGS], validUntil: $u) { id } }",
        json!({ "d": MARGARETA, "u": until }),
    )
    .await;
    let with_consent = staff_token();
    let without_consent = staff_token_at(OTHER_UNIT, REGION_UPPSALA);
    for staff in [&with_consent, &without_consent] {
        expect_no_errors(
            app,
            staff,
            "mutation($p: PersonId!, $u: DateTime!) { registerCareRelationship(patient: $p, validUntil: $u) { id } }",
            json!({ "p": TOLVAN, "u": in_days(30) }),
        )
        .await;
    }
    expect_no_errors(
        app,
        &with_consent,
        "mutation($p: PersonId!, $u: DateTime!) { registerConsent(patient: $p, validUntil: $u) { id } }",
        json!({ "p": TOLVAN, "u": in_days(30) }),
    )
    .await;
    let viewer = |role, token, patient, purpose, reason, refused| Viewer {
        role,
        token,
        patient,
        purpose,
        reason,
        refused,
    };
    vec![
        viewer("patient", token(TOLVAN), TOLVAN, None, None, &[]),
        viewer("guardian", token(LENA), ELIAS, None, None, &[]),
        viewer(
            "delegate",
            token(MARGARETA),
            TOLVAN,
            None,
            None,
            &UNDELEGATED,
        ),
        viewer(
            "staff with consent",
            with_consent,
            TOLVAN,
            Some("CARE"),
            None,
            &[],
        ),
        viewer(
            "staff without consent",
            without_consent.clone(),
            TOLVAN,
            Some("CARE"),
            None,
            &[],
        ),
        viewer(
            "staff in an emergency",
            without_consent,
            TOLVAN,
            Some("EMERGENCY"),
            Some("unconscious after a fall"),
            &[],
        ),
    ]
}

fn overview_query(selection: &str) -> String {
    format!(
        "query($p: PersonId, $purpose: Purpose, $reason: String) {{ overview(patient: $p, purpose: $purpose, reason: $reason) {{ {selection} }} }}"
    )
}

/// The errors of a response whose path is exactly `path`.
fn errors_at<'a>(body: &'a Value, path: &Value) -> Vec<&'a Value> {
    body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| &e["path"] == path)
        .collect()
}

/// The shape rules for one answer to a selection of `fields`.
fn assert_shape(body: &Value, fields: &[&str], refused: &[&str], what: &str) {
    let overview = body["data"]["overview"]
        .as_object()
        .unwrap_or_else(|| panic!("{what}: the overview is an object: {body}"));
    for field in fields {
        assert!(
            overview.contains_key(*field),
            "{what}: `{field}` is selected, so it is in the answer: {body}"
        );
        let path = json!(["overview", field]);
        if overview[*field].is_null() {
            let errors = errors_at(body, &path);
            assert_eq!(
                errors.len(),
                1,
                "{what}: a null `{field}` has exactly one error at its path: {body}"
            );
            assert!(
                errors[0]["extensions"]["code"].is_string(),
                "{what}: with a code: {body}"
            );
        }
        if refused.contains(field) {
            assert!(overview[*field].is_null(), "{what}: `{field}`: {body}");
            assert_eq!(
                errors_at(body, &path)[0]["extensions"]["code"],
                "FORBIDDEN",
                "{what}: `{field}`: {body}"
            );
        } else {
            assert!(
                !overview[*field].is_null(),
                "{what}: `{field}` may be seen, so it is not null: {body}"
            );
        }
    }
    assert_eq!(
        overview.len(),
        fields.len(),
        "{what}: nothing but the selection: {body}"
    );
    for code in error_codes(body) {
        assert!(!code.is_empty(), "{what}: every error has a code: {body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn for_every_role_every_selected_field_is_in_the_overview_and_every_null_list_has_one_coded_error()
 {
    let app = TestApp::builder().start().await;
    for viewer in viewers(&app).await {
        let variables =
            json!({ "p": viewer.patient, "purpose": viewer.purpose, "reason": viewer.reason });
        // Every field at once, then each field alone (a delegate's undelegated list alone is
        // the case where nothing else would be in the overview).
        let all: Vec<&str> = FIELDS.iter().map(|(f, _)| *f).collect();
        let selection: Vec<&str> = FIELDS.iter().map(|(_, s)| *s).collect();
        let body = app
            .post_as(
                &viewer.token,
                &overview_query(&selection.join(" ")),
                variables.clone(),
            )
            .await;
        assert_shape(&body, &all, viewer.refused, viewer.role);
        for (field, selection) in FIELDS {
            let body = app
                .post_as(&viewer.token, &overview_query(selection), variables.clone())
                .await;
            assert_shape(
                &body,
                &[field],
                viewer.refused,
                &format!("{} asking for {field} alone", viewer.role),
            );
        }
    }
}

#[tokio::test]
async fn an_overview_the_viewer_may_see_nothing_of_is_null_with_one_forbidden_error() {
    let app = TestApp::builder().start().await;
    // 19010101-0007 is a valid personnummer that is not Tolvan's.
    let body = app
        .query(
            r#"{ overview(patient: "19010101-0007") { patient { personId } medications { id } } }"#,
        )
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    assert_eq!(body["errors"][0]["path"], json!(["overview"]), "{body}");
    // `overview` is non-null in the schema, so the spec nulls `data` itself.
    assert!(body["data"].is_null(), "{body}");
}

#[tokio::test]
async fn a_bad_argument_fails_only_its_own_list_whether_written_in_the_query_or_sent_as_a_variable()
{
    let app = TestApp::builder().start().await;
    let cases = [
        (
            r#"{ overview { patient { personId } medications(status: ALL) { id } labResults(from: "2026-11-31") { nodes { id } } } }"#,
            json!({}),
        ),
        (
            r#"query($f: DateOrDateTime) { overview { patient { personId } medications(status: ALL) { id } labResults(from: $f) { nodes { id } } } }"#,
            json!({ "f": "2026-11-01 09:00" }),
        ),
        (
            r#"{ overview { patient { personId } medications(status: ALL) { id } labResults(from: "2026-11-02T00:00:00Z", to: "2026-11-01T00:00:00Z") { nodes { id } } } }"#,
            json!({}),
        ),
        // Paging: a page larger than 500, or a cursor that is none.
        (
            r#"query($n: Int) { overview { patient { personId } medications(status: ALL) { id } labResults(first: $n) { nodes { id } } } }"#,
            json!({ "n": 501 }),
        ),
        (
            r#"{ overview { patient { personId } medications(status: ALL) { id } labResults(after: "bm90IGEgY3Vyc29y") { totalCount } } }"#,
            json!({}),
        ),
    ];
    for (query, variables) in cases {
        let body = app.query_with(query, variables).await;
        assert_eq!(error_codes(&body), ["INVALID_ARGUMENT"], "{query}: {body}");
        assert_eq!(
            body["errors"][0]["path"],
            json!(["overview", "labResults"]),
            "{query}: {body}"
        );
        let overview = body["data"]["overview"].as_object().unwrap();
        assert!(overview["labResults"].is_null(), "{body}");
        assert_eq!(overview["patient"]["personId"], TOLVAN, "{body}");
        assert!(
            !overview["medications"].as_array().unwrap().is_empty(),
            "{body}"
        );
    }
}

/// The `sources` entries of one domain that are sources of their own (not systems behind an
/// aggregator), as (source, itemCount, reportedCount).
fn counts(body: &Value, domain: &str) -> Vec<(String, u64, u64)> {
    body["data"]["overview"]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["domain"] == domain && s["aggregated"] == false)
        .map(|s| {
            (
                s["source"].as_str().unwrap().to_owned(),
                s["itemCount"].as_u64().unwrap(),
                s["reportedCount"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// How many items of the list at `key` name `source` in their provenance.
fn shown_from(body: &Value, key: &str, source: &str) -> u64 {
    body["data"]["overview"][key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} in {body}"))
        .iter()
        .filter(|item| {
            item["provenance"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["sourceId"] == source)
        })
        .count() as u64
}

const SOURCES: &str = "sources { source domain aggregated itemCount reportedCount }";

#[tokio::test]
async fn item_count_is_what_the_list_shows_from_each_source_and_reported_count_all_it_reported() {
    let app = TestApp::builder().start().await;
    let body = app
        .query(&format!(
            "{{ overview {{ medications(status: ACTIVE) {{ provenance {{ sourceId }} }} {SOURCES} }} }}"
        ))
        .await;
    let all = app
        .query(&format!(
            "{{ overview {{ medications(status: ALL) {{ provenance {{ sourceId }} }} {SOURCES} }} }}"
        ))
        .await;
    let counts_active = counts(&body, "MEDICATIONS");
    assert!(!counts_active.is_empty(), "{body}");
    let mut filtered_out = 0;
    for (source, item_count, reported_count) in &counts_active {
        assert_eq!(
            *item_count,
            shown_from(&body, "medications", source),
            "{source}: itemCount is what the list shows from it: {body}"
        );
        assert_eq!(
            *reported_count,
            shown_from(&all, "medications", source),
            "{source}: reportedCount is all it reported that may be seen: {all}"
        );
        filtered_out += reported_count - item_count;
    }
    assert!(
        filtered_out > 0,
        "the demo has ended medications, so ACTIVE shows fewer than were reported: {body}"
    );
    // Without a filter, the two agree.
    for (source, item_count, reported_count) in counts(&all, "MEDICATIONS") {
        assert_eq!(item_count, reported_count, "{source}: {all}");
    }
}

#[tokio::test]
async fn with_a_list_selected_twice_under_aliases_item_count_follows_the_first_selection() {
    let app = TestApp::builder().start().await;
    for (first, second) in [("ENDED", "ALL"), ("ALL", "ENDED")] {
        let body = app
            .query(&format!(
                "{{ overview {{ first: medications(status: {first}) {{ provenance {{ sourceId }} }} second: medications(status: {second}) {{ provenance {{ sourceId }} }} {SOURCES} }} }}"
            ))
            .await;
        assert!(body["errors"].is_null(), "{body}");
        let mut differs = false;
        for (source, item_count, _) in counts(&body, "MEDICATIONS") {
            assert_eq!(
                item_count,
                shown_from(&body, "first", &source),
                "{source}: the first selection ({first}) counts: {body}"
            );
            differs |= item_count != shown_from(&body, "second", &source);
        }
        assert!(differs, "the two selections show different items: {body}");
    }
    // The first selection's arguments invalid: it is null, so nothing of it is counted.
    let body = app
        .query(&format!(
            r#"{{ overview {{ first: medications(from: "2027-01-02T00:00:00Z", to: "2027-01-01T00:00:00Z") {{ id }} second: medications(status: ALL) {{ id }} {SOURCES} }} }}"#
        ))
        .await;
    assert_eq!(error_codes(&body), ["INVALID_ARGUMENT"], "{body}");
    assert!(body["data"]["overview"]["first"].is_null(), "{body}");
    let counted = counts(&body, "MEDICATIONS");
    assert!(counted.iter().all(|(_, item, _)| *item == 0), "{body}");
    assert!(
        counted.iter().any(|(_, _, reported)| *reported > 0),
        "{body}"
    );
}
