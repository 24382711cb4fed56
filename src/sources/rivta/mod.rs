//! The RIV-TA source adapter: the Swedish national service platform's SOAP service contracts
//! (RIVTABP21), one call per overview domain, addressed by logical address, over HTTPS with a
//! function certificate.
//!
//! | domain | contract | read from |
//! |---|---|---|
//! | contacts | `GetCareContacts` v3 | each care contact's accountable professional (see `map::care_contacts`) |
//! | care plans | `GetCarePlans` v2 | `carePlan` |
//! | agreements | none | no national contract carries agreements as records yet (see below) |
//! | medications | `GetMedicationHistory` v2 | `medicationMedicalRecord` |
//! | measurements | `GetObservations` v1 | `observationGroup/observation` |
//! | lab results | `GetLaboratoryOrderOutcome` v4 (v3 with `lab_contract_version = 3`) | each analysis of `laboratoryOrderOutcome` |
//! | bookings | `GetSubjectOfCareSchedule` v1 | `timeslotDetail` |
//!
//! Agreements (överenskommelser): the platform has no contract for them. A SIP's agreed
//! activities travel, if at all, inside the SIP document of `GetCarePlans` (`carePlanBody/
//! content`, free text or CDA), not as records; Överblick does not mine documents for them.
//!
//! The patient's name is not asked for: the platform's clinical contracts do not carry it
//! (the population register does), so RIV-TA sources offer neither `patient` nor `agreements`.
//!
//! A call posts the contract's request for the patient to `<base_url>/<contract path>` (e.g.
//! `.../clinicalprocess/activityprescription/actoutcome/GetMedicationHistory/2/rivtabp21`) with
//! the source's logical address in the `LogicalAddress` header. The answer (HTTP 200, or 500
//! with a fault) is read leniently (`map`); a SOAP fault, a `result` of ERROR, or a body that is
//! not a SOAP envelope is a [`SourceError`] naming the contract. `ProcessingStatus` records in
//! the answer's header (an aggregating service's account of the systems behind it) are returned
//! as [`PartStatus`]es.

mod config;
pub mod contract;
pub mod engagement;
pub mod map;
pub mod notification;
pub mod soap;
pub mod xml;

use std::sync::Arc;

use chrono::Utc;
use futures::future::BoxFuture;
use reqwest::header::{CONTENT_TYPE, HeaderValue};

pub use config::{EngagementIndexSettings, Platform, PlatformSettings, RivtaConfig};
pub use contract::Contract;

use self::soap::{EnvelopeError, RequestParams};
use crate::domain::{Domain, PersonId};
use crate::sources::client::HttpClient;
use crate::sources::{Fetched, SourceAdapter, SourceError, SourceInfo};

/// The content type of SOAP 1.1 requests.
const SOAP_CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// The domains a RIV-TA source can answer.
pub const DOMAINS: [Domain; 6] = [
    Domain::Contacts,
    Domain::CarePlans,
    Domain::Medications,
    Domain::Measurements,
    Domain::LabResults,
    Domain::Bookings,
];

/// How to reach one RIV-TA source.
#[derive(Clone, Debug)]
pub struct RivtaSettings {
    /// The service platform's base URL (contract paths are appended).
    pub base_url: String,
    /// The logical address (HSA-id of the care giver or source system) calls are routed to.
    pub logical_address: String,
    /// `healthcare_facility` for GetSubjectOfCareSchedule: the care unit's HSA-id.
    pub healthcare_facility: String,
    /// `interactionAgreementId` for GetObservations.
    pub interaction_agreement_id: String,
    /// Ask GetLaboratoryOrderOutcome v3 instead of v4.
    pub lab_v3: bool,
}

/// One RIV-TA source.
pub struct RivtaSource {
    info: Arc<SourceInfo>,
    settings: RivtaSettings,
    domains: Vec<Domain>,
    http: HttpClient,
}

impl RivtaSource {
    /// A source answering the `domains` (those of [`DOMAINS`]) over the platform `http` client,
    /// which carries the function certificate.
    pub fn new(
        info: Arc<SourceInfo>,
        settings: RivtaSettings,
        domains: Vec<Domain>,
        http: HttpClient,
    ) -> Self {
        let mut settings = settings;
        settings.base_url = settings.base_url.trim_end_matches('/').to_owned();
        let domains = domains
            .into_iter()
            .filter(|d| DOMAINS.contains(d))
            .collect();
        RivtaSource {
            info,
            settings,
            domains,
            http,
        }
    }

