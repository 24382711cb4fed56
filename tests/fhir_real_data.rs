//! The FHIR mapping on real, public FHIR R4 data (`tests/data/fhir`, see its SOURCES.md): every
//! file parses into a `ResourceSet` and maps for every domain without panicking, and the
//! normalised result is snapshotted per file (the three Synthea bundles as a summary: counts per
//! domain and the first five items of each).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use overblick::domain::{Domain, DomainItems, HsaId, Organisation};
use overblick::sources::SourceInfo;
use overblick::sources::fhir::{ResourceSet, map_domain_with_stats};
use serde_json::{Map, Value, json};

const FETCHED_AT: &str = "2026-11-22T12:00:00Z";

fn fetched_at() -> DateTime<Utc> {
    FETCHED_AT.parse().unwrap()
}

fn info() -> SourceInfo {
    SourceInfo {
        id: "real-data".into(),
        name: "Real FHIR data".into(),
        system: Some("HL7 examples".into()),
        care_provider: Organisation {
            name: Some("Testregionen".into()),
            hsa_id: Some(HsaId::parse("SE2321000016-A291").unwrap()),
        },
        default_care_unit: Some(Organisation {
            name: Some("Standardenheten".into()),
            hsa_id: None,
        }),
    }
}

fn data_dir(folder: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fhir")
        .join(folder)
}

fn json_files(folder: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data_dir(folder))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no files in {folder}");
    files
}

fn load(path: &Path) -> ResourceSet {
    let text = std::fs::read_to_string(path).unwrap();
    let json: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    ResourceSet::from_json(json)
        .unwrap_or_else(|e| panic!("{} is not a FHIR resource: {e}", path.display()))
}

/// The items of one domain as JSON, with provenance cut to what varies per record (the parts
/// that come from `SourceInfo` and `fetched_at` are checked here instead of snapshotted).
fn items_json(items: &DomainItems) -> Vec<Value> {
    let Value::Object(mut tagged) = serde_json::to_value(items).unwrap() else {
        unreachable!()
    };
    let items = match tagged.remove("items") {
        Some(Value::Array(items)) => items,
        // Lab results: the results, then the reports.
        Some(Value::Object(mut lab)) => {
            let mut items = Vec::new();
            for list in ["results", "reports"] {
                if let Some(Value::Array(part)) = lab.remove(list) {
                    items.extend(part);
                }
            }
            items
        }
        _ => unreachable!(),
    };
    let expected_provider = serde_json::to_value(&info().care_provider).unwrap();
    items
        .into_iter()
        .map(|mut item| {
            let provenance = item.get_mut("provenance").unwrap().take();
            assert_eq!(provenance["source_id"], "real-data");
            assert_eq!(provenance["source_name"], "Real FHIR data");
            assert_eq!(provenance["system"], "HL7 examples");
            assert_eq!(provenance["care_provider"], expected_provider);
            assert_eq!(provenance["fetched_at"], FETCHED_AT);
            assert!(!provenance["care_unit"].is_null(), "care unit always set");
            item["provenance"] = json!({
                "record_id": provenance["record_id"],
                "care_unit": provenance["care_unit"],
            });
            item
        })
        .collect()
}

/// Maps `set` for every domain: counts per domain, resources left out, and the items (all, or
/// the first `limit`) of the domains that have any.
fn map_all(set: &ResourceSet, limit: Option<usize>) -> Value {
    let mut counts = Map::new();
    let mut skipped = Map::new();
    let mut items = Map::new();
    for domain in Domain::ALL {
        let (mapped, stats) = map_domain_with_stats(domain, set, &info(), fetched_at());
        assert_eq!(mapped.domain(), domain);
        counts.insert(domain.as_str().into(), mapped.len().into());
        for (resource_type, n) in &stats.skipped {
            skipped.insert(format!("{}/{resource_type}", domain.as_str()), (*n).into());
        }
        let mut list = items_json(&mapped);
        if let Some(limit) = limit {
            list.truncate(limit);
        }
        if !list.is_empty() {
            items.insert(domain.as_str().into(), Value::Array(list));
        }
    }
    json!({ "resources": set.len(), "counts": counts, "skipped": skipped, "items": items })
}

fn snapshot_folder(folder: &str, limit: Option<usize>) {
    for path in json_files(folder) {
        let set = load(&path);
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let name = format!("{folder}__{stem}");
        insta::with_settings!({ prepend_module_to_snapshot => true, omit_expression => true }, {
            insta::assert_yaml_snapshot!(name, map_all(&set, limit));
        });
    }
}

#[test]
fn every_hl7_example_maps_and_matches_its_snapshot() {
    snapshot_folder("hl7-examples", None);
}

#[test]
fn every_ips_example_maps_and_matches_its_snapshot() {
    snapshot_folder("ips", None);
}

#[test]
fn the_synthea_bundles_map_and_match_their_summaries() {
    snapshot_folder("synthea", Some(5));
}

