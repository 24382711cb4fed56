//! `GetCarePlans` v2 (clinicalprocess:logistics:logistics 3.0) → care plans: one [`CarePlan`]
//! per `carePlan` (`carePlanHeader`, a `PatientSummaryHeaderType`, + `carePlanBody`).
//!
//! | CarePlan | from |
//! |---|---|
//! | kind | `carePlanBody/typeOfCarePlanEnum`: `SIP` → Sip; `VP` (vårdplan), `SVP` (standardiserad vårdplan) → CarePlan; `RP` (rehabiliteringsplan) → RehabilitationPlan; `SPU`, `SPLPTLRV` (coordinated plans at discharge / under LPT and LRV, not SIPs), `HP` (habiliteringsplan), `GP` (genomförandeplan) and any value outside the schema → Other; no type → CarePlan |
//! | category | the type's name as the schema documents it (e.g. "Samordnad individuell plan"); an unknown type as sent |
//! | title | `documentTitle`, else the category, else "Vårdplan" |
//! | status | see below |
//! | start / end | a period in the body, where a producer sends one (see below); else start = `documentTime` date, end none |
//! | description | none: `carePlanBody/content` is the plan document itself (often CDA or PDF), which Överblick does not mine |
//! | next_review | none (not in the contract) |
//! | owner | the accountable professional's name |
//! | care_unit | the accountable care unit (record) |
//!
//! Status: the 2.0 schema gives a care plan no period or status (`datePeriod` exists in the
//! request only). A body that carries a `datePeriod` or `timePeriod` anyway (the schema lets
//! producers add elements of their own) is read: Completed when it ended before today (the date
//! in Sweden when the answer arrived), else Active (it covers today, has no end, or starts later:
//! a plan that is written down is agreed, not a draft). Without a period the status is Unknown
//! rather than guessed.
//!
//! Shared rules (see `map`): nullified plans are left out, `approvedForPatient` is honoured,
//! another patient's plan and a plan without its key are skipped and counted.

use chrono::NaiveDate;
use roxmltree::Node;

use super::{Ctx, local_today, xml};
use crate::domain::{CarePlan, CarePlanKind, PlanStatus, Sourced};

pub fn map(payload: Node<'_, '_>, cx: &mut Ctx<'_>) -> Vec<Sourced<CarePlan>> {
    xml::children(payload, "carePlan")
        .filter_map(|plan| care_plan(plan, cx))
        .collect()
}

fn care_plan(plan: Node<'_, '_>, cx: &mut Ctx<'_>) -> Option<Sourced<CarePlan>> {
    let (header, record) = cx.summary_record(plan, "carePlanHeader", "carePlan")?;
    let body = xml::child(plan, "carePlanBody");
    let type_code = body.and_then(|b| xml::text(b, "typeOfCarePlanEnum"));
    let (kind, category) = match type_code {
        Some(code) => {
            let (kind, name) = kind_of(code);
            (kind, Some(name.unwrap_or(code).to_owned()))
        }
        None => (CarePlanKind::CarePlan, None),
    };
    let period =
        body.and_then(|b| xml::child(b, "datePeriod").or_else(|| xml::child(b, "timePeriod")));
    let (start, end) = match period {
        Some(p) => (xml::date_of(p, "start"), xml::date_of(p, "end")),
        None => (xml::date_of(header, "documentTime"), None),
    };
    let status = match period {
        Some(_) => status(end, local_today(cx)),
        None => PlanStatus::Unknown,
    };
    let item = CarePlan {
        title: record
            .title
            .clone()
            .or_else(|| category.clone())
            .unwrap_or_else(|| "Vårdplan".to_owned()),
        kind,
        category,
        status,
        description: None,
        start,
        end,
        next_review: None,
        owner: record.author.as_ref().and_then(|a| a.name.clone()),
        care_unit: record.care_unit.clone(),
    };
    Some(cx.sourced(&record, item))
}

