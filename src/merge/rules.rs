//! The per-domain merge rules: when two items are the same record by their clinical facts, which
//! facts forbid a merge outright, how missing fields are filled, and the order clients see.

use std::cmp::Reverse;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::domain::{
    Agreement, AgreementStatus, Booking, CarePlan, Code, Contact, ContactRole, Domain, HsaId,
    LabResult, Measurement, MeasurementComponent, Medication, MedicationStatus, Organisation,
    PlanStatus, Quantity,
};

pub(super) mod sealed {
    pub trait Sealed {}
}

/// An item type the merge knows how to de-duplicate. Sealed: the rules for each domain live in
/// this module, next to each other, so that they stay comparable.
pub trait Mergeable: sealed::Sealed + Clone + PartialEq + Serialize {
    /// The domain the items belong to; part of every id's hash.
    const DOMAIN: Domain;
    /// The prefix of [`Merged::id`](crate::domain::Merged::id), e.g. `med`.
    const ID_PREFIX: &'static str;
    /// The name hashed into every id: the domain's stored name, unless the type shares its
    /// domain with another (lab reports come with the lab results).
    const ID_DOMAIN: &'static str = Self::DOMAIN.as_str();

    /// What the output is sorted by (before the id, which breaks ties).
    type OrderKey: Ord;

    /// Whether two items (from different sources) describe the same record by their clinical
    /// facts. Symmetric; reflexive for every item that has the facts the rule needs.
    fn same_facts(&self, other: &Self) -> bool;

    /// Coarse keys with the property that two items for which [`same_facts`](Self::same_facts)
    /// holds share at least one key. Used only to avoid comparing every pair; an item that cannot
    /// match by facts has none.
    fn match_keys(&self) -> Vec<String>;

    /// Whether a fact both items carry shows them to be different records, so that they must not
    /// be merged even though they share an identifier (or are linked through other items).
    fn contradicts(&self, other: &Self) -> bool;

    /// Fills every absent (`None`, or empty list) field of `self` from `other`; never overwrites.
    fn fill_missing(&mut self, other: &Self);

    /// The key of the domain's output order.
    fn order_key(&self) -> Self::OrderKey;
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by the rules

/// Text as the rules compare it: trimmed, whitespace runs collapsed to one space, lower-cased.
pub(crate) fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

/// Normalised text, or `None` when absent or blank.
pub(super) fn normalised(text: Option<&str>) -> Option<String> {
    text.map(normalise).filter(|t| !t.is_empty())
}

/// Both present (not blank) and equal once normalised.
pub(super) fn same_text(a: Option<&str>, b: Option<&str>) -> bool {
    match (normalised(a), normalised(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// Both absent, or both present and equal by `eq`.
fn both_absent_or<T>(a: Option<&T>, b: Option<&T>, eq: impl Fn(&T, &T) -> bool) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => eq(a, b),
        _ => false,
    }
}

/// Both present and equal.
pub(super) fn both_equal<T: PartialEq>(a: Option<&T>, b: Option<&T>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if a == b)
}

/// Both present and equal when truncated to the second.
pub(super) fn same_second(a: Option<&DateTime<Utc>>, b: Option<&DateTime<Utc>>) -> bool {
    both_equal(
        a.map(DateTime::timestamp).as_ref(),
        b.map(DateTime::timestamp).as_ref(),
    )
}

pub(super) fn fill<T: Clone>(target: &mut Option<T>, source: &Option<T>) {
    if target.is_none() {
        target.clone_from(source);
    }
}

/// A code's (system, code), normalised, when it carries a code value at all.
pub(super) fn coding(code: Option<&Code>) -> Option<(Option<String>, String)> {
    let code = code?;
    let value = normalised(code.code.as_deref())?;
    Some((normalised(code.system.as_deref()), value))
}

/// What an item is about: its code when coded, else its name.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Concept {
    Coded(Option<String>, String),
    Named(String),
}

