//! `ResourceSet`: the resources of one or more FHIR answers (bundles of any type, or single
//! resources), indexed so that references between them resolve. Pure data, no I/O.

use std::collections::HashMap;

use serde_json::Value;

/// How deep bundles nested in bundles (a batch-response holding searchsets) are unpacked.
const MAX_BUNDLE_DEPTH: usize = 4;

/// Why a document could not be added to a [`ResourceSet`]. The messages never quote the input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResourceSetError {
    #[error("the JSON is not an object")]
    NotAnObject,
    #[error("the JSON object has no resourceType")]
    NoResourceType,
}

/// Why an entry is in a search answer (`Bundle.entry.search.mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryMode {
    /// It matched the search.
    Match,
    /// It was added by `_include` / `_revinclude`.
    Include,
    /// An OperationOutcome about the search.
    Outcome,
    /// No search mode: a collection, document or transaction, or a single resource.
    Unspecified,
}

impl EntryMode {
    fn of_entry(entry: &Value) -> Self {
        match entry
            .get("search")
            .and_then(|s| s.get("mode"))
            .and_then(Value::as_str)
        {
            Some("match") => EntryMode::Match,
            Some("include") => EntryMode::Include,
            Some("outcome") => EntryMode::Outcome,
            _ => EntryMode::Unspecified,
        }
    }

    /// Whether the entry is one the search asked for (or, outside searches, simply present).
    pub fn is_primary(self) -> bool {
        matches!(self, EntryMode::Match | EntryMode::Unspecified)
    }
}

#[derive(Debug)]
struct Entry {
    json: Value,
    full_url: Option<String>,
    mode: EntryMode,
}

/// The resources of one or more FHIR answers, in the order they arrived, with an index of
/// `<Type>/<id>` keys and full URLs (`urn:uuid:...`, absolute URLs) so references resolve.
#[derive(Debug, Default)]
pub struct ResourceSet {
    entries: Vec<Entry>,
    index: HashMap<String, usize>,
}

/// One resource in a [`ResourceSet`]: a top-level entry or a resource contained in one.
#[derive(Clone, Copy, Debug)]
pub struct Res<'a> {
    json: &'a Value,
    /// The top-level resource this one is (or is contained in): `#id` references resolve there.
    container: &'a Value,
    /// The entry's position in the set; `None` for contained resources.
    index: Option<usize>,
    /// The entry's full URL (for a contained resource, its container's).
    full_url: Option<&'a str>,
    mode: EntryMode,
}

impl<'a> Res<'a> {
    /// The resource's JSON.
    pub fn json(&self) -> &'a Value {
        self.json
    }

    pub fn resource_type(&self) -> &'a str {
        self.json
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub fn id(&self) -> Option<&'a str> {
        self.json
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The entry's position in the set (`None` for a contained resource).
    pub fn index(&self) -> Option<usize> {
        self.index
    }

    pub fn mode(&self) -> EntryMode {
        self.mode
    }

    /// The record's id at the source: `<Type>/<id>`, else the entry's full URL, else the type
    /// and the entry's position in the answer (`<Type>#entry-<n>`: two such resources in one
    /// answer are two records, not one reported twice). A contained resource is named within
    /// its container: `<Type>/<id>#<local id>`.
    pub fn record_id(&self) -> String {
        if self.index.is_none() && !std::ptr::eq(self.json, self.container) {
            let container = Res {
                json: self.container,
                index: Some(0),
                ..*self
            };
            return format!("{}#{}", container.record_id(), self.id().unwrap_or(""));
        }
        match (self.id(), self.full_url) {
            (Some(id), _) => format!("{}/{id}", self.resource_type()),
            (None, Some(url)) => url.to_owned(),
            (None, None) => match self.index {
                Some(n) => format!("{}#entry-{n}", self.resource_type()),
                None => self.resource_type().to_owned(),
            },
        }
    }

    /// The JSON of the resource this one is contained in; `None` for a top-level resource.
    pub fn container(&self) -> Option<&'a Value> {
        (!std::ptr::eq(self.json, self.container)).then_some(self.container)
    }

    /// A field of the resource.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.json.get(key)
    }
}

impl ResourceSet {
    pub fn new() -> Self {
        ResourceSet::default()
    }

    /// A set holding one document: a Bundle (its entries, recursively for nested bundles) or a
    /// single resource.
    pub fn from_json(json: Value) -> Result<Self, ResourceSetError> {
        let mut set = ResourceSet::new();
        set.add(json)?;
        Ok(set)
    }

    /// Adds a Bundle's entries (any bundle type; bundles nested in entries are unpacked) or a
    /// single resource. Entries that are not resources are ignored. A resource already in the set
    /// (same `<Type>/<id>` or full URL) is not added twice; if either copy matched a search, the
    /// kept one counts as matched.
    pub fn add(&mut self, json: Value) -> Result<(), ResourceSetError> {
        let Some(object) = json.as_object() else {
            return Err(ResourceSetError::NotAnObject);
        };
        match object.get("resourceType").and_then(Value::as_str) {
            None => Err(ResourceSetError::NoResourceType),
            Some("Bundle") => {
                self.add_bundle(json, 0);
                Ok(())
            }
            Some(_) => {
                self.push(json, None, EntryMode::Unspecified);
                Ok(())
            }
        }
    }

