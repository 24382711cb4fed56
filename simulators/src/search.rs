//! FHIR search over a [`FhirStore`]: which resources match, which are included, which page is
//! served, and the searchset Bundle that carries them. Pure functions; the HTTP layer is in
//! `server.rs`.
//!
//! Supported parameters (every other parameter, and every modifier not named here, is ignored,
//! as FHIR allows a server to do for parameters it does not support):
//! - `Patient`: `identifier` (personnummer or samordningsnummer token) or `_id`; one is required.
//!   An identifier search answers the person's Patients that carry that identifier (the store
//!   makes sure one does).
//! - patient-compartment types: `patient.identifier`, `subject.identifier`,
//!   `subject:Patient.identifier`, `patient`, `subject`, `subject:Patient` (a reference
//!   `Patient/<id>`, a bare id or an absolute URL); one is required. The answer is every resource
//!   of the type in that person's bundle: a bundle holds one person's data, so the simulator does
//!   not check each resource's own patient reference.
//! - any type: `_id`, `identifier` (token on `identifier`), `category` and
//!   `code` (token on any coding of the element). Comma-separated values mean "any of".
//! - other types (Practitioner, Organization, Medication, ...) without a patient parameter
//!   search every person's bundle; one resource per `<Type>/<id>`.
//! - `_include` and `_include:iterate` (also `:recurse`) for the pairs in `fhir_types.rs`, with
//!   an optional target type (`CareTeam:participant:Practitioner`); unknown ones are ignored.
//! - `_count` (default 50, at most 500) and `_offset` (the simulator's paging parameter).
//! - `status` is ignored: the simulator serves a record as it is.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::fhir_types;
use crate::person::{PERSONNUMMER_SYSTEM, Person, SAMORDNINGSNUMMER_SYSTEM};
use crate::store::{FhirStore, Record};

pub(crate) const DEFAULT_COUNT: usize = 50;
pub(crate) const MAX_COUNT: usize = 500;
/// The query parameter carrying the position of a page; `next` links set it.
pub(crate) const OFFSET_PARAM: &str = "_offset";

/// Why a request cannot be answered: an HTTP status and what to put in the OperationOutcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub status: u16,
    /// The OperationOutcome issue code (`required`, `not-found`, `invalid`, ...).
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            status,
            code,
            message: message.into(),
        }
    }
}

/// An OperationOutcome with one error issue.
pub(crate) fn operation_outcome(code: &str, message: &str) -> Value {
    json!({
        "resourceType": "OperationOutcome",
        "issue": [{ "severity": "error", "code": code, "diagnostics": message }]
    })
}

/// Whether the simulator answers searches for `resource_type`.
pub(crate) fn is_known_type(store: &FhirStore, resource_type: &str) -> bool {
    fhir_types::is_r4_type(resource_type) || store.types().contains(resource_type)
}

const PATIENT_REFERENCE_PARAMS: &[&str] = &["patient", "subject", "subject:Patient"];
const PATIENT_IDENTIFIER_PARAMS: &[&str] = &[
    "patient.identifier",
    "subject.identifier",
    "subject:Patient.identifier",
];

/// A search's answer before it becomes a Bundle.
struct Page<'a> {
    total: usize,
    matches: Vec<Found<'a>>,
    included: Vec<Found<'a>>,
    next_offset: Option<usize>,
}

/// A resource and the record it came from (references resolve within that record).
#[derive(Clone, Copy)]
struct Found<'a> {
    key: &'a str,
    resource: &'a Value,
    record: &'a Record,
}

struct Include {
    iterate: bool,
    source: String,
    paths: &'static [&'static [&'static str]],
    target: Option<String>,
}

/// Runs `GET {base_url}/{resource_type}?{params}` and returns the searchset Bundle.
pub(crate) fn search(
    store: &FhirStore,
    base_url: &str,
    resource_type: &str,
    params: &[(String, String)],
) -> Result<Value, Refusal> {
    if !is_known_type(store, resource_type) {
        return Err(Refusal::new(
            404,
            "not-supported",
            format!("unknown resource type {resource_type}"),
        ));
    }
    let count = match param(params, "_count") {
        None => DEFAULT_COUNT,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| Refusal::new(400, "invalid", "_count must be a whole number"))?
            .min(MAX_COUNT),
    };
    let offset = match param(params, OFFSET_PARAM) {
        None => 0,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| Refusal::new(400, "invalid", "_offset must be a whole number"))?,
    };

    let candidates = candidates(store, resource_type, params)?;
    let filtered: Vec<Found> = candidates
        .into_iter()
        .filter(|f| passes_filters(f.resource, params))
        .collect();
    let total = filtered.len();
    let matches: Vec<Found> = filtered.into_iter().skip(offset).take(count).collect();
    let next_offset = (count > 0 && offset.saturating_add(count) < total).then(|| offset + count);
    let included = follow_includes(&matches, &includes(params));

    tracing::debug!(
        resource_type,
        total,
        served = matches.len(),
        included = included.len(),
        "simulator search answered"
    );
    Ok(bundle(
        base_url,
        resource_type,
        params,
        Page {
            total,
            matches,
            included,
            next_offset,
        },
    ))
}