impl Concept {
    pub(super) fn of(code: Option<&Code>, name: &str) -> Self {
        match coding(code) {
            Some((system, code)) => Concept::Coded(system, code),
            None => Concept::Named(normalise(name)),
        }
    }

    /// Same code (system and code), or both uncoded with the same non-blank name.
    pub(super) fn same(&self, other: &Self) -> bool {
        match (self, other) {
            (Concept::Named(a), Concept::Named(b)) => !a.is_empty() && a == b,
            (a, b) => a == b,
        }
    }

    pub(super) fn key(&self) -> String {
        match self {
            Concept::Coded(system, code) => {
                format!("c\u{1f}{}\u{1f}{code}", system.as_deref().unwrap_or(""))
            }
            Concept::Named(name) => format!("n\u{1f}{name}"),
        }
    }
}

/// Both coded in the same system (or both without a system) with different codes.
pub(super) fn codes_contradict(a: Option<&Code>, b: Option<&Code>) -> bool {
    match (coding(a), coding(b)) {
        (Some((system_a, code_a)), Some((system_b, code_b))) => {
            system_a == system_b && code_a != code_b
        }
        _ => false,
    }
}

/// Numerically equal values in the same unit. Units compare by their UCUM code when both have
/// one, else by the unit as written (falling back to the code); a unit absent on both is the same.
fn same_quantity(a: &Quantity, b: &Quantity) -> bool {
    let same_unit = match (a.unit_code.as_deref(), b.unit_code.as_deref()) {
        (Some(x), Some(y)) => normalise(x) == normalise(y),
        _ => {
            let written = |q: &Quantity| normalised(q.unit.as_deref().or(q.unit_code.as_deref()));
            written(a) == written(b)
        }
    };
    // `==` on f64: 5 and 5.0 are equal; NaN equals nothing, so it never matches.
    a.value == b.value && same_unit
}

pub(super) fn unit_hsa_id(unit: Option<&Organisation>) -> Option<&HsaId> {
    unit.and_then(|u| u.hsa_id.as_ref())
}

pub(super) fn unit_name(unit: Option<&Organisation>) -> Option<&str> {
    unit.and_then(|u| u.name.as_deref())
}

/// Text for the output order: normalised, absent last.
fn text_order(text: Option<&str>) -> (bool, String) {
    match normalised(text) {
        Some(t) => (false, t),
        None => (true, String::new()),
    }
}

/// Dates newest first, absent last.
pub(super) fn newest_first<T: Ord>(value: Option<T>) -> Reverse<Option<T>> {
    // `None < Some` for `Option`, so reversed, every `Some` comes first and newest leads.
    Reverse(value)
}

/// Dates oldest first, absent last.
fn oldest_first<T: Ord>(value: Option<T>) -> (bool, Option<T>) {
    (value.is_none(), value)
}

// ---------------------------------------------------------------------------------------------
// Contacts

impl sealed::Sealed for Contact {}

impl Mergeable for Contact {
    const DOMAIN: Domain = Domain::Contacts;
    const ID_PREFIX: &'static str = "con";
    type OrderKey = (u8, (bool, String));

    /// Roles that agree (the same, or one of them only a care-team member) and the same person
    /// HSA-id; or agreeing roles, the same name and the same care-unit HSA-id. One person
    /// reported by one source as the named care contact and by another as a member of the care
    /// team is one contact, in the more specific role.
    fn same_facts(&self, other: &Self) -> bool {
        roles_agree(self.role, other.role)
            && (both_equal(self.hsa_id.as_ref(), other.hsa_id.as_ref())
                || (same_text(self.name.as_deref(), other.name.as_deref())
                    && both_equal(
                        unit_hsa_id(self.care_unit.as_ref()),
                        unit_hsa_id(other.care_unit.as_ref()),
                    )))
    }