    fn add_bundle(&mut self, mut bundle: Value, depth: usize) {
        let entries = match bundle.get_mut("entry").map(Value::take) {
            Some(Value::Array(entries)) => entries,
            _ => return,
        };
        for mut entry in entries {
            let mode = EntryMode::of_entry(&entry);
            let full_url = entry
                .get("fullUrl")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned);
            let Some(resource) = entry.get_mut("resource").map(Value::take) else {
                continue;
            };
            match resource.get("resourceType").and_then(Value::as_str) {
                None => continue,
                Some("Bundle") if depth < MAX_BUNDLE_DEPTH => self.add_bundle(resource, depth + 1),
                Some("Bundle") => continue,
                Some(_) => self.push(resource, full_url, mode),
            }
        }
    }

    fn push(&mut self, json: Value, full_url: Option<String>, mode: EntryMode) {
        let key = match (
            json.get("resourceType").and_then(Value::as_str),
            json.get("id").and_then(Value::as_str),
        ) {
            (Some(t), Some(id)) if !id.is_empty() => Some(format!("{t}/{id}")),
            _ => None,
        };
        let existing = key
            .as_deref()
            .or(full_url.as_deref())
            .and_then(|k| self.index.get(k).copied());
        if let Some(i) = existing
            && let Some(entry) = self.entries.get_mut(i)
            && entry.json.get("resourceType") == json.get("resourceType")
        {
            if mode == EntryMode::Match {
                entry.mode = EntryMode::Match;
            }
            if let Some(url) = full_url {
                self.index.entry(url).or_insert(i);
            }
            return;
        }
        let i = self.entries.len();
        if let Some(key) = key {
            self.index.entry(key).or_insert(i);
        }
        if let Some(url) = &full_url {
            self.index.entry(url.clone()).or_insert(i);
        }
        self.entries.push(Entry {
            json,
            full_url,
            mode,
        });
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every top-level resource, in arrival order.
    pub fn resources(&self) -> impl Iterator<Item = Res<'_>> {
        self.entries.iter().enumerate().map(|(i, e)| Res {
            json: &e.json,
            container: &e.json,
            index: Some(i),
            full_url: e.full_url.as_deref(),
            mode: e.mode,
        })
    }

    /// Top-level resources of `resource_type`, in arrival order.
    pub fn of_type<'s>(&'s self, resource_type: &'s str) -> impl Iterator<Item = Res<'s>> + 's {
        self.resources()
            .filter(move |r| r.resource_type() == resource_type)
    }

    /// Top-level resources of `resource_type` that matched the search (or came without a search
    /// mode, as in collections and single files).
    pub fn primary<'s>(&'s self, resource_type: &'s str) -> impl Iterator<Item = Res<'s>> + 's {
        self.of_type(resource_type).filter(|r| r.mode.is_primary())
    }

    fn at(&self, i: usize) -> Option<Res<'_>> {
        self.entries.get(i).map(|e| Res {
            json: &e.json,
            container: &e.json,
            index: Some(i),
            full_url: e.full_url.as_deref(),
            mode: e.mode,
        })
    }

    /// Resolves a FHIR `Reference` (the object with `reference`) made from within `from`:
    /// `#id` to a resource contained in `from`'s container, `urn:uuid:...` and other full URLs
    /// to the entry with that `fullUrl`, `<Type>/<id>` (also at the end of an absolute URL, with
    /// or without `/_history/<version>`) to the resource with that type and id.
    pub fn resolve<'s>(&'s self, from: Res<'s>, reference: &Value) -> Option<Res<'s>> {
        let text = reference.get("reference").and_then(Value::as_str)?.trim();
        self.resolve_str(from, text)
    }

    /// As [`ResourceSet::resolve`], for the reference text itself.
    pub fn resolve_str<'s>(&'s self, from: Res<'s>, text: &str) -> Option<Res<'s>> {
        if text.is_empty() {
            return None;
        }
        if let Some(local) = text.strip_prefix('#') {
            if local.is_empty() {
                return Some(Res {
                    json: from.container,
                    ..from
                });
            }
            let contained = from.container.get("contained")?.as_array()?;
            let json = contained
                .iter()
                .find(|c| c.get("id").and_then(Value::as_str) == Some(local))?;
            return Some(Res {
                json,
                container: from.container,
                index: None,
                // The container's, for naming the contained resource within it.
                full_url: from.full_url,
                mode: from.mode,
            });
        }
        if let Some(i) = self.index.get(text) {
            return self.at(*i);
        }
        let key = type_and_id(text)?;
        self.index.get(key).and_then(|i| self.at(*i))
    }
}

