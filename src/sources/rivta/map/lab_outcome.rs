//! `GetLaboratoryOrderOutcome` v4 (clinicalprocess:healthcond:actoutcome 4.0) and v3 (3.1) →
//! lab reports and results: one [`LabReport`] per `laboratoryOrderOutcome`, one [`LabResult`] per
//! analysis result of it, and one for its free text; every result names its report
//! (`report_id`).
//!
//! A report gives several items, so each is made a part of its document ([`as_part`]): its
//! record id and document identifier get `#<analysis id>` (the analysis' `IIType` as
//! `root:extension`, else its position in the report, from 1), plus `/<n>` when an analysis has
//! several results, or `#text` for the report's free text. The same result reached through two
//! routes so keeps one key, and two results of one report never merge.
//!
//! # v4
//!
//! The record is built from the JoL `header` (no `PatientSummaryHeaderType`): document id
//! `header/record/id` (`root:extension`), source system `header/sourceSystemId` (extension, else
//! root), approved `accessControlHeader/approvedForPatient` (missing → false), care giver
//! `accountableCareGiver` and care unit `accountableCareUnit` (extensions as HSA-ids). Missing
//! document id or source system → skipped `laboratoryOrderOutcome`. The header names no patient
//! to check (`originalPatientId` is the number a record was first filed under, e.g. a reserve
//! number, so it may rightly differ) and has no nullified flag.
//!
//! | LabResult | v4 |
//! |---|---|
//! | (one per) | `body/groupOfAnalyses/analysis/result`; an analysis without a result gives one item without a value (ordered, not yet answered); `body/text` gives one item of its own |
//! | analysis / code | `analysis/code` (display name, else code; none → skipped `analysis`); NPU keeps `urn:oid:1.2.208.176.2.1`, LOINC and SNOMED CT OIDs become their URIs (`xml::code_system`); with several results, the result's `type` is added in brackets |
//! | value | `result/value/pq` |
//! | value_text | `result/value/cv` (display, else code), `st`, `intervalPQ` ("low–high unit") |
//! | reference_range | `result/reference`: `interval` low / high (with its unit), `description` as text |
//! | abnormal | the first `result/interpretation` code among N → Normal, A/AA → Abnormal, L/LU/`<` → Low, H/HU/`>` → High, LL → CriticallyLow, HH → CriticallyHigh (HL7 ObservationInterpretation, `sources::hl7`, as for FHIR: a code of another `codeSystem` gives no flag) |
//! | interpretation | `result/interpretation` display names, joined with "; " |
//! | time | the first `specimen/timestamp` (when the sample was taken), else `analysis/timestamp`, else `header/record/timestamp` |
//! | status | `analysis/status` code or display name, else `body/type` code: PREL/preliminary → Preliminary, DEF/final/slutsvar → Final, TILL (tilläggssvar)/amended/corrected → Amended, registered → Registered, cancelled/makulerad/annullerad → Cancelled; else Unknown |
//! | report | `body/type` display name, else the group's `name` |
//! | laboratory | the report's laboratory by name (else its HSA-id), see below |
//! | comment | `analysis/comment` and `result/comment`, joined with "; " |
//!
//! | LabReport | v4 |
//! |---|---|
//! | record id / identifiers | the document's (without a part), and `body/identifier` |
//! | title | `body/type` display name (else code), else the first group's `name`, else "Laboratoriesvar" |
//! | code | none (`body/type` is the kind of answer, PREL/DEF/TILL, not what it is about) |
//! | time | the earliest of its analyses' times, else `header/record/timestamp` |
//! | status | `body/type` read as for results, else the status all its analyses share, else Unknown |
//! | laboratory | `header/author` when it has a name (the lab that wrote the answer: `id` extension as HSA-id, `name`), else the accountable care unit (HSA-id only) |
//! | ordering_unit | `body/referral/requester/orgUnit` (id extension as HSA-id, name) |
//! | conclusion | `body/text` (also a result of its own, as before) |
//! | comments | `groupOfAnalyses/comment` |
//!
//! # v3
//!
//! The record is the `laboratoryOrderOutcomeHeader` (`PatientSummaryHeaderType`, shared rules:
//! nullified left out, another patient's skipped, approval honoured).
//!
//! | LabResult | v3 |
//! |---|---|
//! | (one per) | `laboratoryOrderOutcomeBody/analysis`; `resultReport` (free text) gives one item of its own |
//! | analysis / code | `analysisCode` display name, else `analysisText`, else the code; none → skipped `analysis` |
//! | value | `analysisOutcome/outcomeValue` with `outcomeUnit`, when it is a number |
//! | value_text | `outcomeValue` (and unit) when it is not a number, e.g. "<5 mmol/L" |
//! | reference_range | `referenceInterval` as text; `a-b`, `<b` and `>a` also as low / high in the outcome's unit |
//! | abnormal | `pathologicalFlag`: true → Abnormal, false → Normal |
//! | interpretation | `outcomeDescription` |
//! | time | `analysisOutcome/observationTime`, else `analysisTime/start`, else `registrationTime`, else `documentTime` |
//! | status | `analysisStatus`, else the body's `resultType` (PREL / DEF / TILL), read as in v4 |
//! | report | `documentTitle`, else `discipline` |
//! | laboratory | the accountable care unit's name (the header's org unit): the lab is accountable for its answer |
//! | comment | `analysisComment` |
//!
//! | LabReport | v3 |
//! |---|---|
//! | record id / identifiers | the document's (without a part) |
//! | title | `documentTitle`, else `discipline`, else "Laboratoriesvar" |
//! | time | the earliest of its analyses' times, else `registrationTime`, else `documentTime` |
//! | status | `resultType`, else the status all its analyses share, else Unknown |
//! | laboratory | the accountable care unit (the header's org unit: name and HSA-id) |
//! | ordering_unit | none (v3's `order` names no unit) |
//! | conclusion / comments | `resultReport` (also a result of its own) / `resultComment` |
//!
//! The free-text result has the report's status. Left out (both): specimen material, method,
//! device, related analyses, the referral and the order (except as named above), and signatures.

