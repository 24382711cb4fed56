//! Everything the RIV-TA simulator answers is what a real producer may answer: each answer is
//! fetched over HTTP from a running simulator, its SOAP Body payload is cut out, and `xmllint`
//! validates it against the contract's real Responder XSD in `tests/data/riv-ta/`. Covered: every
//! demo data file as served, every contract's empty answer, and an aggregating service's answer.
//! What has no XSD here (the SOAP fault, the `ProcessingStatus` header) is checked by structure.
//!
//! Without `xmllint` the validating tests print why and pass, unless `CI` is set: then they fail
//! (`.ci/run` installs it).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use overblick::config::catalog::ProtocolConfig;
use overblick::config::load_catalog;
use overblick::domain::PersonId;
use overblick::sources::rivta::{Contract, soap};
use overblick_simulators::rivta;
use overblick_simulators::{
    Behaviour, PartStatusCode, ProcessingPart, RivtaData, RivtaHandle, ServerOptions, SyncError,
};
use roxmltree::Document;

/// The simulator's name for a contract the adapter asks: the two state the contracts
/// independently, and meet at the contract's address.
fn sim_contract(contract: Contract) -> overblick_simulators::Contract {
    overblick_simulators::Contract::from_path(&contract.path())
        .expect("the simulator serves every contract the adapter asks")
}

const REGION: &str = "SE2321000024-0001";
const NIL_UUID: &str = "00000000-0000-0000-0000-000000000000";

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The real Responder XSD of each contract, in the layout its imports expect.
fn responder_xsd(contract: Contract) -> PathBuf {
    let (folder, file) = match contract {
        Contract::CareContacts3 => ("GetCareContacts", "GetCareContactsResponder_3.0.xsd"),
        Contract::CarePlans2 => ("GetCarePlans", "GetCarePlansResponder_2.0.xsd"),
        Contract::MedicationHistory2 => (
            "GetMedicationHistory",
            "GetMedicationHistoryResponder_2.1.xsd",
        ),
        Contract::Observations1 => ("GetObservations", "GetObservationsResponder_1.1.xsd"),
        Contract::LaboratoryOrderOutcome4 => (
            "GetLaboratoryOrderOutcome",
            "GetLaboratoryOrderOutcomeResponder_4.0.xsd",
        ),
        Contract::LaboratoryOrderOutcome3 => (
            "GetLaboratoryOrderOutcome",
            "GetLaboratoryOrderOutcomeResponder_3.1.xsd",
        ),
        Contract::SubjectOfCareSchedule1 => (
            "GetSubjectOfCareSchedule",
            "GetSubjectOfCareScheduleResponder_1.1.xsd",
        ),
    };
    repo_path(&format!(
        "tests/data/riv-ta/{folder}/schemas/interactions/{}Interaction/{file}",
        contract.name()
    ))
}

/// Whether `xmllint` can run; without it the caller skips, except on CI.
fn xmllint_available(test: &str) -> bool {
    let found = Command::new("xmllint")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: xmllint is required on CI (apt-get install libxml2-utils)"
        );
        // Straight to stderr: the test harness captures `eprintln!` of passing tests, and a
        // skip must be seen.
        let _ = writeln!(
            std::io::stderr(),
            "{test}: SKIPPED, xmllint is not installed (apt-get install libxml2-utils)"
        );
    }
    found
}

/// Validates `payload` against `contract`'s Responder XSD; the error is xmllint's report.
fn validate(contract: Contract, payload: &str, what: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("payload.xml");
    std::fs::write(&file, payload).unwrap();
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--nonet")
        .arg("--schema")
        .arg(responder_xsd(contract))
        .arg(&file)
        .output()
        .expect("xmllint runs");
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} ({}) is not valid against {}:\n{}",
            contract.label(),
            responder_xsd(contract).display(),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// POSTs `contract`'s request for `person` and returns the HTTP status and the answer.
async fn ask(
    sim: &RivtaHandle,
    contract: Contract,
    person: &str,
    logical_address: &str,
) -> (u16, String) {
    let body = soap::request(
        contract,
        &PersonId::parse(person).unwrap(),
        &soap::RequestParams {
            logical_address,
            healthcare_facility: "SE2321000024-GOT001",
            interaction_agreement_id: NIL_UUID,
        },
    );
    let response = reqwest::Client::new()
        .post(format!("{}/{}", sim.base_url(), contract.path()))
        .header("Content-Type", "text/xml; charset=utf-8")
        .header("SOAPAction", format!("\"{}\"", contract.soap_action()))
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(content_type.starts_with("text/xml"), "{content_type}");
    (status, response.text().await.unwrap())
}

/// The SOAP Body's payload element, as sent.
fn body_payload(answer: &str) -> String {
    let doc = Document::parse(answer).unwrap();
    let payload = soap::payload(&doc).unwrap_or_else(|e| panic!("{e}: {answer}"));
    answer[payload.range()].to_owned()
}