    /// Without the role: a person in two agreeing roles must meet in a key.
    fn match_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        if let Some(hsa_id) = &self.hsa_id {
            keys.push(format!("h\u{1f}{hsa_id}"));
        }
        if let Some(name) = normalised(self.name.as_deref()) {
            keys.push(format!("n\u{1f}{name}"));
        }
        keys
    }

    /// Two different named roles (a named doctor is not the named care contact), or a different
    /// person HSA-id.
    fn contradicts(&self, other: &Self) -> bool {
        !roles_agree(self.role, other.role)
            || matches!((&self.hsa_id, &other.hsa_id), (Some(a), Some(b)) if a != b)
    }

    /// The more specific role wins, with its wording and its period (a named care contact
    /// since 2024 may have joined a new care team last week); everything else only fills gaps.
    fn fill_missing(&mut self, other: &Self) {
        if self.role == ContactRole::CareTeamMember && other.role != ContactRole::CareTeamMember {
            self.role = other.role;
            self.role_text = other.role_text.clone();
            if other.start.is_some() || other.end.is_some() {
                self.start = other.start;
                self.end = other.end;
            }
        } else if self.role == other.role {
            fill(&mut self.role_text, &other.role_text);
        }
        fill(&mut self.name, &other.name);
        fill(&mut self.profession, &other.profession);
        fill(&mut self.hsa_id, &other.hsa_id);
        fill(&mut self.care_unit, &other.care_unit);
        fill(&mut self.phone, &other.phone);
        fill(&mut self.email, &other.email);
        fill(&mut self.start, &other.start);
        fill(&mut self.end, &other.end);
    }

    fn order_key(&self) -> Self::OrderKey {
        let role = match self.role {
            ContactRole::NamedDoctor => 0,
            ContactRole::NamedCareContact => 1,
            ContactRole::MunicipalCareContact => 2,
            ContactRole::CareTeamMember => 3,
        };
        (role, text_order(self.name.as_deref()))
    }
}

/// Whether two contact roles can be one person's: the same, or one of them only "member of the
/// care team", which a more specific role refines.
fn roles_agree(a: ContactRole, b: ContactRole) -> bool {
    a == b || a == ContactRole::CareTeamMember || b == ContactRole::CareTeamMember
}

// ---------------------------------------------------------------------------------------------
// Care plans

impl sealed::Sealed for CarePlan {}

impl Mergeable for CarePlan {
    const DOMAIN: Domain = Domain::CarePlans;
    const ID_PREFIX: &'static str = "cpl";
    type OrderKey = (u8, Reverse<Option<NaiveDate>>, String);

    /// Same kind, same title and the same start (present on both).
    fn same_facts(&self, other: &Self) -> bool {
        self.kind == other.kind
            && same_text(Some(&self.title), Some(&other.title))
            && both_equal(self.start.as_ref(), other.start.as_ref())
    }

    fn match_keys(&self) -> Vec<String> {
        match (self.start, normalised(Some(&self.title))) {
            (Some(start), Some(title)) => {
                vec![format!("{:?}\u{1f}{start}\u{1f}{title}", self.kind)]
            }
            _ => Vec::new(),
        }
    }

    /// A different kind (a SIP is not a rehabilitation plan).
    fn contradicts(&self, other: &Self) -> bool {
        self.kind != other.kind
    }

    fn fill_missing(&mut self, other: &Self) {
        fill(&mut self.category, &other.category);
        fill(&mut self.description, &other.description);
        fill(&mut self.start, &other.start);
        fill(&mut self.end, &other.end);
        fill(&mut self.next_review, &other.next_review);
        fill(&mut self.owner, &other.owner);
        fill(&mut self.care_unit, &other.care_unit);
    }

    fn order_key(&self) -> Self::OrderKey {
        let status = match self.status {
            PlanStatus::Active | PlanStatus::OnHold | PlanStatus::Draft => 0,
            PlanStatus::Completed | PlanStatus::Revoked | PlanStatus::Unknown => 1,
        };
        (status, newest_first(self.start), normalise(&self.title))
    }
}

