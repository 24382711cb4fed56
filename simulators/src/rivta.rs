//! The RIV-TA simulator: a service platform (RIVTABP21, SOAP 1.1) answering the seven contracts
//! of [`Contract::ALL`] for one producer from files, plus the SOAP server plumbing (behaviours,
//! hit counts, optional mutual TLS, shutdown) that the engagement index simulator shares.
//!
//! # Data folder
//!
//! ```text
//! <data>/GetCareContacts/191212121212.xml        GetCareContacts v3
//! <data>/GetCarePlans/...                        GetCarePlans v2
//! <data>/GetMedicationHistory/...                GetMedicationHistory v2
//! <data>/GetObservations/...                     GetObservations v1
//! <data>/GetLaboratoryOrderOutcome/...           GetLaboratoryOrderOutcome v4
//! <data>/GetLaboratoryOrderOutcome-v3/...        GetLaboratoryOrderOutcome v3
//! <data>/GetSubjectOfCareSchedule/...            GetSubjectOfCareSchedule v1
//! <data>/processing-status.toml                  optional: answer as an aggregating service
//! ```
//!
//! A contract's folder is named after the interaction; an older major version of an interaction
//! Överblick also consumes gets `-v<major>` (today only lab results v3). Each file, named by the
//! patient's 12 digits, holds the contract's **response payload element** exactly as a producer
//! sends it in the SOAP Body (e.g. `<GetMedicationHistoryResponse xmlns="urn:riv:...Responder:2">`,
//! including its `result` where the contract has one). The simulator checks the element's name
//! and namespace when loading, not the schema (`tests/rivta_schemas.rs` validates the demo's).
//! Folders may be missing; other files (a README) are ignored, other folders are an error.
//!
//! # Answers
//!
//! The platform's base URL is `http(s)://127.0.0.1:<port>/vp`; a contract is served at
//! `<base>/<Contract::path()>` (POST). The request's `LogicalAddress` header must name an address
//! the simulator serves, the payload must be the contract's request element naming a patient:
//! otherwise a SOAP fault with HTTP 500, as the platform answers. An unknown path is 404. A
//! patient without a file gets the contract's empty answer (`result` OK where the contract has
//! one), which is schema-valid.
//!
//! # Aggregator mode
//!
//! With `processing-status.toml` (or [`RivtaHandle::set_processing_status`]) every answer carries
//! a `ProcessingStatus` SOAP header (ns `urn:riv:interoperability:headers:1`) with one
//! `ProcessingStatusList` per configured part, as an aggregating service reports the source
//! systems it asked:
//!
//! ```toml
//! [[part]]
//! logical_address = "SE2321000024-0001"
//! status = "DataFromCacheSynchFailed"    # DataFromSource | DataFromCache | DataFromCacheSynchFailed | NoDataSynchFailed
//! last_successful_sync = "20261121230000" # YYYYMMDDhhmmss, Swedish local time
//! last_failed_sync = "20261122081500"     # optional
//! error = { causing_agent = "SourceSystem", code = "VP009", text = "timeout" }  # optional
//! ```
//!
//! `isResponseFromCache` and `isResponseInSynch` follow from the status. There is no XSD for the
//! aggregating services' header in the repository's test data: its shape follows the real
//! aggregated answer in `tests/data/riv-ta/GetObservations/examples/`.
//!
//! The simulator logs contract names and counts only, never a patient or record content.

use std::collections::{BTreeSet, HashMap};
use std::ops::Deref;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use roxmltree::{Document, Node};
use serde::Deserialize;

use crate::SimulatorError;
use crate::contracts::Contract;
use crate::server::{self, ServerOptions, SimulatorHandle};
use crate::shift::DateShift;
use crate::soap::{
    HEADERS_NS, SoapFault, SoapWire, check_logical_address, check_soap_action, element, envelope,
    method_not_allowed, not_found, read_request, text, text_at, xml_response,
};

/// The path of the platform under the simulator's address; `base_url()` ends with it.
pub const BASE_PATH: &str = "/vp";
/// The aggregator-mode file in a data folder.
pub const PROCESSING_STATUS_FILE: &str = "processing-status.toml";

