//! The access log: one record per overview access, granted or denied, written before any data
//! is returned. If a record cannot be written, the request gets no data. The records are kept
//! by [`crate::store::Store`], which implements [`AuditLog`].

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

/// One access to a patient's data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccessRecord {
    pub time: DateTime<Utc>,
    pub request_id: String,
    /// Who asked: the token's issuer and subject.
    pub actor_issuer: String,
    pub actor_subject: String,
    /// `patient`, `staff`, `guardian` or `delegate`.
    pub actor_role: String,
    /// The person who asked (12 digits), when a person did: a patient, guardian or delegate.
    pub actor_person: Option<String>,
    /// The staff member's HSA-id, when staff asked.
    pub actor_hsa_id: Option<String>,
    /// Who asked, by name as it was when they asked: the staff member's (from their token), or
    /// the person's (from their token, else the population register). The patient is shown it:
    /// knowing who read their data is the point of the log. Never written to logs or traces.
    #[serde(default)]
    pub actor_name: Option<String>,
    /// The staff member's profession or title from their token, e.g. "Läkare".
    #[serde(default)]
    pub actor_profession: Option<String>,
    /// The person a guardian or delegate acts for (12 digits).
    pub on_behalf_of: Option<String>,
    /// Whose data (12 digits). The access log is the one place it is written down.
    pub patient: String,
    /// The staff member's care unit and care provider (HSA-ids), with their names.
    pub care_unit: Option<String>,
    pub care_unit_name: Option<String>,
    pub care_provider: Option<String>,
    pub care_provider_name: Option<String>,
    /// Staff only: `CARE` or `EMERGENCY`, and the reason given.
    pub purpose: Option<String>,
    pub reason: Option<String>,
    /// An emergency access (nödöppning), to be followed up.
    pub emergency: bool,
    /// The domains read ([`crate::domain::Domain::as_str`]); when the whole access was
    /// refused, the domains asked for.
    pub domains: Vec<String>,
    /// The domains asked for and refused while the rest was granted (a delegate's undelegated
    /// lists), each with the code of its refusal: an attempt leaves a trace even when the
    /// request as a whole was granted. Empty when the whole access was refused (`outcome` has
    /// the code, `domains` what was asked).
    #[serde(default)]
    pub refusals: Vec<DomainRefusal>,
    /// The sources whose data was read (ids).
    pub sources: Vec<String>,
    /// `granted`, or the error code of the denial.
    pub outcome: String,
}

/// One domain refused within an access that was otherwise granted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainRefusal {
    /// [`crate::domain::Domain::as_str`].
    pub domain: String,
    /// The error code the client got for it, e.g. `FORBIDDEN`.
    pub code: String,
}

/// Why a record could not be written, with the store's error as the cause. The message never
/// contains personal data: it may be logged.
#[derive(Debug, thiserror::Error)]
#[error("the access log could not be written: {source}")]
pub struct AuditError {
    /// Shared: one failed transaction fails every record of its batch.
    source: Arc<dyn std::error::Error + Send + Sync>,
}

impl AuditError {
    pub fn new(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        AuditError::shared(Arc::new(cause))
    }

    /// A cause shared with other failed records.
    pub fn shared(cause: Arc<dyn std::error::Error + Send + Sync>) -> Self {
        AuditError { source: cause }
    }
}

/// Where access records go. `record` returns `Ok` only once the record is durably stored.
pub trait AuditLog: Send + Sync {
    fn record<'a>(&'a self, record: &'a AccessRecord) -> BoxFuture<'a, Result<(), AuditError>>;
}
