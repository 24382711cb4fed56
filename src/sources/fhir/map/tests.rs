use chrono::NaiveDate;
use serde_json::json;

use super::*;
use crate::domain::{
    AbnormalFlag, Agreement, AgreementKind, AgreementStatus, Booking, BookingStatus, CarePlan,
    CarePlanKind, Contact, ContactRole, HsaId, LabResult, MeasuredBy, Measurement, Medication,
    MedicationRecordKind, MedicationStatus, PatientRecord, PlanStatus, ResultStatus,
};

const HSA: &str = "urn:oid:1.2.752.129.2.1.4.1";

fn info() -> SourceInfo {
    SourceInfo {
        id: "test-source".into(),
        name: "Testsjukhuset".into(),
        system: Some("TestJournal".into()),
        care_provider: Organisation {
            name: Some("Region Test".into()),
            hsa_id: Some(HsaId::parse("SE2321000016-A291").unwrap()),
        },
        default_care_unit: Some(Organisation {
            name: Some("Standardenheten".into()),
            hsa_id: None,
        }),
    }
}

fn fetched_at() -> DateTime<Utc> {
    "2026-11-22T12:00:00Z".parse().unwrap()
}

fn date(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d)
}

/// A searchset: `matches` with search.mode match, `includes` with include.
fn searchset(matches: Vec<Value>, includes: Vec<Value>) -> ResourceSet {
    let entry = |mode: &str, r: Value| {
        let url = format!(
            "https://fhir.example.se/r4/{}/{}",
            r["resourceType"].as_str().unwrap(),
            r["id"].as_str().unwrap_or("x")
        );
        json!({"fullUrl": url, "resource": r, "search": {"mode": mode}})
    };
    let entries: Vec<Value> = matches
        .into_iter()
        .map(|r| entry("match", r))
        .chain(includes.into_iter().map(|r| entry("include", r)))
        .collect();
    ResourceSet::from_json(json!({"resourceType": "Bundle", "type": "searchset", "entry": entries}))
        .unwrap()
}

/// A collection bundle of `resources` (no search modes).
fn collection(resources: Vec<Value>) -> ResourceSet {
    let entries: Vec<Value> = resources
        .into_iter()
        .map(|r| json!({"resource": r}))
        .collect();
    ResourceSet::from_json(
        json!({"resourceType": "Bundle", "type": "collection", "entry": entries}),
    )
    .unwrap()
}

fn map(domain: Domain, set: &ResourceSet) -> (DomainItems, MapStats) {
    map_domain_with_stats(domain, set, &info(), fetched_at())
}

fn patients(set: &ResourceSet) -> Vec<Sourced<PatientRecord>> {
    match map(Domain::Patient, set).0 {
        DomainItems::Patient(v) => v,
        other => panic!("{other:?}"),
    }
}

fn contacts(set: &ResourceSet) -> Vec<Sourced<Contact>> {
    match map(Domain::Contacts, set).0 {
        DomainItems::Contacts(v) => v,
        other => panic!("{other:?}"),
    }
}

fn care_plans(set: &ResourceSet) -> Vec<Sourced<CarePlan>> {
    match map(Domain::CarePlans, set).0 {
        DomainItems::CarePlans(v) => v,
        other => panic!("{other:?}"),
    }
}

fn agreements(set: &ResourceSet) -> Vec<Sourced<Agreement>> {
    match map(Domain::Agreements, set).0 {
        DomainItems::Agreements(v) => v,
        other => panic!("{other:?}"),
    }
}

fn medications(set: &ResourceSet) -> Vec<Sourced<Medication>> {
    match map(Domain::Medications, set).0 {
        DomainItems::Medications(v) => v,
        other => panic!("{other:?}"),
    }
}

fn measurements(set: &ResourceSet) -> Vec<Sourced<Measurement>> {
    match map(Domain::Measurements, set).0 {
        DomainItems::Measurements(v) => v,
        other => panic!("{other:?}"),
    }
}

fn lab_results(set: &ResourceSet) -> Vec<Sourced<LabResult>> {
    match map(Domain::LabResults, set).0 {
        DomainItems::LabResults(v) => v.results,
        other => panic!("{other:?}"),
    }
}

fn lab_reports(set: &ResourceSet) -> Vec<Sourced<crate::domain::LabReport>> {
    match map(Domain::LabResults, set).0 {
        DomainItems::LabResults(v) => v.reports,
        other => panic!("{other:?}"),
    }
}

fn bookings(set: &ResourceSet) -> Vec<Sourced<Booking>> {
    match map(Domain::Bookings, set).0 {
        DomainItems::Bookings(v) => v,
        other => panic!("{other:?}"),
    }
}

fn unit_name(o: &Option<Organisation>) -> Option<&str> {
    o.as_ref().and_then(|o| o.name.as_deref())
}

fn org(id: &str, name: &str, hsa: &str) -> Value {
    json!({"resourceType": "Organization", "id": id, "name": name,
           "identifier": [{"system": HSA, "value": hsa}]})
}

// ---------------------------------------------------------------------------------------------
// Patient and provenance

#[test]
fn a_patient_name_is_its_text_else_given_and_family() {
    let set = collection(vec![
        json!({"resourceType": "Patient", "id": "p1", "name": [{"text": "Tolvan Tolvansson"}],
               "identifier": [{"system": "urn:oid:1.2.752.129.2.1.3.1", "value": "191212121212"}]}),
        json!({"resourceType": "Patient", "id": "p2", "name": [{"given": ["Anna", "Maria"], "family": "Svensson"}]}),
        json!({"resourceType": "Patient", "id": "p3"}),
    ]);
    let items = patients(&set);
    let names: Vec<_> = items.iter().map(|p| p.item.name.as_deref()).collect();
    assert_eq!(
        names,
        [Some("Tolvan Tolvansson"), Some("Anna Maria Svensson"), None]
    );
    assert_eq!(items[0].identifiers[0].value, "191212121212");
    assert!(items[1].identifiers.is_empty());
}

#[test]
fn provenance_comes_from_the_source_info_and_the_record() {
    let set = collection(vec![json!({"resourceType": "Patient", "id": "p1"})]);
    let p = &patients(&set)[0].provenance;
    assert_eq!(p.source_id, "test-source");
    assert_eq!(p.source_name, "Testsjukhuset");
    assert_eq!(p.system.as_deref(), Some("TestJournal"));
    assert_eq!(p.care_provider, Some(info().care_provider));
    assert_eq!(p.care_unit, info().default_care_unit);
    assert_eq!(p.record_id, "Patient/p1");
    assert_eq!(p.fetched_at, fetched_at());
}

#[test]
fn a_resource_without_id_is_named_by_its_full_url() {
    let set = ResourceSet::from_json(json!({"resourceType": "Bundle", "type": "transaction",
        "entry": [{"fullUrl": "urn:uuid:5a0f", "resource": {"resourceType": "Patient"}}]}))
    .unwrap();
    assert_eq!(patients(&set)[0].provenance.record_id, "urn:uuid:5a0f");
}

// ---------------------------------------------------------------------------------------------
// Contacts

fn care_team(participants: Value) -> Value {
    json!({"resourceType": "CareTeam", "id": "ct1", "status": "active",
           "identifier": [{"system": "https://demo.overblick.se/identifier/vardteam", "value": "T1"}],
           "period": {"start": "2024-01-01"},
           "managingOrganization": [{"reference": "Organization/vc"}],
           "participant": participants})
}

