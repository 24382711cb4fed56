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
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use quick_xml::escape::escape;
use roxmltree::{Document, Node};
use serde::Deserialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::{GARBAGE_BODY, SimulatorError};
use crate::sources::rivta::soap::{self, HEADERS_NS, REGISTRY_NS, SOAP_ENV};
use crate::sources::rivta::{Contract, xml};

/// The path of the platform under the simulator's address; `base_url()` ends with it.
pub const BASE_PATH: &str = "/vp";
/// The aggregator-mode file in a data folder.
pub const PROCESSING_STATUS_FILE: &str = "processing-status.toml";
const SOAP_XML: &str = "text/xml; charset=utf-8";
/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The folder (under a data folder) holding `contract`'s payloads: the interaction's name, with
/// `-v<major>` for an older major version of an interaction that has a newer one.
pub fn folder_name(contract: Contract) -> String {
    let newer_exists = Contract::ALL
        .iter()
        .any(|c| c.name() == contract.name() && c.major() > contract.major());
    if newer_exists {
        format!("{}-v{}", contract.name(), contract.major())
    } else {
        contract.name().to_owned()
    }
}

/// The namespace of the contract's core components (where `result`'s children live).
fn core_namespace(contract: Contract) -> &'static str {
    match contract {
        Contract::CareContacts3 | Contract::CarePlans2 => {
            "urn:riv:clinicalprocess:logistics:logistics:3"
        }
        Contract::MedicationHistory2 => "urn:riv:clinicalprocess:activityprescription:actoutcome:2",
        Contract::Observations1 => "urn:riv:clinicalprocess:healthcond:basic:1",
        Contract::LaboratoryOrderOutcome4 => "urn:riv:clinicalprocess:healthcond:actoutcome:4",
        Contract::LaboratoryOrderOutcome3 => "urn:riv:clinicalprocess:healthcond:actoutcome:3",
        Contract::SubjectOfCareSchedule1 => "urn:riv:crm:scheduling:1",
    }
}

/// Whether the contract's response ends with a required `result` (v4 lab results, observations
/// and bookings have none).
fn has_result(contract: Contract) -> bool {
    matches!(
        contract,
        Contract::CareContacts3
            | Contract::CarePlans2
            | Contract::MedicationHistory2
            | Contract::LaboratoryOrderOutcome3
    )
}

/// The contract's answer for a patient the producer knows nothing about: no records, and a
/// `result` of OK (with the `logId` the schemas require) where the contract has one.
fn empty_response(contract: Contract) -> String {
    let result = if has_result(contract) {
        format!(
            r#"<result><c:resultCode xmlns:c="{}">OK</c:resultCode><c:logId xmlns:c="{}">{}</c:logId></result>"#,
            core_namespace(contract),
            core_namespace(contract),
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
pub(super) fn check_timestamp(text: &str) -> Result<(), String> {
    if text.len() != 14 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("\"{text}\" is not YYYYMMDDhhmmss"));
    }
    chrono::NaiveDateTime::parse_from_str(text, "%Y%m%d%H%M%S")
        .map(|_| ())
        .map_err(|e| format!("\"{text}\" is not a time: {e}"))
}

/// Appends `<name>text</name>` with the text escaped.
pub(super) fn element(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    out.push_str(&escape(text));
    out.push_str("</");
    out.push_str(name);
    out.push('>');
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
                    let parts = read_processing_status(&path)?;
                    data.processing_status = Some(parts);
                }
                continue;
            }
            let Some(contract) = Contract::ALL.into_iter().find(|c| folder_name(*c) == name) else {
                let known: Vec<String> = Contract::ALL.into_iter().map(folder_name).collect();
                return Err(SimulatorError::File {
                    path: path.clone(),
                    message: format!("not a contract folder; use one of {}", known.join(", ")),
                });
            };
            data.load_contract_dir(contract, &path)?;
        }
        Ok(data)
    }

    fn load_contract_dir(&mut self, contract: Contract, dir: &Path) -> Result<(), SimulatorError> {
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
            self.insert(contract, stem, &text).map_err(file_error)?;
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

pub(super) fn is_twelve_digits(text: &str) -> bool {
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

// ---------------------------------------------------------------------------------------------
// The SOAP server shared with the engagement index simulator

/// How a SOAP simulator answers. Switch it at runtime with `set_behaviour`; the behaviour in
/// force when a request arrives decides its answer. The configured latency comes before every
/// answer, in every behaviour except `Hang`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SoapBehaviour {
    /// Answer as the contract says.
    #[default]
    Normal,
    /// Accept the request and never answer, until the client gives up or the simulator shuts
    /// down (then it answers 503).
    Hang,
    /// Answer normally after this extra delay (on top of the latency).
    Delay(Duration),
    /// Answer with this HTTP status and a plain-text body, as a proxy in front of the platform
    /// might (500 if it is not a status).
    Status(u16),
    /// Answer with a SOAP fault (`soap:Server`) and HTTP 500, as the platform does when the
    /// producer behind it fails.
    Fault,
    /// Answer 200 with `Content-Type: text/xml` and an HTML body.
    Garbage,
    /// Answer with the first half of the normal answer: XML cut off mid-way.
    Truncated,
}

/// TLS for a simulator: serve HTTPS with this certificate and require every client to present a
/// certificate issued by one of `client_ca_pem`'s CAs (mutual TLS, as the platform does).
#[derive(Clone)]
pub struct ServerTls {
    /// The server's certificate chain (PEM), leaf first; it must name 127.0.0.1.
    pub certificate_chain_pem: Vec<u8>,
    /// The server's private key (PEM: PKCS#8, RSA or SEC1).
    pub private_key_pem: Vec<u8>,
    /// The CA certificates (PEM) client certificates must chain to.
    pub client_ca_pem: Vec<u8>,
}

impl std::fmt::Debug for ServerTls {
    /// Never prints the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").finish_non_exhaustive()
    }
}

