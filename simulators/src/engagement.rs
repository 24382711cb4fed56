//! The engagement index simulator: the platform's `FindContent` (`itintegration:engagementindex`
//! version 1) answering which logical addresses hold a patient's records in a service domain,
//! from a register file; with the RIV-TA simulator's behaviours, hit counts and optional mutual
//! TLS.
//!
//! # Register file
//!
//! ```toml
//! logical_address = "5565594230"     # the index's own logical address (requests must name it)
//! owner = "SE165565594230-1000"      # optional: the index's HSA-id, written as `owner`
//!
//! [[engagement]]
//! person = "191212121212"
//! service_domain = "riv:clinicalprocess:activityprescription:actoutcome"
//! categorization = "caa-gmh"
//! logical_address = "SE2321000024-0001"
//! source_system = "SE2321000024-1COS"
//! most_recent_content = "20261117081500"   # YYYYMMDDhhmmss, Swedish local time
//! data_controller = "SE2321000024-0001"    # optional: the logical address when left out
//! creation_time = "20240305101500"         # optional: most_recent_content when left out
//! update_time = "20261117081500"           # optional: most_recent_content when left out
//! ```
//!
//! # Protocol
//!
//! `POST <base_url>/itintegration/engagementindex/FindContent/1/rivtabp21` with the
//! `LogicalAddress` header naming the index and a `FindContent` payload (ns
//! `urn:riv:itintegration:engagementindex:FindContentResponder:1`) whose
//! `registeredResidentIdentification` and `serviceDomain` are required; `categorization`,
//! `logicalAddress`, `sourceSystem`, `dataController`, `businessObjectInstanceIdentifier`,
//! `clinicalProcessInterestId` narrow the answer when given, and `mostRecentContent` keeps
//! engagements at or after that time. The answer is `FindContentResponse` with one `engagement`
//! (responder namespace; its fields in `urn:riv:itintegration:engagementindex:1`) per match:
//! `registeredResidentIdentification, serviceDomain, categorization, logicalAddress,
//! businessObjectInstanceIdentifier ("NA"), clinicalProcessInterestId ("NA"), mostRecentContent,
//! sourceSystem, creationTime, updateTime, dataController, owner`.
//!
//! Provenance of that shape, honestly: the engagement index's XSD is not in the repository's test
//! data (`tests/data/riv-ta/SOURCES.md` lists it as unavailable), and none was written here to
//! stand in for it. The element names and their order follow the public source of the
//! platform's own engagement index and aggregating services (generated JAXB classes of
//! `EngagementType` and `FindContentResponseType`, and the index's validation of mandatory
//! fields). Those classes show `FindContentResponseType` as `engagement*` followed only by
//! `xs:any`: unlike the clinical contracts, the answer has no `result`, so none is sent. The tests
//! check the structure instead of validating it.
//!
//! The simulator logs counts only, never a patient.

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use roxmltree::Node;
use serde::Deserialize;

use crate::SimulatorError;
use crate::rivta::{BASE_PATH, check_timestamp, is_twelve_digits};
use crate::server::{self, Behaviour, ServerOptions, SimulatorHandle};
use crate::soap::{
    SoapFault, SoapWire, check_logical_address, check_soap_action, element, envelope,
    method_not_allowed, not_found, read_request, text, xml_response,
};

/// The FindContent responder namespace.
pub const FIND_CONTENT_NS: &str = "urn:riv:itintegration:engagementindex:FindContentResponder:1";
/// FindContent's address path on the platform.
pub const FIND_CONTENT_PATH: &str = "itintegration/engagementindex/FindContent/1/rivtabp21";

/// The namespace of an engagement's fields.
pub const ENGAGEMENT_NS: &str = "urn:riv:itintegration:engagementindex:1";
/// FindContent's SOAPAction.
pub const FIND_CONTENT_ACTION: &str =
    "urn:riv:itintegration:engagementindex:FindContentResponder:1:FindContent";
/// The value the index writes for `businessObjectInstanceIdentifier` and
/// `clinicalProcessInterestId` of engagements that name neither (all of the aggregated ones).
const NOT_APPLICABLE: &str = "NA";

