//! The national service platform end to end: the real service on port 0, RIV-TA simulators and
//! an engagement index simulator on loopback. The index decides which sources are called; when
//! it fails, all are, and the answer says so; an aggregating source's ProcessingStatus records
//! become statuses of their own.

use std::path::Path;
use std::time::Duration;

use overblick::config::catalog::{SourceEntry, parse_source_file};
use overblick::config::{EngagementIndexSettings, GraphqlSettings, PlatformSettings};
use overblick::sources::rivta::Contract;
use overblick_simulators::engagement::{self, Engagement, EngagementIndex};
use overblick_simulators::rivta::{
    self, PartStatusCode, ProcessingPart, RivtaData, RivtaHandle, SyncError,
};
use overblick_simulators::{Behaviour, ServerOptions};
use serde_json::{Value, json};

use crate::harness::{Options, TestApp, error_codes, repo_path, token};
use crate::pki::pki;

/// The simulator's name for a contract the adapter asks: the two state the contracts
/// independently, and meet at the contract's address.
fn sim_contract(contract: Contract) -> overblick_simulators::Contract {
    overblick_simulators::Contract::from_path(&contract.path())
        .expect("the simulator serves every contract the adapter asks")
}

const TOLVAN_DIGITS: &str = "191212121212";
const INDEX_ADDRESS: &str = "5565594230";
const MEDICATION_DOMAIN: &str = "riv:clinicalprocess:activityprescription:actoutcome";

/// The demo's Region Uppsala platform data: what every simulated producer here serves.
fn demo_data() -> RivtaData {
    RivtaData::load_dir(&repo_path("sources/demo-data/region-uppsala-npo"))
        .expect("the demo's RIV-TA data loads")
}

fn logical_address(n: usize) -> String {
    format!("SE2321000024-P{n:03}")
}

/// A catalog entry for a RIV-TA source at `base_url`.
fn rivta_entry(n: usize, base_url: &str) -> SourceEntry {
    let text = format!(
        r#"
id = "producer-{n}"
name = "Producer {n}"
domains = ["medications"]

[protocol.riv-ta]
logical_address = "{}"
base_url = "{base_url}"

[care_provider]
name = "Region Uppsala"
hsa_id = "SE2321000024-0001"
"#,
        logical_address(n)
    );
    parse_source_file(Path::new("tests/integration/platform.rs"), &text)
        .expect("a valid catalog entry")
}

/// Eight producers, each serving the demo data at its own logical address.
fn eight_producers() -> Vec<RivtaHandle> {
    (0..8)
        .map(|n| {
            rivta::start(
                demo_data(),
                vec![logical_address(n)],
                &ServerOptions::default(),
            )
            .expect("the producer starts")
        })
        .collect()
}

fn engagement(n: usize) -> Engagement {
    Engagement {
        person: TOLVAN_DIGITS.into(),
        service_domain: MEDICATION_DOMAIN.into(),
        categorization: "caa-gmh".into(),
        logical_address: logical_address(n),
        source_system: logical_address(n),
        most_recent_content: "20261102112000".into(),
        data_controller: None,
        creation_time: None,
        update_time: None,
    }
}

fn index_naming(producers: &[usize]) -> engagement::EngagementIndexHandle {
    engagement::start(
        EngagementIndex {
            logical_address: INDEX_ADDRESS.into(),
            owner: None,
            engagements: producers.iter().map(|&n| engagement(n)).collect(),
        },
        &ServerOptions::default(),
    )
    .expect("the index starts")
}

fn platform(index_base_url: &str, timeout: Duration) -> PlatformSettings {
    PlatformSettings {
        engagement_index: Some(EngagementIndexSettings {
            base_url: Some(index_base_url.to_owned()),
            logical_address: INDEX_ADDRESS.into(),
            cache_ttl: Duration::from_secs(30),
            timeout,
        }),
        ..PlatformSettings::default()
    }
}

async fn start(producers: &[RivtaHandle], platform: PlatformSettings) -> TestApp {
    let catalog = producers
        .iter()
        .enumerate()
        .map(|(n, p)| rivta_entry(n, p.base_url()))
        .collect();
    TestApp::start_with(
        catalog,
        Vec::new(),
        Options {
            platform,
            ..Options::default()
        },
    )
    .await
}

