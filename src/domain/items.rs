//! Normalised care-record items, one type per overview domain, with where each came from.
//!
//! Adapters produce [`Sourced`] items (one per record at one source); the merge turns those into
//! [`Merged`] items (one per real-world record, with every source's [`Provenance`]). Nothing here
//! knows a protocol or GraphQL.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::HsaId;

/// The parts of an overview, each fetched from the sources separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Domain {
    /// Who the patient is (name); needed for the overview's header only.
    Patient,
    Contacts,
    CarePlans,
    Agreements,
    Medications,
    Measurements,
    LabResults,
    Bookings,
}

impl Domain {
    pub const ALL: [Domain; 8] = [
        Domain::Patient,
        Domain::Contacts,
        Domain::CarePlans,
        Domain::Agreements,
        Domain::Medications,
        Domain::Measurements,
        Domain::LabResults,
        Domain::Bookings,
    ];

    /// A short, stable name for logs, metrics and ids (never contains patient data).
    pub fn as_str(self) -> &'static str {
        match self {
            Domain::Patient => "patient",
            Domain::Contacts => "contacts",
            Domain::CarePlans => "care_plans",
            Domain::Agreements => "agreements",
            Domain::Medications => "medications",
            Domain::Measurements => "measurements",
            Domain::LabResults => "lab_results",
            Domain::Bookings => "bookings",
        }
    }

    /// The domain whose [`Domain::as_str`] is `name`, as stored (e.g. in a delegation).
    pub fn from_str_name(name: &str) -> Option<Domain> {
        Domain::ALL.into_iter().find(|d| d.as_str() == name)
    }
}

/// An organisation (care unit or care provider) as far as the source named it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Organisation {
    pub name: Option<String>,
    pub hsa_id: Option<HsaId>,
}

impl Organisation {
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.hsa_id.is_none()
    }
}

/// Where one item came from: one entry per source that reported it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Provenance {
    /// Our id of the source (its catalog file's `id`).
    pub source_id: String,
    /// The source's display name, e.g. "Akademiska sjukhuset".
    pub source_name: String,
    /// The record system behind the source, e.g. "Cosmic", where known.
    pub system: Option<String>,
    /// The care unit responsible for the record, where the record or the catalog says.
    pub care_unit: Option<Organisation>,
    /// The care provider (vårdgivare) that holds the record.
    pub care_provider: Option<Organisation>,
    /// The record's id at the source, e.g. `MedicationRequest/abc` or a RIV-TA documentId.
    pub record_id: String,
    /// When the source's answer arrived.
    pub fetched_at: DateTime<Utc>,
}

/// A business identifier a record carries (e.g. a prescription id shared by several systems).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Identifier {
    pub system: Option<String>,
    pub value: String,
}

/// A code from a code system (ATC, LOINC, NPU, SNOMED CT, ...) with its display text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Code {
    pub system: Option<String>,
    pub code: Option<String>,
    pub display: Option<String>,
}

/// A measured amount.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Quantity {
    pub value: f64,
    /// The unit as people read it, e.g. "mmol/L".
    pub unit: Option<String>,
    /// The coded unit (UCUM), where given.
    pub unit_code: Option<String>,
}

/// One record as one source reported it: the item plus what the merge needs to match it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sourced<T> {
    pub item: T,
    /// Business identifiers of the record (not the source's technical id, which is in provenance).
    pub identifiers: Vec<Identifier>,
    pub provenance: Provenance,
    /// False when the source says the record must not be shown to the patient yet, e.g. an
    /// unsigned note or a result the doctor has not reviewed. The access rules hide it from
    /// patients, guardians and delegates; staff see it. A source that says nothing means true.
    pub approved_for_patient: bool,
}

/// One real-world record after merging, with every source that reported it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Merged<T> {
    /// Stable across requests and restarts for the same underlying record.
    pub id: String,
    pub item: T,
    pub identifiers: Vec<Identifier>,
    /// At least one entry; ordered by source id.
    pub provenance: Vec<Provenance>,
}

// ---------------------------------------------------------------------------------------------
// Patient

/// What a source knows of who the patient is.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PatientRecord {
    pub name: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Contacts

