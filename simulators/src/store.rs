//! `FhirStore`: the records of one simulated source, one FHIR Bundle per person, indexed by
//! resource type and by reference so that searches and `_include` are lookups.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::SimulatorError;
use crate::person::Person;
use crate::shift::DateShift;

/// The records of one simulated source: for each person, the resources of the Bundle (of any
/// type: collection, transaction, searchset, document) the simulator was given for them.
///
/// While a bundle is taken in, the store does what a FHIR server does when it stores one:
/// - a resource without an `id` gets one: the UUID of a `urn:uuid:` fullUrl, the last segment
///   of a RESTful fullUrl, or else `sim-<entry index>`;
/// - references written as another entry's `fullUrl` (typically `urn:uuid:...` in Synthea
///   transaction bundles) are rewritten to `<Type>/<id>`, so served references resolve to the
///   served `fullUrl`s;
/// - if no Patient in the bundle carries the person's identifier (personnummer or
///   samordningsnummer system, 12 digits), the first Patient gets it added, so that a bundle
///   from elsewhere (Synthea, HL7 examples) can be assigned to a personnummer.
///
/// Entries without a resource (e.g. transaction DELETEs) are skipped. A later resource with the
/// same `<Type>/<id>` replaces an earlier one.
#[derive(Clone, Default)]
pub struct FhirStore {
    records: BTreeMap<Person, Record>,
    types: BTreeSet<String>,
}

/// One person's resources.
#[derive(Clone, Default)]
pub(crate) struct Record {
    resources: Vec<Value>,
    keys: Vec<String>,
    by_type: HashMap<String, Vec<usize>>,
    by_ref: HashMap<String, usize>,
}

impl fmt::Debug for FhirStore {
    /// Counts only: the store holds personal data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FhirStore")
            .field("people", &self.person_count())
            .field("resources", &self.resource_count())
            .finish()
    }
}

impl FhirStore {
    /// An empty store: every search answers with an empty bundle.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads every `<12 digits>.json` file in `dir` (the digits a valid personnummer or
    /// samordningsnummer, the content one FHIR Bundle). Files not ending in `.json`, hidden files
    /// and folders are skipped; any other file that cannot be used is an error naming it.
    pub fn load_dir(dir: &Path) -> Result<FhirStore, SimulatorError> {
        Self::load_dir_shifted(dir, DateShift::default())
    }

    /// As [`load_dir`](Self::load_dir), with every date and time of the records moved by
    /// `shift` (see [`DateShift::fhir`]).
    pub fn load_dir_shifted(dir: &Path, shift: DateShift) -> Result<FhirStore, SimulatorError> {
        let folder_error = |source| SimulatorError::Folder {
            path: dir.to_owned(),
            source,
        };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(folder_error)? {
            let path = entry.map_err(folder_error)?.path();
            let hidden = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            if !hidden && path.is_file() && path.extension().is_some_and(|e| e == "json") {
                paths.push(path);
            }
        }
        paths.sort();

        let mut store = FhirStore::new();
        for path in paths {
            let file_error = |message: String| SimulatorError::File {
                path: path.clone(),
                message,
            };
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            if stem.len() != 12 || !stem.bytes().all(|b| b.is_ascii_digit()) {
                return Err(file_error(
                    "the file name must be a 12-digit personnummer or samordningsnummer, \
                     e.g. 191212121212.json"
                        .into(),
                ));
            }
            let person = Person::parse(stem).ok_or_else(|| {
                file_error("the file name is not usable: wrong check digit".into())
            })?;
            let text = std::fs::read(&path).map_err(|e| file_error(format!("cannot read: {e}")))?;
            let mut bundle: Value = serde_json::from_slice(&text)
                .map_err(|e| file_error(format!("not valid JSON: {e}")))?;
            shift.fhir(&mut bundle);
            store.insert_bundle(&person, bundle).map_err(|e| match e {
                SimulatorError::Bundle(message) => file_error(message),
                other => other,
            })?;
        }
        tracing::debug!(
            people = store.person_count(),
            resources = store.resource_count(),
            "simulator data loaded"
        );
        Ok(store)
    }

