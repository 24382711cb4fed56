//! The FHIR R4 simulator: one FHIR server per simulated source at
//! `http://127.0.0.1:<port>/fhir`, answering searches and reads from a [`FhirStore`] (what the
//! searches support is described in `search.rs`), behind the shared fault layer
//! ([`crate::server`]), for which it says what FHIR's faults look like: an OperationOutcome, a
//! searchset Bundle of padding, the elements FHIR R4 requires.

use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::notify::{self, Change, Changed, NotifyTarget};
use crate::person::Person;
use crate::search::{self, Refusal, operation_outcome};
use crate::server::{self, ServerOptions, SimulatorHandle, Wire};
use crate::store::FhirStore;

/// The path under which the FHIR API is served; `base_url()` ends with it.
const BASE_PATH: &str = "/fhir";
const FHIR_JSON: &str = "application/fhir+json";

/// How much of a `Huge` body is made and sent at a time.
const HUGE_CHUNK_BYTES: usize = 64 * 1024;
/// How a `Huge` body begins: a searchset Bundle opening its `entry` array.
const HUGE_HEAD: &str = r#"{"resourceType":"Bundle","type":"searchset","entry":["#;
/// How a `Huge` body ends, after its padding entries and whitespace.
const HUGE_TAIL: &str = "]}";
/// Padding entries are numbered with ten digits, so every one has the same length.
const MAX_PADDING_ENTRIES: u64 = 9_999_999_999;

/// The elements FHIR R4 requires (minimum cardinality 1) of each resource type, which the
/// `MissingRequired` behaviour leaves out. A name ending in `[x]` is a choice element: every
/// `<name><Type>` goes. A primitive's extensions (`_status`) go with it. Types not listed
/// require nothing (Patient, CareTeam, Practitioner, PractitionerRole, Organization,
/// Location, Medication) and are served as they are. Among those the adapter maps, what it
/// cannot do without: Observation and DiagnosticReport `code`, MedicationRequest and
/// MedicationStatement medication, Goal `description`, Appointment `start`.
pub(crate) const REQUIRED_ELEMENTS: &[(&str, &[&str])] = &[
    ("AllergyIntolerance", &["patient"]),
    // `start` and `end` are optional in themselves, but invariant app-3 requires both of an
    // appointment that is not proposed, cancelled or waitlisted, and one without a status
    // is none of those.
    ("Appointment", &["status", "participant", "start", "end"]),
    (
        "CapabilityStatement",
        &["status", "date", "kind", "fhirVersion", "format"],
    ),
    ("CarePlan", &["status", "intent", "subject"]),
    ("Condition", &["subject"]),
    ("DiagnosticReport", &["status", "code"]),
    ("DocumentReference", &["status", "content"]),
    ("Encounter", &["status", "class"]),
    ("Goal", &["lifecycleStatus", "description", "subject"]),
    (
        "Immunization",
        &["status", "vaccineCode", "patient", "occurrence[x]"],
    ),
    (
        "MedicationAdministration",
        &["status", "medication[x]", "subject", "effective[x]"],
    ),
    ("MedicationDispense", &["status", "medication[x]"]),
    (
        "MedicationRequest",
        &["status", "intent", "medication[x]", "subject"],
    ),
    (
        "MedicationStatement",
        &["status", "medication[x]", "subject"],
    ),
    ("Observation", &["status", "code"]),
    ("Procedure", &["status", "subject"]),
    ("ServiceRequest", &["status", "intent", "subject"]),
];

/// What the handlers share. The store is behind a lock so a running source's records can
/// change ([`FhirHandle::change`]) while it answers.
struct Shared {
    store: RwLock<FhirStore>,
    base_url: String,
    /// Where to tell the service about changes; `None`: nobody is told.
    notify: Mutex<Option<NotifyTarget>>,
    /// Changes notified so far (the Backport IG's `events-since-subscription-start`).
    events: AtomicU64,
}

