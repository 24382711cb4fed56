//! The access rules, one test per rule and per boundary.

use chrono::{NaiveDate, TimeDelta, TimeZone};

use super::*;
use crate::domain::Organisation;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
}

fn id(s: &str) -> PersonId {
    PersonId::parse(s).unwrap()
}

fn hsa(s: &str) -> HsaId {
    HsaId::parse(s).unwrap()
}

/// A valid personnummer for someone born on `born`.
fn born(born: NaiveDate) -> PersonId {
    let nine = format!("{}238", born.format("%y%m%d"));
    let sum: u32 = nine
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0') * if i % 2 == 0 { 2 } else { 1 };
            d / 10 + d % 10
        })
        .sum();
    id(&format!(
        "{}238{}",
        born.format("%Y%m%d"),
        (10 - sum % 10) % 10
    ))
}

fn tolvan() -> PersonId {
    id("191212121212")
}
fn lena() -> PersonId {
    id("198804122383")
}
fn margareta() -> PersonId {
    id("196003012389")
}

const GOTTSUNDA: &str = "SE2321000024-GOT001";
const REGION_UPPSALA: &str = "SE2321000024-0001";
const FYRIS: &str = "SE5566778899-0001";
const FYRIS_UNIT: &str = "SE5566778899-HJ01";

fn settings() -> AccessSettings {
    AccessSettings { delegation: true }
}

fn ask<'a>(actor: Actor<'a>, patient: &'a PersonId) -> Ask<'a> {
    Ask {
        actor,
        patient,
        purpose: None,
        reason: None,
        now: now(),
    }
}

fn staff_actor<'a>(unit: &'a HsaId, provider: &'a HsaId) -> Actor<'a> {
    Actor::Staff {
        care_unit: unit,
        care_provider: provider,
    }
}

fn relationship(patient: &PersonId, unit: &str, until: DateTime<Utc>) -> CareRelationship {
    CareRelationship {
        id: "r".into(),
        patient: patient.clone(),
        care_unit: hsa(unit),
        care_provider: hsa(REGION_UPPSALA),
        registered_by: hsa("SE2321000024-P1234"),
        valid_from: now() - TimeDelta::days(1),
        valid_until: until,
        registered_at: now() - TimeDelta::days(1),
    }
}

fn consent(patient: &PersonId, unit: &str) -> Consent {
    Consent {
        id: "c".into(),
        patient: patient.clone(),
        care_unit: hsa(unit),
        care_unit_name: None,
        care_provider: hsa(REGION_UPPSALA),
        registered_by: hsa("SE2321000024-P1234"),
        registered_by_name: None,
        registered_by_profession: None,
        valid_from: now() - TimeDelta::days(1),
        valid_until: now() + TimeDelta::days(30),
        registered_at: now() - TimeDelta::days(1),
        withdrawn_at: None,
    }
}

fn block(patient: &PersonId, provider: &str, unit: Option<&str>) -> Block {
    Block {
        id: "b".into(),
        patient: patient.clone(),
        care_provider: hsa(provider),
        care_unit: unit.map(hsa),
        set_at: now() - TimeDelta::days(3),
        lifted_at: None,
    }
}

fn delegation(patient: &PersonId, delegate: &PersonId, domains: &[Domain]) -> Delegation {
    Delegation {
        id: "d".into(),
        patient: patient.clone(),
        delegate: delegate.clone(),
        domains: domains.to_vec(),
        valid_until: NaiveDate::from_ymd_opt(2027, 6, 30).unwrap(),
        granted_at: now() - TimeDelta::days(1),
        revoked_at: None,
    }
}

fn related_facts(patient: &PersonId) -> Facts {
    Facts {
        care_relationships: vec![relationship(patient, GOTTSUNDA, now() + TimeDelta::days(1))],
        ..Facts::default()
    }
}

fn source(provider: &str, unit: &str) -> SourceInfo {
    SourceInfo {
        id: "s".into(),
        name: "S".into(),
        system: None,
        care_provider: Organisation {
            name: Some("P".into()),
            hsa_id: Some(hsa(provider)),
        },
        default_care_unit: Some(Organisation {
            name: Some("U".into()),
            hsa_id: Some(hsa(unit)),
        }),
    }
}