/// The contract's answer for a patient the producer knows nothing about: no records, and a
/// `result` of OK (with the `logId` the schemas require) where the contract has one.
fn empty_response(contract: Contract) -> String {
    let result = if contract.has_result() {
        format!(
            r#"<result><c:resultCode xmlns:c="{}">OK</c:resultCode><c:logId xmlns:c="{}">{}</c:logId></result>"#,
            contract.core_namespace(),
            contract.core_namespace(),
            uuid::Uuid::new_v4()
        )
    } else {
        String::new()
    };
    format!(
        r#"<{element} xmlns="{ns}">{result}</{element}>"#,
        element = contract.response_element(),
        ns = contract.responder_namespace(),
    )
}

// ---------------------------------------------------------------------------------------------
// Aggregator mode

/// The `statusCode` of a `ProcessingStatusList` record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum PartStatusCode {
    DataFromSource,
    DataFromCache,
    DataFromCacheSynchFailed,
    NoDataSynchFailed,
}

impl PartStatusCode {
    fn as_str(self) -> &'static str {
        match self {
            PartStatusCode::DataFromSource => "DataFromSource",
            PartStatusCode::DataFromCache => "DataFromCache",
            PartStatusCode::DataFromCacheSynchFailed => "DataFromCacheSynchFailed",
            PartStatusCode::NoDataSynchFailed => "NoDataSynchFailed",
        }
    }

    /// `isResponseFromCache`, `isResponseInSynch`.
    fn flags(self) -> (bool, bool) {
        match self {
            PartStatusCode::DataFromSource => (false, true),
            PartStatusCode::DataFromCache => (true, true),
            PartStatusCode::DataFromCacheSynchFailed => (true, false),
            PartStatusCode::NoDataSynchFailed => (false, false),
        }
    }
}

/// One source system behind an aggregating service, as its `ProcessingStatusList` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessingPart {
    pub logical_address: String,
    pub status: PartStatusCode,
    /// `YYYYMMDDhhmmss`, Swedish local time.
    #[serde(default)]
    pub last_successful_sync: Option<String>,
    /// `YYYYMMDDhhmmss`, Swedish local time.
    #[serde(default)]
    pub last_failed_sync: Option<String>,
    #[serde(default)]
    pub error: Option<SyncError>,
}

/// `lastUnsuccessfulSynchError`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncError {
    /// Who failed, e.g. `SourceSystem` or `VirtualizationPlatform`.
    pub causing_agent: String,
    pub code: String,
    pub text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProcessingStatusFile {
    #[serde(default)]
    part: Vec<ProcessingPart>,
}

impl ProcessingPart {
    /// A part whose data came fresh from its source system at `synced` (`YYYYMMDDhhmmss`).
    pub fn from_source(logical_address: &str, synced: &str) -> ProcessingPart {
        ProcessingPart {
            logical_address: logical_address.to_owned(),
            status: PartStatusCode::DataFromSource,
            last_successful_sync: Some(synced.to_owned()),
            last_failed_sync: None,
            error: None,
        }
    }

    fn check(&self) -> Result<(), String> {
        if self.logical_address.trim().is_empty() {
            return Err("`logical_address` must not be empty".into());
        }
        for (field, value) in [
            ("last_successful_sync", &self.last_successful_sync),
            ("last_failed_sync", &self.last_failed_sync),
        ] {
            if let Some(value) = value {
                check_timestamp(value).map_err(|e| format!("`{field}`: {e}"))?;
            }
        }
        Ok(())
    }

    fn write(&self, out: &mut String) {
        let (from_cache, in_synch) = self.status.flags();
        out.push_str("<ProcessingStatusList>");
        element(out, "logicalAddress", &self.logical_address);
        element(out, "statusCode", self.status.as_str());
        element(out, "isResponseFromCache", &from_cache.to_string());
        element(out, "isResponseInSynch", &in_synch.to_string());
        if let Some(t) = &self.last_successful_sync {
            element(out, "lastSuccessfulSynch", t);
        }
        if let Some(t) = &self.last_failed_sync {
            element(out, "lastUnsuccessfulSynch", t);
        }
        if let Some(e) = &self.error {
            out.push_str("<lastUnsuccessfulSynchError>");
            element(out, "causingAgent", &e.causing_agent);
            element(out, "code", &e.code);
            element(out, "text", &e.text);
            out.push_str("</lastUnsuccessfulSynchError>");
        }
        out.push_str("</ProcessingStatusList>");
    }
}

