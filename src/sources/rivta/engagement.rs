//! The engagement index client: asks `FindContent` which source systems hold records of one
//! patient in one service domain (and categorisation), and remembers the answer briefly.
//!
//! The index (`itintegration:engagementindex` 1, `FindContent`) answers with `engagement`
//! records; each names a `logicalAddress` (whom the platform routes to) and a `sourceSystem`.
//! A RIV-TA source is *named* when its logical address is either of them. Failures (transport,
//! SOAP fault, `result` ERROR, unreadable answer) are [`SourceError`]s naming `FindContent`; the
//! engine then asks every source, as the national aggregating services do.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use quick_xml::escape::escape;
use reqwest::header::{CONTENT_TYPE, HeaderValue};

use super::soap::{self, EnvelopeError, REGISTRY_NS, SOAP_ENV};
use super::xml;
use crate::domain::PersonId;
use crate::sources::SourceError;
use crate::sources::client::HttpClient;

/// The FindContent responder namespace.
pub const FIND_CONTENT_NS: &str = "urn:riv:itintegration:engagementindex:FindContentResponder:1";
/// FindContent's address path on the platform.
pub const FIND_CONTENT_PATH: &str = "itintegration/engagementindex/FindContent/1/rivtabp21";
const FIND_CONTENT_ACTION: &str =
    "\"urn:riv:itintegration:engagementindex:FindContentResponder:1:FindContent\"";
const LABEL: &str = "FindContent v1";

/// What the index knows of one patient in one service domain and categorisation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Engagements {
    /// Every `logicalAddress` and `sourceSystem` the index named.
    pub addresses: BTreeSet<String>,
}

impl Engagements {
    /// Whether a source with this logical address holds records according to the index.
    pub fn names(&self, logical_address: &str) -> bool {
        self.addresses.contains(logical_address)
    }
}

/// How the index was consulted for one lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consulted {
    /// Asked during this request (or joined a concurrent request's call).
    Asked,
    /// Answered from the short-lived cache.
    Cached,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    patient: PersonId,
    service_domain: String,
    categorization: &'static str,
}

/// Where the index is and how long its answers are kept.
#[derive(Clone, Debug)]
pub struct IndexSettings {
    pub base_url: String,
    pub logical_address: String,
    pub cache_ttl: Duration,
    pub timeout: Duration,
}

/// A client of one engagement index, with its answer cache.
pub struct EngagementIndex {
    http: HttpClient,
    url: String,
    logical_address: String,
    timeout: Duration,
    cache: Cache<Key, Arc<Engagements>>,
}

impl EngagementIndex {
    pub fn new(settings: &IndexSettings, http: HttpClient) -> Self {
        EngagementIndex {
            http,
            url: format!(
                "{}/{FIND_CONTENT_PATH}",
                settings.base_url.trim_end_matches('/')
            ),
            logical_address: settings.logical_address.clone(),
            timeout: settings.timeout,
            cache: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(settings.cache_ttl)
                // A notification forgets one patient's answers, whatever their domains.
                .support_invalidation_closures()
                .build(),
        }
    }

    /// The time limit of one lookup.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Forgets every answer remembered for `patient` (in every service domain): the index told
    /// us their engagements changed.
    pub fn forget(&self, patient: &PersonId) {
        let patient = patient.clone();
        // Fails only when the cache was built without invalidation closures, which it is not.
        let _ = self
            .cache
            .invalidate_entries_if(move |key, _| key.patient == patient);
    }

    /// Which source systems hold `patient`'s records in `service_domain`/`categorization`.
    /// Concurrent lookups of the same key share one call; failures are not cached.
    pub async fn find(
        &self,
        patient: &PersonId,
        service_domain: &str,
        categorization: &'static str,
    ) -> Result<(Arc<Engagements>, Consulted), Arc<SourceError>> {
        let key = Key {
            patient: patient.clone(),
            service_domain: service_domain.to_owned(),
            categorization,
        };
        if let Some(hit) = self.cache.get(&key).await {
            return Ok((hit, Consulted::Cached));
        }
        self.cache
            .try_get_with_by_ref(&key, async {
                self.call(patient, service_domain, categorization)
                    .await
                    .map(Arc::new)
            })
            .await
            .map(|e| (e, Consulted::Asked))
    }

    async fn call(
        &self,
        patient: &PersonId,
        service_domain: &str,
        categorization: &str,
    ) -> Result<Engagements, SourceError> {
        let body = request(
            &self.logical_address,
            patient,
            service_domain,
            categorization,
        );
        let request = self
            .http
            .inner()
            .post(&self.url)
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("text/xml; charset=utf-8"),
            )
            .header("SOAPAction", HeaderValue::from_static(FIND_CONTENT_ACTION))
            .body(body);
        let response = self.http.send(request).await?;
        read_answer(response.status, &response.body, patient)
    }
}

/// The FindContent request for one patient, service domain and categorisation.
pub fn request(
    logical_address: &str,
    patient: &PersonId,
    service_domain: &str,
    categorization: &str,
) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP_ENV}"><soapenv:Header><a:LogicalAddress xmlns:a="{REGISTRY_NS}">{}</a:LogicalAddress></soapenv:Header><soapenv:Body><r:FindContent xmlns:r="{FIND_CONTENT_NS}"><r:registeredResidentIdentification>{}</r:registeredResidentIdentification><r:serviceDomain>{}</r:serviceDomain><r:categorization>{}</r:categorization></r:FindContent></soapenv:Body></soapenv:Envelope>"#,
        escape(logical_address),
        patient.digits(),
        escape(service_domain),
        escape(categorization),
    )
}

