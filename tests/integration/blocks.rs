//! The access API's writes that could accept nonsense (issue 14): a block set twice, a
//! delegation granted twice, a block on a provider the service does not know or on one
//! provider's unit filed under another, and the `careProviders` list the patient picks from.
//! Every test runs once per database.

use serde_json::{Value, json};

use crate::harness::{MARGARETA, TOLVAN, TestApp, databases, error_codes, staff_token, token};

const REGION_UPPSALA: &str = "SE2321000024-0001";
const GOTTSUNDA: &str = "SE2321000024-GOT001";
const FYRIS: &str = "SE5566778899-0001";

const SET_BLOCK: &str =
    "mutation($p: String!, $u: String) { setBlock(careProvider: $p, careUnit: $u) { id active } }";
const GRANT: &str = "mutation($d: PersonId!, $l: [Domain!]!, $u: Date!) { grantDelegation(delegate: $d, domains: $l, validUntil: $u) { id domains validUntil active } }";

fn in_days(days: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::TimeDelta::days(days)).to_string()
}

async fn set_block(app: &TestApp, provider: &str, unit: Option<&str>) -> Value {
    app.post_as(
        &token(TOLVAN),
        SET_BLOCK,
        json!({ "p": provider, "u": unit }),
    )
    .await
}

async fn blocks(app: &TestApp) -> Value {
    let body = app
        .post_as(
            &token(TOLVAN),
            "{ blocks { id active careUnit { hsaId } } }",
            json!({}),
        )
        .await;
    body["data"]["blocks"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn setting_a_block_the_patient_already_has_returns_the_existing_one_and_the_store_keeps_one()
{
    for db in databases().await {
        let app = TestApp::builder().database(&db).start().await;
        let first = set_block(&app, FYRIS, None).await;
        assert!(first["errors"].is_null(), "{}: {first}", db.backend);
        let again = set_block(&app, FYRIS, None).await;
        assert_eq!(
            again["data"]["setBlock"], first["data"]["setBlock"],
            "{}: the same block",
            db.backend
        );
        // Twice at once (a double tap): still one.
        let (a, b) = tokio::join!(
            set_block(&app, REGION_UPPSALA, None),
            set_block(&app, REGION_UPPSALA, None)
        );
        assert_eq!(
            a["data"]["setBlock"]["id"], b["data"]["setBlock"]["id"],
            "{}: {a} {b}",
            db.backend
        );
        // A unit of a provider is another target than the whole provider.
        let unit = set_block(&app, REGION_UPPSALA, Some(GOTTSUNDA)).await;
        assert_ne!(
            unit["data"]["setBlock"]["id"], a["data"]["setBlock"]["id"],
            "{}",
            db.backend
        );
        assert_eq!(
            blocks(&app).await.as_array().unwrap().len(),
            3,
            "{}",
            db.backend
        );

        // Once lifted, setting it again is a new block.
        let id = first["data"]["setBlock"]["id"].as_str().unwrap();
        app.post_as(
            &token(TOLVAN),
            "mutation($id: ID!) { liftBlock(id: $id) { active } }",
            json!({ "id": id }),
        )
        .await;
        let renewed = set_block(&app, FYRIS, None).await;
        assert_ne!(renewed["data"]["setBlock"]["id"], id, "{}", db.backend);
        assert_eq!(renewed["data"]["setBlock"]["active"], true);
        assert_eq!(blocks(&app).await.as_array().unwrap().len(), 4);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn granting_the_same_delegation_again_returns_it_and_other_lists_replace_it() {
    for db in databases().await {
        let app = TestApp::builder().database(&db).start().await;
        let patient = token(TOLVAN);
        let until = in_days(30);
        let vars = |lists: &[&str], until: &str| json!({ "d": MARGARETA, "l": lists, "u": until });
        let first = app
            .post_as(&patient, GRANT, vars(&["MEDICATIONS", "BOOKINGS"], &until))
            .await;
        assert!(first["errors"].is_null(), "{}: {first}", db.backend);
        let again = app
            .post_as(&patient, GRANT, vars(&["BOOKINGS", "MEDICATIONS"], &until))
            .await;
        assert_eq!(
            again["data"]["grantDelegation"], first["data"]["grantDelegation"],
            "{}: the same delegation",
            db.backend
        );

        let fewer = app
            .post_as(&patient, GRANT, vars(&["BOOKINGS"], &until))
            .await;
        assert!(fewer["errors"].is_null(), "{}: {fewer}", db.backend);
        assert_ne!(
            fewer["data"]["grantDelegation"]["id"],
            first["data"]["grantDelegation"]["id"]
        );
        let listed = app
            .post_as(&patient, "{ delegations { id domains active } }", json!({}))
            .await;
        assert_eq!(
            listed["data"]["delegations"],
            json!([
                { "id": fewer["data"]["grantDelegation"]["id"], "domains": ["BOOKINGS"], "active": true },
                { "id": first["data"]["grantDelegation"]["id"], "domains": ["MEDICATIONS", "BOOKINGS"], "active": false },
            ]),
            "{}: the old one is revoked, the new one in effect",
            db.backend
        );
        // The delegate sees what the patient chose last, and only that.
        let acts_for = app
            .post_as(
                &token(MARGARETA),
                "{ viewer { actsFor { patient domains } } }",
                json!({}),
            )
            .await;
        assert_eq!(
            acts_for["data"]["viewer"]["actsFor"],
            json!([{ "patient": "19121212-1212", "domains": ["BOOKINGS"] }]),
            "{}: {acts_for}",
            db.backend
        );

        // Another end date replaces it too.
        let later = app
            .post_as(&patient, GRANT, vars(&["BOOKINGS"], &in_days(60)))
            .await;
        assert_ne!(
            later["data"]["grantDelegation"]["id"],
            fewer["data"]["grantDelegation"]["id"]
        );
        let active = app
            .post_as(&patient, "{ delegations { active } }", json!({}))
            .await;
        let active: Vec<_> = active["data"]["delegations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["active"] == true)
            .collect();
        assert_eq!(active.len(), 1, "{}", db.backend);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_block_on_a_care_provider_the_service_does_not_know_is_refused_and_nothing_is_written() {
    for db in databases().await {
        let app = TestApp::builder().database(&db).start().await;
        // A well-formed HSA-id of a provider none of the catalog's sources belongs to.
        let body = set_block(&app, "SE9999999999-0001", None).await;
        assert_eq!(
            error_codes(&body),
            ["UNKNOWN_CARE_PROVIDER"],
            "{}: {body}",
            db.backend
        );
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("careProvider"),
            "{body}"
        );
        assert_eq!(blocks(&app).await, json!([]), "{}", db.backend);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_block_on_one_providers_care_unit_filed_under_another_provider_is_refused() {
    for db in databases().await {
        let app = TestApp::builder().database(&db).start().await;
        // Gottsunda vårdcentral is Region Uppsala's, not Hjärtkliniken Fyris'.
        let body = set_block(&app, FYRIS, Some(GOTTSUNDA)).await;
        assert_eq!(
            error_codes(&body),
            ["INVALID_ARGUMENT"],
            "{}: {body}",
            db.backend
        );
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("careUnit"),
            "{body}"
        );
        assert_eq!(blocks(&app).await, json!([]), "{}", db.backend);
        let right = set_block(&app, REGION_UPPSALA, Some(GOTTSUNDA)).await;
        assert!(right["errors"].is_null(), "{}: {right}", db.backend);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn care_providers_lists_the_catalogs_providers_and_units_for_the_patient_and_not_for_staff() {
    let app = TestApp::builder().start().await;
    let query = "{ careProviders { name hsaId careUnits { name hsaId } } }";
    let body = app.post_as(&token(TOLVAN), query, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    let providers = body["data"]["careProviders"].as_array().unwrap();
    let ids: Vec<&str> = providers
        .iter()
        .map(|p| p["hsaId"].as_str().unwrap())
        .collect();
    let mut expected: Vec<String> = app
        .catalog
        .iter()
        .filter_map(|e| e.info.care_provider.hsa_id.as_ref())
        .map(|h| h.as_str().to_owned())
        .collect();
    expected.sort();
    expected.dedup();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(sorted, expected, "each provider of the catalog, once");
    let region = providers
        .iter()
        .find(|p| p["hsaId"] == REGION_UPPSALA)
        .unwrap();
    assert!(
        region["careUnits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["hsaId"] == GOTTSUNDA),
        "{region}"
    );
    // The same catalog for everyone: it tells nothing about the patient, so it is no access
    // to their data and leaves no record.
    assert!(app.access_records(TOLVAN).await.is_empty());

    let staff = app.post_as(&staff_token(), query, json!({})).await;
    assert_eq!(error_codes(&staff), ["FORBIDDEN"], "{staff}");
}
