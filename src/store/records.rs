//! Decoding the access facts the store keeps besides the access log (care relationships,
//! consents, blocks and delegations) from rows. The types are the access rules' own
//! (`crate::access::records`).

use sqlx::any::AnyRow;

use super::{Columns, StoreError};
pub use crate::access::records::{
    Block, CareRelationship, Consent, Delegation, NewBlock, NewCareRelationship, NewConsent,
    NewDelegation,
};

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
        registered_by_name: c.optional_text("registered_by_name")?,
        registered_by_profession: c.optional_text("registered_by_profession")?,
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