    /// Adds the resources of `bundle` to `person`'s record (see the type's documentation for
    /// what is adjusted on the way in). Fails without changing the store if `bundle` is not a
    /// Bundle or an entry's resource has no `resourceType`.
    pub fn insert_bundle(&mut self, person: &Person, bundle: Value) -> Result<(), SimulatorError> {
        let Value::Object(mut bundle) = bundle else {
            return Err(SimulatorError::Bundle("not a JSON object".into()));
        };
        match bundle.get("resourceType") {
            Some(Value::String(t)) if t == "Bundle" => {}
            Some(Value::String(t)) => {
                return Err(SimulatorError::Bundle(format!(
                    "expected a FHIR Bundle, found a {t}"
                )));
            }
            _ => {
                return Err(SimulatorError::Bundle(
                    "expected a FHIR Bundle: resourceType is missing".into(),
                ));
            }
        }
        let entries = match bundle.remove("entry") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(entries)) => entries,
            Some(_) => return Err(SimulatorError::Bundle("`entry` is not a list".into())),
        };

        // First pass: check every resource and settle its id, and learn which fullUrl names
        // which `<Type>/<id>`.
        let mut taken: Vec<(Option<String>, Map<String, Value>)> = Vec::new();
        let mut full_urls: HashMap<String, String> = HashMap::new();
        for (index, entry) in entries.into_iter().enumerate() {
            let Value::Object(mut entry) = entry else {
                return Err(SimulatorError::Bundle(format!(
                    "entry {index} is not a JSON object"
                )));
            };
            let Some(Value::Object(mut resource)) = entry.remove("resource") else {
                continue;
            };
            let resource_type = match resource.get("resourceType") {
                Some(Value::String(t)) if is_type_name(t) => t.clone(),
                _ => {
                    return Err(SimulatorError::Bundle(format!(
                        "entry {index}: the resource has no usable resourceType"
                    )));
                }
            };
            let full_url = match entry.remove("fullUrl") {
                Some(Value::String(u)) if !u.is_empty() => Some(u),
                _ => None,
            };
            let id = match resource.get("id") {
                Some(Value::String(id)) if !id.is_empty() => id.clone(),
                _ => {
                    let id = full_url
                        .as_deref()
                        .and_then(id_from_full_url)
                        .unwrap_or_else(|| format!("sim-{index}"));
                    resource.insert("id".into(), Value::String(id.clone()));
                    id
                }
            };
            if let Some(url) = &full_url {
                full_urls.insert(url.clone(), format!("{resource_type}/{id}"));
            }
            taken.push((full_url, resource));
        }

        let is_patient = |r: &Map<String, Value>| {
            r.get("resourceType").and_then(Value::as_str) == Some("Patient")
        };
        let identified = taken
            .iter()
            .any(|(_, r)| is_patient(r) && carries_identifier(r, person));
        if !identified && let Some((_, patient)) = taken.iter_mut().find(|(_, r)| is_patient(r)) {
            add_person_identifier(patient, person);
        }

        let record = self.records.entry(person.clone()).or_default();
        for (full_url, mut resource) in taken {
            for value in resource.values_mut() {
                rewrite_references(value, &full_urls);
            }
            if let Some(Value::String(t)) = resource.get("resourceType") {
                self.types.insert(t.clone());
            }
            record.insert(full_url, Value::Object(resource));
        }
        Ok(())
    }

    /// How many people the store holds records for.
    pub fn person_count(&self) -> usize {
        self.records.len()
    }

    /// How many resources the store holds, over all people.
    pub fn resource_count(&self) -> usize {
        self.records.values().map(|r| r.resources.len()).sum()
    }

    /// The record of `person`, if the store has one.
    pub(crate) fn record(&self, person: &Person) -> Option<&Record> {
        self.records.get(person)
    }

    /// The store's own copy of `person`, if it holds a record for them.
    pub(crate) fn person(&self, person: &Person) -> Option<&Person> {
        self.records.get_key_value(person).map(|(p, _)| p)
    }

    /// Every record, in personnummer order.
    pub(crate) fn records(&self) -> impl Iterator<Item = (&Person, &Record)> {
        self.records.iter()
    }

    /// The resource types present, over all people.
    pub(crate) fn types(&self) -> &BTreeSet<String> {
        &self.types
    }
}

impl Record {
    fn insert(&mut self, full_url: Option<String>, resource: Value) {
        let resource_type = resource["resourceType"].as_str().unwrap_or_default();
        let id = resource["id"].as_str().unwrap_or_default();
        let key = format!("{resource_type}/{id}");
        let index = match self.by_ref.get(&key) {
            Some(&index) if self.keys[index] == key => {
                self.resources[index] = resource;
                index
            }
            _ => {
                let index = self.resources.len();
                self.by_type
                    .entry(resource_type.to_owned())
                    .or_default()
                    .push(index);
                self.resources.push(resource);
                self.keys.push(key.clone());
                self.by_ref.insert(key, index);
                index
            }
        };
        if let Some(url) = full_url {
            self.by_ref.insert(url, index);
        }
    }

