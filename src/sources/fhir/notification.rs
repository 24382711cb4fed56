//! Reading a FHIR source's change notification (an R4 Subscription's rest-hook POST): which
//! patients it concerns, as far as the body itself says. Pure: no I/O; what only the source can
//! answer (whose is `Observation/123`?) is left as a [`About::Reference`] for the adapter to
//! resolve ([`FhirSource::resolve_patient`](super::FhirSource)).
//!
//! The forms taken, all as `application/fhir+json`:
//! - an empty body: R4 `Subscription.channel.payload` left out, a bare ping that names nothing;
//! - a resource (R4 with a payload; also what R4 PUTs to `<endpoint>/<Type>/<id>`) or a Bundle of
//!   resources (each entry's resource);
//! - the Subscriptions R5 Backport IG's R4 notification: a Bundle of `type` `history` whose
//!   first entry is a `Parameters` SubscriptionStatus (parameters `type`: `handshake`,
//!   `heartbeat`, `event-notification`, `query-status`, `query-event`; `notification-event`
//!   with parts `focus` and `additional-context`), followed by the focus resources
//!   (`full-resource`) or entries naming them without a resource (`id-only`).
//!   Verified against the IG's R4 profile `backport-subscription-status-r4` and its example
//!   notification bundles (hl7.org/fhir/uv/subscriptions-backport, STU 1.1).

use std::collections::BTreeSet;

use serde_json::Value;

use super::resources::type_and_id;
use crate::domain::{PERSONNUMMER_SYSTEM, PersonId, SAMORDNINGSNUMMER_SYSTEM};

/// What kind of notification arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An empty body: something changed at the source, it does not say what or whose.
    Ping,
    /// The Backport IG's handshake, heartbeat or status answer: nothing changed.
    Status,
    /// Resources changed (a payload, or a Backport event notification).
    Event,
}

/// A patient a notification concerns, as the body names them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum About {
    /// Named by personnummer or samordningsnummer (an identifier in a reference, or a Patient
    /// resource's identifier).
    Person(PersonId),
    /// Named by the source's own reference `<Type>/<id>`: a `Patient/<id>`, or a resource
    /// (an id-only focus) whose patient only the source can tell.
    Reference(String),
}

/// A notification, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub kind: Kind,
    pub about: BTreeSet<About>,
}

/// Why a body is not a notification we can read. The text names the element, never a value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(pub String);