#[test]
fn a_practitioner_role_member_gives_name_profession_unit_telecom_and_hsa_id() {
    let team = care_team(json!([
        {"role": [{"coding": [{"system": "https://overblick.se/fhir/CodeSystem/contact-role",
                                "code": "named-doctor", "display": "Fast läkarkontakt"}]}],
         "member": {"reference": "PractitionerRole/pr1"},
         "period": {"start": "2025-02-03T10:00:00+01:00", "end": "2026"}},
        {"member": {"reference": "Patient/p1", "display": "Tolvan"}},
        {"member": {"reference": "RelatedPerson/r1", "display": "Anhörig"}}
    ]));
    let role = json!({"resourceType": "PractitionerRole", "id": "pr1",
        "practitioner": {"reference": "Practitioner/doc"},
        "organization": {"reference": "Organization/hc"},
        "code": [{"coding": [{"display": "Läkare"}]}],
        "telecom": [{"system": "phone", "value": "018-611 00 00"}]});
    let doctor = json!({"resourceType": "Practitioner", "id": "doc",
        "identifier": [{"system": HSA, "value": "SE2321000016-D001"}],
        "name": [{"given": ["Doris"], "family": "Doktor"}],
        "telecom": [{"system": "phone", "value": "000"}, {"system": "email", "value": "doris@example.se"}]});
    let set = searchset(
        vec![team],
        vec![
            role,
            doctor,
            org("hc", "Vårdcentralen Kungsgärdet", "SE2321000016-HC01"),
            org("vc", "Förvaltningen", "SE2321000016-VC01"),
        ],
    );
    let items = contacts(&set);
    assert_eq!(items.len(), 1, "patient and relatives are no contacts");
    let c = &items[0].item;
    assert_eq!(c.role, ContactRole::NamedDoctor);
    assert_eq!(c.role_text.as_deref(), Some("Fast läkarkontakt"));
    assert_eq!(c.name.as_deref(), Some("Doris Doktor"));
    assert_eq!(c.profession.as_deref(), Some("Läkare"));
    assert_eq!(
        c.hsa_id.as_ref().map(HsaId::as_str),
        Some("SE2321000016-D001")
    );
    assert_eq!(unit_name(&c.care_unit), Some("Vårdcentralen Kungsgärdet"));
    assert_eq!(
        c.care_unit
            .as_ref()
            .unwrap()
            .hsa_id
            .as_ref()
            .unwrap()
            .as_str(),
        "SE2321000016-HC01"
    );
    assert_eq!(
        c.phone.as_deref(),
        Some("018-611 00 00"),
        "the role's phone first"
    );
    assert_eq!(
        c.email.as_deref(),
        Some("doris@example.se"),
        "then the person's"
    );
    assert_eq!((c.start, c.end), (date(2025, 2, 3), date(2026, 12, 31)));
    assert_eq!(
        items[0].provenance.record_id,
        "CareTeam/ct1#PractitionerRole/pr1"
    );
    assert_eq!(
        unit_name(&items[0].provenance.care_unit),
        Some("Vårdcentralen Kungsgärdet")
    );
    assert!(
        items[0].identifiers.is_empty(),
        "the team's identifier is not the member's"
    );
}

#[test]
fn a_practitioner_member_works_for_the_managing_organization_unless_on_behalf_of_another() {
    let team = care_team(json!([
        {"role": [{"text": "Fast vårdkontakt", "coding": [{"system": "https://overblick.se/fhir/CodeSystem/contact-role", "code": "named-care-contact"}]}],
         "member": {"reference": "Practitioner/n1"}},
        {"role": [{"coding": [{"system": "https://overblick.se/fhir/CodeSystem/contact-role", "code": "municipal-care-contact"}]}],
         "member": {"reference": "Practitioner/n2"},
         "onBehalfOf": {"reference": "Organization/kommun", "display": "Hemtjänsten Luthagen",
                        "identifier": {"system": HSA, "value": "SE2120000001-HT1"}}}
    ]));
    let set = collection(vec![
        team,
        json!({"resourceType": "Practitioner", "id": "n1", "name": [{"text": "Nils Nurse"}]}),
        json!({"resourceType": "Practitioner", "id": "n2", "name": [{"text": "Omar Omsorg"}]}),
        org("vc", "Vårdcentralen", "SE2321000016-VC01"),
    ]);
    let items = contacts(&set);
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].item.role, ContactRole::NamedCareContact);
    assert_eq!(items[0].item.role_text.as_deref(), Some("Fast vårdkontakt"));
    assert_eq!(unit_name(&items[0].item.care_unit), Some("Vårdcentralen"));
    assert_eq!(
        (items[0].item.start, items[0].item.end),
        (date(2024, 1, 1), None),
        "the team's period"
    );
    assert_eq!(items[1].item.role, ContactRole::MunicipalCareContact);
    let unit = items[1].item.care_unit.as_ref().unwrap();
    assert_eq!(unit.name.as_deref(), Some("Hemtjänsten Luthagen"));
    assert_eq!(unit.hsa_id.as_ref().unwrap().as_str(), "SE2120000001-HT1");
}

#[test]
fn an_unresolved_member_is_named_by_its_display_and_an_organization_member_is_a_unit() {
    let team = care_team(json!([
        {"role": [{"text": "Dietist"}], "member": {"reference": "Practitioner/gone", "display": "Dora Dietist"}},
        {"member": {"reference": "Organization/vc"}},
        {"member": {"reference": "urn:uuid:nowhere"}}
    ]));
    let set = collection(vec![team, org("vc", "Vårdcentralen", "not an hsa id")]);
    let items = contacts(&set);
    assert_eq!(items.len(), 2, "a member with nothing to show is left out");
    assert_eq!(items[0].item.name.as_deref(), Some("Dora Dietist"));
    assert_eq!(items[0].item.role, ContactRole::CareTeamMember);
    assert_eq!(items[0].item.role_text.as_deref(), Some("Dietist"));
    assert_eq!(items[1].item.name, None);
    let unit = items[1].item.care_unit.as_ref().unwrap();
    assert_eq!(unit.name.as_deref(), Some("Vårdcentralen"));
    assert_eq!(unit.hsa_id, None, "invalid HSA-ids are ignored");
}

#[test]
fn every_member_of_a_care_team_is_a_record_of_its_own() {
    // The merge treats one source's items with the same record id as one record, so members of
    // one team must not share the team's id.
    let team = care_team(json!([
        {"member": {"reference": "Practitioner/a", "display": "Anna"}},
        {"member": {"reference": "Practitioner/b", "display": "Bertil"}},
        {"member": {"display": "Cecilia"}}
    ]));
    let set = searchset(vec![team], vec![]);
    let items = contacts(&set);
    let ids: Vec<&str> = items
        .iter()
        .map(|c| c.provenance.record_id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "CareTeam/ct1#Practitioner/a",
            "CareTeam/ct1#Practitioner/b",
            "CareTeam/ct1#participant-2"
        ]
    );
    let merged = crate::merge::merge(&items);
    assert_eq!(merged.len(), 3, "three people stay three contacts");
}

#[test]
fn a_care_team_entered_in_error_gives_no_contacts() {
    let mut team =
        care_team(json!([{"member": {"display": "Someone", "reference": "Practitioner/x"}}]));
    team["status"] = json!("entered-in-error");
    assert!(contacts(&collection(vec![team])).is_empty());
}

