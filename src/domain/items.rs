//! Normalised care-record items, one type per overview domain, with where each came from.
//!
//! Adapters produce [`Sourced`] items (one per record at one source); the merge turns those into
//! [`Merged`] items (one per real-world record, with every source's [`Provenance`]). Nothing here
//! knows a protocol or GraphQL.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::HsaId;

/// The parts of an overview, each fetched from the sources separately.
///
/// Its names are all in [`DOMAIN_NAMES`]; serialised, a domain is its [`Domain::graphql_name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
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

/// A domain's names, each for one kind of reader.
#[derive(Debug)]
pub struct DomainNames {
    pub domain: Domain,
    /// [`Domain::as_str`]: the access log's and the store's text, metrics labels, log fields,
    /// merged ids. Stored and hashed: never change one.
    pub name: &'static str,
    /// [`Domain::catalog_name`]: `domains = [...]` in a source's catalog file.
    pub catalog: &'static str,
    /// [`Domain::graphql_name`]: the value of the schema's `Domain` enum, also the `domain` of
    /// an error's `extensions`.
    pub graphql: &'static str,
    /// [`Domain::words`]: the domain in a sentence of an error message.
    pub words: &'static str,
}

/// Every name of every domain, one row per domain in the order of the enum: the only place a
/// domain is spelled. The catalog's and GraphQL's names are the stored name in kebab and upper
/// case (a test holds them to it); they are written out because they are read as
/// `&'static str`.
pub const DOMAIN_NAMES: [DomainNames; 8] = [
    names(
        Domain::Patient,
        "patient",
        "patient",
        "PATIENT",
        "patient details",
    ),
    names(
        Domain::Contacts,
        "contacts",
        "contacts",
        "CONTACTS",
        "contacts",
    ),
    names(
        Domain::CarePlans,
        "care_plans",
        "care-plans",
        "CARE_PLANS",
        "care plans",
    ),
    names(
        Domain::Agreements,
        "agreements",
        "agreements",
        "AGREEMENTS",
        "agreements",
    ),
    names(
        Domain::Medications,
        "medications",
        "medications",
        "MEDICATIONS",
        "medications",
    ),
    names(
        Domain::Measurements,
        "measurements",
        "measurements",
        "MEASUREMENTS",
        "measurements",
    ),
    names(
        Domain::LabResults,
        "lab_results",
        "lab-results",
        "LAB_RESULTS",
        "lab results",
    ),
    names(
        Domain::Bookings,
        "bookings",
        "bookings",
        "BOOKINGS",
        "bookings",
    ),
];

const fn names(
    domain: Domain,
    name: &'static str,
    catalog: &'static str,
    graphql: &'static str,
    words: &'static str,
) -> DomainNames {
    DomainNames {
        domain,
        name,
        catalog,
        graphql,
        words,
    }
}

// Row `i` is the domain whose discriminant is `i`, so a domain finds its names by index; a row
// out of place fails the build.
const _: () = {
    let mut i = 0;
    while i < DOMAIN_NAMES.len() {
        assert!(
            DOMAIN_NAMES[i].domain as usize == i,
            "DOMAIN_NAMES out of order"
        );
        i += 1;
    }
};

impl Domain {
    /// Every domain, in the order of the enum.
    pub const ALL: [Domain; 8] = {
        let mut all = [Domain::Patient; 8];
        let mut i = 0;
        while i < all.len() {
            all[i] = DOMAIN_NAMES[i].domain;
            i += 1;
        }
        all
    };

    /// Every [`Domain::catalog_name`], for the catalog reader's "expected one of" message.
    pub const CATALOG_NAMES: [&'static str; 8] = {
        let mut all = [""; 8];
        let mut i = 0;
        while i < all.len() {
            all[i] = DOMAIN_NAMES[i].catalog;
            i += 1;
        }
        all
    };

