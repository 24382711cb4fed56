//! What the store keeps besides the access log: care relationships, consents, blocks and
//! delegations, as written (`New…`) and as read back, and their decoding from rows.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::any::AnyRow;

use super::{Columns, StoreError};
use crate::domain::{Domain, HsaId, PersonId};

/// A care relationship (vårdrelation) between a care unit and a patient, as registered by staff.
#[derive(Clone, Debug, PartialEq)]
pub struct CareRelationship {
    pub id: String,
    pub patient: PersonId,
    pub care_unit: HsaId,
    pub care_provider: HsaId,
    /// The staff member who registered it (HSA-id).
    pub registered_by: HsaId,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub registered_at: DateTime<Utc>,
}

/// A care relationship to register; the store sets its id and `registered_at`.
#[derive(Clone, Debug, PartialEq)]
pub struct NewCareRelationship {
    pub patient: PersonId,
    pub care_unit: HsaId,
    pub care_provider: HsaId,
    pub registered_by: HsaId,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
}

/// The patient's consent (samtycke) to a care unit reading their data from other care providers.
#[derive(Clone, Debug, PartialEq)]
pub struct Consent {
    pub id: String,
    pub patient: PersonId,
    pub care_unit: HsaId,
    pub care_unit_name: Option<String>,
    pub care_provider: HsaId,
    /// The staff member who registered it (HSA-id).
    pub registered_by: HsaId,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub registered_at: DateTime<Utc>,
    /// When the patient withdrew it; `None` while it stands.
    pub withdrawn_at: Option<DateTime<Utc>>,
}

/// A consent to register; the store sets its id and `registered_at`.
#[derive(Clone, Debug, PartialEq)]
pub struct NewConsent {
    pub patient: PersonId,
    pub care_unit: HsaId,
    pub care_unit_name: Option<String>,
    pub care_provider: HsaId,
    pub registered_by: HsaId,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
}

/// The patient's block (spärr) on a care provider's data, or on one of its care units' only.
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub id: String,
    pub patient: PersonId,
    pub care_provider: HsaId,
    /// `None`: the whole care provider.
    pub care_unit: Option<HsaId>,
    pub set_at: DateTime<Utc>,
    /// When the patient lifted it; `None` while it stands.
    pub lifted_at: Option<DateTime<Utc>>,
}

/// A block to set; the store sets its id and `set_at`.
#[derive(Clone, Debug, PartialEq)]
pub struct NewBlock {
    pub patient: PersonId,
    pub care_provider: HsaId,
    /// `None`: the whole care provider.
    pub care_unit: Option<HsaId>,
}

/// The patient's permission for another person to see some domains of their overview.
#[derive(Clone, Debug, PartialEq)]
pub struct Delegation {
    pub id: String,
    /// Who granted it.
    pub patient: PersonId,
    pub delegate: PersonId,
    pub domains: Vec<Domain>,
    /// The last day it holds (inclusive).
    pub valid_until: NaiveDate,
    pub granted_at: DateTime<Utc>,
    /// When the patient revoked it; `None` while it stands.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A delegation to grant; the store sets its id and `granted_at`.
#[derive(Clone, Debug, PartialEq)]
pub struct NewDelegation {
    pub patient: PersonId,
    pub delegate: PersonId,
    pub domains: Vec<Domain>,
    pub valid_until: NaiveDate,
}

pub(super) fn care_relationship(row: &AnyRow) -> Result<CareRelationship, StoreError> {
    let c = Columns {
        row,
        table: "care_relationships",
    };
    Ok(CareRelationship {
        id: c.text("id")?,
        patient: c.person("patient")?,
        care_unit: c.hsa_id("care_unit")?,
        care_provider: c.hsa_id("care_provider")?,
        registered_by: c.hsa_id("registered_by")?,
        valid_from: c.time("valid_from_ms")?,
        valid_until: c.time("valid_until_ms")?,
        registered_at: c.time("registered_at_ms")?,
    })
}

pub(super) fn consent(row: &AnyRow) -> Result<Consent, StoreError> {
    let c = Columns {
        row,
        table: "consents",
    };
    Ok(Consent {
        id: c.text("id")?,
        patient: c.person("patient")?,
        care_unit: c.hsa_id("care_unit")?,
        care_unit_name: c.optional_text("care_unit_name")?,
        care_provider: c.hsa_id("care_provider")?,
        registered_by: c.hsa_id("registered_by")?,
        valid_from: c.time("valid_from_ms")?,
        valid_until: c.time("valid_until_ms")?,
        registered_at: c.time("registered_at_ms")?,
        withdrawn_at: c.optional_time("withdrawn_at_ms")?,
    })
}

pub(super) fn block(row: &AnyRow) -> Result<Block, StoreError> {
    let c = Columns {
        row,
        table: "blocks",
    };
    Ok(Block {
        id: c.text("id")?,
        patient: c.person("patient")?,
        care_provider: c.hsa_id("care_provider")?,
        care_unit: c.optional_hsa_id("care_unit")?,
        set_at: c.time("set_at_ms")?,
        lifted_at: c.optional_time("lifted_at_ms")?,
    })
}

pub(super) fn delegation(row: &AnyRow) -> Result<Delegation, StoreError> {
    let c = Columns {
        row,
        table: "delegations",
    };
    Ok(Delegation {
        id: c.text("id")?,
        patient: c.person("patient")?,
        delegate: c.person("delegate")?,
        domains: c.domains("domains")?,
        valid_until: c.date("valid_until")?,
        granted_at: c.time("granted_at_ms")?,
        revoked_at: c.optional_time("revoked_at_ms")?,
    })
}