/// Answers `GET {base_url}/{resource_type}/{id}`: the first person's copy of that resource.
pub(crate) fn read(store: &FhirStore, resource_type: &str, id: &str) -> Result<Value, Refusal> {
    if !is_known_type(store, resource_type) {
        return Err(Refusal::new(
            404,
            "not-supported",
            format!("unknown resource type {resource_type}"),
        ));
    }
    let key = format!("{resource_type}/{id}");
    store
        .records()
        .find_map(|(_, record)| record.has(&key).then(|| record.resolve(&key)).flatten())
        .map(|(_, resource)| resource.clone())
        .ok_or_else(|| Refusal::new(404, "not-found", format!("no {resource_type} with that id")))
}

/// A minimal CapabilityStatement: the types the store holds and those the adapter asks for.
pub(crate) fn capability_statement(store: &FhirStore, base_url: &str) -> Value {
    let mut types: Vec<&str> = store.types().iter().map(String::as_str).collect();
    types.extend(fhir_types::ADAPTER_TYPES);
    types.sort_unstable();
    types.dedup();
    let resources: Vec<Value> = types
        .into_iter()
        .map(|t| {
            let mut params = vec!["_id", "identifier"];
            if fhir_types::is_patient_compartment(t) {
                params.extend(["patient", "subject", "category", "code"]);
            }
            let mut resource = json!({
                "type": t,
                "interaction": [{ "code": "read" }, { "code": "search-type" }],
                "searchParam": params
                    .into_iter()
                    .map(|p| json!({ "name": p, "type": search_param_type(p) }))
                    .collect::<Vec<_>>(),
            });
            let includes = fhir_types::includes_of(t);
            if !includes.is_empty() {
                resource["searchInclude"] = json!(includes);
            }
            resource
        })
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": chrono::Utc::now().format("%Y-%m-%d").to_string(),
        "kind": "instance",
        "software": { "name": "Överblick FHIR simulator", "version": env!("CARGO_PKG_VERSION") },
        "implementation": { "description": "Simulated care-provider source", "url": base_url },
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json"],
        "rest": [{ "mode": "server", "resource": resources }]
    })
}

fn search_param_type(name: &str) -> &'static str {
    match name {
        "patient" | "subject" => "reference",
        _ => "token",
    }
}

/// The first value of `name`.
fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Every value of `name`.
fn params_named<'a>(
    params: &'a [(String, String)],
    name: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    params
        .iter()
        .filter(move |(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The resources of `resource_type` in the records the search is scoped to, one per
/// `<Type>/<id>`, before the filters.
fn candidates<'a>(
    store: &'a FhirStore,
    resource_type: &str,
    params: &[(String, String)],
) -> Result<Vec<Found<'a>>, Refusal> {
    let people: Option<Vec<&Person>> = if resource_type == "Patient" {
        let by_identifier =
            params_named(params, "identifier").map(|v| people_with_identifier(store, v));
        let by_id = params_named(params, "_id").map(|v| people_with_patient_ids(store, v));
        let sets: Vec<Vec<&Person>> = by_identifier.chain(by_id).collect();
        if sets.is_empty() {
            return Err(Refusal::new(
                400,
                "required",
                "an identifier parameter is required",
            ));
        }
        Some(intersect(sets))
    } else {
        let by_identifier = PATIENT_IDENTIFIER_PARAMS
            .iter()
            .flat_map(|name| params_named(params, name))
            .map(|v| people_with_identifier(store, v));
        let by_reference = PATIENT_REFERENCE_PARAMS
            .iter()
            .flat_map(|name| params_named(params, name))
            .map(|v| people_with_patient_references(store, v));
        let sets: Vec<Vec<&Person>> = by_identifier.chain(by_reference).collect();
        if sets.is_empty() {
            if fhir_types::is_patient_compartment(resource_type) {
                return Err(Refusal::new(
                    400,
                    "required",
                    "a patient parameter is required (patient.identifier, patient or subject)",
                ));
            }
            None
        } else {
            Some(intersect(sets))
        }
    };

    let records: Vec<&Record> = match people {
        Some(people) => people.into_iter().filter_map(|p| store.record(p)).collect(),
        None => store.records().map(|(_, r)| r).collect(),
    };
    let mut seen = HashSet::new();
    let mut found = Vec::new();
    for record in records {
        for (key, resource) in record.of_type(resource_type) {
            if seen.insert(key) {
                found.push(Found {
                    key,
                    resource,
                    record,
                });
            }
        }
    }
    Ok(found)
}