    /// All of this domain's names.
    pub const fn names(self) -> &'static DomainNames {
        &DOMAIN_NAMES[self as usize]
    }

    /// A short, stable name for logs, metrics, ids and the store (never contains patient
    /// data): `lab_results`.
    pub const fn as_str(self) -> &'static str {
        self.names().name
    }

    /// The name a source's catalog file uses: `lab-results`.
    pub const fn catalog_name(self) -> &'static str {
        self.names().catalog
    }

    /// The schema's name of the domain: `LAB_RESULTS`.
    pub const fn graphql_name(self) -> &'static str {
        self.names().graphql
    }

    /// The domain in words, for messages: `lab results`.
    pub const fn words(self) -> &'static str {
        self.names().words
    }

    /// The domain whose [`Domain::as_str`] is `name`, as stored (e.g. in a delegation).
    pub fn from_str_name(name: &str) -> Option<Domain> {
        DOMAIN_NAMES
            .iter()
            .find(|n| n.name == name)
            .map(|n| n.domain)
    }

    /// The domain whose [`Domain::catalog_name`] is `name`.
    pub fn from_catalog_name(name: &str) -> Option<Domain> {
        DOMAIN_NAMES
            .iter()
            .find(|n| n.catalog == name)
            .map(|n| n.domain)
    }
}

impl Serialize for Domain {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.graphql_name())
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

impl<T: PartialEq> Sourced<T> {
    /// The same record with the same content, whenever each was fetched.
    pub fn same_record(&self, other: &Self) -> bool {
        let (a, b) = (&self.provenance, &other.provenance);
        self.item == other.item
            && self.identifiers == other.identifiers
            && self.approved_for_patient == other.approved_for_patient
            && a.source_id == b.source_id
            && a.source_name == b.source_name
            && a.system == b.system
            && a.care_unit == b.care_unit
            && a.care_provider == b.care_provider
            && a.record_id == b.record_id
    }
}

fn same_records<T: PartialEq>(a: &[Sourced<T>], b: &[Sourced<T>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_record(y))
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
    /// The [`LabReport`] the result belongs to. From an adapter: the report's
    /// [`LabReport::source_ref`] at the same source; after merging
    /// (`merge::reports::merge_lab`): the merged report's id, or none when that report is not
    /// in the merged list.
    pub report_id: Option<String>,
    /// The laboratory's comment on the result, where the source gives one.
    pub comment: Option<String>,
}

/// A lab report (laboratoriesvar): the answer to one order, holding its results.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LabReport {
    /// What the report is about, e.g. "Klinisk kemi: vitamin B12".
    pub title: String,
    pub code: Option<Code>,
    /// When the samples were taken, else when the report was made.
    pub time: Option<DateTime<Utc>>,
    pub status: ResultStatus,
    /// The laboratory that answers for the report.
    pub laboratory: Option<Organisation>,
    /// The unit that ordered the analyses, where the source says.
    pub ordering_unit: Option<Organisation>,
    /// The laboratory's (or reviewing doctor's) conclusion as text.
    pub conclusion: Option<String>,
    /// Comments on the report or on groups of its analyses.
    pub comments: Vec<String>,
    /// The merged ids of its results, in the lab results' order; empty from an adapter (the
    /// results name their report instead), filled when merged.
    pub result_ids: Vec<String>,
}

impl LabReport {
    /// How an adapter's [`LabResult::report_id`] names a report of the same answer: the source
    /// and the report's record id (its provenance's), so that the merge can find the merged
    /// report that record went into.
    pub fn source_ref(source_id: &str, record_id: &str) -> String {
        format!("{source_id}\u{1f}{record_id}")
    }
}

/// One source's answer for the lab results domain: single results, and the reports that hold
/// them (a result without a report stands alone).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LabItems {
    pub results: Vec<Sourced<LabResult>>,
    pub reports: Vec<Sourced<LabReport>>,
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
    LabResults(LabItems),
    Bookings(Vec<Sourced<Booking>>),
}

