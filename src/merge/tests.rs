//! Tests of the merge: the rules one by one, the properties (order independence, idempotence,
//! unique and stable ids), and snapshots of a realistic mixed input per domain.

use std::fmt::Debug;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use super::{Mergeable, merge};
use crate::domain::*;

// ---------------------------------------------------------------------------------------------
// Builders

const ATC: &str = "http://www.whocc.no/atc";
const LOINC: &str = "http://loinc.org";
const NPU: &str = "urn:oid:1.2.208.176.2.1";
const PRESCRIPTION: &str = "https://demo.overblick.se/identifier/forskrivning";
const BOOKING_ID: &str = "https://demo.overblick.se/identifier/bokning";
const LAB_ID: &str = "https://demo.overblick.se/identifier/provsvar";
const PLAN_ID: &str = "https://demo.overblick.se/identifier/vardplan";

fn fetched_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 8, 0, 0).unwrap()
}

fn source_name(source_id: &str) -> &'static str {
    match source_id {
        "akademiska" => "Akademiska sjukhuset",
        "gottsunda-vc" => "Gottsunda vårdcentral",
        "uppsala-kommun" => "Uppsala kommun, vård och omsorg",
        "capio-city" => "Capio Citykliniken",
        "webbtidbok" => "Webbtidbok",
        _ => "Testkälla",
    }
}

/// One record as `source` reported it, without identifiers.
fn at<T>(source: &str, record: &str, item: T) -> Sourced<T> {
    Sourced {
        item,
        identifiers: Vec::new(),
        provenance: Provenance {
            source_id: source.to_owned(),
            source_name: source_name(source).to_owned(),
            system: None,
            care_unit: None,
            care_provider: None,
            record_id: record.to_owned(),
            fetched_at: fetched_at(),
        },
        approved_for_patient: true,
    }
}

trait WithIdentifier {
    fn id(self, system: &str, value: &str) -> Self;
    fn id_without_system(self, value: &str) -> Self;
}

impl<T> WithIdentifier for Sourced<T> {
    fn id(mut self, system: &str, value: &str) -> Self {
        self.identifiers.push(Identifier {
            system: Some(system.to_owned()),
            value: value.to_owned(),
        });
        self
    }

    fn id_without_system(mut self, value: &str) -> Self {
        self.identifiers.push(Identifier {
            system: None,
            value: value.to_owned(),
        });
        self
    }
}

fn date(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d)
}

fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn code(system: &str, code: &str, display: &str) -> Option<Code> {
    Some(Code {
        system: Some(system.to_owned()),
        code: Some(code.to_owned()),
        display: Some(display.to_owned()),
    })
}

fn quantity(value: f64, unit: &str) -> Option<Quantity> {
    Some(Quantity {
        value,
        unit: Some(unit.to_owned()),
        unit_code: None,
    })
}

fn ucum(value: f64, unit: &str, unit_code: &str) -> Option<Quantity> {
    Some(Quantity {
        value,
        unit: Some(unit.to_owned()),
        unit_code: Some(unit_code.to_owned()),
    })
}

fn hsa(id: &str) -> Option<HsaId> {
    Some(HsaId::parse(id).unwrap())
}

fn unit(name: Option<&str>, hsa_id: Option<&str>) -> Option<Organisation> {
    Some(Organisation {
        name: name.map(str::to_owned),
        hsa_id: hsa_id.map(|id| HsaId::parse(id).unwrap()),
    })
}

fn text(t: &str) -> Option<String> {
    Some(t.to_owned())
}

fn medication(name: &str, atc: Option<&str>, start: Option<NaiveDate>) -> Medication {
    Medication {
        name: name.to_owned(),
        code: atc.and_then(|c| code(ATC, c, name)),
        dosage: None,
        dose: None,
        status: MedicationStatus::Active,
        record_kind: MedicationRecordKind::Prescription,
        start,
        end: None,
        prescriber: None,
        reason: None,
    }
}

fn contact(role: ContactRole, name: &str) -> Contact {
    Contact {
        role,
        role_text: None,
        name: text(name),
        profession: None,
        hsa_id: None,
        care_unit: None,
        phone: None,
        email: None,
        start: None,
        end: None,
    }
}

fn care_plan(kind: CarePlanKind, title: &str, start: Option<NaiveDate>) -> CarePlan {
    CarePlan {
        title: title.to_owned(),
        kind,
        category: None,
        status: PlanStatus::Active,
        description: None,
        start,
        end: None,
        next_review: None,
        owner: None,
        care_unit: None,
    }
}

fn agreement(kind: AgreementKind, description: &str) -> Agreement {
    Agreement {
        kind,
        description: description.to_owned(),
        status: AgreementStatus::Active,
        responsible: None,
        start: None,
        due: None,
        care_plan: None,
    }
}

fn measurement(name: &str, code: Option<Code>, time: Option<&str>) -> Measurement {
    Measurement {
        name: name.to_owned(),
        code,
        value: None,
        value_text: None,
        components: Vec::new(),
        time: time.map(instant),
        status: ResultStatus::Final,
        measured_by: MeasuredBy::Care,
    }
}

fn component(name: &str, loinc: &str, value: f64) -> MeasurementComponent {
    MeasurementComponent {
        name: name.to_owned(),
        code: code(LOINC, loinc, name),
        value: ucum(value, "mmHg", "mm[Hg]"),
    }
}

fn lab(analysis: &str, code: Option<Code>, time: Option<&str>) -> LabResult {
    LabResult {
        analysis: analysis.to_owned(),
        code,
        value: None,
        value_text: None,
        reference_range: None,
        abnormal: None,
        interpretation: None,
        time: time.map(instant),
        status: ResultStatus::Final,
        report: None,
        laboratory: None,
        report_id: None,
        comment: None,
    }
}