    /// The resources of `resource_type`, in the order they were given.
    pub(crate) fn of_type<'a>(
        &'a self,
        resource_type: &str,
    ) -> impl Iterator<Item = (&'a str, &'a Value)> + 'a {
        self.by_type
            .get(resource_type)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|&i| (self.keys[i].as_str(), &self.resources[i]))
    }

    /// The resource a reference points at: `<Type>/<id>`, a fullUrl given in the bundle, or an
    /// absolute URL ending in `<Type>/<id>` (with or without `/_history/<version>`).
    pub(crate) fn resolve(&self, reference: &str) -> Option<(&str, &Value)> {
        let index = self.by_ref.get(reference).copied().or_else(|| {
            let without_history = reference
                .split_once("/_history/")
                .map_or(reference, |(r, _)| r);
            let mut parts = without_history.rsplit('/');
            let id = parts.next()?;
            let resource_type = parts.next()?;
            self.by_ref.get(&format!("{resource_type}/{id}")).copied()
        })?;
        Some((self.keys[index].as_str(), &self.resources[index]))
    }

    /// Whether the record holds `<Type>/<id>`.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.by_ref
            .get(key)
            .is_some_and(|&index| self.keys[index] == key)
    }
}

/// A resource type name as FHIR spells them: an ASCII capital followed by letters.
fn is_type_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase()) && chars.all(|c| c.is_ascii_alphabetic())
}

/// The id a server would give a resource posted with this fullUrl.
fn id_from_full_url(url: &str) -> Option<String> {
    let id = match url.strip_prefix("urn:uuid:") {
        Some(uuid) => uuid,
        None if url.starts_with("urn:") => return None,
        None => url.trim_end_matches('/').rsplit('/').next()?,
    };
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    valid.then(|| id.to_owned())
}

/// Rewrites every `Reference.reference` that names a fullUrl of the same bundle to
/// `<Type>/<id>`.
fn rewrite_references(value: &mut Value, full_urls: &HashMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match v {
                    Value::String(s) if key == "reference" => {
                        if let Some(local) = full_urls.get(s.as_str()) {
                            *s = local.clone();
                        }
                    }
                    _ => rewrite_references(v, full_urls),
                }
            }
        }
        Value::Array(items) => {
            for v in items {
                rewrite_references(v, full_urls);
            }
        }
        _ => {}
    }
}

fn carries_identifier(patient: &Map<String, Value>, person: &Person) -> bool {
    let digits = person.digits();
    patient
        .get("identifier")
        .and_then(Value::as_array)
        .is_some_and(|list| {
            list.iter().any(|i| {
                i["system"] == person.identifier_system() && i["value"].as_str() == Some(digits)
            })
        })
}