/// The response element of a data file, as written (without the XML declaration).
fn file_payload(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let doc = Document::parse(&text).unwrap();
    text[doc.root_element().range()].to_owned()
}

/// One data file of a RIV-TA demo source.
struct DemoFile {
    source: String,
    logical_address: String,
    contract: Contract,
    person: String,
    path: PathBuf,
}

fn demo_files(catalog: &[overblick::config::SourceEntry]) -> Vec<DemoFile> {
    let mut files = Vec::new();
    for entry in catalog {
        let data_dir = &entry.simulator.as_ref().unwrap().data_dir;
        for contract in Contract::ALL {
            let dir = data_dir.join(sim_contract(contract).folder_name());
            let Ok(read) = std::fs::read_dir(&dir) else {
                continue;
            };
            for file in read {
                let path = file.unwrap().path();
                files.push(DemoFile {
                    source: entry.info.id.clone(),
                    logical_address: rivta_config(entry).logical_address.clone(),
                    contract,
                    person: path.file_stem().unwrap().to_string_lossy().into_owned(),
                    path,
                });
            }
        }
    }
    files
}

/// A RIV-TA catalog entry's protocol table.
fn rivta_config(entry: &overblick::config::SourceEntry) -> &overblick::sources::rivta::RivtaConfig {
    match &entry.protocol {
        ProtocolConfig::RivTa(config) => config,
        other => panic!("{} is a {} source", entry.info.id, other.name()),
    }
}