fn provenance(provider: &str, unit: &str) -> Provenance {
    Provenance {
        source_id: "s".into(),
        source_name: "S".into(),
        system: None,
        care_unit: Some(Organisation {
            name: None,
            hsa_id: Some(hsa(unit)),
        }),
        care_provider: Some(Organisation {
            name: None,
            hsa_id: Some(hsa(provider)),
        }),
        record_id: "X/1".into(),
        fetched_at: now(),
    }
}

// --- patients -----------------------------------------------------------------------------

#[test]
fn a_patient_sees_their_own_overview_without_unapproved_items() {
    let me = tolvan();
    let grant = decide(
        &ask(Actor::Person(&me), &me),
        &Facts::default(),
        &settings(),
    )
    .unwrap();
    assert_eq!(grant.role, Role::Patient);
    assert!(grant.allows(Domain::LabResults));
    let p = provenance(FYRIS, FYRIS_UNIT);
    assert_eq!(grant.view.item(&p, true), Seen::Shown);
    assert_eq!(grant.view.item(&p, false), Seen::Hidden);
}

#[test]
fn a_person_may_not_see_someone_elses_overview_without_a_reason_in_the_rules() {
    let me = tolvan();
    let other = lena();
    assert_eq!(
        decide(
            &ask(Actor::Person(&me), &other),
            &Facts::default(),
            &settings()
        ),
        Err(Denial::Forbidden)
    );
}

#[test]
fn a_young_person_reads_their_own_record_from_sixteen_not_before() {
    let fifteen = born(NaiveDate::from_ymd_opt(2010, 11, 23).unwrap());
    let sixteen = born(NaiveDate::from_ymd_opt(2010, 11, 22).unwrap());
    assert_eq!(
        decide(
            &ask(Actor::Person(&fifteen), &fifteen),
            &Facts::default(),
            &settings()
        ),
        Err(Denial::Forbidden)
    );
    assert!(
        decide(
            &ask(Actor::Person(&sixteen), &sixteen),
            &Facts::default(),
            &settings()
        )
        .is_ok()
    );
}

#[test]
fn a_person_giving_a_purpose_is_told_it_is_for_staff() {
    let me = tolvan();
    let mut a = ask(Actor::Person(&me), &me);
    a.purpose = Some(Purpose::Care);
    assert!(matches!(
        decide(&a, &Facts::default(), &settings()),
        Err(Denial::InvalidArgument(_))
    ));
}

// --- guardians ----------------------------------------------------------------------------

fn child_entry(child: &PersonId, guardian: &PersonId, protected: bool) -> Facts {
    Facts {
        patient_entry: Some(PersonEntry {
            person: child.clone(),
            name: None,
            protected_identity: protected,
            guardians: vec![guardian.clone()],
        }),
        ..Facts::default()
    }
}

#[test]
fn a_guardian_acts_for_a_child_until_the_day_before_the_thirteenth_birthday() {
    let twelve = born(NaiveDate::from_ymd_opt(2013, 11, 23).unwrap());
    let thirteen = born(NaiveDate::from_ymd_opt(2013, 11, 22).unwrap());
    let guardian = lena();
    let grant = decide(
        &ask(Actor::Person(&guardian), &twelve),
        &child_entry(&twelve, &guardian, false),
        &settings(),
    )
    .unwrap();
    assert_eq!(grant.role, Role::Guardian);
    assert_eq!(
        grant.view.item(&provenance(FYRIS, FYRIS_UNIT), false),
        Seen::Hidden,
        "a guardian sees what the patient would"
    );
    assert_eq!(
        decide(
            &ask(Actor::Person(&guardian), &thirteen),
            &child_entry(&thirteen, &guardian, false),
            &settings()
        ),
        Err(Denial::Forbidden)
    );
}

#[test]
fn a_guardian_sees_nothing_of_a_child_with_protected_identity() {
    let child = born(NaiveDate::from_ymd_opt(2020, 6, 15).unwrap());
    let guardian = lena();
    assert_eq!(
        decide(
            &ask(Actor::Person(&guardian), &child),
            &child_entry(&child, &guardian, true),
            &settings()
        ),
        Err(Denial::Forbidden)
    );
}