#[test]
fn only_matched_care_teams_count_in_a_search_answer() {
    let team =
        care_team(json!([{"member": {"display": "Someone", "reference": "Practitioner/x"}}]));
    assert!(contacts(&searchset(vec![], vec![team])).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Care plans and agreements

fn sip_plan() -> Value {
    json!({"resourceType": "CarePlan", "id": "cp1", "status": "active", "intent": "plan",
    "identifier": [{"system": "https://demo.overblick.se/identifier/vardplan", "value": "VP1"}],
    "title": "SIP för Tolvan",
    "category": [{"text": "Samordnad individuell plan",
                  "coding": [{"system": "https://overblick.se/fhir/CodeSystem/care-plan-kind", "code": "sip"}]}],
    "description": "Samordning mellan region och kommun",
    "period": {"start": "2025-03-01", "end": "2026-03-01"},
    "extension": [{"url": "https://overblick.se/fhir/StructureDefinition/next-review", "valueDate": "2025-09-01"}],
    "author": {"reference": "PractitionerRole/pr1"},
    "goal": [{"reference": "Goal/g1"}],
    "activity": [
        {"detail": {"status": "in-progress", "description": "Promenera 30 minuter varje dag",
                    "performer": [{"reference": "Patient/p1", "display": "Tolvan"}],
                    "scheduledPeriod": {"start": "2025-03-01", "end": "2025-06-30"}}},
        {"detail": {"status": "scheduled", "code": {"text": "Hembesök av distriktssköterska"},
                    "performer": [{"reference": "Practitioner/n1"}]}},
        {"detail": {"status": "entered-in-error", "description": "Fel"}},
        {"reference": {"reference": "ServiceRequest/s1"}},
        {"reference": {"reference": "ServiceRequest/s2", "display": "Remiss till fysioterapeut"}}
    ]})
}

fn plan_set(plan: Value) -> ResourceSet {
    collection(vec![
        plan,
        json!({"resourceType": "PractitionerRole", "id": "pr1",
               "practitioner": {"reference": "Practitioner/d1", "display": "Dr Dan"},
               "organization": {"reference": "Organization/hc"}}),
        json!({"resourceType": "Practitioner", "id": "n1", "name": [{"text": "Nina Nurse"}]}),
        org("hc", "Vårdcentralen", "SE2321000016-HC01"),
        json!({"resourceType": "Goal", "id": "g1", "lifecycleStatus": "accepted",
               "description": {"text": "Gå utan rollator"},
               "startDate": "2025-03-01", "target": [{"dueDate": "2025-12"}],
               "expressedBy": {"reference": "Patient/p1", "display": "Tolvan"}}),
    ])
}

#[test]
fn a_care_plan_reads_kind_status_period_next_review_owner_and_unit() {
    let items = care_plans(&plan_set(sip_plan()));
    assert_eq!(items.len(), 1);
    let p = &items[0].item;
    assert_eq!(p.title, "SIP för Tolvan");
    assert_eq!(p.kind, CarePlanKind::Sip);
    assert_eq!(p.category.as_deref(), Some("Samordnad individuell plan"));
    assert_eq!(p.status, PlanStatus::Active);
    assert_eq!(
        p.description.as_deref(),
        Some("Samordning mellan region och kommun")
    );
    assert_eq!((p.start, p.end), (date(2025, 3, 1), date(2026, 3, 1)));
    assert_eq!(p.next_review, date(2025, 9, 1));
    assert_eq!(
        p.owner.as_deref(),
        Some("Dr Dan"),
        "the role's practitioner display"
    );
    assert_eq!(unit_name(&p.care_unit), Some("Vårdcentralen"));
    assert_eq!(
        unit_name(&items[0].provenance.care_unit),
        Some("Vårdcentralen")
    );
    assert_eq!(items[0].identifiers[0].value, "VP1");
}

#[test]
fn a_care_plan_without_title_or_category_is_a_vardplan_and_entered_in_error_is_left_out() {
    let set = collection(vec![
        json!({"resourceType": "CarePlan", "id": "a", "status": "revoked", "intent": "plan",
               "category": [{"coding": [{"system": "https://overblick.se/fhir/CodeSystem/care-plan-kind", "code": "rehabilitation-plan", "display": "Rehabplan"}]}]}),
        json!({"resourceType": "CarePlan", "id": "b", "status": "weird", "intent": "plan"}),
        json!({"resourceType": "CarePlan", "id": "c", "status": "entered-in-error", "intent": "plan"}),
    ]);
    let items = care_plans(&set);
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].item.title, "Rehabplan");
    assert_eq!(items[0].item.kind, CarePlanKind::RehabilitationPlan);
    assert_eq!(items[0].item.status, PlanStatus::Revoked);
    assert_eq!(items[1].item.title, "Vårdplan");
    assert_eq!(items[1].item.kind, CarePlanKind::CarePlan);
    assert_eq!(items[1].item.status, PlanStatus::Unknown);
}

#[test]
fn goals_and_the_activities_of_an_agreed_plan_are_agreements() {
    let items = agreements(&plan_set(sip_plan()));
    let summary: Vec<_> = items
        .iter()
        .map(|a| (a.item.kind, a.item.description.as_str(), a.item.status))
        .collect();
    assert_eq!(
        summary,
        [
            (
                AgreementKind::SelfCare,
                "Promenera 30 minuter varje dag",
                AgreementStatus::Active
            ),
            (
                AgreementKind::Activity,
                "Hembesök av distriktssköterska",
                AgreementStatus::Planned
            ),
            (
                AgreementKind::Activity,
                "Remiss till fysioterapeut",
                AgreementStatus::Unknown
            ),
            (
                AgreementKind::Goal,
                "Gå utan rollator",
                AgreementStatus::Planned
            ),
        ]
    );
    let walk = &items[0].item;
    assert_eq!(walk.responsible.as_deref(), Some("Tolvan"));
    assert_eq!(
        (walk.start, walk.due),
        (date(2025, 3, 1), date(2025, 6, 30))
    );
    assert_eq!(walk.care_plan.as_deref(), Some("SIP för Tolvan"));
    assert_eq!(items[1].item.responsible.as_deref(), Some("Nina Nurse"));
    assert!(
        items[0].identifiers.is_empty(),
        "the plan's identifier is not the activity's"
    );
    assert_eq!(items[0].provenance.record_id, "CarePlan/cp1#activity-0");
    assert_eq!(items[1].provenance.record_id, "CarePlan/cp1#activity-1");
    let goal = &items[3].item;
    assert_eq!(
        (goal.start, goal.due),
        (date(2025, 3, 1), date(2025, 12, 31))
    );
    assert_eq!(goal.responsible.as_deref(), Some("Tolvan"));
    assert_eq!(goal.care_plan.as_deref(), Some("SIP för Tolvan"));
    assert_eq!(items[3].provenance.record_id, "Goal/g1");
}

#[test]
fn proposed_or_draft_plans_have_no_agreed_activities() {
    for (intent, status) in [
        ("proposal", "active"),
        ("option", "active"),
        ("plan", "draft"),
        ("plan", "revoked"),
    ] {
        let mut plan = sip_plan();
        plan["intent"] = json!(intent);
        plan["status"] = json!(status);
        let kinds: Vec<_> = agreements(&plan_set(plan))
            .iter()
            .map(|a| a.item.kind)
            .collect();
        assert_eq!(kinds, [AgreementKind::Goal], "{intent} {status}");
    }
}

#[test]
fn goal_lifecycle_statuses_map_and_entered_in_error_and_nameless_goals_are_left_out() {
    let goal = |id: &str, status: &str| json!({"resourceType": "Goal", "id": id, "lifecycleStatus": status, "description": {"text": id}});
    let set = collection(vec![
        goal("a", "proposed"),
        goal("b", "active"),
        goal("c", "on-hold"),
        goal("d", "completed"),
        goal("e", "rejected"),
        goal("f", "entered-in-error"),
        goal("g", "cancelled"),
        json!({"resourceType": "Goal", "id": "h", "lifecycleStatus": "active", "description": {}}),
    ]);
    let (items, stats) = map(Domain::Agreements, &set);
    let DomainItems::Agreements(items) = items else {
        unreachable!()
    };
    let statuses: Vec<_> = items.iter().map(|a| a.item.status).collect();
    assert_eq!(
        statuses,
        [
            AgreementStatus::Planned,
            AgreementStatus::Active,
            AgreementStatus::OnHold,
            AgreementStatus::Completed,
            AgreementStatus::Cancelled,
            AgreementStatus::Cancelled
        ]
    );
    assert_eq!(stats.skipped.get("Goal"), Some(&1));
}