/// How a SOAP simulator serves.
#[derive(Clone, Debug, Default)]
pub struct SoapServerOptions {
    /// Added before every answer.
    pub latency: Duration,
    /// HTTPS with client certificates; plain HTTP when `None`.
    pub tls: Option<ServerTls>,
}

/// What the server task and the handles share.
pub(super) struct Control {
    base_url: String,
    latency: Duration,
    behaviour: Mutex<SoapBehaviour>,
    hits: AtomicU64,
    hits_by: Mutex<HashMap<String, u64>>,
    tls_refusals: AtomicU64,
    stopping: watch::Receiver<bool>,
    /// The counter a request path counts under (a contract's label), if any.
    hit_key: fn(&str) -> Option<String>,
}

impl Control {
    fn behaviour(&self) -> SoapBehaviour {
        *self
            .behaviour
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn count(&self, path: &str) {
        self.hits.fetch_add(1, Ordering::Relaxed);
        if let Some(key) = (self.hit_key)(path) {
            *self
                .hits_by
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(key)
                .or_default() += 1;
        }
    }
}

/// A running SOAP server; stops when dropped (the handles hold it in an `Arc`).
pub(super) struct Server {
    control: Arc<Control>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

impl Server {
    /// Binds a free port on 127.0.0.1 and serves `service` (the contract's handlers, without
    /// behaviours) behind the behaviour layer. Must be called within a Tokio runtime.
    pub(super) fn start(
        service: Router,
        options: &SoapServerOptions,
        hit_key: fn(&str) -> Option<String>,
    ) -> std::io::Result<Server> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(std::io::Error::other(
                "the simulator must be started within a Tokio runtime",
            ));
        }
        let acceptor = options
            .tls
            .as_ref()
            .map(|tls| server_config(tls).map(|c| tokio_rustls::TlsAcceptor::from(Arc::new(c))))
            .transpose()?;
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let listener = TcpListener::from_std(listener)?;
        let addr = listener.local_addr()?;
        let scheme = if acceptor.is_some() { "https" } else { "http" };

        let (stop, stopping) = watch::channel(false);
        let control = Arc::new(Control {
            base_url: format!("{scheme}://{addr}{BASE_PATH}"),
            latency: options.latency,
            behaviour: Mutex::new(SoapBehaviour::Normal),
            hits: AtomicU64::new(0),
            hits_by: Mutex::new(HashMap::new()),
            tls_refusals: AtomicU64::new(0),
            stopping: stopping.clone(),
            hit_key,
        });
        let app = service.layer(middleware::from_fn_with_state(control.clone(), behave));
        let mut until_stopped = stopping.clone();
        let shutdown = async move {
            // Err means every handle is gone: stop as well.
            let _ = until_stopped.wait_for(|stop| *stop).await;
        };
        let task = match acceptor {
            None => tokio::spawn(async move {
                let served = axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await;
                if let Err(error) = served {
                    tracing::warn!(%error, "SOAP simulator stopped with an error");
                }
            }),
            Some(acceptor) => {
                let listener = TlsListener::start(listener, acceptor, stopping, control.clone());
                tokio::spawn(async move {
                    let served = axum::serve(listener, app)
                        .with_graceful_shutdown(shutdown)
                        .await;
                    if let Err(error) = served {
                        tracing::warn!(%error, "SOAP simulator stopped with an error");
                    }
                })
            }
        };
        Ok(Server {
            control,
            addr,
            stop,
            task: Mutex::new(Some(task)),
        })
    }

