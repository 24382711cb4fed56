//! SOAP 1.1 in the RIVTABP21 profile: the request envelope (logical address header, the
//! contract's request element), and reading an answer: the Body's payload, a SOAP fault, the
//! contract's `result`, and the `ProcessingStatus` header of aggregating services.

use quick_xml::escape::escape;
use roxmltree::{Document, Node};

use super::contract::Contract;
use super::xml;
use crate::domain::PersonId;
use crate::sources::{PartState, PartStatus};

pub const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const REGISTRY_NS: &str = "urn:riv:itintegration:registry:1";
pub const HEADERS_NS: &str = "urn:riv:interoperability:headers:1";

/// What a request says besides the contract and the patient.
#[derive(Clone, Debug)]
pub struct RequestParams<'a> {
    /// The `LogicalAddress` header: whom the platform routes the call to.
    pub logical_address: &'a str,
    /// `healthcare_facility` of GetSubjectOfCareSchedule (required by the contract).
    pub healthcare_facility: &'a str,
    /// `interactionAgreementId` of GetObservations (required by the contract).
    pub interaction_agreement_id: &'a str,
}

/// The OID of the patient's identifier type (personnummer or samordningsnummer).
fn person_id_type(patient: &PersonId) -> &'static str {
    let system = patient.identifier_system();
    system.strip_prefix("urn:oid:").unwrap_or(system)
}

/// The SOAP envelope asking `contract` for everything about `patient`.
pub fn request(contract: Contract, patient: &PersonId, params: &RequestParams<'_>) -> String {
    let id = patient.digits();
    let id_type = person_id_type(patient);
    // Each contract's request names the patient in its own core namespace and type.
    let body = match contract {
        Contract::CareContacts3 | Contract::CarePlans2 => person_id_type_body(
            "urn:riv:clinicalprocess:logistics:logistics:3",
            &id,
            id_type,
        ),
        Contract::MedicationHistory2 => person_id_type_body(
            "urn:riv:clinicalprocess:activityprescription:actoutcome:2",
            &id,
            id_type,
        ),
        Contract::LaboratoryOrderOutcome3 => person_id_type_body(
            "urn:riv:clinicalprocess:healthcond:actoutcome:3",
            &id,
            id_type,
        ),
        Contract::LaboratoryOrderOutcome4 => format!(
            r#"<r:patientId xmlns:c="urn:riv:clinicalprocess:healthcond:actoutcome:4"><c:root>{id_type}</c:root><c:extension>{id}</c:extension></r:patientId>"#
        ),
        Contract::Observations1 => format!(
            r#"<r:patientId xmlns:c="urn:riv:clinicalprocess:healthcond:basic:1"><c:root>{id_type}</c:root><c:extension>{id}</c:extension></r:patientId><r:interactionAgreementId>{}</r:interactionAgreementId>"#,
            escape(params.interaction_agreement_id)
        ),
        Contract::SubjectOfCareSchedule1 => format!(
            "<r:healthcare_facility>{}</r:healthcare_facility><r:subject_of_care>{id}</r:subject_of_care>",
            escape(params.healthcare_facility)
        ),
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP_ENV}"><soapenv:Header><a:LogicalAddress xmlns:a="{REGISTRY_NS}">{}</a:LogicalAddress></soapenv:Header><soapenv:Body><r:{} xmlns:r="{}">{body}</r:{}></soapenv:Body></soapenv:Envelope>"#,
        escape(params.logical_address),
        contract.request_element(),
        contract.responder_namespace(),
        contract.request_element(),
    )
}

fn person_id_type_body(core_ns: &str, id: &str, id_type: &str) -> String {
    format!(
        r#"<r:patientId xmlns:c="{core_ns}"><c:id>{id}</c:id><c:type>{id_type}</c:type></r:patientId>"#
    )
}

/// Why an answer carries no payload.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("answered with a SOAP fault: {0}")]
    Fault(String),
    #[error("sent a body that is not a SOAP envelope: {0}")]
    Malformed(String),
}

/// Parses an answer's text as XML (DTDs refused: a source cannot make us expand entities).
pub fn parse(text: &str) -> Result<Document<'_>, EnvelopeError> {
    Document::parse(text).map_err(|e| EnvelopeError::Malformed(e.to_string()))
}

/// The Body's payload element, or the fault the Body carries instead.
pub fn payload<'a, 'i>(doc: &'a Document<'i>) -> Result<Node<'a, 'i>, EnvelopeError> {
    let envelope = doc.root_element();
    if envelope.tag_name().name() != "Envelope" {
        return Err(EnvelopeError::Malformed(format!(
            "the root element is <{}>, not <Envelope>",
            envelope.tag_name().name()
        )));
    }
    let body = xml::child(envelope, "Body")
        .ok_or_else(|| EnvelopeError::Malformed("the envelope has no <Body>".into()))?;
    let payload = body
        .children()
        .find(|c| c.is_element())
        .ok_or_else(|| EnvelopeError::Malformed("the <Body> is empty".into()))?;
    if payload.tag_name().name() == "Fault" {
        return Err(EnvelopeError::Fault(fault_text(payload)));
    }
    Ok(payload)
}