#[test]
fn someone_who_is_not_the_childs_guardian_is_refused() {
    let child = born(NaiveDate::from_ymd_opt(2020, 6, 15).unwrap());
    let stranger = margareta();
    assert_eq!(
        decide(
            &ask(Actor::Person(&stranger), &child),
            &child_entry(&child, &lena(), false),
            &settings()
        ),
        Err(Denial::Forbidden)
    );
}

// --- delegates ----------------------------------------------------------------------------

#[test]
fn a_delegate_sees_only_the_delegated_domains_and_who_the_patient_is() {
    let patient = tolvan();
    let delegate = margareta();
    let facts = Facts {
        delegations: vec![delegation(&patient, &delegate, &[Domain::Medications])],
        ..Facts::default()
    };
    let grant = decide(
        &ask(Actor::Person(&delegate), &patient),
        &facts,
        &settings(),
    )
    .unwrap();
    assert_eq!(grant.role, Role::Delegate);
    assert!(grant.allows(Domain::Medications));
    assert!(grant.allows(Domain::Patient));
    assert!(!grant.allows(Domain::LabResults));
    assert_eq!(
        grant.view.item(&provenance(FYRIS, FYRIS_UNIT), false),
        Seen::Hidden
    );
}

#[test]
fn a_delegates_undelegated_lists_are_refused_as_forbidden_and_the_rest_is_not() {
    let patient = tolvan();
    let delegate = margareta();
    let facts = Facts {
        delegations: vec![delegation(&patient, &delegate, &[Domain::Medications])],
        ..Facts::default()
    };
    let grant = decide(
        &ask(Actor::Person(&delegate), &patient),
        &facts,
        &settings(),
    )
    .unwrap();
    let asked = [
        Domain::Patient,
        Domain::Medications,
        Domain::LabResults,
        Domain::Bookings,
    ];
    assert_eq!(
        grant.refusals(&asked),
        [
            (Domain::LabResults, Denial::Forbidden),
            (Domain::Bookings, Denial::Forbidden)
        ]
    );
    // Whoever sees every list is refused none.
    let me = tolvan();
    let own = decide(
        &ask(Actor::Person(&me), &me),
        &Facts::default(),
        &settings(),
    )
    .unwrap();
    assert_eq!(own.refusals(&asked), []);
}

#[test]
fn a_revoked_expired_or_someone_elses_delegation_gives_nothing() {
    let patient = tolvan();
    let delegate = margareta();
    let mut revoked = delegation(&patient, &delegate, &[Domain::Medications]);
    revoked.revoked_at = Some(now());
    let mut expired = delegation(&patient, &delegate, &[Domain::Bookings]);
    expired.valid_until = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
    let other_patient = delegation(&lena(), &delegate, &[Domain::Contacts]);
    let facts = Facts {
        delegations: vec![revoked, expired, other_patient],
        ..Facts::default()
    };
    assert_eq!(
        decide(
            &ask(Actor::Person(&delegate), &patient),
            &facts,
            &settings()
        ),
        Err(Denial::Forbidden)
    );
}

#[test]
fn a_delegation_is_valid_through_its_last_day() {
    let patient = tolvan();
    let delegate = margareta();
    let mut d = delegation(&patient, &delegate, &[Domain::Bookings]);
    d.valid_until = now().date_naive();
    let facts = Facts {
        delegations: vec![d],
        ..Facts::default()
    };
    assert!(
        decide(
            &ask(Actor::Person(&delegate), &patient),
            &facts,
            &settings()
        )
        .is_ok()
    );
}

#[test]
fn with_delegation_switched_off_delegations_are_not_honoured() {
    let patient = tolvan();
    let delegate = margareta();
    let facts = Facts {
        delegations: vec![delegation(&patient, &delegate, &[Domain::Medications])],
        ..Facts::default()
    };
    assert_eq!(
        decide(
            &ask(Actor::Person(&delegate), &patient),
            &facts,
            &AccessSettings { delegation: false }
        ),
        Err(Denial::Forbidden)
    );
}

// --- staff --------------------------------------------------------------------------------