#[test]
fn goals_contained_in_a_plan_are_agreements_of_that_plan() {
    let plan = json!({"resourceType": "CarePlan", "id": "cp", "status": "active", "intent": "plan",
        "title": "Rehabplan", "goal": [{"reference": "#g"}],
        "contained": [{"resourceType": "Goal", "id": "g", "lifecycleStatus": "active", "description": {"text": "Gå i trappor"}}]});
    let items = agreements(&collection(vec![plan]));
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].item.care_plan.as_deref(), Some("Rehabplan"));
    assert_eq!(items[0].provenance.record_id, "CarePlan/cp#g");
}

// ---------------------------------------------------------------------------------------------
// Medications

#[test]
fn a_medication_reference_resolves_to_the_included_medication() {
    let request = json!({"resourceType": "MedicationRequest", "id": "mr1", "status": "active", "intent": "order",
    "identifier": [{"system": "https://demo.overblick.se/identifier/forskrivning", "value": "RX-1"}],
    "medicationReference": {"reference": "Medication/eliquis", "display": "fel namn"},
    "authoredOn": "2025-01-10T09:00:00+01:00",
    "requester": {"reference": "PractitionerRole/pr1"},
    "reasonCode": [{"text": "Förmaksflimmer"}],
    "dosageInstruction": [
        {"text": "1 tablett morgon", "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablett"}}],
         "timing": {"repeat": {"boundsPeriod": {"start": "2025-01-11", "end": "2025-12-31"}}}},
        {"text": "1 tablett kväll"}
    ]});
    let medication = json!({"resourceType": "Medication", "id": "eliquis",
        "code": {"text": "Eliquis 5 mg tablett", "coding": [
            {"system": "http://snomed.info/sct", "code": "1", "display": "Apixaban"},
            {"system": "http://www.whocc.no/atc", "code": "B01AF02", "display": "apixaban"}]}});
    let role = json!({"resourceType": "PractitionerRole", "id": "pr1",
        "practitioner": {"reference": "Practitioner/d1"}, "organization": {"reference": "Organization/hc"}});
    let doctor = json!({"resourceType": "Practitioner", "id": "d1", "name": [{"text": "Dr Dan"}]});
    let set = searchset(
        vec![request],
        vec![
            medication,
            role,
            doctor,
            org("hc", "Hjärtmottagningen", "SE2321000016-HJ01"),
        ],
    );
    let items = medications(&set);
    assert_eq!(items.len(), 1);
    let m = &items[0].item;
    assert_eq!(m.name, "Eliquis 5 mg tablett");
    let code = m.code.as_ref().unwrap();
    assert_eq!(
        (code.system.as_deref(), code.code.as_deref()),
        (Some("http://www.whocc.no/atc"), Some("B01AF02"))
    );
    assert_eq!(
        m.dosage.as_deref(),
        Some("1 tablett morgon; 1 tablett kväll")
    );
    let dose = m.dose.as_ref().unwrap();
    assert_eq!((dose.value, dose.unit.as_deref()), (1.0, Some("tablett")));
    assert_eq!(m.status, MedicationStatus::Active);
    assert_eq!(m.record_kind, MedicationRecordKind::Prescription);
    assert_eq!((m.start, m.end), (date(2025, 1, 11), date(2025, 12, 31)));
    assert_eq!(m.prescriber.as_deref(), Some("Dr Dan"));
    assert_eq!(m.reason.as_deref(), Some("Förmaksflimmer"));
    assert_eq!(items[0].identifiers[0].value, "RX-1");
    assert_eq!(
        unit_name(&items[0].provenance.care_unit),
        Some("Hjärtmottagningen")
    );
}

#[test]
fn a_contained_medication_names_a_statement_and_an_unresolved_one_its_display() {
    let set = collection(vec![
        json!({"resourceType": "MedicationStatement", "id": "s1", "status": "completed",
               "contained": [{"resourceType": "Medication", "id": "m", "code": {"coding": [{"display": "Alvedon 500 mg"}]}}],
               "medicationReference": {"reference": "#m"},
               "effectivePeriod": {"start": "2024-05-01T23:30:00-02:00", "end": "2024-05-10"},
               "dosage": [{"text": "vid behov"}]}),
        json!({"resourceType": "MedicationStatement", "id": "s2", "status": "not-taken",
               "medicationReference": {"reference": "Medication/gone", "display": "Ipren"}}),
    ]);
    let items = medications(&set);
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].item.name, "Alvedon 500 mg");
    assert_eq!(items[0].item.record_kind, MedicationRecordKind::Statement);
    assert_eq!(items[0].item.status, MedicationStatus::Ended);
    assert_eq!(
        (items[0].item.start, items[0].item.end),
        (date(2024, 5, 1), date(2024, 5, 10)),
        "the local date of the given offset"
    );
    assert_eq!(items[1].item.name, "Ipren");
    assert_eq!(items[1].item.code, None);
    assert_eq!(items[1].item.status, MedicationStatus::Ended);
}

#[test]
fn medication_dates_fall_back_to_the_validity_period_then_authored_on() {
    let set = collection(vec![
        json!({"resourceType": "MedicationRequest", "id": "a", "status": "on-hold",
               "medicationCodeableConcept": {"text": "A"}, "authoredOn": "2025-01-01",
               "dispenseRequest": {"validityPeriod": {"start": "2025-01-05", "end": "2026-01-05"}}}),
        json!({"resourceType": "MedicationRequest", "id": "b", "status": "unknown",
               "medicationCodeableConcept": {"coding": [{"code": "x"}, {"display": "B"}]}, "authoredOn": "2025-02-01"}),
    ]);
    let items = medications(&set);
    assert_eq!(
        (items[0].item.start, items[0].item.end),
        (date(2025, 1, 5), date(2026, 1, 5))
    );
    assert_eq!(items[0].item.status, MedicationStatus::OnHold);
    assert_eq!(
        (items[1].item.start, items[1].item.end),
        (date(2025, 2, 1), None)
    );
    assert_eq!(items[1].item.name, "B");
    assert_eq!(items[1].item.status, MedicationStatus::Unknown);
}

#[test]
fn draft_and_entered_in_error_medications_are_left_out_and_nameless_ones_are_counted() {
    let set = collection(vec![
        json!({"resourceType": "MedicationRequest", "id": "a", "status": "draft", "medicationCodeableConcept": {"text": "A"}}),
        json!({"resourceType": "MedicationRequest", "id": "b", "status": "entered-in-error", "medicationCodeableConcept": {"text": "B"}}),
        json!({"resourceType": "MedicationRequest", "id": "c", "status": "active", "medicationCodeableConcept": {"coding": [{"code": "123"}]}}),
        json!({"resourceType": "MedicationStatement", "id": "d", "status": "intended", "medicationCodeableConcept": {"text": "D"}}),
    ]);
    let (items, stats) = map(Domain::Medications, &set);
    assert_eq!(items.len(), 1);
    assert_eq!(stats.skipped.get("MedicationRequest"), Some(&1));
    assert_eq!(stats.skipped_total(), 1);
}

// ---------------------------------------------------------------------------------------------
// Measurements

fn vital(id: &str, extra: Value) -> Value {
    let mut obs = json!({"resourceType": "Observation", "id": id, "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
        "code": {"text": "Kroppsvikt", "coding": [
            {"system": "http://snomed.info/sct", "code": "27113001"},
            {"system": "http://loinc.org", "code": "29463-7", "display": "Body weight"}]}});
    if let (Some(o), Value::Object(extra)) = (obs.as_object_mut(), extra) {
        o.extend(extra);
    }
    obs
}

