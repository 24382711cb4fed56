//! Source adapters: one per protocol, each turning a care-provider system's answers into
//! normalised items. Adapters know nothing of GraphQL, caching, deadlines or other sources; the
//! engine wraps those policies around them from outside.

pub mod client;
pub mod fhir;
pub mod rivta;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use crate::domain::{Domain, DomainItems, Organisation, PersonId};

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
/// [`code`]: SourceError::code
#[derive(Clone, Debug, thiserror::Error)]
pub enum SourceError {
    /// The call did not finish within its time limit (the per-source timeout or what was left of
    /// the request's deadline).
    #[error("did not answer within {limit_ms} ms")]
    Timeout { limit_ms: u64 },
    /// The connection could not be made or broke off.
    #[error("connection failed: {0}")]
    Connect(String),
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

impl SourceError {
    /// The stable error code clients see in `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            SourceError::Timeout { .. } => "SOURCE_TIMEOUT",
            SourceError::Unavailable { .. } => "SOURCE_UNAVAILABLE",
            SourceError::Overloaded { .. } => "SOURCE_OVERLOADED",
            _ => "SOURCE_ERROR",
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
}

impl From<DomainItems> for Fetched {
    fn from(items: DomainItems) -> Self {
        Fetched {
            items,
            parts: Vec::new(),
            left_out: 0,
        }
    }
}

/// One care-provider source, reachable over one protocol.
pub trait SourceAdapter: Send + Sync {
    /// What the source is.
    fn info(&self) -> &Arc<SourceInfo>;

    /// Which domains this source can answer; the engine asks only for these.
    fn domains(&self) -> &[Domain];

    /// The logical address the national service platform routes to this source by; the
    /// engagement index names sources by it. `None` for sources outside the platform (FHIR).
    fn logical_address(&self) -> Option<&str> {
        None
    }

    /// The RIV-TA service domain and categorisation the engagement index files `domain`'s
    /// records of this source under; `None` when the index does not cover them.
    fn engagement_key(&self, _domain: Domain) -> Option<(String, &'static str)> {
        None
    }

    /// Fetches everything the source holds for `patient` in `domain`. Implementations do not
    /// time themselves out: the engine cancels the future when the call's time is up.
    fn fetch<'a>(
        &'a self,
        patient: &'a PersonId,
        domain: Domain,
    ) -> BoxFuture<'a, Result<Fetched, SourceError>>;
}
