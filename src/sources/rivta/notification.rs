//! Reading the engagement index's update notification (`ProcessNotification` 1, rivtabp21,
//! SOAP 1.1) and writing its answer. Pure: no I/O.
//!
//! The platform calls `ProcessNotification` on every subscriber after the index changed: one
//! `engagementTransaction` per changed engagement, each a `deleteFlag` and an `engagement`
//! (`registeredResidentIdentification`, `serviceDomain`, `categorization`, `logicalAddress`,
//! `businessObjectInstanceIdentifier`, `clinicalProcessInterestId`, `sourceSystem`,
//! `dataController`, `owner`, `mostRecentContent`, `creationTime`, `updateTime`), at most 1000
//! per request. The answer is `ProcessNotificationResponse` with `ResultCode` `OK` or `ERROR`
//! and an optional `Comment`.
//!
//! Verified against Inera's reference implementation of the engagement index (SKLTP EI,
//! `se.skltp.ei`: `CreateNotificationListTransformer` fills
//! `ProcessNotificationType.getEngagementTransaction()`; `ProcessBean` reads
//! `EngagementTransactionType.getEngagement()` and the engagement's fields named above, and
//! answers `ProcessNotificationResponseType` with `getResultCode()` of `ResultCodeEnum` OK),
//! which is generated from `ProcessNotificationResponder_1.0.xsd` and
//! `itintegration_engagementindex_1.0.xsd`. Not verified against the XSD text itself (not
//! vendored here): the spelling of `Comment` and the responder namespace's element names are
//! taken from the contract's naming pattern, so elements are read by local name, leniently.

use quick_xml::escape::escape;

use super::soap::{self, EnvelopeError, SOAP_ENV};
use super::xml;
use crate::domain::PersonId;

/// The ProcessNotification responder namespace.
pub const PROCESS_NOTIFICATION_NS: &str =
    "urn:riv:itintegration:engagementindex:ProcessNotificationResponder:1";

/// The most engagement transactions one notification may carry (the contract's limit).
pub const MAX_TRANSACTIONS: usize = 1000;

/// One changed engagement: whose records, in which service domain and categorisation, at which
/// system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngagementChange {
    pub patient: PersonId,
    /// The engagement was removed (the source no longer holds such records).
    pub deleted: bool,
    pub service_domain: String,
    pub categorization: Option<String>,
    /// The `logicalAddress` and `sourceSystem` named (either may name a catalog source).
    pub addresses: Vec<String>,
}

/// Why a request is not a notification we can read. Never echoes values (they hold
/// personnummer).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(pub String);

/// Reads a ProcessNotification request.
pub fn read(body: &[u8]) -> Result<Vec<EngagementChange>, Unreadable> {
    let text = std::str::from_utf8(body).map_err(|_| Unreadable("the body is not UTF-8".into()))?;
    let doc = soap::parse(text).map_err(|e| Unreadable(describe(&e)))?;
    let payload = soap::payload(&doc).map_err(|e| Unreadable(describe(&e)))?;
    if payload.tag_name().name() != "ProcessNotification" {
        return Err(Unreadable(format!(
            "the body holds <{}>, not <ProcessNotification>",
            safe_name(payload.tag_name().name())
        )));
    }
    let transactions: Vec<_> = xml::children(payload, "engagementTransaction").collect();
    if transactions.is_empty() {
        return Err(Unreadable(
            "the notification holds no engagementTransaction".into(),
        ));
    }
    if transactions.len() > MAX_TRANSACTIONS {
        return Err(Unreadable(format!(
            "the notification holds more than {MAX_TRANSACTIONS} engagementTransactions"
        )));
    }
    let mut changes = Vec::with_capacity(transactions.len());
    for (n, transaction) in transactions.into_iter().enumerate() {
        let at = n + 1;
        let engagement = xml::child(transaction, "engagement")
            .ok_or_else(|| Unreadable(format!("engagementTransaction {at} has no engagement")))?;
        let patient = xml::text(engagement, "registeredResidentIdentification")
            .ok_or_else(|| {
                Unreadable(format!(
                    "engagementTransaction {at}: no registeredResidentIdentification"
                ))
            })
            .and_then(|id| {
                PersonId::parse(id.trim()).map_err(|_| {
                    Unreadable(format!(
                        "engagementTransaction {at}: registeredResidentIdentification is not a valid personnummer or samordningsnummer"
                    ))
                })
            })?;
        let service_domain = xml::text(engagement, "serviceDomain")
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .ok_or_else(|| Unreadable(format!("engagementTransaction {at}: no serviceDomain")))?
            .to_owned();
        let deleted = match xml::text(transaction, "deleteFlag") {
            None => false,
            Some(flag) => xml::boolean(flag.trim()).ok_or_else(|| {
                Unreadable(format!(
                    "engagementTransaction {at}: deleteFlag is not a boolean"
                ))
            })?,
        };
        let addresses = ["logicalAddress", "sourceSystem"]
            .into_iter()
            .filter_map(|field| xml::text(engagement, field))
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect();
        changes.push(EngagementChange {
            patient,
            deleted,
            service_domain,
            categorization: xml::text(engagement, "categorization")
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty()),
            addresses,
        });
    }
    Ok(changes)
}