/// The `ProcessingStatus` header block for `parts`.
fn processing_status_header(parts: &[ProcessingPart]) -> String {
    let mut out = format!(r#"<ProcessingStatus xmlns="{HEADERS_NS}">"#);
    for part in parts {
        part.write(&mut out);
    }
    out.push_str("</ProcessingStatus>");
    out
}

/// Checks a RIV-TA time stamp: `YYYYMMDDhhmmss`, a real date and time.
pub(crate) fn check_timestamp(text: &str) -> Result<(), String> {
    if text.len() != 14 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("\"{text}\" is not YYYYMMDDhhmmss"));
    }
    chrono::NaiveDateTime::parse_from_str(text, "%Y%m%d%H%M%S")
        .map(|_| ())
        .map_err(|e| format!("\"{text}\" is not a time: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Data

/// One producer's answers: response payloads by contract and patient, and the aggregator parts
/// when it answers as an aggregating service.
#[derive(Clone, Debug, Default)]
pub struct RivtaData {
    responses: HashMap<(Contract, String), Arc<str>>,
    processing_status: Option<Vec<ProcessingPart>>,
}

impl RivtaData {
    /// No answers: every patient gets the empty response.
    pub fn new() -> RivtaData {
        RivtaData::default()
    }

    /// Loads a data folder (see the module documentation).
    pub fn load_dir(dir: &Path) -> Result<RivtaData, SimulatorError> {
        Self::load_dir_shifted(dir, DateShift::default())
    }

    /// Loads a data folder with every time of its records (and of its processing status) moved
    /// by `shift`.
    pub fn load_dir_shifted(dir: &Path, shift: DateShift) -> Result<RivtaData, SimulatorError> {
        let folder_error = |path: &Path| {
            let path = path.to_owned();
            move |source| SimulatorError::Folder { path, source }
        };
        let mut data = RivtaData::new();
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(folder_error(dir))? {
            entries.push(entry.map_err(folder_error(dir))?.path());
        }
        entries.sort();
        for path in entries {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') {
                continue;
            }
            if path.is_file() {
                if name == PROCESSING_STATUS_FILE {
                    let mut parts = read_processing_status(&path)?;
                    for part in &mut parts {
                        for time in [&mut part.last_successful_sync, &mut part.last_failed_sync]
                            .into_iter()
                            .flatten()
                        {
                            if let Some(moved) = shift.rivta_text(time) {
                                *time = moved;
                            }
                        }
                    }
                    data.processing_status = Some(parts);
                }
                continue;
            }
            let Some(contract) = Contract::ALL.into_iter().find(|c| c.folder_name() == name) else {
                let known: Vec<String> = Contract::ALL
                    .into_iter()
                    .map(Contract::folder_name)
                    .collect();
                return Err(SimulatorError::File {
                    path: path.clone(),
                    message: format!("not a contract folder; use one of {}", known.join(", ")),
                });
            };
            data.load_contract_dir(contract, &path, shift)?;
        }
        Ok(data)
    }

    fn load_contract_dir(
        &mut self,
        contract: Contract,
        dir: &Path,
        shift: DateShift,
    ) -> Result<(), SimulatorError> {
        let folder_error = |source| SimulatorError::Folder {
            path: dir.to_owned(),
            source,
        };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(folder_error)? {
            let path = entry.map_err(folder_error)?.path();
            let hidden = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            if !hidden {
                paths.push(path);
            }
        }
        paths.sort();
        for path in paths {
            let file_error = |message: String| SimulatorError::File {
                path: path.clone(),
                message,
            };
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            if !path.is_file()
                || path.extension().is_none_or(|e| e != "xml")
                || !is_twelve_digits(stem)
            {
                return Err(file_error(
                    "a contract folder holds one file per patient, named by the 12-digit \
                     personnummer or samordningsnummer, e.g. 191212121212.xml"
                        .into(),
                ));
            }
            let text = std::fs::read_to_string(&path)
                .map_err(|e| file_error(format!("cannot read it: {e}")))?;
            self.insert(contract, stem, &shift.rivta(&text))
                .map_err(file_error)?;
        }
        Ok(())
    }

    /// Sets `person`'s answer to `contract`: `payload` is the response element (an XML
    /// declaration before it is dropped). Checks the element's name and namespace.
    pub fn insert(
        &mut self,
        contract: Contract,
        person: &str,
        payload: &str,
    ) -> Result<(), String> {
        if !is_twelve_digits(person) {
            return Err("the patient must be 12 digits".into());
        }
        let payload = payload_element(contract, payload)?;
        self.responses
            .insert((contract, person.to_owned()), Arc::from(payload));
        Ok(())
    }

    /// The number of patients with at least one answer.
    pub fn person_count(&self) -> usize {
        self.responses
            .keys()
            .map(|(_, person)| person)
            .collect::<BTreeSet<_>>()
            .len()
    }

    /// The number of (contract, patient) answers.
    pub fn response_count(&self) -> usize {
        self.responses.len()
    }

    /// The aggregator parts, when the producer answers as an aggregating service.
    pub fn processing_status(&self) -> Option<&[ProcessingPart]> {
        self.processing_status.as_deref()
    }

    /// Answer as an aggregating service listing `parts` (`None`: as a plain producer).
    pub fn set_processing_status(
        &mut self,
        parts: Option<Vec<ProcessingPart>>,
    ) -> Result<(), String> {
        for part in parts.iter().flatten() {
            part.check()?;
        }
        self.processing_status = parts;
        Ok(())
    }
}

fn read_processing_status(path: &Path) -> Result<Vec<ProcessingPart>, SimulatorError> {
    let file_error = |message: String| SimulatorError::File {
        path: path.to_owned(),
        message,
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| file_error(format!("cannot read it: {e}")))?;
    let file: ProcessingStatusFile =
        toml::from_str(&text).map_err(|e| file_error(e.message().to_owned()))?;
    for (n, part) in file.part.iter().enumerate() {
        part.check()
            .map_err(|e| file_error(format!("[[part]] #{}: {e}", n + 1)))?;
    }
    Ok(file.part)
}

pub(crate) fn is_twelve_digits(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// The response element of `text`, as written (without the XML declaration), after checking it
/// is `contract`'s response element in the responder namespace.
fn payload_element(contract: Contract, text: &str) -> Result<String, String> {
    let doc = Document::parse(text).map_err(|e| format!("not XML: {e}"))?;
    let root = doc.root_element();
    let expected = contract.response_element();
    let namespace = contract.responder_namespace();
    if root.tag_name().name() != expected || root.tag_name().namespace() != Some(namespace.as_str())
    {
        return Err(format!(
            "the root element must be <{expected}> in namespace {namespace} ({}), not <{}> in {}",
            contract.label(),
            root.tag_name().name(),
            root.tag_name().namespace().unwrap_or("no namespace"),
        ));
    }
    Ok(text[root.range()].to_owned())
}

/// `answer` (a GetSubjectOfCareSchedule response) with its first timeslot's
/// `startTimeInclusive` and `endTimeExclusive` a day later; and that booking's `bookingId`.
fn move_first_timeslot(answer: &str) -> Result<(String, String), String> {
    let mut moved = answer.to_owned();
    let mut from = 0;
    for element in ["startTimeInclusive>", "endTimeExclusive>"] {
        let at = moved[from..]
            .find(element)
            .map(|i| from + i + element.len())
            .ok_or_else(|| {
                "the person has no booking with a start time at this source".to_owned()
            })?;
        let stamp = moved
            .get(at..at + 14)
            .ok_or_else(|| "a booking's time is not YYYYMMDDhhmmss".to_owned())?;
        let time = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%d%H%M%S")
            .map_err(|_| "a booking's time is not YYYYMMDDhhmmss".to_owned())?;
        let later = (time + chrono::TimeDelta::days(1))
            .format("%Y%m%d%H%M%S")
            .to_string();
        moved.replace_range(at..at + 14, &later);
        from = at;
    }
    let booking = moved[from..]
        .find("bookingId>")
        .map(|i| from + i + "bookingId>".len())
        .and_then(|at| {
            moved[at..]
                .find('<')
                .map(|end| moved[at..at + end].to_owned())
        })
        .unwrap_or_default();
    Ok((moved, booking))
}

// ---------------------------------------------------------------------------------------------
// The RIV-TA producer

struct RivtaState {
    data: RwLock<RivtaData>,
    logical_addresses: Vec<String>,
    /// Where the platform's notifications of this producer's changes go; `None`: nowhere.
    notify: std::sync::Mutex<Option<crate::notify::NotifyTarget>>,
}

impl RivtaState {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, RivtaData> {
        self.data.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, RivtaData> {
        self.data.write().unwrap_or_else(PoisonError::into_inner)
    }
}

fn contract_of(path: &str) -> Option<Contract> {
    path.strip_prefix(BASE_PATH)
        .filter(|rest| rest.starts_with('/'))
        .and_then(Contract::from_path)
}

/// Counts requests by the contract's label (e.g. `GetMedicationHistory v2`).
fn contract_hit_key(path: &str) -> Option<String> {
    contract_of(path).map(Contract::label)
}

/// Control of a running RIV-TA simulator: the shared server's controls (behaviours, hits,
/// shutdown; through `Deref`), and the producer's data. Clones share one server; it shuts down
/// gracefully when the last clone is dropped, or at [`SimulatorHandle::shutdown`].
#[derive(Clone)]
pub struct RivtaHandle {
    server: SimulatorHandle,
    state: Arc<RivtaState>,
}

impl std::fmt::Debug for RivtaHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RivtaHandle")
            .field("base_url", &self.base_url())
            .field("behaviour", &self.behaviour())
            .finish()
    }
}

impl Deref for RivtaHandle {
    type Target = SimulatorHandle;

    fn deref(&self) -> &SimulatorHandle {
        &self.server
    }
}

/// Starts a RIV-TA simulator serving `data` for the `logical_addresses` on 127.0.0.1 at a free
/// port; its base URL is `http(s)://127.0.0.1:<port>/vp`, contract paths appended. Must be
/// called within a Tokio runtime; outside one, or with unusable TLS material, it returns an
/// error.
pub fn start(
    data: RivtaData,
    logical_addresses: Vec<String>,
    options: &ServerOptions,
) -> std::io::Result<RivtaHandle> {
    let people = data.person_count();
    let state = Arc::new(RivtaState {
        data: RwLock::new(data),
        logical_addresses,
        notify: std::sync::Mutex::new(None),
    });
    let service = Router::new().fallback(answer).with_state(state.clone());
    let server = server::start(
        |_| service,
        SoapWire {
            hit_key: contract_hit_key,
        },
        BASE_PATH,
        options,
    )?;
    tracing::debug!(addr = %server.addr(), people, tls = options.tls.is_some(), "RIV-TA simulator started");
    Ok(RivtaHandle { server, state })
}

impl RivtaHandle {
    /// The shared server's handle (behaviours, hits, shutdown).
    pub fn server(&self) -> &SimulatorHandle {
        &self.server
    }

    /// The logical addresses requests may name.
    pub fn logical_addresses(&self) -> &[String] {
        &self.state.logical_addresses
    }

    /// Requests received for `contract`.
    pub fn hits_for_contract(&self, contract: Contract) -> u64 {
        self.server.hits_for(&contract.label())
    }

    /// Answer as an aggregating service listing `parts` in a `ProcessingStatus` header (`None`:
    /// answer as a plain producer, without the header).
    pub fn set_processing_status(&self, parts: Option<Vec<ProcessingPart>>) -> Result<(), String> {
        self.state.write().set_processing_status(parts)
    }

    /// Sends the platform's `ProcessNotification` to `target` after every change from now on
    /// (`None`: stop), as the engagement index does once a producer reported a change.
    pub fn notify_to(&self, target: Option<crate::notify::NotifyTarget>) {
        *self
            .state
            .notify
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = target;
    }

    /// Makes `change` to `person`'s (12 digits) answers and, when a target is set, sends the
    /// platform's ProcessNotification of it. A RIV-TA producer moves bookings only
    /// ([`Change::Booking`](crate::Change::Booking): the first timeslot of its
    /// GetSubjectOfCareSchedule answer a day later).
    pub async fn change(
        &self,
        person: &str,
        change: crate::Change,
    ) -> Result<crate::Changed, String> {
        if change != crate::Change::Booking {
            return Err("a simulated RIV-TA source changes bookings only".into());
        }
        let contract = Contract::SubjectOfCareSchedule1;
        let record = {
            let mut data = self.state.write();
            let answer = data
                .responses
                .get(&(contract, person.to_owned()))
                .cloned()
                .ok_or_else(|| "the source holds no bookings of that person".to_owned())?;
            let (moved, booking) = move_first_timeslot(&answer)?;
            data.insert(contract, person, &moved)?;
            booking
        };
        tracing::info!(
            change = change.name(),
            "simulated RIV-TA source changed a record"
        );
        let target = self
            .state
            .notify
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let address = self
            .state
            .logical_addresses
            .first()
            .cloned()
            .unwrap_or_default();
        let notified = match target {
            None => None,
            Some(target) => Some(
                crate::notify::send(
                    &target,
                    "text/xml; charset=utf-8",
                    crate::notify::process_notification(
                        person,
                        "riv:crm:scheduling",
                        "Booking",
                        &address,
                    ),
                )
                .await,
            ),
        };
        Ok(crate::Changed { record, notified })
    }

    /// Sets `person`'s answer to `contract` (see [`RivtaData::insert`]).
    pub fn set_response(
        &self,
        contract: Contract,
        person: &str,
        payload: &str,
    ) -> Result<(), String> {
        self.state.write().insert(contract, person, payload)
    }

    /// Lets the simulator run until the Tokio runtime shuts down instead of until the last
    /// handle is dropped.
    pub fn detach(self) {
        self.server.detach();
    }
}

/// Answers one request to the platform (after the behaviour layer).
async fn answer(
    State(state): State<Arc<RivtaState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(contract) = contract_of(uri.path()) else {
        return not_found();
    };
    if method != Method::POST {
        return method_not_allowed();
    }
    match respond(&state, contract, &headers, &body) {
        Ok(text) => {
            tracing::debug!(contract = contract.name(), "RIV-TA simulator answered");
            xml_response(StatusCode::OK, text)
        }
        Err(refusal) => {
            tracing::debug!(
                contract = contract.name(),
                "RIV-TA simulator answered a fault"
            );
            refusal.into_response()
        }
    }
}

fn respond(
    state: &RivtaState,
    contract: Contract,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<String, SoapFault> {
    let namespace = contract.responder_namespace();
    check_soap_action(headers, &contract.soap_action())?;
    let body =
        std::str::from_utf8(body).map_err(|_| SoapFault::client("the request is not UTF-8"))?;
    let doc = Document::parse(body).map_err(|e| SoapFault::client(e.to_string()))?;
    let request = read_request(&doc, &namespace, contract.request_element())?;
    check_logical_address(
        request.logical_address,
        &state.logical_addresses,
        &namespace,
    )?;
    check_required(contract, request.payload)?;
    let person = requested_person(contract, request.payload)?;

    let data = state.read();
    let payload = data
        .responses
        .get(&(contract, person))
        .map(|p| p.to_string())
        .unwrap_or_else(|| empty_response(contract));
    let header = data.processing_status().map(processing_status_header);
    Ok(envelope(header.as_deref(), &payload))
}

/// Refuses requests that leave out what the contract requires besides the patient.
fn check_required(contract: Contract, payload: Node<'_, '_>) -> Result<(), SoapFault> {
    let required = match contract {
        Contract::Observations1 => "interactionAgreementId",
        Contract::SubjectOfCareSchedule1 => "healthcare_facility",
        _ => return Ok(()),
    };
    match text(payload, required) {
        Some(_) => Ok(()),
        None => Err(SoapFault::client(format!(
            "{}: the request has no {required}",
            contract.label()
        ))),
    }
}

/// The 12 digits of the patient the request asks about, wherever the contract puts them.
fn requested_person(contract: Contract, payload: Node<'_, '_>) -> Result<String, SoapFault> {
    let id = match contract {
        Contract::SubjectOfCareSchedule1 => text(payload, "subject_of_care"),
        Contract::LaboratoryOrderOutcome4 | Contract::Observations1 => {
            text_at(payload, &["patientId", "extension"])
        }
        _ => text_at(payload, &["patientId", "id"]),
    };
    let digits: String = id
        .unwrap_or("")
        .chars()
        .filter(|c| !matches!(c, '-' | '+'))
        .collect();
    if is_twelve_digits(&digits) {
        Ok(digits)
    } else {
        Err(SoapFault::client(format!(
            "{}: the request names no patient by a 12-digit identifier",
            contract.label()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_response_has_a_result_only_where_the_contract_has_one() {
        let medication = empty_response(Contract::MedicationHistory2);
        let doc = Document::parse(&medication).unwrap();
        let result = crate::soap::child(doc.root_element(), "result").unwrap();
        assert_eq!(
            result.tag_name().namespace(),
            Some(Contract::MedicationHistory2.responder_namespace().as_str())
        );
        let code = crate::soap::child(result, "resultCode").unwrap();
        assert_eq!(
            code.tag_name().namespace(),
            Some(Contract::MedicationHistory2.core_namespace())
        );
        assert_eq!(crate::soap::own_text(code), Some("OK"));
        let observations = empty_response(Contract::Observations1);
        assert!(!observations.contains("result"), "{observations}");
    }

    #[test]
    fn a_payload_of_another_contract_is_refused_when_loading() {
        let mut data = RivtaData::new();
        let error = data
            .insert(
                Contract::MedicationHistory2,
                "191212121212",
                &empty_response(Contract::CarePlans2),
            )
            .unwrap_err();
        assert!(error.contains("GetMedicationHistoryResponse"), "{error}");
        let declared = format!(
            "<?xml version=\"1.0\"?>\n{}",
            empty_response(Contract::CarePlans2)
        );
        data.insert(Contract::CarePlans2, "191212121212", &declared)
            .unwrap();
        let stored = &data.responses[&(Contract::CarePlans2, "191212121212".to_owned())];
        assert!(stored.starts_with("<GetCarePlansResponse"), "{stored}");
        assert!(
            data.insert(Contract::CarePlans2, "19121212-1212", &declared)
                .is_err()
        );
    }

    #[test]
    fn a_processing_status_record_lists_its_fields_in_the_contract_order() {
        let part = ProcessingPart {
            logical_address: "SE2321000024-0001".into(),
            status: PartStatusCode::DataFromCacheSynchFailed,
            last_successful_sync: Some("20261121230000".into()),
            last_failed_sync: Some("20261122081500".into()),
            error: Some(SyncError {
                causing_agent: "SourceSystem".into(),
                code: "VP009".into(),
                text: "timeout <5 s>".into(),
            }),
        };
        let header = processing_status_header(&[part]);
        let doc = Document::parse(&header).unwrap();
        let list = crate::soap::child(doc.root_element(), "ProcessingStatusList").unwrap();
        let names: Vec<&str> = list
            .children()
            .filter(|c| c.is_element())
            .map(|c| c.tag_name().name())
            .collect();
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
        assert_eq!(crate::soap::text(list, "isResponseFromCache"), Some("true"));
        assert_eq!(crate::soap::text(list, "isResponseInSynch"), Some("false"));
        assert_eq!(
            crate::soap::text_at(list, &["lastUnsuccessfulSynchError", "text"]),
            Some("timeout <5 s>")
        );
    }

    #[test]
    fn a_time_stamp_must_be_fourteen_digits_of_a_real_time() {
        assert!(check_timestamp("20261122081500").is_ok());
        assert!(check_timestamp("2026112208150").is_err());
        assert!(check_timestamp("20261322081500").is_err());
    }
}

#[cfg(test)]
mod move_tests {
    #[test]
    fn moving_a_booking_moves_its_first_timeslot_a_day_and_nothing_else() {
        let answer = "<r><timeslotDetail><c:startTimeInclusive>20261231233000</c:startTimeInclusive><c:endTimeExclusive>20270101000000</c:endTimeExclusive><c:bookingId>B1</c:bookingId></timeslotDetail><timeslotDetail><c:startTimeInclusive>20270105100000</c:startTimeInclusive></timeslotDetail></r>";
        let (moved, booking) = super::move_first_timeslot(answer).unwrap();
        assert_eq!(booking, "B1");
        assert!(moved.contains("<c:startTimeInclusive>20270101233000<"));
        assert!(moved.contains("<c:endTimeExclusive>20270102000000<"));
        assert!(moved.contains("<c:startTimeInclusive>20270105100000<"));
        assert!(super::move_first_timeslot("<r/>").is_err());
    }
}
