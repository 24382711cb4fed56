//! Appointment → `Booking`.

use serde_json::Value;

use super::{Ctx, status};
use crate::domain::{Booking, BookingStatus, Sourced};
use crate::sources::fhir::elements::{
    MAY_CANCEL_EXTENSION, MAY_REBOOK_EXTENSION, concept_text, concepts_text, extension,
    identifiers, instant, list, string,
};
use crate::sources::fhir::resources::Res;

pub(super) fn bookings(cx: &mut Ctx<'_>) -> Vec<Sourced<Booking>> {
    let mut out = Vec::new();
    let appointments: Vec<Res<'_>> = cx.set.primary("Appointment").collect();
    for appointment in appointments {
        match booking(cx, appointment) {
            Ok(Some(item)) => out.push(item),
            Ok(None) => {}
            Err(()) => cx.skip("Appointment"),
        }
    }
    out
}

fn booking<'a>(cx: &Ctx<'a>, res: Res<'a>) -> Result<Option<Sourced<Booking>>, ()> {
    let json = res.json();
    let status = match status(res) {
        Some("entered-in-error") => return Ok(None),
        Some("proposed") => BookingStatus::Proposed,
        Some("pending") => BookingStatus::Pending,
        Some("booked") => BookingStatus::Booked,
        Some("arrived") => BookingStatus::Arrived,
        Some("checked-in") => BookingStatus::CheckedIn,
        Some("fulfilled") => BookingStatus::Fulfilled,
        Some("cancelled") => BookingStatus::Cancelled,
        Some("noshow") => BookingStatus::NoShow,
        Some("waitlist") => BookingStatus::Waitlist,
        _ => BookingStatus::Unknown,
    };
    let start = json.get("start").and_then(instant).ok_or(())?;

    let mut org_unit = None;
    let mut location_unit = None;
    let mut role_unit = None;
    let mut location = None;
    let mut practitioner = None;
    for participant in list(json, "participant") {
        let Some(actor) = participant.get("actor") else {
            continue;
        };
        match cx.ref_type(res, actor) {
            Some("Organization") => {
                org_unit = org_unit.or_else(|| cx.ref_organisation(res, actor));
            }
            Some("Location") => {
                location = location.or_else(|| cx.ref_name(res, actor));
                location_unit = location_unit.or_else(|| cx.ref_organisation(res, actor));
            }
            Some("Practitioner" | "PractitionerRole") => {
                practitioner = practitioner.or_else(|| cx.ref_name(res, actor));
                role_unit = role_unit.or_else(|| cx.ref_organisation(res, actor));
            }
            _ => {}
        }
    }
    let care_unit = org_unit.or(location_unit).or(role_unit);
    let service_type = concepts_text(list(json, "serviceType"));
    let flag = |url: &str| extension(json, url, "Boolean").and_then(Value::as_bool);
    let item = Booking {
        start,
        end: json.get("end").and_then(instant),
        status,
        title: string(json, "description")
            .or_else(|| service_type.clone())
            .or_else(|| json.get("appointmentType").and_then(concept_text)),
        service_type,
        care_unit: care_unit.clone(),
        location,
        practitioner,
        patient_may_cancel: flag(MAY_CANCEL_EXTENSION),
        patient_may_rebook: flag(MAY_REBOOK_EXTENSION),
    };
    Ok(Some(cx.sourced(res, item, identifiers(json), care_unit)))
}