/// One engagement: `person` has records in `service_domain`/`categorization` at
/// `logical_address`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Engagement {
    /// The patient's 12 digits.
    pub person: String,
    /// E.g. `riv:clinicalprocess:activityprescription:actoutcome`.
    pub service_domain: String,
    /// E.g. `caa-gmh`.
    pub categorization: String,
    /// Where the platform routes calls for these records.
    pub logical_address: String,
    /// The HSA-id of the system holding them.
    pub source_system: String,
    /// When the newest record was written (`YYYYMMDDhhmmss`, Swedish local time).
    pub most_recent_content: String,
    /// The care giver responsible for the records; the logical address when left out.
    #[serde(default)]
    pub data_controller: Option<String>,
    #[serde(default)]
    pub creation_time: Option<String>,
    #[serde(default)]
    pub update_time: Option<String>,
}

/// The index's content: its own logical address and owner, and the engagements.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngagementIndex {
    /// The logical address requests must name.
    pub logical_address: String,
    /// The index's HSA-id, written as each engagement's `owner`; the logical address when left
    /// out.
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default, rename = "engagement")]
    pub engagements: Vec<Engagement>,
}

impl Engagement {
    fn check(&self) -> Result<(), String> {
        if !is_twelve_digits(&self.person) {
            return Err("`person`: 12 digits, e.g. \"191212121212\"".into());
        }
        if !self.service_domain.starts_with("riv:") {
            return Err("`service_domain`: starts with `riv:`".into());
        }
        for (field, value) in [
            ("categorization", &self.categorization),
            ("logical_address", &self.logical_address),
            ("source_system", &self.source_system),
        ] {
            if value.trim().is_empty() {
                return Err(format!("`{field}` must not be empty"));
            }
        }
        for (field, value) in [
            ("most_recent_content", Some(&self.most_recent_content)),
            ("creation_time", self.creation_time.as_ref()),
            ("update_time", self.update_time.as_ref()),
        ] {
            if let Some(value) = value {
                check_timestamp(value).map_err(|e| format!("`{field}`: {e}"))?;
            }
        }
        Ok(())
    }

    fn data_controller(&self) -> &str {
        self.data_controller
            .as_deref()
            .unwrap_or(&self.logical_address)
    }

    fn write(&self, owner: &str, out: &mut String) {
        let created = self
            .creation_time
            .as_deref()
            .unwrap_or(&self.most_recent_content);
        let updated = self
            .update_time
            .as_deref()
            .unwrap_or(&self.most_recent_content);
        out.push_str("<engagement>");
        for (name, value) in [
            ("registeredResidentIdentification", self.person.as_str()),
            ("serviceDomain", &self.service_domain),
            ("categorization", &self.categorization),
            ("logicalAddress", &self.logical_address),
            ("businessObjectInstanceIdentifier", NOT_APPLICABLE),
            ("clinicalProcessInterestId", NOT_APPLICABLE),
            ("mostRecentContent", &self.most_recent_content),
            ("sourceSystem", &self.source_system),
            ("creationTime", created),
            ("updateTime", updated),
            ("dataController", self.data_controller()),
            ("owner", owner),
        ] {
            element(out, &format!("ei:{name}"), value);
        }
        out.push_str("</engagement>");
    }
}

impl EngagementIndex {
    /// Parses and checks a register file's text.
    pub fn parse(text: &str) -> Result<EngagementIndex, String> {
        let index: EngagementIndex = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| format!(" (line {})", text[..s.start].matches('\n').count() + 1))
                .unwrap_or_default();
            format!("{}{at}", e.message())
        })?;
        index.check()?;
        Ok(index)
    }

    /// Reads and checks a register file.
    pub fn load(path: &Path) -> Result<EngagementIndex, SimulatorError> {
        let file_error = |message: String| SimulatorError::File {
            path: path.to_owned(),
            message,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| file_error(format!("cannot read it: {e}")))?;
        EngagementIndex::parse(&text).map_err(file_error)
    }

    fn check(&self) -> Result<(), String> {
        if self.logical_address.trim().is_empty() {
            return Err("`logical_address` must not be empty".into());
        }
        for (n, engagement) in self.engagements.iter().enumerate() {
            engagement
                .check()
                .map_err(|e| format!("[[engagement]] #{}: {e}", n + 1))?;
        }
        Ok(())
    }

    fn owner(&self) -> &str {
        self.owner.as_deref().unwrap_or(&self.logical_address)
    }
}

struct IndexState {
    index: RwLock<EngagementIndex>,
    /// Fixed at the start: requests are checked against it.
    logical_addresses: Vec<String>,
}

/// Control of a running engagement index simulator. Clones share one server; it shuts down
/// gracefully when the last clone is dropped, or at [`EngagementIndexHandle::shutdown`].
#[derive(Clone)]
pub struct EngagementIndexHandle {
    server: SimulatorHandle,
    state: Arc<IndexState>,
}

