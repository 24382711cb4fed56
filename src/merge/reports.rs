//! Lab reports: their merge rules, and the link from merged lab results to the merged reports
//! they belong to.
//!
//! Reports merge like every other domain's items ([`merge`](super::merge)): a shared identifier
//! (a RIV-TA document reached through two routes, a lab's report number that two systems carry),
//! or the same report by its facts:
//!
//! | same report by facts when | |
//! |---|---|
//! | time | the same to the second (present on both) |
//! | laboratory | the same HSA-id when both have one, else the same name (present on both) |
//! | what | the same code (system + code), else the same title when both are uncoded |
//!
//! Reports whose laboratories have different HSA-ids, or whose codes differ in one system, are
//! never merged, whatever they share. Ids are `rep_...`, hashed over `lab_reports`; the order is
//! time newest first (absent last), then id.
//!
//! [`merge_lab`] merges both lists of the domain and then links them: each merged result's
//! `report_id` becomes the id of the merged report holding the report its record named (none when
//! that report is not in the list, e.g. hidden from the viewer), and each merged report lists the
//! ids of those results, in the results' order.

use std::cmp::Reverse;
use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::Mergeable;
use super::rules::{
    Concept, codes_contradict, fill, newest_first, normalised, same_second, sealed, unit_hsa_id,
    unit_name,
};
use crate::domain::{Domain, LabReport, LabResult, Merged, Sourced};

impl sealed::Sealed for LabReport {}

impl Mergeable for LabReport {
    const DOMAIN: Domain = Domain::LabResults;
    const ID_PREFIX: &'static str = "rep";
    const ID_DOMAIN: &'static str = "lab_reports";
    // Time alone, as for lab results: the list is paged by cursor.
    type OrderKey = Reverse<Option<DateTime<Utc>>>;

    fn same_facts(&self, other: &Self) -> bool {
        same_second(self.time.as_ref(), other.time.as_ref())
            && same_laboratory(self, other)
            && Concept::of(self.code.as_ref(), &self.title)
                .same(&Concept::of(other.code.as_ref(), &other.title))
    }

    fn match_keys(&self) -> Vec<String> {
        match self.time {
            Some(time) => vec![time.timestamp().to_string()],
            None => Vec::new(),
        }
    }

    /// Different laboratories by HSA-id, or different codes in one code system.
    fn contradicts(&self, other: &Self) -> bool {
        let labs = match (
            unit_hsa_id(self.laboratory.as_ref()),
            unit_hsa_id(other.laboratory.as_ref()),
        ) {
            (Some(a), Some(b)) => a != b,
            _ => false,
        };
        labs || codes_contradict(self.code.as_ref(), other.code.as_ref())
    }

    fn fill_missing(&mut self, other: &Self) {
        fill(&mut self.code, &other.code);
        fill(&mut self.time, &other.time);
        fill(&mut self.laboratory, &other.laboratory);
        fill(&mut self.ordering_unit, &other.ordering_unit);
        fill(&mut self.conclusion, &other.conclusion);
        if self.comments.is_empty() {
            self.comments.clone_from(&other.comments);
        }
        if self.result_ids.is_empty() {
            self.result_ids.clone_from(&other.result_ids);
        }
    }

    fn order_key(&self) -> Self::OrderKey {
        newest_first(self.time)
    }
}

/// The same laboratory: by HSA-id when both have one, else by name (both present).
fn same_laboratory(a: &LabReport, b: &LabReport) -> bool {
    let (a, b) = (a.laboratory.as_ref(), b.laboratory.as_ref());
    match (unit_hsa_id(a), unit_hsa_id(b)) {
        (Some(x), Some(y)) => x == y,
        _ => match (normalised(unit_name(a)), normalised(unit_name(b))) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
    }
}

/// The lab results domain merged: the flat list of results and the reports, linked.
#[derive(Clone, Debug, PartialEq)]
pub struct LabLists {
    pub results: Vec<Merged<LabResult>>,
    pub reports: Vec<Merged<LabReport>>,
}

/// Merges the results and the reports every source reported, then links them (see the module
/// documentation).
pub fn merge_lab<'a>(
    results: impl IntoIterator<Item = &'a Sourced<LabResult>>,
    reports: impl IntoIterator<Item = &'a Sourced<LabReport>>,
) -> LabLists {
    let mut results = super::merge(results);
    let mut reports = super::merge(reports);
    link(&mut results, &mut reports);
    LabLists { results, reports }
}