fn staff_ask<'a>(
    unit: &'a HsaId,
    provider: &'a HsaId,
    patient: &'a PersonId,
    purpose: Option<Purpose>,
    reason: Option<&'a str>,
) -> Ask<'a> {
    Ask {
        purpose,
        reason,
        ..ask(staff_actor(unit, provider), patient)
    }
}

#[test]
fn staff_must_state_a_purpose() {
    let (unit, provider, patient) = (hsa(GOTTSUNDA), hsa(REGION_UPPSALA), tolvan());
    assert!(matches!(
        decide(
            &staff_ask(&unit, &provider, &patient, None, None),
            &related_facts(&patient),
            &settings()
        ),
        Err(Denial::InvalidArgument(_))
    ));
}

#[test]
fn staff_without_an_active_care_relationship_are_refused_even_in_an_emergency() {
    let (unit, provider, patient) = (hsa(GOTTSUNDA), hsa(REGION_UPPSALA), tolvan());
    let ended = Facts {
        care_relationships: vec![relationship(&patient, GOTTSUNDA, now())],
        ..Facts::default()
    };
    let other_unit = Facts {
        care_relationships: vec![relationship(
            &patient,
            "SE2321000024-AKS000",
            now() + TimeDelta::days(1),
        )],
        ..Facts::default()
    };
    for facts in [&Facts::default(), &ended, &other_unit] {
        for (purpose, reason) in [
            (Purpose::Care, None),
            (Purpose::Emergency, Some("unconscious")),
        ] {
            assert_eq!(
                decide(
                    &staff_ask(&unit, &provider, &patient, Some(purpose), reason),
                    facts,
                    &settings()
                ),
                Err(Denial::Forbidden)
            );
        }
    }
}

#[test]
fn in_ordinary_care_without_consent_staff_see_only_their_own_providers_data() {
    let (unit, provider, patient) = (hsa(GOTTSUNDA), hsa(REGION_UPPSALA), tolvan());
    let grant = decide(
        &staff_ask(&unit, &provider, &patient, Some(Purpose::Care), None),
        &related_facts(&patient),
        &settings(),
    )
    .unwrap();
    assert!(grant.consent_missing);
    assert!(!grant.emergency);
    assert_eq!(
        grant
            .view
            .source(&source(REGION_UPPSALA, "SE2321000024-AKS000")),
        SourceAccess::Ask
    );
    assert_eq!(
        grant.view.source(&source(FYRIS, FYRIS_UNIT)),
        SourceAccess::Skip
    );
    assert_eq!(
        grant.view.item(&provenance(FYRIS, FYRIS_UNIT), true),
        Seen::Hidden
    );
    assert_eq!(
        grant
            .view
            .item(&provenance(REGION_UPPSALA, "SE2321000024-AKS000"), false),
        Seen::Shown,
        "staff see records not yet approved for the patient"
    );
}

#[test]
fn with_consent_for_their_unit_staff_see_other_providers_data() {
    let (unit, provider, patient) = (hsa(GOTTSUNDA), hsa(REGION_UPPSALA), tolvan());
    let mut facts = related_facts(&patient);
    facts.consents.push(consent(&patient, GOTTSUNDA));
    let grant = decide(
        &staff_ask(&unit, &provider, &patient, Some(Purpose::Care), None),
        &facts,
        &settings(),
    )
    .unwrap();
    assert!(!grant.consent_missing);
    assert_eq!(
        grant.view.source(&source(FYRIS, FYRIS_UNIT)),
        SourceAccess::Ask
    );
    assert_eq!(
        grant.view.item(&provenance(FYRIS, FYRIS_UNIT), true),
        Seen::Shown
    );
}

#[test]
fn consent_for_another_unit_withdrawn_expired_or_not_yet_valid_does_not_count() {
    let (unit, provider, patient) = (hsa(GOTTSUNDA), hsa(REGION_UPPSALA), tolvan());
    let other_unit = consent(&patient, "SE2321000024-AKS000");
    let mut withdrawn = consent(&patient, GOTTSUNDA);
    withdrawn.withdrawn_at = Some(now() - TimeDelta::hours(1));
    let mut expired = consent(&patient, GOTTSUNDA);
    expired.valid_until = now();
    let mut future = consent(&patient, GOTTSUNDA);
    future.valid_from = now() + TimeDelta::hours(1);
    for c in [other_unit, withdrawn, expired, future] {
        let mut facts = related_facts(&patient);
        facts.consents.push(c);
        let grant = decide(
            &staff_ask(&unit, &provider, &patient, Some(Purpose::Care), None),
            &facts,
            &settings(),
        )
        .unwrap();
        assert!(grant.consent_missing);
        assert_eq!(
            grant.view.source(&source(FYRIS, FYRIS_UNIT)),
            SourceAccess::Skip
        );
    }
}