/// Reads a notification body (see the module's documentation for the forms).
pub fn read(body: &[u8]) -> Result<Notification, Unreadable> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Notification {
            kind: Kind::Ping,
            about: BTreeSet::new(),
        });
    }
    let json: Value = serde_json::from_slice(body).map_err(|e| {
        Unreadable(format!(
            "the body is not JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    read_json(&json)
}

/// As [`read`], for a parsed body.
pub fn read_json(json: &Value) -> Result<Notification, Unreadable> {
    let Some(resource_type) = json.get("resourceType").and_then(Value::as_str) else {
        return Err(Unreadable(
            "the body is not a FHIR resource (no resourceType)".into(),
        ));
    };
    let mut about = BTreeSet::new();
    if resource_type != "Bundle" {
        patients_of(json, &mut about);
        return Ok(Notification {
            kind: Kind::Event,
            about,
        });
    }
    let entries = match json.get("entry") {
        None => &[][..],
        Some(Value::Array(entries)) => entries.as_slice(),
        Some(_) => return Err(Unreadable("the Bundle's entry is not a list".into())),
    };
    let status = entries
        .first()
        .and_then(|e| e.get("resource"))
        .filter(|r| r.get("resourceType").and_then(Value::as_str) == Some("Parameters"));
    let bundle_type = json.get("type").and_then(Value::as_str);
    match status {
        Some(status) if matches!(bundle_type, Some("history" | "subscription-notification")) => {
            read_backport(status, &entries[1..])
        }
        _ => {
            for entry in entries {
                if let Some(resource) = entry.get("resource") {
                    patients_of(resource, &mut about);
                }
            }
            Ok(Notification {
                kind: Kind::Event,
                about,
            })
        }
    }
}

/// A Backport IG notification: its SubscriptionStatus `status` and the entries after it.
fn read_backport(status: &Value, entries: &[Value]) -> Result<Notification, Unreadable> {
    let parameters = status
        .get("parameter")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    fn named<'a>(parameters: &'a [Value], name: &'a str) -> impl Iterator<Item = &'a Value> {
        parameters
            .iter()
            .filter(move |p| p.get("name").and_then(Value::as_str) == Some(name))
    }
    let kind = named(parameters, "type")
        .find_map(|p| p.get("valueCode").and_then(Value::as_str))
        .ok_or_else(|| {
            Unreadable("the SubscriptionStatus has no `type` parameter (valueCode)".into())
        })?;
    match kind {
        "handshake" | "heartbeat" | "query-status" => {
            return Ok(Notification {
                kind: Kind::Status,
                about: BTreeSet::new(),
            });
        }
        "event-notification" | "query-event" => {}
        other if other.len() <= 32 && other.chars().all(|c| c.is_ascii_lowercase() || c == '-') => {
            return Err(Unreadable(format!(
                "the SubscriptionStatus `type` {other} is not a notification type"
            )));
        }
        _ => {
            return Err(Unreadable(
                "the SubscriptionStatus `type` is not a notification type".into(),
            ));
        }
    }
    let mut about = BTreeSet::new();
    for event in named(parameters, "notification-event") {
        let parts = event
            .get("part")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        for part in parts {
            let name = part.get("name").and_then(Value::as_str);
            if !matches!(name, Some("focus" | "additional-context")) {
                continue;
            }
            let Some(reference) = part.get("valueReference") else {
                continue;
            };
            let key = reference
                .get("reference")
                .and_then(Value::as_str)
                .and_then(type_and_id);
            // Full-resource: the focus travels in the bundle, and tells whose it is.
            let carried = key.and_then(|key| {
                entries
                    .iter()
                    .filter_map(|e| e.get("resource"))
                    .find(|r| resource_key(r).as_deref() == Some(key))
            });
            match (carried, key) {
                (Some(resource), _) => patients_of(resource, &mut about),
                (None, Some(key)) => {
                    about.insert(About::Reference(key.to_owned()));
                }
                (None, None) => reference_patient(reference, &mut about),
            }
        }
    }
    // A full-resource bundle whose status lists no events (the IG allows leaving them out of
    // `full-resource` notifications): the resources say whom.
    if about.is_empty() {
        for resource in entries.iter().filter_map(|e| e.get("resource")) {
            patients_of(resource, &mut about);
        }
    }
    Ok(Notification {
        kind: Kind::Event,
        about,
    })
}

/// `<Type>/<id>` of a resource.
fn resource_key(resource: &Value) -> Option<String> {
    let t = resource.get("resourceType").and_then(Value::as_str)?;
    let id = resource.get("id").and_then(Value::as_str)?;
    Some(format!("{t}/{id}"))
}

/// The elements through which a resource names its patient (subject for most clinical
/// resources, `patient` for others, Appointment participants, Coverage's beneficiary).
const PATIENT_ELEMENTS: [&str; 3] = ["subject", "patient", "beneficiary"];

/// The patients `resource` is about.
pub fn patients_of(resource: &Value, about: &mut BTreeSet<About>) {
    if resource.get("resourceType").and_then(Value::as_str) == Some("Patient") {
        let before = about.len();
        if let Some(identifiers) = resource.get("identifier").and_then(Value::as_array) {
            for identifier in identifiers {
                if let Some(person) = person_identifier(identifier) {
                    about.insert(About::Person(person));
                }
            }
        }
        if about.len() == before
            && let Some(key) = resource_key(resource)
        {
            about.insert(About::Reference(key));
        }
        return;
    }
    for element in PATIENT_ELEMENTS {
        if let Some(reference) = resource.get(element) {
            reference_patient(reference, about);
        }
    }
    if let Some(participants) = resource.get("participant").and_then(Value::as_array) {
        for participant in participants {
            if let Some(actor) = participant.get("actor") {
                reference_patient(actor, about);
            }
        }
    }
}

/// The patient a Reference names: by a personnummer identifier, or a `Patient/<id>`.
fn reference_patient(reference: &Value, about: &mut BTreeSet<About>) {
    if let Some(person) = reference.get("identifier").and_then(person_identifier) {
        about.insert(About::Person(person));
        return;
    }
    let key = reference
        .get("reference")
        .and_then(Value::as_str)
        .and_then(type_and_id);
    if let Some(key) = key.filter(|k| k.starts_with("Patient/")) {
        about.insert(About::Reference(key.to_owned()));
    }
}

/// A personnummer or samordningsnummer identifier's person.
pub fn person_identifier(identifier: &Value) -> Option<PersonId> {
    let system = identifier.get("system").and_then(Value::as_str)?;
    if system != PERSONNUMMER_SYSTEM && system != SAMORDNINGSNUMMER_SYSTEM {
        return None;
    }
    PersonId::parse(identifier.get("value").and_then(Value::as_str)?).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn tolvan() -> PersonId {
        PersonId::parse("191212121212").unwrap()
    }

    fn status(kind: &str, events: Value) -> Value {
        let mut parameter = vec![
            json!({ "name": "subscription", "valueReference": { "reference": "Subscription/s1" } }),
            json!({ "name": "status", "valueCode": "active" }),
            json!({ "name": "type", "valueCode": kind }),
            json!({ "name": "events-since-subscription-start", "valueString": "2" }),
        ];
        parameter.extend(events.as_array().cloned().unwrap_or_default());
        json!({
            "resourceType": "Parameters",
            "meta": { "profile": ["http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-status-r4"] },
            "parameter": parameter
        })
    }

    fn event(focus: &str) -> Value {
        json!({
            "name": "notification-event",
            "part": [
                { "name": "event-number", "valueString": "2" },
                { "name": "focus", "valueReference": { "reference": focus } }
            ]
        })
    }

    #[test]
    fn an_empty_body_is_a_ping_naming_nobody() {
        let n = read(b"  \n").unwrap();
        assert_eq!(n.kind, Kind::Ping);
        assert!(n.about.is_empty());
    }

    #[test]
    fn a_full_resource_backport_notification_names_the_focus_resources_patient() {
        let bundle = json!({
            "resourceType": "Bundle",
            "type": "history",
            "entry": [
                { "fullUrl": "urn:uuid:1", "resource": status("event-notification", json!([event("https://fhir.example.se/r4/Observation/o1")])) },
                { "fullUrl": "https://fhir.example.se/r4/Observation/o1",
                  "resource": { "resourceType": "Observation", "id": "o1", "status": "final",
                                "code": { "text": "BP" }, "subject": { "reference": "Patient/p1" } },
                  "request": { "method": "POST", "url": "Observation" } }
            ]
        });
        let n = read_json(&bundle).unwrap();
        assert_eq!(n.kind, Kind::Event);
        assert_eq!(
            n.about.into_iter().collect::<Vec<_>>(),
            [About::Reference("Patient/p1".into())]
        );
    }

    #[test]
    fn an_id_only_backport_notification_leaves_the_focus_for_the_source_to_resolve() {
        let bundle = json!({
            "resourceType": "Bundle",
            "type": "history",
            "entry": [
                { "resource": status("event-notification", json!([event("Appointment/a1")])) },
                { "fullUrl": "https://fhir.example.se/r4/Appointment/a1", "request": { "method": "PUT", "url": "Appointment/a1" } }
            ]
        });
        let n = read_json(&bundle).unwrap();
        assert_eq!(
            n.about.into_iter().collect::<Vec<_>>(),
            [About::Reference("Appointment/a1".into())]
        );
    }

    #[test]
    fn handshakes_and_heartbeats_change_nothing() {
        for kind in ["handshake", "heartbeat"] {
            let bundle = json!({ "resourceType": "Bundle", "type": "history",
                                 "entry": [{ "resource": status(kind, json!([])) }] });
            let n = read_json(&bundle).unwrap();
            assert_eq!(n.kind, Kind::Status, "{kind}");
        }
    }

    #[test]
    fn a_resource_naming_its_patient_by_identifier_needs_no_lookup() {
        let appointment = json!({
            "resourceType": "Appointment", "id": "a1", "status": "booked",
            "participant": [
                { "actor": { "identifier": { "system": PERSONNUMMER_SYSTEM, "value": "191212121212" } } },
                { "actor": { "reference": "Location/l1" } }
            ]
        });
        let n = read_json(&appointment).unwrap();
        assert_eq!(
            n.about.into_iter().collect::<Vec<_>>(),
            [About::Person(tolvan())]
        );
    }

    #[test]
    fn a_patient_resource_names_itself_by_its_personnummer() {
        let patient = json!({ "resourceType": "Patient", "id": "p1",
            "identifier": [{ "system": PERSONNUMMER_SYSTEM, "value": "191212121212" }] });
        let n = read_json(&json!({ "resourceType": "Bundle", "type": "collection",
                                   "entry": [{ "resource": patient }] }))
        .unwrap();
        assert_eq!(
            n.about.into_iter().collect::<Vec<_>>(),
            [About::Person(tolvan())]
        );
    }

    #[test]
    fn unreadable_bodies_say_why_without_echoing_them() {
        let e = read(b"{ not json 191212121212").unwrap_err();
        assert!(e.0.contains("not JSON"), "{e}");
        assert!(!e.0.contains("1912"), "{e}");
        assert!(read(b"[1,2]").is_err());
        let bad_type = json!({ "resourceType": "Bundle", "type": "history",
                               "entry": [{ "resource": status("191212121212", json!([])) }] });
        let e = read_json(&bad_type).unwrap_err();
        assert!(!e.0.contains("1912"), "{e}");
    }
}
