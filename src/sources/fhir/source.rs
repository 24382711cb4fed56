//! `FhirSource`: runs a domain's searches against a FHIR R4 server, follows paging, reads the
//! answers into a [`ResourceSet`] and maps it. Error texts never carry a URL (it holds the
//! patient's identifier) nor the body.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::future::{BoxFuture, try_join_all};
use reqwest::Url;
use serde_json::Value;

use super::map::map_domain_with_stats;
use super::notification::{About, patients_of, person_identifier};
use super::outcome::{has_error, summarize};
use super::resources::{ResourceSet, type_and_id};
use crate::domain::{Domain, PersonId};
use crate::sources::client::{HttpClient, HttpResponse};
use crate::sources::{Fetched, SourceAdapter, SourceError, SourceInfo};

/// The media type asked for and expected.
pub const FHIR_JSON: &str = "application/fhir+json";

/// The most pages one search may take before the answer counts as broken.
pub const MAX_PAGES: usize = 100;

/// How many Patient logical ids a source remembers (the patients recently asked about), and for
/// how long: long enough that a notification about a patient seen today needs no Patient read.
const KNOWN_PATIENTS: u64 = 100_000;
const KNOWN_PATIENTS_TTL: Duration = Duration::from_secs(24 * 3600);

/// How long a search's pages are kept for another domain's call to take: just long enough to
/// join a search under way (the CarePlan search serves both care plans and agreements, which
/// one overview asks for at the same moment), never long enough to stand in for a cache.
const SHARED_SEARCH_TTL: Duration = Duration::from_millis(1);

/// How many searches may be shared at once (each holds its pages until it expires).
const SHARED_SEARCHES: u64 = 1_024;

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

/// For each of `domain`'s searches, whether another domain makes the same one (and so one call
/// can serve both when an overview asks for both at once).
fn shared_searches(domain: Domain) -> impl Iterator<Item = bool> {
    searches(domain).iter().map(move |search| {
        Domain::ALL
            .iter()
            .filter(|other| **other != domain)
            .any(|other| searches(*other).contains(search))
    })
}