const QUERY: &str = r#"{ overview(patient: "191212121212") {
    medications { id provenance { sourceId recordId } }
    sources { source state logicalAddress aggregated }
    engagementIndex { domain serviceDomain categorization state sourcesConsidered sourcesAsked callsAvoided message }
} }"#;

fn hits(producers: &[RivtaHandle]) -> Vec<u64> {
    producers.iter().map(|p| p.hits()).collect()
}

#[tokio::test]
async fn only_the_sources_the_engagement_index_names_are_called() {
    let producers = eight_producers();
    let index = index_naming(&[1, 4, 6]);
    let app = start(
        &producers,
        platform(index.base_url(), Duration::from_secs(2)),
    )
    .await;

    let body = app.query(QUERY).await;
    let overview = &body["data"]["overview"];
    assert_eq!(hits(&producers), [0, 1, 0, 0, 1, 0, 1, 0], "{body}");
    assert_eq!(index.find_content_hits(), 1);
    let sources: Vec<&str> = overview["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["source"].as_str().unwrap())
        .collect();
    assert_eq!(
        sources,
        ["producer-1", "producer-4", "producer-6"],
        "{body}"
    );
    assert_eq!(
        overview["engagementIndex"],
        json!([{
            "domain": "MEDICATIONS",
            "serviceDomain": MEDICATION_DOMAIN,
            "categorization": "caa-gmh",
            "state": "ANSWERED",
            "sourcesConsidered": 8,
            "sourcesAsked": 3,
            "callsAvoided": 5,
            "message": null
        }])
    );
    assert!(error_codes(&body).is_empty(), "{body}");
    assert!(
        !overview["medications"].as_array().unwrap().is_empty(),
        "{body}"
    );

    // The metric counts the calls the index saved.
    let metrics = app
        .client
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"overblick_source_calls_avoided_total{domain="medications"} 5"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_index_answer_is_reused_for_the_next_overview() {
    let producers = eight_producers();
    let index = index_naming(&[2]);
    let app = start(
        &producers,
        platform(index.base_url(), Duration::from_secs(2)),
    )
    .await;

    app.query(QUERY).await;
    let body = app.query(QUERY).await;
    assert_eq!(index.find_content_hits(), 1);
    assert_eq!(
        body["data"]["overview"]["engagementIndex"][0]["state"],
        "FROM_CACHE"
    );
}

#[tokio::test]
async fn when_the_index_fails_every_source_is_called_and_the_fallback_is_reported() {
    let producers = eight_producers();
    let index = index_naming(&[1, 4, 6]);
    index.set_behaviour(Behaviour::ProtocolError);
    let app = start(
        &producers,
        platform(index.base_url(), Duration::from_secs(2)),
    )
    .await;

    let body = app.query(QUERY).await;
    let overview = &body["data"]["overview"];
    assert_eq!(hits(&producers), [1; 8], "{body}");
    assert_eq!(overview["sources"].as_array().unwrap().len(), 8);
    let lookup = &overview["engagementIndex"][0];
    assert_eq!(lookup["state"], "FAILED_ASKED_ALL", "{body}");
    assert_eq!(lookup["sourcesAsked"], 8);
    assert_eq!(lookup["callsAvoided"], 0);
    assert!(
        lookup["message"].as_str().unwrap().contains("FindContent"),
        "{body}"
    );
    assert_eq!(error_codes(&body), ["ENGAGEMENT_INDEX_UNAVAILABLE"]);
    // The medications are there all the same (eight copies of one record, merged into one).
    let medications = overview["medications"].as_array().unwrap();
    assert!(!medications.is_empty());
    assert_eq!(medications[0]["provenance"].as_array().unwrap().len(), 8);
}

#[tokio::test]
async fn an_index_that_does_not_answer_in_time_counts_as_failed() {
    let producers = eight_producers();
    let index = index_naming(&[1]);
    index.set_behaviour(Behaviour::Hang);
    let app = start(
        &producers,
        platform(index.base_url(), Duration::from_millis(300)),
    )
    .await;

    let body = app.query(QUERY).await;
    assert_eq!(hits(&producers), [1; 8], "{body}");
    assert_eq!(
        body["data"]["overview"]["engagementIndex"][0]["state"],
        "FAILED_ASKED_ALL"
    );
    assert_eq!(error_codes(&body), ["ENGAGEMENT_INDEX_UNAVAILABLE"]);
}

#[tokio::test]
async fn an_aggregating_source_reports_each_system_behind_it() {
    let producers = eight_producers();
    let aggregator = &producers[0];
    aggregator
        .set_processing_status(Some(vec![
            ProcessingPart::from_source("SE2321000024-1COS", "20261122101500"),
            ProcessingPart {
                logical_address: "SE2321000024-CACHE".into(),
                status: PartStatusCode::DataFromCache,
                last_successful_sync: Some("20261122090000".into()),
                last_failed_sync: None,
                error: None,
            },
            ProcessingPart {
                logical_address: "SE2321000024-STALE".into(),
                status: PartStatusCode::DataFromCacheSynchFailed,
                last_successful_sync: Some("20261121230000".into()),
                last_failed_sync: Some("20261122101400".into()),
                error: Some(SyncError {
                    causing_agent: "SourceSystem".into(),
                    code: "VP009".into(),
                    text: "producer timed out".into(),
                }),
            },
            ProcessingPart {
                logical_address: "SE2321000024-DOWN".into(),
                status: PartStatusCode::NoDataSynchFailed,
                last_successful_sync: None,
                last_failed_sync: Some("20261122101400".into()),
                error: None,
            },
        ]))
        .unwrap();
    let app = start(&producers[..1], PlatformSettings::default()).await;

    let body = app
        .query(
            r#"{ overview(patient: "191212121212") {
                medications { id }
                sources { source logicalAddress aggregated state lastSuccessfulSync message }
            } }"#,
        )
        .await;
    let sources = &body["data"]["overview"]["sources"];
    assert_eq!(
        *sources,
        json!([
            {"source": "producer-0", "logicalAddress": "SE2321000024-P000", "aggregated": false,
             "state": "FROM_SOURCE", "lastSuccessfulSync": null, "message": null},
            {"source": "producer-0", "logicalAddress": "SE2321000024-1COS", "aggregated": true,
             "state": "FROM_SOURCE", "lastSuccessfulSync": "2026-11-22T09:15:00Z", "message": null},
            {"source": "producer-0", "logicalAddress": "SE2321000024-CACHE", "aggregated": true,
             "state": "FROM_CACHE", "lastSuccessfulSync": "2026-11-22T08:00:00Z", "message": null},
            {"source": "producer-0", "logicalAddress": "SE2321000024-STALE", "aggregated": true,
             "state": "STALE_SOURCE_FAILED", "lastSuccessfulSync": "2026-11-21T22:00:00Z",
             "message": "Producer 0 reports for SE2321000024-STALE: SourceSystem: VP009: producer timed out"},
            {"source": "producer-0", "logicalAddress": "SE2321000024-DOWN", "aggregated": true,
             "state": "FAILED", "lastSuccessfulSync": null,
             "message": "Producer 0 reports that SE2321000024-DOWN could not be reached"},
        ]),
        "{body}"
    );
    let errors: Vec<(&str, &str, bool)> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["extensions"]["code"].as_str().unwrap(),
                e["extensions"]["logicalAddress"].as_str().unwrap(),
                e["extensions"]["stale"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            ("SOURCE_ERROR", "SE2321000024-STALE", true),
            ("SOURCE_ERROR", "SE2321000024-DOWN", false)
        ]
    );
}