    pub(super) fn base_url(&self) -> &str {
        &self.control.base_url
    }

    pub(super) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(super) fn set_behaviour(&self, behaviour: SoapBehaviour) {
        *self
            .control
            .behaviour
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = behaviour;
    }

    pub(super) fn behaviour(&self) -> SoapBehaviour {
        self.control.behaviour()
    }

    pub(super) fn hits(&self) -> u64 {
        self.control.hits.load(Ordering::Relaxed)
    }

    pub(super) fn hits_for(&self, key: &str) -> u64 {
        self.control
            .hits_by
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .copied()
            .unwrap_or(0)
    }

    pub(super) fn reset_hits(&self) {
        let mut by = self
            .control
            .hits_by
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.control.hits.store(0, Ordering::Relaxed);
        self.control.tls_refusals.store(0, Ordering::Relaxed);
        by.clear();
    }

    pub(super) fn tls_refusals(&self) -> u64 {
        self.control.tls_refusals.load(Ordering::Relaxed)
    }

    pub(super) async fn shutdown(&self) {
        self.stop.send_replace(true);
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// The rustls configuration: our certificate, and client certificates required and verified
/// against the client CAs.
fn server_config(tls: &ServerTls) -> std::io::Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let invalid = |what: &str, e: &dyn std::fmt::Display| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{what}: {e}"))
    };
    let chain = CertificateDer::pem_slice_iter(&tls.certificate_chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid("the server certificate", &e))?;
    let key = PrivateKeyDer::from_pem_slice(&tls.private_key_pem)
        .map_err(|e| invalid("the server key", &e))?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(&tls.client_ca_pem) {
        let ca = ca.map_err(|e| invalid("the client CA", &e))?;
        roots.add(ca).map_err(|e| invalid("the client CA", &e))?;
    }
    if roots.is_empty() {
        return Err(invalid("the client CA", &"no certificate in the PEM"));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| invalid("the client verifier", &e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("TLS versions", &e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| invalid("the server certificate", &e))?;
    // The server speaks HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Connections that completed the TLS handshake, for `axum::serve`. Handshakes run in tasks of
/// their own so that one slow or refused client does not hold up the others.
struct TlsListener {
    accepted: mpsc::Receiver<(tokio_rustls::server::TlsStream<TcpStream>, SocketAddr)>,
    addr: SocketAddr,
}

impl TlsListener {
    fn start(
        tcp: TcpListener,
        acceptor: tokio_rustls::TlsAcceptor,
        mut stopping: watch::Receiver<bool>,
        control: Arc<Control>,
    ) -> TlsListener {
        let addr = tcp
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let (sender, accepted) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = tokio::select! {
                    accepted = tcp.accept() => match accepted {
                        Ok(pair) => pair,
                        Err(error) => {
                            tracing::debug!(%error, "simulator accept failed");
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    },
                    // The guard `wait_for` returns is not Send: drop it at once.
                    () = async { let _ = stopping.wait_for(|stop| *stop).await; } => return,
                    () = sender.closed() => return,
                };
                let acceptor = acceptor.clone();
                let sender = sender.clone();
                let control = control.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = sender.send((tls, peer)).await;
                        }
                        Ok(Err(error)) => {
                            control.tls_refusals.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(%error, "simulator refused a TLS handshake");
                        }
                        Err(_) => {
                            control.tls_refusals.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!("simulator TLS handshake timed out");
                        }
                    }
                });
            }
        });
        TlsListener { accepted, addr }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(pair) => pair,
            // The acceptor stopped (shutdown): nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}