/// A search's pages: this call's own, or shared with another domain's call.
enum Pages {
    Own(Vec<Value>),
    Shared(Arc<Vec<Value>>),
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
    /// The source's Patient logical ids learnt from its answers, and whose they are: a change
    /// notification names the patient by that id (`Patient/<id>`).
    known: moka::sync::Cache<String, PersonId>,
    /// Searches under way, by first-page URL: a second domain's call that needs the same search
    /// waits for it instead of sending it again.
    searching: moka::future::Cache<String, Arc<Vec<Value>>>,
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
            searching: moka::future::Cache::builder()
                .max_capacity(SHARED_SEARCHES)
                .time_to_live(SHARED_SEARCH_TTL)
                .build(),
            known: moka::sync::Cache::builder()
                .max_capacity(KNOWN_PATIENTS)
                .time_to_live(KNOWN_PATIENTS_TTL)
                .build(),
        }
    }

    /// Remembers the Patient ids `set` (an answer to searches by `patient`'s identifier) shows
    /// to be `patient`'s: every matched resource is theirs, so is the Patient it references.
    fn learn(&self, patient: &PersonId, set: &ResourceSet) {
        // Every answer names the same few ids again: a lookup is much cheaper than a write.
        let remember = |id: &str| {
            if self.known.get(id).as_ref() != Some(patient) {
                self.known.insert(id.to_owned(), patient.clone());
            }
        };
        let mut about = BTreeSet::new();
        for resource in set.resources().filter(|r| r.mode().is_primary()) {
            if resource.resource_type() == "Patient" {
                let carries = resource
                    .get("identifier")
                    .and_then(Value::as_array)
                    .is_some_and(|ids| {
                        ids.iter()
                            .any(|i| person_identifier(i).as_ref() == Some(patient))
                    });
                if carries && let Some(id) = resource.id() {
                    remember(id);
                }
                continue;
            }
            patients_of(resource.json(), &mut about);
        }
        for key in about.iter().filter_map(|a| match a {
            About::Reference(key) => key.strip_prefix("Patient/"),
            About::Person(_) => None,
        }) {
            remember(key);
        }
    }

    /// The people `reference` (`<Type>/<id>`, relative or absolute) points at: a Patient's
    /// person from memory or read from the source (its personnummer identifier); any other
    /// resource read from the source, then its Patient's. Only ever this source's own base URL
    /// is asked, whatever server an absolute reference names.
    pub async fn resolve(&self, reference: &str) -> Result<Vec<PersonId>, SourceError> {
        let Some((resource_type, id)) = type_and_id(reference).and_then(|k| k.split_once('/'))
        else {
            return Ok(Vec::new());
        };
        if !is_fhir_id(id) {
            return Ok(Vec::new());
        }
        if resource_type == "Patient" {
            return Ok(self.patient(id).await?.into_iter().collect());
        }
        let Some(resource) = self.read(resource_type, id).await? else {
            return Ok(Vec::new());
        };
        let mut about = BTreeSet::new();
        patients_of(&resource, &mut about);
        let mut people = Vec::new();
        for a in about {
            match a {
                About::Person(person) => people.push(person),
                About::Reference(key) => {
                    if let Some(id) = key.strip_prefix("Patient/").filter(|id| is_fhir_id(id))
                        && let Some(person) = self.patient(id).await?
                    {
                        people.push(person);
                    }
                }
            }
        }
        people.sort();
        people.dedup();
        Ok(people)
    }

    /// The person of the source's `Patient/<id>`: remembered, else read.
    async fn patient(&self, id: &str) -> Result<Option<PersonId>, SourceError> {
        if let Some(person) = self.known.get(id) {
            return Ok(Some(person));
        }
        let Some(resource) = self.read("Patient", id).await? else {
            return Ok(None);
        };
        let person = resource
            .get("identifier")
            .and_then(Value::as_array)
            .and_then(|ids| ids.iter().find_map(person_identifier));
        if let Some(person) = &person {
            self.known.insert(id.to_owned(), person.clone());
        }
        Ok(person)
    }

    /// Reads `<Type>/<id>` from the source; `None` when it has no such resource (404, 410).
    async fn read(&self, resource_type: &str, id: &str) -> Result<Option<Value>, SourceError> {
        if self.base.is_none() {
            return Err(SourceError::Connect(
                "the source's base URL is not a valid http(s) URL".into(),
            ));
        }
        let url = format!("{}/{resource_type}/{id}", self.base_url);
        let response = self.http.get(&url, FHIR_JSON).await?;
        if matches!(response.status, 404 | 410) {
            return Ok(None);
        }
        if !(200..300).contains(&response.status) {
            return Err(SourceError::Status {
                status: response.status,
                outcome: None,
            });
        }
        let json: Value = serde_json::from_slice(&response.body).map_err(|_| {
            SourceError::InvalidResponse(format!("the {resource_type} read is not JSON"))
        })?;
        if json.get("resourceType").and_then(Value::as_str) != Some(resource_type) {
            return Err(SourceError::InvalidResponse(format!(
                "the {resource_type} read answered another resource type"
            )));
        }
        Ok(Some(json))
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
        let shared = shared_searches(domain);
        let answers = try_join_all(
            self.search_urls(patient, domain)
                .into_iter()
                .zip(shared)
                .map(|(url, shared)| async move {
                    if !shared {
                        return self.search(base, url).await.map(Pages::Own);
                    }
                    self.searching
                        .try_get_with_by_ref(&url, async {
                            self.search(base, url.clone()).await.map(Arc::new)
                        })
                        .await
                        .map(Pages::Shared)
                        .map_err(|e| SourceError::clone(&e))
                }),
        )
        .await?;
        let mut set = ResourceSet::new();
        for answer in answers {
            // Every page was checked to be a Bundle, which `add` always takes.
            match answer {
                Pages::Own(pages) => pages.into_iter().for_each(|p| {
                    let _ = set.add(p);
                }),
                // Another domain's call may read the same pages: a copy each.
                Pages::Shared(pages) => pages.iter().for_each(|p| {
                    let _ = set.add(p.clone());
                }),
            }
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
            self.learn(patient, &set);
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
                notes: stats.notes,
            })
        })
    }

    fn resolve_patients<'a>(
        &'a self,
        reference: &'a str,
    ) -> BoxFuture<'a, Result<Vec<PersonId>, SourceError>> {
        Box::pin(self.resolve(reference))
    }
}

/// A FHIR logical id: 1 to 64 of `A-Z a-z 0-9 - .` (so it can go into a URL path as it is).
fn is_fhir_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
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
