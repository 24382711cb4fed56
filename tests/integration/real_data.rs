//! Real, third-party FHIR data (a Synthea bundle) served by the simulator through the whole
//! service: the adapter and the merge must cope with what real systems send.

use std::time::Duration;

use overblick::config::catalog::{ProtocolConfig, SourceEntry};
use overblick::config::{CacheSettings, EngineSettings};
use overblick::domain::{Domain, Organisation};
use overblick::sources::SourceInfo;
use overblick::sources::fhir::FhirConfig;
use overblick_simulators::FhirStore;
use overblick_simulators::fhir::start;

use crate::harness::{TOLVAN, TestApp, repo_path};

const SYNTHEA: &str =
    "tests/data/fhir/synthea/inferno-elderly-multimorbid-uscore__uscore_bundle_patient_355.json";

#[tokio::test]
async fn a_real_synthea_record_comes_through_the_whole_service() {
    let bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo_path(SYNTHEA)).unwrap()).unwrap();
    let mut store = FhirStore::new();
    store
        .insert_bundle(
            &overblick_simulators::person::Person::parse(&TOLVAN.replace('-', "")).unwrap(),
            bundle,
        )
        .unwrap();
    let simulator = start(store, Duration::ZERO).unwrap();
    let entry = SourceEntry {
        file: repo_path("tests/integration/real_data.rs"),
        info: SourceInfo {
            id: "synthea".into(),
            name: "Synthea (Inferno reference data)".into(),
            system: Some("Synthea".into()),
            care_provider: Organisation {
                name: Some("Synthetic provider".into()),
                hsa_id: None,
            },
            default_care_unit: None,
        },
        protocol: ProtocolConfig::FhirR4(FhirConfig {
            base_url: Some(simulator.base_url().to_owned()),
            ..FhirConfig::default()
        }),
        domains: Domain::ALL.to_vec(),
        policy: Default::default(),
        simulator: None,
        simulated_at: None,
    };
    let app = TestApp::start(
        vec![entry],
        vec![simulator],
        EngineSettings::default(),
        CacheSettings::default(),
        overblick::store::testing::sqlite(),
    )
    .await;
    let body = app
        .query(
            "{ overview { patient { name } contacts(status: ALL) { name } carePlans { title } medications(status: ALL) { name } measurements { nodes { name } } labResults { nodes { analysis } } sources { state } } }",
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let overview = &body["data"]["overview"];
    assert!(
        overview["patient"]["name"].is_string(),
        "{}",
        overview["patient"]
    );
    for field in [
        "contacts",
        "carePlans",
        "medications",
        "measurements",
        "labResults",
    ] {
        let list = overview[field].get("nodes").unwrap_or(&overview[field]);
        assert!(!list.as_array().unwrap().is_empty(), "{field} is empty");
    }
    assert!(
        overview["sources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["state"] == "FROM_SOURCE")
    );
}