#[tokio::test]
async fn every_demo_answer_the_simulator_serves_is_valid_against_its_responder_schema() {
    if !xmllint_available("every_demo_answer") {
        return;
    }
    let mut catalog = load_catalog(&repo_path("sources")).unwrap();
    catalog.retain(|e| matches!(e.protocol, ProtocolConfig::RivTa(_)));
    assert!(catalog.len() >= 2, "the demo has RIV-TA sources");
    let started = overblick::demo::start_simulators(&mut catalog)
        .await
        .unwrap();
    let files = demo_files(&catalog);
    assert!(files.len() >= 10, "{} demo files", files.len());

    let mut failures = Vec::new();
    for file in &files {
        let entry = catalog.iter().find(|e| e.info.id == file.source).unwrap();
        let sim = started.rivta_for(entry.base_url().unwrap()).unwrap();
        let (status, answer) = ask(&sim, file.contract, &file.person, &file.logical_address).await;
        assert_eq!(status, 200, "{}: {answer}", file.source);
        let payload = body_payload(&answer);
        assert_eq!(
            payload,
            file_payload(&file.path),
            "{} {}: the file's answer is served as written",
            file.source,
            file.contract.label()
        );
        let what = format!(
            "{}/{}/{}.xml",
            file.source,
            sim_contract(file.contract).folder_name(),
            file.person
        );
        if let Err(e) = validate(file.contract, &payload, &what) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn every_contracts_empty_answer_is_valid_against_its_responder_schema() {
    if !xmllint_available("every_contracts_empty_answer") {
        return;
    }
    let sim = rivta::start(
        RivtaData::new(),
        vec![REGION.into()],
        &ServerOptions::default(),
    )
    .unwrap();
    let mut failures = Vec::new();
    for contract in Contract::ALL {
        let (status, answer) = ask(&sim, contract, "196003012389", REGION).await;
        assert_eq!(status, 200, "{answer}");
        let payload = body_payload(&answer);
        if let Err(e) = validate(contract, &payload, "the empty answer") {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(sim.hits(), Contract::ALL.len() as u64);
}

#[tokio::test]
async fn an_aggregating_services_answer_has_a_valid_body_and_a_processing_status_header() {
    let sim = rivta::start(
        RivtaData::load_dir(&repo_path("sources/demo-data/region-uppsala-npo")).unwrap(),
        vec![REGION.into()],
        &ServerOptions::default(),
    )
    .unwrap();
    sim.set_processing_status(Some(vec![
        ProcessingPart::from_source(REGION, "20261122081500"),
        ProcessingPart {
            logical_address: "SE2120003005-0001".into(),
            status: PartStatusCode::DataFromCacheSynchFailed,
            last_successful_sync: Some("20261121230000".into()),
            last_failed_sync: Some("20261122081500".into()),
            error: Some(SyncError {
                causing_agent: "SourceSystem".into(),
                code: "VP009".into(),
                text: "Tidsgränsen överskreds & inget svar".into(),
            }),
        },
    ]))
    .unwrap();
    let contract = Contract::Observations1;
    let (status, answer) = ask(&sim, contract, "191212121212", REGION).await;
    assert_eq!(status, 200);

    // The header, by structure: no XSD for it is in the test data.
    let doc = Document::parse(&answer).unwrap();
    let header = doc
        .root_element()
        .children()
        .find(|c| c.has_tag_name((soap::SOAP_ENV, "Header")))
        .expect("a SOAP header");
    let status_block = header
        .children()
        .find(|c| c.is_element())
        .expect("a header block");
    assert!(status_block.has_tag_name((soap::HEADERS_NS, "ProcessingStatus")));
    let lists: Vec<_> = status_block.children().filter(|c| c.is_element()).collect();
    assert_eq!(lists.len(), 2);
    let fields = |n: usize| -> Vec<(String, String)> {
        lists[n]
            .children()
            .filter(|c| c.is_element())
            .map(|c| {
                assert_eq!(c.tag_name().namespace(), Some(soap::HEADERS_NS));
                (
                    c.tag_name().name().to_owned(),
                    c.text().unwrap_or("").to_owned(),
                )
            })
            .collect()
    };
    assert!(
        lists
            .iter()
            .all(|l| l.has_tag_name((soap::HEADERS_NS, "ProcessingStatusList")))
    );
    let fresh = fields(0);
    assert_eq!(
        fresh,
        [
            ("logicalAddress".to_owned(), REGION.to_owned()),
            ("statusCode".to_owned(), "DataFromSource".to_owned()),
            ("isResponseFromCache".to_owned(), "false".to_owned()),
            ("isResponseInSynch".to_owned(), "true".to_owned()),
            (
                "lastSuccessfulSynch".to_owned(),
                "20261122081500".to_owned()
            ),
        ]
    );
    let failed = fields(1);
    let names: Vec<&str> = failed.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "logicalAddress",
            "statusCode",
            "isResponseFromCache",
            "isResponseInSynch",
            "lastSuccessfulSynch",
            "lastUnsuccessfulSynch",
            "lastUnsuccessfulSynchError"
        ]
    );
    let error = lists[1]
        .children()
        .find(|c| c.has_tag_name((soap::HEADERS_NS, "lastUnsuccessfulSynchError")))
        .unwrap();
    let error_fields: Vec<(&str, &str)> = error
        .children()
        .filter(|c| c.is_element())
        .map(|c| (c.tag_name().name(), c.text().unwrap_or("")))
        .collect();
    assert_eq!(
        error_fields,
        [
            ("causingAgent", "SourceSystem"),
            ("code", "VP009"),
            ("text", "Tidsgränsen överskreds & inget svar")
        ]
    );
    // The adapter reads it the same way.
    let parts = soap::processing_status(&doc);
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[1].logical_address, "SE2120003005-0001");

    // The body is unchanged by the header.
    if xmllint_available("an_aggregating_services_answer (validating its body)") {
        validate(contract, &body_payload(&answer), "the aggregated answer").unwrap();
    }
}

#[tokio::test]
async fn a_fault_is_a_soap_1_1_fault_with_http_500() {
    let sim = rivta::start(
        RivtaData::new(),
        vec![REGION.into()],
        &ServerOptions::default(),
    )
    .unwrap();
    let contract = Contract::CarePlans2;
    let mut answers = Vec::new();
    sim.set_behaviour(Behaviour::ProtocolError);
    answers.push((
        "the fault behaviour",
        ask(&sim, contract, "191212121212", REGION).await,
    ));
    sim.set_behaviour(Behaviour::Normal);
    answers.push((
        "an unknown logical address",
        ask(&sim, contract, "191212121212", "SE2321000016-0001").await,
    ));
    for (case, (status, answer)) in answers {
        assert_eq!(status, 500, "{case}");
        let doc = Document::parse(&answer).unwrap();
        let envelope = doc.root_element();
        assert!(
            envelope.has_tag_name((soap::SOAP_ENV, "Envelope")),
            "{case}"
        );
        let body = envelope.children().find(|c| c.is_element()).unwrap();
        assert!(
            body.has_tag_name((soap::SOAP_ENV, "Body")),
            "{case}: no header before the body"
        );
        let fault = body.children().find(|c| c.is_element()).unwrap();
        assert!(fault.has_tag_name((soap::SOAP_ENV, "Fault")), "{case}");
        // SOAP 1.1: faultcode, then faultstring, both unqualified; the code a QName in the
        // envelope namespace.
        let parts: Vec<_> = fault.children().filter(|c| c.is_element()).collect();
        let names: Vec<(&str, Option<&str>)> = parts
            .iter()
            .map(|c| (c.tag_name().name(), c.tag_name().namespace()))
            .collect();
        assert_eq!(
            names,
            [("faultcode", None), ("faultstring", None)],
            "{case}"
        );
        let code = parts[0].text().unwrap();
        let (prefix, local) = code.split_once(':').unwrap();
        assert_eq!(
            parts[0].lookup_namespace_uri(Some(prefix)),
            Some(soap::SOAP_ENV)
        );
        assert!(["Client", "Server"].contains(&local), "{case}: {code}");
        assert!(!parts[1].text().unwrap_or("").is_empty(), "{case}");
        // The adapter reads it as a fault.
        assert!(matches!(
            soap::payload(&doc),
            Err(soap::EnvelopeError::Fault(_))
        ));
    }
}