impl Shared {
    fn store(&self) -> std::sync::RwLockReadGuard<'_, FhirStore> {
        self.store.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Control of a running FHIR simulator: the shared server's controls (behaviours, hits,
/// shutdown; through `Deref`), and the source's records, which can change at runtime and be
/// notified to the service. Clones share one server.
#[derive(Clone)]
pub struct FhirHandle {
    server: SimulatorHandle,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for FhirHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FhirHandle")
            .field("base_url", &self.base_url())
            .field("behaviour", &self.behaviour())
            .finish()
    }
}

impl Deref for FhirHandle {
    type Target = SimulatorHandle;

    fn deref(&self) -> &SimulatorHandle {
        &self.server
    }
}

/// Starts a FHIR simulator serving `store` on `127.0.0.1` at a free port, adding `latency`
/// before every answer. Must be called within a Tokio runtime (the server runs in a spawned
/// task); outside one it returns an error.
pub fn start(store: FhirStore, latency: Duration) -> std::io::Result<SimulatorHandle> {
    start_live(store, latency).map(|handle| handle.server)
}

/// As [`start`], keeping the controls of the source's records ([`FhirHandle`]).
pub fn start_live(store: FhirStore, latency: Duration) -> std::io::Result<FhirHandle> {
    let people = store.person_count();
    let mut shared = None;
    let handle = server::start(
        |base_url| {
            let made = Arc::new(Shared {
                store: RwLock::new(store),
                base_url: base_url.to_owned(),
                notify: Mutex::new(None),
                events: AtomicU64::new(0),
            });
            shared = Some(made.clone());
            router(made)
        },
        FhirWire,
        BASE_PATH,
        &ServerOptions { latency, tls: None },
    )?;
    tracing::debug!(addr = %handle.addr(), people, "FHIR simulator started");
    let shared = shared.expect("the server builds its routes before it starts");
    Ok(FhirHandle {
        server: handle,
        shared,
    })
}

impl FhirHandle {
    /// The shared server's handle (behaviours, hits, shutdown).
    pub fn server(&self) -> &SimulatorHandle {
        &self.server
    }

    /// Sends a notification to `target` after every change from now on (`None`: stop).
    pub fn notify_to(&self, target: Option<NotifyTarget>) {
        *self
            .shared
            .notify
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = target;
    }

    /// Makes `change` to the records of `person` (12 digits), then, when a target is set,
    /// sends the service a Backport IG `full-resource` notification of it. Fails (changing
    /// nothing) when the source holds no record of the person, or nothing the change applies
    /// to (no booking to move).
    pub async fn change(&self, person: &str, change: Change) -> Result<Changed, String> {
        let person = Person::parse(person)
            .ok_or_else(|| "not a valid personnummer or samordningsnummer".to_owned())?;
        let (resource, created) = {
            let mut store = self
                .shared
                .store
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            let (resource, created) = match change {
                Change::Measurement => blood_pressure(&store, &person)?,
                Change::Booking => moved_booking(&store, &person)?,
            };
            store
                .insert_bundle(
                    &person,
                    json!({ "resourceType": "Bundle", "type": "collection",
                            "entry": [{ "resource": resource.clone() }] }),
                )
                .map_err(|e| e.to_string())?;
            (resource, created)
        };
        let record = format!(
            "{}/{}",
            resource["resourceType"].as_str().unwrap_or_default(),
            resource["id"].as_str().unwrap_or_default()
        );
        tracing::info!(
            change = change.name(),
            "simulated FHIR source changed a record"
        );
        let target = self
            .shared
            .notify
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let notified = match target {
            None => None,
            Some(target) => {
                let number = self.shared.events.fetch_add(1, Ordering::Relaxed) + 1;
                let body = notify::backport_notification(
                    &self.shared.base_url,
                    &resource,
                    created,
                    number,
                );
                let mut text = Vec::new();
                write_fhir_json(&body, &mut text);
                Some(
                    notify::send(
                        &target,
                        FHIR_JSON,
                        String::from_utf8(text).expect("JSON is UTF-8"),
                    )
                    .await,
                )
            }
        };
        Ok(Changed { record, notified })
    }
}