/// The people in all of `sets` (parameters are ANDed).
fn intersect(mut sets: Vec<Vec<&Person>>) -> Vec<&Person> {
    let mut people = sets.pop().unwrap_or_default();
    for set in sets {
        people.retain(|p| set.contains(p));
    }
    people
}

/// The people a token `system|value` (or a bare value, any system) names. Only the
/// personnummer and samordningsnummer systems name people, and only with the system that fits
/// the number.
fn people_with_identifier<'a>(store: &'a FhirStore, value: &str) -> Vec<&'a Person> {
    value
        .split(',')
        .filter_map(|token| {
            let (system, digits) = match token.split_once('|') {
                Some((system, digits)) => (Some(system), digits),
                None => (None, token),
            };
            if let Some(system) = system
                && system != PERSONNUMMER_SYSTEM
                && system != SAMORDNINGSNUMMER_SYSTEM
            {
                return None;
            }
            let person = Person::parse(digits)?;
            if system.is_some_and(|s| s != person.identifier_system()) {
                return None;
            }
            store.person(&person)
        })
        .collect()
}

/// The people whose bundle holds a Patient named by a reference (`Patient/<id>`, `<id>` or an
/// absolute URL).
fn people_with_patient_references<'a>(store: &'a FhirStore, value: &str) -> Vec<&'a Person> {
    let ids: Vec<&str> = value
        .split(',')
        .filter_map(|reference| {
            let reference = reference
                .split_once("/_history/")
                .map_or(reference, |(r, _)| r);
            let mut parts = reference.rsplit('/');
            let id = parts.next()?;
            match parts.next() {
                None | Some("Patient") => Some(id),
                Some(_) => None,
            }
        })
        .collect();
    people_holding_patients(store, &ids)
}

fn people_with_patient_ids<'a>(store: &'a FhirStore, value: &str) -> Vec<&'a Person> {
    people_holding_patients(store, &value.split(',').collect::<Vec<_>>())
}

fn people_holding_patients<'a>(store: &'a FhirStore, ids: &[&str]) -> Vec<&'a Person> {
    store
        .records()
        .filter(|(_, record)| ids.iter().any(|id| record.has(&format!("Patient/{id}"))))
        .map(|(p, _)| p)
        .collect()
}

fn passes_filters(resource: &Value, params: &[(String, String)]) -> bool {
    params.iter().all(|(name, value)| match name.as_str() {
        "_id" => value
            .split(',')
            .any(|id| resource["id"].as_str() == Some(id)),
        // For Patient this also picks, in a bundle with several Patients, the one that is
        // the person.
        "identifier" => value
            .split(',')
            .any(|token| identifier_matches(resource, token)),
        "category" | "code" => value
            .split(',')
            .any(|token| codings(&resource[name.as_str()]).any(|c| coding_matches(c, token))),
        _ => true,
    })
}

