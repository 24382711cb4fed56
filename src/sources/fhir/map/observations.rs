//! Observation (vital signs) → `Measurement`; Observation (laboratory) and DiagnosticReport →
//! `LabResult`.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::{Ctx, status};
use crate::domain::{
    AbnormalFlag, LabItems, LabReport, LabResult, MeasuredBy, Measurement, MeasurementComponent,
    Organisation, ReferenceRange, ResultStatus, Sourced,
};
use crate::sources::fhir::elements::{
    LOINC_SYSTEM, NPU_SYSTEM, choice_time, codings, concept_name, concept_text, concepts_text,
    first, format_quantity, has_code, identifiers, instant, list, preferred_code, quantity, string,
    text, value_text,
};
use crate::sources::fhir::resources::Res;
use crate::sources::hl7;

fn is_vital_sign(json: &Value) -> bool {
    has_code(list(json, "category"), None, "vital-signs")
}

/// A panel that only groups other observations: members, but no value of its own.
fn is_pure_panel(json: &Value) -> bool {
    let has_value = json
        .as_object()
        .is_some_and(|o| o.keys().any(|k| k.starts_with("value")));
    !list(json, "hasMember").is_empty() && !has_value && list(json, "component").is_empty()
}

/// An Observation or DiagnosticReport status; `None` for entered-in-error.
fn result_status(res: Res<'_>) -> Option<ResultStatus> {
    Some(match status(res) {
        Some("entered-in-error") => return None,
        Some("registered") => ResultStatus::Registered,
        Some("preliminary" | "partial") => ResultStatus::Preliminary,
        Some("final") => ResultStatus::Final,
        Some("amended" | "corrected" | "appended") => ResultStatus::Amended,
        Some("cancelled") => ResultStatus::Cancelled,
        _ => ResultStatus::Unknown,
    })
}

/// The time a result applies to: `effective[x]`, else when it was issued.
fn result_time(json: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    choice_time(json, "effective").or_else(|| json.get("issued").and_then(instant))
}

fn absent_reason(json: &Value) -> Option<String> {
    json.get("dataAbsentReason").and_then(concept_text)
}

pub(super) fn measurements(cx: &mut Ctx<'_>) -> Vec<Sourced<Measurement>> {
    let mut out = Vec::new();
    let vitals: Vec<Res<'_>> = cx
        .set
        .primary("Observation")
        .filter(|o| is_vital_sign(o.json()))
        .collect();
    let withheld = cx.withheld_by_group();
    for obs in vitals {
        match measurement(cx, obs) {
            Ok(Some(item)) => out.push(Ctx::withhold_grouped(obs, &withheld, item)),
            Ok(None) => {}
            Err(()) => cx.skip("Observation"),
        }
    }
    out
}

fn measurement<'a>(cx: &Ctx<'a>, obs: Res<'a>) -> Result<Option<Sourced<Measurement>>, ()> {
    let json = obs.json();
    let Some(status) = result_status(obs) else {
        return Ok(None);
    };
    if is_pure_panel(json) {
        return Ok(None);
    }
    let concept = json.get("code").ok_or(())?;
    let components = list(json, "component")
        .iter()
        .filter_map(|c| {
            let code = c.get("code")?;
            Some(MeasurementComponent {
                name: concept_name(code)?,
                code: preferred_code(code, &[LOINC_SYSTEM]),
                value: c.get("valueQuantity").and_then(quantity),
            })
        })
        .collect();
    let performers = list(json, "performer");
    let measured_by = if performers.is_empty() {
        MeasuredBy::Unknown
    } else if performers
        .iter()
        .any(|p| cx.ref_type(obs, p) == Some("Patient"))
    {
        MeasuredBy::Patient
    } else {
        MeasuredBy::Care
    };
    let item = Measurement {
        name: concept_name(concept).ok_or(())?,
        code: preferred_code(concept, &[LOINC_SYSTEM]),
        value: json.get("valueQuantity").and_then(quantity),
        value_text: value_text(json).or_else(|| absent_reason(json)),
        components,
        time: result_time(json),
        status,
        measured_by,
    };
    let unit = cx.first_ref_organisation(obs, performers);
    Ok(Some(cx.sourced(obs, item, identifiers(json), unit)))
}

