//! The RIV-TA adapter on the real, public example messages in `tests/data/riv-ta` (see its
//! SOURCES.md): every example response is read through `read_answer` as an answer from the
//! service platform would be, none fails, and the normalised items (with what the mapping left
//! out) are snapshotted per file in `tests/snapshots/rivta/`.
//!
//! Several examples are invalid against their own schemas (SOURCES.md lists how); they are read
//! as they are. Three adjustments make them answers at all, each done here and nowhere else:
//! - a bare payload (no SOAP envelope) is put into one, after dropping what may not stand
//!   inside it (a byte-order mark, an XML declaration);
//! - the SoapUI mock's `${patientId}` / `${patientIdType}` are filled in with the patient, as
//!   SoapUI does when it serves the mock;
//! - the generated schedule samples name their patient `tns1:subject_of_care`: read once as they
//!   are (no booking may be shown: that is not this patient's number) and once with the
//!   patient's number in its place, to see the rest of their mapping.
//!
//! There are no example responses for `GetCarePlans` or `GetLaboratoryOrderOutcome`.

use std::path::{Path, PathBuf};

use overblick::domain::{DomainItems, HsaId, Organisation, PersonId};
use overblick::sources::rivta::map::{Ctx, map_payload};
use overblick::sources::rivta::{Contract, read_answer, soap};
use overblick::sources::{Fetched, PartState, SourceError, SourceInfo};
use serde_json::{Value, json};

fn info() -> SourceInfo {
    SourceInfo {
        id: "npo-test".into(),
        name: "NPÖ (test)".into(),
        system: Some("Nationell patientöversikt".into()),
        care_provider: Organisation {
            name: Some("Region Norrbotten".into()),
            hsa_id: Some(HsaId::parse("SE2321000230-1016").unwrap()),
        },
        default_care_unit: None,
    }
}

fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/riv-ta")
        .join(path)
}

/// The file as an answer body: as it is when it is a SOAP envelope, else wrapped in one.
fn answer_body(text: &str) -> String {
    let text = text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    let text = match text.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map_or(rest, |(_, payload)| payload),
        None => text,
    };
    if text.trim_start().starts_with("<soapenv:Envelope") {
        text.to_owned()
    } else {
        format!(
            r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>{text}</soapenv:Body></soapenv:Envelope>"#
        )
    }
}

/// Reads `body` as an HTTP 200 answer of `contract` for `patient`; panics when it fails.
fn read(contract: Contract, body: &str, patient: &str) -> Fetched {
    let patient = PersonId::parse(patient).unwrap();
    read_answer(contract, 200, body.as_bytes(), &patient, &info())
        .unwrap_or_else(|e| panic!("{}: {e}", contract.label()))
}

/// What the snapshot holds: the items, the parts an aggregating service reported, and what the
/// mapping left out (from a second mapping of the same payload, which `read_answer` only logs).
fn summary(contract: Contract, body: &str, patient: &str) -> Value {
    let fetched = read(contract, body, patient);
    let doc = soap::parse(body).unwrap();
    let payload = soap::payload(&doc).unwrap();
    let info = info();
    let person = PersonId::parse(patient).unwrap();
    let mut cx = Ctx::new(&person, &info, chrono::Utc::now());
    let again = map_payload(contract, payload, &mut cx);
    assert_eq!(again.len(), fetched.items.len());
    let parts: Vec<Value> = fetched
        .parts
        .iter()
        .map(|p| json!({ "logical_address": p.logical_address, "state": format!("{:?}", p.state) }))
        .collect();
    json!({
        "contract": contract.label(),
        "items": fetched.items,
        "parts": parts,
        "skipped": cx.stats.skipped,
        "nullified": cx.stats.nullified,
    })
}

fn snapshot(name: &str, value: Value) {
    insta::with_settings!({
        snapshot_path => "snapshots/rivta",
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_yaml_snapshot!(name, value, {
            ".items.items[].provenance.fetched_at" => "[fetched_at]",
        });
    });
}