// ---------------------------------------------------------------------------------------------
// Agreements

impl sealed::Sealed for Agreement {}

impl Mergeable for Agreement {
    const DOMAIN: Domain = Domain::Agreements;
    const ID_PREFIX: &'static str = "agr";
    type OrderKey = (u8, (bool, Option<NaiveDate>), String);

    /// Same kind, same description, and the same start and due, at least one of them present
    /// (a date absent on both sides counts as the same).
    fn same_facts(&self, other: &Self) -> bool {
        self.kind == other.kind
            && same_text(Some(&self.description), Some(&other.description))
            && self.start == other.start
            && self.due == other.due
            && (self.start.is_some() || self.due.is_some())
    }

    fn match_keys(&self) -> Vec<String> {
        match normalised(Some(&self.description)) {
            Some(description) if self.start.is_some() || self.due.is_some() => {
                vec![format!("{:?}\u{1f}{description}", self.kind)]
            }
            _ => Vec::new(),
        }
    }

    /// A different kind (a goal is not an activity).
    fn contradicts(&self, other: &Self) -> bool {
        self.kind != other.kind
    }

    fn fill_missing(&mut self, other: &Self) {
        fill(&mut self.responsible, &other.responsible);
        fill(&mut self.start, &other.start);
        fill(&mut self.due, &other.due);
        fill(&mut self.care_plan, &other.care_plan);
    }

    fn order_key(&self) -> Self::OrderKey {
        let status = match self.status {
            AgreementStatus::Active => 0,
            AgreementStatus::Planned => 1,
            AgreementStatus::OnHold => 2,
            AgreementStatus::Completed | AgreementStatus::Cancelled | AgreementStatus::Unknown => 3,
        };
        (status, oldest_first(self.due), normalise(&self.description))
    }
}

// ---------------------------------------------------------------------------------------------
// Medications

impl sealed::Sealed for Medication {}

impl Mergeable for Medication {
    const DOMAIN: Domain = Domain::Medications;
    const ID_PREFIX: &'static str = "med";
    type OrderKey = (u8, Reverse<Option<NaiveDate>>, String);

    /// Same drug (code, or name when both are uncoded), same dose (structured dose when both
    /// have one, else the dosage text, present on both; or neither dose nor text on either, as
    /// in many EHR exports, when status and kind of record agree too) and the same start
    /// (present on both: a renewal, the same drug prescribed on another day, stays apart).
    fn same_facts(&self, other: &Self) -> bool {
        let same_dose = match (&self.dose, &other.dose) {
            (Some(a), Some(b)) => same_quantity(a, b),
            (None, None) => match (&self.dosage, &other.dosage) {
                (None, None) => {
                    self.status == other.status && self.record_kind == other.record_kind
                }
                _ => same_text(self.dosage.as_deref(), other.dosage.as_deref()),
            },
            _ => false,
        };
        Concept::of(self.code.as_ref(), &self.name)
            .same(&Concept::of(other.code.as_ref(), &other.name))
            && same_dose
            && both_equal(self.start.as_ref(), other.start.as_ref())
    }

    fn match_keys(&self) -> Vec<String> {
        match self.start {
            Some(start) => {
                let drug = Concept::of(self.code.as_ref(), &self.name).key();
                vec![format!("{start}\u{1f}{drug}")]
            }
            None => Vec::new(),
        }
    }

    /// Different codes in the same code system: a shared prescription id does not make two
    /// drugs one.
    fn contradicts(&self, other: &Self) -> bool {
        codes_contradict(self.code.as_ref(), other.code.as_ref())
    }

    fn fill_missing(&mut self, other: &Self) {
        fill(&mut self.code, &other.code);
        fill(&mut self.dosage, &other.dosage);
        fill(&mut self.dose, &other.dose);
        fill(&mut self.start, &other.start);
        fill(&mut self.end, &other.end);
        fill(&mut self.prescriber, &other.prescriber);
        fill(&mut self.reason, &other.reason);
    }