use chrono::{DateTime, Utc};
use roxmltree::Node;

use super::{Ctx, Ii, Record, as_part, xml};
use crate::domain::{
    AbnormalFlag, Code, LabItems, LabReport, LabResult, Organisation, Quantity, ReferenceRange,
    ResultStatus, Sourced,
};
use crate::sources::hl7;

// ---------------------------------------------------------------------------------------------
// v4

pub fn map_v4(payload: Node<'_, '_>, cx: &mut Ctx<'_>) -> LabItems {
    let mut all = LabItems::default();
    for outcome in xml::children(payload, "laboratoryOrderOutcome") {
        let Some(header) = xml::child(outcome, "header") else {
            cx.skip("laboratoryOrderOutcome");
            continue;
        };
        let Some(record) = record_v4(header) else {
            cx.skip("laboratoryOrderOutcome");
            continue;
        };
        let mut out = Vec::new();
        let laboratory = laboratory_v4(header, &record);
        let lab_name = laboratory.as_ref().and_then(lab_text);
        let body = xml::child(outcome, "body");
        let body_type = body.and_then(|b| xml::code_of(b, "type"));
        let report_status = body_type
            .as_ref()
            .and_then(|t| status_of([t.code.as_deref()]));
        let mut index = 0;
        for group in body
            .into_iter()
            .flat_map(|b| xml::children(b, "groupOfAnalyses"))
        {
            let report = body_type
                .as_ref()
                .and_then(|t| t.display.clone())
                .or_else(|| xml::string(group, "name"));
            for analysis in xml::children(group, "analysis") {
                index += 1;
                let part = Ii::of_child(analysis, "identifier")
                    .map(|id| id.key())
                    .unwrap_or_else(|| index.to_string());
                let Some(code) = xml::code_of(analysis, "code") else {
                    cx.skip("analysis");
                    continue;
                };
                let Some(name) = code.display.clone().or(code.code.clone()) else {
                    cx.skip("analysis");
                    continue;
                };
                let status = xml::code_of(analysis, "status")
                    .and_then(|s| status_of([s.code.as_deref(), s.display.as_deref()]))
                    .or(report_status)
                    .unwrap_or(ResultStatus::Unknown);
                let time = xml::children(analysis, "specimen")
                    .find_map(|s| xml::timestamp_of(s, "timestamp"))
                    .or_else(|| xml::timestamp_of(analysis, "timestamp"))
                    .or(record.time);
                let base = LabResult {
                    analysis: name,
                    code: Some(code),
                    value: None,
                    value_text: None,
                    reference_range: None,
                    abnormal: None,
                    interpretation: None,
                    time,
                    status,
                    report: report.clone(),
                    laboratory: lab_name.clone(),
                    report_id: None,
                    comment: None,
                };
                let analysis_comment = xml::string(analysis, "comment");
                let results: Vec<Node<'_, '_>> = xml::children(analysis, "result").collect();
                if results.is_empty() {
                    let mut item = base;
                    item.comment = analysis_comment;
                    out.push(as_part(cx.sourced(&record, item), &part));
                    continue;
                }
                let several = results.len() > 1;
                for (n, result) in results.into_iter().enumerate() {
                    let mut item = result_v4(result, base.clone(), several);
                    item.comment = joined(
                        analysis_comment
                            .iter()
                            .cloned()
                            .chain(xml::string(result, "comment")),
                    );
                    let part = if several {
                        format!("{part}/{}", n + 1)
                    } else {
                        part.clone()
                    };
                    out.push(as_part(cx.sourced(&record, item), &part));
                }
            }
        }
        // Of the analyses' results: the conclusion's item has no time or status of its own.
        let (time, status) = (
            report_time(&out, record.time),
            report_status.unwrap_or_else(|| common_status(&out)),
        );
        let conclusion = body.and_then(|b| xml::string(b, "text"));
        if let Some(text) = conclusion.clone() {
            let mut item = text_result(
                body_type.as_ref().and_then(|t| t.display.clone()),
                text,
                record.time,
                status,
            );
            item.laboratory = lab_name.clone();
            out.push(as_part(cx.sourced(&record, item), "text"));
        }
        let groups = || {
            body.into_iter()
                .flat_map(|b| xml::children(b, "groupOfAnalyses"))
        };
        let item = LabReport {
            title: body_type
                .as_ref()
                .and_then(|t| t.display.clone().or(t.code.clone()))
                .or_else(|| groups().find_map(|g| xml::string(g, "name")))
                .unwrap_or_else(|| REPORT_TITLE.to_owned()),
            // `type` says what kind of answer it is (PREL, DEF, TILL), not what it is about.
            code: None,
            time,
            status,
            laboratory,
            ordering_unit: body
                .and_then(|b| xml::at(b, &["referral", "requester", "orgUnit"]))
                .and_then(org_unit_v4),
            conclusion,
            comments: groups().filter_map(|g| xml::string(g, "comment")).collect(),
            result_ids: Vec::new(),
        };
        let mut report = cx.sourced(&record, item);
        if let Some(id) = body.and_then(|b| Ii::of_child(b, "identifier")) {
            report.identifiers.push(id.identifier());
        }
        push_report(cx, report, out, &mut all);
    }
    all
}

/// The title of a report that names itself nowhere.
const REPORT_TITLE: &str = "Laboratoriesvar";

/// A report's time: its earliest result's (when the first sample was taken), else `fallback`.
fn report_time(
    results: &[Sourced<LabResult>],
    fallback: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    results
        .iter()
        .filter_map(|r| r.item.time)
        .min()
        .or(fallback)
}

/// The status all of a report's results share; Unknown when they differ or there are none.
fn common_status(results: &[Sourced<LabResult>]) -> ResultStatus {
    let mut statuses = results.iter().map(|r| r.item.status);
    match statuses.next() {
        Some(first) if statuses.all(|s| s == first) => first,
        _ => ResultStatus::Unknown,
    }
}