fn booking(start: &str, care_unit: Option<Organisation>) -> Booking {
    Booking {
        start: instant(start),
        end: None,
        status: BookingStatus::Booked,
        title: None,
        service_type: None,
        care_unit,
        location: None,
        practitioner: None,
        patient_may_cancel: None,
        patient_may_rebook: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers for the properties

/// The records of each merged item, as `source/record`.
fn records<T>(merged: &[Merged<T>]) -> Vec<Vec<String>> {
    merged
        .iter()
        .map(|m| {
            m.provenance
                .iter()
                .map(|p| format!("{}/{}", p.source_id, p.record_id))
                .collect()
        })
        .collect()
}

/// A deterministic Fisher–Yates shuffle (xorshift), so that failures reproduce.
fn shuffled<T: Clone>(items: &[T], seed: u64) -> Vec<T> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = items.to_vec();
    for i in (1..out.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.swap(i, (state % (i as u64 + 1)) as usize);
    }
    out
}

fn assert_order_independent<T: Mergeable + PartialEq + Debug>(items: &[Sourced<T>]) {
    let expected = merge(items);
    let mut orders = vec![items.iter().rev().cloned().collect::<Vec<_>>()];
    for n in 1..items.len() {
        let mut rotated = items.to_vec();
        rotated.rotate_left(n);
        orders.push(rotated);
    }
    orders.extend((0..30).map(|seed| shuffled(items, seed)));
    for order in orders {
        assert_eq!(merge(&order), expected);
    }
}

/// Every merged item re-wrapped as one sourced item per provenance, as a cache would hold it.
fn rewrapped<T: Clone>(merged: &[Merged<T>]) -> Vec<Sourced<T>> {
    merged
        .iter()
        .flat_map(|m| {
            m.provenance.iter().map(|p| Sourced {
                item: m.item.clone(),
                identifiers: m.identifiers.clone(),
                provenance: p.clone(),
                approved_for_patient: true,
            })
        })
        .collect()
}

fn assert_idempotent<T: Mergeable + PartialEq + Debug>(items: &[Sourced<T>]) {
    let once = merge(items);
    assert_eq!(merge(&rewrapped(&once)), once);
}

fn assert_ids_unique_and_well_formed<T: Mergeable>(merged: &[Merged<T>]) {
    let mut ids: Vec<&str> = merged.iter().map(|m| m.id.as_str()).collect();
    for id in &ids {
        let (prefix, hex) = id.split_once('_').unwrap();
        assert_eq!(prefix, T::ID_PREFIX);
        assert_eq!(hex.len(), 20, "{id}");
        assert!(
            hex.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), merged.len(), "ids are unique");
}

// ---------------------------------------------------------------------------------------------
// Realistic mixed inputs, one per domain

fn medications() -> Vec<Sourced<Medication>> {
    let eliquis = Medication {
        dose: quantity(5.0, "mg"),
        dosage: text("1 tablett 2 gånger dagligen"),
        ..medication("Eliquis 5 mg tablett", Some("B01AF02"), date(2025, 3, 1))
    };
    let metformin = Medication {
        dose: quantity(500.0, "mg"),
        dosage: text("1 tablett morgon och kväll"),
        ..medication(
            "Metformin Teva 500 mg tablett",
            Some("A10BA02"),
            date(2024, 1, 10),
        )
    };
    let alvedon = Medication {
        dosage: text("1-2 tabletter vid behov, högst 8 per dygn"),
        status: MedicationStatus::Ended,
        end: date(2023, 8, 1),
        ..medication("Alvedon 500 mg tablett", None, date(2023, 5, 1))
    };
    vec![
        at(
            "akademiska",
            "MedicationRequest/a-101",
            Medication {
                prescriber: text("Eva Lind"),
                ..eliquis.clone()
            },
        )
        .id(PRESCRIPTION, "RX-1001"),
        at(
            "gottsunda-vc",
            "MedicationRequest/g-7",
            Medication {
                dosage: None,
                reason: text("Förmaksflimmer"),
                ..eliquis.clone()
            },
        )
        .id(PRESCRIPTION, "RX-1001"),
        at(
            "uppsala-kommun",
            "MedicationStatement/k-3",
            Medication {
                dose: ucum(5.00, "mg", "mg"),
                record_kind: MedicationRecordKind::Statement,
                ..eliquis
            },
        ),
        at("akademiska", "MedicationRequest/a-102", metformin.clone()).id(PRESCRIPTION, "RX-0870"),
        at(
            "gottsunda-vc",
            "MedicationRequest/g-9",
            Medication {
                dose: quantity(1000.0, "mg"),
                dosage: text("1 tablett morgon och kväll"),
                ..medication(
                    "Metformin Teva 1000 mg tablett",
                    Some("A10BA02"),
                    date(2024, 1, 10),
                )
            },
        )
        .id(PRESCRIPTION, "RX-0871"),
        at("gottsunda-vc", "MedicationRequest/g-2", alvedon.clone()),
        at(
            "uppsala-kommun",
            "MedicationStatement/k-1",
            Medication {
                name: " alvedon  500 mg tablett".to_owned(),
                dosage: text("1-2 Tabletter vid behov,  högst 8 per dygn "),
                end: None,
                record_kind: MedicationRecordKind::Statement,
                ..alvedon
            },
        ),
        at(
            "uppsala-kommun",
            "MedicationStatement/k-2",
            Medication {
                dosage: text("1 tablett till natten"),
                ..medication("Simvastatin 20 mg tablett", Some("C10AA01"), None)
            },
        ),
    ]
}

fn contacts() -> Vec<Sourced<Contact>> {
    let cardiology = unit(Some("Kardiologmottagningen"), Some("SE2321000016-K001"));
    let eva = Contact {
        role_text: text("Fast läkarkontakt"),
        profession: text("Läkare"),
        hsa_id: hsa("SE2321000016-E5LD"),
        care_unit: cardiology.clone(),
        ..contact(ContactRole::NamedDoctor, "Eva Lind")
    };
    vec![
        at(
            "akademiska",
            "PractitionerRole/pr-1",
            Contact {
                phone: text("018-611 00 00"),
                ..eva.clone()
            },
        ),
        at(
            "gottsunda-vc",
            "PractitionerRole/pr-40",
            Contact {
                care_unit: None,
                email: text("eva.lind@example.se"),
                ..eva.clone()
            },
        ),
        at(
            "gottsunda-vc",
            "PractitionerRole/pr-41",
            Contact {
                role_text: text("Ingår i vårdteamet"),
                hsa_id: eva.hsa_id.clone(),
                ..contact(ContactRole::CareTeamMember, "Eva Lind")
            },
        ),
        at(
            "akademiska",
            "PractitionerRole/pr-2",
            Contact {
                profession: text("Sjuksköterska"),
                care_unit: cardiology.clone(),
                ..contact(ContactRole::NamedCareContact, "Sara Ek")
            },
        ),
        at(
            "gottsunda-vc",
            "PractitionerRole/pr-42",
            Contact {
                phone: text("018-611 22 22"),
                care_unit: cardiology.clone(),
                ..contact(ContactRole::NamedCareContact, "sara  ek")
            },
        ),
        at(
            "uppsala-kommun",
            "PractitionerRole/k-1",
            Contact {
                profession: text("Undersköterska"),
                care_unit: unit(Some("Hemtjänst Gottsunda"), None),
                ..contact(ContactRole::MunicipalCareContact, "Kim Berg")
            },
        ),
        at(
            "akademiska",
            "PractitionerRole/pr-3",
            Contact {
                hsa_id: hsa("SE2321000016-AS11"),
                care_unit: cardiology.clone(),
                ..contact(ContactRole::CareTeamMember, "Anna Ström")
            },
        ),
        at(
            "gottsunda-vc",
            "PractitionerRole/pr-43",
            Contact {
                hsa_id: hsa("SE2321000016-AS22"),
                care_unit: cardiology,
                ..contact(ContactRole::CareTeamMember, "Anna Ström")
            },
        ),
    ]
}

fn care_plans() -> Vec<Sourced<CarePlan>> {
    let sip = CarePlan {
        category: text("SIP"),
        owner: text("Eva Lind"),
        ..care_plan(
            CarePlanKind::Sip,
            "Samordnad individuell plan",
            date(2025, 2, 1),
        )
    };
    let rehab = CarePlan {
        status: PlanStatus::Completed,
        end: date(2025, 1, 15),
        ..care_plan(
            CarePlanKind::RehabilitationPlan,
            "Rehabiliteringsplan efter stroke",
            date(2024, 10, 1),
        )
    };
    vec![
        at("akademiska", "CarePlan/cp-1", sip.clone()).id(PLAN_ID, "VP-77"),
        at(
            "uppsala-kommun",
            "CarePlan/k-cp-1",
            CarePlan {
                owner: None,
                next_review: date(2025, 8, 1),
                care_unit: unit(Some("Biståndsenheten"), None),
                ..sip
            },
        )
        .id(PLAN_ID, "VP-77"),
        at("akademiska", "CarePlan/cp-2", rehab.clone()),
        at(
            "gottsunda-vc",
            "CarePlan/g-cp-5",
            CarePlan {
                title: "REHABILITERINGSPLAN efter  stroke".to_owned(),
                description: text("Träning två gånger i veckan"),
                ..rehab
            },
        ),
        at(
            "gottsunda-vc",
            "CarePlan/g-cp-6",
            CarePlan {
                status: PlanStatus::Draft,
                ..care_plan(CarePlanKind::CarePlan, "Vårdplan diabetes", None)
            },
        ),
    ]
}

fn agreements() -> Vec<Sourced<Agreement>> {
    let walk = Agreement {
        start: date(2025, 2, 1),
        due: date(2025, 6, 1),
        responsible: text("Patienten"),
        ..agreement(AgreementKind::Goal, "Promenera 30 minuter varje dag")
    };
    vec![
        at("akademiska", "Goal/g-1", walk.clone()),
        at(
            "uppsala-kommun",
            "Goal/k-g-1",
            Agreement {
                responsible: None,
                care_plan: text("Samordnad individuell plan"),
                ..walk
            },
        ),
        at(
            "uppsala-kommun",
            "CarePlan/k-cp-1#activity-1",
            agreement(
                AgreementKind::Activity,
                "Hemtjänsten hjälper med dusch två gånger i veckan",
            ),
        ),
        at(
            "gottsunda-vc",
            "Goal/g-8",
            Agreement {
                status: AgreementStatus::Planned,
                due: date(2025, 5, 1),
                ..agreement(AgreementKind::SelfCare, "Mäta blodtrycket varje morgon")
            },
        ),
        // One source keeps two agreements apart though both carry their plan's id: the ids
        // collide and fall back to provenance.
        at(
            "akademiska",
            "CarePlan/cp-1#activity-1",
            Agreement {
                due: date(2025, 4, 1),
                ..agreement(AgreementKind::Goal, "Gå ner 5 kg")
            },
        )
        .id(PLAN_ID, "VP-77"),
        at(
            "akademiska",
            "CarePlan/cp-1#activity-2",
            Agreement {
                responsible: text("Dietist"),
                ..agreement(AgreementKind::Activity, "Kostrådgivning")
            },
        )
        .id(PLAN_ID, "VP-77"),
    ]
}

fn measurements() -> Vec<Sourced<Measurement>> {
    let blood_pressure = Measurement {
        components: vec![
            component("Systoliskt blodtryck", "8480-6", 142.0),
            component("Diastoliskt blodtryck", "8462-4", 88.0),
        ],
        ..measurement(
            "Blodtryck",
            code(LOINC, "85354-9", "Blood pressure panel"),
            Some("2025-03-10T08:15:00Z"),
        )
    };
    let weight = |value: f64, time: &str, by: MeasuredBy| Measurement {
        value: ucum(value, "kg", "kg"),
        measured_by: by,
        ..measurement(
            "Kroppsvikt",
            code(LOINC, "29463-7", "Body weight"),
            Some(time),
        )
    };
    vec![
        at("akademiska", "Observation/o-1", blood_pressure.clone()),
        at(
            "gottsunda-vc",
            "Observation/g-o-1",
            Measurement {
                components: blood_pressure.components.iter().rev().cloned().collect(),
                time: Some(instant("2025-03-10T08:15:00.400Z")),
                status: ResultStatus::Amended,
                ..blood_pressure
            },
        ),
        at(
            "akademiska",
            "Observation/o-2",
            weight(82.5, "2025-03-10T08:20:00Z", MeasuredBy::Care),
        ),
        at(
            "egen-matning",
            "Observation/e-1",
            weight(81.9, "2025-03-14T07:00:00Z", MeasuredBy::Patient),
        ),
        at(
            "egen-matning",
            "Observation/e-2",
            Measurement {
                value: quantity(6.1, "mmol/L"),
                measured_by: MeasuredBy::Patient,
                ..measurement("P-Glukos (egen mätning)", None, None)
            },
        ),
    ]
}

fn lab_results() -> Vec<Sourced<LabResult>> {
    let glucose = LabResult {
        value: ucum(6.8, "mmol/L", "mmol/L"),
        reference_range: Some(ReferenceRange {
            low: ucum(4.0, "mmol/L", "mmol/L"),
            high: ucum(6.0, "mmol/L", "mmol/L"),
            text: None,
        }),
        abnormal: Some(AbnormalFlag::High),
        ..lab(
            "P-Glukos",
            code(NPU, "NPU02192", "P—Glukos; subst.konc."),
            Some("2025-03-10T07:30:00Z"),
        )
    };
    let hb = LabResult {
        value: ucum(128.0, "g/L", "g/L"),
        ..lab(
            "B-Hemoglobin (Hb)",
            code(NPU, "NPU28309", "B—Hemoglobin; massekonc."),
            Some("2025-03-10T07:30:00Z"),
        )
    };
    let covid = LabResult {
        value_text: text("Ej påvisat"),
        ..lab("SARS-CoV-2 RNA", None, Some("2024-12-01T10:00:00Z"))
    };
    vec![
        at("akademiska", "Observation/l-1", glucose.clone()).id(LAB_ID, "L-555"),
        at(
            "gottsunda-vc",
            "Observation/g-l-1",
            LabResult {
                abnormal: None,
                reference_range: None,
                laboratory: text("Klinisk kemi, Akademiska sjukhuset"),
                ..glucose
            },
        )
        .id(LAB_ID, "L-555"),
        at("akademiska", "Observation/l-2", hb.clone()),
        at(
            "gottsunda-vc",
            "Observation/g-l-2",
            LabResult {
                value: quantity(128.00, "g/l"),
                report: text("Blodstatus"),
                ..hb.clone()
            },
        ),
        // Coded in another system: no shared coding, so not merged with the NPU-coded Hb.
        at(
            "capio-city",
            "Observation/c-9",
            LabResult {
                code: code(LOINC, "718-7", "Hemoglobin [Mass/volume] in Blood"),
                ..hb
            },
        ),
        at("akademiska", "Observation/l-3", covid.clone()),
        at(
            "capio-city",
            "Observation/c-4",
            LabResult {
                value_text: text("  ej  PÅVISAT "),
                ..covid
            },
        ),
    ]
}

fn bookings() -> Vec<Sourced<Booking>> {
    let cardiology = unit(Some("Kardiologmottagningen"), Some("SE2321000016-K001"));
    vec![
        at(
            "akademiska",
            "Appointment/b-1",
            Booking {
                title: text("Återbesök hjärtmottagningen"),
                end: Some(instant("2025-04-02T09:30:00Z")),
                patient_may_cancel: Some(true),
                ..booking("2025-04-02T09:00:00Z", cardiology.clone())
            },
        )
        .id(BOOKING_ID, "B-9001"),
        at(
            "webbtidbok",
            "Appointment/w-77",
            Booking {
                practitioner: text("Eva Lind"),
                patient_may_rebook: Some(false),
                ..booking("2025-04-02T09:00:00Z", cardiology.clone())
            },
        )
        .id(BOOKING_ID, "B-9001"),
        at(
            "gottsunda-vc",
            "Appointment/g-b-3",
            Booking {
                title: text("Diabetesuppföljning"),
                ..booking(
                    "2025-04-10T13:30:00Z",
                    unit(Some("Gottsunda vårdcentral"), None),
                )
            },
        ),
        at(
            "webbtidbok",
            "Appointment/w-80",
            Booking {
                location: text("Rum 4"),
                patient_may_cancel: Some(true),
                ..booking(
                    "2025-04-10T13:30:00Z",
                    unit(Some("gottsunda  vårdcentral"), None),
                )
            },
        ),
        at(
            "uppsala-kommun",
            "Appointment/k-b-1",
            Booking {
                title: text("Hemsjukvård: såromläggning"),
                ..booking("2025-04-02T09:00:00Z", None)
            },
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Matching

#[test]
fn the_same_prescription_from_two_sources_becomes_one_item_with_two_provenances() {
    let eliquis = Medication {
        dose: quantity(5.0, "mg"),
        ..medication("Eliquis", Some("B01AF02"), date(2025, 3, 1))
    };
    let items = [
        at("gottsunda-vc", "MedicationRequest/g-7", eliquis.clone()).id(PRESCRIPTION, "RX-1"),
        at("akademiska", "MedicationRequest/a-1", eliquis).id(PRESCRIPTION, "RX-1"),
    ];
    let merged = merge(&items);
    assert_eq!(
        records(&merged),
        [[
            "akademiska/MedicationRequest/a-1",
            "gottsunda-vc/MedicationRequest/g-7"
        ]]
    );
    assert_eq!(merged[0].identifiers, items[0].identifiers);
}

#[test]
fn a_prescription_without_identifier_matches_on_drug_dose_and_start() {
    let eliquis = Medication {
        dose: ucum(5.0, "mg", "mg"),
        ..medication("Eliquis", Some("B01AF02"), date(2025, 3, 1))
    };
    let items = [
        at("akademiska", "a-1", eliquis.clone()).id(PRESCRIPTION, "RX-1"),
        at(
            "uppsala-kommun",
            "k-1",
            Medication {
                name: "Eliquis 5 mg tablett".to_owned(),
                dose: quantity(5.000, "MG"),
                ..eliquis
            },
        ),
    ];
    assert_eq!(
        records(&merge(&items)),
        [["akademiska/a-1", "uppsala-kommun/k-1"]]
    );
}

#[test]
fn two_different_doses_of_the_same_drug_are_never_merged() {
    let metformin = medication("Metformin", Some("A10BA02"), date(2024, 1, 10));
    let items = [
        at(
            "akademiska",
            "a-1",
            Medication {
                dose: quantity(500.0, "mg"),
                ..metformin.clone()
            },
        ),
        at(
            "gottsunda-vc",
            "g-1",
            Medication {
                dose: quantity(1000.0, "mg"),
                ..metformin.clone()
            },
        ),
        at(
            "uppsala-kommun",
            "k-1",
            Medication {
                dose: quantity(500.0, "g"),
                ..metformin
            },
        ),
    ];
    assert_eq!(merge(&items).len(), 3);
}

#[test]
fn a_structured_dose_never_matches_a_dosage_text_alone() {
    let drug = medication("Eliquis", Some("B01AF02"), date(2025, 3, 1));
    let items = [
        at(
            "akademiska",
            "a-1",
            Medication {
                dose: quantity(5.0, "mg"),
                dosage: text("1 tablett 2 gånger dagligen"),
                ..drug.clone()
            },
        ),
        at(
            "uppsala-kommun",
            "k-1",
            Medication {
                dosage: text("1 tablett 2 gånger dagligen"),
                ..drug.clone()
            },
        ),
        // Neither dose nor dosage: the dose cannot be confirmed, so no match either.
        at("gottsunda-vc", "g-1", drug),
    ];
    assert_eq!(merge(&items).len(), 3);
}

#[test]
fn uncoded_medications_match_on_normalised_name_and_dosage_text() {
    let items = [
        at(
            "gottsunda-vc",
            "g-1",
            Medication {
                dosage: text("1-2 tabletter vid behov"),
                ..medication("Alvedon 500 mg", None, date(2023, 5, 1))
            },
        ),
        at(
            "uppsala-kommun",
            "k-1",
            Medication {
                dosage: text(" 1-2  TABLETTER vid behov"),
                ..medication("alvedon\t500 MG ", None, date(2023, 5, 1))
            },
        ),
    ];
    assert_eq!(merge(&items).len(), 1);
}

#[test]
fn a_coded_medication_never_matches_an_uncoded_one_by_facts() {
    let items = [
        at(
            "akademiska",
            "a-1",
            Medication {
                dosage: text("1 tablett"),
                ..medication("Eliquis", Some("B01AF02"), date(2025, 3, 1))
            },
        ),
        at(
            "uppsala-kommun",
            "k-1",
            Medication {
                dosage: text("1 tablett"),
                ..medication("Eliquis", None, date(2025, 3, 1))
            },
        ),
    ];
    assert_eq!(merge(&items).len(), 2);
}

#[test]
fn a_medication_without_start_never_matches_by_facts() {
    let simvastatin = Medication {
        dose: quantity(20.0, "mg"),
        ..medication("Simvastatin", Some("C10AA01"), None)
    };
    let items = [
        at("akademiska", "a-1", simvastatin.clone()),
        at("uppsala-kommun", "k-1", simvastatin),
    ];
    assert_eq!(merge(&items).len(), 2);
}

#[test]
fn two_records_from_one_source_are_never_merged_even_when_identical() {
    let eliquis = Medication {
        dose: quantity(5.0, "mg"),
        ..medication("Eliquis", Some("B01AF02"), date(2025, 3, 1))
    };
    let items = [
        at("akademiska", "a-1", eliquis.clone()).id(PRESCRIPTION, "RX-1"),
        at("akademiska", "a-2", eliquis).id(PRESCRIPTION, "RX-1"),
    ];
    let merged = merge(&items);
    assert_eq!(records(&merged), [["akademiska/a-1"], ["akademiska/a-2"]]);
    assert_ids_unique_and_well_formed(&merged);
}

#[test]
fn two_records_from_one_source_are_never_merged_through_a_third_source() {
    let eliquis = Medication {
        dose: quantity(5.0, "mg"),
        ..medication("Eliquis", Some("B01AF02"), date(2025, 3, 1))
    };
    let items = [
        at("akademiska", "a-1", eliquis.clone()),
        at("gottsunda-vc", "g-1", eliquis.clone()),
        at("akademiska", "a-2", eliquis),
    ];
    // The other source's record joins the first one in canonical order, and only that one.
    assert_eq!(
        records(&merge(&items)),
        [
            vec!["akademiska/a-1", "gottsunda-vc/g-1"],
            vec!["akademiska/a-2"]
        ]
    );
}

#[test]
fn a_record_reported_twice_by_one_source_collapses_into_one_provenance() {
    let eliquis = medication("Eliquis", Some("B01AF02"), date(2025, 3, 1));
    let items = [
        at("akademiska", "a-1", eliquis.clone()),
        at(
            "akademiska",
            "a-1",
            Medication {
                prescriber: text("Eva Lind"),
                ..eliquis
            },
        )
        .id(PRESCRIPTION, "RX-1"),
    ];
    let merged = merge(&items);
    assert_eq!(records(&merged), [["akademiska/a-1"]]);
    assert_eq!(merged[0].item.prescriber.as_deref(), Some("Eva Lind"));
    assert_eq!(merged[0].identifiers.len(), 1);
}

#[test]
fn identifiers_in_one_system_with_different_values_keep_records_apart_even_when_another_matches() {
    let eliquis = Medication {
        dose: quantity(5.0, "mg"),
        ..medication("Eliquis", Some("B01AF02"), date(2025, 3, 1))
    };
    let items = [
        at("akademiska", "a-1", eliquis.clone())
            .id(PRESCRIPTION, "RX-1")
            .id_without_system("shared"),
        at("gottsunda-vc", "g-1", eliquis)
            .id(PRESCRIPTION, "RX-2")
            .id_without_system("shared"),
    ];
    // Neither the identifier without system nor the identical facts overcome the conflict.
    assert_eq!(merge(&items).len(), 2);
}

#[test]
fn a_record_carrying_two_values_in_one_system_joins_neither_record_carrying_one_of_them() {
    let glucose = lab("P-Glukos", code(NPU, "NPU03936", "P-Glukos"), None);
    let items = [
        at("akademiska", "a-1", glucose.clone()).id(LAB_ID, "1"),
        at("capio-city", "c-1", glucose.clone()).id(LAB_ID, "2"),
        at("uppsala-kommun", "k-1", glucose)
            .id(LAB_ID, "1")
            .id(LAB_ID, "2"),
    ];
    // Which of the two results the municipal record is cannot be told; joining it to one would
    // make the other's identifier look like the same result's, and a second merge join all three.
    assert_eq!(
        records(&merge(&items)),
        [
            ["akademiska/a-1"],
            ["capio-city/c-1"],
            ["uppsala-kommun/k-1"]
        ]
    );
    assert_idempotent(&items);
}

#[test]
fn a_record_joins_the_record_it_shares_most_identifiers_with_not_the_first_it_shares_one_with() {
    let blood_pressure = measurement("Blodtryck", code(LOINC, "85354-9", "Blodtryck"), None);
    let body_weight = measurement("Kroppsvikt", None, None);
    let items = [
        // Capio put the visit's identifier on both measurements of the visit.
        at("capio-city", "c-0", blood_pressure).id(LAB_ID, "visit-3"),
        at("capio-city", "c-1", body_weight.clone())
            .id(LAB_ID, "visit-3")
            .id(PLAN_ID, "weight-1"),
        at("gottsunda-vc", "g-0", body_weight)
            .id(LAB_ID, "visit-3")
            .id(PLAN_ID, "weight-1"),
    ];
    // Joining in canonical order paired the blood pressure (first) with Gottsunda's weight.
    let merged = merge(&items);
    assert_eq!(
        records(&merged),
        [
            vec!["capio-city/c-0"],
            vec!["capio-city/c-1", "gottsunda-vc/g-0"]
        ]
    );
    assert_eq!(merged[1].item.name, "Kroppsvikt");
    assert_idempotent(&items);
}

#[test]
fn an_identifier_without_system_only_matches_one_without_system() {
    let a = medication("Eliquis", Some("B01AF02"), None);
    let items = [
        at("akademiska", "a-1", a.clone()).id_without_system("RX-1"),
        at("gottsunda-vc", "g-1", a.clone()).id(PRESCRIPTION, "RX-1"),
        at("uppsala-kommun", "k-1", a).id_without_system("RX-1"),
    ];
    assert_eq!(
        records(&merge(&items)),
        [
            vec!["akademiska/a-1", "uppsala-kommun/k-1"],
            vec!["gottsunda-vc/g-1"]
        ]
    );
}

#[test]
fn a_shared_identifier_wins_over_different_start_dates_and_doses() {
    let items = [
        at(
            "akademiska",
            "a-1",
            Medication {
                dose: quantity(5.0, "mg"),
                ..medication("Eliquis", Some("B01AF02"), date(2025, 3, 1))
            },
        )
        .id(PRESCRIPTION, "RX-1"),
        at(
            "gottsunda-vc",
            "g-1",
            Medication {
                dose: quantity(2.5, "mg"),
                ..medication("Eliquis", Some("B01AF02"), date(2025, 3, 4))
            },
        )
        .id(PRESCRIPTION, "RX-1"),
    ];
    let merged = merge(&items);
    assert_eq!(merged.len(), 1);
    // The first source in id order provides the present fields.
    assert_eq!(merged[0].item.start, date(2025, 3, 1));
}

#[test]
fn a_shared_identifier_never_merges_different_codes_in_one_system() {
    let items = [
        at(
            "akademiska",
            "a-1",
            medication("Eliquis", Some("B01AF02"), None),
        )
        .id(PRESCRIPTION, "RX-1"),
        at(
            "gottsunda-vc",
            "g-1",
            medication("Xarelto", Some("B01AF01"), None),
        )
        .id(PRESCRIPTION, "RX-1"),
    ];
    assert_eq!(merge(&items).len(), 2);
}

#[test]
fn a_shared_identifier_merges_codes_from_different_systems() {
    let items = [
        at(
            "akademiska",
            "a-1",
            medication("Eliquis", Some("B01AF02"), None),
        )
        .id(PRESCRIPTION, "RX-1"),
        at(
            "gottsunda-vc",
            "g-1",
            Medication {
                code: code("urn:oid:1.2.752.129.2.1.5.1", "20120308000017", "Eliquis"),
                ..medication("Eliquis", None, None)
            },
        )
        .id(PRESCRIPTION, "RX-1"),
    ];
    assert_eq!(merge(&items).len(), 1);
}

#[test]
fn provenance_is_ordered_and_identifiers_are_united_sorted_and_deduplicated() {
    let a = medication("Eliquis", Some("B01AF02"), None);
    let items = [
        at("uppsala-kommun", "k-1", a.clone()).id(PRESCRIPTION, "RX-1"),
        at("gottsunda-vc", "g-2", a.clone())
            .id(PRESCRIPTION, "RX-1")
            .id("https://demo.overblick.se/identifier/npl", "N-9")
            .id_without_system("local-7"),
        at("akademiska", "a-1", a)
            .id(PRESCRIPTION, "RX-1")
            .id(PRESCRIPTION, "RX-1"),
    ];
    let merged = merge(&items);
    assert_eq!(
        records(&merged),
        [["akademiska/a-1", "gottsunda-vc/g-2", "uppsala-kommun/k-1"]]
    );
    let identifiers: Vec<_> = merged[0]
        .identifiers
        .iter()
        .map(|i| (i.system.as_deref(), i.value.as_str()))
        .collect();
    assert_eq!(
        identifiers,
        [
            (None, "local-7"),
            (
                Some("https://demo.overblick.se/identifier/forskrivning"),
                "RX-1"
            ),
            (Some("https://demo.overblick.se/identifier/npl"), "N-9"),
        ]
    );
}

#[test]
fn missing_fields_are_filled_from_other_sources_without_overwriting_present_ones() {
    let merged = merge(&medications());
    let eliquis = merged
        .iter()
        .find(|m| m.item.name.starts_with("Eliquis"))
        .unwrap();
    assert_eq!(eliquis.provenance.len(), 3);
    // From the first source (akademiska) ...
    assert_eq!(eliquis.item.prescriber.as_deref(), Some("Eva Lind"));
    assert_eq!(eliquis.item.record_kind, MedicationRecordKind::Prescription);
    assert_eq!(eliquis.item.dose, quantity(5.0, "mg"));
    // ... filled from the second.
    assert_eq!(eliquis.item.reason.as_deref(), Some("Förmaksflimmer"));
}

#[test]
fn blood_pressures_match_on_code_second_and_all_components_in_any_order() {
    let merged = merge(&measurements());
    let bp = merged.iter().find(|m| m.item.name == "Blodtryck").unwrap();
    assert_eq!(bp.provenance.len(), 2);

    let base = measurement(
        "Blodtryck",
        code(LOINC, "85354-9", "BP"),
        Some("2025-03-10T08:15:00Z"),
    );
    let with = |systolic: f64| Measurement {
        components: vec![
            component("Systoliskt", "8480-6", systolic),
            component("Diastoliskt", "8462-4", 88.0),
        ],
        ..base.clone()
    };
    let items = [
        at("akademiska", "a-1", with(142.0)),
        at("gottsunda-vc", "g-1", with(141.0)),
    ];
    assert_eq!(merge(&items).len(), 2);
}

#[test]
fn measurements_without_a_value_or_at_another_time_never_match_by_facts() {
    let weight = |value: Option<Quantity>, time: &str| Measurement {
        value,
        ..measurement("Vikt", code(LOINC, "29463-7", "Body weight"), Some(time))
    };
    let items = [
        at("akademiska", "a-1", weight(None, "2025-03-10T08:00:00Z")),
        at("gottsunda-vc", "g-1", weight(None, "2025-03-10T08:00:00Z")),
        at(
            "capio-city",
            "c-1",
            weight(quantity(80.0, "kg"), "2025-03-10T08:00:00Z"),
        ),
        at(
            "egen-matning",
            "e-1",
            weight(quantity(80.0, "kg"), "2025-03-10T08:00:01Z"),
        ),
    ];
    assert_eq!(merge(&items).len(), 4);
}

#[test]
fn lab_results_match_on_value_and_unit_numerically_or_on_result_text() {
    let merged = merge(&lab_results());
    let mut provenances: Vec<_> = merged
        .iter()
        .map(|m| (m.item.analysis.as_str(), m.provenance.len()))
        .collect();
    provenances.sort();
    assert_eq!(
        provenances,
        [
            ("B-Hemoglobin (Hb)", 1),
            ("B-Hemoglobin (Hb)", 2),
            ("P-Glukos", 2),
            ("SARS-CoV-2 RNA", 2),
        ]
    );
}

#[test]
fn lab_results_with_different_values_are_never_merged() {
    let hb = |value: f64| LabResult {
        value: quantity(value, "g/L"),
        ..lab(
            "Hb",
            code(NPU, "NPU28309", "Hb"),
            Some("2025-03-10T07:30:00Z"),
        )
    };
    let items = [
        at("akademiska", "a-1", hb(128.0)),
        at("gottsunda-vc", "g-1", hb(129.0)),
    ];
    assert_eq!(merge(&items).len(), 2);
}

#[test]
fn bookings_match_on_start_and_unit_and_never_without_a_unit() {
    let mut merged = records(&merge(&bookings()));
    merged.sort();
    assert_eq!(
        merged,
        [
            vec!["akademiska/Appointment/b-1", "webbtidbok/Appointment/w-77"],
            vec![
                "gottsunda-vc/Appointment/g-b-3",
                "webbtidbok/Appointment/w-80"
            ],
            vec!["uppsala-kommun/Appointment/k-b-1"],
        ]
    );
}

#[test]
fn a_booking_with_a_unit_hsa_id_never_matches_one_with_only_a_unit_name() {
    let start = "2025-04-02T09:00:00Z";
    let items = [
        at(
            "akademiska",
            "a-1",
            booking(
                start,
                unit(Some("Kardiologmottagningen"), Some("SE2321000016-K001")),
            ),
        ),
        at(
            "webbtidbok",
            "w-1",
            booking(start, unit(Some("Kardiologmottagningen"), None)),
        ),
        at(
            "gottsunda-vc",
            "g-1",
            booking(
                start,
                unit(Some("Kardiologmottagningen"), Some("SE2321000016-K002")),
            ),
        ),
    ];
    assert_eq!(merge(&items).len(), 3);
}

#[test]
fn contacts_match_on_person_hsa_id_or_name_and_unit_within_one_role() {
    let merged = merge(&contacts());
    let summary: Vec<_> = merged
        .iter()
        .map(|m| {
            (
                m.item.role,
                m.item.name.as_deref().unwrap(),
                m.provenance.len(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (ContactRole::NamedDoctor, "Eva Lind", 2),
            (ContactRole::NamedCareContact, "Sara Ek", 2),
            (ContactRole::MunicipalCareContact, "Kim Berg", 1),
            // Same name and unit, different HSA-ids: two people.
            (ContactRole::CareTeamMember, "Anna Ström", 1),
            (ContactRole::CareTeamMember, "Anna Ström", 1),
            (ContactRole::CareTeamMember, "Eva Lind", 1),
        ]
    );
}

/// Exports that carry only a code, an authored day and a status: exact copies merge, a renewal
/// (another day) and a copy that says otherwise (ended, or a dose) stay apart.
#[test]
fn prescriptions_with_neither_dose_nor_dosage_text_merge_only_when_every_fact_agrees() {
    let bare = medication(
        "Metformin 500 mg tablett",
        Some("A10BA02"),
        date(2025, 1, 10),
    );
    let copy = vec![
        at("a", "MedicationRequest/1", bare.clone()),
        at("b", "MedicationRequest/9", bare.clone()),
    ];
    assert_eq!(merge(&copy).len(), 1);
    assert_order_independent(&copy);
    assert_idempotent(&copy);
    for other in [
        // A renewal.
        medication(
            "Metformin 500 mg tablett",
            Some("A10BA02"),
            date(2025, 7, 10),
        ),
        Medication {
            status: MedicationStatus::Ended,
            ..bare.clone()
        },
        Medication {
            dosage: text("1 tablett 2 gånger dagligen"),
            ..bare.clone()
        },
    ] {
        let two = vec![
            at("a", "MedicationRequest/1", bare.clone()),
            at("b", "MedicationRequest/9", other.clone()),
        ];
        assert_eq!(merge(&two).len(), 2, "{other:?}");
    }
}

/// The demo's Sara Nyström: Gottsunda names her the patient's care contact since 2024, the
/// platform lists her in the care team since last week. One person, in the more specific role
/// and that role's period; two named roles of one person stay two.
#[test]
fn a_person_in_the_care_team_at_one_source_and_named_contact_at_another_is_one_contact() {
    let named = Contact {
        role_text: text("Fast vårdkontakt"),
        profession: text("Distriktssköterska"),
        hsa_id: hsa("SE2321000024-P2345"),
        start: date(2024, 3, 5),
        ..contact(ContactRole::NamedCareContact, "Sara Nyström")
    };
    let member = Contact {
        phone: text("018-611 22 22"),
        hsa_id: hsa("SE2321000024-P2345"),
        start: date(2026, 11, 17),
        ..contact(ContactRole::CareTeamMember, "Sara Nyström")
    };
    let items = vec![
        at("platform", "COS-VK-1", member.clone()),
        at("gottsunda-vc", "PractitionerRole/sn", named.clone()),
    ];
    let merged = merge(&items);
    assert_eq!(merged.len(), 1, "{merged:#?}");
    let one = &merged[0].item;
    assert_eq!(one.role, ContactRole::NamedCareContact);
    assert_eq!(one.role_text.as_deref(), Some("Fast vårdkontakt"));
    assert_eq!(one.start, date(2024, 3, 5), "the named role's period");
    assert_eq!(one.phone.as_deref(), Some("018-611 22 22"), "gaps filled");
    assert_eq!(merged[0].provenance.len(), 2);
    assert_order_independent(&items);
    assert_idempotent(&items);

    let doctor = Contact {
        role_text: text("Fast läkarkontakt"),
        ..contact(ContactRole::NamedDoctor, "Sara Nyström")
    };
    let two_roles = vec![
        at(
            "akademiska",
            "PractitionerRole/d",
            Contact {
                hsa_id: named.hsa_id.clone(),
                ..doctor
            },
        ),
        at("gottsunda-vc", "PractitionerRole/sn", named),
    ];
    assert_eq!(merge(&two_roles).len(), 2);
}

#[test]
fn care_plans_match_on_kind_title_and_start() {
    let merged = merge(&care_plans());
    assert_eq!(
        records(&merged),
        [
            vec!["akademiska/CarePlan/cp-1", "uppsala-kommun/CarePlan/k-cp-1"],
            vec!["gottsunda-vc/CarePlan/g-cp-6"],
            vec!["akademiska/CarePlan/cp-2", "gottsunda-vc/CarePlan/g-cp-5"],
        ]
    );
    let other_kind = CarePlan {
        kind: CarePlanKind::CarePlan,
        ..care_plan(CarePlanKind::Sip, "Plan", date(2025, 1, 1))
    };
    let items = [
        at(
            "akademiska",
            "a-1",
            care_plan(CarePlanKind::Sip, "Plan", date(2025, 1, 1)),
        )
        .id(PLAN_ID, "VP-1"),
        at("uppsala-kommun", "k-1", other_kind).id(PLAN_ID, "VP-1"),
    ];
    assert_eq!(
        merge(&items).len(),
        2,
        "a different kind is a different plan"
    );
}

#[test]
fn agreements_match_on_kind_description_and_dates_but_not_on_text_alone() {
    let merged = merge(&agreements());
    let walk = merged
        .iter()
        .find(|m| m.item.description.starts_with("Promenera"))
        .unwrap();
    assert_eq!(walk.provenance.len(), 2);

    let undated = agreement(AgreementKind::Activity, "Hemtjänsten hjälper med dusch");
    let items = [
        at("gottsunda-vc", "g-1", undated.clone()),
        at("uppsala-kommun", "k-1", undated),
    ];
    assert_eq!(merge(&items).len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Properties

#[test]
fn the_result_does_not_depend_on_source_order() {
    assert_order_independent(&contacts());
    assert_order_independent(&care_plans());
    assert_order_independent(&agreements());
    assert_order_independent(&medications());
    assert_order_independent(&measurements());
    assert_order_independent(&lab_results());
    assert_order_independent(&bookings());
}

#[test]
fn the_same_record_reported_twice_with_different_content_merges_the_same_in_any_order() {
    let eliquis = medication("Eliquis", Some("B01AF02"), date(2025, 3, 1));
    let items = [
        at("akademiska", "a-1", eliquis.clone()),
        at(
            "akademiska",
            "a-1",
            Medication {
                name: "Eliquis 5 mg".to_owned(),
                ..eliquis.clone()
            },
        ),
        at("gottsunda-vc", "g-1", eliquis),
    ];
    assert_order_independent(&items);
}

#[test]
fn merging_a_merged_result_again_changes_nothing() {
    assert_idempotent(&contacts());
    assert_idempotent(&care_plans());
    assert_idempotent(&agreements());
    assert_idempotent(&medications());
    assert_idempotent(&measurements());
    assert_idempotent(&lab_results());
    assert_idempotent(&bookings());
}

#[test]
fn a_fact_one_source_supplies_lets_the_merged_item_match_another_record_in_the_same_merge() {
    // The prescription gets its code from one source and its start from another; only the two
    // together match the municipal statement by facts, and they do so in the first merge.
    let dose = quantity(5.0, "mg");
    let items = [
        at(
            "akademiska",
            "a-1",
            Medication {
                dose: dose.clone(),
                ..medication("Eliquis", Some("B01AF02"), None)
            },
        )
        .id(PRESCRIPTION, "RX-1"),
        at(
            "gottsunda-vc",
            "g-1",
            Medication {
                dose: dose.clone(),
                ..medication("Eliquis", None, date(2025, 3, 1))
            },
        )
        .id(PRESCRIPTION, "RX-1"),
        at(
            "uppsala-kommun",
            "k-1",
            Medication {
                dose,
                ..medication("Eliquis", Some("B01AF02"), date(2025, 3, 1))
            },
        ),
    ];
    let once = merge(&items);
    assert_eq!(
        records(&once),
        [["akademiska/a-1", "gottsunda-vc/g-1", "uppsala-kommun/k-1"]]
    );
    assert_idempotent(&items);
}

#[test]
fn ids_carry_the_domain_prefix_and_are_unique() {
    assert_ids_unique_and_well_formed(&merge(&contacts()));
    assert_ids_unique_and_well_formed(&merge(&care_plans()));
    assert_ids_unique_and_well_formed(&merge(&agreements()));
    assert_ids_unique_and_well_formed(&merge(&medications()));
    assert_ids_unique_and_well_formed(&merge(&measurements()));
    assert_ids_unique_and_well_formed(&merge(&lab_results()));
    assert_ids_unique_and_well_formed(&merge(&bookings()));
}

#[test]
fn ids_do_not_change_between_runs() {
    // Pinned: an id that changes breaks clients' links and caches across a deploy.
    let items = [at(
        "akademiska",
        "a-1",
        medication("Eliquis", Some("B01AF02"), None),
    )
    .id(PRESCRIPTION, "RX-1")];
    let without_identifier = [at("akademiska", "a-1", medication("Eliquis", None, None))];
    assert_eq!(merge(&items)[0].id, "med_d7c70748c3e308275ceb");
    assert_eq!(merge(&without_identifier)[0].id, "med_ce7e8f302ee9b519c36f");
}

#[test]
fn the_id_prefers_an_identifier_with_a_system_over_one_without() {
    let eliquis = medication("Eliquis", Some("B01AF02"), None);
    let both = [at("akademiska", "a-1", eliquis.clone())
        .id(PRESCRIPTION, "RX-1")
        .id_without_system("local-7")];
    let named_only = [at("gottsunda-vc", "g-1", eliquis).id(PRESCRIPTION, "RX-1")];
    assert_eq!(merge(&both)[0].id, merge(&named_only)[0].id);
}

#[test]
fn ids_are_stable_when_a_source_sharing_the_identifier_is_missing() {
    let all = medications();
    let full = merge(&all);
    for missing in ["akademiska", "gottsunda-vc", "uppsala-kommun"] {
        let fewer: Vec<_> = all
            .iter()
            .filter(|s| s.provenance.source_id != missing)
            .collect();
        for m in merge(fewer) {
            if m.identifiers.is_empty() {
                continue;
            }
            let before = full
                .iter()
                .find(|f| f.identifiers.iter().any(|i| m.identifiers.contains(i)))
                .unwrap();
            assert_eq!(m.id, before.id, "{missing} missing");
        }
    }
}

#[test]
fn ids_without_identifier_are_stable_unless_the_source_with_the_smallest_record_is_missing() {
    // The documented limit of the provenance key.
    let alvedon = Medication {
        dosage: text("1-2 tabletter vid behov"),
        ..medication("Alvedon", None, date(2023, 5, 1))
    };
    let a = at("akademiska", "a-1", alvedon.clone());
    let g = at("gottsunda-vc", "g-1", alvedon.clone());
    let k = at("uppsala-kommun", "k-1", alvedon);
    let all = merge([&a, &g, &k]);
    assert_eq!(all.len(), 1);
    assert_eq!(merge([&a, &g])[0].id, all[0].id);
    assert_eq!(merge([&a, &k])[0].id, all[0].id);
    assert_ne!(merge([&g, &k])[0].id, all[0].id);
}

#[test]
fn clusters_sharing_their_smallest_identifier_fall_back_to_provenance_ids() {
    let merged = merge(&agreements());
    assert_ids_unique_and_well_formed(&merged);
    let with_plan_id: Vec<_> = merged
        .iter()
        .filter(|m| !m.identifiers.is_empty())
        .collect();
    assert_eq!(with_plan_id.len(), 2);
    assert_ne!(with_plan_id[0].id, with_plan_id[1].id);
}

#[test]
fn an_empty_input_gives_an_empty_list() {
    assert!(merge::<Booking>(&[]).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Output order

#[test]
fn medications_are_ordered_current_first_then_newest_start_then_name() {
    let names: Vec<_> = merge(&medications())
        .into_iter()
        .map(|m| (m.item.status, m.item.start, m.item.name))
        .collect();
    let expected = [
        (
            MedicationStatus::Active,
            date(2025, 3, 1),
            "Eliquis 5 mg tablett",
        ),
        (
            MedicationStatus::Active,
            date(2024, 1, 10),
            "Metformin Teva 1000 mg tablett",
        ),
        (
            MedicationStatus::Active,
            date(2024, 1, 10),
            "Metformin Teva 500 mg tablett",
        ),
        (MedicationStatus::Active, None, "Simvastatin 20 mg tablett"),
        (
            MedicationStatus::Ended,
            date(2023, 5, 1),
            "Alvedon 500 mg tablett",
        ),
    ];
    let expected: Vec<_> = expected
        .into_iter()
        .map(|(s, d, n)| (s, d, n.to_owned()))
        .collect();
    assert_eq!(names, expected);
}

#[test]
fn care_plans_are_ordered_open_first_then_newest_start() {
    let mut items = care_plans();
    items.push(at(
        "uppsala-kommun",
        "CarePlan/k-cp-9",
        CarePlan {
            status: PlanStatus::OnHold,
            ..care_plan(CarePlanKind::Other, "Äldre plan", date(2020, 1, 1))
        },
    ));
    let titles: Vec<_> = merge(&items).into_iter().map(|m| m.item.title).collect();
    assert_eq!(
        titles,
        [
            "Samordnad individuell plan",
            "Äldre plan",
            "Vårdplan diabetes",
            "Rehabiliteringsplan efter stroke",
        ]
    );
}

#[test]
fn agreements_are_ordered_by_status_then_earliest_due() {
    let order: Vec<_> = merge(&agreements())
        .into_iter()
        .map(|m| (m.item.status, m.item.due, m.item.description))
        .collect();
    let expected = [
        (AgreementStatus::Active, date(2025, 4, 1), "Gå ner 5 kg"),
        (
            AgreementStatus::Active,
            date(2025, 6, 1),
            "Promenera 30 minuter varje dag",
        ),
        (
            AgreementStatus::Active,
            None,
            "Hemtjänsten hjälper med dusch två gånger i veckan",
        ),
        (AgreementStatus::Active, None, "Kostrådgivning"),
        (
            AgreementStatus::Planned,
            date(2025, 5, 1),
            "Mäta blodtrycket varje morgon",
        ),
    ];
    let expected: Vec<_> = expected
        .into_iter()
        .map(|(s, d, n)| (s, d, n.to_owned()))
        .collect();
    assert_eq!(order, expected);
}

#[test]
fn measurements_are_ordered_newest_first_with_untimed_last() {
    let order: Vec<_> = merge(&measurements())
        .into_iter()
        .map(|m| m.item.name)
        .collect();
    assert_eq!(
        order,
        [
            "Kroppsvikt",
            "Kroppsvikt",
            "Blodtryck",
            "P-Glukos (egen mätning)"
        ]
    );
}

#[test]
fn bookings_are_ordered_by_start() {
    let starts: Vec<_> = merge(&bookings())
        .into_iter()
        .map(|m| m.item.start)
        .collect();
    let mut sorted = starts.clone();
    sorted.sort();
    assert_eq!(starts, sorted);
}

// ---------------------------------------------------------------------------------------------
// Snapshots of a realistic mixed input per domain

#[test]
fn snapshot_contacts() {
    insta::assert_yaml_snapshot!(merge(&contacts()));
}

#[test]
fn snapshot_care_plans() {
    insta::assert_yaml_snapshot!(merge(&care_plans()));
}

#[test]
fn snapshot_agreements() {
    insta::assert_yaml_snapshot!(merge(&agreements()));
}

#[test]
fn snapshot_medications() {
    insta::assert_yaml_snapshot!(merge(&medications()));
}

#[test]
fn snapshot_measurements() {
    insta::assert_yaml_snapshot!(merge(&measurements()));
}

#[test]
fn snapshot_lab_results() {
    insta::assert_yaml_snapshot!(merge(&lab_results()));
}

#[test]
fn snapshot_bookings() {
    insta::assert_yaml_snapshot!(merge(&bookings()));
}