/// Every Coding of a CodeableConcept or a list of them.
fn codings(element: &Value) -> impl Iterator<Item = &Value> {
    let concepts: Vec<&Value> = match element {
        Value::Array(items) => items.iter().collect(),
        Value::Object(_) => vec![element],
        _ => Vec::new(),
    };
    concepts.into_iter().flat_map(|concept| {
        concept["coding"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
    })
}

/// FHIR token matching: `system|code`, `|code` (no system), `system|` (any code), `code`.
fn token_matches(system: Option<&str>, code: Option<&str>, token: &str) -> bool {
    match token.split_once('|') {
        None => code == Some(token),
        Some(("", want)) => system.is_none() && code == Some(want),
        Some((want_system, "")) => system == Some(want_system),
        Some((want_system, want)) => system == Some(want_system) && code == Some(want),
    }
}

fn coding_matches(coding: &Value, token: &str) -> bool {
    token_matches(coding["system"].as_str(), coding["code"].as_str(), token)
}

fn identifier_matches(resource: &Value, token: &str) -> bool {
    let identifiers: Vec<&Value> = match &resource["identifier"] {
        Value::Array(items) => items.iter().collect(),
        v @ Value::Object(_) => vec![v],
        _ => Vec::new(),
    };
    identifiers
        .into_iter()
        .any(|i| token_matches(i["system"].as_str(), i["value"].as_str(), token))
}

fn includes(params: &[(String, String)]) -> Vec<Include> {
    params
        .iter()
        .filter_map(|(name, value)| {
            let iterate = match name.as_str() {
                "_include" => false,
                "_include:iterate" | "_include:recurse" => true,
                _ => return None,
            };
            let mut parts = value.split(':');
            let source = parts.next()?;
            let param = parts.next()?;
            let target = parts.next().map(str::to_owned);
            let Some(paths) = fhir_types::include_paths(source, param) else {
                tracing::debug!(source, param, "simulator ignores an unknown _include");
                return None;
            };
            Some(Include {
                iterate,
                source: source.to_owned(),
                paths,
                target,
            })
        })
        .collect()
}

/// The resources `includes` reach from `matches`: plain includes from the matches, iterating
/// ones also from what was included, until nothing new turns up. Each appears once, and never
/// when it is a match itself.
fn follow_includes<'a>(matches: &[Found<'a>], includes: &[Include]) -> Vec<Found<'a>> {
    if includes.is_empty() {
        return Vec::new();
    }
    let mut seen: HashSet<&str> = matches.iter().map(|f| f.key).collect();
    let mut included = Vec::new();
    let mut frontier: Vec<Found<'a>> = matches.to_vec();
    let mut first_round = true;
    while !frontier.is_empty() {
        let mut next = Vec::new();
        for found in &frontier {
            let resource_type = found.resource["resourceType"].as_str().unwrap_or_default();
            for include in includes {
                if include.source != resource_type || !(first_round || include.iterate) {
                    continue;
                }
                for path in include.paths {
                    for reference in references_at(found.resource, path) {
                        let Some((key, resource)) = found.record.resolve(reference) else {
                            continue;
                        };
                        if include
                            .target
                            .as_deref()
                            .is_some_and(|t| resource["resourceType"].as_str() != Some(t))
                        {
                            continue;
                        }
                        if seen.insert(key) {
                            next.push(Found {
                                key,
                                resource,
                                record: found.record,
                            });
                        }
                    }
                }
            }
        }
        included.extend(next.iter().copied());
        frontier = next;
        first_round = false;
    }
    included
}

/// The `reference` strings of the References found by walking `path` from `resource`.
fn references_at<'v>(resource: &'v Value, path: &[&str]) -> Vec<&'v str> {
    let mut level: Vec<&Value> = vec![resource];
    for step in path {
        level = level
            .into_iter()
            .flat_map(|v| match &v[*step] {
                Value::Array(items) => items.iter().collect::<Vec<_>>(),
                Value::Null => Vec::new(),
                other => vec![other],
            })
            .collect();
    }
    level
        .into_iter()
        .filter_map(|r| r["reference"].as_str())
        .collect()
}

fn bundle(base_url: &str, resource_type: &str, params: &[(String, String)], page: Page) -> Value {
    let entry = |found: &Found, mode: &str| {
        json!({
            "fullUrl": format!("{base_url}/{}", found.key),
            "resource": found.resource,
            "search": { "mode": mode },
        })
    };
    let entries: Vec<Value> = page
        .matches
        .iter()
        .map(|f| entry(f, "match"))
        .chain(page.included.iter().map(|f| entry(f, "include")))
        .collect();
    let mut links = vec![json!({
        "relation": "self",
        "url": search_url(base_url, resource_type, params, None),
    })];
    if let Some(offset) = page.next_offset {
        links.push(json!({
            "relation": "next",
            "url": search_url(base_url, resource_type, params, Some(offset)),
        }));
    }
    let mut bundle = json!({
        "resourceType": "Bundle",
        "meta": { "lastUpdated": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true) },
        "type": "searchset",
        "total": page.total,
        "link": links,
    });
    // FHIR JSON has no empty arrays: an empty page has no `entry` at all.
    if !entries.is_empty() {
        bundle["entry"] = Value::Array(entries);
    }
    bundle
}