    pub fn logical_address(&self) -> &str {
        &self.settings.logical_address
    }

    /// The contract this source is asked for `domain`.
    pub fn contract(&self, domain: Domain) -> Option<Contract> {
        Contract::for_domain(domain, self.settings.lab_v3)
    }

    async fn call(&self, patient: &PersonId, contract: Contract) -> Result<Fetched, SourceError> {
        let body = soap::request(
            contract,
            patient,
            &RequestParams {
                logical_address: &self.settings.logical_address,
                healthcare_facility: &self.settings.healthcare_facility,
                interaction_agreement_id: &self.settings.interaction_agreement_id,
            },
        );
        let url = format!("{}/{}", self.settings.base_url, contract.path());
        let action = HeaderValue::from_str(&format!("\"{}\"", contract.soap_action()))
            .expect("a SOAPAction is ASCII");
        let request = self
            .http
            .inner()
            .post(url)
            .header(CONTENT_TYPE, HeaderValue::from_static(SOAP_CONTENT_TYPE))
            .header("SOAPAction", action)
            .body(body);
        let response = self.http.send(request).await?;
        read_answer(
            contract,
            response.status,
            &response.body,
            patient,
            &self.info,
        )
    }
}

/// Reads one answer of `contract`: faults and errors first (whatever the HTTP status), then the
/// payload's records.
pub fn read_answer(
    contract: Contract,
    status: u16,
    body: &[u8],
    patient: &PersonId,
    info: &SourceInfo,
) -> Result<Fetched, SourceError> {
    let label = contract.label();
    let text = std::str::from_utf8(body).map_err(|_| {
        if (200..300).contains(&status) {
            SourceError::InvalidResponse(format!("{label}: the answer is not UTF-8"))
        } else {
            SourceError::Status {
                status,
                outcome: None,
            }
        }
    })?;
    let doc = match soap::parse(text) {
        Ok(doc) => doc,
        Err(_) if !(200..300).contains(&status) => {
            return Err(SourceError::Status {
                status,
                outcome: None,
            });
        }
        Err(e) => return Err(SourceError::InvalidResponse(format!("{label}: {e}"))),
    };
    let payload = match soap::payload(&doc) {
        Ok(payload) => payload,
        Err(EnvelopeError::Fault(fault)) => {
            let outcome = format!("{label}: SOAP fault: {fault}");
            return Err(if (200..300).contains(&status) {
                SourceError::Reported(outcome)
            } else {
                SourceError::Status {
                    status,
                    outcome: Some(outcome),
                }
            });
        }
        Err(EnvelopeError::Malformed(_)) if !(200..300).contains(&status) => {
            return Err(SourceError::Status {
                status,
                outcome: None,
            });
        }
        Err(e) => return Err(SourceError::InvalidResponse(format!("{label}: {e}"))),
    };
    if !(200..300).contains(&status) {
        return Err(SourceError::Status {
            status,
            outcome: None,
        });
    }
    let expected = contract.response_element();
    if payload.tag_name().name() != expected {
        return Err(SourceError::InvalidResponse(format!(
            "{label}: the body holds <{}>, not <{expected}>",
            payload.tag_name().name()
        )));
    }
    if let Some(error) = soap::result_error(payload) {
        return Err(SourceError::Reported(format!("{label}: {error}")));
    }
    let mut cx = map::Ctx::new(patient, info, Utc::now());
    let items = map::map_payload(contract, payload, &mut cx);
    for (kind, count) in &cx.stats.skipped {
        tracing::debug!(
            contract = contract.name(),
            kind,
            count,
            "left out RIV-TA records that could not be mapped"
        );
    }
    Ok(Fetched {
        items,
        parts: soap::processing_status(&doc),
        left_out: cx.stats.skipped_total(),
        notes: 0,
    })
}

impl SourceAdapter for RivtaSource {
    fn info(&self) -> &Arc<SourceInfo> {
        &self.info
    }

    fn domains(&self) -> &[Domain] {
        &self.domains
    }

    fn logical_address(&self) -> Option<&str> {
        Some(&self.settings.logical_address)
    }

    fn fetch<'a>(
        &'a self,
        patient: &'a PersonId,
        domain: Domain,
    ) -> BoxFuture<'a, Result<Fetched, SourceError>> {
        Box::pin(async move {
            let contract = self
                .contract(domain)
                .filter(|_| self.domains.contains(&domain))
                .ok_or(SourceError::Unsupported(domain.as_str()))?;
            self.call(patient, contract).await
        })
    }
}