#[test]
fn emergency_access_needs_a_reason() {
    let (unit, provider, patient) = (hsa(GOTTSUNDA), hsa(REGION_UPPSALA), tolvan());
    for reason in [None, Some(""), Some("   ")] {
        assert_eq!(
            decide(
                &staff_ask(&unit, &provider, &patient, Some(Purpose::Emergency), reason),
                &related_facts(&patient),
                &settings()
            ),
            Err(Denial::ReasonRequired)
        );
    }
    let long = "x".repeat(MAX_REASON_CHARS + 1);
    assert!(matches!(
        decide(
            &staff_ask(
                &unit,
                &provider,
                &patient,
                Some(Purpose::Emergency),
                Some(&long)
            ),
            &related_facts(&patient),
            &settings()
        ),
        Err(Denial::InvalidArgument(_))
    ));
}

#[test]
fn an_emergency_reason_of_only_invisible_characters_is_refused() {
    let (unit, provider, patient) = (hsa(GOTTSUNDA), hsa(REGION_UPPSALA), tolvan());
    for reason in [
        "\u{200B}\u{00A0}",
        "\u{FEFF}",
        "\u{200C}\u{200D}\u{2060}",
        "\u{202E}\u{2066}\u{2069}",
        " \u{3000}\u{2028}\t",
        "\u{0007}\u{00AD}\u{3164}",
    ] {
        assert_eq!(
            decide(
                &staff_ask(
                    &unit,
                    &provider,
                    &patient,
                    Some(Purpose::Emergency),
                    Some(reason)
                ),
                &related_facts(&patient),
                &settings()
            ),
            Err(Denial::ReasonRequired),
            "{reason:?}"
        );
    }
}

#[test]
fn an_emergency_reason_with_visible_characters_among_invisible_ones_is_accepted() {
    let (unit, provider, patient) = (hsa(GOTTSUNDA), hsa(REGION_UPPSALA), tolvan());
    let grant = decide(
        &staff_ask(
            &unit,
            &provider,
            &patient,
            Some(Purpose::Emergency),
            Some("\u{200B}medvetslös\u{00A0}"),
        ),
        &related_facts(&patient),
        &settings(),
    )
    .unwrap();
    assert!(grant.emergency);
}

#[test]
fn emergency_access_is_allowed_without_consent_and_flagged() {
    let (unit, provider, patient) = (hsa(GOTTSUNDA), hsa(REGION_UPPSALA), tolvan());
    let grant = decide(
        &staff_ask(
            &unit,
            &provider,
            &patient,
            Some(Purpose::Emergency),
            Some("unconscious after a fall"),
        ),
        &related_facts(&patient),
        &settings(),
    )
    .unwrap();
    assert!(grant.emergency);
    assert!(!grant.consent_missing);
    assert_eq!(
        grant.view.source(&source(FYRIS, FYRIS_UNIT)),
        SourceAccess::Ask
    );
}

#[test]
fn a_block_hides_a_providers_data_from_other_providers_staff_even_in_an_emergency() {
    let (unit, provider, patient) = (hsa(GOTTSUNDA), hsa(REGION_UPPSALA), tolvan());
    let mut facts = related_facts(&patient);
    facts.consents.push(consent(&patient, GOTTSUNDA));
    facts.blocks.push(block(&patient, FYRIS, None));
    let care = decide(
        &staff_ask(&unit, &provider, &patient, Some(Purpose::Care), None),
        &facts,
        &settings(),
    )
    .unwrap();
    assert_eq!(
        care.view.source(&source(FYRIS, FYRIS_UNIT)),
        SourceAccess::Skip
    );
    assert_eq!(
        care.view.item(&provenance(FYRIS, FYRIS_UNIT), true),
        Seen::Blocked
    );
    let emergency = decide(
        &staff_ask(
            &unit,
            &provider,
            &patient,
            Some(Purpose::Emergency),
            Some("unconscious"),
        ),
        &facts,
        &settings(),
    )
    .unwrap();
    assert_eq!(
        emergency.view.source(&source(FYRIS, FYRIS_UNIT)),
        SourceAccess::AskForBlockNotice
    );
    assert!(emergency.view.reports_blocked());
    assert_eq!(
        emergency.view.item(&provenance(FYRIS, FYRIS_UNIT), true),
        Seen::Blocked
    );
}