fn add_person_identifier(patient: &mut Map<String, Value>, person: &Person) {
    let identifier = json!({ "system": person.identifier_system(), "value": person.digits() });
    match patient.get_mut("identifier") {
        Some(Value::Array(list)) => list.insert(0, identifier),
        _ => {
            patient.insert("identifier".into(), Value::Array(vec![identifier]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::person::PERSONNUMMER_SYSTEM;

    fn tolvan() -> Person {
        Person::parse("191212121212").unwrap()
    }

    fn transaction() -> Value {
        json!({
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "fullUrl": "urn:uuid:aaaaaaaa-0000-0000-0000-000000000001",
                    "resource": { "resourceType": "Patient", "id": "355" },
                    "request": { "method": "POST", "url": "Patient" }
                },
                {
                    "fullUrl": "urn:uuid:aaaaaaaa-0000-0000-0000-000000000002",
                    "resource": {
                        "resourceType": "Observation",
                        "subject": { "reference": "urn:uuid:aaaaaaaa-0000-0000-0000-000000000001" }
                    }
                },
                { "request": { "method": "DELETE", "url": "Observation/gone" } }
            ]
        })
    }

    #[test]
    fn urn_uuid_references_are_served_as_type_and_id() {
        let mut store = FhirStore::new();
        store.insert_bundle(&tolvan(), transaction()).unwrap();
        let record = store.record(&tolvan()).unwrap();
        let (key, observation) = record.of_type("Observation").next().unwrap();
        assert_eq!(key, "Observation/aaaaaaaa-0000-0000-0000-000000000002");
        assert_eq!(observation["subject"]["reference"], "Patient/355");
        assert_eq!(
            record
                .resolve("urn:uuid:aaaaaaaa-0000-0000-0000-000000000001")
                .unwrap()
                .0,
            "Patient/355"
        );
        assert_eq!(store.resource_count(), 2);
    }

    #[test]
    fn a_patient_gets_the_personnummer_it_is_assigned_to() {
        let mut store = FhirStore::new();
        store.insert_bundle(&tolvan(), transaction()).unwrap();
        let (_, patient) = store
            .record(&tolvan())
            .unwrap()
            .of_type("Patient")
            .next()
            .unwrap();
        assert_eq!(patient["identifier"][0]["system"], PERSONNUMMER_SYSTEM);
        assert_eq!(patient["identifier"][0]["value"], "191212121212");
    }

    #[test]
    fn only_the_first_patient_gets_the_personnummer_and_only_when_none_has_it() {
        let two_patients = |first: Value| {
            json!({ "resourceType": "Bundle", "type": "collection", "entry": [
                { "resource": first },
                { "resource": { "resourceType": "Patient", "id": "b" } }
            ] })
        };
        let mut store = FhirStore::new();
        store
            .insert_bundle(
                &tolvan(),
                two_patients(json!({ "resourceType": "Patient", "id": "a" })),
            )
            .unwrap();
        let identified: Vec<&str> = store
            .record(&tolvan())
            .unwrap()
            .of_type("Patient")
            .filter(|(_, p)| p["identifier"][0]["value"] == "191212121212")
            .map(|(key, _)| key)
            .collect();
        assert_eq!(identified, ["Patient/a"]);

        let mut store = FhirStore::new();
        let own = json!({ "resourceType": "Patient", "id": "a", "identifier": [
            { "system": "http://example.org/mrn", "value": "1" },
            { "system": PERSONNUMMER_SYSTEM, "value": "191212121212" }
        ] });
        store
            .insert_bundle(&tolvan(), two_patients(own.clone()))
            .unwrap();
        let (_, a) = store
            .record(&tolvan())
            .unwrap()
            .of_type("Patient")
            .next()
            .unwrap();
        assert_eq!(*a, own);
    }

    #[test]
    fn absolute_and_versioned_references_resolve() {
        let mut store = FhirStore::new();
        store.insert_bundle(&tolvan(), transaction()).unwrap();
        let record = store.record(&tolvan()).unwrap();
        assert!(
            record
                .resolve("https://elsewhere/fhir/Patient/355")
                .is_some()
        );
        assert!(record.resolve("Patient/355/_history/2").is_some());
        assert!(record.resolve("Patient/356").is_none());
    }

    #[test]
    fn something_other_than_a_bundle_is_refused() {
        let mut store = FhirStore::new();
        let err = store
            .insert_bundle(&tolvan(), json!({ "resourceType": "Patient" }))
            .unwrap_err();
        assert!(err.to_string().contains("found a Patient"), "{err}");
        assert_eq!(store.person_count(), 0);
    }

    #[test]
    fn a_file_not_named_by_a_personnummer_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("patient-1.json"), "{}").unwrap();
        let err = FhirStore::load_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("patient-1.json"), "{err}");
    }

    #[test]
    fn a_wrong_check_digit_in_a_file_name_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("191212121213.json"), "{}").unwrap();
        let err = FhirStore::load_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("191212121213.json"), "{err}");
        assert!(err.contains("check digit"), "{err}");
    }

    #[test]
    fn a_file_that_is_not_a_bundle_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("191212121212.json"), "[1, 2").unwrap();
        let err = FhirStore::load_dir(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("191212121212.json") && err.contains("JSON"),
            "{err}"
        );
    }

    #[test]
    fn other_files_in_the_folder_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("README.md"), "notes").unwrap();
        std::fs::write(
            dir.path().join("191212121212.json"),
            transaction().to_string(),
        )
        .unwrap();
        let store = FhirStore::load_dir(dir.path()).unwrap();
        assert_eq!(store.person_count(), 1);
        assert_eq!(store.resource_count(), 2);
    }

    #[test]
    fn debug_output_shows_counts_only() {
        let mut store = FhirStore::new();
        store.insert_bundle(&tolvan(), transaction()).unwrap();
        let shown = format!("{store:?}");
        assert!(!shown.contains("1212") && !shown.contains("355"), "{shown}");
    }
}