#[test]
fn a_vital_sign_becomes_a_measurement_with_loinc_code_and_utc_time() {
    let set = collection(vec![
        vital(
            "w",
            json!({"valueQuantity": {"value": 72.5, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
                          "effectiveDateTime": "2025-03-01T08:00:00+01:00",
                          "performer": [{"reference": "Patient/p1"}], "status": "corrected"}),
        ),
        vital(
            "d",
            json!({"effectiveDateTime": "2025-03", "valueString": "mätt hemma",
                          "performer": [{"reference": "Practitioner/n1"}]}),
        ),
        vital("u", json!({"valueBoolean": true})),
    ]);
    let items = measurements(&set);
    assert_eq!(items.len(), 3);
    let w = &items[0].item;
    assert_eq!(w.name, "Kroppsvikt");
    assert_eq!(w.code.as_ref().unwrap().code.as_deref(), Some("29463-7"));
    assert_eq!(w.value.as_ref().unwrap().value, 72.5);
    assert_eq!(w.value.as_ref().unwrap().unit_code.as_deref(), Some("kg"));
    assert_eq!(w.time.unwrap().to_rfc3339(), "2025-03-01T07:00:00+00:00");
    assert_eq!(w.status, ResultStatus::Amended);
    assert_eq!(w.measured_by, MeasuredBy::Patient);
    let d = &items[1].item;
    assert_eq!(d.time.unwrap().to_rfc3339(), "2025-03-01T00:00:00+00:00");
    assert_eq!(d.value_text.as_deref(), Some("mätt hemma"));
    assert_eq!(d.measured_by, MeasuredBy::Care);
    assert_eq!(items[2].item.measured_by, MeasuredBy::Unknown);
    assert_eq!(items[2].item.value_text.as_deref(), Some("true"));
}

#[test]
fn blood_pressure_components_are_kept_and_pure_panels_left_out() {
    let set = collection(vec![
        vital(
            "bp",
            json!({"code": {"text": "Blodtryck"}, "component": [
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6", "display": "Systoliskt"}]},
             "valueQuantity": {"value": 120, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
            {"code": {"text": "Diastoliskt"}, "valueQuantity": {"value": 80, "unit": "mmHg"}},
            {"code": {}, "valueQuantity": {"value": 1}}]}),
        ),
        vital(
            "panel",
            json!({"code": {"text": "Vitalparametrar"}, "hasMember": [{"reference": "Observation/bp"}]}),
        ),
        vital("gone", json!({"status": "entered-in-error"})),
        json!({"resourceType": "Observation", "id": "lab", "status": "final", "code": {"text": "P-Glukos"}}),
    ]);
    let items = measurements(&set);
    assert_eq!(items.len(), 1);
    let bp = &items[0].item;
    assert_eq!(bp.name, "Blodtryck");
    assert_eq!(
        bp.components.len(),
        2,
        "a component without a name is dropped"
    );
    assert_eq!(bp.components[0].name, "Systoliskt");
    assert_eq!(bp.components[0].value.as_ref().unwrap().value, 120.0);
    assert_eq!(bp.components[1].name, "Diastoliskt");
}

// ---------------------------------------------------------------------------------------------
// Lab results

fn lab(id: &str, extra: Value) -> Value {
    let mut obs = json!({"resourceType": "Observation", "id": id, "status": "final",
        "code": {"coding": [
            {"system": "http://loinc.org", "code": "15074-8", "display": "Glucose"},
            {"system": "urn:oid:1.2.208.176.2.1", "code": "NPU02192", "display": "P-Glukos"}]},
        "valueQuantity": {"value": 6.3, "unit": "mmol/L"},
        "effectiveDateTime": "2025-04-01T07:30:00Z"});
    if let (Some(o), Value::Object(extra)) = (obs.as_object_mut(), extra) {
        o.extend(extra);
    }
    obs
}

#[test]
fn an_observation_without_category_is_a_lab_result_with_npu_code_range_and_flag() {
    let set = collection(vec![lab(
        "g",
        json!({
        "referenceRange": [{"low": {"value": 4.0, "unit": "mmol/L"}, "high": {"value": 6.0, "unit": "mmol/L"}}],
        "interpretation": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": "H", "display": "High"}]}],
        "performer": [{"reference": "Organization/lab", "display": "Klinisk kemi"}]}),
    )]);
    let items = lab_results(&set);
    assert_eq!(items.len(), 1);
    let r = &items[0].item;
    assert_eq!(
        r.analysis, "Glucose",
        "the first coding display when there is no text"
    );
    assert_eq!(r.code.as_ref().unwrap().code.as_deref(), Some("NPU02192"));
    assert_eq!(r.value.as_ref().unwrap().value, 6.3);
    let range = r.reference_range.as_ref().unwrap();
    assert_eq!(
        (
            range.low.as_ref().unwrap().value,
            range.high.as_ref().unwrap().value
        ),
        (4.0, 6.0)
    );
    assert_eq!(r.abnormal, Some(AbnormalFlag::High));
    assert_eq!(r.interpretation.as_deref(), Some("High"));
    assert_eq!(r.laboratory.as_deref(), Some("Klinisk kemi"));
    assert_eq!(
        unit_name(&items[0].provenance.care_unit),
        Some("Klinisk kemi")
    );
    assert!(measurements(&set).is_empty());
}

#[test]
fn interpretation_codes_map_to_abnormal_flags() {
    let cases = [
        ("N", Some(AbnormalFlag::Normal)),
        ("A", Some(AbnormalFlag::Abnormal)),
        ("AA", Some(AbnormalFlag::Abnormal)),
        ("L", Some(AbnormalFlag::Low)),
        ("<", Some(AbnormalFlag::Low)),
        ("HH", Some(AbnormalFlag::CriticallyHigh)),
        ("LL", Some(AbnormalFlag::CriticallyLow)),
        ("IND", None),
    ];
    for (code, expected) in cases {
        let set = collection(vec![lab(
            "x",
            json!({"interpretation": [{"coding": [{"code": code}]}]}),
        )]);
        assert_eq!(lab_results(&set)[0].item.abnormal, expected, "{code}");
    }
    let other_system = collection(vec![lab(
        "x",
        json!({"interpretation": [{"coding": [{"system": "http://example.org", "code": "H"}]}]}),
    )]);
    assert_eq!(lab_results(&other_system)[0].item.abnormal, None);
}

#[test]
fn observations_included_by_a_report_are_lab_results_named_by_the_report() {
    let report = json!({"resourceType": "DiagnosticReport", "id": "r1", "status": "final",
        "code": {"text": "Blodstatus"}, "performer": [{"reference": "Organization/lab"}],
        "effectiveDateTime": "2025-04-02",
        "result": [{"reference": "Observation/hb"}, {"reference": "Observation/gone"}]});
    let hb = json!({"resourceType": "Observation", "id": "hb", "status": "preliminary",
        "category": [{"coding": [{"code": "laboratory"}]}],
        "code": {"text": "B-Hb"}, "valueQuantity": {"value": 134, "unit": "g/L"}});
    let stray = lab("stray", json!({}));
    let vital_sign = vital("w", json!({"valueQuantity": {"value": 70}}));
    let set = searchset(
        vec![report],
        vec![
            hb,
            stray,
            vital_sign,
            org("lab", "Klinisk kemi", "SE2321000016-LAB1"),
        ],
    );
    let items = lab_results(&set);
    assert_eq!(
        items.len(),
        1,
        "included observations count only when the report lists them"
    );
    let hb = &items[0].item;
    assert_eq!(hb.analysis, "B-Hb");
    assert_eq!(hb.report.as_deref(), Some("Blodstatus"));
    assert_eq!(
        hb.laboratory.as_deref(),
        Some("Klinisk kemi"),
        "the report's performer"
    );
    assert_eq!(hb.status, ResultStatus::Preliminary);
    assert_eq!(
        hb.time.unwrap().to_rfc3339(),
        "2025-04-02T00:00:00+00:00",
        "the report's time"
    );
    assert_eq!(
        items[0]
            .provenance
            .care_unit
            .as_ref()
            .unwrap()
            .hsa_id
            .as_ref()
            .unwrap()
            .as_str(),
        "SE2321000016-LAB1"
    );
}

#[test]
fn a_diagnostic_report_is_a_lab_report_its_results_name() {
    let report = json!({"resourceType": "DiagnosticReport", "id": "r1", "status": "final",
        "identifier": [{"system": "https://demo.overblick.se/identifier/provsvar", "value": "PS-1"}],
        "code": {"text": "Blodstatus"}, "performer": [{"reference": "Organization/lab"}],
        "effectiveDateTime": "2025-04-02T08:00:00Z", "conclusion": "Lätt anemi",
        "result": [{"reference": "Observation/hb"}]});
    let hb = lab(
        "hb",
        json!({"code": {"text": "B-Hb"}, "note": [{"text": "Hemolys"}]}),
    );
    let set = searchset(
        vec![report, hb],
        vec![org("lab", "Klinisk kemi", "SE2321000016-LAB1")],
    );
    let reports = lab_reports(&set);
    assert_eq!(reports.len(), 1);
    let report = &reports[0];
    assert_eq!(report.item.title, "Blodstatus");
    assert_eq!(report.item.conclusion.as_deref(), Some("Lätt anemi"));
    assert_eq!(report.item.status, ResultStatus::Final);
    let lab = report.item.laboratory.as_ref().unwrap();
    assert_eq!(lab.name.as_deref(), Some("Klinisk kemi"));
    assert_eq!(lab.hsa_id.as_ref().unwrap().as_str(), "SE2321000016-LAB1");
    assert_eq!(report.identifiers[0].value, "PS-1");
    assert_eq!(report.provenance.record_id, "DiagnosticReport/r1");
    let reference = crate::domain::LabReport::source_ref(
        &report.provenance.source_id,
        &report.provenance.record_id,
    );
    let results = lab_results(&set);
    // The observation and the conclusion, both in the report.
    assert_eq!(results.len(), 2);
    assert!(
        results
            .iter()
            .all(|r| r.item.report_id.as_deref() == Some(reference.as_str()))
    );
    let hb = results.iter().find(|r| r.item.analysis == "B-Hb").unwrap();
    assert_eq!(hb.item.comment.as_deref(), Some("Hemolys"));
}

#[test]
fn a_reports_ordering_unit_is_the_requester_of_the_service_request_it_is_based_on() {
    let report = json!({"resourceType": "DiagnosticReport", "id": "r1", "status": "final",
        "code": {"text": "Blodstatus"},
        "contained": [{"resourceType": "ServiceRequest", "id": "sr", "status": "completed",
            "intent": "order", "subject": {"reference": "Patient/p"},
            "requester": {"reference": "Organization/vc", "display": "Gottsunda vårdcentral"}}],
        "basedOn": [{"reference": "#sr"}]});
    let set = searchset(
        vec![report],
        vec![org("vc", "Gottsunda vårdcentral", "SE2321000024-GOT001")],
    );
    let reports = lab_reports(&set);
    let unit = reports[0].item.ordering_unit.as_ref().unwrap();
    assert_eq!(unit.name.as_deref(), Some("Gottsunda vårdcentral"));
    assert_eq!(
        unit.hsa_id.as_ref().unwrap().as_str(),
        "SE2321000024-GOT001"
    );
}

#[test]
fn a_report_keeps_its_conclusion_as_an_item_of_its_own_next_to_its_results() {
    let report = json!({"resourceType": "DiagnosticReport", "id": "r1", "status": "amended",
        "identifier": [{"system": "https://demo.overblick.se/identifier/provsvar", "value": "PS-1"}],
        "code": {"text": "Blodstatus"}, "conclusion": "Lätt anemi",
        "result": [{"reference": "Observation/hb"}]});
    let hb = lab("hb", json!({"code": {"text": "B-Hb"}}));
    let items = lab_results(&searchset(vec![report], vec![hb]));
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].item.analysis, "Blodstatus");
    assert_eq!(items[0].item.value_text.as_deref(), Some("Lätt anemi"));
    assert_eq!(items[0].item.value, None);
    assert_eq!(items[0].item.status, ResultStatus::Amended);
    assert_eq!(items[0].provenance.record_id, "DiagnosticReport/r1");
    assert_eq!(items[0].identifiers[0].value, "PS-1");
    assert_eq!(items[1].item.analysis, "B-Hb");
    assert_eq!(items[1].item.report.as_deref(), Some("Blodstatus"));
}