#[tokio::test]
async fn with_source_errors_redacted_soap_faults_and_the_platforms_own_accounts_stay_out_of_the_answer()
 {
    let producers: Vec<RivtaHandle> = eight_producers().into_iter().take(3).collect();
    // An aggregator whose account of a system behind it has words of its own, a producer
    // answering with a SOAP fault, and an engagement index answering with one too.
    producers[0]
        .set_processing_status(Some(vec![ProcessingPart {
            logical_address: "SE2321000024-STALE".into(),
            status: PartStatusCode::NoDataSynchFailed,
            last_successful_sync: None,
            last_failed_sync: Some("20261122101400".into()),
            error: Some(SyncError {
                causing_agent: "SourceSystem".into(),
                code: "VP009".into(),
                text: "producer timed out".into(),
            }),
        }]))
        .unwrap();
    producers[2].set_behaviour(Behaviour::ProtocolError);
    let index = index_naming(&[0, 2]);
    index.set_behaviour(Behaviour::ProtocolError);
    let catalog = producers
        .iter()
        .enumerate()
        .map(|(n, p)| rivta_entry(n, p.base_url()))
        .collect();
    let app = TestApp::start_with(
        catalog,
        Vec::new(),
        Options {
            platform: platform(index.base_url(), Duration::from_secs(2)),
            graphql: GraphqlSettings {
                redact_source_errors: Some(true),
                ..GraphqlSettings::default()
            },
            ..Options::default()
        },
    )
    .await;

    let body = app
        .query(
            r#"{ overview(patient: "191212121212") {
                medications { id }
                sources { source logicalAddress state message }
                engagementIndex { state message }
            } }"#,
        )
        .await;
    let answer = body.to_string();
    for upstream in [
        "VP009",
        "simulated",
        "producer timed out",
        "SourceSystem",
        "fault",
    ] {
        assert!(
            !answer.contains(upstream),
            "{upstream:?} reached the client: {answer}"
        );
    }
    let overview = &body["data"]["overview"];
    assert_eq!(
        overview["engagementIndex"][0]["message"],
        "the engagement index failed (ENGAGEMENT_INDEX_UNAVAILABLE); every source was asked"
    );
    let messages: Vec<(&str, &str)> = overview["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| Some((s["logicalAddress"].as_str()?, s["message"].as_str()?)))
        .collect();
    assert_eq!(
        messages,
        [
            (
                "SE2321000024-STALE",
                "Producer 0 reports that SE2321000024-STALE could not be reached"
            ),
            ("SE2321000024-P002", "Producer 2 failed (SOURCE_ERROR)"),
        ],
        "{body}"
    );
    let mut errors: Vec<(&str, &str)> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["extensions"]["code"].as_str().unwrap(),
                e["message"].as_str().unwrap(),
            )
        })
        .collect();
    errors.sort();
    assert_eq!(
        errors,
        [
            (
                "ENGAGEMENT_INDEX_UNAVAILABLE",
                "the engagement index failed (ENGAGEMENT_INDEX_UNAVAILABLE); every platform source of the medications was asked"
            ),
            (
                "SOURCE_ERROR",
                "Producer 0 reports that SE2321000024-STALE could not be reached; its medications are missing"
            ),
            (
                "SOURCE_ERROR",
                "Producer 2 failed (SOURCE_ERROR); its medications are missing"
            ),
        ]
    );
}