impl std::fmt::Debug for EngagementIndexHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngagementIndexHandle")
            .field("base_url", &self.base_url())
            .field("behaviour", &self.behaviour())
            .finish()
    }
}

fn find_content_path() -> String {
    format!("{BASE_PATH}/{FIND_CONTENT_PATH}")
}

fn hit_key(path: &str) -> Option<String> {
    (path.trim_end_matches('/') == find_content_path()).then(|| "FindContent".to_owned())
}

/// Starts an engagement index simulator serving `index` on 127.0.0.1 at a free port. Must be
/// called within a Tokio runtime.
pub fn start(
    index: EngagementIndex,
    options: &ServerOptions,
) -> std::io::Result<EngagementIndexHandle> {
    let engagements = index.engagements.len();
    let state = Arc::new(IndexState {
        logical_addresses: vec![index.logical_address.clone()],
        index: RwLock::new(index),
    });
    let service = Router::new().fallback(answer).with_state(state.clone());
    let server = server::start(|_| service, SoapWire { hit_key }, BASE_PATH, options)?;
    tracing::debug!(addr = %server.addr(), engagements, "engagement index simulator started");
    Ok(EngagementIndexHandle { server, state })
}

impl EngagementIndexHandle {
    /// The platform base URL, `http(s)://127.0.0.1:<port>/vp`; FindContent is at
    /// `<base_url>/`[`FIND_CONTENT_PATH`].
    pub fn base_url(&self) -> &str {
        self.server.base_url()
    }

    /// The full FindContent URL.
    pub fn find_content_url(&self) -> String {
        format!("{}/{FIND_CONTENT_PATH}", self.base_url())
    }

    /// The index's logical address, which requests must name.
    pub fn logical_address(&self) -> &str {
        &self.state.logical_addresses[0]
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.addr()
    }

    /// Replaces the engagements (they are checked first).
    pub fn set_engagements(&self, engagements: Vec<Engagement>) -> Result<(), String> {
        for (n, engagement) in engagements.iter().enumerate() {
            engagement
                .check()
                .map_err(|e| format!("engagement #{}: {e}", n + 1))?;
        }
        self.state
            .index
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .engagements = engagements;
        Ok(())
    }

    pub fn engagements(&self) -> Vec<Engagement> {
        self.state
            .index
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .engagements
            .clone()
    }

    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.server.set_behaviour(behaviour);
    }

    pub fn behaviour(&self) -> Behaviour {
        self.server.behaviour()
    }

    /// HTTP requests received, on any path and in any behaviour.
    pub fn hits(&self) -> u64 {
        self.server.hits()
    }

    /// Requests to FindContent.
    pub fn find_content_hits(&self) -> u64 {
        self.server.hits_for("FindContent")
    }

    /// TLS handshakes refused or timed out.
    pub fn tls_refusals(&self) -> u64 {
        self.server.tls_refusals()
    }

    pub fn reset_hits(&self) {
        self.server.reset_hits();
    }

    /// Stops the server and waits until it has ended (see [`SimulatorHandle::shutdown`]).
    pub async fn shutdown(&self) {
        self.server.shutdown().await;
    }
}

async fn answer(
    State(state): State<Arc<IndexState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if uri.path().trim_end_matches('/') != find_content_path() {
        return not_found();
    }
    if method != Method::POST {
        return method_not_allowed();
    }
    match respond(&state, &headers, &body) {
        Ok((text, count)) => {
            tracing::debug!(engagements = count, "engagement index simulator answered");
            xml_response(StatusCode::OK, text)
        }
        Err(refusal) => {
            tracing::debug!("engagement index simulator answered a fault");
            refusal.into_response()
        }
    }
}