/// Adds a report and its results (each naming it) to `all`.
fn push_report(
    cx: &Ctx<'_>,
    report: Sourced<LabReport>,
    results: Vec<Sourced<LabResult>>,
    all: &mut LabItems,
) {
    let reference = LabReport::source_ref(&cx.info.id, &report.provenance.record_id);
    all.results.extend(results.into_iter().map(|mut r| {
        r.item.report_id = Some(reference.clone());
        r
    }));
    all.reports.push(report);
}

/// Texts joined with "; "; `None` when there are none.
fn joined(texts: impl Iterator<Item = String>) -> Option<String> {
    let texts: Vec<String> = texts.filter(|t| !t.trim().is_empty()).collect();
    (!texts.is_empty()).then(|| texts.join("; "))
}

/// The laboratory as a result names it: by name, else by HSA-id.
fn lab_text(lab: &Organisation) -> Option<String> {
    lab.name
        .clone()
        .or_else(|| lab.hsa_id.as_ref().map(|h| h.as_str().to_owned()))
}

/// A v4 `OrgUnitType`: its name, and its id's extension as an HSA-id.
fn org_unit_v4(unit: Node<'_, '_>) -> Option<Organisation> {
    let hsa = Ii::of_child(unit, "id")
        .and_then(|id| id.extension)
        .and_then(|e| xml::hsa_id(&e));
    let name = xml::text(unit, "name");
    xml::organisation(hsa, name)
}

/// The laboratory of a v4 answer: the header's `author` when it names one (the unit that wrote
/// the answer), else the accountable care unit (by HSA-id only).
fn laboratory_v4(header: Node<'_, '_>, record: &Record) -> Option<Organisation> {
    xml::child(header, "author")
        .and_then(|a| {
            let org = org_unit_v4(a)?;
            org.name.is_some().then_some(org)
        })
        .or_else(|| record.care_unit.clone())
}

/// The record of a v4 JoL header; `None` without a record id or source system.
fn record_v4(header: Node<'_, '_>) -> Option<Record> {
    let access = xml::child(header, "accessControlHeader");
    let hsa_of = |name: &str| {
        access
            .and_then(|a| Ii::of_child(a, name))
            .and_then(|id| id.extension)
            .and_then(|e| xml::hsa_id(&e))
    };
    let author = xml::child(header, "author");
    Some(Record {
        document_id: xml::at(header, &["record", "id"]).and_then(Ii::of)?.key(),
        source_system: Ii::of_child(header, "sourceSystemId")
            .and_then(|id| id.extension.or(id.root))?,
        approved_for_patient: access
            .and_then(|a| xml::bool_of(a, "approvedForPatient"))
            .unwrap_or(false),
        nullified: false,
        care_unit: xml::organisation(hsa_of("accountableCareUnit"), None),
        care_giver: hsa_of("accountableCareGiver"),
        time: xml::at(header, &["record", "timestamp"])
            .and_then(xml::own_text)
            .and_then(xml::timestamp),
        title: None,
        author: author.map(|a| super::Author {
            hsa_id: Ii::of_child(a, "id")
                .and_then(|id| id.extension)
                .and_then(|e| xml::hsa_id(&e)),
            name: xml::string(a, "name"),
            role: xml::code_of(a, "byRole").and_then(|c| c.display.or(c.code)),
            time: xml::timestamp_of(a, "timestamp"),
        }),
    })
}

/// One v4 `result` of an analysis (`base`).
fn result_v4(result: Node<'_, '_>, mut item: LabResult, several: bool) -> LabResult {
    if several && let Some(kind) = xml::code_of(result, "type").and_then(|t| t.display.or(t.code)) {
        item.analysis = format!("{} ({kind})", item.analysis);
    }
    if let Some(value) = xml::child(result, "value") {
        item.value = xml::child(value, "pq").and_then(xml::quantity);
        if item.value.is_none() {
            item.value_text = xml::child(value, "cv")
                .and_then(xml::code)
                .and_then(|c| c.display.or(c.code))
                .or_else(|| xml::string(value, "st"))
                .or_else(|| xml::child(value, "intervalPQ").and_then(interval_text));
        }
    }
    item.reference_range = xml::child(result, "reference").and_then(|r| {
        let interval = xml::child(r, "interval");
        let unit = interval.and_then(|i| xml::string(i, "unit"));
        let bound = |name: &str| {
            interval
                .and_then(|i| xml::text(i, name))
                .and_then(xml::number)
                .map(|value| quantity(value, unit.clone()))
        };
        let range = ReferenceRange {
            low: bound("low"),
            high: bound("high"),
            text: xml::string(r, "description"),
        };
        (range.low.is_some() || range.high.is_some() || range.text.is_some()).then_some(range)
    });
    let interpretations: Vec<Code> = xml::children(result, "interpretation")
        .filter_map(xml::code)
        .collect();
    item.abnormal = interpretations
        .iter()
        .find_map(|c| hl7::abnormal_flag(c.system.as_deref(), c.code.as_deref()?));
    let texts: Vec<&str> = interpretations
        .iter()
        .filter_map(|c| c.display.as_deref())
        .collect();
    item.interpretation = (!texts.is_empty()).then(|| texts.join("; "));
    item
}

/// A `PQIntervalType` as "low–high unit" (or "≥ low" / "≤ high").
fn interval_text(interval: Node<'_, '_>) -> Option<String> {
    let low = xml::text(interval, "low");
    let high = xml::text(interval, "high");
    let range = match (low, high) {
        (Some(l), Some(h)) => format!("{l}–{h}"),
        (Some(l), None) => format!("≥ {l}"),
        (None, Some(h)) => format!("≤ {h}"),
        (None, None) => return None,
    };
    Some(match xml::text(interval, "unit") {
        Some(unit) => format!("{range} {unit}"),
        None => range,
    })
}

// ---------------------------------------------------------------------------------------------
// v3

