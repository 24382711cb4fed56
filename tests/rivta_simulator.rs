//! The RIV-TA and engagement index simulators from the outside: through the RIV-TA adapter
//! (`RivtaSource::fetch`) over plain HTTP and over mutual TLS, and with raw SOAP requests where
//! the adapter has nothing to say (unknown paths, malformed requests, FindContent).
//!
//! The adapter's mappings are written elsewhere: these tests assert on success or error, on the
//! simulators' counters and on the SOAP the simulators send, not on mapped items.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use overblick::config::catalog::ProtocolConfig;
use overblick::config::load_catalog;
use overblick::domain::{Domain, Organisation, PersonId};
use overblick::sources::client::{HttpClient, HttpSettings, TlsSettings};
use overblick::sources::rivta::{Contract, RivtaSettings, RivtaSource, soap};
use overblick::sources::{PartState, SourceAdapter, SourceError, SourceInfo};
use overblick_simulators::rivta;
use overblick_simulators::{
    Behaviour, Engagement, PartStatusCode, ProcessingPart, RivtaData, RivtaHandle, ServerOptions,
    SyncError, start_engagement_index,
};
use roxmltree::Document;

#[path = "common/pki.rs"]
mod pki_support;
use pki_support::{Pki, pki};

/// The simulator's name for a contract the adapter asks: the two state the contracts
/// independently, and meet at the contract's address.
fn sim_contract(contract: Contract) -> overblick_simulators::Contract {
    overblick_simulators::Contract::from_path(&contract.path())
        .expect("the simulator serves every contract the adapter asks")
}

const REGION: &str = "SE2321000024-0001";
const KOMMUN: &str = "SE2120003005-0001";
const NIL_UUID: &str = "00000000-0000-0000-0000-000000000000";

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn tolvan() -> PersonId {
    PersonId::parse("191212121212").unwrap()
}

fn region_data() -> RivtaData {
    RivtaData::load_dir(&repo_path("sources/demo-data/region-uppsala-npo")).unwrap()
}

fn plain_options() -> ServerOptions {
    ServerOptions::default()
}

fn info() -> Arc<SourceInfo> {
    Arc::new(SourceInfo {
        id: "region-uppsala-npo".into(),
        name: "Region Uppsala via tjänsteplattformen".into(),
        system: Some("Cosmic".into()),
        care_provider: Organisation {
            name: Some("Region Uppsala".into()),
            hsa_id: None,
        },
        default_care_unit: None,
    })
}

fn source(base_url: &str, logical_address: &str, http: HttpClient) -> RivtaSource {
    RivtaSource::new(
        info(),
        RivtaSettings {
            base_url: base_url.to_owned(),
            logical_address: logical_address.to_owned(),
            healthcare_facility: "SE2321000024-GOT001".into(),
            interaction_agreement_id: NIL_UUID.into(),
            lab_v3: false,
        },
        overblick::sources::rivta::DOMAINS.to_vec(),
        http,
    )
}

fn plain_client() -> HttpClient {
    HttpClient::new(&HttpSettings::default()).unwrap()
}

fn start_region() -> RivtaHandle {
    rivta::start(region_data(), vec![REGION.into()], &plain_options()).unwrap()
}