/// The Patient reference of `person`'s record.
fn patient_reference(store: &FhirStore, person: &Person) -> Result<String, String> {
    let record = store
        .record(person)
        .ok_or_else(|| "the source holds no record of that person".to_owned())?;
    record
        .of_type("Patient")
        .next()
        .map(|(key, _)| key.to_owned())
        .ok_or_else(|| "the person's record holds no Patient".to_owned())
}

/// A new home blood-pressure reading, taken now: a LOINC 85354-9 panel with systolic (8480-6)
/// and diastolic (8462-4) components, values varying from reading to reading.
fn blood_pressure(store: &FhirStore, person: &Person) -> Result<(Value, bool), String> {
    let patient = patient_reference(store, person)?;
    let id = uuid::Uuid::new_v4();
    let spread = id.as_bytes();
    let systolic = 118 + u32::from(spread[0] % 30);
    let diastolic = 70 + u32::from(spread[1] % 18);
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let component = |code: &str, display: &str, text: &str, value: u32| {
        json!({
            "code": { "coding": [{ "system": "http://loinc.org", "code": code, "display": display }], "text": text },
            "valueQuantity": { "value": value, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]" }
        })
    };
    Ok((
        json!({
            "resourceType": "Observation",
            "id": format!("sim-bp-{}", id.simple()),
            "status": "final",
            "category": [{
                "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                             "code": "vital-signs", "display": "Vital Signs" }],
                "text": "Mätvärde"
            }],
            "code": {
                "coding": [{ "system": "http://loinc.org", "code": "85354-9",
                             "display": "Blood pressure panel with all children optional" }],
                "text": "Blodtryck (hemmamätning)"
            },
            "subject": { "reference": patient },
            "effectiveDateTime": now,
            "performer": [{ "reference": patient }],
            "component": [
                component("8480-6", "Systolic blood pressure", "Systoliskt blodtryck", systolic),
                component("8462-4", "Diastolic blood pressure", "Diastoliskt blodtryck", diastolic)
            ]
        }),
        true,
    ))
}

/// `person`'s next booking (the first Appointment starting after now, else the latest one)
/// moved a day later, start and end.
fn moved_booking(store: &FhirStore, person: &Person) -> Result<(Value, bool), String> {
    let record = store
        .record(person)
        .ok_or_else(|| "the source holds no record of that person".to_owned())?;
    let start_of = |a: &Value| {
        a["start"]
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
    };
    let now = chrono::Utc::now();
    let mut dated: Vec<(chrono::DateTime<chrono::FixedOffset>, &Value)> = record
        .of_type("Appointment")
        .filter_map(|(_, a)| start_of(a).map(|s| (s, a)))
        .collect();
    dated.sort_by_key(|(s, _)| *s);
    let chosen = dated
        .iter()
        .find(|(s, _)| *s > now)
        .or_else(|| dated.last())
        .map(|(_, a)| *a)
        .ok_or_else(|| "the person has no booking with a start time at this source".to_owned())?;
    let mut moved = chosen.clone();
    for field in ["start", "end"] {
        if let Some(at) = moved[field]
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        {
            moved[field] = Value::String(
                (at + chrono::TimeDelta::days(1))
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
            );
        }
    }
    Ok((moved, false))
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/fhir/metadata", get(metadata))
        .route("/fhir/{resource_type}", get(search_type))
        .route("/fhir/{resource_type}/{id}", get(read))
        .fallback(not_found)
        .with_state(shared)
}

async fn metadata(State(shared): State<Arc<Shared>>) -> Response {
    fhir_json(
        StatusCode::OK,
        &search::capability_statement(&shared.store(), &shared.base_url),
    )
}

async fn search_type(
    State(shared): State<Arc<Shared>>,
    Path(resource_type): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let answer_of = search::search(&shared.store(), &shared.base_url, &resource_type, &params);
    answer(answer_of)
}

async fn read(
    State(shared): State<Arc<Shared>>,
    Path((resource_type, id)): Path<(String, String)>,
) -> Response {
    let answer_of = search::read(&shared.store(), &resource_type, &id);
    answer(answer_of)
}