/// `{base_url}/{resource_type}?{params}`, with `_offset` replaced when `offset` is given.
fn search_url(
    base_url: &str,
    resource_type: &str,
    params: &[(String, String)],
    offset: Option<usize>,
) -> String {
    let Ok(mut url) = url::Url::parse(&format!("{base_url}/{resource_type}")) else {
        return format!("{base_url}/{resource_type}");
    };
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in params {
            if offset.is_none() || name != OFFSET_PARAM {
                query.append_pair(name, value);
            }
        }
        if let Some(offset) = offset {
            query.append_pair(OFFSET_PARAM, &offset.to_string());
        }
    }
    if url.query() == Some("") {
        url.set_query(None);
    }
    url.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "http://127.0.0.1:1/fhir";
    const TOLVAN: &str = "191212121212";

    fn tolvan() -> Person {
        Person::parse(TOLVAN).unwrap()
    }

    fn pnr_token(digits: &str) -> String {
        format!("{PERSONNUMMER_SYSTEM}|{digits}")
    }

    fn store() -> FhirStore {
        let mut store = FhirStore::new();
        store
            .insert_bundle(
                &tolvan(),
                json!({
                    "resourceType": "Bundle",
                    "type": "collection",
                    "entry": [
                        { "resource": { "resourceType": "Patient", "id": "p1" } },
                        { "resource": {
                            "resourceType": "CareTeam", "id": "ct1",
                            "subject": { "reference": "Patient/p1" },
                            "participant": [
                                { "member": { "reference": "PractitionerRole/pr1" } },
                                { "member": { "reference": "Practitioner/doc" } }
                            ]
                        } },
                        { "resource": {
                            "resourceType": "PractitionerRole", "id": "pr1",
                            "practitioner": { "reference": "Practitioner/doc" },
                            "organization": { "reference": "Organization/vc" }
                        } },
                        { "resource": { "resourceType": "Practitioner", "id": "doc" } },
                        { "resource": { "resourceType": "Organization", "id": "vc" } },
                        { "resource": {
                            "resourceType": "Observation", "id": "bp",
                            "category": [{ "coding": [{
                                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                "code": "vital-signs"
                            }] }]
                        } },
                        { "resource": {
                            "resourceType": "Observation", "id": "hb",
                            "category": [{ "coding": [{ "code": "laboratory" }] }]
                        } }
                    ]
                }),
            )
            .unwrap();
        store
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn ids_with_mode(bundle: &Value, mode: &str) -> Vec<String> {
        bundle["entry"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["search"]["mode"] == mode)
            .map(|e| {
                format!(
                    "{}/{}",
                    e["resource"]["resourceType"].as_str().unwrap(),
                    e["resource"]["id"].as_str().unwrap()
                )
            })
            .collect()
    }

    #[test]
    fn a_patient_is_found_by_personnummer() {
        let token = pnr_token(TOLVAN);
        let b = search(
            &store(),
            BASE,
            "Patient",
            &params(&[("identifier", &token)]),
        )
        .unwrap();
        assert_eq!(ids_with_mode(&b, "match"), ["Patient/p1"]);
        assert_eq!(b["entry"][0]["fullUrl"], format!("{BASE}/Patient/p1"));
        assert_eq!(b["total"], 1);
    }

    #[test]
    fn a_personnummer_under_another_system_finds_nobody() {
        for token in [
            format!("{SAMORDNINGSNUMMER_SYSTEM}|{TOLVAN}"),
            format!("http://example.org/mrn|{TOLVAN}"),
        ] {
            let b = search(
                &store(),
                BASE,
                "Patient",
                &params(&[("identifier", &token)]),
            )
            .unwrap();
            assert_eq!(b["total"], 0, "{token}");
        }
    }

    #[test]
    fn a_patient_reference_scopes_a_search_like_the_identifier() {
        for (name, value) in [("patient", "Patient/p1"), ("subject", "p1")] {
            let b = search(&store(), BASE, "Observation", &params(&[(name, value)])).unwrap();
            assert_eq!(b["total"], 2, "{name}={value}");
        }
        let b = search(
            &store(),
            BASE,
            "Observation",
            &params(&[("patient", "Patient/p2")]),
        )
        .unwrap();
        assert_eq!(b["total"], 0);
    }

    #[test]
    fn the_include_chain_of_the_contacts_search_is_followed_once() {
        let token = pnr_token(TOLVAN);
        let b = search(
            &store(),
            BASE,
            "CareTeam",
            &params(&[
                ("patient.identifier", &token),
                ("_include", "CareTeam:participant"),
                ("_include:iterate", "PractitionerRole:practitioner"),
                ("_include:iterate", "PractitionerRole:organization"),
            ]),
        )
        .unwrap();
        assert_eq!(ids_with_mode(&b, "match"), ["CareTeam/ct1"]);
        assert_eq!(
            ids_with_mode(&b, "include"),
            [
                "PractitionerRole/pr1",
                "Practitioner/doc",
                "Organization/vc"
            ]
        );
    }

    #[test]
    fn a_plain_include_does_not_iterate() {
        let token = pnr_token(TOLVAN);
        let b = search(
            &store(),
            BASE,
            "CareTeam",
            &params(&[
                ("patient.identifier", &token),
                ("_include", "CareTeam:participant:PractitionerRole"),
                ("_include", "PractitionerRole:organization"),
            ]),
        )
        .unwrap();
        assert_eq!(ids_with_mode(&b, "include"), ["PractitionerRole/pr1"]);
    }

    #[test]
    fn category_tokens_match_with_or_without_system() {
        let token = pnr_token(TOLVAN);
        for (category, expected) in [
            ("vital-signs", "Observation/bp"),
            (
                "http://terminology.hl7.org/CodeSystem/observation-category|vital-signs",
                "Observation/bp",
            ),
            ("laboratory", "Observation/hb"),
            ("|laboratory", "Observation/hb"),
        ] {
            let b = search(
                &store(),
                BASE,
                "Observation",
                &params(&[("patient.identifier", &token), ("category", category)]),
            )
            .unwrap();
            assert_eq!(ids_with_mode(&b, "match"), [expected], "{category}");
        }
    }

    #[test]
    fn a_compartment_search_without_a_patient_is_refused() {
        let err = search(
            &store(),
            BASE,
            "Observation",
            &params(&[("category", "laboratory")]),
        )
        .unwrap_err();
        assert_eq!(err.status, 400);
        assert!(err.message.contains("patient parameter is required"));
        let err = search(&store(), BASE, "Patient", &[]).unwrap_err();
        assert_eq!(err.status, 400);
    }

    #[test]
    fn practitioners_can_be_listed_without_a_patient() {
        let b = search(&store(), BASE, "Practitioner", &[]).unwrap();
        assert_eq!(ids_with_mode(&b, "match"), ["Practitioner/doc"]);
    }

    #[test]
    fn an_unknown_type_is_not_found() {
        let err = search(&store(), BASE, "Bogus", &[]).unwrap_err();
        assert_eq!(err.status, 404);
    }

    #[test]
    fn the_next_link_keeps_the_parameters_and_moves_the_offset() {
        let token = pnr_token(TOLVAN);
        let b = search(
            &store(),
            BASE,
            "Observation",
            &params(&[("patient.identifier", &token), ("_count", "1")]),
        )
        .unwrap();
        let next = b["link"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["relation"] == "next")
            .unwrap()["url"]
            .as_str()
            .unwrap();
        assert!(next.starts_with(&format!("{BASE}/Observation?")), "{next}");
        let url = url::Url::parse(next).unwrap();
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            params(&[
                ("patient.identifier", &token),
                ("_count", "1"),
                ("_offset", "1")
            ])
        );
        let last = search(&store(), BASE, "Observation", &pairs).unwrap();
        assert_eq!(ids_with_mode(&last, "match"), ["Observation/hb"]);
        assert!(
            last["link"]
                .as_array()
                .unwrap()
                .iter()
                .all(|l| l["relation"] != "next")
        );
    }

    #[test]
    fn a_bad_count_is_refused() {
        let err = search(
            &store(),
            BASE,
            "Practitioner",
            &params(&[("_count", "many")]),
        )
        .unwrap_err();
        assert_eq!(err.status, 400);
    }

    #[test]
    fn a_resource_is_read_by_type_and_id() {
        assert_eq!(read(&store(), "Practitioner", "doc").unwrap()["id"], "doc");
        assert_eq!(
            read(&store(), "Practitioner", "nobody").unwrap_err().status,
            404
        );
    }
}