/// Points every merged result at its merged report and lists each report's results.
fn link(results: &mut [Merged<LabResult>], reports: &mut [Merged<LabReport>]) {
    let mut report_of: HashMap<String, usize> = HashMap::new();
    for (i, report) in reports.iter_mut().enumerate() {
        report.item.result_ids.clear();
        for p in &report.provenance {
            report_of.insert(LabReport::source_ref(&p.source_id, &p.record_id), i);
        }
    }
    for result in results.iter_mut() {
        let found = result
            .item
            .report_id
            .as_ref()
            .and_then(|r| report_of.get(r))
            .copied();
        result.item.report_id = found.map(|i| reports[i].id.clone());
        if let Some(i) = found {
            reports[i].item.result_ids.push(result.id.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::{Code, HsaId, Identifier, Organisation, Provenance, ResultStatus};

    fn at(hour: u32) -> Option<DateTime<Utc>> {
        Some(Utc.with_ymd_and_hms(2026, 11, 17, hour, 10, 0).unwrap())
    }

    fn lab(hsa: &str, name: &str) -> Option<Organisation> {
        Some(Organisation {
            name: Some(name.into()),
            hsa_id: Some(HsaId::parse(hsa).unwrap()),
        })
    }

    fn provenance(source: &str, record: &str) -> Provenance {
        Provenance {
            source_id: source.into(),
            source_name: source.into(),
            system: None,
            care_unit: None,
            care_provider: None,
            record_id: record.into(),
            fetched_at: Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap(),
        }
    }

    fn report(source: &str, record: &str, title: &str, hour: u32) -> Sourced<LabReport> {
        Sourced {
            item: LabReport {
                title: title.into(),
                code: None,
                time: at(hour),
                status: ResultStatus::Final,
                laboratory: lab("SE2321000024-AKS200", "Klinisk kemi"),
                ordering_unit: None,
                conclusion: None,
                comments: Vec::new(),
                result_ids: Vec::new(),
            },
            identifiers: Vec::new(),
            provenance: provenance(source, record),
            approved_for_patient: true,
        }
    }

    fn result(source: &str, record: &str, report: &str, hour: u32) -> Sourced<LabResult> {
        Sourced {
            item: LabResult {
                analysis: "B-Hemoglobin".into(),
                code: Some(Code {
                    system: Some("urn:oid:1.2.208.176.2.1".into()),
                    code: Some("NPU28309".into()),
                    display: None,
                }),
                value: None,
                value_text: Some(record.to_string()),
                reference_range: None,
                abnormal: None,
                interpretation: None,
                time: at(hour),
                status: ResultStatus::Final,
                report: None,
                laboratory: None,
                report_id: Some(LabReport::source_ref(source, report)),
                comment: None,
            },
            identifiers: Vec::new(),
            provenance: provenance(source, record),
            approved_for_patient: true,
        }
    }

    #[test]
    fn the_same_report_from_two_sources_is_one_report_holding_both_sources_results() {
        let mut fhir = report("fhir", "DiagnosticReport/1", "Blodstatus", 8);
        fhir.item.conclusion = Some("Lätt blodbrist.".into());
        let mut platform = report("npo", "LAB/9", "blodstatus ", 8);
        platform.item.ordering_unit = lab("SE2321000024-GOT001", "Gottsunda vårdcentral");
        let results = [
            result("fhir", "Observation/hb", "DiagnosticReport/1", 8),
            result("npo", "LAB/9#1", "LAB/9", 9),
        ];
        let lists = merge_lab(&results, &[fhir, platform]);
        assert_eq!(lists.reports.len(), 1);
        let merged = &lists.reports[0];
        assert!(merged.id.starts_with("rep_"));
        assert_eq!(merged.provenance.len(), 2);
        // Each source's fields fill the other's gaps.
        assert_eq!(merged.item.conclusion.as_deref(), Some("Lätt blodbrist."));
        assert!(merged.item.ordering_unit.is_some());
        assert_eq!(lists.results.len(), 2);
        for r in &lists.results {
            assert_eq!(r.item.report_id.as_deref(), Some(merged.id.as_str()));
        }
        // In the results' order: newest first.
        let ids: Vec<&str> = lists.results.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(merged.item.result_ids, ids);
    }

    #[test]
    fn reports_at_other_times_or_from_other_laboratories_stay_apart() {
        let morning = report("fhir", "DiagnosticReport/1", "Blodstatus", 8);
        let later = report("npo", "LAB/9", "Blodstatus", 11);
        let mut elsewhere = report("npo", "LAB/10", "Blodstatus", 8);
        elsewhere.item.laboratory = lab("SE2321000016-KEM1", "Klinisk kemi");
        let lists = merge_lab(&[], &[morning, later, elsewhere]);
        assert_eq!(lists.reports.len(), 3);
    }

    #[test]
    fn a_shared_identifier_merges_but_not_across_laboratories() {
        let shared = Identifier {
            system: Some("urn:oid:1.2.3".into()),
            value: "KEM-1".into(),
        };
        let mut a = report("fhir", "DiagnosticReport/1", "Klinisk kemi", 8);
        let mut b = report("npo", "LAB/9", "Laboratoriesvar", 9);
        a.identifiers.push(shared.clone());
        b.identifiers.push(shared.clone());
        assert_eq!(merge_lab(&[], &[a.clone(), b.clone()]).reports.len(), 1);
        b.item.laboratory = lab("SE2321000016-KEM1", "Klinisk kemi");
        assert_eq!(merge_lab(&[], &[a, b]).reports.len(), 2);
    }

    #[test]
    fn a_result_whose_report_is_not_shown_names_no_report() {
        let results = [result(
            "fhir",
            "Observation/hb",
            "DiagnosticReport/hidden",
            8,
        )];
        let lists = merge_lab(&results, &[]);
        assert_eq!(lists.results[0].item.report_id, None);
    }

    #[test]
    fn report_ids_differ_from_result_ids_for_the_same_record_key() {
        let lists = merge_lab(
            &[result("s", "X", "X", 8)],
            &[report("s", "X", "Blodstatus", 8)],
        );
        assert_ne!(lists.reports[0].id[4..], lists.results[0].id[4..]);
    }
}