/// What groups a lab observation: the DiagnosticReport listing it, else the panel holding it.
#[derive(Clone, Copy)]
enum Group<'a> {
    Report(Res<'a>),
    Panel(Res<'a>),
}

pub(super) fn lab_results(cx: &mut Ctx<'_>) -> LabItems {
    let set = cx.set;
    let mut group_of: HashMap<usize, Group<'_>> = HashMap::new();
    for report in set.primary("DiagnosticReport") {
        if result_status(report).is_none() {
            continue;
        }
        for result in list(report.json(), "result") {
            if let Some(i) = cx.resolve(report, result).and_then(|o| o.index()) {
                group_of.entry(i).or_insert(Group::Report(report));
            }
        }
    }
    for panel in set.primary("Observation") {
        for member in list(panel.json(), "hasMember") {
            if let Some(i) = cx.resolve(panel, member).and_then(|o| o.index()) {
                group_of.entry(i).or_insert(Group::Panel(panel));
            }
        }
    }

    let withheld = cx.withheld_by_group();
    let mut out = Vec::new();
    let mut reports = Vec::new();
    for res in set.resources() {
        match res.resource_type() {
            "Observation" => {
                let json = res.json();
                let group = res.index().and_then(|i| group_of.get(&i)).copied();
                let reported = matches!(group, Some(Group::Report(_)));
                let lab_category = has_code(list(json, "category"), None, "laboratory")
                    || list(json, "category").is_empty();
                let eligible =
                    !is_vital_sign(json) && (reported || (res.mode().is_primary() && lab_category));
                if eligible {
                    let item = lab_observation(cx, res, group)
                        .map(|o| o.map(|item| Ctx::withhold_grouped(res, &withheld, item)));
                    push_or_skip(cx, &mut out, item, "Observation");
                }
            }
            "DiagnosticReport" if res.mode().is_primary() && is_clinical_note(res.json()) => {
                cx.note();
            }
            "DiagnosticReport" if res.mode().is_primary() => {
                report_results(cx, res, &withheld, &mut out);
                if let Some(report) = lab_report(cx, res) {
                    reports.push(Ctx::withhold_grouped(res, &withheld, report));
                }
            }
            _ => {}
        }
    }
    LabItems {
        results: out,
        reports,
    }
}

/// Whether a DiagnosticReport is a clinical note (a discharge summary, a consult or progress
/// note: US Core's DiagnosticReport for report and note exchange) rather than a laboratory
/// report: no results, no conclusion, its content only an attached document
/// (`presentedForm`), and not in the laboratory category. Such a report as a lab result would
/// be an analysis with no value; a laboratory report that only attaches its PDF stays one.
fn is_clinical_note(json: &Value) -> bool {
    let categories = list(json, "category");
    let laboratory = has_code(categories, None, "LAB") || has_code(categories, None, "laboratory");
    !laboratory
        && list(json, "result").is_empty()
        && conclusion(json).is_none()
        && !list(json, "presentedForm").is_empty()
}

/// A primary DiagnosticReport as a [`LabReport`]; `None` for `entered-in-error`, and for a
/// report without a code (required by FHIR; its results are still shown).
fn lab_report<'a>(cx: &Ctx<'a>, report: Res<'a>) -> Option<Sourced<LabReport>> {
    let json = report.json();
    let status = result_status(report)?;
    let concept = json.get("code")?;
    let performers = list(json, "performer");
    let laboratory = cx
        .first_ref_organisation(report, performers)
        .or_else(|| {
            cx.first_ref_name(report, performers)
                .map(|name| Organisation {
                    name: Some(name),
                    hsa_id: None,
                })
        })
        .filter(|o| !o.is_empty());
    let item = LabReport {
        title: concept_name(concept)?,
        code: preferred_code(concept, &[NPU_SYSTEM, LOINC_SYSTEM]),
        time: result_time(json),
        status,
        laboratory: laboratory.clone(),
        ordering_unit: ordering_unit(cx, report),
        conclusion: conclusion(json),
        comments: Vec::new(),
        result_ids: Vec::new(),
    };
    Some(cx.sourced(report, item, identifiers(json), laboratory))
}