#[tokio::test]
async fn a_producer_fault_is_a_source_error_naming_the_contract() {
    let producers = eight_producers();
    producers[3].set_behaviour(Behaviour::ProtocolError);
    let app = start(&producers[..4], PlatformSettings::default()).await;

    let body = app.query(QUERY).await;
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["extensions"]["code"], "SOURCE_ERROR");
    assert_eq!(errors[0]["extensions"]["source"], "producer-3");
    let message = errors[0]["message"].as_str().unwrap();
    assert!(message.contains("GetMedicationHistory v2"), "{message}");
    // The other three answered.
    let states: Vec<&Value> = body["data"]["overview"]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["state"])
        .collect();
    assert_eq!(
        states,
        ["FROM_SOURCE", "FROM_SOURCE", "FROM_SOURCE", "FAILED"]
    );
    assert_eq!(
        producers[3].hits_for_contract(sim_contract(Contract::MedicationHistory2)),
        1
    );
}

#[tokio::test]
async fn the_index_guides_only_platform_sources_for_the_patient_asked_about() {
    // Lena is not in the index: no platform source is asked for her, the FHIR sources are.
    let producers = eight_producers();
    let index = index_naming(&[1, 4, 6]);
    let app = start(
        &producers,
        platform(index.base_url(), Duration::from_secs(2)),
    )
    .await;
    let body = app
        .post_as(
            &token("19880412-2383"),
            r#"{ overview(patient: "198804122383") { medications { id } engagementIndex { sourcesAsked callsAvoided } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(hits(&producers), [0; 8], "{body}");
    assert_eq!(
        body["data"]["overview"]["engagementIndex"][0]["callsAvoided"],
        8
    );
}

#[tokio::test]
async fn the_demo_serves_platform_and_fhir_sources_in_one_merged_overview() {
    let app = TestApp::builder().engagement_index().start().await;
    let body = app
        .query(
            r#"{ overview(patient: "191212121212") {
                medications { name code { code } provenance { sourceId } }
                labResults { nodes { analysis provenance { sourceId } } }
                sources { source domain state }
                engagementIndex { domain state callsAvoided }
            } }"#,
        )
        .await;
    assert!(error_codes(&body).is_empty(), "{body}");
    let overview = &body["data"]["overview"];
    let sources_of = |item: &Value| -> Vec<String> {
        item["provenance"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["sourceId"].as_str().unwrap().to_owned())
            .collect()
    };
    // Apixaban, prescribed at Akademiska and renewed at Gottsunda (FHIR), reported again
    // through the national service platform (RIV-TA): one item, three provenances.
    let apixaban = overview["medications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["code"]["code"] == "B01AF02")
        .expect("apixaban is listed");
    assert_eq!(
        sources_of(apixaban),
        ["akademiska-sjukhuset", "region-uppsala-npo", "vc-gottsunda"],
        "{body}"
    );
    assert_eq!(
        overview["medications"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["code"]["code"] == "B01AF02")
            .count(),
        1
    );
    // Records only the platform has are there too.
    assert!(
        overview["labResults"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| sources_of(r) == ["region-uppsala-npo"]),
        "{body}"
    );
    // The index knows Uppsala kommun holds no medications or lab results for Tolvan: it was
    // not asked for them.
    let kommun = app
        .rivta
        .iter()
        .find(|h| {
            h.logical_addresses()
                .iter()
                .any(|a| a == "SE2120003005-0001")
        })
        .expect("the municipal platform source runs");
    assert_eq!(
        kommun.hits_for_contract(sim_contract(Contract::MedicationHistory2)),
        0
    );
    assert_eq!(
        kommun.hits_for_contract(sim_contract(Contract::LaboratoryOrderOutcome4)),
        0
    );
    let avoided: u64 = overview["engagementIndex"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["callsAvoided"].as_u64().unwrap())
        .sum();
    assert_eq!(avoided, 2, "{body}");
    let listed: Vec<(&str, &str)> = overview["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["source"].as_str().unwrap(), s["domain"].as_str().unwrap()))
        .collect();
    assert!(listed.contains(&("region-uppsala-npo", "MEDICATIONS")));
    assert!(!listed.contains(&("uppsala-kommun-npo", "MEDICATIONS")));
}

#[tokio::test]
async fn the_service_presents_its_function_certificate_from_the_platform_settings() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki();
    let producer = rivta::start(
        demo_data(),
        vec![logical_address(0)],
        &ServerOptions {
            latency: Duration::ZERO,
            tls: Some(pki.server.clone()),
        },
    )
    .unwrap();
    assert!(producer.base_url().starts_with("https://"));
    // The certificate and its key in separate files, as deployments keep them.
    let identity = String::from_utf8(pki.client_identity.clone()).unwrap();
    let key_at = identity.find("-----BEGIN PRIVATE KEY-----").unwrap();
    std::fs::write(dir.path().join("function.pem"), &identity[..key_at]).unwrap();
    std::fs::write(dir.path().join("function.key"), &identity[key_at..]).unwrap();
    std::fs::write(dir.path().join("ca.pem"), &pki.ca_pem).unwrap();
    let settings = |with_certificate: bool| PlatformSettings {
        client_certificate: with_certificate.then(|| dir.path().join("function.pem")),
        client_key: with_certificate.then(|| dir.path().join("function.key")),
        ca_certificates: Some(dir.path().join("ca.pem")),
        ..PlatformSettings::default()
    };

    let app = start(std::slice::from_ref(&producer), settings(true)).await;
    let body = app.query(QUERY).await;
    assert_eq!(
        body["data"]["overview"]["sources"][0]["state"], "FROM_SOURCE",
        "{body}"
    );
    assert!(
        !body["data"]["overview"]["medications"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(producer.tls_refusals(), 0);

    // Without the certificate the platform refuses the connection: a source error, no data.
    let app = start(std::slice::from_ref(&producer), settings(false)).await;
    let body = app.query(QUERY).await;
    assert_eq!(body["data"]["overview"]["sources"][0]["state"], "FAILED");
    assert_eq!(error_codes(&body), ["SOURCE_ERROR"]);
    assert!(producer.tls_refusals() >= 1);
}
