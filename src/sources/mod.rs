//! Source adapters: one folder per protocol, each turning a care-provider system's answers into
//! normalised items. Adapters know nothing of GraphQL, caching, deadlines or other sources; the
//! engine wraps those policies around them from outside.
//!
//! A protocol is one folder here and one line in [`registry`]: its catalog table's type
//! implements [`SourceConfig`] (checks itself and builds the protocol's adapters), and may hand
//! the engine a [`Locator`] (RIV-TA's engagement index) that narrows which of its sources are
//! asked.

pub mod client;
pub mod fhir;
pub mod hl7;
pub mod registry;
pub mod rivta;

use std::collections::BTreeSet;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use crate::codes;
use crate::config::Settings;
use crate::config::catalog::SourceEntry;
use crate::domain::{Domain, DomainItems, Organisation, PersonId};
use client::HttpClient;

/// What a source is, as the catalog describes it; shared by every item's provenance.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceInfo {
    /// Our id of the source, unique in the catalog.
    pub id: String,
    /// Display name, e.g. "Akademiska sjukhuset".
    pub name: String,
    /// The record system, e.g. "Cosmic".
    pub system: Option<String>,
    /// The care provider (vårdgivare) whose system this is.
    pub care_provider: Organisation,
    /// The care unit to name when a record does not say which unit it belongs to.
    pub default_care_unit: Option<Organisation>,
}

/// Why one call to one source gave no data. The variants are the precise causes; [`code`]
/// groups them into the stable codes clients see.
///
/// `Status`, `Reported` and `InvalidResponse` carry text the source sent (an OperationOutcome's
/// or a SOAP fault's words, what could not be read in its answer): it may name the patient, so
/// it is never logged ([`kind`] is), and clients see it only where the deployment allows
/// ([`stable_text`] is the account without it).
///
/// [`code`]: SourceError::code
/// [`kind`]: SourceError::kind
/// [`stable_text`]: SourceError::stable_text
#[derive(Clone, Debug, thiserror::Error)]
pub enum SourceError {
    /// The call did not finish within its time limit (the per-source timeout or what was left of
    /// the request's deadline).
    #[error("did not answer within {limit_ms} ms")]
    Timeout { limit_ms: u64 },
    /// The connection could not be made or broke off.
    #[error("connection failed: {0}")]
    Connect(#[source] ConnectError),
    /// The source answered with a non-success HTTP status.
    #[error("answered HTTP {status}{}", outcome.as_ref().map(|o| format!(": {o}")).unwrap_or_default())]
    Status {
        status: u16,
        /// The FHIR OperationOutcome (or SOAP fault) the body carried, summarised.
        outcome: Option<String>,
    },
    /// The source answered 2xx with an OperationOutcome (or SOAP fault) reporting an error.
    #[error("reported an error: {0}")]
    Reported(String),
    /// The answer could not be understood (not JSON, not a Bundle, ...).
    #[error("sent an answer that could not be read: {0}")]
    InvalidResponse(String),
    /// The answer was larger than the configured cap.
    #[error("sent more than {limit_bytes} bytes")]
    TooLarge { limit_bytes: usize },
    /// The source does not offer this domain.
    #[error("does not offer {0}")]
    Unsupported(&'static str),
    /// The source has failed repeatedly and its circuit breaker is open: it was not asked.
    #[error("is failing and is not being asked just now (next try in {retry_in_ms} ms)")]
    Unavailable { retry_in_ms: u64 },
    /// The source already has as many calls in progress as its policy allows: this one was
    /// shed without asking.
    #[error("is busy with {limit} calls already and was not asked")]
    Overloaded { limit: usize },
}

/// Why a connection to a source failed, in our words (no URL: it carries the patient's
/// identifier), with the transport's own error as the cause.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{what}")]
pub struct ConnectError {
    what: &'static str,
    /// The HTTP client's error, its URL removed. Shared: a [`SourceError`] is cloned to every
    /// request that waited on the same call.
    #[source]
    cause: Option<Arc<reqwest::Error>>,
}

impl ConnectError {
    /// `what` happened, caused by `cause` (whose URL is removed here).
    pub fn new(what: &'static str, cause: reqwest::Error) -> Self {
        ConnectError {
            what,
            cause: Some(Arc::new(cause.without_url())),
        }
    }

    /// What happened, in our words.
    pub fn what(&self) -> &'static str {
        self.what
    }
}

impl From<&'static str> for ConnectError {
    /// A connection failure without a transport error behind it (a URL that cannot be used,
    /// a test's stand-in).
    fn from(what: &'static str) -> Self {
        ConnectError { what, cause: None }
    }
}