fn file(path: &str) -> String {
    std::fs::read_to_string(data(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_care_contacts_example_is_read_and_its_v2_shaped_contact_left_out() {
    let body = answer_body(&file(
        "GetCareContacts/examples/GetCareContactsResponse-example.xml",
    ));
    let value = summary(Contract::CareContacts3, &body, "198611062384");
    // The example is written in the v2 schema's shape: no documentId (a careContactId
    // instead), `sourceSystemHSAid`: no key, so the care contact is left out and counted.
    assert_eq!(value["items"]["items"], json!([]));
    assert_eq!(value["skipped"]["careContact"], 1);
    snapshot("GetCareContactsResponse-example", value);
}

#[test]
fn the_medication_history_mock_is_read() {
    let body = file(
        "GetMedicationHistory/examples/GetMedicationHistoryResponse-mock-BasicTestcase.soap.xml",
    )
    .replace("${patientId}", "191212121212")
    .replace("${patientIdType}", "1.2.752.129.2.1.3.1");
    let value = summary(
        Contract::MedicationHistory2,
        &answer_body(&body),
        "191212121212",
    );
    let items = value["items"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    for item in items {
        // "Utsättning" (the word, not the schema's U) and an end in 2012: ended.
        assert_eq!(item["item"]["status"], "ENDED");
        assert_eq!(item["item"]["record_kind"], "PRESCRIPTION");
    }
    snapshot("GetMedicationHistoryResponse-mock-BasicTestcase", value);
}

#[test]
fn the_empty_medication_history_mock_is_an_empty_answer() {
    let body = file(
        "GetMedicationHistory/examples/GetMedicationHistoryResponse-mock-EmptyResponse.soap.xml",
    );
    let fetched = read(Contract::MedicationHistory2, &body, "191212121212");
    assert!(matches!(fetched.items, DomainItems::Medications(ref v) if v.is_empty()));
    assert!(fetched.parts.is_empty());
}

#[test]
fn the_soap_fault_mock_is_an_error_naming_the_contract() {
    let body =
        file("GetMedicationHistory/examples/GetMedicationHistoryResponse-mock-SoapFault.soap.xml");
    let patient = PersonId::parse("191212121212").unwrap();
    for status in [500, 200] {
        let error = read_answer(
            Contract::MedicationHistory2,
            status,
            body.as_bytes(),
            &patient,
            &info(),
        )
        .unwrap_err();
        let message = error.to_string();
        assert!(message.contains("GetMedicationHistory v2"), "{message}");
        assert!(message.contains("That's an error!"), "{message}");
        match (status, error) {
            (500, SourceError::Status { status: 500, .. }) | (200, SourceError::Reported(_)) => {}
            (status, other) => panic!("HTTP {status}: {other:?}"),
        }
    }
}

#[test]
fn a_request_example_is_not_taken_for_an_answer() {
    let body = file("GetMedicationHistory/examples/GetMedicationHistory-request.soap.xml");
    let patient = PersonId::parse("191212121212").unwrap();
    let error = read_answer(
        Contract::MedicationHistory2,
        200,
        body.as_bytes(),
        &patient,
        &info(),
    )
    .unwrap_err();
    assert!(
        matches!(error, SourceError::InvalidResponse(_)),
        "{error:?}"
    );
}

#[test]
fn the_official_weight_and_length_example_is_read() {
    let body = answer_body(&file(
        "GetObservations/examples/Exempel_GetObservationsResponse_vikt_langd.xml",
    ));
    let value = summary(Contract::Observations1, &body, "191212121212");
    let items = value["items"]["items"].as_array().unwrap();
    let names: Vec<&str> = items
        .iter()
        .map(|i| i["item"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Kroppslängd", "Kroppsvikt"]);
    snapshot("Exempel_GetObservationsResponse_vikt_langd", value);
}

#[test]
fn the_aggregated_observations_example_reports_its_three_source_systems() {
    let body = file(
        "GetObservations/examples/GetAggregatedObservationsResponse-with-ProcessingStatus.soap.xml",
    );
    let fetched = read(Contract::Observations1, &body, "121212121212");
    let addresses: Vec<&str> = fetched
        .parts
        .iter()
        .map(|p| p.logical_address.as_str())
        .collect();
    assert_eq!(addresses, ["HSA-ID-4", "HSA-ID-6", "HSA-ID-5"]);
    assert!(
        fetched
            .parts
            .iter()
            .all(|p| p.state == PartState::DataFromSource)
    );
    let value = summary(Contract::Observations1, &body, "121212121212");
    assert_eq!(value["items"]["items"].as_array().unwrap().len(), 3);
    snapshot(
        "GetAggregatedObservationsResponse-with-ProcessingStatus",
        value,
    );
}

#[test]
fn the_schedule_samples_are_read_and_show_nothing_for_a_placeholder_patient() {
    for sample in ["1.0", "1.1"] {
        let path = format!(
            "GetSubjectOfCareSchedule/schemas/interactions/GetSubjectOfCareScheduleInteraction/GetSubjectOfCareScheduleResponder_{sample}_Response.xml"
        );
        let text = file(&path);
        let as_is = read(
            Contract::SubjectOfCareSchedule1,
            &answer_body(&text),
            "191212121212",
        );
        assert!(as_is.items.is_empty(), "{sample}: {:?}", as_is.items);

        let filled = text.replace(">tns1:subject_of_care<", ">191212121212<");
        let value = summary(
            Contract::SubjectOfCareSchedule1,
            &answer_body(&filled),
            "191212121212",
        );
        snapshot(
            &format!("GetSubjectOfCareScheduleResponder_{sample}_Response"),
            value,
        );
    }
}