fn respond(
    state: &IndexState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(String, usize), SoapFault> {
    check_soap_action(headers, FIND_CONTENT_ACTION)?;
    let text =
        std::str::from_utf8(body).map_err(|_| SoapFault::client("the request is not UTF-8"))?;
    let doc = roxmltree::Document::parse(text).map_err(|e| SoapFault::client(e.to_string()))?;
    let request = read_request(&doc, FIND_CONTENT_NS, "FindContent")?;
    check_logical_address(
        request.logical_address,
        &state.logical_addresses,
        FIND_CONTENT_NS,
    )?;
    let query = Query::read(request.payload)?;

    let index = state.index.read().unwrap_or_else(PoisonError::into_inner);
    let mut out =
        format!(r#"<FindContentResponse xmlns="{FIND_CONTENT_NS}" xmlns:ei="{ENGAGEMENT_NS}">"#);
    let mut count = 0;
    for engagement in index.engagements.iter().filter(|e| query.matches(e)) {
        engagement.write(index.owner(), &mut out);
        count += 1;
    }
    out.push_str("</FindContentResponse>");
    Ok((envelope(None, &out), count))
}

/// What a FindContent request asks for.
struct Query<'a> {
    person: String,
    service_domain: &'a str,
    categorization: Option<&'a str>,
    logical_address: Option<&'a str>,
    source_system: Option<&'a str>,
    data_controller: Option<&'a str>,
    business_object: Option<&'a str>,
    clinical_process_interest: Option<&'a str>,
    most_recent_content: Option<&'a str>,
}

impl<'a> Query<'a> {
    fn read(payload: Node<'a, '_>) -> Result<Query<'a>, SoapFault> {
        let person = text(payload, "registeredResidentIdentification");
        let service_domain = text(payload, "serviceDomain");
        let (Some(person), Some(service_domain)) = (person, service_domain) else {
            return Err(SoapFault::client(
                "FindContent requires registeredResidentIdentification and serviceDomain",
            ));
        };
        Ok(Query {
            person: person.chars().filter(|c| *c != '-').collect(),
            service_domain,
            categorization: text(payload, "categorization"),
            logical_address: text(payload, "logicalAddress"),
            source_system: text(payload, "sourceSystem"),
            data_controller: text(payload, "dataController"),
            business_object: text(payload, "businessObjectInstanceIdentifier"),
            clinical_process_interest: text(payload, "clinicalProcessInterestId"),
            most_recent_content: text(payload, "mostRecentContent"),
        })
    }

    fn matches(&self, e: &Engagement) -> bool {
        let optional = |asked: Option<&str>, value: &str| asked.is_none_or(|a| a == value);
        e.person == self.person
            && e.service_domain == self.service_domain
            && optional(self.categorization, &e.categorization)
            && optional(self.logical_address, &e.logical_address)
            && optional(self.source_system, &e.source_system)
            && optional(self.data_controller, e.data_controller())
            && optional(self.business_object, NOT_APPLICABLE)
            && optional(self.clinical_process_interest, NOT_APPLICABLE)
            // Both are YYYYMMDDhhmmss: text order is time order.
            && self
                .most_recent_content
                .is_none_or(|since| e.most_recent_content.as_str() >= since)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGISTER: &str = r#"
logical_address = "5565594230"

[[engagement]]
person = "191212121212"
service_domain = "riv:crm:scheduling"
categorization = "Booking"
logical_address = "SE2321000024-0001"
source_system = "SE2321000024-1COS"
most_recent_content = "20261117081500"
"#;

    #[test]
    fn a_register_parses_and_fills_its_defaults() {
        let index = EngagementIndex::parse(REGISTER).unwrap();
        assert_eq!(index.owner(), "5565594230");
        let e = &index.engagements[0];
        assert_eq!(e.data_controller(), "SE2321000024-0001");
        let mut out = String::new();
        e.write(index.owner(), &mut out);
        assert!(
            out.contains("<ei:creationTime>20261117081500</ei:creationTime>"),
            "{out}"
        );
    }

    #[test]
    fn a_register_with_a_bad_person_or_time_names_the_engagement_and_field() {
        let bad = REGISTER.replace("\"191212121212\"", "\"19121212-1212\"");
        let msg = EngagementIndex::parse(&bad).unwrap_err();
        assert!(msg.contains("#1") && msg.contains("`person`"), "{msg}");
        let bad = REGISTER.replace("20261117081500", "2026-11-17");
        let msg = EngagementIndex::parse(&bad).unwrap_err();
        assert!(msg.contains("most_recent_content"), "{msg}");
        let msg = EngagementIndex::parse(&format!("{REGISTER}\nsurprise = 1\n")).unwrap_err();
        assert!(msg.contains("surprise"), "{msg}");
    }

    #[test]
    fn the_path_counts_as_find_content_with_or_without_a_trailing_slash() {
        let path = find_content_path();
        assert_eq!(hit_key(&path).as_deref(), Some("FindContent"));
        assert_eq!(hit_key(&format!("{path}/")).as_deref(), Some("FindContent"));
        assert_eq!(hit_key("/vp/other"), None);
    }
}