impl SourceError {
    /// The stable error code clients see in `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            SourceError::Timeout { .. } => codes::SOURCE_TIMEOUT,
            SourceError::Unavailable { .. } => codes::SOURCE_UNAVAILABLE,
            SourceError::Overloaded { .. } => codes::SOURCE_OVERLOADED,
            _ => codes::SOURCE_ERROR,
        }
    }

    /// What clients are told where text the source sent must not reach them: a phrase fixed
    /// per [`code`](SourceError::code), and the code, e.g. `failed (SOURCE_ERROR)`.
    pub fn stable_text(&self) -> String {
        let code = self.code();
        let phrase = match code {
            codes::SOURCE_TIMEOUT => "did not answer in time",
            codes::SOURCE_UNAVAILABLE => "is failing and was not asked",
            codes::SOURCE_OVERLOADED => "was busy and was not asked",
            _ => "failed",
        };
        format!("{phrase} ({code})")
    }

    /// The whole account for the log, where operators need what the source said even when
    /// clients are not told it (`[graphql] redact_source_errors`): the message, with anything
    /// shaped like a personnummer masked (a producer may echo whom it was asked about) and cut
    /// at 500 characters.
    pub fn log_text(&self) -> String {
        let text = crate::domain::mask_person_ids(&self.to_string());
        match text.char_indices().nth(500) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text,
        }
    }

    /// A short, stable label for logs and metrics (no patient data, no upstream text).
    pub fn kind(&self) -> &'static str {
        match self {
            SourceError::Timeout { .. } => "timeout",
            SourceError::Connect(_) => "connect",
            SourceError::Status { .. } => "status",
            SourceError::Reported(_) => "reported",
            SourceError::InvalidResponse(_) => "invalid_response",
            SourceError::TooLarge { .. } => "too_large",
            SourceError::Unsupported(_) => "unsupported",
            SourceError::Unavailable { .. } => "breaker_open",
            SourceError::Overloaded { .. } => "shed",
        }
    }

    /// Whether the failure says the source is unwell (and counts towards opening its circuit
    /// breaker). A 4xx other than 408 and 429 is a fault of the request, not of the source.
    pub fn is_source_fault(&self) -> bool {
        match self {
            SourceError::Status { status, .. } => {
                !(400..500).contains(status) || matches!(status, 408 | 429)
            }
            SourceError::Unsupported(_)
            | SourceError::Unavailable { .. }
            | SourceError::Overloaded { .. } => false,
            _ => true,
        }
    }
}

/// What an aggregating source (a RIV-TA aggregating service) says happened to one of the
/// source systems it asked on our behalf: its `ProcessingStatus` record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartStatus {
    /// The logical address (HSA-id) the aggregator called.
    pub logical_address: String,
    pub state: PartState,
    pub last_successful_sync: Option<DateTime<Utc>>,
    pub last_failed_sync: Option<DateTime<Utc>>,
    /// The aggregator's account of the last failure (causing agent, code, text).
    pub error: Option<String>,
}

/// The `statusCode` of a `ProcessingStatus` record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartState {
    /// Fresh from the source system.
    DataFromSource,
    /// From the aggregator's cache, which is in sync.
    DataFromCache,
    /// The source system failed; the aggregator served what it had cached.
    DataFromCacheSyncFailed,
    /// The source system failed and the aggregator had nothing cached.
    NoDataSyncFailed,
    /// A status code outside the contract.
    Unknown,
}

/// What one call to a source gave.
#[derive(Clone, Debug, PartialEq)]
pub struct Fetched {
    pub items: DomainItems,
    /// One entry per source system behind an aggregating source; empty for a source that
    /// answers for itself.
    pub parts: Vec<PartStatus>,
    /// Records the source sent that could not be read (a required element missing, say) and
    /// are left out: the user is told, so that an incomplete list is not taken for complete.
    pub left_out: usize,
    /// Clinical notes the source holds among what was asked (FHIR DiagnosticReports that are
    /// documents): not shown, counted so that the user knows there is more than lab results.
    pub notes: usize,
}