/// An element name fit to repeat in a message: short and plain.
fn safe_name(name: &str) -> &str {
    if name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric()) {
        name
    } else {
        "?"
    }
}

fn describe(e: &EnvelopeError) -> String {
    match e {
        EnvelopeError::Fault(_) => "the body is a SOAP fault, not a request".into(),
        _ => "the body is not a SOAP 1.1 envelope with a request in its Body".into(),
    }
}

/// The `ProcessNotificationResponse`: `OK`, or `ERROR` with `comment`.
pub fn response(error: Option<&str>) -> String {
    let (code, comment) = match error {
        None => ("OK", String::new()),
        Some(text) => ("ERROR", format!("<r:Comment>{}</r:Comment>", escape(text))),
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP_ENV}"><soapenv:Body><r:ProcessNotificationResponse xmlns:r="{PROCESS_NOTIFICATION_NS}"><r:ResultCode>{code}</r:ResultCode>{comment}</r:ProcessNotificationResponse></soapenv:Body></soapenv:Envelope>"#
    )
}

/// A SOAP 1.1 fault: `Client` for a request that cannot be used, with a stable code first.
pub fn fault(code: &str, text: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP_ENV}"><soapenv:Body><soapenv:Fault><faultcode>soapenv:Client</faultcode><faultstring>{code}: {}</faultstring></soapenv:Fault></soapenv:Body></soapenv:Envelope>"#,
        escape(text)
    )
}

/// A ProcessNotification request, as the platform sends it (the demo's and the tests'
/// simulated platform, and this module's tests).
pub fn request(logical_address: &str, changes: &[EngagementChange]) -> String {
    let mut transactions = String::new();
    for change in changes {
        let addresses = change
            .addresses
            .first()
            .map(String::as_str)
            .unwrap_or_default();
        let system = change.addresses.get(1).map_or(addresses, String::as_str);
        transactions.push_str(&format!(
            "<r:engagementTransaction><e:deleteFlag>{}</e:deleteFlag><e:engagement>\
             <e:registeredResidentIdentification>{}</e:registeredResidentIdentification>\
             <e:serviceDomain>{}</e:serviceDomain><e:categorization>{}</e:categorization>\
             <e:logicalAddress>{}</e:logicalAddress><e:businessObjectInstanceIdentifier>NA</e:businessObjectInstanceIdentifier>\
             <e:clinicalProcessInterestId>NA</e:clinicalProcessInterestId><e:sourceSystem>{}</e:sourceSystem>\
             <e:dataController>{}</e:dataController></e:engagement></r:engagementTransaction>",
            change.deleted,
            change.patient.digits(),
            escape(&change.service_domain),
            escape(change.categorization.as_deref().unwrap_or_default()),
            escape(addresses),
            escape(system),
            escape(addresses),
        ));
    }
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP_ENV}"><soapenv:Header><a:LogicalAddress xmlns:a="{}">{}</a:LogicalAddress></soapenv:Header><soapenv:Body><r:ProcessNotification xmlns:r="{PROCESS_NOTIFICATION_NS}" xmlns:e="urn:riv:itintegration:engagementindex:1">{transactions}</r:ProcessNotification></soapenv:Body></soapenv:Envelope>"#,
        soap::REGISTRY_NS,
        escape(logical_address),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change() -> EngagementChange {
        EngagementChange {
            patient: PersonId::parse("191212121212").unwrap(),
            deleted: false,
            service_domain: "riv:clinicalprocess:healthcond:basic".into(),
            categorization: Some("vo-gob".into()),
            addresses: vec!["SE2321000024-0001".into(), "SE2321000024-COSMIC".into()],
        }
    }

    #[test]
    fn a_request_reads_back_to_its_changes() {
        let text = request("SE165565594230-1000", &[change()]);
        assert_eq!(read(text.as_bytes()).unwrap(), [change()]);
    }

    #[test]
    fn an_invalid_personnummer_is_refused_without_repeating_it() {
        let text = request("X", &[change()]).replace("191212121212", "191212121213");
        let e = read(text.as_bytes()).unwrap_err();
        assert!(e.0.contains("registeredResidentIdentification"), "{e}");
        assert!(!e.0.contains("1912"), "{e}");
    }

    #[test]
    fn a_body_that_is_not_a_process_notification_is_refused() {
        assert!(read(b"<nope/>").is_err());
        let other = request("X", &[change()]).replace("ProcessNotification ", "Update ");
        assert!(
            read(
                other
                    .replace("</r:ProcessNotification>", "</r:Update>")
                    .as_bytes()
            )
            .is_err()
        );
        let empty = request("X", &[]);
        assert!(
            read(empty.as_bytes())
                .unwrap_err()
                .0
                .contains("no engagementTransaction")
        );
    }

    #[test]
    fn the_answer_says_ok_or_error_with_a_comment() {
        let ok = response(None);
        let doc = roxmltree::Document::parse(&ok).unwrap();
        let payload = soap::payload(&doc).unwrap();
        assert_eq!(payload.tag_name().name(), "ProcessNotificationResponse");
        assert_eq!(xml::text(payload, "ResultCode"), Some("OK"));
        let error = response(Some("a < b"));
        assert!(
            error.contains("<r:ResultCode>ERROR</r:ResultCode><r:Comment>a &lt; b</r:Comment>")
        );
    }
}
