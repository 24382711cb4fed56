//! Labels and people by name, end to end: enum and code-system labels in the language the
//! client asks for, and the names of the staff and relatives behind consents, delegations and
//! the access log, on both stores.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::harness::{LENA, MARGARETA, TOLVAN, TestApp, databases, staff_token, token};

/// POSTs `query` as Tolvan with `accept_language` (none when `None`).
async fn post_in(app: &TestApp, accept_language: Option<&str>, query: &str) -> (HeaderMap, Value) {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.url))
        .bearer_auth(token(TOLVAN))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(json!({ "query": query }).to_string());
    if let Some(language) = accept_language {
        request = request.header(reqwest::header::ACCEPT_LANGUAGE, language);
    }
    let response = request.send().await.expect("the service answers");
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    let text = response.text().await.expect("a body");
    (headers, serde_json::from_str(&text).expect("a JSON body"))
}

fn content_language(headers: &HeaderMap) -> &str {
    headers
        .get(reqwest::header::CONTENT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn label_of(body: &Value, value: &str) -> String {
    body["data"]["labels"]["enums"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["value"] == value)
        .unwrap_or_else(|| panic!("{value} in {body}"))["label"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn labels_are_swedish_unless_the_client_prefers_english_and_the_response_says_which() {
    let app = TestApp::builder().sources(&[]).start().await;
    let query = r#"{ labels(enums: ["BookingStatus"]) { language enums { name values { value label } } } }"#;

    for swedish in [None, Some("sv-SE,sv;q=0.9,en;q=0.8"), Some("fi, de")] {
        let (headers, body) = post_in(&app, swedish, query).await;
        assert_eq!(content_language(&headers), "sv", "{swedish:?}");
        assert_eq!(body["data"]["labels"]["language"], "SV");
        assert_eq!(body["data"]["labels"]["enums"][0]["name"], "BookingStatus");
        assert_eq!(label_of(&body, "CHECKED_IN"), "Incheckad");
        assert_eq!(label_of(&body, "NO_SHOW"), "Uteblev");
    }
    let (headers, body) = post_in(&app, Some("en-GB,en;q=0.9,sv;q=0.5"), query).await;
    assert_eq!(content_language(&headers), "en");
    assert_eq!(body["data"]["labels"]["language"], "EN");
    assert_eq!(label_of(&body, "CHECKED_IN"), "Checked in");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_catalog_names_npu_by_its_oid_and_labels_every_enum_value() {
    let app = TestApp::builder().sources(&[]).start().await;
    let (_, body) = post_in(
        &app,
        None,
        "{ labels { enums { name values { value label } } codeSystems { name label identifiers } } }",
    )
    .await;
    let systems = body["data"]["labels"]["codeSystems"].as_array().unwrap();
    let npu = systems.iter().find(|s| s["name"] == "NPU").unwrap();
    assert_eq!(npu["identifiers"], json!(["urn:oid:1.2.208.176.2.1"]));
    assert_eq!(npu["label"], "NPU, nomenklatur för laboratorieanalyser");
    for name in [
        "LOINC",
        "SNOMED CT",
        "ATC",
        "ICD-10-SE",
        "KVÅ",
        "UCUM",
        "NPL-id",
    ] {
        assert!(systems.iter().any(|s| s["name"] == name), "{name}");
    }
    let enums = body["data"]["labels"]["enums"].as_array().unwrap();
    let plan_status = enums.iter().find(|e| e["name"] == "PlanStatus").unwrap();
    assert!(
        plan_status["values"]
            .as_array()
            .unwrap()
            .contains(&json!({ "value": "ACTIVE", "label": "Pågående" })),
        "{plan_status}"
    );
    for e in enums {
        for v in e["values"].as_array().unwrap() {
            assert!(!v["label"].as_str().unwrap().is_empty(), "{e}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn codes_name_their_system_npu_for_creatinine_atc_for_apixaban_in_the_chosen_language() {
    let app = TestApp::builder()
        .sources(&["klinisk-kemi-uppsala", "vc-gottsunda"])
        .start()
        .await;
    let query = "{ overview { labResults { nodes { code { system code systemName systemLabel } } } \
                 medications(status: ALL) { code { system code systemName systemLabel } } } }";
    let code = |body: &Value, list: &str, code: &str| -> Value {
        let value = &body["data"]["overview"][list];
        value
            .get("nodes")
            .unwrap_or(value)
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["code"].clone())
            .find(|c| c["code"] == code)
            .unwrap_or_else(|| panic!("{code} in {body}"))
    };

    let (_, swedish) = post_in(&app, None, query).await;
    assert!(swedish["errors"].is_null(), "{swedish}");
    let creatinine = code(&swedish, "labResults", "NPU04998");
    assert_eq!(creatinine["system"], "urn:oid:1.2.208.176.2.1");
    assert_eq!(creatinine["systemName"], "NPU");
    assert_eq!(
        creatinine["systemLabel"],
        "NPU, nomenklatur för laboratorieanalyser"
    );
    let apixaban = code(&swedish, "medications", "B01AF02");
    assert_eq!(apixaban["systemName"], "ATC");
    assert_eq!(apixaban["systemLabel"], "ATC, klassificering av läkemedel");

    let (_, english) = post_in(&app, Some("en"), query).await;
    let creatinine = code(&english, "labResults", "NPU04998");
    assert_eq!(creatinine["systemName"], "NPU");
    assert_eq!(
        creatinine["systemLabel"],
        "NPU, nomenclature for laboratory analyses"
    );
}

fn in_days(days: i64) -> String {
    (chrono::Utc::now() + chrono::TimeDelta::days(days)).to_rfc3339()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_consent_names_the_staff_member_who_registered_it_with_profession_and_unit() {
    for db in databases().await {
        let app = TestApp::builder().database(&db).sources(&[]).start().await;
        let staff = staff_token();
        for mutation in [
            "mutation($p: PersonId!, $u: DateTime!) { registerCareRelationship(patient: $p, validUntil: $u) { id } }",
            "mutation($p: PersonId!, $u: DateTime!) { registerConsent(patient: $p, validUntil: $u) { id } }",
        ] {
            let body = app
                .post_as(&staff, mutation, json!({ "p": TOLVAN, "u": in_days(30) }))
                .await;
            assert!(body["errors"].is_null(), "{}: {body}", db.backend);
        }
        let consents = app
            .post_as(
                &token(TOLVAN),
                "{ consents { registeredBy registeredByStaff { hsaId name profession careUnit { hsaId name } } } }",
                json!({}),
            )
            .await;
        assert_eq!(
            consents["data"]["consents"],
            json!([{
                "registeredBy": "SE2321000024-P1234",
                "registeredByStaff": {
                    "hsaId": "SE2321000024-P1234",
                    "name": "Karin Lindqvist",
                    "profession": "Läkare",
                    "careUnit": { "hsaId": "SE2321000024-GOT001", "name": "Gottsunda vårdcentral" },
                },
            }]),
            "{}",
            db.backend
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_access_log_names_who_read_staff_with_profession_and_unit_relatives_with_their_role() {
    for db in databases().await {
        let app = TestApp::builder()
            .database(&db)
            .sources(&["vc-gottsunda"])
            .start()
            .await;
        let tolvan = token(TOLVAN);
        let overview = "query($p: PersonId, $purpose: Purpose) { overview(patient: $p, purpose: $purpose) { medications { id } } }";

        // Karin reads in care, with a care relationship at her unit.
        let staff = staff_token();
        let related = app
            .post_as(
                &staff,
                "mutation($p: PersonId!, $u: DateTime!) { registerCareRelationship(patient: $p, validUntil: $u) { id } }",
                json!({ "p": TOLVAN, "u": in_days(30) }),
            )
            .await;
        assert!(related["errors"].is_null(), "{related}");
        let read = app
            .post_as(&staff, overview, json!({ "p": TOLVAN, "purpose": "CARE" }))
            .await;
        assert!(read["errors"].is_null() || read["data"]["overview"].is_object());

        // Margareta reads as his delegate, by name in the delegation too; once it is revoked
        // she is refused, and the log still says as what she asked.
        let granted = app
            .post_as(
                &tolvan,
                "mutation($d: PersonId!, $u: Date!) { grantDelegation(delegate: $d, domains: [MEDICATIONS], validUntil: $u) { id delegateName } }",
                json!({
                    "d": MARGARETA,
                    "u": (chrono::Utc::now().date_naive() + chrono::TimeDelta::days(30)).to_string(),
                }),
            )
            .await;
        assert_eq!(
            granted["data"]["grantDelegation"]["delegateName"], "Margareta Tolvansson",
            "{}: {granted}",
            db.backend
        );
        let id = granted["data"]["grantDelegation"]["id"].clone();
        let as_delegate = app
            .post_as(&token(MARGARETA), overview, json!({ "p": TOLVAN }))
            .await;
        assert!(as_delegate["errors"].is_null(), "{as_delegate}");
        let revoked = app
            .post_as(
                &tolvan,
                "mutation($id: ID!) { revokeDelegation(id: $id) { active delegateName } }",
                json!({ "id": id }),
            )
            .await;
        assert_eq!(
            revoked["data"]["revokeDelegation"],
            json!({ "active": false, "delegateName": "Margareta Tolvansson" })
        );
        let _ = app
            .post_as(&token(MARGARETA), overview, json!({ "p": TOLVAN }))
            .await;
        // Lena is neither his guardian nor ever his delegate.
        let _ = app
            .post_as(&token(LENA), overview, json!({ "p": TOLVAN }))
            .await;

        let log = app
            .post_as(
                &tolvan,
                "{ accessLog { nodes { role readerName readerProfession careUnit { name } outcome } } }",
                json!({}),
            )
            .await;
        let entries = log["data"]["accessLog"]["nodes"].as_array().unwrap();
        let entry = |role: &str, outcome: &str| -> Value {
            entries
                .iter()
                .find(|e| e["role"] == role && e["outcome"] == outcome)
                .cloned()
                .unwrap_or_else(|| panic!("{}: {role} {outcome} in {log}", db.backend))
        };
        assert_eq!(
            entry("STAFF", "granted"),
            json!({
                "role": "STAFF",
                "readerName": "Karin Lindqvist",
                "readerProfession": "Läkare",
                "careUnit": { "name": "Gottsunda vårdcentral" },
                "outcome": "granted",
            })
        );
        assert_eq!(
            entry("DELEGATE", "granted")["readerName"],
            "Margareta Tolvansson"
        );
        let refused_delegate = entry("DELEGATE", "FORBIDDEN");
        assert_eq!(refused_delegate["readerName"], "Margareta Tolvansson");
        assert_eq!(refused_delegate["readerProfession"], Value::Null);
        assert_eq!(
            entry("PERSON", "FORBIDDEN")["readerName"],
            "Lena Tolvansson"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guardian_refused_a_child_of_thirteen_is_logged_as_guardian_by_their_registered_name() {
    let today = chrono::Utc::now().date_naive();
    let thirteen =
        crate::harness::born_on(today.checked_sub_months(chrono::Months::new(156)).unwrap());
    let register = format!(
        "[[person]]\nperson_id = \"{LENA}\"\nname = \"Lena Tolvansson\"\n\
         [[person]]\nperson_id = \"{thirteen}\"\nguardians = [\"{LENA}\"]\n"
    );
    for db in databases().await {
        let app = TestApp::builder()
            .database(&db)
            .population(&register)
            .sources(&[])
            .start()
            .await;
        let body = app
            .post_as(
                &token(LENA),
                "query($p: PersonId) { overview(patient: $p) { patient { personId } } }",
                json!({ "p": thirteen }),
            )
            .await;
        assert_eq!(
            crate::harness::error_codes(&body),
            ["FORBIDDEN"],
            "{}: {body}",
            db.backend
        );
        let records = app.access_records(&thirteen).await;
        assert_eq!(records.len(), 1, "{}", db.backend);
        assert_eq!(records[0].actor_role, "guardian");
        assert_eq!(records[0].actor_name.as_deref(), Some("Lena Tolvansson"));
        assert_eq!(records[0].actor_profession, None);
    }
}
