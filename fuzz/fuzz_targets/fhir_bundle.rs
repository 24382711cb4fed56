//! Fuzz target `fhir_bundle`: the FHIR adapter's reading of an answer, from any bytes, never
//! panics: the body as JSON ([`serde_json::from_slice`], as the adapter reads each page), into a
//! [`ResourceSet`], mapped for every domain ([`map_domain_with_stats`]), and the mapped items
//! merged ([`merge`]). Along the way it checks what the mapping and the merge promise:
//!
//! - `ResourceSet::from_json` refuses exactly the JSON that is not an object with a string
//!   `resourceType`;
//! - every item's provenance carries the source's id, name, system, care provider and the
//!   answer's time, and a care unit (the record's, else the source's default);
//! - the merge keeps every record: each record id is in exactly one merged item.
//!
//! This file is both the check and the libFuzzer entry point. `tests/fuzz_corpus.rs` includes it
//! as a module (`#[path]`) and runs [`check`] over `fuzz/corpus/fhir_bundle/seed-*` in the
//! ordinary `cargo test`; there `cfg(test)` is set, which leaves the entry point out.
#![cfg_attr(not(test), no_main)]

use chrono::{DateTime, Utc};
use overblick::domain::{Domain, DomainItems, HsaId, Organisation, Sourced};
use overblick::merge::{Mergeable, merge};
use overblick::sources::SourceInfo;
use overblick::sources::fhir::{ResourceSet, map_domain_with_stats};
use serde_json::Value;

/// Reads `data` as a FHIR answer and maps it for every domain. Returns how many items were
/// mapped in all.
pub fn check(data: &[u8]) -> usize {
    let Ok(json) = serde_json::from_slice::<Value>(data) else {
        return 0;
    };
    let is_resource = json.get("resourceType").is_some_and(Value::is_string);
    let set = match ResourceSet::from_json(json) {
        Ok(set) => set,
        Err(_) => {
            assert!(
                !is_resource,
                "a JSON object with a resourceType was refused"
            );
            return 0;
        }
    };
    assert!(is_resource, "JSON without a resourceType was taken");

    let info = source_info();
    let mut mapped = 0;
    for domain in Domain::ALL {
        let (items, _skipped) = map_domain_with_stats(domain, &set, &info, fetched_at());
        assert_eq!(items.domain(), domain, "items of another domain");
        mapped += items.len();
        match &items {
            DomainItems::Patient(items) => check_provenance(items, &info),
            DomainItems::Contacts(items) => check_merge(items, &info),
            DomainItems::CarePlans(items) => check_merge(items, &info),
            DomainItems::Agreements(items) => check_merge(items, &info),
            DomainItems::Medications(items) => check_merge(items, &info),
            DomainItems::Measurements(items) => check_merge(items, &info),
            DomainItems::LabResults(items) => {
                check_merge(&items.results, &info);
                check_merge(&items.reports, &info);
            }
            DomainItems::Bookings(items) => check_merge(items, &info),
        }
    }
    mapped
}

fn source_info() -> SourceInfo {
    SourceInfo {
        id: "fuzz".into(),
        name: "Fuzzkällan".into(),
        system: Some("FHIR R4".into()),
        care_provider: Organisation {
            name: Some("Region Fuzz".into()),
            hsa_id: HsaId::parse("SE2321000016-A291").ok(),
        },
        default_care_unit: Some(Organisation {
            name: Some("Standardenheten".into()),
            hsa_id: None,
        }),
    }
}

fn fetched_at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_000_000, 0).unwrap_or_default()
}

fn check_provenance<T>(items: &[Sourced<T>], info: &SourceInfo) {
    for item in items {
        let p = &item.provenance;
        assert_eq!(p.source_id, info.id, "provenance names another source");
        assert_eq!(p.source_name, info.name);
        assert_eq!(p.system, info.system);
        assert_eq!(p.care_provider.as_ref(), Some(&info.care_provider));
        assert_eq!(p.fetched_at, fetched_at());
        assert!(
            p.care_unit.as_ref().is_some_and(|u| !u.is_empty()),
            "an item without a care unit although the source has a default"
        );
    }
}

fn check_merge<T: Mergeable>(items: &[Sourced<T>], info: &SourceInfo) {
    check_provenance(items, info);
    let merged = merge(items);
    let mut output: Vec<&str> = merged
        .iter()
        .flat_map(|m| m.provenance.iter().map(|p| p.record_id.as_str()))
        .collect();
    let in_output = output.len();
    output.sort_unstable();
    output.dedup();
    assert_eq!(output.len(), in_output, "a record is in two merged items");
    let mut input: Vec<&str> = items
        .iter()
        .map(|s| s.provenance.record_id.as_str())
        .collect();
    input.sort_unstable();
    input.dedup();
    assert_eq!(output, input, "merging lost or invented a record");
}

#[cfg(not(test))]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    check(data);
});