/// POSTs a SOAP body to `url` and returns the status and the text.
async fn post(url: &str, body: String) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(url)
        .header("Content-Type", "text/xml; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

fn request_for(contract: Contract, logical_address: &str) -> String {
    soap::request(
        contract,
        &tolvan(),
        &soap::RequestParams {
            logical_address,
            healthcare_facility: "SE2321000024-GOT001",
            interaction_agreement_id: NIL_UUID,
        },
    )
}

/// The fault's `faultcode` and `faultstring` of a SOAP 1.1 answer.
fn fault_of(text: &str) -> (String, String) {
    let doc = Document::parse(text).unwrap();
    let envelope = doc.root_element();
    assert_eq!(envelope.tag_name().namespace(), Some(soap::SOAP_ENV));
    let fault = envelope
        .descendants()
        .find(|n| n.has_tag_name((soap::SOAP_ENV, "Fault")))
        .unwrap_or_else(|| panic!("no fault in {text}"));
    let child = |name: &str| {
        fault
            .children()
            .find(|c| c.is_element() && c.tag_name().name() == name)
            .and_then(|c| c.text())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .to_owned()
    };
    (child("faultcode"), child("faultstring"))
}

// ---------------------------------------------------------------------------------------------
// Mutual TLS

fn start_tls(pki: &Pki) -> RivtaHandle {
    rivta::start(
        region_data(),
        vec![REGION.into()],
        &ServerOptions {
            latency: Duration::ZERO,
            tls: Some(pki.server.clone()),
        },
    )
    .unwrap()
}

#[tokio::test]
async fn a_client_with_a_certificate_from_the_trusted_ca_gets_data_over_mutual_tls() {
    let pki = pki();
    let sim = start_tls(&pki);
    assert!(sim.base_url().starts_with("https://127.0.0.1:"), "{sim:?}");
    let http = HttpClient::with_tls(
        &HttpSettings::default(),
        &TlsSettings {
            identity_pem: Some(pki.client_identity.clone()),
            ca_pem: Some(pki.ca_pem.clone().into_bytes()),
        },
    )
    .unwrap();
    let source = source(sim.base_url(), REGION, http);

    for domain in overblick::sources::rivta::DOMAINS {
        let fetched = source.fetch(&tolvan(), domain).await;
        assert!(fetched.is_ok(), "{domain:?}: {fetched:?}");
    }
    assert_eq!(sim.hits(), 6);
    assert_eq!(
        sim.hits_for_contract(sim_contract(Contract::MedicationHistory2)),
        1
    );
    assert_eq!(
        sim.hits_for_contract(sim_contract(Contract::LaboratoryOrderOutcome4)),
        1
    );
    assert_eq!(sim.tls_refusals(), 0);
}

#[tokio::test]
async fn a_client_without_a_certificate_is_refused_at_the_tls_handshake() {
    let pki = pki();
    let sim = start_tls(&pki);
    // Trusts the server, presents nothing.
    let http = HttpClient::with_tls(
        &HttpSettings::default(),
        &TlsSettings {
            identity_pem: None,
            ca_pem: Some(pki.ca_pem.clone().into_bytes()),
        },
    )
    .unwrap();
    let source = source(sim.base_url(), REGION, http);

    let error = source
        .fetch(&tolvan(), Domain::Medications)
        .await
        .unwrap_err();
    assert!(matches!(error, SourceError::Connect(_)), "{error:?}");
    assert_eq!(sim.hits(), 0, "no HTTP request got through");
    assert!(sim.tls_refusals() >= 1, "the handshake was refused");
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_refused_at_the_tls_handshake() {
    let pki = pki();
    let stranger = self::pki();
    let sim = start_tls(&pki);
    let http = HttpClient::with_tls(
        &HttpSettings::default(),
        &TlsSettings {
            identity_pem: Some(stranger.client_identity.clone()),
            ca_pem: Some(pki.ca_pem.clone().into_bytes()),
        },
    )
    .unwrap();
    let error = source(sim.base_url(), REGION, http)
        .fetch(&tolvan(), Domain::Bookings)
        .await
        .unwrap_err();
    assert!(matches!(error, SourceError::Connect(_)), "{error:?}");
    assert_eq!(sim.hits(), 0);
    assert!(sim.tls_refusals() >= 1);
}

#[test]
fn unusable_tls_material_is_an_error_at_the_start_not_at_the_first_request() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _guard = runtime.enter();
    let pki = pki();
    let mut server = pki.server.clone();
    server.client_ca_pem = b"not a certificate".to_vec();
    let error = rivta::start(
        RivtaData::new(),
        vec![REGION.into()],
        &ServerOptions {
            latency: Duration::ZERO,
            tls: Some(server),
        },
    )
    .unwrap_err();
    assert!(error.to_string().contains("client CA"), "{error}");
}

// ---------------------------------------------------------------------------------------------
// Answers and faults through the adapter

#[tokio::test]
async fn every_domain_is_fetched_from_the_demo_data_and_counted_per_contract() {
    let sim = start_region();
    let source = source(sim.base_url(), REGION, plain_client());
    for domain in overblick::sources::rivta::DOMAINS {
        source.fetch(&tolvan(), domain).await.unwrap();
    }
    for contract in Contract::ALL {
        let expected = u64::from(contract != Contract::LaboratoryOrderOutcome3);
        assert_eq!(
            sim.hits_for_contract(sim_contract(contract)),
            expected,
            "{contract:?}"
        );
    }
    assert_eq!(sim.hits(), 6);
    sim.reset_hits();
    assert_eq!(sim.hits(), 0);
    assert_eq!(sim.hits_for_contract(sim_contract(Contract::CarePlans2)), 0);
}

#[tokio::test]
async fn a_fault_behaviour_is_a_source_error_naming_the_contract() {
    let sim = start_region();
    sim.set_behaviour(Behaviour::ProtocolError);
    let source = source(sim.base_url(), REGION, plain_client());
    let error = source
        .fetch(&tolvan(), Domain::Medications)
        .await
        .unwrap_err();
    assert!(
        matches!(error, SourceError::Status { status: 500, .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("GetMedicationHistory v2"), "{message}");
    assert!(message.contains("SOAP fault"), "{message}");
    assert_eq!(
        sim.hits_for_contract(sim_contract(Contract::MedicationHistory2)),
        1
    );
}

#[tokio::test]
async fn garbage_and_truncated_answers_are_errors_naming_the_contract() {
    let sim = start_region();
    let source = source(sim.base_url(), REGION, plain_client());
    for behaviour in [Behaviour::Garbage, Behaviour::Truncated] {
        sim.set_behaviour(behaviour);
        let error = source
            .fetch(&tolvan(), Domain::LabResults)
            .await
            .unwrap_err();
        assert!(
            matches!(error, SourceError::InvalidResponse(_)),
            "{behaviour:?}: {error:?}"
        );
        assert!(
            error.to_string().contains("GetLaboratoryOrderOutcome v4"),
            "{behaviour:?}: {error}"
        );
    }
}

#[tokio::test]
async fn a_status_behaviour_answers_that_http_status() {
    let sim = start_region();
    sim.set_behaviour(Behaviour::Status(503));
    let error = source(sim.base_url(), REGION, plain_client())
        .fetch(&tolvan(), Domain::Contacts)
        .await
        .unwrap_err();
    assert!(
        matches!(error, SourceError::Status { status: 503, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_hanging_simulator_holds_the_request_until_it_shuts_down() {
    let sim = start_region();
    sim.set_behaviour(Behaviour::Hang);
    let source = source(sim.base_url(), REGION, plain_client());
    let held = tokio::time::timeout(
        Duration::from_millis(300),
        source.fetch(&tolvan(), Domain::CarePlans),
    )
    .await;
    assert!(held.is_err(), "the request was answered: {held:?}");
    assert_eq!(sim.hits(), 1);

    let waiting = tokio::spawn({
        let url = format!("{}/{}", sim.base_url(), Contract::CarePlans2.path());
        async move { post(&url, request_for(Contract::CarePlans2, REGION)).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    sim.shutdown().await;
    let (status, _) = waiting.await.unwrap();
    assert_eq!(status, 503);
}

#[tokio::test]
async fn a_delay_behaviour_answers_after_the_delay() {
    let sim = start_region();
    sim.set_behaviour(Behaviour::Delay(Duration::from_millis(200)));
    let started = std::time::Instant::now();
    source(sim.base_url(), REGION, plain_client())
        .fetch(&tolvan(), Domain::Bookings)
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn a_request_to_a_logical_address_the_simulator_does_not_serve_is_a_soap_fault() {
    let sim = start_region();
    let error = source(sim.base_url(), KOMMUN, plain_client())
        .fetch(&tolvan(), Domain::Medications)
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(message.contains("GetMedicationHistory v2"), "{message}");
    assert!(message.contains("VP004"), "{message}");
}

#[tokio::test]
async fn a_request_without_a_logical_address_is_a_soap_fault() {
    let sim = start_region();
    let contract = Contract::MedicationHistory2;
    let request = request_for(contract, REGION).replace(
        &format!(
            r#"<soapenv:Header><a:LogicalAddress xmlns:a="{}">{REGION}</a:LogicalAddress></soapenv:Header>"#,
            soap::REGISTRY_NS
        ),
        "",
    );
    assert!(!request.contains("LogicalAddress"), "{request}");
    let (status, text) = post(&format!("{}/{}", sim.base_url(), contract.path()), request).await;
    assert_eq!(status, 500);
    let (code, string) = fault_of(&text);
    assert_eq!(code, "soap:Client");
    assert!(string.starts_with("VP003"), "{string}");
}

#[tokio::test]
async fn an_unknown_path_is_not_found() {
    let sim = start_region();
    let (status, _) = post(
        &format!(
            "{}/clinicalprocess/healthcond/description/GetAlertInformation/2/rivtabp21",
            sim.base_url()
        ),
        request_for(Contract::MedicationHistory2, REGION),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = post(
        &format!(
            "http://{}/{}",
            sim.addr(),
            Contract::MedicationHistory2.path()
        ),
        request_for(Contract::MedicationHistory2, REGION),
    )
    .await;
    assert_eq!(status, 404, "contract paths live under /vp");
}

#[tokio::test]
async fn malformed_requests_are_answered_with_soap_faults() {
    let sim = start_region();
    let contract = Contract::CareContacts3;
    let url = format!("{}/{}", sim.base_url(), contract.path());
    let cases = [
        ("not XML", "<soapenv:Envelope".to_owned(), "soap:Client"),
        (
            "not an envelope",
            "<html><body>hello</body></html>".to_owned(),
            "soap:Client",
        ),
        (
            "another contract's request",
            request_for(Contract::CarePlans2, REGION),
            "soap:Client",
        ),
        (
            "no patient",
            request_for(contract, REGION).replace("191212121212", ""),
            "soap:Client",
        ),
        (
            "SOAP 1.2",
            request_for(contract, REGION)
                .replace(soap::SOAP_ENV, "http://www.w3.org/2003/05/soap-envelope"),
            "soap:VersionMismatch",
        ),
    ];
    for (case, body, expected) in cases {
        let (status, text) = post(&url, body).await;
        assert_eq!(status, 500, "{case}: {text}");
        let (code, _) = fault_of(&text);
        assert_eq!(code, expected, "{case}");
    }
}

#[tokio::test]
async fn a_patient_the_producer_does_not_know_gets_an_empty_answer() {
    let sim = start_region();
    let margareta = PersonId::parse("196003012389").unwrap();
    let fetched = source(sim.base_url(), REGION, plain_client())
        .fetch(&margareta, Domain::Medications)
        .await
        .unwrap();
    assert!(fetched.parts.is_empty());
}

#[tokio::test]
async fn the_aggregator_mode_reports_every_configured_part_to_the_adapter() {
    let sim = start_region();
    sim.set_processing_status(Some(vec![
        ProcessingPart::from_source(REGION, "20261122081500"),
        ProcessingPart {
            logical_address: KOMMUN.into(),
            status: PartStatusCode::NoDataSynchFailed,
            last_successful_sync: None,
            last_failed_sync: Some("20261122081500".into()),
            error: Some(SyncError {
                causing_agent: "SourceSystem".into(),
                code: "VP009".into(),
                text: "the producer did not answer in time".into(),
            }),
        },
    ]))
    .unwrap();
    let fetched = source(sim.base_url(), REGION, plain_client())
        .fetch(&tolvan(), Domain::Measurements)
        .await
        .unwrap();
    assert_eq!(fetched.parts.len(), 2, "{:?}", fetched.parts);
    assert_eq!(fetched.parts[0].logical_address, REGION);
    assert_eq!(fetched.parts[0].state, PartState::DataFromSource);
    assert!(fetched.parts[0].last_successful_sync.is_some());
    assert_eq!(fetched.parts[1].state, PartState::NoDataSyncFailed);
    let error = fetched.parts[1].error.as_deref().unwrap();
    assert!(error.contains("VP009"), "{error}");

    sim.set_processing_status(None).unwrap();
    let fetched = source(sim.base_url(), REGION, plain_client())
        .fetch(&tolvan(), Domain::Measurements)
        .await
        .unwrap();
    assert!(fetched.parts.is_empty());
}

#[test]
fn a_processing_status_file_in_the_data_folder_makes_an_aggregating_service() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("processing-status.toml"),
        r#"
[[part]]
logical_address = "SE2321000024-0001"
status = "DataFromCacheSynchFailed"
last_successful_sync = "20261121230000"
last_failed_sync = "20261122081500"
error = { causing_agent = "SourceSystem", code = "VP009", text = "timeout" }
"#,
    )
    .unwrap();
    let data = RivtaData::load_dir(dir.path()).unwrap();
    let parts = data.processing_status().unwrap();
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].status, PartStatusCode::DataFromCacheSynchFailed);

    std::fs::write(
        dir.path().join("processing-status.toml"),
        "[[part]]\nlogical_address = \"x\"\nstatus = \"DataFromSource\"\nlast_successful_sync = \"yesterday\"\n",
    )
    .unwrap();
    let error = RivtaData::load_dir(dir.path()).unwrap_err().to_string();
    assert!(
        error.contains("processing-status.toml") && error.contains("last_successful_sync"),
        "{error}"
    );
}

#[test]
fn a_data_folder_with_a_misnamed_folder_or_file_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("GetMedicationHistory-v2")).unwrap();
    let error = RivtaData::load_dir(dir.path()).unwrap_err().to_string();
    assert!(
        error.contains("GetMedicationHistory-v2") && error.contains("GetLaboratoryOrderOutcome-v3"),
        "{error}"
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("GetCarePlans")).unwrap();
    std::fs::write(dir.path().join("GetCarePlans/tolvan.xml"), "<x/>").unwrap();
    let error = RivtaData::load_dir(dir.path()).unwrap_err().to_string();
    assert!(error.contains("tolvan.xml"), "{error}");
}

#[tokio::test]
async fn answers_set_at_runtime_are_served_to_the_next_request() {
    let sim = rivta::start(RivtaData::new(), vec![REGION.into()], &plain_options()).unwrap();
    let contract = Contract::SubjectOfCareSchedule1;
    let url = format!("{}/{}", sim.base_url(), contract.path());
    let (_, before) = post(&url, request_for(contract, REGION)).await;
    assert!(!before.contains("timeslotDetail"), "{before}");
    sim.set_response(
        sim_contract(contract),
        "191212121212",
        &std::fs::read_to_string(repo_path(
            "sources/demo-data/region-uppsala-npo/GetSubjectOfCareSchedule/191212121212.xml",
        ))
        .unwrap(),
    )
    .unwrap();
    let (status, after) = post(&url, request_for(contract, REGION)).await;
    assert_eq!(status, 200);
    assert_eq!(after.matches("<timeslotDetail>").count(), 2, "{after}");
}

#[tokio::test]
async fn the_simulator_stops_when_its_last_handle_is_dropped() {
    let sim = start_region();
    let addr = sim.addr();
    let clone = sim.clone();
    drop(sim);
    assert!(tokio::net::TcpStream::connect(addr).await.is_ok());
    drop(clone);
    let mut refused = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "the simulator still accepts connections");
}

// ---------------------------------------------------------------------------------------------
// The catalog

#[tokio::test]
async fn the_demo_catalog_starts_a_riv_ta_simulator_for_every_simulated_riv_ta_source() {
    let mut catalog = load_catalog(&repo_path("sources")).unwrap();
    catalog.retain(|e| matches!(e.protocol, ProtocolConfig::RivTa(_)));
    assert!(catalog.len() >= 2, "{catalog:?}");
    let started = overblick::demo::start_simulators(&mut catalog)
        .await
        .unwrap();
    assert!(started.fhir().is_empty());
    assert_eq!(started.rivta().len(), catalog.len());
    for entry in &catalog {
        let base_url = entry.base_url().unwrap();
        let sim = started.rivta_for(base_url).unwrap();
        let ProtocolConfig::RivTa(rivta) = &entry.protocol else {
            unreachable!("only RIV-TA entries are kept")
        };
        assert_eq!(
            sim.logical_addresses(),
            std::slice::from_ref(&rivta.logical_address)
        );
        let source = source(base_url, &rivta.logical_address, plain_client());
        for domain in &entry.domains {
            source.fetch(&tolvan(), *domain).await.unwrap();
        }
        assert_eq!(sim.hits(), entry.domains.len() as u64, "{}", entry.info.id);
    }
}

// ---------------------------------------------------------------------------------------------
// The engagement index

const FIND_CONTENT_NS: &str = "urn:riv:itintegration:engagementindex:FindContentResponder:1";
const ENGAGEMENT_NS: &str = "urn:riv:itintegration:engagementindex:1";

fn find_content(
    logical_address: &str,
    person: &str,
    domain: &str,
    categorization: Option<&str>,
) -> String {
    let categorization = categorization
        .map(|c| format!("<f:categorization>{c}</f:categorization>"))
        .unwrap_or_default();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{}"><s:Header><a:LogicalAddress xmlns:a="{}">{logical_address}</a:LogicalAddress></s:Header><s:Body><f:FindContent xmlns:f="{FIND_CONTENT_NS}"><f:registeredResidentIdentification>{person}</f:registeredResidentIdentification><f:serviceDomain>{domain}</f:serviceDomain>{categorization}</f:FindContent></s:Body></s:Envelope>"#,
        soap::SOAP_ENV,
        soap::REGISTRY_NS,
    )
}

/// The engagements of a FindContent answer, each as (field, value) pairs in document order.
fn engagements(text: &str) -> Vec<Vec<(String, String)>> {
    let doc = Document::parse(text).unwrap();
    let payload = soap::payload(&doc).unwrap();
    assert!(payload.has_tag_name((FIND_CONTENT_NS, "FindContentResponse")));
    let children: Vec<_> = payload.children().filter(|c| c.is_element()).collect();
    assert!(
        children
            .iter()
            .all(|c| c.has_tag_name((FIND_CONTENT_NS, "engagement"))),
        "only engagements, no result: {text}"
    );
    children
        .iter()
        .map(|engagement| {
            engagement
                .children()
                .filter(|c| c.is_element())
                .map(|field| {
                    assert_eq!(field.tag_name().namespace(), Some(ENGAGEMENT_NS));
                    (
                        field.tag_name().name().to_owned(),
                        field.text().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .collect()
}

fn field<'a>(engagement: &'a [(String, String)], name: &str) -> &'a str {
    &engagement.iter().find(|(n, _)| n == name).unwrap().1
}

#[tokio::test]
async fn the_engagement_index_names_the_sources_holding_a_patients_records_in_a_domain() {
    let index = start_engagement_index(&repo_path("sources/registers/engagement-index.toml"))
        .await
        .unwrap();
    let url = index.find_content_url();
    let (status, text) = post(
        &url,
        find_content(
            index.logical_address(),
            "191212121212",
            "riv:clinicalprocess:logistics:logistics",
            Some("cll-cp"),
        ),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let found = engagements(&text);
    let mut addresses: Vec<&str> = found.iter().map(|e| field(e, "logicalAddress")).collect();
    addresses.sort();
    assert_eq!(addresses, [KOMMUN, REGION]);
    let names: Vec<&str> = found[0].iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "registeredResidentIdentification",
            "serviceDomain",
            "categorization",
            "logicalAddress",
            "businessObjectInstanceIdentifier",
            "clinicalProcessInterestId",
            "mostRecentContent",
            "sourceSystem",
            "creationTime",
            "updateTime",
            "dataController",
            "owner"
        ]
    );
    assert_eq!(field(&found[0], "businessObjectInstanceIdentifier"), "NA");
    assert_eq!(field(&found[0], "categorization"), "cll-cp");
    assert_eq!(field(&found[0], "mostRecentContent").len(), 14);
    assert_eq!(index.find_content_hits(), 1);
}

#[tokio::test]
async fn the_engagement_index_leaves_out_a_source_with_nothing_in_the_domain() {
    let index = start_engagement_index(&repo_path("sources/registers/engagement-index.toml"))
        .await
        .unwrap();
    let contract = Contract::MedicationHistory2;
    let (_, text) = post(
        &index.find_content_url(),
        find_content(
            index.logical_address(),
            "191212121212",
            &contract.service_domain(),
            Some(contract.categorization()),
        ),
    )
    .await;
    let found = engagements(&text);
    assert_eq!(found.len(), 1, "{text}");
    assert_eq!(field(&found[0], "logicalAddress"), REGION);

    let (_, text) = post(
        &index.find_content_url(),
        find_content(
            index.logical_address(),
            "202006152397",
            &contract.service_domain(),
            None,
        ),
    )
    .await;
    assert!(engagements(&text).is_empty(), "{text}");
}

#[tokio::test]
async fn the_engagement_index_answers_faults_and_behaviours_like_the_platform() {
    let index = start_engagement_index(&repo_path("sources/registers/engagement-index.toml"))
        .await
        .unwrap();
    let url = index.find_content_url();
    let domain = "riv:crm:scheduling";

    let (status, text) = post(
        &url,
        find_content("SE0000000000-0000", "191212121212", domain, None),
    )
    .await;
    assert_eq!(status, 500);
    assert!(fault_of(&text).1.starts_with("VP004"), "{text}");

    let (status, text) = post(
        &url,
        find_content(index.logical_address(), "191212121212", domain, None)
            .replace("<f:serviceDomain>riv:crm:scheduling</f:serviceDomain>", ""),
    )
    .await;
    assert_eq!(status, 500);
    assert_eq!(fault_of(&text).0, "soap:Client");

    index.set_behaviour(Behaviour::ProtocolError);
    let (status, text) = post(
        &url,
        find_content(index.logical_address(), "191212121212", domain, None),
    )
    .await;
    assert_eq!(status, 500);
    assert_eq!(fault_of(&text).0, "soap:Server");

    index.set_behaviour(Behaviour::Status(502));
    let (status, _) = post(
        &url,
        find_content(index.logical_address(), "191212121212", domain, None),
    )
    .await;
    assert_eq!(status, 502);
    assert_eq!(index.find_content_hits(), 4);
    assert_eq!(index.hits(), 4);

    index.set_behaviour(Behaviour::Normal);
    let (status, _) = post(&format!("{}/other", index.base_url()), String::new()).await;
    assert_eq!(status, 404);
    assert_eq!(index.find_content_hits(), 4);
}

#[tokio::test]
async fn engagements_set_at_runtime_replace_the_register() {
    let index = start_engagement_index(&repo_path("sources/registers/engagement-index.toml"))
        .await
        .unwrap();
    index
        .set_engagements(vec![Engagement {
            person: "202006152397".into(),
            service_domain: "riv:crm:scheduling".into(),
            categorization: "Booking".into(),
            logical_address: REGION.into(),
            source_system: "SE2321000024-1COS".into(),
            most_recent_content: "20261108143000".into(),
            data_controller: None,
            creation_time: None,
            update_time: None,
        }])
        .unwrap();
    let (_, text) = post(
        &index.find_content_url(),
        find_content(
            index.logical_address(),
            "202006152397",
            "riv:crm:scheduling",
            None,
        ),
    )
    .await;
    assert_eq!(engagements(&text).len(), 1, "{text}");
    let (_, text) = post(
        &index.find_content_url(),
        find_content(
            index.logical_address(),
            "191212121212",
            "riv:crm:scheduling",
            None,
        ),
    )
    .await;
    assert!(engagements(&text).is_empty(), "{text}");
    assert!(
        index
            .set_engagements(vec![Engagement {
                person: "tolvan".into(),
                ..index.engagements()[0].clone()
            }])
            .is_err()
    );
}