/// Counts the request, then applies latency and the behaviour in force around the handlers.
async fn behave(State(control): State<Arc<Control>>, request: Request, next: Next) -> Response {
    control.count(request.uri().path());
    let behaviour = control.behaviour();
    tracing::debug!(?behaviour, "SOAP simulator request");
    let mut stopping = control.stopping.clone();
    let shutting_down = || {
        plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the simulator is shutting down",
        )
    };

    let extra = match behaviour {
        SoapBehaviour::Delay(extra) => extra,
        _ => Duration::ZERO,
    };
    let hang = behaviour == SoapBehaviour::Hang;
    if !super::server::wait_to_answer(hang, control.latency + extra, &mut stopping).await {
        return shutting_down();
    }
    match behaviour {
        SoapBehaviour::Normal | SoapBehaviour::Delay(_) | SoapBehaviour::Hang => {
            next.run(request).await
        }
        SoapBehaviour::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            plain(
                status,
                &format!("simulated failure with status {}", status.as_u16()),
            )
        }
        SoapBehaviour::Fault => {
            Fault::server("VP009 Error connecting to service producer (simulated fault)")
                .into_response()
        }
        SoapBehaviour::Garbage => xml_response(StatusCode::OK, GARBAGE_BODY.to_owned()),
        SoapBehaviour::Truncated => {
            let (parts, body) = next.run(request).await.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            Response::from_parts(parts, Body::from(cut_in_half(&bytes)))
        }
    }
}

/// The first half of a text, never empty and never the whole, cut at a character boundary.
fn cut_in_half(bytes: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes);
    let mut cut = (text.len() / 2).max(1);
    while cut < text.len() && !text.is_char_boundary(cut) {
        cut += 1;
    }
    text.as_bytes()[..cut.min(text.len().saturating_sub(1))].to_vec()
}

fn plain(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text.to_owned(),
    )
        .into_response()
}

/// A SOAP 1.1 answer.
pub(super) fn xml_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, SOAP_XML)], body).into_response()
}

/// A SOAP envelope around `payload`, with `header` blocks when given.
pub(super) fn envelope(header: Option<&str>, payload: &str) -> String {
    let header = header
        .map(|h| format!("<soap:Header>{h}</soap:Header>"))
        .unwrap_or_default();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{SOAP_ENV}">{header}<soap:Body>{payload}</soap:Body></soap:Envelope>"#
    )
}

/// A SOAP 1.1 fault to answer with.
pub(super) struct Fault {
    /// `soap:Client` (the request is at fault), `soap:Server` or `soap:VersionMismatch`.
    code: &'static str,
    text: String,
}

impl Fault {
    pub(super) fn client(text: impl Into<String>) -> Fault {
        Fault {
            code: "soap:Client",
            text: text.into(),
        }
    }

    pub(super) fn server(text: impl Into<String>) -> Fault {
        Fault {
            code: "soap:Server",
            text: text.into(),
        }
    }
}

impl IntoResponse for Fault {
    /// With HTTP 500, as SOAP 1.1 over HTTP requires.
    fn into_response(self) -> Response {
        let mut body = String::from("<soap:Fault>");
        element(&mut body, "faultcode", self.code);
        element(&mut body, "faultstring", &self.text);
        body.push_str("</soap:Fault>");
        xml_response(StatusCode::INTERNAL_SERVER_ERROR, envelope(None, &body))
    }
}

pub(super) fn not_found() -> Response {
    plain(
        StatusCode::NOT_FOUND,
        "no service contract is served at this address",
    )
}

pub(super) fn method_not_allowed() -> Response {
    let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "SOAP requests are POSTed");
    response
        .headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
    response
}

/// A request's logical address and payload, checked against the expected request element.
pub(super) struct SoapRequest<'a, 'i> {
    pub logical_address: Option<&'a str>,
    pub payload: Node<'a, 'i>,
}

pub(super) fn read_request<'a, 'i>(
    doc: &'a Document<'i>,
    namespace: &str,
    element: &str,
) -> Result<SoapRequest<'a, 'i>, Fault> {
    let root = doc.root_element();
    if root.tag_name().name() == "Envelope" && root.tag_name().namespace() != Some(SOAP_ENV) {
        return Err(Fault {
            code: "soap:VersionMismatch",
            text: "the platform speaks SOAP 1.1 (http://schemas.xmlsoap.org/soap/envelope/)".into(),
        });
    }
    let payload = soap::payload(doc).map_err(|e| Fault::client(e.to_string()))?;
    if payload.tag_name().name() != element || payload.tag_name().namespace() != Some(namespace) {
        return Err(Fault::client(format!(
            "the body must hold <{element}> in namespace {namespace}"
        )));
    }
    let logical_address = xml::child(root, "Header")
        .and_then(|h| {
            h.children().find(|c| {
                c.is_element()
                    && c.tag_name().name() == "LogicalAddress"
                    && c.tag_name().namespace() == Some(REGISTRY_NS)
            })
        })
        .and_then(xml::own_text);
    Ok(SoapRequest {
        logical_address,
        payload,
    })
}