#[test]
fn the_official_lab_observations_without_category_come_out_as_lab_results() {
    for id in ["f001", "f002", "f003", "f004", "f005"] {
        let set = load(&data_dir("hl7-examples").join(format!("Observation-{id}.json")));
        let (items, _) = map_domain_with_stats(Domain::LabResults, &set, &info(), fetched_at());
        let DomainItems::LabResults(lab) = items else {
            unreachable!()
        };
        let results = lab.results;
        assert_eq!(results.len(), 1, "{id}");
        assert_eq!(results[0].provenance.record_id, format!("Observation/{id}"));
        assert!(results[0].item.value.is_some(), "{id} has a value");
        let (measurements, _) =
            map_domain_with_stats(Domain::Measurements, &set, &info(), fetched_at());
        assert!(measurements.is_empty(), "{id} is no measurement");
    }
}

/// US Core sends clinical notes (consult and progress notes, discharge summaries) as
/// DiagnosticReports with only an attached document: they are counted, and neither lab results
/// nor lab reports; the laboratory's own reports beside them stay.
#[test]
fn the_clinical_notes_of_a_synthea_record_are_counted_and_not_taken_for_lab_results() {
    let set = load(
        &data_dir("synthea")
            .join("inferno-elderly-multimorbid-uscore__uscore_bundle_patient_355.json"),
    );
    let (items, stats) = map_domain_with_stats(Domain::LabResults, &set, &info(), fetched_at());
    let DomainItems::LabResults(lab) = items else {
        unreachable!()
    };
    // 23 DiagnosticReports: 21 notes with a presentedForm only, 2 laboratory panels.
    assert_eq!(stats.notes, 21);
    let note_codes = [
        "11488-4", "18842-5", "34117-2", "28570-0", "11506-3", "57133-1", "11504-8", "34746-8",
    ];
    let shown: Vec<String> = lab
        .results
        .iter()
        .filter_map(|r| r.item.code.as_ref().and_then(|c| c.code.clone()))
        .chain(
            lab.reports
                .iter()
                .filter_map(|r| r.item.code.as_ref().and_then(|c| c.code.clone())),
        )
        .collect();
    assert!(
        shown
            .iter()
            .all(|code| !note_codes.contains(&code.as_str())),
        "{shown:?}"
    );
    assert_eq!(
        lab.reports.len(),
        2,
        "the laboratory's two panels stay reports"
    );
    // What remains are the laboratory's own observations.
    assert!(
        lab.results
            .iter()
            .all(|r| r.provenance.record_id.starts_with("Observation/")),
        "{:?}",
        lab.results
            .iter()
            .map(|r| &r.provenance.record_id)
            .collect::<Vec<_>>()
    );
}

#[test]
fn all_hl7_examples_in_one_set_resolve_references_across_files() {
    let mut set = ResourceSet::new();
    for path in json_files("hl7-examples") {
        let json: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        set.add(json).unwrap();
    }
    let summary = map_all(&set, Some(0));
    insta::with_settings!({ prepend_module_to_snapshot => true, omit_expression => true }, {
        insta::assert_yaml_snapshot!("hl7-examples__all_in_one_set", summary);
    });
    let (contacts, _) = map_domain_with_stats(Domain::Contacts, &set, &info(), fetched_at());
    let DomainItems::Contacts(contacts) = contacts else {
        unreachable!()
    };
    // CareTeam/example's dietician acts on behalf of Organization/f001, in another file.
    assert!(contacts.iter().any(|c| {
        c.item.name.as_deref() == Some("Dorothy Dietician")
            && c.item
                .care_unit
                .as_ref()
                .and_then(|u| u.name.as_deref())
                .is_some_and(|n| n.contains("Burgers"))
    }));
}

/// Two sources holding exact copies of a Synthea patient's prescriptions (real EHR exports
/// often carry only a code, an authored time and a status: no dose, no dosage text) show each
/// prescription once; renewals (the same drug authored on another day) stay apart.
#[test]
fn exact_copies_of_synthea_prescriptions_at_two_sources_show_once() {
    for file in json_files("synthea") {
        let set = load(&file);
        let at = |id: &str| {
            let info = SourceInfo {
                id: id.into(),
                ..info()
            };
            let (items, _) = map_domain_with_stats(Domain::Medications, &set, &info, fetched_at());
            let DomainItems::Medications(list) = items else {
                unreachable!()
            };
            list
        };
        let (a, b) = (at("source-a"), at("source-b"));
        let alone = overblick::merge::merge(&a);
        let both = overblick::merge::merge(a.iter().chain(b.iter()));
        assert_eq!(
            both.len(),
            alone.len(),
            "{}: {} prescriptions at one source, {} shown when a second holds the same",
            file.display(),
            alone.len(),
            both.len()
        );
        assert!(
            both.iter().all(|m| m.provenance.len() == 2),
            "{}",
            file.display()
        );
    }
}