/// A fault's code and text, on one line (SOAP 1.1 `faultcode`/`faultstring`; SOAP 1.2
/// `Code/Value` and `Reason/Text` too).
fn fault_text(fault: Node<'_, '_>) -> String {
    let code = xml::text(fault, "faultcode").or_else(|| xml::text_at(fault, &["Code", "Value"]));
    let reason =
        xml::text(fault, "faultstring").or_else(|| xml::text_at(fault, &["Reason", "Text"]));
    let line = match (code, reason) {
        (Some(c), Some(r)) => format!("{c}: {r}"),
        (Some(c), None) => c.to_owned(),
        (None, Some(r)) => r.to_owned(),
        (None, None) => "no fault code or text".to_owned(),
    };
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The contract's `result`, when it reports an error (`resultCode` ERROR): its code and message.
pub fn result_error(payload: Node<'_, '_>) -> Option<String> {
    let result = xml::child(payload, "result")?;
    if xml::text(result, "resultCode") != Some("ERROR") {
        return None;
    }
    let parts: Vec<&str> = ["errorCode", "subCode", "message"]
        .iter()
        .filter_map(|n| xml::text(result, n))
        .collect();
    Some(if parts.is_empty() {
        "resultCode ERROR".to_owned()
    } else {
        parts.join(": ")
    })
}

/// The `ProcessingStatus` records in the header: one per source system an aggregating service
/// asked. Empty when the header has none (a producer answering for itself).
pub fn processing_status(doc: &Document<'_>) -> Vec<PartStatus> {
    let Some(header) = xml::child(doc.root_element(), "Header") else {
        return Vec::new();
    };
    let Some(status) = xml::child(header, "ProcessingStatus") else {
        return Vec::new();
    };
    xml::children(status, "ProcessingStatusList")
        .filter_map(|record| {
            let logical_address = xml::string(record, "logicalAddress")?;
            let state = match xml::text(record, "statusCode") {
                Some("DataFromSource") => PartState::DataFromSource,
                Some("DataFromCache") => PartState::DataFromCache,
                Some("DataFromCacheSynchFailed") => PartState::DataFromCacheSyncFailed,
                Some("NoDataSynchFailed") => PartState::NoDataSyncFailed,
                _ => PartState::Unknown,
            };
            let error = xml::child(record, "lastUnsuccessfulSynchError").map(|e| {
                ["causingAgent", "code", "text"]
                    .iter()
                    .filter_map(|n| xml::text(e, n))
                    .collect::<Vec<_>>()
                    .join(": ")
            });
            Some(PartStatus {
                logical_address,
                state,
                last_successful_sync: xml::timestamp_of(record, "lastSuccessfulSynch"),
                last_failed_sync: xml::timestamp_of(record, "lastUnsuccessfulSynch"),
                error: error.filter(|e| !e.is_empty()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tolvan() -> PersonId {
        PersonId::parse("191212121212").unwrap()
    }

    fn params() -> RequestParams<'static> {
        RequestParams {
            logical_address: "SE2321000024-0001",
            healthcare_facility: "SE2321000024-GOT001",
            interaction_agreement_id: "00000000-0000-0000-0000-000000000000",
        }
    }

    #[test]
    fn a_request_carries_the_logical_address_and_the_patient() {
        let text = request(Contract::MedicationHistory2, &tolvan(), &params());
        let doc = parse(&text).unwrap();
        let header = xml::child(doc.root_element(), "Header").unwrap();
        let address = xml::child(header, "LogicalAddress").unwrap();
        assert_eq!(address.tag_name().namespace(), Some(REGISTRY_NS));
        assert_eq!(xml::own_text(address), Some("SE2321000024-0001"));
        let payload = payload(&doc).unwrap();
        assert_eq!(payload.tag_name().name(), "GetMedicationHistory");
        assert_eq!(
            xml::text_at(payload, &["patientId", "id"]),
            Some("191212121212")
        );
        assert_eq!(
            xml::text_at(payload, &["patientId", "type"]),
            Some("1.2.752.129.2.1.3.1")
        );
    }

    #[test]
    fn a_fault_names_its_code_and_text() {
        let text = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Server</faultcode><faultstring>
            Timeout   in producer</faultstring></s:Fault></s:Body></s:Envelope>"#;
        let doc = parse(text).unwrap();
        assert_eq!(
            payload(&doc).unwrap_err(),
            EnvelopeError::Fault("s:Server: Timeout in producer".into())
        );
    }

    #[test]
    fn a_body_that_is_not_an_envelope_is_malformed() {
        let doc = parse("<html><body>502</body></html>").unwrap();
        assert!(matches!(payload(&doc), Err(EnvelopeError::Malformed(_))));
        assert!(matches!(
            parse("<a><b></a>"),
            Err(EnvelopeError::Malformed(_))
        ));
    }
}
