//! Who may see what, end to end: the real service with its real store (SQLite, and PostgreSQL
//! when `DATABASE_URL` is set) against the demo's simulated sources. Every test runs once per
//! database.

use serde_json::{Value, json};

use crate::harness::{
    ELIAS, LENA, MARGARETA, TOLVAN, TestApp, databases, error_codes, staff_token, staff_token_at,
    token,
};

const REGION_UPPSALA: &str = "SE2321000024-0001";
const FYRIS: &str = "SE5566778899-0001";
const OTHER_PROVIDERS: [&str; 5] = [
    "hjartkliniken-fyris",
    "solgarden-korttidsboende",
    "uppsala-hemtjanst",
    "elevhalsan-uppsala",
    "vc-sodermalm",
];

const OVERVIEW: &str = r#"query($p: PersonId, $purpose: Purpose, $reason: String) {
  overview(patient: $p, purpose: $purpose, reason: $reason) {
    patient { personId name }
    medications(status: ALL) { id provenance { sourceId recordId careProvider { hsaId } } }
    labResults { nodes { id provenance { sourceId recordId careProvider { hsaId } } } }
    measurements { nodes { id provenance { sourceId recordId } } }
    sources { source domain itemCount }
    blockedData { careProvider { hsaId name } }
  }
}"#;

fn vars(patient: &str, purpose: Option<&str>, reason: Option<&str>) -> Value {
    json!({ "p": patient, "purpose": purpose, "reason": reason })
}

/// Every (source id, record id) in the answer's lists.
fn records(body: &Value) -> Vec<(String, String)> {
    let mut all = Vec::new();
    for list in ["medications", "labResults", "measurements"] {
        // The paged lists (connections) have their items in `nodes`.
        let value = &body["data"]["overview"][list];
        for item in value
            .get("nodes")
            .unwrap_or(value)
            .as_array()
            .into_iter()
            .flatten()
        {
            for p in item["provenance"].as_array().unwrap() {
                all.push((
                    p["sourceId"].as_str().unwrap().to_owned(),
                    p["recordId"].as_str().unwrap().to_owned(),
                ));
            }
        }
    }
    all
}

fn providers(body: &Value) -> Vec<String> {
    let mut all: Vec<String> = ["medications", "labResults"]
        .iter()
        .flat_map(|list| {
            let value = &body["data"]["overview"][*list];
            value
                .get("nodes")
                .unwrap_or(value)
                .as_array()
                .into_iter()
                .flatten()
        })
        .flat_map(|item| item["provenance"].as_array().unwrap().iter())
        .map(|p| p["careProvider"]["hsaId"].as_str().unwrap_or("").to_owned())
        .collect();
    all.sort();
    all.dedup();
    all
}

fn has_record(body: &Value, record_id: &str) -> bool {
    records(body).iter().any(|(_, r)| r == record_id)
}

/// The records the demo marks "not approved for patient view".
const NOT_APPROVED_LAB: &str = "Observation/kem-lab-crp-20261121";

