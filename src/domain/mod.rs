//! The care-overview domain: identifiers that are valid by construction and normalised items.

pub mod code_system;
pub mod concepts;
mod hsa_id;
mod items;
mod person_id;

pub use code_system::{CODE_SYSTEMS, CodeSystem, code_system};
pub use hsa_id::{HsaId, HsaIdError};
pub use items::*;
pub use person_id::{
    PERSONNUMMER_SYSTEM, PersonId, PersonIdError, PersonIdKind, SAMORDNINGSNUMMER_SYSTEM,
    mask_person_ids,
};