#[test]
fn a_report_whose_results_do_not_resolve_is_a_result_of_its_own() {
    let report = json!({"resourceType": "DiagnosticReport", "id": "r2", "status": "partial",
        "code": {"coding": [{"display": "Benmärgsundersökning"}]},
        "conclusionCode": [{"text": "Normal"}, {"coding": [{"display": "Ingen malignitet"}]}],
        "result": [{"reference": "Observation/missing"}]});
    let entered_in_error = json!({"resourceType": "DiagnosticReport", "id": "r3", "status": "entered-in-error", "code": {"text": "X"}});
    let items = lab_results(&collection(vec![report, entered_in_error]));
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].item.analysis, "Benmärgsundersökning");
    assert_eq!(
        items[0].item.value_text.as_deref(),
        Some("Normal; Ingen malignitet")
    );
    assert_eq!(items[0].item.status, ResultStatus::Preliminary);
}

#[test]
fn a_result_contained_in_a_report_is_mapped_with_it() {
    let report = json!({"resourceType": "DiagnosticReport", "id": "r", "status": "final", "code": {"text": "Panel"},
        "contained": [{"resourceType": "Observation", "id": "o", "status": "final", "code": {"text": "S-Kalium"},
                       "valueQuantity": {"value": 4.1, "unit": "mmol/L"}}],
        "result": [{"reference": "#o"}]});
    let items = lab_results(&collection(vec![report]));
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].item.analysis, "S-Kalium");
    assert_eq!(items[0].item.report.as_deref(), Some("Panel"));
    assert_eq!(items[0].provenance.record_id, "DiagnosticReport/r#o");
}

#[test]
fn members_of_a_lab_panel_are_named_by_it_and_the_panel_itself_is_left_out() {
    let panel = lab(
        "p",
        json!({"code": {"text": "Blodgruppering"}, "hasMember": [{"reference": "Observation/m"}]}),
    );
    let mut panel = panel;
    if let Some(o) = panel.as_object_mut() {
        o.remove("valueQuantity");
    }
    let member = lab(
        "m",
        json!({"code": {"text": "AB0"}, "valueCodeableConcept": {"text": "A Rh(D) pos"}}),
    );
    let mut member = member;
    if let Some(o) = member.as_object_mut() {
        o.remove("valueQuantity");
    }
    let items = lab_results(&collection(vec![panel, member]));
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].item.report.as_deref(), Some("Blodgruppering"));
    assert_eq!(items[0].item.value_text.as_deref(), Some("A Rh(D) pos"));
}

// ---------------------------------------------------------------------------------------------
// Bookings