/// The unit that ordered a report: the requester's organisation of the ServiceRequest it is
/// `basedOn`, where that resolves in the answer (contained, or included).
fn ordering_unit<'a>(cx: &Ctx<'a>, report: Res<'a>) -> Option<Organisation> {
    list(report.json(), "basedOn")
        .iter()
        .filter_map(|b| cx.resolve(report, b))
        .filter(|r| r.resource_type() == "ServiceRequest")
        .find_map(|request| {
            let requester = request.json().get("requester")?;
            cx.first_ref_organisation(request, std::slice::from_ref(requester))
        })
}

/// A report's conclusion: its text, else its coded conclusions' texts joined with "; ".
fn conclusion(json: &Value) -> Option<String> {
    string(json, "conclusion").or_else(|| {
        let codes: Vec<String> = list(json, "conclusionCode")
            .iter()
            .filter_map(concept_text)
            .collect();
        (!codes.is_empty()).then(|| codes.join("; "))
    })
}

/// The notes of a resource (`note[].text`) joined with "; ".
fn notes(json: &Value) -> Option<String> {
    let texts: Vec<&str> = list(json, "note")
        .iter()
        .filter_map(|n| text(n, "text"))
        .filter(|t| !t.is_empty())
        .collect();
    (!texts.is_empty()).then(|| texts.join("; "))
}

/// How a result of `report` names it: the report's reference at this source.
fn report_ref(cx: &Ctx<'_>, report: Res<'_>) -> String {
    LabReport::source_ref(&cx.info.id, &report.record_id())
}

fn push_or_skip<T>(
    cx: &mut Ctx<'_>,
    out: &mut Vec<T>,
    item: Result<Option<T>, ()>,
    resource_type: &'static str,
) {
    match item {
        Ok(Some(item)) => out.push(item),
        Ok(None) => {}
        Err(()) => cx.skip(resource_type),
    }
}

fn lab_observation<'a>(
    cx: &Ctx<'a>,
    obs: Res<'a>,
    group: Option<Group<'a>>,
) -> Result<Option<Sourced<LabResult>>, ()> {
    let json = obs.json();
    let Some(status) = result_status(obs) else {
        return Ok(None);
    };
    if is_pure_panel(json) {
        return Ok(None);
    }
    let concept = json.get("code").ok_or(())?;
    let report = match group {
        Some(Group::Report(r) | Group::Panel(r)) => r.get("code").and_then(concept_name),
        None => None,
    };
    let report_res = match group {
        Some(Group::Report(r)) => Some(r),
        _ => None,
    };
    let performers = list(json, "performer");
    let report_performers = report_res.map_or(&[][..], |r| list(r.json(), "performer"));
    let value = json.get("valueQuantity").and_then(quantity);
    let value_text = value_text(json)
        .or_else(|| absent_reason(json))
        .or_else(|| components_text(json).filter(|_| value.is_none()));
    let interpretations = list(json, "interpretation");
    let item = LabResult {
        analysis: concept_name(concept).ok_or(())?,
        code: preferred_code(concept, &[NPU_SYSTEM, LOINC_SYSTEM]),
        value,
        value_text,
        reference_range: first(json, "referenceRange").and_then(reference_range),
        abnormal: abnormal_flag(interpretations),
        interpretation: concepts_text(interpretations),
        time: result_time(json).or_else(|| report_res.and_then(|r| result_time(r.json()))),
        status,
        report,
        laboratory: cx
            .first_ref_name(obs, performers)
            .or_else(|| report_res.and_then(|r| cx.first_ref_name(r, report_performers))),
        report_id: report_res
            .filter(|r| r.mode().is_primary())
            .map(|r| report_ref(cx, r)),
        comment: notes(json),
    };
    let unit = cx
        .first_ref_organisation(obs, performers)
        .or_else(|| report_res.and_then(|r| cx.first_ref_organisation(r, report_performers)));
    Ok(Some(cx.sourced(obs, item, identifiers(json), unit)))
}