/// The `<Type>/<id>` at the end of a reference (a relative or absolute URL, possibly versioned).
pub fn type_and_id(text: &str) -> Option<&str> {
    let text = match text.find("/_history/") {
        Some(at) => text.get(..at)?,
        None => text,
    };
    let text = text.trim_end_matches('/');
    let id_start = text.rfind('/')?;
    let type_start = text.get(..id_start)?.rfind('/').map_or(0, |i| i + 1);
    let candidate = text.get(type_start..)?;
    let resource_type = text.get(type_start..id_start)?;
    let id = text.get(id_start + 1..)?;
    let type_ok = resource_type
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_uppercase())
        && resource_type.chars().all(|c| c.is_ascii_alphanumeric());
    (type_ok && !id.is_empty()).then_some(candidate)
}

/// The resource type a reference names: its `type`, else the `<Type>` of a `<Type>/<id>` text.
pub fn referenced_type(reference: &Value) -> Option<&str> {
    if let Some(t) = reference.get("type").and_then(Value::as_str) {
        let t = t.rsplit('/').next().unwrap_or(t);
        if !t.is_empty() {
            return Some(t);
        }
    }
    let text = reference.get("reference").and_then(Value::as_str)?;
    let key = type_and_id(text)?;
    key.split('/').next()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn bundle() -> Value {
        json!({
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [
                {
                    "fullUrl": "https://fhir.example.org/r4/MedicationRequest/m1",
                    "resource": {
                        "resourceType": "MedicationRequest", "id": "m1",
                        "medicationReference": {"reference": "Medication/med1"},
                        "contained": [{"resourceType": "Medication", "id": "c1"}]
                    },
                    "search": {"mode": "match"}
                },
                {
                    "fullUrl": "urn:uuid:0b5c5f7e-0000-4000-8000-000000000001",
                    "resource": {"resourceType": "Medication", "id": "med1"},
                    "search": {"mode": "include"}
                },
                {"fullUrl": "urn:uuid:broken"},
                {"resource": "not a resource"}
            ]
        })
    }

    #[test]
    fn references_resolve_by_type_and_id_full_url_and_contained_id() {
        let set = ResourceSet::from_json(bundle()).unwrap();
        assert_eq!(set.len(), 2);
        let request = set.of_type("MedicationRequest").next().unwrap();
        let by_type = set.resolve_str(request, "Medication/med1").unwrap();
        assert_eq!(by_type.id(), Some("med1"));
        assert_eq!(by_type.mode(), EntryMode::Include);
        let by_urn = set
            .resolve_str(request, "urn:uuid:0b5c5f7e-0000-4000-8000-000000000001")
            .unwrap();
        assert_eq!(by_urn.index(), by_type.index());
        let absolute = set
            .resolve_str(
                request,
                "https://other.example/fhir/Medication/med1/_history/3",
            )
            .unwrap();
        assert_eq!(absolute.index(), by_type.index());
        let contained = set.resolve_str(request, "#c1").unwrap();
        assert_eq!(contained.id(), Some("c1"));
        assert_eq!(contained.record_id(), "MedicationRequest/m1#c1");
        assert_eq!(contained.index(), None);
        assert!(set.resolve_str(request, "#nope").is_none());
        assert!(set.resolve_str(request, "Medication/none").is_none());
        assert!(set.resolve_str(request, "").is_none());
    }

    #[test]
    fn a_resource_seen_twice_is_kept_once_and_counts_as_matched() {
        let mut set = ResourceSet::new();
        set.add(json!({"resourceType": "Bundle", "entry": [
            {"resource": {"resourceType": "Observation", "id": "o1"}, "search": {"mode": "include"}}
        ]}))
        .unwrap();
        set.add(json!({"resourceType": "Bundle", "entry": [
            {"resource": {"resourceType": "Observation", "id": "o1"}, "search": {"mode": "match"}}
        ]}))
        .unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(set.primary("Observation").count(), 1);
    }

    #[test]
    fn bundles_nested_in_a_batch_response_are_unpacked() {
        let set =
            ResourceSet::from_json(json!({"resourceType": "Bundle", "type": "batch-response",
            "entry": [{"resource": {"resourceType": "Bundle", "type": "searchset", "entry": [
                {"resource": {"resourceType": "Patient", "id": "p"}, "search": {"mode": "match"}}
            ]}}]}))
            .unwrap();
        assert_eq!(set.of_type("Patient").count(), 1);
    }

    #[test]
    fn json_that_is_not_a_resource_is_refused() {
        assert_eq!(
            ResourceSet::from_json(json!([1, 2])).unwrap_err(),
            ResourceSetError::NotAnObject
        );
        assert_eq!(
            ResourceSet::from_json(json!({"entry": []})).unwrap_err(),
            ResourceSetError::NoResourceType
        );
    }

    #[test]
    fn type_and_id_reads_the_end_of_relative_and_absolute_references() {
        assert_eq!(type_and_id("Patient/1"), Some("Patient/1"));
        assert_eq!(type_and_id("http://x/fhir/Patient/1"), Some("Patient/1"));
        assert_eq!(type_and_id("Patient/1/_history/2"), Some("Patient/1"));
        assert_eq!(type_and_id("urn:uuid:abc"), None);
        assert_eq!(type_and_id("patient/1"), None);
        assert_eq!(type_and_id("Patient/"), None);
        assert_eq!(type_and_id("/"), None);
        assert_eq!(type_and_id("é/ü"), None);
    }
}