#[test]
fn an_appointment_reads_unit_location_practitioner_and_our_extensions() {
    let appointment = json!({"resourceType": "Appointment", "id": "a1", "status": "booked",
        "identifier": [{"system": "https://demo.overblick.se/identifier/bokning", "value": "B-1"}],
        "serviceType": [{"text": "Återbesök"}],
        "start": "2026-12-01T09:00:00+01:00", "end": "2026-12-01T09:30:00+01:00",
        "extension": [
            {"url": "https://overblick.se/fhir/StructureDefinition/patient-may-cancel", "valueBoolean": true},
            {"url": "https://overblick.se/fhir/StructureDefinition/patient-may-rebook", "valueBoolean": false}],
        "participant": [
            {"actor": {"reference": "Patient/p1"}},
            {"actor": {"reference": "Location/rum"}},
            {"actor": {"reference": "PractitionerRole/pr1"}}]});
    let location = json!({"resourceType": "Location", "id": "rum", "name": "Rum 12, plan 3",
        "managingOrganization": {"reference": "Organization/hm"}});
    let role = json!({"resourceType": "PractitionerRole", "id": "pr1",
        "practitioner": {"reference": "Practitioner/d1"}, "organization": {"reference": "Organization/other"}});
    let doctor = json!({"resourceType": "Practitioner", "id": "d1", "name": [{"given": ["Hanna"], "family": "Hjärta"}]});
    let set = searchset(
        vec![appointment],
        vec![
            location,
            role,
            doctor,
            org("hm", "Hjärtmottagningen", "SE2321000016-HM01"),
            org("other", "Annan", "SE2321000016-X1"),
        ],
    );
    let items = bookings(&set);
    assert_eq!(items.len(), 1);
    let b = &items[0].item;
    assert_eq!(b.start.to_rfc3339(), "2026-12-01T08:00:00+00:00");
    assert_eq!(b.end.unwrap().to_rfc3339(), "2026-12-01T08:30:00+00:00");
    assert_eq!(b.status, BookingStatus::Booked);
    assert_eq!(b.title.as_deref(), Some("Återbesök"));
    assert_eq!(b.service_type.as_deref(), Some("Återbesök"));
    assert_eq!(
        unit_name(&b.care_unit),
        Some("Hjärtmottagningen"),
        "the location's unit first"
    );
    assert_eq!(
        b.care_unit
            .as_ref()
            .unwrap()
            .hsa_id
            .as_ref()
            .unwrap()
            .as_str(),
        "SE2321000016-HM01"
    );
    assert_eq!(b.location.as_deref(), Some("Rum 12, plan 3"));
    assert_eq!(b.practitioner.as_deref(), Some("Hanna Hjärta"));
    assert_eq!(
        (b.patient_may_cancel, b.patient_may_rebook),
        (Some(true), Some(false))
    );
    assert_eq!(items[0].identifiers[0].value, "B-1");
    assert_eq!(
        unit_name(&items[0].provenance.care_unit),
        Some("Hjärtmottagningen")
    );
}

#[test]
fn an_appointment_without_start_is_skipped_and_counted() {
    let set = collection(vec![
        json!({"resourceType": "Appointment", "id": "a", "status": "proposed"}),
        json!({"resourceType": "Appointment", "id": "b", "status": "booked", "start": "not a time"}),
        json!({"resourceType": "Appointment", "id": "c", "status": "entered-in-error", "start": "2026-01-01T10:00:00Z"}),
        json!({"resourceType": "Appointment", "id": "d", "status": "noshow", "start": "2026-01-01T10:00:00Z",
               "appointmentType": {"coding": [{"display": "Uppföljning"}]},
               "participant": [{"actor": {"reference": "Organization/x", "display": "Ortopedmottagningen"}}]}),
    ]);
    let (items, stats) = map(Domain::Bookings, &set);
    let DomainItems::Bookings(items) = items else {
        unreachable!()
    };
    assert_eq!(items.len(), 1);
    assert_eq!(stats.skipped.get("Appointment"), Some(&2));
    assert_eq!(items[0].item.status, BookingStatus::NoShow);
    assert_eq!(items[0].item.title.as_deref(), Some("Uppföljning"));
    assert_eq!(
        unit_name(&items[0].item.care_unit),
        Some("Ortopedmottagningen")
    );
}

// ---------------------------------------------------------------------------------------------
// Approved for patient view

fn not_approved() -> Value {
    json!({"extension": [{"url": "https://overblick.se/fhir/StructureDefinition/approved-for-patient",
                          "valueBoolean": false}]})
}