pub fn map_v3(payload: Node<'_, '_>, cx: &mut Ctx<'_>) -> LabItems {
    let mut all = LabItems::default();
    for outcome in xml::children(payload, "laboratoryOrderOutcome") {
        let Some((_, record)) = cx.summary_record(
            outcome,
            "laboratoryOrderOutcomeHeader",
            "laboratoryOrderOutcome",
        ) else {
            continue;
        };
        let body = xml::child(outcome, "laboratoryOrderOutcomeBody");
        let report_status = body
            .and_then(|b| xml::string(b, "resultType"))
            .and_then(|t| status_of([Some(t.as_str())]));
        let report = record
            .title
            .clone()
            .or_else(|| body.and_then(|b| xml::string(b, "discipline")));
        let registered = body.and_then(|b| xml::timestamp_of(b, "registrationTime"));
        let laboratory = record.care_unit.as_ref().and_then(|u| u.name.clone());
        let mut out = Vec::new();
        for (index, analysis) in body
            .into_iter()
            .flat_map(|b| xml::children(b, "analysis"))
            .enumerate()
        {
            let part = Ii::of_child(analysis, "analysisId")
                .map(|id| id.key())
                .unwrap_or_else(|| (index + 1).to_string());
            let code = xml::code_of(analysis, "analysisCode");
            let Some(name) = code
                .as_ref()
                .and_then(|c| c.display.clone())
                .or_else(|| xml::string(analysis, "analysisText"))
                .or_else(|| code.as_ref().and_then(|c| c.code.clone()))
            else {
                cx.skip("analysis");
                continue;
            };
            let outcome = xml::child(analysis, "analysisOutcome");
            let unit = outcome.and_then(|o| xml::string(o, "outcomeUnit"));
            let raw = outcome.and_then(|o| xml::text(o, "outcomeValue"));
            let value = raw.and_then(xml::number).map(|v| quantity(v, unit.clone()));
            let value_text = match (value.is_some(), raw) {
                (false, Some(raw)) => Some(match &unit {
                    Some(unit) => format!("{raw} {unit}"),
                    None => raw.to_owned(),
                }),
                _ => None,
            };
            let item = LabResult {
                analysis: name,
                code,
                value,
                value_text,
                reference_range: outcome
                    .and_then(|o| xml::string(o, "referenceInterval"))
                    .map(|text| reference_v3(text, unit.clone())),
                abnormal: outcome
                    .and_then(|o| xml::bool_of(o, "pathologicalFlag"))
                    .map(|flag| {
                        if flag {
                            AbnormalFlag::Abnormal
                        } else {
                            AbnormalFlag::Normal
                        }
                    }),
                interpretation: outcome.and_then(|o| xml::string(o, "outcomeDescription")),
                time: outcome
                    .and_then(|o| xml::timestamp_of(o, "observationTime"))
                    .or_else(|| {
                        xml::child(analysis, "analysisTime")
                            .and_then(|t| xml::timestamp_of(t, "start"))
                    })
                    .or(registered)
                    .or(record.time),
                status: xml::string(analysis, "analysisStatus")
                    .and_then(|s| status_of([Some(s.as_str())]))
                    .or(report_status)
                    .unwrap_or(ResultStatus::Unknown),
                report: report.clone(),
                laboratory: laboratory.clone(),
                report_id: None,
                comment: xml::string(analysis, "analysisComment"),
            };
            out.push(as_part(cx.sourced(&record, item), &part));
        }
        let (time, status) = (
            report_time(&out, registered.or(record.time)),
            report_status.unwrap_or_else(|| common_status(&out)),
        );
        let conclusion = body.and_then(|b| xml::string(b, "resultReport"));
        if let Some(text) = conclusion.clone() {
            let mut item = text_result(report.clone(), text, registered.or(record.time), status);
            item.laboratory = laboratory.clone();
            out.push(as_part(cx.sourced(&record, item), "text"));
        }
        let item = LabReport {
            title: report.unwrap_or_else(|| REPORT_TITLE.to_owned()),
            code: None,
            time,
            status,
            laboratory: record.care_unit.clone(),
            ordering_unit: None,
            conclusion,
            comments: body
                .and_then(|b| xml::string(b, "resultComment"))
                .into_iter()
                .collect(),
            result_ids: Vec::new(),
        };
        let report = cx.sourced(&record, item);
        push_report(cx, report, out, &mut all);
    }
    all
}

/// A v3 `referenceInterval`: the text, and its bounds where it is `a-b`, `<b` or `>a`.
fn reference_v3(text: String, unit: Option<String>) -> ReferenceRange {
    let t = text.trim();
    let bound = |s: &str| xml::number(s.trim()).map(|v| quantity(v, unit.clone()));
    let (low, high) = if let Some(rest) = t.strip_prefix(['<', '≤']) {
        (None, bound(rest.trim_start_matches('=')))
    } else if let Some(rest) = t.strip_prefix(['>', '≥']) {
        (bound(rest.trim_start_matches('=')), None)
    } else {
        match t.split_once(['-', '–']) {
            Some((a, b)) if !a.trim().is_empty() => (bound(a), bound(b)),
            _ => (None, None),
        }
    };
    ReferenceRange {
        low,
        high,
        text: Some(text),
    }
}

// ---------------------------------------------------------------------------------------------
// Both

/// The item for a report's free text (a conclusion, or a report that is text only, e.g.
/// microbiology), with the report's status.
fn text_result(
    report: Option<String>,
    text: String,
    time: Option<DateTime<Utc>>,
    status: ResultStatus,
) -> LabResult {
    LabResult {
        analysis: report.clone().unwrap_or_else(|| REPORT_TITLE.to_owned()),
        code: None,
        value: None,
        value_text: Some(text),
        reference_range: None,
        abnormal: None,
        interpretation: None,
        time,
        status,
        report,
        laboratory: None,
        report_id: None,
        comment: None,
    }
}

fn quantity(value: f64, unit: Option<String>) -> Quantity {
    Quantity {
        value,
        unit_code: unit.clone(),
        unit,
    }
}