/// A report's own items: results contained in it, and one item for the report itself when
/// none of its results resolve or when it has a conclusion (so the conclusion is not lost).
/// Contained results share the report's approval, also when a group withholds the report.
fn report_results<'a>(
    cx: &mut Ctx<'a>,
    report: Res<'a>,
    withheld: &HashSet<usize>,
    out: &mut Vec<Sourced<LabResult>>,
) {
    let json = report.json();
    let Some(status) = result_status(report) else {
        return;
    };
    let mut resolved_any = false;
    for result in list(json, "result") {
        let Some(obs) = cx.resolve(report, result) else {
            continue;
        };
        if obs.resource_type() != "Observation" {
            continue;
        }
        resolved_any = true;
        // Top-level observations are mapped in their own turn; contained ones only here.
        if obs.index().is_none() && !is_vital_sign(obs.json()) {
            let item = lab_observation(cx, obs, Some(Group::Report(report)))
                .map(|o| o.map(|item| Ctx::withhold_grouped(report, withheld, item)));
            push_or_skip(cx, out, item, "Observation");
        }
    }
    let conclusion = conclusion(json);
    if resolved_any && conclusion.is_none() {
        return;
    }
    let Some(concept) = json.get("code") else {
        cx.skip("DiagnosticReport");
        return;
    };
    let Some(analysis) = concept_name(concept) else {
        cx.skip("DiagnosticReport");
        return;
    };
    let performers = list(json, "performer");
    let item = LabResult {
        analysis,
        code: preferred_code(concept, &[NPU_SYSTEM, LOINC_SYSTEM]),
        value: None,
        value_text: conclusion,
        reference_range: None,
        abnormal: None,
        interpretation: None,
        time: result_time(json),
        status,
        report: None,
        laboratory: cx.first_ref_name(report, performers),
        report_id: Some(report_ref(cx, report)),
        comment: None,
    };
    let unit = cx.first_ref_organisation(report, performers);
    let item = cx.sourced(report, item, identifiers(json), unit);
    out.push(Ctx::withhold_grouped(report, withheld, item));
}

/// The components of a multi-part lab result as text, e.g. "Systolic: 120 mm[Hg]; ...".
fn components_text(json: &Value) -> Option<String> {
    let parts: Vec<String> = list(json, "component")
        .iter()
        .filter_map(|c| {
            let name = c.get("code").and_then(concept_name)?;
            let value = c
                .get("valueQuantity")
                .and_then(quantity)
                .map(|q| format_quantity(&q))
                .or_else(|| value_text(c))?;
            Some(format!("{name}: {value}"))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn reference_range(range: &Value) -> Option<ReferenceRange> {
    let r = ReferenceRange {
        low: range.get("low").and_then(quantity),
        high: range.get("high").and_then(quantity),
        text: string(range, "text"),
    };
    (r.low.is_some() || r.high.is_some() || r.text.is_some()).then_some(r)
}

/// The abnormal flag of the first recognised interpretation code (HL7 v3
/// ObservationInterpretation / v2 table 0078, or a code without system; [`hl7`]).
fn abnormal_flag(interpretations: &[Value]) -> Option<AbnormalFlag> {
    interpretations
        .iter()
        .flat_map(codings)
        .find_map(|c| hl7::abnormal_flag(text(c, "system"), text(c, "code")?))
}