impl From<DomainItems> for Fetched {
    fn from(items: DomainItems) -> Self {
        Fetched {
            items,
            parts: Vec::new(),
            left_out: 0,
            notes: 0,
        }
    }
}

/// One care-provider source, reachable over one protocol.
pub trait SourceAdapter: Send + Sync {
    /// What the source is.
    fn info(&self) -> &Arc<SourceInfo>;

    /// Which domains this source can answer; the engine asks only for these.
    fn domains(&self) -> &[Domain];

    /// The address the source's network knows it by, shown with its status (a RIV-TA source's
    /// logical address); `None` where its URL is all there is (FHIR).
    fn logical_address(&self) -> Option<&str> {
        None
    }

    /// Fetches everything the source holds for `patient` in `domain`. Implementations do not
    /// time themselves out: the engine cancels the future when the call's time is up.
    fn fetch<'a>(
        &'a self,
        patient: &'a PersonId,
        domain: Domain,
    ) -> BoxFuture<'a, Result<Fetched, SourceError>>;

    /// The people a reference in the source's own terms points at (a FHIR `Patient/<id>`, or
    /// the `<Type>/<id>` of any resource of theirs, whose patient it reads), for a change
    /// notification that names its patient that way: from what the adapter learnt while
    /// answering, else asked of the source. Empty when the source does not know the reference.
    /// Sources that name patients by personnummer only (RIV-TA) have no references of their
    /// own, and keep this answer.
    fn resolve_patients<'a>(
        &'a self,
        reference: &'a str,
    ) -> BoxFuture<'a, Result<Vec<PersonId>, SourceError>> {
        let _ = reference;
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// A protocol's catalog table (`[protocol.<name>]` in a source's file): the protocol's own
/// settings for one source. It checks itself when the catalog is read and builds the source's
/// adapter when the service starts (the config is the factory, as in Vector's sources).
pub trait SourceConfig {
    /// What every source of the protocol in one service shares (HTTP clients carrying the
    /// protocol's credentials, the sources a [`Locator`] decides about). Made once, when the
    /// first source of the protocol is built.
    type Shared: Send;

    /// The domains a source of this protocol can answer at all; a catalog file listing another
    /// is refused, and a file listing none gets these.
    fn domains(&self) -> &'static [Domain];

    /// Checks the table once it is read; `simulated`: a demo simulator serves the source, so
    /// it may lack an address. An error names the field (within the protocol's table) and
    /// what is wrong with it.
    fn check(&mut self, simulated: bool) -> Result<(), FieldError>;

    /// The base URL the table sets, if any (a simulated demo source may have none).
    fn base_url(&self) -> Option<&str>;

    /// The protocol's shared state, from the service's settings.
    fn shared(
        cx: &BuildContext<'_>,
    ) -> impl Future<Output = Result<Self::Shared, BuildError>> + Send;

    /// The adapter for the source `entry` describes (whose `protocol` is this table).
    fn build(
        &self,
        entry: &SourceEntry,
        shared: &mut Self::Shared,
        cx: &BuildContext<'_>,
    ) -> Result<Arc<dyn SourceAdapter>, BuildError>;

    /// Starts the demo's simulator of this protocol for a simulated source (`[simulator]` in
    /// its catalog file). Only in builds with the demo.
    #[cfg(feature = "demo")]
    fn simulate(
        &self,
        simulator: &crate::config::catalog::SimulatorEntry,
    ) -> impl Future<
        Output = Result<overblick_simulators::Simulator, overblick_simulators::SimulatorError>,
    > + Send;

    /// What the protocol wants asked before its sources, once all are built.
    fn locator(
        shared: Self::Shared,
        cx: &BuildContext<'_>,
    ) -> Result<Option<Arc<dyn Locator>>, BuildError>;
}

/// A field of a protocol's table that is not right.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {message}")]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        FieldError {
            field,
            message: message.into(),
        }
    }
}