/// The kind and the schema's name of a `TypeOfCarePlanEnum` value; an unknown value is Other,
/// without a name.
fn kind_of(code: &str) -> (CarePlanKind, Option<&'static str>) {
    match code {
        "SIP" => (CarePlanKind::Sip, Some("Samordnad individuell plan")),
        "SPLPTLRV" => (
            CarePlanKind::Other,
            Some("Samordnad plan enligt LPT och LRV"),
        ),
        "SPU" => (CarePlanKind::Other, Some("Samordnad plan vid utskrivning")),
        "VP" => (CarePlanKind::CarePlan, Some("Vårdplan")),
        "SVP" => (CarePlanKind::CarePlan, Some("Standardiserad vårdplan")),
        "HP" => (CarePlanKind::Other, Some("Habiliteringsplan")),
        "RP" => (
            CarePlanKind::RehabilitationPlan,
            Some("Rehabiliteringsplan"),
        ),
        "GP" => (CarePlanKind::Other, Some("Genomförandeplan")),
        _ => (CarePlanKind::Other, None),
    }
}

/// A plan with a period: Completed once its end has passed, else Active.
fn status(end: Option<NaiveDate>, today: NaiveDate) -> PlanStatus {
    match end {
        Some(end) if end < today => PlanStatus::Completed,
        _ => PlanStatus::Active,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::rivta::map::testing::{PROVIDER, hsa, run};

    fn plan(header_extra: &str, body: &str) -> String {
        format!(
            r#"<GetCarePlansResponse xmlns="urn:riv:clinicalprocess:logistics:logistics:GetCarePlansResponder:2">
              <carePlan>
                <carePlanHeader xmlns="urn:riv:clinicalprocess:logistics:logistics:3">
                  <documentId>SIP-77</documentId>
                  <sourceSystemHSAId>SE2321000016-SYS1</sourceSystemHSAId>
                  <documentTime>20251003101500</documentTime>
                  <patientId><id>191212121212</id><type>1.2.752.129.2.1.3.1</type></patientId>
                  <accountableHealthcareProfessional>
                    <authorTime>20251003101500</authorTime>
                    <healthcareProfessionalName>Cecilia Kurator</healthcareProfessionalName>
                    <healthcareProfessionalOrgUnit>
                      <orgUnitHSAId>SE2321000016-PSY1</orgUnitHSAId>
                      <orgUnitName>Psykiatrimottagningen</orgUnitName>
                    </healthcareProfessionalOrgUnit>
                    <healthcareProfessionalCareGiverHSAId>{PROVIDER}</healthcareProfessionalCareGiverHSAId>
                  </accountableHealthcareProfessional>
                  <approvedForPatient>true</approvedForPatient>
                  {header_extra}
                </carePlanHeader>
                <carePlanBody xmlns="urn:riv:clinicalprocess:logistics:logistics:3">
                  <content><mediaType>text/plain</mediaType><value>SGVq</value></content>
                  {body}
                </carePlanBody>
              </carePlan>
              <result><resultCode>OK</resultCode><logId>1</logId></result>
            </GetCarePlansResponse>"#
        )
    }

    #[test]
    fn a_sip_is_a_sip_titled_by_its_document_and_owned_by_its_author() {
        let (items, stats) = run(
            &plan("", "<typeOfCarePlanEnum>SIP</typeOfCarePlanEnum>").replace(
                "<documentTime>",
                "<documentTitle>SIP hemgång</documentTitle><documentTime>",
            ),
            map,
        );
        assert_eq!(stats.skipped_total(), 0);
        let plan = &items[0];
        assert_eq!(plan.item.kind, CarePlanKind::Sip);
        assert_eq!(plan.item.title, "SIP hemgång");
        assert_eq!(
            plan.item.category.as_deref(),
            Some("Samordnad individuell plan")
        );
        assert_eq!(plan.item.owner.as_deref(), Some("Cecilia Kurator"));
        let unit = plan.item.care_unit.as_ref().unwrap();
        assert_eq!(unit.hsa_id, Some(hsa("SE2321000016-PSY1")));
        assert_eq!(unit.name.as_deref(), Some("Psykiatrimottagningen"));
        // The contract gives no period: the document's date, and no guessed status.
        assert_eq!(plan.item.start, NaiveDate::from_ymd_opt(2025, 10, 3));
        assert_eq!(plan.item.status, PlanStatus::Unknown);
        assert_eq!(plan.provenance.record_id, "SE2321000016-SYS1/SIP-77");
        assert_eq!(plan.identifiers[0].value, "SIP-77");
        assert!(plan.approved_for_patient);
    }

    #[test]
    fn without_a_title_a_plan_is_named_by_its_type() {
        let (items, _) = run(
            &plan("", "<typeOfCarePlanEnum>RP</typeOfCarePlanEnum>"),
            map,
        );
        assert_eq!(items[0].item.kind, CarePlanKind::RehabilitationPlan);
        assert_eq!(items[0].item.title, "Rehabiliteringsplan");
        let (items, _) = run(&plan("", ""), map);
        assert_eq!(items[0].item.kind, CarePlanKind::CarePlan);
        assert_eq!(items[0].item.title, "Vårdplan");
    }

    #[test]
    fn an_unknown_plan_type_is_other_and_the_plan_is_still_shown() {
        let (items, stats) = run(
            &plan("", "<typeOfCarePlanEnum>XYZ</typeOfCarePlanEnum>"),
            map,
        );
        assert_eq!(stats.skipped_total(), 0);
        assert_eq!(items[0].item.kind, CarePlanKind::Other);
        assert_eq!(items[0].item.category.as_deref(), Some("XYZ"));
        assert_eq!(items[0].item.title, "XYZ");
    }

    #[test]
    fn a_period_a_producer_adds_gives_the_status() {
        // Fetched on 2026-11-22.
        let ended = r#"<x:datePeriod xmlns:x="urn:example:ext"><x:start>20250101</x:start><x:end>20261121</x:end></x:datePeriod>"#;
        let (items, _) = run(&plan("", ended), map);
        assert_eq!(items[0].item.status, PlanStatus::Completed);
        assert_eq!(items[0].item.start, NaiveDate::from_ymd_opt(2025, 1, 1));
        assert_eq!(items[0].item.end, NaiveDate::from_ymd_opt(2026, 11, 21));
        let today = ended.replace("20261121", "20261122");
        assert_eq!(
            run(&plan("", &today), map).0[0].item.status,
            PlanStatus::Active
        );
        let open =
            r#"<x:datePeriod xmlns:x="urn:example:ext"><x:start>20250101</x:start></x:datePeriod>"#;
        assert_eq!(
            run(&plan("", open), map).0[0].item.status,
            PlanStatus::Active
        );
    }

    #[test]
    fn a_plan_not_approved_for_the_patient_is_marked_so() {
        let (items, _) = run(
            &plan("", "").replace("<approvedForPatient>true", "<approvedForPatient>false"),
            map,
        );
        assert!(!items[0].approved_for_patient);
    }

    #[test]
    fn nullified_and_other_patients_plans_are_left_out() {
        let (items, stats) = run(&plan("<nullified>true</nullified>", ""), map);
        assert!(items.is_empty());
        assert_eq!(stats.nullified, 1);
        assert_eq!(stats.skipped_total(), 0);
        let (items, stats) = run(&plan("", "").replace("191212121212", "201212121212"), map);
        assert!(items.is_empty());
        assert_eq!(stats.skipped.get("otherPatient"), Some(&1));
    }

    #[test]
    fn a_plan_without_a_document_id_is_skipped_and_counted() {
        let (items, stats) = run(
            &plan("", "").replace("<documentId>SIP-77</documentId>", ""),
            map,
        );
        assert!(items.is_empty());
        assert_eq!(stats.skipped.get("carePlan"), Some(&1));
    }
}