impl DomainItems {
    /// Whether two answers hold the same records with the same content, in the same order,
    /// whenever each was fetched: a refetch that brings nothing new is not a change.
    pub fn same_records(&self, other: &Self) -> bool {
        use DomainItems as D;
        match (self, other) {
            (D::Patient(a), D::Patient(b)) => same_records(a, b),
            (D::Contacts(a), D::Contacts(b)) => same_records(a, b),
            (D::CarePlans(a), D::CarePlans(b)) => same_records(a, b),
            (D::Agreements(a), D::Agreements(b)) => same_records(a, b),
            (D::Medications(a), D::Medications(b)) => same_records(a, b),
            (D::Measurements(a), D::Measurements(b)) => same_records(a, b),
            (D::LabResults(a), D::LabResults(b)) => {
                same_records(&a.results, &b.results) && same_records(&a.reports, &b.reports)
            }
            (D::Bookings(a), D::Bookings(b)) => same_records(a, b),
            _ => false,
        }
    }

    /// An empty list for `domain`.
    pub fn empty(domain: Domain) -> Self {
        match domain {
            Domain::Patient => DomainItems::Patient(Vec::new()),
            Domain::Contacts => DomainItems::Contacts(Vec::new()),
            Domain::CarePlans => DomainItems::CarePlans(Vec::new()),
            Domain::Agreements => DomainItems::Agreements(Vec::new()),
            Domain::Medications => DomainItems::Medications(Vec::new()),
            Domain::Measurements => DomainItems::Measurements(Vec::new()),
            Domain::LabResults => DomainItems::LabResults(LabItems::default()),
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
            DomainItems::LabResults(v) => v.results.len() + v.reports.len(),
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

impl DomainItem for LabResult {
    const DOMAIN: Domain = Domain::LabResults;
    fn slice(items: &DomainItems) -> &[Sourced<Self>] {
        match items {
            DomainItems::LabResults(v) => &v.results,
            _ => &[],
        }
    }
}

/// Reports come in the lab results' answers and are shown under the same access rules.
impl DomainItem for LabReport {
    const DOMAIN: Domain = Domain::LabResults;
    fn slice(items: &DomainItems) -> &[Sourced<Self>] {
        match items {
            DomainItems::LabResults(v) => &v.reports,
            _ => &[],
        }
    }
}
domain_item!(Booking, Bookings);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_domain_finds_itself_by_every_name() {
        for domain in Domain::ALL {
            assert_eq!(domain.names().domain, domain);
            assert_eq!(Domain::from_str_name(domain.as_str()), Some(domain));
            assert_eq!(
                Domain::from_catalog_name(domain.catalog_name()),
                Some(domain)
            );
        }
        assert_eq!(Domain::from_str_name("lab-results"), None);
        assert_eq!(Domain::from_catalog_name("lab_results"), None);
    }

    #[test]
    fn the_catalog_and_graphql_names_are_the_stored_name_in_kebab_and_upper_case() {
        for domain in Domain::ALL {
            assert_eq!(domain.catalog_name(), domain.as_str().replace('_', "-"));
            assert_eq!(domain.graphql_name(), domain.as_str().to_uppercase());
        }
    }

    #[test]
    fn the_names_outside_readers_rely_on_are_unchanged() {
        // Stored in the access log and delegations, hashed into merged ids, used as metric
        // labels: spelled out here once more on purpose, so a change to the table shows.
        let stored: Vec<&str> = Domain::ALL.iter().map(|d| d.as_str()).collect();
        assert_eq!(
            stored,
            [
                "patient",
                "contacts",
                "care_plans",
                "agreements",
                "medications",
                "measurements",
                "lab_results",
                "bookings"
            ]
        );
        assert_eq!(Domain::CATALOG_NAMES[2], "care-plans");
        assert_eq!(Domain::CATALOG_NAMES[6], "lab-results");
        // Serialised as the derive with SCREAMING_SNAKE_CASE did.
        assert_eq!(
            serde_json::to_string(&Domain::ALL).unwrap(),
            r#"["PATIENT","CONTACTS","CARE_PLANS","AGREEMENTS","MEDICATIONS","MEASUREMENTS","LAB_RESULTS","BOOKINGS"]"#
        );
    }
}
