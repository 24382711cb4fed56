//! `FhirSource`: runs a domain's searches against a FHIR R4 server, follows paging, reads the
//! answers into a [`ResourceSet`] and maps it. Error texts never carry a URL (it holds the
//! patient's identifier) nor the body.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Utc;
use futures::future::{BoxFuture, try_join_all};
use reqwest::Url;
use serde_json::Value;

use super::map::map_domain_with_stats;
use super::outcome::{has_error, summarize};
use super::resources::ResourceSet;
use crate::domain::{Domain, PersonId};
use crate::sources::client::{HttpClient, HttpResponse};
use crate::sources::{Fetched, SourceAdapter, SourceError, SourceInfo};

/// The media type asked for and expected.
pub const FHIR_JSON: &str = "application/fhir+json";

/// The most pages one search may take before the answer counts as broken.
pub const MAX_PAGES: usize = 100;

/// The searches per domain (see the FHIR conventions): the path with the parameter the patient
/// token goes into, and the parameters after it. Every search also carries `_count=100`.
fn searches(domain: Domain) -> &'static [(&'static str, &'static str)] {
    match domain {
        Domain::Patient => &[("Patient?identifier=", "")],
        Domain::Contacts => &[(
            "CareTeam?patient.identifier=",
            "&_include=CareTeam:participant&_include:iterate=PractitionerRole:practitioner\
             &_include:iterate=PractitionerRole:organization",
        )],
        Domain::CarePlans => &[("CarePlan?patient.identifier=", "")],
        Domain::Agreements => &[
            ("Goal?patient.identifier=", ""),
            ("CarePlan?patient.identifier=", ""),
        ],
        Domain::Medications => &[
            (
                "MedicationRequest?patient.identifier=",
                "&_include=MedicationRequest:medication",
            ),
            (
                "MedicationStatement?patient.identifier=",
                "&_include=MedicationStatement:medication",
            ),
        ],
        Domain::Measurements => &[("Observation?patient.identifier=", "&category=vital-signs")],
        Domain::LabResults => &[
            ("Observation?patient.identifier=", "&category=laboratory"),
            (
                "DiagnosticReport?patient.identifier=",
                "&_include=DiagnosticReport:result",
            ),
        ],
        // Appointment actors are Locations and PractitionerRoles (R4 has no Organization
        // actor): the care unit is the Location's managing organisation or the role's.
        Domain::Bookings => &[(
            "Appointment?patient.identifier=",
            "&_include=Appointment:actor&_include:iterate=Location:organization&_include:iterate=PractitionerRole:organization&_include:iterate=PractitionerRole:practitioner",
        )],
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A source reached over the FHIR R4 REST API.
#[derive(Clone, Debug)]
pub struct FhirSource {
    info: Arc<SourceInfo>,
    base_url: String,
    base: Option<Url>,
    domains: Vec<Domain>,
    http: HttpClient,
}

impl FhirSource {
    /// A source at `base_url` (e.g. `https://fhir.example.se/r4`; a trailing slash is ignored)
    /// offering `domains`. An invalid base URL makes every fetch fail with `Connect`.
    pub fn new(
        info: Arc<SourceInfo>,
        base_url: &str,
        domains: Vec<Domain>,
        http: HttpClient,
    ) -> FhirSource {
        let base_url = base_url.trim().trim_end_matches('/').to_owned();
        let base = Url::parse(&base_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"));
        FhirSource {
            info,
            base_url,
            base,
            domains,
            http,
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The first-page URLs of `domain`'s searches for `patient`.
    pub fn search_urls(&self, patient: &PersonId, domain: Domain) -> Vec<String> {
        let token = encode_component(&format!(
            "{}|{}",
            patient.identifier_system(),
            patient.digits()
        ));
        searches(domain)
            .iter()
            .map(|(path, rest)| format!("{}/{path}{token}{rest}&_count=100", self.base_url))
            .collect()
    }

    /// Runs `domain`'s searches concurrently, following every page, and gathers the answers.
    pub async fn fetch_set(
        &self,
        patient: &PersonId,
        domain: Domain,
    ) -> Result<ResourceSet, SourceError> {
        let base = self.base.as_ref().ok_or_else(|| {
            SourceError::Connect("the source's base URL is not a valid http(s) URL".into())
        })?;
        let answers = try_join_all(
            self.search_urls(patient, domain)
                .into_iter()
                .map(|url| self.search(base, url)),
        )
        .await?;
        let mut set = ResourceSet::new();
        for bundle in answers.into_iter().flatten() {
            // Every page was checked to be a Bundle, which `add` always takes.
            let _ = set.add(bundle);
        }
        Ok(set)
    }

    /// One search: the first page and every `next` page after it.
    async fn search(&self, base: &Url, first: String) -> Result<Vec<Value>, SourceError> {
        let mut pages = Vec::new();
        let mut seen = HashSet::new();
        let mut next = Some(first);
        while let Some(url) = next.take() {
            seen.insert(url.clone());
            let bundle = read_page(self.http.get(&url, FHIR_JSON).await?)?;
            next = next_link(&bundle)?;
            pages.push(bundle);
            if let Some(next) = &next {
                check_next(base, next, &seen)?;
                if pages.len() >= MAX_PAGES {
                    return Err(SourceError::InvalidResponse(format!(
                        "a search went on for more than {MAX_PAGES} pages"
                    )));
                }
            }
        }
        Ok(pages)
    }
}

impl SourceAdapter for FhirSource {
    fn info(&self) -> &Arc<SourceInfo> {
        &self.info
    }

    fn domains(&self) -> &[Domain] {
        &self.domains
    }

    fn fetch<'a>(
        &'a self,
        patient: &'a PersonId,
        domain: Domain,
    ) -> BoxFuture<'a, Result<Fetched, SourceError>> {
        Box::pin(async move {
            if !self.domains.contains(&domain) {
                return Err(SourceError::Unsupported(domain.as_str()));
            }
            let set = self.fetch_set(patient, domain).await?;
            let (items, stats) = map_domain_with_stats(domain, &set, &self.info, Utc::now());
            for (resource_type, count) in &stats.skipped {
                tracing::debug!(
                    domain = domain.as_str(),
                    resource_type,
                    count,
                    "left out FHIR resources that could not be mapped"
                );
            }
            Ok(Fetched {
                items,
                parts: Vec::new(),
                left_out: stats.skipped_total(),
            })
        })
    }
}

/// The URL of the `next` link, if any.
fn next_link(bundle: &Value) -> Result<Option<String>, SourceError> {
    let Some(links) = bundle.get("link") else {
        return Ok(None);
    };
    let Some(links) = links.as_array() else {
        return Err(SourceError::InvalidResponse(
            "the Bundle's link is not a list".into(),
        ));
    };
    let next = links
        .iter()
        .find(|l| l.get("relation").and_then(Value::as_str) == Some("next"));
    match next.map(|l| l.get("url").and_then(Value::as_str)) {
        None => Ok(None),
        Some(Some(url)) if !url.trim().is_empty() => Ok(Some(url.trim().to_owned())),
        Some(_) => Err(SourceError::InvalidResponse(
            "the Bundle's next link has no url".into(),
        )),
    }
}

/// A next-page URL must be absolute, on the base URL's origin, and new.
fn check_next(base: &Url, next: &str, seen: &HashSet<String>) -> Result<(), SourceError> {
    let url = Url::parse(next).map_err(|_| {
        SourceError::InvalidResponse("the Bundle's next link is not an absolute URL".into())
    })?;
    if url.origin() != base.origin() {
        return Err(SourceError::InvalidResponse(
            "the Bundle's next link points to another scheme, host or port than the source's base URL"
                .into(),
        ));
    }
    if seen.contains(next) {
        return Err(SourceError::InvalidResponse(
            "the Bundle's next link repeats a page already read".into(),
        ));
    }
    Ok(())
}

/// Checks one answer: a success status and a Bundle body.
fn read_page(response: HttpResponse) -> Result<Value, SourceError> {
    let status = response.status;
    if !(200..300).contains(&status) {
        let outcome = serde_json::from_slice::<Value>(&response.body)
            .ok()
            .filter(|v| v.get("resourceType").and_then(Value::as_str) == Some("OperationOutcome"))
            .and_then(|v| summarize(&v));
        return Err(SourceError::Status { status, outcome });
    }
    if response.body.iter().all(u8::is_ascii_whitespace) {
        return Err(SourceError::InvalidResponse("the answer was empty".into()));
    }
    let json: Value = serde_json::from_slice(&response.body).map_err(|e| {
        SourceError::InvalidResponse(format!(
            "the answer is not JSON ({} error at line {}, column {})",
            match e.classify() {
                serde_json::error::Category::Io => "read",
                serde_json::error::Category::Syntax => "syntax",
                serde_json::error::Category::Data => "data",
                serde_json::error::Category::Eof => "unexpected end",
            },
            e.line(),
            e.column()
        ))
    })?;
    let resource_type = match &json {
        Value::Object(o) => o.get("resourceType").and_then(Value::as_str),
        other => {
            return Err(SourceError::InvalidResponse(format!(
                "the answer is JSON {} instead of a Bundle",
                json_kind(other)
            )));
        }
    };
    match resource_type {
        Some("Bundle") => Ok(json),
        Some("OperationOutcome") if has_error(&json) => Err(SourceError::Reported(
            summarize(&json).unwrap_or_else(|| "an OperationOutcome with an error".into()),
        )),
        Some("OperationOutcome") => Err(SourceError::InvalidResponse(
            "the answer is an OperationOutcome without errors instead of a Bundle".into(),
        )),
        Some(other) if other.len() <= 64 && other.chars().all(|c| c.is_ascii_alphanumeric()) => {
            Err(SourceError::InvalidResponse(format!(
                "the answer is a {other} instead of a Bundle"
            )))
        }
        Some(_) => Err(SourceError::InvalidResponse(
            "the answer is a resource of an unknown type instead of a Bundle".into(),
        )),
        None => Err(SourceError::InvalidResponse(
            "the answer is a JSON object without resourceType instead of a Bundle".into(),
        )),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