/// What building sources may use: the service's settings and its HTTP client for sources.
pub struct BuildContext<'a> {
    pub settings: &'a Settings,
    /// The shared pool for sources that need no credentials of their own.
    pub http: &'a HttpClient,
}

/// Why a source (or a protocol's shared state) could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A source's catalog file lacks something the service's settings do not supply either.
    #[error("source {id} ({}): {message}", file.display())]
    Source {
        id: String,
        file: PathBuf,
        message: String,
    },
    /// A section of the service's settings cannot be used.
    #[error("[{section}]: {message}")]
    Settings {
        section: &'static str,
        message: String,
    },
    /// A file the settings name cannot be read.
    #[error("[{section}]: cannot read {}: {source}", path.display())]
    Read {
        section: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// An HTTP client cannot be made (e.g. its TLS identity is not usable).
    #[error("[{section}]: cannot build the HTTP client: {source}")]
    Client {
        section: &'static str,
        source: reqwest::Error,
    },
}

/// A protocol's own step before its sources are asked: RIV-TA's engagement index, which says
/// which source systems hold a patient's records. The engine groups the sources a locator
/// decides about by their [`LocateKey`], asks the locator once per group within the request's
/// deadline, and calls only the sources it names; when it fails, every source of the group.
pub trait Locator: Send + Sync {
    /// The group of the source with this id for `domain`, or `None` when this locator does not
    /// decide about it (it is then always asked).
    fn key(&self, source: &str, domain: Domain) -> Option<LocateKey>;

    /// The time limit of one lookup.
    fn timeout(&self) -> Duration;

    /// The ids of the sources of `key`'s group that hold `patient`'s records.
    fn locate<'a>(
        &'a self,
        patient: &'a PersonId,
        key: &'a LocateKey,
    ) -> BoxFuture<'a, Result<Located, Arc<SourceError>>>;

    /// Forgets every answer remembered for `patient` (the locator was told their engagements
    /// changed), so that their next overview asks it again.
    fn forget(&self, patient: &PersonId);
}

/// A group of sources one lookup decides about. For the engagement index: a service domain and
/// categorisation (`riv:clinicalprocess:activityprescription:actoutcome`, `caa-gmh`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LocateKey {
    pub scope: String,
    pub category: &'static str,
}

/// A locator's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Located {
    /// The ids of the sources that hold records.
    pub sources: BTreeSet<String>,
    /// Whether the answer was remembered from a recent lookup.
    pub from_cache: bool,
}

/// Checks a protocol table's `base_url`: an http or https URL, when given.
pub fn check_base_url(url: Option<&str>) -> Result<(), FieldError> {
    if let Some(url) = url {
        let parsed =
            reqwest::Url::parse(url).map_err(|e| FieldError::new("base_url", e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(FieldError::new("base_url", "must be an http or https URL"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stable_text_names_the_code_and_nothing_the_source_sent() {
        let said = "Patient 191212121212 not found in ORA-00942";
        let cases = [
            (
                SourceError::Status {
                    status: 500,
                    outcome: Some(said.into()),
                },
                "failed (SOURCE_ERROR)",
            ),
            (SourceError::Reported(said.into()), "failed (SOURCE_ERROR)"),
            (
                SourceError::InvalidResponse(said.into()),
                "failed (SOURCE_ERROR)",
            ),
            (
                SourceError::Connect("could not connect".into()),
                "failed (SOURCE_ERROR)",
            ),
            (
                SourceError::Timeout { limit_ms: 400 },
                "did not answer in time (SOURCE_TIMEOUT)",
            ),
            (
                SourceError::Unavailable { retry_in_ms: 10 },
                "is failing and was not asked (SOURCE_UNAVAILABLE)",
            ),
            (
                SourceError::Overloaded { limit: 8 },
                "was busy and was not asked (SOURCE_OVERLOADED)",
            ),
        ];
        for (error, stable) in cases {
            assert_eq!(error.stable_text(), stable, "{error:?}");
        }
        // The full account, where a deployment shows it, keeps what the source said.
        let status = SourceError::Status {
            status: 500,
            outcome: Some(said.into()),
        };
        assert_eq!(status.to_string(), format!("answered HTTP 500: {said}"));
    }
}