/// The kind of named contact (fast vårdkontakt and friends) a person has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ContactRole {
    /// Fast läkarkontakt.
    NamedDoctor,
    /// Fast vårdkontakt (often a nurse).
    NamedCareContact,
    /// Fast omsorgskontakt in municipal care.
    MunicipalCareContact,
    /// Any other member of the care team (vård- och omsorgsnätverk).
    CareTeamMember,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Contact {
    pub role: ContactRole,
    /// The role as the source worded it, e.g. "Fast läkarkontakt".
    pub role_text: Option<String>,
    pub name: Option<String>,
    /// Profession, e.g. "Läkare", "Sjuksköterska".
    pub profession: Option<String>,
    /// The person's HSA-id, where known.
    pub hsa_id: Option<HsaId>,
    pub care_unit: Option<Organisation>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub start: Option<NaiveDate>,
    pub end: Option<NaiveDate>,
}

// ---------------------------------------------------------------------------------------------
// Care plans

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CarePlanKind {
    /// Samordnad individuell plan across region and municipality.
    Sip,
    CarePlan,
    RehabilitationPlan,
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PlanStatus {
    Draft,
    Active,
    OnHold,
    Completed,
    Revoked,
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CarePlan {
    pub title: String,
    pub kind: CarePlanKind,
    /// The category as the source worded it.
    pub category: Option<String>,
    pub status: PlanStatus,
    pub description: Option<String>,
    pub start: Option<NaiveDate>,
    pub end: Option<NaiveDate>,
    pub next_review: Option<NaiveDate>,
    /// Who owns the plan (author), by name.
    pub owner: Option<String>,
    /// The care unit that owns the plan.
    pub care_unit: Option<Organisation>,
}

// ---------------------------------------------------------------------------------------------
// Agreements (överenskommelser)

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AgreementKind {
    /// A goal agreed between the patient and the care team.
    Goal,
    /// An agreed activity: who does what.
    Activity,
    /// An agreed activity the patient does themself.
    SelfCare,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AgreementStatus {
    Planned,
    Active,
    OnHold,
    Completed,
    Cancelled,
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Agreement {
    pub kind: AgreementKind,
    pub description: String,
    pub status: AgreementStatus,
    /// Who is responsible for carrying it out (a person, role or "the patient").
    pub responsible: Option<String>,
    pub start: Option<NaiveDate>,
    pub due: Option<NaiveDate>,
    /// The plan the agreement belongs to, by title, where known.
    pub care_plan: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Medications

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MedicationStatus {
    Active,
    OnHold,
    Ended,
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MedicationRecordKind {
    /// An ordination or prescription (FHIR MedicationRequest, RIV-TA prescription).
    Prescription,
    /// A statement that the patient takes or took it (FHIR MedicationStatement).
    Statement,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Medication {
    /// The product or substance as people read it, e.g. "Eliquis 5 mg tablett".
    pub name: String,
    /// ATC, NPL-id, RxNorm, SNOMED CT, ...
    pub code: Option<Code>,
    /// The dosage instruction as text, e.g. "1 tablett 2 gånger dagligen".
    pub dosage: Option<String>,
    /// The single dose, where structured.
    pub dose: Option<Quantity>,
    pub status: MedicationStatus,
    pub record_kind: MedicationRecordKind,
    pub start: Option<NaiveDate>,
    pub end: Option<NaiveDate>,
    pub prescriber: Option<String>,
    pub reason: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Measurements and lab results

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ResultStatus {
    Registered,
    Preliminary,
    Final,
    Amended,
    Cancelled,
    Unknown,
}

/// One part of a multi-part measurement, e.g. the systolic pressure of a blood pressure.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MeasurementComponent {
    pub name: String,
    pub code: Option<Code>,
    pub value: Option<Quantity>,
}

/// Who took a measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MeasuredBy {
    Care,
    Patient,
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Measurement {
    /// What was measured, e.g. "Blodtryck", "Kroppsvikt".
    pub name: String,
    pub code: Option<Code>,
    pub value: Option<Quantity>,
    /// A value that is not a quantity, as text.
    pub value_text: Option<String>,
    pub components: Vec<MeasurementComponent>,
    pub time: Option<DateTime<Utc>>,
    pub status: ResultStatus,
    pub measured_by: MeasuredBy,
}

/// How a lab result compares with its reference range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AbnormalFlag {
    Normal,
    Abnormal,
    Low,
    High,
    CriticallyLow,
    CriticallyHigh,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReferenceRange {
    pub low: Option<Quantity>,
    pub high: Option<Quantity>,
    pub text: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LabResult {
    /// The analysis, e.g. "P-Glukos".
    pub analysis: String,
    pub code: Option<Code>,
    pub value: Option<Quantity>,
    /// A result that is not a quantity (a coded or free-text result, or a report's conclusion).
    pub value_text: Option<String>,
    pub reference_range: Option<ReferenceRange>,
    pub abnormal: Option<AbnormalFlag>,
    /// The interpretation as the source worded it.
    pub interpretation: Option<String>,
    pub time: Option<DateTime<Utc>>,
    pub status: ResultStatus,
    /// The report (or order) the result belongs to, by name.
    pub report: Option<String>,
    /// The performing laboratory.
    pub laboratory: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Bookings

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BookingStatus {
    Proposed,
    Pending,
    Booked,
    Arrived,
    CheckedIn,
    Fulfilled,
    Cancelled,
    NoShow,
    Waitlist,
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Booking {
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    pub status: BookingStatus,
    /// What the visit is about, e.g. "Återbesök hjärtmottagningen".
    pub title: Option<String>,
    pub service_type: Option<String>,
    /// The care unit where it takes place.
    pub care_unit: Option<Organisation>,
    /// The room or place, as text.
    pub location: Option<String>,
    /// Whom the patient meets.
    pub practitioner: Option<String>,
    /// Whether the patient may cancel it themself; `None` when the source does not say.
    pub patient_may_cancel: Option<bool>,
    /// Whether the patient may rebook it themself; `None` when the source does not say.
    pub patient_may_rebook: Option<bool>,
}

// ---------------------------------------------------------------------------------------------

/// The items one source returned for one domain.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "domain", content = "items", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DomainItems {
    Patient(Vec<Sourced<PatientRecord>>),
    Contacts(Vec<Sourced<Contact>>),
    CarePlans(Vec<Sourced<CarePlan>>),
    Agreements(Vec<Sourced<Agreement>>),
    Medications(Vec<Sourced<Medication>>),
    Measurements(Vec<Sourced<Measurement>>),
    LabResults(Vec<Sourced<LabResult>>),
    Bookings(Vec<Sourced<Booking>>),
}

impl DomainItems {
    /// An empty list for `domain`.
    pub fn empty(domain: Domain) -> Self {
        match domain {
            Domain::Patient => DomainItems::Patient(Vec::new()),
            Domain::Contacts => DomainItems::Contacts(Vec::new()),
            Domain::CarePlans => DomainItems::CarePlans(Vec::new()),
            Domain::Agreements => DomainItems::Agreements(Vec::new()),
            Domain::Medications => DomainItems::Medications(Vec::new()),
            Domain::Measurements => DomainItems::Measurements(Vec::new()),
            Domain::LabResults => DomainItems::LabResults(Vec::new()),
            Domain::Bookings => DomainItems::Bookings(Vec::new()),
        }
    }

    pub fn domain(&self) -> Domain {
        match self {
            DomainItems::Patient(_) => Domain::Patient,
            DomainItems::Contacts(_) => Domain::Contacts,
            DomainItems::CarePlans(_) => Domain::CarePlans,
            DomainItems::Agreements(_) => Domain::Agreements,
            DomainItems::Medications(_) => Domain::Medications,
            DomainItems::Measurements(_) => Domain::Measurements,
            DomainItems::LabResults(_) => Domain::LabResults,
            DomainItems::Bookings(_) => Domain::Bookings,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            DomainItems::Patient(v) => v.len(),
            DomainItems::Contacts(v) => v.len(),
            DomainItems::CarePlans(v) => v.len(),
            DomainItems::Agreements(v) => v.len(),
            DomainItems::Medications(v) => v.len(),
            DomainItems::Measurements(v) => v.len(),
            DomainItems::LabResults(v) => v.len(),
            DomainItems::Bookings(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An item type that belongs to exactly one domain, so generic code can pick its list out of a
/// source's answer.
pub trait DomainItem: Sized {
    const DOMAIN: Domain;
    /// This domain's items in `items`; empty when `items` is another domain's answer.
    fn slice(items: &DomainItems) -> &[Sourced<Self>];
}

macro_rules! domain_item {
    ($ty:ty, $variant:ident) => {
        impl DomainItem for $ty {
            const DOMAIN: Domain = Domain::$variant;
            fn slice(items: &DomainItems) -> &[Sourced<Self>] {
                match items {
                    DomainItems::$variant(v) => v,
                    _ => &[],
                }
            }
        }
    };
}

domain_item!(PatientRecord, Patient);
domain_item!(Contact, Contacts);
domain_item!(CarePlan, CarePlans);
domain_item!(Agreement, Agreements);
domain_item!(Medication, Medications);
domain_item!(Measurement, Measurements);
domain_item!(LabResult, LabResults);
domain_item!(Booking, Bookings);