async fn not_found() -> Response {
    refusal(&Refusal {
        status: 404,
        code: "not-found",
        message: "the simulator serves FHIR searches under /fhir".into(),
    })
}

fn answer(result: Result<Value, Refusal>) -> Response {
    match result {
        Ok(body) => fhir_json(StatusCode::OK, &body),
        Err(r) => refusal(&r),
    }
}

fn refusal(r: &Refusal) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    fhir_json(status, &operation_outcome(r.code, &r.message))
}

fn fhir_json(status: StatusCode, body: &Value) -> Response {
    let mut text = Vec::new();
    write_fhir_json(body, &mut text);
    fhir_body(status, text)
}

/// Writes `value` as compact JSON with `resourceType` first in every object, as FHIR servers
/// do (serde_json's map sorts keys, which would put `entry` before `resourceType`).
fn write_fhir_json(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            out.push(b'{');
            let first = map.get_key_value("resourceType");
            let rest = map.iter().filter(|(k, _)| *k != "resourceType");
            for (i, (key, v)) in first.into_iter().chain(rest).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_scalar(&Value::String(key.clone()), out);
                out.push(b':');
                write_fhir_json(v, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_fhir_json(v, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_scalar(value: &Value, out: &mut Vec<u8>) {
    // Writing a JSON value into a Vec cannot fail.
    let _ = serde_json::to_writer(out, value);
}

fn fhir_body(status: StatusCode, body: impl Into<Body>) -> Response {
    (status, [(header::CONTENT_TYPE, FHIR_JSON)], body.into()).into_response()
}

/// Removes the elements FHIR R4 requires ([`REQUIRED_ELEMENTS`]) from a resource, from the
/// resources it contains, and from every resource in a Bundle (nested Bundles too).
fn leave_out_required(resource: &mut Value) {
    let Some(object) = resource.as_object_mut() else {
        return;
    };
    let resource_type = object.get("resourceType").and_then(Value::as_str);
    if resource_type == Some("Bundle") {
        for entry in object
            .get_mut("entry")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(inner) = entry.get_mut("resource") {
                leave_out_required(inner);
            }
        }
        return;
    }
    let required = REQUIRED_ELEMENTS
        .iter()
        .find(|(t, _)| Some(*t) == resource_type)
        .map_or(&[][..], |(_, elements)| *elements);
    object.retain(|key, _| {
        let name = key.strip_prefix('_').unwrap_or(key);
        !required
            .iter()
            .any(|element| match element.strip_suffix("[x]") {
                Some(choice) => name
                    .strip_prefix(choice)
                    .is_some_and(|t| t.starts_with(|c: char| c.is_ascii_uppercase())),
                None => name == *element,
            })
    });
    for contained in object
        .get_mut("contained")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        leave_out_required(contained);
    }
}

/// The body of a `Huge` answer, made a chunk at a time: [`HUGE_HEAD`], numbered padding
/// entries separated by commas, spaces to make up the exact size, [`HUGE_TAIL`].
struct HugeBody {
    /// The whole of a body too small for the Bundle's frame: the frame's start, cut.
    cut: Option<Bytes>,
    head: bool,
    entries: std::ops::Range<u64>,
    spaces: usize,
    tail: bool,
}

/// Writes padding entry `n` (every entry has the same length: `n` has ten digits).
fn write_padding_entry(n: u64, out: &mut Vec<u8>) {
    use std::io::Write as _;
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        r#"{{"resource":{{"resourceType":"Basic","id":"padding-{n:010}","code":{{"text":"padding"}}}}}}"#
    );
}

impl HugeBody {
    fn new(bytes: usize) -> Self {
        let frame = HUGE_HEAD.len() + HUGE_TAIL.len();
        if bytes < frame {
            let start = format!("{HUGE_HEAD}{HUGE_TAIL}").into_bytes();
            return HugeBody {
                cut: Some(Bytes::copy_from_slice(&start[..bytes])),
                head: false,
                entries: 0..0,
                spaces: 0,
                tail: false,
            };
        }
        let room = bytes - frame;
        let mut entry = Vec::new();
        write_padding_entry(0, &mut entry);
        // n entries take n × (entry + comma) − 1 bytes.
        let with_comma = entry.len() + 1;
        let count = u64::try_from((room + 1) / with_comma)
            .unwrap_or(u64::MAX)
            .min(MAX_PADDING_ENTRIES);
        let used = usize::try_from(count).map_or(room, |n| (n * with_comma).saturating_sub(1));
        HugeBody {
            cut: None,
            head: true,
            entries: 0..count,
            spaces: room - used,
            tail: true,
        }
    }
}

