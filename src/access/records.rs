//! What the access rules reason about, as stored: care relationships, consents, blocks and
//! delegations. The store persists these; the rules only read them.

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::{Domain, HsaId, PersonId};

/// A care relationship (patientrelation) a staff member registered for their care unit.
#[derive(Clone, Debug, PartialEq)]
pub struct CareRelationship {
    pub id: String,
    pub patient: PersonId,
    pub care_unit: HsaId,
    pub care_provider: HsaId,
    /// The staff member's HSA-id.
    pub registered_by: HsaId,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub registered_at: DateTime<Utc>,
}

/// A care relationship to register.
#[derive(Clone, Debug, PartialEq)]
pub struct NewCareRelationship {
    pub patient: PersonId,
    pub care_unit: HsaId,
    pub care_provider: HsaId,
    pub registered_by: HsaId,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
}

/// The patient's consent (samtycke) for one care unit to read other care providers' data.
#[derive(Clone, Debug, PartialEq)]
pub struct Consent {
    pub id: String,
    pub patient: PersonId,
    pub care_unit: HsaId,
    pub care_unit_name: Option<String>,
    pub care_provider: HsaId,
    /// The staff member who registered it.
    pub registered_by: HsaId,
    /// Their name and profession as their token gave them when they registered it; `None` for
    /// consents registered before names were kept.
    pub registered_by_name: Option<String>,
    pub registered_by_profession: Option<String>,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub registered_at: DateTime<Utc>,
    pub withdrawn_at: Option<DateTime<Utc>>,
}

/// A consent to register.
#[derive(Clone, Debug, PartialEq)]
pub struct NewConsent {
    pub patient: PersonId,
    pub care_unit: HsaId,
    pub care_unit_name: Option<String>,
    pub care_provider: HsaId,
    pub registered_by: HsaId,
    pub registered_by_name: Option<String>,
    pub registered_by_profession: Option<String>,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
}

/// A block (spärr) the patient set on a care provider's data, or one care unit's.
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub id: String,
    pub patient: PersonId,
    pub care_provider: HsaId,
    /// `None`: everything the provider holds.
    pub care_unit: Option<HsaId>,
    pub set_at: DateTime<Utc>,
    pub lifted_at: Option<DateTime<Utc>>,
}

/// A block to set.
#[derive(Clone, Debug, PartialEq)]
pub struct NewBlock {
    pub patient: PersonId,
    pub care_provider: HsaId,
    pub care_unit: Option<HsaId>,
}

/// A patient's grant to another person (ombud) to see chosen parts of their overview.
#[derive(Clone, Debug, PartialEq)]
pub struct Delegation {
    pub id: String,
    /// Who granted it: whose data may be seen.
    pub patient: PersonId,
    pub delegate: PersonId,
    pub domains: Vec<Domain>,
    /// The last day it is valid (inclusive).
    pub valid_until: NaiveDate,
    pub granted_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A delegation to grant.
#[derive(Clone, Debug, PartialEq)]
pub struct NewDelegation {
    pub patient: PersonId,
    pub delegate: PersonId,
    pub domains: Vec<Domain>,
    pub valid_until: NaiveDate,
}

impl CareRelationship {
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.valid_from <= now && now < self.valid_until
    }
}

impl Consent {
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.withdrawn_at.is_none() && self.valid_from <= now && now < self.valid_until
    }
}

impl Block {
    pub fn is_active(&self) -> bool {
        self.lifted_at.is_none()
    }
}

impl Delegation {
    pub fn is_active(&self, today: NaiveDate) -> bool {
        self.revoked_at.is_none() && today <= self.valid_until
    }
}
