//! CarePlan → `CarePlan`; Goal and the agreed activities of CarePlans → `Agreement`.

use std::collections::HashMap;

use serde_json::Value;

use super::{Ctx, status};
use crate::domain::{
    Agreement, AgreementKind, AgreementStatus, CarePlan, CarePlanKind, Organisation, PlanStatus,
    Sourced,
};
use crate::sources::fhir::elements::{
    CARE_PLAN_KIND_SYSTEM, NEXT_REVIEW_EXTENSION, codes_in, concept_name, concepts_text, date_end,
    date_start, extension, first, identifiers, list, period_dates, string, text,
};
use crate::sources::fhir::resources::Res;

/// The title a plan is shown by: its title, else its category, else "Vårdplan".
fn plan_title(plan: Res<'_>) -> String {
    string(plan.json(), "title")
        .or_else(|| concepts_text(list(plan.json(), "category")))
        .unwrap_or_else(|| "Vårdplan".to_owned())
}

fn plan_kind(plan: Res<'_>) -> CarePlanKind {
    codes_in(list(plan.json(), "category"), CARE_PLAN_KIND_SYSTEM)
        .find_map(|code| match code {
            "sip" => Some(CarePlanKind::Sip),
            "care-plan" => Some(CarePlanKind::CarePlan),
            "rehabilitation-plan" => Some(CarePlanKind::RehabilitationPlan),
            "other" => Some(CarePlanKind::Other),
            _ => None,
        })
        .unwrap_or(CarePlanKind::CarePlan)
}

/// The plan's owning unit: its author's organisation (a PractitionerRole's or an Organization).
fn plan_unit<'a>(cx: &Ctx<'a>, plan: Res<'a>) -> Option<Organisation> {
    first(plan.json(), "author").and_then(|a| cx.ref_organisation(plan, a))
}

pub(super) fn care_plans(cx: &mut Ctx<'_>) -> Vec<Sourced<CarePlan>> {
    let mut out = Vec::new();
    for plan in cx.set.primary("CarePlan") {
        let json = plan.json();
        let status = match status(plan) {
            Some("entered-in-error") => continue,
            Some("draft") => PlanStatus::Draft,
            Some("active") => PlanStatus::Active,
            Some("on-hold") => PlanStatus::OnHold,
            Some("completed") => PlanStatus::Completed,
            Some("revoked") => PlanStatus::Revoked,
            _ => PlanStatus::Unknown,
        };
        let (start, end) = period_dates(json.get("period"));
        let unit = plan_unit(cx, plan);
        let item = CarePlan {
            title: plan_title(plan),
            kind: plan_kind(plan),
            category: concepts_text(list(json, "category")),
            status,
            description: string(json, "description"),
            start,
            end,
            next_review: extension(json, NEXT_REVIEW_EXTENSION, "Date")
                .or_else(|| extension(json, NEXT_REVIEW_EXTENSION, "DateTime"))
                .and_then(date_start),
            owner: first(json, "author").and_then(|a| cx.ref_name(plan, a)),
            care_unit: unit.clone(),
        };
        out.push(cx.sourced(plan, item, identifiers(json), unit));
    }
    out
}

pub(super) fn agreements(cx: &mut Ctx<'_>) -> Vec<Sourced<Agreement>> {
    // Goals a plan names belong to that plan.
    let mut plan_of_goal: HashMap<usize, String> = HashMap::new();
    for plan in cx.set.primary("CarePlan") {
        for goal in list(plan.json(), "goal") {
            if let Some(i) = cx.resolve(plan, goal).and_then(|g| g.index()) {
                plan_of_goal.entry(i).or_insert_with(|| plan_title(plan));
            }
        }
    }
    let mut out = Vec::new();
    let resources: Vec<Res<'_>> = cx
        .set
        .resources()
        .filter(|r| r.mode().is_primary())
        .collect();
    for res in resources {
        match res.resource_type() {
            "Goal" => match goal(cx, res, &plan_of_goal, None) {
                Ok(Some(item)) => out.push(item),
                Ok(None) => {}
                Err(()) => cx.skip("Goal"),
            },
            "CarePlan" if status(res) == Some("entered-in-error") => {}
            "CarePlan" => {
                // Goals contained in the plan are only reachable through it.
                let contained: Vec<Res<'_>> = list(res.json(), "goal")
                    .iter()
                    .filter_map(|g| cx.resolve(res, g))
                    .filter(|g| g.index().is_none() && g.resource_type() == "Goal")
                    .collect();
                for g in contained {
                    match goal(cx, g, &plan_of_goal, Some(res)) {
                        Ok(Some(item)) => out.push(item),
                        Ok(None) => {}
                        Err(()) => cx.skip("Goal"),
                    }
                }
                activities(cx, res, &mut out);
            }
            _ => {}
        }
    }
    out
}