/// Reads a FindContent answer. Engagements about anyone but `patient` are ignored.
pub fn read_answer(
    status: u16,
    body: &[u8],
    patient: &PersonId,
) -> Result<Engagements, SourceError> {
    let ok = (200..300).contains(&status);
    let failed_status = |outcome| SourceError::Status { status, outcome };
    let text = std::str::from_utf8(body).map_err(|_| {
        if ok {
            SourceError::InvalidResponse(format!("{LABEL}: the answer is not UTF-8"))
        } else {
            failed_status(None)
        }
    })?;
    let doc = match soap::parse(text) {
        Ok(doc) => doc,
        Err(_) if !ok => return Err(failed_status(None)),
        Err(e) => return Err(SourceError::InvalidResponse(format!("{LABEL}: {e}"))),
    };
    let payload = match soap::payload(&doc) {
        Ok(p) if ok => p,
        Ok(_) => return Err(failed_status(None)),
        Err(EnvelopeError::Malformed(_)) if !ok => return Err(failed_status(None)),
        Err(EnvelopeError::Fault(fault)) => {
            let outcome = format!("{LABEL}: SOAP fault: {fault}");
            return Err(if ok {
                SourceError::Reported(outcome)
            } else {
                failed_status(Some(outcome))
            });
        }
        Err(e) => return Err(SourceError::InvalidResponse(format!("{LABEL}: {e}"))),
    };
    if payload.tag_name().name() != "FindContentResponse" {
        return Err(SourceError::InvalidResponse(format!(
            "{LABEL}: the body holds <{}>, not <FindContentResponse>",
            payload.tag_name().name()
        )));
    }
    if let Some(error) = soap::result_error(payload) {
        return Err(SourceError::Reported(format!("{LABEL}: {error}")));
    }
    let digits = patient.digits();
    let mut addresses = BTreeSet::new();
    for engagement in xml::children(payload, "engagement") {
        if xml::text(engagement, "registeredResidentIdentification").is_some_and(|id| id != digits)
        {
            continue;
        }
        for field in ["logicalAddress", "sourceSystem"] {
            if let Some(address) = xml::text(engagement, field) {
                addresses.insert(address.to_owned());
            }
        }
    }
    Ok(Engagements { addresses })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tolvan() -> PersonId {
        PersonId::parse("191212121212").unwrap()
    }

    fn answer(engagements: &str) -> String {
        format!(
            r#"<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body><FindContentResponse xmlns="{FIND_CONTENT_NS}">{engagements}<result><resultCode>OK</resultCode></result></FindContentResponse></s:Body></s:Envelope>"#
        )
    }

    fn engagement(person: &str, address: &str, system: &str) -> String {
        format!(
            r#"<engagement><e:registeredResidentIdentification xmlns:e="urn:riv:itintegration:engagementindex:1">{person}</e:registeredResidentIdentification><e:logicalAddress xmlns:e="urn:riv:itintegration:engagementindex:1">{address}</e:logicalAddress><e:sourceSystem xmlns:e="urn:riv:itintegration:engagementindex:1">{system}</e:sourceSystem></engagement>"#
        )
    }

    #[test]
    fn the_index_names_sources_by_logical_address_and_source_system() {
        let body = answer(&format!(
            "{}{}",
            engagement("191212121212", "SE2321000024-0001", "SE2321000024-COSMIC"),
            engagement("191212121212", "SE2120000001-UK", "SE2120000001-UK")
        ));
        let e = read_answer(200, body.as_bytes(), &tolvan()).unwrap();
        assert!(e.names("SE2321000024-0001"));
        assert!(e.names("SE2321000024-COSMIC"));
        assert!(e.names("SE2120000001-UK"));
        assert!(!e.names("SE2321000024-OTHER"));
    }

    #[test]
    fn engagements_of_another_person_are_ignored() {
        let body = answer(&engagement("195001012385", "SE2321000024-0001", "X"));
        let e = read_answer(200, body.as_bytes(), &tolvan()).unwrap();
        assert!(e.addresses.is_empty());
    }

    #[test]
    fn a_fault_or_an_error_result_names_find_content() {
        let fault = format!(
            r#"<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body><s:Fault><faultcode>s:Server</faultcode><faultstring>VP009 index down</faultstring></s:Fault></s:Body></s:Envelope>"#
        );
        let e = read_answer(500, fault.as_bytes(), &tolvan()).unwrap_err();
        assert!(e.to_string().contains("FindContent v1"), "{e}");
        let error = format!(
            r#"<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body><FindContentResponse xmlns="{FIND_CONTENT_NS}"><result><resultCode>ERROR</resultCode><message>overloaded</message></result></FindContentResponse></s:Body></s:Envelope>"#
        );
        let e = read_answer(200, error.as_bytes(), &tolvan()).unwrap_err();
        assert!(e.to_string().contains("FindContent v1: overloaded"), "{e}");
    }

    #[test]
    fn the_request_asks_for_one_patient_domain_and_categorisation() {
        let text = request(
            "5565594230",
            &tolvan(),
            "riv:clinicalprocess:activityprescription:actoutcome",
            "caa-gmh",
        );
        let doc = roxmltree::Document::parse(&text).unwrap();
        let payload = soap::payload(&doc).unwrap();
        assert_eq!(payload.tag_name().namespace(), Some(FIND_CONTENT_NS));
        assert_eq!(
            xml::text(payload, "registeredResidentIdentification"),
            Some("191212121212")
        );
        assert_eq!(xml::text(payload, "categorization"), Some("caa-gmh"));
    }
}
