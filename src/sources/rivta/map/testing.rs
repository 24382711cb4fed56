//! Test support for the contract mappings: a source, a patient, and a way to map a payload
//! written inline.

use chrono::{DateTime, Utc};
use roxmltree::Node;

use super::{Ctx, MapStats};
use crate::domain::{HsaId, Organisation, PersonId, Sourced};
use crate::sources::SourceInfo;

/// Tolvan Tolvansson, the Swedish tax agency's test person.
pub const PATIENT: &str = "191212121212";

/// The source's care provider.
pub const PROVIDER: &str = "SE2321000016-A291";

pub fn info() -> SourceInfo {
    SourceInfo {
        id: "rivta-test".into(),
        name: "Testregionen NPÖ".into(),
        system: Some("TestJournal".into()),
        care_provider: Organisation {
            name: Some("Region Test".into()),
            hsa_id: Some(HsaId::parse(PROVIDER).unwrap()),
        },
        default_care_unit: Some(Organisation {
            name: Some("Standardenheten".into()),
            hsa_id: None,
        }),
    }
}

/// When the test answers arrive: 2026-11-22 13:00 in Sweden.
pub fn fetched_at() -> DateTime<Utc> {
    "2026-11-22T12:00:00Z".parse().unwrap()
}

/// Maps `payload` (one response element, written inline) for [`PATIENT`] with `map`.
pub fn run<T>(
    payload: &str,
    map: impl FnOnce(Node<'_, '_>, &mut Ctx<'_>) -> Vec<Sourced<T>>,
) -> (Vec<Sourced<T>>, MapStats) {
    let doc = roxmltree::Document::parse(payload).expect("test XML parses");
    let info = info();
    let patient = PersonId::parse(PATIENT).unwrap();
    let mut cx = Ctx::new(&patient, &info, fetched_at());
    let items = map(doc.root_element(), &mut cx);
    (items, cx.stats)
}

pub fn hsa(text: &str) -> HsaId {
    HsaId::parse(text).unwrap()
}