async fn register_relationship(app: &TestApp, staff: &str, patient: &str) {
    let body = app
        .post_as(
            staff,
            "mutation($p: PersonId!, $u: DateTime!) { registerCareRelationship(patient: $p, validUntil: $u) { id } }",
            json!({ "p": patient, "u": in_days(30) }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
}

async fn register_consent(app: &TestApp, staff: &str, patient: &str) -> String {
    let body = app
        .post_as(
            staff,
            "mutation($p: PersonId!, $u: DateTime!) { registerConsent(patient: $p, validUntil: $u) { id active } }",
            json!({ "p": patient, "u": in_days(30) }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["registerConsent"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn in_days(days: i64) -> String {
    (chrono::Utc::now() + chrono::TimeDelta::days(days)).to_rfc3339()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_patient_does_not_see_records_not_approved_for_patient_view_but_staff_do() {
    for db in databases().await {
        let app = TestApp::builder().database(&db).start().await;
        let own = app
            .post_as(&token(TOLVAN), OVERVIEW, vars(TOLVAN, None, None))
            .await;
        assert!(own["errors"].is_null(), "{}: {own}", db.backend);
        assert!(!has_record(&own, NOT_APPROVED_LAB), "{}: {own}", db.backend);
        assert!(has_record(&own, "Observation/kem-lab-krea-20261020"));

        // The same cached answers, another viewer: staff with consent see it.
        let staff = staff_token();
        register_relationship(&app, &staff, TOLVAN).await;
        register_consent(&app, &staff, TOLVAN).await;
        let seen = app
            .post_as(&staff, OVERVIEW, vars(TOLVAN, Some("CARE"), None))
            .await;
        assert!(seen["errors"].is_null(), "{}: {seen}", db.backend);
        assert!(
            has_record(&seen, NOT_APPROVED_LAB),
            "{}: {seen}",
            db.backend
        );

        // And the patient, asking again from the warm cache, still does not.
        let again = app
            .post_as(&token(TOLVAN), OVERVIEW, vars(TOLVAN, None, None))
            .await;
        assert!(!has_record(&again, NOT_APPROVED_LAB), "{}", db.backend);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn staff_without_a_care_relationship_are_refused_and_no_source_is_called() {
    for db in databases().await {
        let app = TestApp::builder().database(&db).start().await;
        for (purpose, reason) in [("CARE", None), ("EMERGENCY", Some("unconscious"))] {
            let body = app
                .post_as(
                    &staff_token(),
                    OVERVIEW,
                    vars(TOLVAN, Some(purpose), reason),
                )
                .await;
            assert_eq!(error_codes(&body), ["FORBIDDEN"], "{}: {body}", db.backend);
            assert!(body["data"]["overview"].is_null());
        }
        assert_eq!(app.upstream_hits(), 0, "{}", db.backend);
        // A registered relationship at another unit does not count.
        let elsewhere = staff_token_at("SE2321000024-AKS000", REGION_UPPSALA);
        register_relationship(&app, &elsewhere, TOLVAN).await;
        let body = app
            .post_as(&staff_token(), OVERVIEW, vars(TOLVAN, Some("CARE"), None))
            .await;
        assert_eq!(error_codes(&body), ["FORBIDDEN"], "{}", db.backend);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn staff_without_consent_see_only_their_own_care_providers_data_and_are_told_consent_is_required()
 {
    for db in databases().await {
        let app = TestApp::builder().database(&db).start().await;
        let staff = staff_token();
        register_relationship(&app, &staff, TOLVAN).await;
        let body = app
            .post_as(&staff, OVERVIEW, vars(TOLVAN, Some("CARE"), None))
            .await;
        assert_eq!(
            error_codes(&body),
            ["CONSENT_REQUIRED"],
            "{}: {body}",
            db.backend
        );
        assert_eq!(providers(&body), [REGION_UPPSALA], "{}: {body}", db.backend);
        assert!(
            has_record(&body, NOT_APPROVED_LAB),
            "staff see unapproved records"
        );
        for source in OTHER_PROVIDERS {
            assert_eq!(
                app.simulator(source).hits(),
                0,
                "{}: {source} was asked",
                db.backend
            );
            assert!(
                !body["data"]["overview"]["sources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|s| s["source"] == source),
                "{}: {source} is listed",
                db.backend
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn consent_for_the_staff_members_unit_opens_other_providers_data_until_it_is_withdrawn() {
    for db in databases().await {
        let app = TestApp::builder().database(&db).start().await;
        let staff = staff_token();
        register_relationship(&app, &staff, TOLVAN).await;
        let consent = register_consent(&app, &staff, TOLVAN).await;
        let body = app
            .post_as(&staff, OVERVIEW, vars(TOLVAN, Some("CARE"), None))
            .await;
        assert!(body["errors"].is_null(), "{}: {body}", db.backend);
        assert!(
            providers(&body).contains(&FYRIS.to_owned()),
            "{}",
            db.backend
        );

        // The patient sees the consent and withdraws it; the next request is without it.
        let listed = app
            .post_as(
                &token(TOLVAN),
                "{ consents { id active careUnit { hsaId } } }",
                json!({}),
            )
            .await;
        assert_eq!(
            listed["data"]["consents"][0]["id"], consent,
            "{}: {listed}",
            db.backend
        );
        assert_eq!(listed["data"]["consents"][0]["active"], true);
        let withdrawn = app
            .post_as(
                &token(TOLVAN),
                "mutation($id: ID!) { withdrawConsent(id: $id) { active withdrawnAt } }",
                json!({ "id": consent }),
            )
            .await;
        assert_eq!(
            withdrawn["data"]["withdrawConsent"]["active"], false,
            "{}: {withdrawn}",
            db.backend
        );
        let after = app
            .post_as(&staff, OVERVIEW, vars(TOLVAN, Some("CARE"), None))
            .await;
        assert_eq!(error_codes(&after), ["CONSENT_REQUIRED"], "{}", db.backend);
        assert_eq!(providers(&after), [REGION_UPPSALA], "{}", db.backend);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn emergency_access_needs_a_reason_then_shows_everything_unblocked_and_is_flagged_in_the_log()
{
    for db in databases().await {
        let app = TestApp::builder().database(&db).start().await;
        let staff = staff_token();
        register_relationship(&app, &staff, TOLVAN).await;
        for reason in [None, Some("  ")] {
            let body = app
                .post_as(&staff, OVERVIEW, vars(TOLVAN, Some("EMERGENCY"), reason))
                .await;
            assert_eq!(
                error_codes(&body),
                ["REASON_REQUIRED"],
                "{}: {body}",
                db.backend
            );
        }
        let body = app
            .post_as(
                &staff,
                OVERVIEW,
                vars(TOLVAN, Some("EMERGENCY"), Some("unconscious after a fall")),
            )
            .await;
        assert!(body["errors"].is_null(), "{}: {body}", db.backend);
        assert!(providers(&body).contains(&FYRIS.to_owned()));

        let log = app
            .post_as(
                &token(TOLVAN),
                "{ accessLog { nodes { role emergency purpose reason outcome careUnit { hsaId } } } }",
                json!({}),
            )
            .await;
        let entries = log["data"]["accessLog"]["nodes"].as_array().unwrap();
        let emergency: Vec<&Value> = entries.iter().filter(|e| e["emergency"] == true).collect();
        assert_eq!(emergency.len(), 1, "{}: {log}", db.backend);
        assert_eq!(emergency[0]["role"], "STAFF");
        assert_eq!(emergency[0]["purpose"], "EMERGENCY");
        assert_eq!(emergency[0]["reason"], "unconscious after a fall");
        assert_eq!(emergency[0]["careUnit"]["hsaId"], "SE2321000024-GOT001");
        assert_eq!(
            entries
                .iter()
                .filter(|e| e["outcome"] == "REASON_REQUIRED")
                .count(),
            2,
            "{}: refusals are logged too",
            db.backend
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_emergency_reason_of_only_invisible_characters_is_refused_and_logged_without_a_reason() {
    for db in databases().await {
        let app = TestApp::builder().database(&db).start().await;
        let staff = staff_token();
        register_relationship(&app, &staff, TOLVAN).await;
        // A zero-width space and a no-break space: it would look blank in the patient's log.
        for reason in ["\u{200B}\u{00A0}", "\u{FEFF}\u{2060}", "\u{202E} \u{200D}"] {
            let body = app
                .post_as(
                    &staff,
                    OVERVIEW,
                    vars(TOLVAN, Some("EMERGENCY"), Some(reason)),
                )
                .await;
            assert_eq!(
                error_codes(&body),
                ["REASON_REQUIRED"],
                "{}: {reason:?}: {body}",
                db.backend
            );
            assert!(body["data"]["overview"].is_null(), "{}", db.backend);
        }
        let log = app.access_records(TOLVAN).await;
        assert_eq!(log.len(), 3, "{}", db.backend);
        for record in &log {
            assert_eq!(record.outcome, "REASON_REQUIRED", "{}", db.backend);
            assert_eq!(record.reason, None, "{}", db.backend);
            assert!(!record.emergency, "{}", db.backend);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_block_hides_a_providers_data_from_other_providers_staff_even_in_an_emergency_until_lifted()
 {
    for db in databases().await {
        let app = TestApp::builder().database(&db).start().await;
        let staff = staff_token();
        register_relationship(&app, &staff, TOLVAN).await;
        register_consent(&app, &staff, TOLVAN).await;
        let set = app
            .post_as(
                &token(TOLVAN),
                "mutation($p: String!) { setBlock(careProvider: $p) { id active careProvider { name } } }",
                json!({ "p": FYRIS }),
            )
            .await;
        assert!(set["errors"].is_null(), "{}: {set}", db.backend);
        let block = set["data"]["setBlock"]["id"].as_str().unwrap().to_owned();

        let care = app
            .post_as(&staff, OVERVIEW, vars(TOLVAN, Some("CARE"), None))
            .await;
        assert!(
            !providers(&care).contains(&FYRIS.to_owned()),
            "{}: {care}",
            db.backend
        );
        assert_eq!(care["data"]["overview"]["blockedData"], json!([]));

        let emergency = app
            .post_as(
                &staff,
                OVERVIEW,
                vars(TOLVAN, Some("EMERGENCY"), Some("unconscious")),
            )
            .await;
        assert!(
            !providers(&emergency).contains(&FYRIS.to_owned()),
            "{}",
            db.backend
        );
        assert!(
            !records(&emergency)
                .iter()
                .any(|(s, _)| s == "hjartkliniken-fyris")
        );
        assert_eq!(
            emergency["data"]["overview"]["blockedData"],
            json!([{ "careProvider": { "hsaId": FYRIS, "name": "Hjärtkliniken Fyris AB" } }]),
            "{}: {emergency}",
            db.backend
        );

        // The patient still sees everything of their own.
        let own = app
            .post_as(&token(TOLVAN), OVERVIEW, vars(TOLVAN, None, None))
            .await;
        assert!(
            providers(&own).contains(&FYRIS.to_owned()),
            "{}",
            db.backend
        );

        let lifted = app
            .post_as(
                &token(TOLVAN),
                "mutation($id: ID!) { liftBlock(id: $id) { active } }",
                json!({ "id": block }),
            )
            .await;
        assert_eq!(lifted["data"]["liftBlock"]["active"], false, "{lifted}");
        let after = app
            .post_as(&staff, OVERVIEW, vars(TOLVAN, Some("CARE"), None))
            .await;
        assert!(
            providers(&after).contains(&FYRIS.to_owned()),
            "{}",
            db.backend
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guardian_sees_their_young_childs_overview_and_nobody_elses() {
    for db in databases().await {
        let app = TestApp::builder().database(&db).start().await;
        let body = app
            .post_as(&token(LENA), OVERVIEW, vars(ELIAS, None, None))
            .await;
        assert!(body["errors"].is_null(), "{}: {body}", db.backend);
        assert_eq!(
            body["data"]["overview"]["patient"]["name"],
            "Elias Tolvansson"
        );
        assert!(!records(&body).is_empty(), "{}: {body}", db.backend);

        let viewer = app
            .post_as(
                &token(LENA),
                "{ viewer { actsFor { patient role name } } }",
                json!({}),
            )
            .await;
        assert_eq!(
            viewer["data"]["viewer"]["actsFor"],
            json!([{ "patient": ELIAS, "role": "GUARDIAN", "name": "Elias Tolvansson" }]),
            "{viewer}"
        );

        // Another adult, or the guardian for an adult, gets the same refusal as anyone.
        let stranger = app
            .post_as(&token(MARGARETA), OVERVIEW, vars(ELIAS, None, None))
            .await;
        let adult = app
            .post_as(&token(LENA), OVERVIEW, vars(TOLVAN, None, None))
            .await;
        assert_eq!(error_codes(&stranger), ["FORBIDDEN"]);
        assert_eq!(
            stranger["errors"][0]["message"], adult["errors"][0]["message"],
            "a refusal does not say why"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn guardianship_ends_at_thirteen_and_never_covers_a_child_with_protected_identity() {
    let today = chrono::Utc::now().date_naive();
    let years_ago = |years: u32| {
        today
            .checked_sub_months(chrono::Months::new(12 * years))
            .unwrap()
    };
    let thirteen_today = crate::harness::born_on(years_ago(13));
    let twelve = crate::harness::born_on(years_ago(13).succ_opt().unwrap());
    let protected = crate::harness::born_on(years_ago(5));
    let register = format!(
        "[[person]]\nperson_id = \"{LENA}\"\n\
         [[person]]\nperson_id = \"{thirteen_today}\"\nguardians = [\"{LENA}\"]\n\
         [[person]]\nperson_id = \"{twelve}\"\nguardians = [\"{LENA}\"]\n\
         [[person]]\nperson_id = \"{protected}\"\nprotected_identity = true\nguardians = [\"{LENA}\"]\n"
    );
    for db in databases().await {
        let app = TestApp::builder()
            .database(&db)
            .population(&register)
            .start()
            .await;
        let ok = app
            .post_as(&token(LENA), OVERVIEW, vars(&twelve, None, None))
            .await;
        assert!(ok["errors"].is_null(), "{}: {ok}", db.backend);
        for child in [&thirteen_today, &protected] {
            let body = app
                .post_as(&token(LENA), OVERVIEW, vars(child, None, None))
                .await;
            assert_eq!(error_codes(&body), ["FORBIDDEN"], "{}: {body}", db.backend);
        }
        let viewer = app
            .post_as(
                &token(LENA),
                "{ viewer { actsFor { patient } } }",
                json!({}),
            )
            .await;
        assert_eq!(
            viewer["data"]["viewer"]["actsFor"],
            json!([{ "patient": twelve }]),
            "{}",
            db.backend
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delegate_sees_only_the_delegated_lists_until_the_delegation_is_revoked() {
    for db in databases().await {
        let app = TestApp::builder().database(&db).start().await;
        let grant = app
            .post_as(
                &token(TOLVAN),
                "mutation($d: PersonId!, $u: Date!) { grantDelegation(delegate: $d, domains: [MEDICATIONS], validUntil: $u) { id domains active } }",
                json!({ "d": MARGARETA, "u": "2099-01-01" }),
            )
            .await;
        assert_eq!(
            error_codes(&grant),
            ["INVALID_ARGUMENT"],
            "{}: too far ahead",
            db.backend
        );
        let until = (chrono::Utc::now().date_naive() + chrono::TimeDelta::days(30)).to_string();
        let grant = app
            .post_as(
                &token(TOLVAN),
                "mutation($d: PersonId!, $u: Date!) { grantDelegation(delegate: $d, domains: [MEDICATIONS], validUntil: $u) { id domains active } }",
                json!({ "d": MARGARETA, "u": until }),
            )
            .await;
        assert!(grant["errors"].is_null(), "{}: {grant}", db.backend);
        let id = grant["data"]["grantDelegation"]["id"]
            .as_str()
            .unwrap()
            .to_owned();

        let body = app
            .post_as(&token(MARGARETA), OVERVIEW, vars(TOLVAN, None, None))
            .await;
        assert_eq!(
            error_codes(&body),
            ["FORBIDDEN", "FORBIDDEN"],
            "{}: {body}",
            db.backend
        );
        let mut paths: Vec<&Value> = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["path"])
            .collect();
        paths.sort_by_key(|p| p.to_string());
        assert_eq!(
            paths,
            [
                &json!(["overview", "labResults"]),
                &json!(["overview", "measurements"])
            ]
        );
        let overview = &body["data"]["overview"];
        assert!(overview["labResults"].is_null());
        assert!(overview["measurements"].is_null());
        assert!(!overview["medications"].as_array().unwrap().is_empty());
        assert_eq!(overview["patient"]["personId"], TOLVAN);
        assert!(
            overview["sources"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["domain"] == "MEDICATIONS" || s["domain"] == "PATIENT"),
            "{}: only delegated lists are fetched",
            db.backend
        );
        assert_eq!(
            app.upstream_hits_for("Observation"),
            0,
            "{}: undelegated lists are not fetched",
            db.backend
        );

        let viewer = app
            .post_as(
                &token(MARGARETA),
                "{ viewer { actsFor { patient role domains until } } }",
                json!({}),
            )
            .await;
        assert_eq!(
            viewer["data"]["viewer"]["actsFor"],
            json!([{ "patient": TOLVAN, "role": "DELEGATE", "domains": ["MEDICATIONS"], "until": until }]),
            "{}",
            db.backend
        );

        let revoked = app
            .post_as(
                &token(TOLVAN),
                "mutation($id: ID!) { revokeDelegation(id: $id) { active } }",
                json!({ "id": id }),
            )
            .await;
        assert_eq!(
            revoked["data"]["revokeDelegation"]["active"], false,
            "{revoked}"
        );
        let after = app
            .post_as(&token(MARGARETA), OVERVIEW, vars(TOLVAN, None, None))
            .await;
        assert_eq!(error_codes(&after), ["FORBIDDEN"], "{}", db.backend);
        assert!(after["data"]["overview"].is_null());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delegates_refused_lists_are_in_the_access_log_beside_the_granted_ones() {
    for db in databases().await {
        let app = TestApp::builder().database(&db).start().await;
        let until = (chrono::Utc::now().date_naive() + chrono::TimeDelta::days(30)).to_string();
        let grant = app
            .post_as(
                &token(TOLVAN),
                "mutation($d: PersonId!, $u: Date!) { grantDelegation(delegate: $d, domains: [MEDICATIONS], validUntil: $u) { id } }",
                json!({ "d": MARGARETA, "u": until }),
            )
            .await;
        assert!(grant["errors"].is_null(), "{}: {grant}", db.backend);
        let id = grant["data"]["grantDelegation"]["id"]
            .as_str()
            .unwrap()
            .to_owned();

        // Delegated and undelegated lists in one request: two refused, the rest shown.
        let body = app
            .post_as(&token(MARGARETA), OVERVIEW, vars(TOLVAN, None, None))
            .await;
        assert_eq!(
            error_codes(&body),
            ["FORBIDDEN", "FORBIDDEN"],
            "{}: {body}",
            db.backend
        );
        let log = app.access_records(TOLVAN).await;
        let record = &log[0];
        assert_eq!(record.outcome, "granted", "{}", db.backend);
        assert_eq!(record.actor_role, "delegate");
        assert_eq!(record.domains, ["patient", "medications"], "{}", db.backend);
        let refused: Vec<(&str, &str)> = record
            .refusals
            .iter()
            .map(|r| (r.domain.as_str(), r.code.as_str()))
            .collect();
        assert_eq!(
            refused,
            [("measurements", "FORBIDDEN"), ("lab_results", "FORBIDDEN")],
            "{}",
            db.backend
        );

        // Only undelegated lists: nothing shown, every one of them in the record.
        let only_refused = app
            .post_as(
                &token(MARGARETA),
                "query($p: PersonId) { overview(patient: $p) { labResults { nodes { id } } } }",
                json!({ "p": TOLVAN }),
            )
            .await;
        assert_eq!(error_codes(&only_refused), ["FORBIDDEN"], "{}", db.backend);
        let log = app.access_records(TOLVAN).await;
        assert_eq!(log[0].domains, Vec::<String>::new(), "{}", db.backend);
        assert_eq!(log[0].refusals.len(), 1, "{}", db.backend);
        assert_eq!(log[0].refusals[0].domain, "lab_results");

        // Revoked: the whole request is refused, recorded as before with what was asked.
        app.post_as(
            &token(TOLVAN),
            "mutation($id: ID!) { revokeDelegation(id: $id) { active } }",
            json!({ "id": id }),
        )
        .await;
        let after = app
            .post_as(&token(MARGARETA), OVERVIEW, vars(TOLVAN, None, None))
            .await;
        assert_eq!(error_codes(&after), ["FORBIDDEN"], "{}", db.backend);
        let log = app.access_records(TOLVAN).await;
        assert_eq!(log[0].outcome, "FORBIDDEN", "{}", db.backend);
        assert_eq!(
            log[0].domains,
            ["patient", "medications", "measurements", "lab_results"],
            "{}",
            db.backend
        );
        assert_eq!(log[0].refusals, [], "{}", db.backend);

        // The patient sees the refused lists in their access log.
        let own = app
            .post_as(
                &token(TOLVAN),
                "{ accessLog { nodes { role domains refusals { domain code } outcome } } }",
                json!({}),
            )
            .await;
        assert!(own["errors"].is_null(), "{}: {own}", db.backend);
        let entries = own["data"]["accessLog"]["nodes"].as_array().unwrap();
        assert_eq!(entries.len(), 3, "{}: {own}", db.backend);
        assert_eq!(
            entries[2],
            json!({
                "role": "DELEGATE",
                "domains": ["PATIENT", "MEDICATIONS"],
                "refusals": [
                    { "domain": "MEASUREMENTS", "code": "FORBIDDEN" },
                    { "domain": "LAB_RESULTS", "code": "FORBIDDEN" }
                ],
                "outcome": "granted"
            }),
            "{}",
            db.backend
        );
        assert_eq!(entries[0]["refusals"], json!([]), "{}", db.backend);
        assert_eq!(entries[0]["outcome"], "FORBIDDEN", "{}", db.backend);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_delegation_switched_off_nothing_can_be_granted_and_nothing_is_honoured() {
    for db in databases().await {
        let on = TestApp::builder().database(&db).start().await;
        let until = (chrono::Utc::now().date_naive() + chrono::TimeDelta::days(30)).to_string();
        let grant = on
            .post_as(
                &token(TOLVAN),
                "mutation($d: PersonId!, $u: Date!) { grantDelegation(delegate: $d, domains: [BOOKINGS], validUntil: $u) { id } }",
                json!({ "d": MARGARETA, "u": until }),
            )
            .await;
        assert!(grant["errors"].is_null(), "{}: {grant}", db.backend);
        let off = TestApp::builder()
            .database(&db)
            .delegation(false)
            .start()
            .await;
        let body = off
            .post_as(&token(MARGARETA), OVERVIEW, vars(TOLVAN, None, None))
            .await;
        assert_eq!(error_codes(&body), ["FORBIDDEN"], "{}: {body}", db.backend);
        let again = off
            .post_as(
                &token(TOLVAN),
                "mutation($d: PersonId!, $u: Date!) { grantDelegation(delegate: $d, domains: [BOOKINGS], validUntil: $u) { id } }",
                json!({ "d": MARGARETA, "u": until }),
            )
            .await;
        assert_eq!(
            error_codes(&again),
            ["DELEGATION_DISABLED"],
            "{}",
            db.backend
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_access_log_shows_a_patient_who_read_their_data_and_nobody_else_can_read_it() {
    for db in databases().await {
        let app = TestApp::builder().database(&db).start().await;
        let staff = staff_token();
        register_relationship(&app, &staff, TOLVAN).await;
        app.post_as(&staff, OVERVIEW, vars(TOLVAN, Some("CARE"), None))
            .await;
        app.post_as(&token(TOLVAN), OVERVIEW, vars(TOLVAN, None, None))
            .await;
        let log = app
            .post_as(
                &token(TOLVAN),
                "{ accessLog { nodes { role careUnit { hsaId } careProvider { hsaId } domains outcome emergency } } }",
                json!({}),
            )
            .await;
        let entries = log["data"]["accessLog"]["nodes"].as_array().unwrap();
        assert_eq!(entries.len(), 2, "{}: {log}", db.backend);
        assert_eq!(entries[1]["role"], "STAFF", "oldest last");
        assert_eq!(entries[1]["careUnit"]["hsaId"], "SE2321000024-GOT001");
        assert_eq!(entries[1]["careProvider"]["hsaId"], REGION_UPPSALA);
        assert_eq!(entries[0]["role"], "PATIENT");

        // Another person sees their own (empty) log, never Tolvan's; staff see none.
        let other = app
            .post_as(
                &token(MARGARETA),
                "{ accessLog { nodes { time } } }",
                json!({}),
            )
            .await;
        assert_eq!(
            other["data"]["accessLog"]["nodes"],
            json!([]),
            "{}",
            db.backend
        );
        let staff_log = app
            .post_as(&staff, "{ accessLog { nodes { time } } }", json!({}))
            .await;
        assert_eq!(error_codes(&staff_log), ["FORBIDDEN"], "{}", db.backend);

        let future = app
            .post_as(
                &token(TOLVAN),
                "query($f: DateOrDateTime) { accessLog(from: $f) { nodes { time } } }",
                json!({ "f": in_days(1) }),
            )
            .await;
        assert_eq!(
            future["data"]["accessLog"]["nodes"],
            json!([]),
            "{}",
            db.backend
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_input_to_the_access_api_is_refused_with_a_code_and_nothing_is_written() {
    for db in databases().await {
        let app = TestApp::builder().database(&db).start().await;
        let patient = token(TOLVAN);
        for (query, variables, code) in [
            (
                "mutation { setBlock(careProvider: \"not-an-hsa-id\") { id } }",
                json!({}),
                "INVALID_ARGUMENT",
            ),
            (
                "mutation($u: Date!) { grantDelegation(delegate: \"19600301-2389\", domains: [], validUntil: $u) { id } }",
                json!({ "u": "2027-01-01" }),
                "INVALID_ARGUMENT",
            ),
            (
                "mutation { grantDelegation(delegate: \"19121212-1212\", domains: [BOOKINGS], validUntil: \"2027-01-01\") { id } }",
                json!({}),
                "INVALID_ARGUMENT",
            ),
            (
                "mutation { grantDelegation(delegate: \"19600301-2388\", domains: [BOOKINGS], validUntil: \"2027-01-01\") { id } }",
                json!({}),
                "INVALID_PERSON_ID",
            ),
            (
                "mutation { withdrawConsent(id: \"no-such-consent\") { id } }",
                json!({}),
                "NOT_FOUND",
            ),
            (
                "mutation { registerConsent(patient: \"19121212-1212\", validUntil: \"2030-01-01T00:00:00Z\") { id } }",
                json!({}),
                "FORBIDDEN",
            ),
        ] {
            let body = app.post_as(&patient, query, variables).await;
            assert_eq!(
                error_codes(&body),
                [code],
                "{}: {query}: {body}",
                db.backend
            );
        }
        let staff = staff_token();
        let past = app
            .post_as(
                &staff,
                "mutation($u: DateTime!) { registerCareRelationship(patient: \"19121212-1212\", validUntil: $u) { id } }",
                json!({ "u": in_days(-1) }),
            )
            .await;
        assert_eq!(error_codes(&past), ["INVALID_ARGUMENT"], "{}", db.backend);
        let no_relationship = app
            .post_as(
                &staff,
                "mutation($u: DateTime!) { registerConsent(patient: \"19121212-1212\", validUntil: $u) { id } }",
                json!({ "u": in_days(10) }),
            )
            .await;
        assert_eq!(
            error_codes(&no_relationship),
            ["FORBIDDEN"],
            "{}",
            db.backend
        );

        let state = app
            .post_as(
                &patient,
                "{ consents { id } blocks { id } delegations { id } }",
                json!({}),
            )
            .await;
        assert_eq!(
            state["data"],
            json!({ "consents": [], "blocks": [], "delegations": [] }),
            "{}",
            db.backend
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_accesses_each_leave_exactly_one_record() {
    for db in databases().await {
        let app = TestApp::builder().database(&db).start().await;
        let tolvan = token(TOLVAN);
        let requests = (0..60)
            .map(|_| app.post_as_full(&tolvan, "{ overview { medications { id } } }", json!({})));
        let answers = futures::future::join_all(requests).await;
        let mut ids: Vec<String> = answers
            .iter()
            .map(|(headers, body)| {
                assert!(body["errors"].is_null(), "{body}");
                headers["x-request-id"].to_str().unwrap().to_owned()
            })
            .collect();
        ids.sort();
        let mut logged: Vec<String> = app
            .access_records(TOLVAN)
            .await
            .into_iter()
            .map(|r| r.request_id)
            .collect();
        logged.sort();
        assert_eq!(logged, ids, "{}", db.backend);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn when_the_access_log_cannot_be_written_no_data_is_returned() {
    for db in databases().await {
        let app = TestApp::builder().database(&db).start().await;
        let before = app
            .post_as(&token(TOLVAN), OVERVIEW, vars(TOLVAN, None, None))
            .await;
        assert!(before["errors"].is_null(), "{}: {before}", db.backend);

        // Take the access log away from under the running service.
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
        sqlx::query("DROP TABLE access_log")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;

        let body = app
            .post_as(&token(TOLVAN), OVERVIEW, vars(TOLVAN, None, None))
            .await;
        assert_eq!(
            error_codes(&body),
            ["AUDIT_UNAVAILABLE"],
            "{}: {body}",
            db.backend
        );
        assert!(body["data"].is_null() || body["data"]["overview"].is_null());
        assert!(!body.to_string().contains("Tolvansson"), "{}", db.backend);
    }
}
