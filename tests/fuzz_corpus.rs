//! The fuzz targets' checks over their committed seed corpora, in the ordinary `cargo test` (no
//! nightly, no libFuzzer): each target in `fuzz/fuzz_targets/` is one file holding its `check`
//! and its libFuzzer entry point; included here as a module, with `cfg(test)` set, it compiles to
//! the check alone. So the checks cannot rot unbuilt, and every seed (`fuzz/corpus/<target>/
//! seed-*`, including inputs that once crashed, kept as seeds) is run on every test run.
//!
//! A new target: its file in `fuzz/fuzz_targets/`, its `[[bin]]` in `fuzz/Cargo.toml`, and here a
//! `mod` line and a test calling its `check` through `run_seeds`.

use std::path::{Path, PathBuf};

#[path = "../fuzz/fuzz_targets/fhir_bundle.rs"]
mod fhir_bundle;
#[path = "../fuzz/fuzz_targets/graphql_request.rs"]
mod graphql_request;
#[path = "../fuzz/fuzz_targets/person_id.rs"]
mod person_id;

/// The seeds of `target`, sorted; there must be some.
fn seeds(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut seeds: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("seed-"))
        })
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

/// Runs `check` over every seed of `target`, naming the seed when it panics.
fn run_seeds<R>(target: &str, check: impl Fn(&[u8]) -> R) -> Vec<(String, R)> {
    seeds(target)
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let data = std::fs::read(&path).unwrap();
            eprintln!("{target}: {name}");
            (name, check(&data))
        })
        .collect()
}

#[test]
fn every_person_id_seed_passes_the_fuzz_check_and_valid_seeds_are_accepted() {
    for (seed, accepted) in run_seeds("person_id", person_id::check) {
        // The seeds' names say what they are, so the check's accept path is exercised too.
        assert_eq!(accepted, seed.starts_with("seed-valid-"), "{seed}");
    }
}

#[test]
fn every_fhir_bundle_seed_passes_the_fuzz_check_and_most_map_to_items() {
    let results = run_seeds("fhir_bundle", fhir_bundle::check);
    let mapping = results.iter().filter(|(_, items)| *items > 0).count();
    assert!(
        mapping * 2 > results.len(),
        "only {mapping} of {} seeds map to any item",
        results.len()
    );
}

/// A finding of the `fhir_bundle` target's seeds: two resources that carry neither an `id` nor
/// a `fullUrl` got the bare type as record id, and the merge took them for the same record
/// reported twice, so the second booking vanished from the overview. Now such a resource is
/// named by its place in the answer (`Appointment#entry-1`).
#[test]
fn two_bookings_without_id_or_full_url_in_one_answer_stay_two_bookings() {
    use overblick::domain::{Domain, DomainItems, Organisation};
    use overblick::sources::SourceInfo;
    use overblick::sources::fhir::{ResourceSet, map_domain_with_stats};

    let data = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus/fhir_bundle/seed-edge-entries-without-ids.json"),
    )
    .unwrap();
    let set = ResourceSet::from_json(serde_json::from_slice(&data).unwrap()).unwrap();
    let info = SourceInfo {
        id: "fhir".into(),
        name: "FHIR".into(),
        system: None,
        care_provider: Organisation::default(),
        default_care_unit: None,
    };
    let (items, _) = map_domain_with_stats(Domain::Bookings, &set, &info, chrono::Utc::now());
    let DomainItems::Bookings(bookings) = items else {
        unreachable!("bookings asked for")
    };
    assert_eq!(bookings.len(), 2, "both appointments map");
    assert_eq!(overblick::merge::merge(&bookings).len(), 2, "and stay two");
}

#[test]
fn every_graphql_request_seed_is_answered_without_a_server_error_and_with_coded_errors() {
    let results = run_seeds("graphql_request", graphql_request::check);
    // The seeds hold well-formed queries as well as hostile ones: both paths are exercised.
    assert!(
        results.iter().any(|(_, status)| *status == 200),
        "{results:?}"
    );
    assert!(
        results.iter().any(|(_, status)| *status >= 400),
        "{results:?}"
    );
}