impl Iterator for HugeBody {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        if let Some(cut) = self.cut.take() {
            return (!cut.is_empty()).then_some(cut);
        }
        // Room for the entry that crosses the chunk's size.
        let mut chunk = Vec::with_capacity(HUGE_CHUNK_BYTES + 128);
        if std::mem::take(&mut self.head) {
            chunk.extend_from_slice(HUGE_HEAD.as_bytes());
        }
        while chunk.len() < HUGE_CHUNK_BYTES {
            if let Some(n) = self.entries.next() {
                if n > 0 {
                    chunk.push(b',');
                }
                write_padding_entry(n, &mut chunk);
            } else if self.spaces > 0 {
                let spaces = self.spaces.min(HUGE_CHUNK_BYTES - chunk.len());
                chunk.resize(chunk.len() + spaces, b' ');
                self.spaces -= spaces;
            } else if std::mem::take(&mut self.tail) {
                chunk.extend_from_slice(HUGE_TAIL.as_bytes());
            } else {
                break;
            }
        }
        (!chunk.is_empty()).then(|| Bytes::from(chunk))
    }
}

/// FHIR's faults.
struct FhirWire;

impl Wire for FhirWire {
    fn content_type(&self) -> &'static str {
        FHIR_JSON
    }

    fn status_answer(&self, status: StatusCode, message: &str) -> Response {
        let code = if status == StatusCode::SERVICE_UNAVAILABLE {
            "transient"
        } else {
            "exception"
        };
        fhir_json(status, &operation_outcome(code, message))
    }

    fn protocol_error(&self) -> Response {
        fhir_json(
            StatusCode::OK,
            &operation_outcome("exception", "simulated error answered with status 200"),
        )
    }

    fn huge_body(&self, bytes: usize) -> Box<dyn Iterator<Item = Bytes> + Send> {
        Box::new(HugeBody::new(bytes))
    }

    fn leave_out_required(&self, body: &[u8]) -> Option<Vec<u8>> {
        let mut answer = serde_json::from_slice::<Value>(body).ok()?;
        leave_out_required(&mut answer);
        let mut out = Vec::new();
        write_fhir_json(&answer, &mut out);
        Some(out)
    }

    /// The first path segment after `/fhir/`: the resource type, or `metadata`.
    fn hit_key(&self, path: &str) -> Option<String> {
        let segment = path
            .strip_prefix(BASE_PATH)
            .and_then(|p| p.strip_prefix('/'))
            .and_then(|p| p.split('/').next())
            .filter(|s| !s.is_empty())
            .unwrap_or("");
        Some(segment.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_type_comes_first_and_the_json_is_unchanged() {
        let value = serde_json::json!({
            "entry": [{ "resource": { "id": "x", "resourceType": "Patient", "name": "\"å\"" } }],
            "resourceType": "Bundle",
            "total": 1.5
        });
        let mut out = Vec::new();
        write_fhir_json(&value, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with(r#"{"resourceType":"Bundle","#), "{text}");
        assert!(
            text.contains(r#"{"resourceType":"Patient","id":"x""#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), value);
    }

    fn huge_body(bytes: usize) -> Vec<u8> {
        let mut body = Vec::new();
        for chunk in HugeBody::new(bytes) {
            assert!(!chunk.is_empty());
            assert!(chunk.len() <= HUGE_CHUNK_BYTES + 128, "{}", chunk.len());
            body.extend_from_slice(&chunk);
        }
        body
    }

    #[test]
    fn a_huge_body_has_exactly_its_size_and_is_a_searchset_bundle() {
        let frame = HUGE_HEAD.len() + HUGE_TAIL.len();
        for bytes in [
            frame,
            frame + 1,
            frame + 89,
            frame + 90,
            1000,
            65_536,
            1_000_003,
        ] {
            let body = huge_body(bytes);
            assert_eq!(body.len(), bytes);
            let bundle: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(bundle["resourceType"], "Bundle");
            assert_eq!(bundle["type"], "searchset");
            let entries = bundle["entry"].as_array().unwrap();
            let ids: std::collections::HashSet<&str> = entries
                .iter()
                .map(|e| e["resource"]["id"].as_str().unwrap())
                .collect();
            assert_eq!(
                ids.len(),
                entries.len(),
                "every padding entry has its own id"
            );
            assert!(
                entries
                    .iter()
                    .all(|e| e["resource"]["resourceType"] == "Basic")
            );
        }
        assert_eq!(
            serde_json::from_slice::<Value>(&huge_body(frame + 1000)).unwrap()["entry"]
                .as_array()
                .unwrap()
                .len(),
            11
        );
    }

    #[test]
    fn a_huge_body_too_small_for_a_bundle_is_the_start_of_one() {
        assert!(huge_body(0).is_empty());
        assert_eq!(huge_body(16), &HUGE_HEAD.as_bytes()[..16]);
    }

    #[test]
    fn the_required_elements_are_left_out_and_everything_else_kept() {
        let mut bundle = serde_json::json!({
            "resourceType": "Bundle",
            "type": "searchset",
            "total": 3,
            "entry": [
                { "resource": {
                    "resourceType": "MedicationRequest", "id": "m1",
                    "status": "active", "_status": { "extension": [] }, "intent": "order",
                    "medicationReference": { "reference": "Medication/med1" },
                    "subject": { "reference": "Patient/p" },
                    "authoredOn": "2026-01-01", "statusReason": { "text": "kept" },
                    "contained": [{ "resourceType": "Observation", "id": "o", "status": "final",
                                    "code": { "text": "x" }, "valueString": "kept" }]
                }, "search": { "mode": "match" } },
                { "resource": {
                    "resourceType": "Medication", "id": "med1", "status": "active",
                    "code": { "text": "Alvedon" }
                }, "search": { "mode": "include" } },
                { "resource": {
                    "resourceType": "Observation", "id": "o2", "status": "final",
                    "code": { "text": "Vikt" }, "effectiveDateTime": "2026-01-01",
                    "valueQuantity": { "value": 80 }
                }, "search": { "mode": "match" } }
            ]
        });

        leave_out_required(&mut bundle);

        let request = &bundle["entry"][0]["resource"];
        assert_eq!(
            request,
            &serde_json::json!({
                "resourceType": "MedicationRequest", "id": "m1",
                "authoredOn": "2026-01-01", "statusReason": { "text": "kept" },
                "contained": [{ "resourceType": "Observation", "id": "o", "valueString": "kept" }]
            })
        );
        assert_eq!(
            bundle["entry"][1]["resource"]["status"], "active",
            "Medication requires nothing"
        );
        let observation = &bundle["entry"][2]["resource"];
        assert!(observation.get("status").is_none() && observation.get("code").is_none());
        assert_eq!(observation["effectiveDateTime"], "2026-01-01");
        assert_eq!(bundle["total"], 3);
        assert_eq!(bundle["entry"][2]["search"]["mode"], "match");
    }

    #[test]
    fn a_choice_element_goes_in_every_type_but_a_longer_name_stays() {
        let mut statement = serde_json::json!({
            "resourceType": "MedicationStatement",
            "medicationCodeableConcept": { "text": "x" },
            "medicationsKept": true,
            "medication": "not a choice type",
            "effectivePeriod": { "start": "2026" }
        });
        leave_out_required(&mut statement);
        assert_eq!(
            statement,
            serde_json::json!({
                "resourceType": "MedicationStatement",
                "medicationsKept": true,
                "medication": "not a choice type",
                "effectivePeriod": { "start": "2026" }
            })
        );
    }
}
