//! MedicationRequest and MedicationStatement → `Medication`.

use serde_json::Value;

use super::{Ctx, status};
use crate::domain::{Medication, MedicationRecordKind, MedicationStatus, Sourced};
use crate::sources::fhir::elements::{
    ATC_SYSTEM, concept_text, concepts_text, date_end, date_start, identifiers, list,
    preferred_code, quantity, string,
};
use crate::sources::fhir::resources::Res;

pub(super) fn medications(cx: &mut Ctx<'_>) -> Vec<Sourced<Medication>> {
    let mut out = Vec::new();
    let resources: Vec<Res<'_>> = cx
        .set
        .resources()
        .filter(|r| r.mode().is_primary())
        .filter(|r| {
            matches!(
                r.resource_type(),
                "MedicationRequest" | "MedicationStatement"
            )
        })
        .collect();
    for res in resources {
        match medication(cx, res) {
            Ok(Some(item)) => out.push(item),
            Ok(None) => {}
            Err(()) if res.resource_type() == "MedicationRequest" => cx.skip("MedicationRequest"),
            Err(()) => cx.skip("MedicationStatement"),
        }
    }
    out
}

fn medication<'a>(cx: &Ctx<'a>, res: Res<'a>) -> Result<Option<Sourced<Medication>>, ()> {
    let json = res.json();
    let record_kind = if res.resource_type() == "MedicationRequest" {
        MedicationRecordKind::Prescription
    } else {
        MedicationRecordKind::Statement
    };
    let status = match status(res) {
        Some("draft" | "entered-in-error") => return Ok(None),
        Some("active" | "intended") => MedicationStatus::Active,
        Some("on-hold") => MedicationStatus::OnHold,
        Some("completed" | "stopped" | "cancelled" | "not-taken") => MedicationStatus::Ended,
        _ => MedicationStatus::Unknown,
    };
    let (name, code) = if let Some(concept) = json.get("medicationCodeableConcept") {
        (
            concept_text(concept),
            preferred_code(concept, &[ATC_SYSTEM]),
        )
    } else if let Some(reference) = json.get("medicationReference") {
        let concept = cx
            .resolve(res, reference)
            .filter(|m| m.resource_type() == "Medication")
            .and_then(|m| m.get("code"));
        (
            concept
                .and_then(concept_text)
                .or_else(|| string(reference, "display")),
            concept.and_then(|c| preferred_code(c, &[ATC_SYSTEM])),
        )
    } else {
        (None, None)
    };
    let name = name.ok_or(())?;

    let dosages = if json.get("dosageInstruction").is_some() {
        list(json, "dosageInstruction")
    } else {
        list(json, "dosage")
    };
    let texts: Vec<String> = dosages.iter().filter_map(|d| string(d, "text")).collect();
    let dose = dosages
        .iter()
        .flat_map(|d| list(d, "doseAndRate"))
        .find_map(|dr| dr.get("doseQuantity").and_then(quantity));
    let bounds = dosages.iter().find_map(|d| {
        d.get("timing")
            .and_then(|t| t.get("repeat"))
            .and_then(|r| r.get("boundsPeriod"))
    });
    let validity = json
        .get("dispenseRequest")
        .and_then(|d| d.get("validityPeriod"));
    let field = |period: Option<&'a Value>, key: &str| period.and_then(|p| p.get(key));
    let effective_period = json.get("effectivePeriod");
    let start = field(bounds, "start")
        .and_then(date_start)
        .or_else(|| field(validity, "start").and_then(date_start))
        .or_else(|| json.get("authoredOn").and_then(date_start))
        .or_else(|| field(effective_period, "start").and_then(date_start))
        .or_else(|| json.get("effectiveDateTime").and_then(date_start));
    let end = field(bounds, "end")
        .and_then(date_end)
        .or_else(|| field(validity, "end").and_then(date_end))
        .or_else(|| field(effective_period, "end").and_then(date_end));

    let requester = json.get("requester");
    let reason = concepts_text(list(json, "reasonCode")).or_else(|| {
        list(json, "reasonReference").iter().find_map(|r| {
            cx.resolve(res, r)
                .and_then(|c| c.get("code"))
                .and_then(concept_text)
                .or_else(|| string(r, "display"))
        })
    });
    let item = Medication {
        name,
        code,
        dosage: (!texts.is_empty()).then(|| texts.join("; ")),
        dose,
        status,
        record_kind,
        start,
        end,
        prescriber: requester.and_then(|r| cx.ref_name(res, r)),
        reason,
    };
    let unit = requester.and_then(|r| cx.ref_organisation(res, r));
    Ok(Some(cx.sourced(res, item, identifiers(json), unit)))
}