fn goal<'a>(
    cx: &Ctx<'a>,
    res: Res<'a>,
    plan_of_goal: &HashMap<usize, String>,
    container: Option<Res<'a>>,
) -> Result<Option<Sourced<Agreement>>, ()> {
    let json = res.json();
    let status = match text(json, "lifecycleStatus") {
        Some("entered-in-error") => return Ok(None),
        Some("proposed" | "planned" | "accepted") => AgreementStatus::Planned,
        Some("active") => AgreementStatus::Active,
        Some("on-hold") => AgreementStatus::OnHold,
        Some("completed") => AgreementStatus::Completed,
        Some("cancelled" | "rejected") => AgreementStatus::Cancelled,
        _ => AgreementStatus::Unknown,
    };
    let description = json.get("description").and_then(concept_name).ok_or(())?;
    let item = Agreement {
        kind: AgreementKind::Goal,
        description,
        status,
        responsible: json.get("expressedBy").and_then(|r| cx.ref_name(res, r)),
        start: json.get("startDate").and_then(date_start),
        due: first(json, "target")
            .and_then(|t| t.get("dueDate"))
            .and_then(date_end),
        care_plan: match container {
            Some(plan) => Some(plan_title(plan)),
            None => res.index().and_then(|i| plan_of_goal.get(&i).cloned()),
        },
    };
    let unit = json
        .get("expressedBy")
        .and_then(|r| cx.ref_organisation(res, r));
    Ok(Some(cx.sourced(res, item, identifiers(json), unit)))
}

/// The agreed activities of a plan: only plans that are agreed (intent plan/order/directive,
/// not proposal/option) and in force or done (active, on-hold, completed).
fn activities<'a>(cx: &mut Ctx<'a>, plan: Res<'a>, out: &mut Vec<Sourced<Agreement>>) {
    let json = plan.json();
    let agreed = matches!(text(json, "intent"), Some("plan" | "order" | "directive"))
        && matches!(status(plan), Some("active" | "on-hold" | "completed"));
    if !agreed {
        return;
    }
    let title = plan_title(plan);
    let unit = plan_unit(cx, plan);
    for (index, activity) in list(json, "activity").iter().enumerate() {
        let item = match activity.get("detail") {
            Some(detail) => detail_agreement(cx, plan, detail, &title),
            None => activity
                .get("reference")
                .and_then(|r| string(r, "display"))
                .map(|description| Agreement {
                    kind: AgreementKind::Activity,
                    description,
                    status: AgreementStatus::Unknown,
                    responsible: None,
                    start: None,
                    due: None,
                    care_plan: Some(title.clone()),
                }),
        };
        if let Some(item) = item {
            // The plan's identifier names the plan, not one activity: activities carry none.
            let part = string(activity, "id").unwrap_or_else(|| format!("activity-{index}"));
            out.push(cx.sourced_part(plan, &part, activity, item, unit.clone()));
        }
    }
}

fn detail_agreement<'a>(
    cx: &Ctx<'a>,
    plan: Res<'a>,
    detail: &Value,
    title: &str,
) -> Option<Agreement> {
    let status = match text(detail, "status") {
        Some("entered-in-error") => return None,
        Some("not-started" | "scheduled") => AgreementStatus::Planned,
        Some("in-progress") => AgreementStatus::Active,
        Some("on-hold") => AgreementStatus::OnHold,
        Some("completed") => AgreementStatus::Completed,
        Some("cancelled" | "stopped") => AgreementStatus::Cancelled,
        _ => AgreementStatus::Unknown,
    };
    let description =
        string(detail, "description").or_else(|| detail.get("code").and_then(concept_name))?;
    let performers = list(detail, "performer");
    let by_patient = performers
        .iter()
        .any(|p| cx.ref_type(plan, p) == Some("Patient"));
    let (start, due) = period_dates(detail.get("scheduledPeriod").or_else(|| {
        detail
            .get("scheduledTiming")
            .and_then(|t| t.get("repeat"))
            .and_then(|r| r.get("boundsPeriod"))
    }));
    Some(Agreement {
        kind: if by_patient {
            AgreementKind::SelfCare
        } else {
            AgreementKind::Activity
        },
        description,
        status,
        responsible: cx.first_ref_name(plan, performers),
        start,
        due,
        care_plan: Some(title.to_owned()),
    })
}