/// The platform's faults for a missing or unknown logical address (SKLTP's VP003 and VP004).
pub(super) fn check_logical_address(
    given: Option<&str>,
    served: &[String],
    namespace: &str,
) -> Result<(), Fault> {
    match given {
        None => Err(Fault::client(
            "VP003 No receiverId (logical address) found in message header",
        )),
        Some(address) if served.iter().any(|s| s == address) => Ok(()),
        Some(address) => Err(Fault::client(format!(
            "VP004 No logical address found for serviceNamespace: {namespace}, receiverId: {address}"
        ))),
    }
}

/// Refuses a request whose `SOAPAction` names another operation (a missing one is accepted, as
/// the platform routes by the payload's namespace).
pub(super) fn check_soap_action(headers: &HeaderMap, expected: &str) -> Result<(), Fault> {
    let Some(action) = headers.get("SOAPAction").and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let action = action.trim().trim_matches('"');
    if action.is_empty() || action == expected {
        Ok(())
    } else {
        Err(Fault::client(format!(
            "SOAPAction {action} does not match the addressed contract ({expected})"
        )))
    }
}

// ---------------------------------------------------------------------------------------------
// The RIV-TA producer

struct RivtaState {
    data: RwLock<RivtaData>,
    logical_addresses: Vec<String>,
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

/// Control of a running RIV-TA simulator. Clones share one server; it shuts down gracefully
/// when the last clone is dropped, or at [`RivtaHandle::shutdown`].
#[derive(Clone)]
pub struct RivtaHandle {
    server: Arc<Server>,
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

/// Starts a RIV-TA simulator serving `data` for the `logical_addresses` on 127.0.0.1 at a free
/// port. Must be called within a Tokio runtime; outside one, or with unusable TLS material, it
/// returns an error.
pub fn start(
    data: RivtaData,
    logical_addresses: Vec<String>,
    options: &SoapServerOptions,
) -> std::io::Result<RivtaHandle> {
    let people = data.person_count();
    let state = Arc::new(RivtaState {
        data: RwLock::new(data),
        logical_addresses,
    });
    let service = Router::new().fallback(answer).with_state(state.clone());
    let server = Server::start(service, options, contract_hit_key)?;
    tracing::debug!(addr = %server.addr(), people, tls = options.tls.is_some(), "RIV-TA simulator started");
    Ok(RivtaHandle {
        server: Arc::new(server),
        state,
    })
}

impl RivtaHandle {
    /// The platform base URL, `http(s)://127.0.0.1:<port>/vp` (no trailing slash); contract
    /// paths are appended to it.
    pub fn base_url(&self) -> &str {
        self.server.base_url()
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The logical addresses requests may name.
    pub fn logical_addresses(&self) -> &[String] {
        &self.state.logical_addresses
    }

    /// Switches how the following requests are answered.
    pub fn set_behaviour(&self, behaviour: SoapBehaviour) {
        self.server.set_behaviour(behaviour);
    }

    pub fn behaviour(&self) -> SoapBehaviour {
        self.server.behaviour()
    }

    /// HTTP requests received since the start or the last [`reset_hits`](Self::reset_hits), on
    /// any path and in any behaviour (a hanging request counts when it arrives). Connections
    /// refused at the TLS handshake never become requests: see
    /// [`tls_refusals`](Self::tls_refusals).
    pub fn hits(&self) -> u64 {
        self.server.hits()
    }

    /// Requests received for `contract`.
    pub fn hits_for(&self, contract: Contract) -> u64 {
        self.server.hits_for(&contract.label())
    }

    /// TLS handshakes refused (no or an untrusted client certificate) or timed out.
    pub fn tls_refusals(&self) -> u64 {
        self.server.tls_refusals()
    }

    /// Sets every counter to zero.
    pub fn reset_hits(&self) {
        self.server.reset_hits();
    }

    /// Answer as an aggregating service listing `parts` in a `ProcessingStatus` header (`None`:
    /// answer as a plain producer, without the header).
    pub fn set_processing_status(&self, parts: Option<Vec<ProcessingPart>>) -> Result<(), String> {
        self.state.write().set_processing_status(parts)
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

    /// Stops accepting connections, answers held requests with 503, lets answers in flight
    /// finish, and waits until the server task has ended.
    pub async fn shutdown(&self) {
        self.server.shutdown().await;
    }

    /// Lets the simulator run until the Tokio runtime shuts down instead of until the last
    /// handle is dropped.
    pub fn detach(self) {
        std::mem::forget(self.server);
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
) -> Result<String, Fault> {
    let namespace = contract.responder_namespace();
    check_soap_action(headers, &contract.soap_action())?;
    let text = std::str::from_utf8(body).map_err(|_| Fault::client("the request is not UTF-8"))?;
    let doc = soap::parse(text).map_err(|e| Fault::client(e.to_string()))?;
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
fn check_required(contract: Contract, payload: Node<'_, '_>) -> Result<(), Fault> {
    let required = match contract {
        Contract::Observations1 => "interactionAgreementId",
        Contract::SubjectOfCareSchedule1 => "healthcare_facility",
        _ => return Ok(()),
    };
    match xml::text(payload, required) {
        Some(_) => Ok(()),
        None => Err(Fault::client(format!(
            "{}: the request has no {required}",
            contract.label()
        ))),
    }
}

/// The 12 digits of the patient the request asks about, wherever the contract puts them.
fn requested_person(contract: Contract, payload: Node<'_, '_>) -> Result<String, Fault> {
    let id = match contract {
        Contract::SubjectOfCareSchedule1 => xml::text(payload, "subject_of_care"),
        Contract::LaboratoryOrderOutcome4 | Contract::Observations1 => {
            xml::text_at(payload, &["patientId", "extension"])
        }
        _ => xml::text_at(payload, &["patientId", "id"]),
    };
    let digits: String = id
        .unwrap_or("")
        .chars()
        .filter(|c| !matches!(c, '-' | '+'))
        .collect();
    if is_twelve_digits(&digits) {
        Ok(digits)
    } else {
        Err(Fault::client(format!(
            "{}: the request names no patient by a 12-digit identifier",
            contract.label()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_named_by_interaction_and_older_versions_by_major() {
        assert_eq!(
            folder_name(Contract::MedicationHistory2),
            "GetMedicationHistory"
        );
        assert_eq!(
            folder_name(Contract::LaboratoryOrderOutcome4),
            "GetLaboratoryOrderOutcome"
        );
        assert_eq!(
            folder_name(Contract::LaboratoryOrderOutcome3),
            "GetLaboratoryOrderOutcome-v3"
        );
        let names: BTreeSet<String> = Contract::ALL.into_iter().map(folder_name).collect();
        assert_eq!(names.len(), Contract::ALL.len());
    }

    #[test]
    fn an_empty_response_has_a_result_only_where_the_contract_has_one() {
        let medication = empty_response(Contract::MedicationHistory2);
        let doc = Document::parse(&medication).unwrap();
        let result = xml::child(doc.root_element(), "result").unwrap();
        assert_eq!(
            result.tag_name().namespace(),
            Some(Contract::MedicationHistory2.responder_namespace().as_str())
        );
        let code = xml::child(result, "resultCode").unwrap();
        assert_eq!(
            code.tag_name().namespace(),
            Some(core_namespace(Contract::MedicationHistory2))
        );
        assert_eq!(xml::own_text(code), Some("OK"));
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
        let list = xml::child(doc.root_element(), "ProcessingStatusList").unwrap();
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
        assert_eq!(xml::text(list, "isResponseFromCache"), Some("true"));
        assert_eq!(xml::text(list, "isResponseInSynch"), Some("false"));
        assert_eq!(
            xml::text_at(list, &["lastUnsuccessfulSynchError", "text"]),
            Some("timeout <5 s>")
        );
    }

    #[test]
    fn a_time_stamp_must_be_fourteen_digits_of_a_real_time() {
        assert!(check_timestamp("20261122081500").is_ok());
        assert!(check_timestamp("2026112208150").is_err());
        assert!(check_timestamp("20261322081500").is_err());
    }

    #[test]
    fn a_cut_answer_is_never_whole_and_never_empty() {
        for text in ["<a/>", "åäö", "<soap:Envelope>…</soap:Envelope>"] {
            let cut = cut_in_half(text.as_bytes());
            assert!(!cut.is_empty() && cut.len() < text.len(), "{text}");
            assert!(std::str::from_utf8(&cut).is_ok());
        }
    }
}