#[test]
fn a_block_on_one_unit_hides_only_that_units_records() {
    let (unit, provider, patient) = (hsa(GOTTSUNDA), hsa(REGION_UPPSALA), tolvan());
    let mut facts = related_facts(&patient);
    facts.consents.push(consent(&patient, GOTTSUNDA));
    facts.blocks.push(block(&patient, FYRIS, Some(FYRIS_UNIT)));
    let grant = decide(
        &staff_ask(&unit, &provider, &patient, Some(Purpose::Care), None),
        &facts,
        &settings(),
    )
    .unwrap();
    assert_eq!(
        grant.view.source(&source(FYRIS, FYRIS_UNIT)),
        SourceAccess::Ask
    );
    assert_eq!(
        grant.view.item(&provenance(FYRIS, FYRIS_UNIT), true),
        Seen::Blocked
    );
    assert_eq!(
        grant
            .view
            .item(&provenance(FYRIS, "SE5566778899-HJ02"), true),
        Seen::Shown
    );
}

#[test]
fn a_block_does_not_hide_a_providers_data_from_its_own_staff_and_a_lifted_block_hides_nothing() {
    let (unit, provider, patient) = (hsa(GOTTSUNDA), hsa(REGION_UPPSALA), tolvan());
    let mut facts = related_facts(&patient);
    facts.blocks.push(block(&patient, REGION_UPPSALA, None));
    let mut lifted = block(&patient, FYRIS, None);
    lifted.lifted_at = Some(now());
    facts.blocks.push(lifted);
    facts.consents.push(consent(&patient, GOTTSUNDA));
    let grant = decide(
        &staff_ask(&unit, &provider, &patient, Some(Purpose::Care), None),
        &facts,
        &settings(),
    )
    .unwrap();
    assert_eq!(
        grant
            .view
            .item(&provenance(REGION_UPPSALA, "SE2321000024-AKS000"), true),
        Seen::Shown
    );
    assert_eq!(
        grant.view.item(&provenance(FYRIS, FYRIS_UNIT), true),
        Seen::Shown
    );
}

#[test]
fn viewers_who_see_different_items_never_share_a_merged_list() {
    let (unit, provider, patient) = (hsa(GOTTSUNDA), hsa(REGION_UPPSALA), tolvan());
    let me = tolvan();
    let patient_view = decide(
        &ask(Actor::Person(&me), &me),
        &Facts::default(),
        &settings(),
    )
    .unwrap()
    .view;
    let mut facts = related_facts(&patient);
    let without_consent = decide(
        &staff_ask(&unit, &provider, &patient, Some(Purpose::Care), None),
        &facts,
        &settings(),
    )
    .unwrap()
    .view;
    facts.consents.push(consent(&patient, GOTTSUNDA));
    let with_consent = decide(
        &staff_ask(&unit, &provider, &patient, Some(Purpose::Care), None),
        &facts,
        &settings(),
    )
    .unwrap()
    .view;
    facts.blocks.push(block(&patient, FYRIS, Some(FYRIS_UNIT)));
    let with_block = decide(
        &staff_ask(&unit, &provider, &patient, Some(Purpose::Care), None),
        &facts,
        &settings(),
    )
    .unwrap()
    .view;
    let prints = [
        patient_view.fingerprint(),
        without_consent.fingerprint(),
        with_consent.fingerprint(),
        with_block.fingerprint(),
    ];
    for (i, a) in prints.iter().enumerate() {
        for b in &prints[i + 1..] {
            assert_ne!(a, b);
        }
    }
}