/// A result status from any of `words` (codes or names, any case): the contracts give it as a
/// free string or CV, with the answer types of `TypeOfResultCodeEnum` (PREL, DEF, TILL) and FHIR
/// and Swedish words in use.
fn status_of<'a>(words: impl IntoIterator<Item = Option<&'a str>>) -> Option<ResultStatus> {
    words
        .into_iter()
        .flatten()
        .find_map(|w| match w.trim().to_lowercase().as_str() {
            "prel" | "preliminary" | "preliminär" | "preliminärt" | "preliminärsvar" => {
                Some(ResultStatus::Preliminary)
            }
            "def" | "final" | "definitiv" | "definitivt" | "definitivsvar" | "slutsvar"
            | "slutligt" => Some(ResultStatus::Final),
            "till" | "tilläggssvar" | "amended" | "corrected" | "appended" => {
                Some(ResultStatus::Amended)
            }
            "registered" | "registrerad" => Some(ResultStatus::Registered),
            "cancelled" | "makulerad" | "annullerad" => Some(ResultStatus::Cancelled),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::rivta::map::DOCUMENT_ID_SYSTEM;
    use crate::sources::rivta::map::testing::{hsa, run};

    const NPU: &str = "urn:oid:1.2.208.176.2.1";

    fn results_v4(payload: Node<'_, '_>, cx: &mut Ctx<'_>) -> Vec<Sourced<LabResult>> {
        map_v4(payload, cx).results
    }

    fn results_v3(payload: Node<'_, '_>, cx: &mut Ctx<'_>) -> Vec<Sourced<LabResult>> {
        map_v3(payload, cx).results
    }

    fn reports_v4(payload: Node<'_, '_>, cx: &mut Ctx<'_>) -> Vec<Sourced<LabReport>> {
        map_v4(payload, cx).reports
    }

    fn reports_v3(payload: Node<'_, '_>, cx: &mut Ctx<'_>) -> Vec<Sourced<LabReport>> {
        map_v3(payload, cx).reports
    }

    fn v4(approved: &str, groups: &str) -> String {
        format!(
            r#"<GetLaboratoryOrderOutcomeResponse xmlns="urn:riv:clinicalprocess:healthcond:actoutcome:GetLaboratoryOrderOutcomeResponder:4" xmlns:a="urn:riv:clinicalprocess:healthcond:actoutcome:4">
              <laboratoryOrderOutcome>
                <a:header>
                  <a:accessControlHeader>
                    <a:accountableCareGiver><a:root>1.2.752.129.2.1.4.1</a:root><a:extension>SE2321000016-A291</a:extension></a:accountableCareGiver>
                    <a:accountableCareUnit><a:root>1.2.752.129.2.1.4.1</a:root><a:extension>SE2321000016-KEM1</a:extension></a:accountableCareUnit>
                    <a:blockComparisonTime>20251020080000</a:blockComparisonTime>
                    <a:approvedForPatient>{approved}</a:approvedForPatient>
                  </a:accessControlHeader>
                  <a:sourceSystemId><a:root>1.2.752.129.2.1.4.1</a:root><a:extension>SE2321000016-LAB1</a:extension></a:sourceSystemId>
                  <a:record><a:id><a:root>1.2.752.129.2.1.2.1</a:root><a:extension>LAB-9</a:extension></a:id><a:timestamp>20251020100000</a:timestamp></a:record>
                </a:header>
                <a:body>
                  <a:identifier><a:root>1.2.3</a:root><a:extension>R-9</a:extension></a:identifier>
                  <a:type><a:code>DEF</a:code><a:displayName>Klinisk kemi, slutsvar</a:displayName></a:type>
                  <a:referral><a:identifier><a:root>1.2.3</a:root><a:extension>REM-1</a:extension></a:identifier><a:timestamp>20251019150000</a:timestamp><a:requester><a:name>Dr Dahl</a:name></a:requester></a:referral>
                  {groups}
                  <a:recipientUnit><a:name>Vårdcentralen Kärnan</a:name></a:recipientUnit>
                </a:body>
              </laboratoryOrderOutcome>
            </GetLaboratoryOrderOutcomeResponse>"#
        )
    }

    const GLUCOSE: &str = r#"<a:groupOfAnalyses><a:name>Diabetesprover</a:name>
        <a:analysis>
          <a:identifier><a:root>1.2.3.4</a:root><a:extension>A1</a:extension></a:identifier>
          <a:timestamp>20251020093000</a:timestamp>
          <a:code><a:code>NPU02192</a:code><a:codeSystem>1.2.208.176.2.1</a:codeSystem><a:displayName>P-Glukos</a:displayName></a:code>
          <a:specimen><a:timestamp>20251020074500</a:timestamp></a:specimen>
          <a:result>
            <a:value><a:pq><a:value>7.9</a:value><a:unit>mmol/L</a:unit></a:pq></a:value>
            <a:interpretation><a:code>H</a:code><a:displayName>Högt</a:displayName></a:interpretation>
            <a:reference><a:interval><a:low>4.0</a:low><a:high>6.0</a:high><a:unit>mmol/L</a:unit></a:interval></a:reference>
          </a:result>
        </a:analysis>
        <a:analysis>
          <a:code><a:code>NPU03429</a:code><a:codeSystem>1.2.208.176.2.1</a:codeSystem><a:displayName>U-Glukos</a:displayName></a:code>
          <a:status><a:code>PREL</a:code></a:status>
          <a:result><a:value><a:st>Negativ</a:st></a:value></a:result>
        </a:analysis>
      </a:groupOfAnalyses>"#;

    #[test]
    fn an_interpretation_is_read_in_hl7s_code_system_and_not_in_another() {
        let with_system = |system: &str| {
            GLUCOSE.replace(
                "<a:interpretation><a:code>H</a:code>",
                &format!(
                    "<a:interpretation><a:code>H</a:code><a:codeSystem>{system}</a:codeSystem>"
                ),
            )
        };
        let (hl7, _) = run(
            &v4("true", &with_system("2.16.840.1.113883.5.83")),
            results_v4,
        );
        assert_eq!(hl7[0].item.abnormal, Some(AbnormalFlag::High));
        let (local, _) = run(&v4("true", &with_system("1.2.752.999.1")), results_v4);
        assert_eq!(local[0].item.abnormal, None);
        // The words are kept either way: the flag is not guessed, the text is not lost.
        assert_eq!(local[0].item.interpretation.as_deref(), Some("Högt"));
    }

    #[test]
    fn each_v4_result_is_one_lab_result_with_its_own_record_id() {
        let (items, stats) = run(&v4("true", GLUCOSE), results_v4);
        assert_eq!(stats.skipped_total(), 0);
        assert_eq!(items.len(), 2);
        let glucose = &items[0];
        assert_eq!(glucose.item.analysis, "P-Glukos");
        let code = glucose.item.code.as_ref().unwrap();
        assert_eq!(code.system.as_deref(), Some(NPU));
        assert_eq!(code.code.as_deref(), Some("NPU02192"));
        let value = glucose.item.value.as_ref().unwrap();
        assert_eq!((value.value, value.unit.as_deref()), (7.9, Some("mmol/L")));
        assert_eq!(glucose.item.abnormal, Some(AbnormalFlag::High));
        assert_eq!(glucose.item.interpretation.as_deref(), Some("Högt"));
        let range = glucose.item.reference_range.as_ref().unwrap();
        assert_eq!(range.low.as_ref().unwrap().value, 4.0);
        assert_eq!(range.high.as_ref().unwrap().value, 6.0);
        // When the sample was taken, 07:45 Swedish summer time.
        assert_eq!(
            glucose.item.time.unwrap().to_rfc3339(),
            "2025-10-20T05:45:00+00:00"
        );
        assert_eq!(glucose.item.status, ResultStatus::Final);
        assert_eq!(
            glucose.item.report.as_deref(),
            Some("Klinisk kemi, slutsvar")
        );
        assert_eq!(
            glucose.provenance.record_id,
            "SE2321000016-LAB1/1.2.752.129.2.1.2.1:LAB-9#1.2.3.4:A1"
        );
        assert_eq!(
            glucose.identifiers[0].system.as_deref(),
            Some(&*format!("{DOCUMENT_ID_SYSTEM}SE2321000016-LAB1"))
        );
        assert_eq!(
            glucose.identifiers[0].value,
            "1.2.752.129.2.1.2.1:LAB-9#1.2.3.4:A1"
        );
        let unit = glucose.provenance.care_unit.as_ref().unwrap();
        assert_eq!(unit.hsa_id, Some(hsa("SE2321000016-KEM1")));

        // The second analysis has no id: its position; its own status; a text value.
        let urine = &items[1];
        assert_eq!(
            urine.provenance.record_id,
            "SE2321000016-LAB1/1.2.752.129.2.1.2.1:LAB-9#2"
        );
        assert_eq!(urine.item.status, ResultStatus::Preliminary);
        assert_eq!(urine.item.value, None);
        assert_eq!(urine.item.value_text.as_deref(), Some("Negativ"));
        // No specimen or analysis time: the record's.
        assert_eq!(
            urine.item.time.unwrap().to_rfc3339(),
            "2025-10-20T08:00:00+00:00"
        );
    }

    #[test]
    fn a_v4_answer_is_one_report_whose_results_name_it() {
        let (reports, stats) = run(&v4("true", GLUCOSE), reports_v4);
        assert_eq!(stats.skipped_total(), 0);
        assert_eq!(reports.len(), 1);
        let report = &reports[0];
        assert_eq!(report.item.title, "Klinisk kemi, slutsvar");
        assert_eq!(report.item.status, ResultStatus::Final);
        // No author naming the lab: the accountable unit, by HSA-id.
        let lab = report.item.laboratory.as_ref().unwrap();
        assert_eq!(lab.hsa_id, Some(hsa("SE2321000016-KEM1")));
        // The earliest sample.
        assert_eq!(
            report.item.time.unwrap().to_rfc3339(),
            "2025-10-20T05:45:00+00:00"
        );
        assert_eq!(
            report.provenance.record_id,
            "SE2321000016-LAB1/1.2.752.129.2.1.2.1:LAB-9"
        );
        assert!(
            report
                .identifiers
                .iter()
                .any(|i| i.system.as_deref() == Some("urn:oid:1.2.3") && i.value == "R-9")
        );
        let (results, _) = run(&v4("true", GLUCOSE), results_v4);
        let reference =
            LabReport::source_ref(&report.provenance.source_id, &report.provenance.record_id);
        assert!(
            results
                .iter()
                .all(|r| r.item.report_id.as_deref() == Some(reference.as_str()))
        );
        // The lab's name where known, else its HSA-id.
        assert_eq!(
            results[0].item.laboratory.as_deref(),
            Some("SE2321000016-KEM1")
        );
    }

    #[test]
    fn a_v4_report_names_its_author_lab_ordering_unit_conclusion_and_comments() {
        let payload = v4("true", &GLUCOSE.replacen(
            "<a:name>Diabetesprover</a:name>",
            "<a:name>Diabetesprover</a:name><a:comment>Hemolys i provet.</a:comment>",
            1,
        ).replacen(
            "<a:interpretation>",
            "<a:comment>Fastande.</a:comment><a:interpretation>",
            1,
        ))
        .replace(
            "</a:record>",
            "</a:record><a:author><a:id><a:root>1.2.752.129.2.1.4.1</a:root><a:extension>SE2321000016-KEM2</a:extension></a:id><a:name>Klinisk kemi, Akademiska</a:name><a:timestamp>20251020100000</a:timestamp></a:author>",
        )
        .replace(
            "<a:requester><a:name>Dr Dahl</a:name></a:requester>",
            "<a:requester><a:name>Dr Dahl</a:name><a:orgUnit><a:id><a:root>1.2.752.129.2.1.4.1</a:root><a:extension>SE2321000016-VC1</a:extension></a:id><a:name>Vårdcentralen Kärnan</a:name></a:orgUnit></a:requester>",
        )
        .replace(
            "<a:recipientUnit>",
            "<a:text>Förhöjt glukos.</a:text><a:recipientUnit>",
        );
        let (reports, _) = run(&payload, reports_v4);
        let report = &reports[0].item;
        let lab = report.laboratory.as_ref().unwrap();
        assert_eq!(lab.name.as_deref(), Some("Klinisk kemi, Akademiska"));
        assert_eq!(lab.hsa_id, Some(hsa("SE2321000016-KEM2")));
        let ordering = report.ordering_unit.as_ref().unwrap();
        assert_eq!(ordering.name.as_deref(), Some("Vårdcentralen Kärnan"));
        assert_eq!(report.conclusion.as_deref(), Some("Förhöjt glukos."));
        assert_eq!(report.comments, ["Hemolys i provet."]);
        let (results, _) = run(&payload, results_v4);
        assert_eq!(
            results[0].item.laboratory.as_deref(),
            Some("Klinisk kemi, Akademiska")
        );
        assert_eq!(results[0].item.comment.as_deref(), Some("Fastande."));
        assert_eq!(results[0].item.abnormal, Some(AbnormalFlag::High));
        assert_eq!(results[0].item.interpretation.as_deref(), Some("Högt"));
    }

    #[test]
    fn a_v3_answer_is_one_report_from_the_accountable_laboratory() {
        let body = format!(
            "<c:resultReport>Lätt anemi.</c:resultReport><c:resultComment>Provet hemolyserat.</c:resultComment>{}",
            HB.replacen(
                "<c:analysisOutcome>",
                "<c:analysisComment>Kontrolleras om en vecka.</c:analysisComment><c:analysisOutcome>",
                1
            )
        );
        let (reports, _) = run(&v3("", &body), reports_v3);
        assert_eq!(reports.len(), 1);
        let report = &reports[0].item;
        assert_eq!(report.title, "Klinisk kemi");
        let lab = report.laboratory.as_ref().unwrap();
        assert_eq!(lab.name.as_deref(), Some("Klinisk kemi Akademiska"));
        assert_eq!(report.conclusion.as_deref(), Some("Lätt anemi."));
        assert_eq!(report.comments, ["Provet hemolyserat."]);
        let (results, _) = run(&v3("", &body), results_v3);
        assert_eq!(
            results[0].item.comment.as_deref(),
            Some("Kontrolleras om en vecka.")
        );
        assert!(results.iter().all(|r| r.item.report_id.is_some()));
    }

    #[test]
    fn a_v4_report_not_approved_for_the_patient_marks_every_result() {
        let (items, _) = run(&v4("false", GLUCOSE), results_v4);
        assert!(items.iter().all(|i| !i.approved_for_patient));
    }

    #[test]
    fn an_analysis_with_several_results_gives_one_item_per_result() {
        // A second result for the first analysis only.
        let two = GLUCOSE.replacen(
            "</a:result>",
            "</a:result><a:result><a:type><a:displayName>Kommentar</a:displayName></a:type><a:value><a:st>Fastande</a:st></a:value></a:result>",
            1,
        );
        let (items, _) = run(&v4("true", &two), results_v4);
        assert_eq!(items.len(), 3);
        assert!(items[0].provenance.record_id.ends_with("#1.2.3.4:A1/1"));
        assert!(items[1].provenance.record_id.ends_with("#1.2.3.4:A1/2"));
        assert_eq!(items[1].item.analysis, "P-Glukos (Kommentar)");
    }

    #[test]
    fn an_analysis_without_a_result_is_shown_as_ordered() {
        let pending = r#"<a:groupOfAnalyses><a:analysis><a:code><a:code>NPU01685</a:code><a:codeSystem>1.2.208.176.2.1</a:codeSystem><a:displayName>B-HbA1c</a:displayName></a:code><a:status><a:code>registered</a:code></a:status></a:analysis></a:groupOfAnalyses>"#;
        let (items, _) = run(&v4("true", pending), results_v4);
        assert_eq!(items[0].item.analysis, "B-HbA1c");
        assert_eq!(items[0].item.value, None);
        assert_eq!(items[0].item.status, ResultStatus::Registered);
    }

    #[test]
    fn an_unknown_v4_status_is_unknown_and_the_result_still_shown() {
        let odd = v4("true", GLUCOSE)
            .replace("<a:code>DEF</a:code>", "<a:code>XX</a:code>")
            .replace("<a:code>PREL</a:code>", "<a:code>YY</a:code>");
        let (items, stats) = run(&odd, results_v4);
        assert_eq!(stats.skipped_total(), 0);
        assert!(items.iter().all(|i| i.item.status == ResultStatus::Unknown));
    }

    #[test]
    fn a_v4_report_without_record_id_is_skipped_and_counted() {
        let (items, stats) = run(
            &v4("true", GLUCOSE).replace("<a:record><a:id><a:root>1.2.752.129.2.1.2.1</a:root><a:extension>LAB-9</a:extension></a:id>", "<a:record>"),
            results_v4,
        );
        assert!(items.is_empty());
        assert_eq!(stats.skipped.get("laboratoryOrderOutcome"), Some(&1));
    }

    fn v3(header_extra: &str, body: &str) -> String {
        format!(
            r#"<GetLaboratoryOrderOutcomeResponse xmlns="urn:riv:clinicalprocess:healthcond:actoutcome:GetLaboratoryOrderOutcomeResponder:3" xmlns:c="urn:riv:clinicalprocess:healthcond:actoutcome:3">
              <laboratoryOrderOutcome>
                <c:laboratoryOrderOutcomeHeader>
                  <c:documentId>L3-1</c:documentId>
                  <c:sourceSystemHSAId>SE2321000016-LAB1</c:sourceSystemHSAId>
                  <c:documentTime>20250110120000</c:documentTime>
                  <c:patientId><c:id>191212121212</c:id><c:type>1.2.752.129.2.1.3.1</c:type></c:patientId>
                  <c:accountableHealthcareProfessional>
                    <c:authorTime>20250110120000</c:authorTime>
                    <c:healthcareProfessionalOrgUnit><c:orgUnitHSAId>SE2321000016-KEM1</c:orgUnitHSAId><c:orgUnitName>Klinisk kemi Akademiska</c:orgUnitName></c:healthcareProfessionalOrgUnit>
                  </c:accountableHealthcareProfessional>
                  <c:approvedForPatient>true</c:approvedForPatient>
                  {header_extra}
                </c:laboratoryOrderOutcomeHeader>
                <c:laboratoryOrderOutcomeBody>
                  <c:resultType>DEF</c:resultType>
                  <c:registrationTime>20250110113000</c:registrationTime>
                  <c:discipline>Klinisk kemi</c:discipline>
                  {body}
                  <c:order><c:orderId>O-1</c:orderId></c:order>
                </c:laboratoryOrderOutcomeBody>
              </laboratoryOrderOutcome>
              <result><c:resultCode>OK</c:resultCode><c:logId>1</c:logId></result>
            </GetLaboratoryOrderOutcomeResponse>"#
        )
    }

    const HB: &str = r#"<c:analysis>
        <c:analysisId><c:root>1.2.3</c:root><c:extension>AN-1</c:extension></c:analysisId>
        <c:analysisCode><c:code>NPU28309</c:code><c:codeSystem>1.2.208.176.2.1</c:codeSystem><c:displayName>B-Hemoglobin</c:displayName></c:analysisCode>
        <c:analysisOutcome>
          <c:outcomeValue>112</c:outcomeValue><c:outcomeUnit>g/L</c:outcomeUnit>
          <c:observationTime>20250110081500</c:observationTime>
          <c:pathologicalFlag>true</c:pathologicalFlag>
          <c:referenceInterval>117-153</c:referenceInterval>
        </c:analysisOutcome>
      </c:analysis>
      <c:analysis>
        <c:analysisId><c:root>1.2.3</c:root><c:extension>AN-2</c:extension></c:analysisId>
        <c:analysisText>P-CRP</c:analysisText>
        <c:analysisOutcome><c:outcomeValue>&lt;5</c:outcomeValue><c:outcomeUnit>mg/L</c:outcomeUnit><c:pathologicalFlag>false</c:pathologicalFlag><c:referenceInterval>&lt;10</c:referenceInterval></c:analysisOutcome>
      </c:analysis>"#;

    #[test]
    fn each_v3_analysis_is_one_lab_result_from_the_accountable_laboratory() {
        let (items, stats) = run(&v3("", HB), results_v3);
        assert_eq!(stats.skipped_total(), 0);
        let hb = &items[0];
        assert_eq!(hb.item.analysis, "B-Hemoglobin");
        assert_eq!(hb.item.code.as_ref().unwrap().system.as_deref(), Some(NPU));
        assert_eq!(hb.item.value.as_ref().unwrap().value, 112.0);
        assert_eq!(hb.item.abnormal, Some(AbnormalFlag::Abnormal));
        let range = hb.item.reference_range.as_ref().unwrap();
        assert_eq!(range.text.as_deref(), Some("117-153"));
        assert_eq!(range.low.as_ref().unwrap().value, 117.0);
        assert_eq!(range.high.as_ref().unwrap().unit.as_deref(), Some("g/L"));
        assert_eq!(hb.item.status, ResultStatus::Final);
        assert_eq!(hb.item.report.as_deref(), Some("Klinisk kemi"));
        assert_eq!(
            hb.item.laboratory.as_deref(),
            Some("Klinisk kemi Akademiska")
        );
        assert_eq!(
            hb.item.time.unwrap().to_rfc3339(),
            "2025-01-10T07:15:00+00:00"
        );
        assert_eq!(hb.provenance.record_id, "SE2321000016-LAB1/L3-1#1.2.3:AN-1");

        let crp = &items[1];
        assert_eq!(crp.item.analysis, "P-CRP");
        assert_eq!(crp.item.value, None);
        assert_eq!(crp.item.value_text.as_deref(), Some("<5 mg/L"));
        assert_eq!(crp.item.abnormal, Some(AbnormalFlag::Normal));
        let range = crp.item.reference_range.as_ref().unwrap();
        assert_eq!(range.high.as_ref().unwrap().value, 10.0);
        assert_eq!(range.low, None);
        // No observation time: the body's registration time.
        assert_eq!(
            crp.item.time.unwrap().to_rfc3339(),
            "2025-01-10T10:30:00+00:00"
        );
    }

    #[test]
    fn a_v3_text_report_is_shown_as_its_own_result() {
        let (items, _) = run(
            &v3(
                "",
                "<c:resultReport>Växt av E. coli, känslig för nitrofurantoin.</c:resultReport>",
            ),
            results_v3,
        );
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].item.analysis, "Klinisk kemi");
        assert_eq!(
            items[0].item.value_text.as_deref(),
            Some("Växt av E. coli, känslig för nitrofurantoin.")
        );
        assert!(items[0].provenance.record_id.ends_with("#text"));
    }

    #[test]
    fn v3_follows_the_shared_header_rules() {
        let (items, stats) = run(&v3("<c:nullified>true</c:nullified>", HB), results_v3);
        assert!(items.is_empty());
        assert_eq!(stats.nullified, 1);
        let (items, _) = run(
            &v3("", HB).replace("<c:approvedForPatient>true", "<c:approvedForPatient>false"),
            results_v3,
        );
        assert!(items.iter().all(|i| !i.approved_for_patient));
        let (items, stats) = run(
            &v3("", HB).replace("191212121212", "201212121212"),
            results_v3,
        );
        assert!(items.is_empty());
        assert_eq!(stats.skipped.get("otherPatient"), Some(&1));
        let (items, stats) = run(
            &v3("", HB).replace("<c:documentId>L3-1</c:documentId>", ""),
            results_v3,
        );
        assert!(items.is_empty());
        assert_eq!(stats.skipped.get("laboratoryOrderOutcome"), Some(&1));
    }

    #[test]
    fn an_unknown_v3_result_type_is_unknown() {
        let (items, _) = run(&v3("", HB).replace(">DEF<", ">KLAR?<"), results_v3);
        assert_eq!(items[0].item.status, ResultStatus::Unknown);
        let (items, _) = run(&v3("", HB).replace(">DEF<", ">TILL<"), results_v3);
        assert_eq!(items[0].item.status, ResultStatus::Amended);
    }
}