fn nopat() -> Value {
    json!({"meta": {"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                  "code": "NOPAT"}]}})
}

fn merged(mut resource: Value, extra: Value) -> Value {
    if let (Some(o), Value::Object(extra)) = (resource.as_object_mut(), extra) {
        o.extend(extra);
    }
    resource
}

#[test]
fn records_without_a_marker_are_approved_for_the_patient() {
    let set = collection(vec![
        vital("w", json!({"valueQuantity": {"value": 70}})),
        lab("g", json!({})),
    ]);
    assert!(measurements(&set)[0].approved_for_patient);
    assert!(lab_results(&set)[0].approved_for_patient);
}

#[test]
fn the_approval_extension_set_to_false_withholds_a_measurement_from_the_patient() {
    let set = collection(vec![
        vital("shown", json!({"valueQuantity": {"value": 70}})),
        merged(
            vital("withheld", json!({"valueQuantity": {"value": 71}})),
            not_approved(),
        ),
    ]);
    let approved: Vec<_> = measurements(&set)
        .iter()
        .map(|m| (m.provenance.record_id.clone(), m.approved_for_patient))
        .collect();
    assert_eq!(
        approved,
        [
            ("Observation/shown".to_owned(), true),
            ("Observation/withheld".to_owned(), false)
        ]
    );
}

#[test]
fn the_nopat_security_label_withholds_a_medication_from_the_patient() {
    let set = collection(vec![merged(
        json!({"resourceType": "MedicationRequest", "id": "m", "status": "active",
               "medicationCodeableConcept": {"text": "Sertralin 50 mg"}}),
        nopat(),
    )]);
    assert!(!medications(&set)[0].approved_for_patient);
}

#[test]
fn the_results_of_a_report_not_approved_are_not_approved_even_without_a_marker() {
    let report = merged(
        json!({"resourceType": "DiagnosticReport", "id": "r", "status": "final",
               "code": {"text": "Leverstatus"}, "conclusion": "Ej bedömt",
               "result": [{"reference": "Observation/alat"}]}),
        nopat(),
    );
    let alat = lab("alat", json!({"code": {"text": "P-ALAT"}}));
    let other = lab("other", json!({"code": {"text": "P-Glukos"}}));
    let items = lab_results(&searchset(vec![report, other], vec![alat]));
    let approved: Vec<_> = items
        .iter()
        .map(|r| (r.item.analysis.as_str(), r.approved_for_patient))
        .collect();
    assert_eq!(
        approved,
        [
            ("Leverstatus", false),
            ("P-Glukos", true),
            ("P-ALAT", false)
        ]
    );
}

#[test]
fn a_result_contained_in_a_report_not_approved_is_not_approved() {
    let report = merged(
        json!({"resourceType": "DiagnosticReport", "id": "r", "status": "final", "code": {"text": "Panel"},
               "contained": [{"resourceType": "Observation", "id": "o", "status": "final",
                              "code": {"text": "S-Kalium"}, "valueQuantity": {"value": 4.1}}],
               "result": [{"reference": "#o"}]}),
        not_approved(),
    );
    let items = lab_results(&collection(vec![report]));
    assert_eq!(items[0].item.analysis, "S-Kalium");
    assert!(!items[0].approved_for_patient);
}

#[test]
fn members_of_nested_panels_under_a_report_not_approved_are_not_approved() {
    let report = merged(
        json!({"resourceType": "DiagnosticReport", "id": "r", "status": "final",
               "code": {"text": "Lipidstatus"}, "result": [{"reference": "Observation/panel"}]}),
        not_approved(),
    );
    let mut panel = lab(
        "panel",
        json!({"code": {"text": "Lipider"}, "hasMember": [{"reference": "Observation/ldl"}]}),
    );
    if let Some(o) = panel.as_object_mut() {
        o.remove("valueQuantity");
    }
    let ldl = lab("ldl", json!({"code": {"text": "P-LDL"}}));
    let items = lab_results(&collection(vec![report, panel, ldl]));
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].item.analysis, "P-LDL");
    assert!(!items[0].approved_for_patient);
}

#[test]
fn a_care_plan_activity_can_be_withheld_on_its_own_and_a_plan_withholds_all_its_activities() {
    let activity = |id: &str, extra: Value| {
        merged(
            json!({"id": id, "detail": {"status": "scheduled", "description": id}}),
            extra,
        )
    };
    let plan = |id: &str, extra: Value, activities: Vec<Value>| {
        merged(
            json!({"resourceType": "CarePlan", "id": id, "status": "active", "intent": "plan",
                   "title": id, "activity": activities}),
            extra,
        )
    };
    let set = collection(vec![
        plan(
            "open",
            json!({}),
            vec![activity("a1", json!({})), activity("a2", not_approved())],
        ),
        plan("closed", nopat(), vec![activity("b1", json!({}))]),
    ]);
    let items = agreements(&set);
    let approved: Vec<_> = items
        .iter()
        .map(|a| (a.item.description.as_str(), a.approved_for_patient))
        .collect();
    assert_eq!(approved, [("a1", true), ("a2", false), ("b1", false)]);
    let plans: Vec<_> = care_plans(&set)
        .iter()
        .map(|p| p.approved_for_patient)
        .collect();
    assert_eq!(plans, [true, false]);
}

#[test]
fn a_care_team_member_can_be_withheld_on_its_own() {
    let team = json!({"resourceType": "CareTeam", "id": "t", "status": "active", "participant": [
        {"member": {"display": "Anna Berg"}},
        {"member": {"display": "Per Ek"},
         "extension": [{"url": "https://overblick.se/fhir/StructureDefinition/approved-for-patient",
                        "valueBoolean": false}]}]});
    let approved: Vec<_> = contacts(&collection(vec![team]))
        .iter()
        .map(|c| (c.item.name.clone().unwrap(), c.approved_for_patient))
        .collect();
    assert_eq!(
        approved,
        [("Anna Berg".to_owned(), true), ("Per Ek".to_owned(), false)]
    );
}

// ---------------------------------------------------------------------------------------------
// Robustness

#[test]
fn a_reference_loop_between_roles_ends() {
    let set = collection(vec![
        json!({"resourceType": "MedicationRequest", "id": "m", "status": "active",
               "medicationCodeableConcept": {"text": "X"}, "requester": {"reference": "PractitionerRole/a"}}),
        json!({"resourceType": "PractitionerRole", "id": "a", "organization": {"reference": "PractitionerRole/b"}}),
        json!({"resourceType": "PractitionerRole", "id": "b", "organization": {"reference": "PractitionerRole/a"}}),
    ]);
    let items = medications(&set);
    assert_eq!(items[0].provenance.care_unit, info().default_care_unit);
}

/// Every way a field can hold the wrong kind of JSON.
fn replacements() -> Vec<Value> {
    vec![
        Value::Null,
        json!(-1e300),
        json!("2025-13-45T99:99"),
        json!([]),
        json!([null, 1, "x"]),
        json!({}),
        json!({"reference": "#"}),
    ]
}

/// `value` with the node at each path replaced, one at a time.
fn mutations(value: &Value) -> Vec<Value> {
    fn paths(v: &Value, prefix: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
        out.push(prefix.clone());
        match v {
            Value::Object(o) => {
                for (k, child) in o {
                    prefix.push(json!(k));
                    paths(child, prefix, out);
                    prefix.pop();
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    prefix.push(json!(i));
                    paths(child, prefix, out);
                    prefix.pop();
                }
            }
            _ => {}
        }
    }
    let mut all = Vec::new();
    paths(value, &mut Vec::new(), &mut all);
    let mut out = Vec::new();
    for path in all.into_iter().filter(|p| !p.is_empty()) {
        for replacement in replacements() {
            let mut copy = value.clone();
            let mut node = &mut copy;
            for step in &path {
                node = match step {
                    Value::String(k) => &mut node[k.as_str()],
                    Value::Number(i) => &mut node[i.as_u64().unwrap() as usize],
                    _ => unreachable!(),
                };
            }
            *node = replacement.clone();
            out.push(copy);
        }
    }
    out
}

#[test]
fn malformed_resources_never_panic_in_any_domain() {
    let samples = vec![
        sip_plan(),
        care_team(
            json!([{"role": [{"coding": [{"system": "https://overblick.se/fhir/CodeSystem/contact-role", "code": "named-doctor"}]}],
                          "member": {"reference": "PractitionerRole/pr1"}, "onBehalfOf": {"reference": "Organization/hc"}}]),
        ),
        json!({"resourceType": "PractitionerRole", "id": "pr1", "practitioner": {"reference": "Practitioner/d1"},
               "organization": {"reference": "Organization/hc"}, "telecom": [{"system": "phone", "value": "1"}]}),
        json!({"resourceType": "Practitioner", "id": "d1", "name": [{"given": ["A"], "family": "B"}],
               "identifier": [{"system": HSA, "value": "SE2321000016-D001"}]}),
        json!({"resourceType": "Location", "id": "l", "name": "Rum", "managingOrganization": {"reference": "Organization/hc"}}),
        json!({"resourceType": "Goal", "id": "g1", "lifecycleStatus": "active", "description": {"text": "G"},
               "target": [{"dueDate": "2025-01-01"}], "expressedBy": {"reference": "Practitioner/d1"}}),
        json!({"resourceType": "MedicationRequest", "id": "mr", "status": "active",
               "medicationReference": {"reference": "#m"}, "contained": [{"resourceType": "Medication", "id": "m", "code": {"text": "M"}}],
               "dosageInstruction": [{"text": "t", "doseAndRate": [{"doseQuantity": {"value": 1}}],
                                      "timing": {"repeat": {"boundsPeriod": {"start": "2025-01-01"}}}}],
               "requester": {"reference": "PractitionerRole/pr1"}, "reasonReference": [{"reference": "Condition/c"}]}),
        vital(
            "v",
            json!({"valueQuantity": {"value": 1, "unit": "kg"}, "component": [{"code": {"text": "c"}, "valueQuantity": {"value": 2}}],
                          "performer": [{"reference": "Patient/p"}], "effectivePeriod": {"start": "2025-01-01"}}),
        ),
        lab(
            "o",
            json!({"referenceRange": [{"low": {"value": 1}}], "interpretation": [{"coding": [{"code": "H"}]}],
                        "hasMember": [{"reference": "Observation/v"}]}),
        ),
        json!({"resourceType": "DiagnosticReport", "id": "r", "status": "final", "code": {"text": "R"},
               "result": [{"reference": "Observation/o"}], "conclusion": "C", "performer": [{"reference": "Organization/hc"}]}),
        json!({"resourceType": "Appointment", "id": "a", "status": "booked", "start": "2025-01-01T10:00:00Z",
               "participant": [{"actor": {"reference": "Location/l"}}, {"actor": {"reference": "PractitionerRole/pr1"}}],
               "extension": [{"url": "https://overblick.se/fhir/StructureDefinition/patient-may-cancel", "valueBoolean": true}]}),
        json!({"resourceType": "Patient", "id": "p", "name": [{"text": "P"}]}),
        org("hc", "HC", "SE2321000016-HC01"),
    ];
    let mut runs = 0;
    for (i, sample) in samples.iter().enumerate() {
        // The others stay intact so references from and to the mutated one resolve.
        let mut others = samples.clone();
        others.remove(i);
        for mutated in mutations(sample) {
            let mut resources = others.clone();
            resources.push(mutated);
            let set = collection(resources);
            for domain in Domain::ALL {
                let _ = map(domain, &set);
            }
            runs += 1;
        }
    }
    assert!(runs > 1000, "{runs}");
}