    fn order_key(&self) -> Self::OrderKey {
        let status = match self.status {
            MedicationStatus::Active | MedicationStatus::OnHold | MedicationStatus::Unknown => 0,
            MedicationStatus::Ended => 1,
        };
        (status, newest_first(self.start), normalise(&self.name))
    }
}

// ---------------------------------------------------------------------------------------------
// Measurements

impl sealed::Sealed for Measurement {}

type ComponentOrder = (Concept, Option<String>);

/// A component in a canonical form: sorted by it, two lists compare element by element.
fn component_order(component: &MeasurementComponent) -> ComponentOrder {
    let value = component.value.as_ref().map(|q| {
        let unit = normalised(q.unit_code.as_deref().or(q.unit.as_deref()));
        format!("{}\u{1f}{}", q.value, unit.unwrap_or_default())
    });
    (Concept::of(component.code.as_ref(), &component.name), value)
}

fn same_components(a: &[MeasurementComponent], b: &[MeasurementComponent]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    fn sorted(list: &[MeasurementComponent]) -> Vec<(ComponentOrder, &MeasurementComponent)> {
        let mut keyed: Vec<_> = list.iter().map(|c| (component_order(c), c)).collect();
        keyed.sort_by(|x, y| x.0.cmp(&y.0));
        keyed
    }
    sorted(a)
        .iter()
        .zip(sorted(b).iter())
        .all(|((ka, ca), (kb, cb))| {
            ka.0.same(&kb.0) && both_absent_or(ca.value.as_ref(), cb.value.as_ref(), same_quantity)
        })
}

impl Mergeable for Measurement {
    const DOMAIN: Domain = Domain::Measurements;
    const ID_PREFIX: &'static str = "mea";
    // Time alone (then the id, added by `merge`): lists paged by cursor (`graphql::paging`) need
    // an order a cursor can hold without the record's content.
    type OrderKey = Reverse<Option<DateTime<Utc>>>;

    /// Same thing measured (code, or name when both are uncoded), at the same second, with the
    /// same value: quantity, text and every component equal, and at least one of them present.
    fn same_facts(&self, other: &Self) -> bool {
        let has_value = |m: &Measurement| {
            m.value.is_some()
                || normalised(m.value_text.as_deref()).is_some()
                || !m.components.is_empty()
        };
        Concept::of(self.code.as_ref(), &self.name)
            .same(&Concept::of(other.code.as_ref(), &other.name))
            && same_second(self.time.as_ref(), other.time.as_ref())
            && has_value(self)
            && has_value(other)
            && both_absent_or(self.value.as_ref(), other.value.as_ref(), same_quantity)
            && normalised(self.value_text.as_deref()) == normalised(other.value_text.as_deref())
            && same_components(&self.components, &other.components)
    }

    fn match_keys(&self) -> Vec<String> {
        match self.time {
            Some(time) => {
                let what = Concept::of(self.code.as_ref(), &self.name).key();
                vec![format!("{}\u{1f}{what}", time.timestamp())]
            }
            None => Vec::new(),
        }
    }

    /// Different codes in the same code system.
    fn contradicts(&self, other: &Self) -> bool {
        codes_contradict(self.code.as_ref(), other.code.as_ref())
    }

    fn fill_missing(&mut self, other: &Self) {
        fill(&mut self.code, &other.code);
        fill(&mut self.value, &other.value);
        fill(&mut self.value_text, &other.value_text);
        if self.components.is_empty() {
            self.components.clone_from(&other.components);
        }
        fill(&mut self.time, &other.time);
    }

    fn order_key(&self) -> Self::OrderKey {
        newest_first(self.time)
    }
}

// ---------------------------------------------------------------------------------------------
// Lab results

impl sealed::Sealed for LabResult {}

impl Mergeable for LabResult {
    const DOMAIN: Domain = Domain::LabResults;
    const ID_PREFIX: &'static str = "lab";
    // Time alone (then the id, added by `merge`): lists paged by cursor (`graphql::paging`) need
    // an order a cursor can hold without the record's content.
    type OrderKey = Reverse<Option<DateTime<Utc>>>;

    /// Same analysis (code, or name when both are uncoded), at the same second, with the same
    /// value: the quantity when both have one, else the result text (present on both).
    fn same_facts(&self, other: &Self) -> bool {
        let same_value = match (&self.value, &other.value) {
            (Some(a), Some(b)) => same_quantity(a, b),
            (None, None) => same_text(self.value_text.as_deref(), other.value_text.as_deref()),
            _ => false,
        };
        Concept::of(self.code.as_ref(), &self.analysis)
            .same(&Concept::of(other.code.as_ref(), &other.analysis))
            && same_second(self.time.as_ref(), other.time.as_ref())
            && same_value
    }

    fn match_keys(&self) -> Vec<String> {
        match self.time {
            Some(time) => {
                let what = Concept::of(self.code.as_ref(), &self.analysis).key();
                vec![format!("{}\u{1f}{what}", time.timestamp())]
            }
            None => Vec::new(),
        }
    }

    /// Different codes in the same code system.
    fn contradicts(&self, other: &Self) -> bool {
        codes_contradict(self.code.as_ref(), other.code.as_ref())
    }

    fn fill_missing(&mut self, other: &Self) {
        fill(&mut self.code, &other.code);
        fill(&mut self.value, &other.value);
        fill(&mut self.value_text, &other.value_text);
        fill(&mut self.reference_range, &other.reference_range);
        fill(&mut self.abnormal, &other.abnormal);
        fill(&mut self.interpretation, &other.interpretation);
        fill(&mut self.time, &other.time);
        fill(&mut self.report, &other.report);
        fill(&mut self.laboratory, &other.laboratory);
        fill(&mut self.report_id, &other.report_id);
        fill(&mut self.comment, &other.comment);
    }

    fn order_key(&self) -> Self::OrderKey {
        newest_first(self.time)
    }
}

// ---------------------------------------------------------------------------------------------
// Bookings

impl sealed::Sealed for Booking {}

impl Mergeable for Booking {
    const DOMAIN: Domain = Domain::Bookings;
    const ID_PREFIX: &'static str = "bok";
    type OrderKey = DateTime<Utc>;

    /// Same start (to the second) at the same care unit: the same HSA-id when both have one,
    /// else (neither has one) the same unit name. No unit on a side: no match.
    fn same_facts(&self, other: &Self) -> bool {
        let (a, b) = (self.care_unit.as_ref(), other.care_unit.as_ref());
        let same_unit = match (unit_hsa_id(a), unit_hsa_id(b)) {
            (Some(x), Some(y)) => x == y,
            (None, None) => same_text(unit_name(a), unit_name(b)),
            _ => false,
        };
        same_second(Some(&self.start), Some(&other.start)) && same_unit
    }

    fn match_keys(&self) -> Vec<String> {
        vec![self.start.timestamp().to_string()]
    }

    /// Nothing: a shared booking id wins even over a different time or unit (a rebooking one
    /// source has not caught up with is still the same booking).
    fn contradicts(&self, _other: &Self) -> bool {
        false
    }

    fn fill_missing(&mut self, other: &Self) {
        fill(&mut self.end, &other.end);
        fill(&mut self.title, &other.title);
        fill(&mut self.service_type, &other.service_type);
        fill(&mut self.care_unit, &other.care_unit);
        fill(&mut self.location, &other.location);
        fill(&mut self.practitioner, &other.practitioner);
        fill(&mut self.patient_may_cancel, &other.patient_may_cancel);
        fill(&mut self.patient_may_rebook, &other.patient_may_rebook);
    }

    fn order_key(&self) -> Self::OrderKey {
        self.start
    }
}
