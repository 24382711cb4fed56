//! The schema's object and enum types, resolved straight from the normalised domain items.

use async_graphql::{Context, Enum, ID, Object};

use super::labels::Language;
use super::scalars::{Date, DateTime, HsaIdScalar};
use crate::domain::concepts::{self, Concept};
use crate::domain::{
    self, Agreement, Booking, CarePlan, Code, Contact, LabReport, LabResult, Measurement,
    MeasurementComponent, Medication, Merged, Organisation, Provenance, Quantity, ReferenceRange,
    code_system,
};
use crate::engine::FetchState;

// ---------------------------------------------------------------------------------------------
// Enums, mirrored from the domain so the domain stays free of GraphQL.

/// The parts of an overview.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "domain::Domain")]
pub enum Domain {
    Patient,
    Contacts,
    CarePlans,
    Agreements,
    Medications,
    Measurements,
    LabResults,
    Bookings,
}

/// What happened when a source was asked.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "FetchState")]
pub enum SourceState {
    /// Fresh from the source during this request.
    FromSource,
    /// From Överblick's cache, within its time to live.
    FromCache,
    /// The source failed; cached data (see `fetchedAt`) was served instead.
    StaleSourceFailed,
    /// The source failed; nothing from it is included.
    Failed,
    /// The source did not answer in time; nothing from it is included.
    TimedOut,
    /// An aggregating source reported a status outside its contract for a system behind it.
    Unknown,
    /// Still being asked: only in a subscription's events before the source has answered.
    Pending,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "domain::ContactRole")]
pub enum ContactRole {
    /// Fast läkarkontakt.
    NamedDoctor,
    /// Fast vårdkontakt.
    NamedCareContact,
    /// Fast omsorgskontakt in municipal care.
    MunicipalCareContact,
    /// Another member of the care network.
    CareTeamMember,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "domain::CarePlanKind")]
pub enum CarePlanKind {
    /// Samordnad individuell plan (region and municipality together).
    Sip,
    CarePlan,
    RehabilitationPlan,
    Other,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "domain::PlanStatus")]
pub enum PlanStatus {
    Draft,
    Active,
    OnHold,
    Completed,
    Revoked,
    Unknown,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "domain::AgreementKind")]
pub enum AgreementKind {
    Goal,
    Activity,
    /// Something the patient agreed to do themself.
    SelfCare,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "domain::AgreementStatus")]
pub enum AgreementStatus {
    Planned,
    Active,
    OnHold,
    Completed,
    Cancelled,
    Unknown,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "domain::MedicationStatus")]
pub enum MedicationStatus {
    Active,
    OnHold,
    Ended,
    Unknown,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "domain::MedicationRecordKind")]
pub enum MedicationRecordKind {
    /// An ordination or prescription.
    Prescription,
    /// A record that the patient takes or took it.
    Statement,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "domain::ResultStatus")]
pub enum ResultStatus {
    Registered,
    Preliminary,
    Final,
    Amended,
    Cancelled,
    Unknown,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "domain::MeasuredBy")]
pub enum MeasuredBy {
    Care,
    /// Entered by the patient (egen mätning).
    Patient,
    Unknown,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "domain::AbnormalFlag")]
pub enum AbnormalFlag {
    Normal,
    Abnormal,
    Low,
    High,
    CriticallyLow,
    CriticallyHigh,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "domain::BookingStatus")]
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

// ---------------------------------------------------------------------------------------------
// Shared value types

/// A care unit or care provider.
#[Object(name = "Organization")]
impl Organisation {
    async fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    async fn hsa_id(&self) -> Option<HsaIdScalar> {
        self.hsa_id.clone().map(HsaIdScalar)
    }
}

/// Where an item came from. An item reported by several sources has one entry per source.
#[Object(name = "Provenance")]
impl Provenance {
    /// Överblick's id of the source.
    async fn source_id(&self) -> &str {
        &self.source_id
    }

    /// The source's name, e.g. "Akademiska sjukhuset".
    async fn source_name(&self) -> &str {
        &self.source_name
    }

    /// The record system behind the source, e.g. "Cosmic".
    async fn system(&self) -> Option<&str> {
        self.system.as_deref()
    }

    /// The care unit responsible for the record, where known.
    async fn care_unit(&self) -> Option<&Organisation> {
        self.care_unit.as_ref()
    }

    /// The care provider (vårdgivare) holding the record.
    async fn care_provider(&self) -> Option<&Organisation> {
        self.care_provider.as_ref()
    }

    /// The record's id at the source.
    async fn record_id(&self) -> &str {
        &self.record_id
    }

    /// When the source's answer arrived.
    async fn fetched_at(&self) -> DateTime {
        DateTime(self.fetched_at)
    }
}

/// A code from a code system (ATC, LOINC, NPU, SNOMED CT...).
#[Object(name = "Coding")]
impl Code {
    async fn system(&self) -> Option<&str> {
        self.system.as_deref()
    }

    async fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    async fn display(&self) -> Option<&str> {
        self.display.as_deref()
    }

    /// The code system's short name, e.g. `NPU` for `urn:oid:1.2.208.176.2.1`, `SNOMED CT`,
    /// `ATC`, `KVÅ`; null for a system the service does not know (never a guess). The names
    /// and every identifier they stand for are in `labels { codeSystems }`.
    async fn system_name(&self) -> Option<&'static str> {
        code_system(self.system.as_deref()?).map(|s| s.name)
    }

    /// The code system in words, in the request's language (`Accept-Language`), e.g.
    /// "NPU, nomenklatur för laboratorieanalyser"; null where `systemName` is.
    async fn system_label(&self, ctx: &Context<'_>) -> Option<&'static str> {
        let system = code_system(self.system.as_deref()?)?;
        Some(Language::of(ctx).pick(system.label_sv, system.label_en))
    }
}

/// A measurement or lab analysis in Överblick's concept map: the same thing whatever code
/// system (LOINC, SNOMED CT, NPU) a source coded it in. Names are given in Swedish and English
/// side by side.
#[Object(name = "Concept")]
impl Concept {
    /// Stable, e.g. `body-weight`, `creatinine`.
    async fn id(&self) -> &str {
        &self.id
    }

    /// In Swedish, e.g. "Kroppsvikt", "P-Kreatinin".
    async fn name_sv(&self) -> &str {
        &self.name_sv
    }

    /// In English, e.g. "Body weight".
    async fn name_en(&self) -> &str {
        &self.name_en
    }
}

/// A measured amount.
#[Object(name = "Quantity")]
impl Quantity {
    async fn value(&self) -> f64 {
        self.value
    }

    /// The unit as people read it.
    async fn unit(&self) -> Option<&str> {
        self.unit.as_deref()
    }

    /// The UCUM unit code, where given.
    async fn unit_code(&self) -> Option<&str> {
        self.unit_code.as_deref()
    }
}

// ---------------------------------------------------------------------------------------------
// Items

/// A named contact (fast läkarkontakt, fast vårdkontakt, fast omsorgskontakt) or another member
/// of the care network.
#[Object(name = "Contact")]
impl Merged<Contact> {
    /// Stable across requests and restarts for the same record.
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }

    async fn role(&self) -> ContactRole {
        self.item.role.into()
    }

    /// The role as the source worded it.
    async fn role_text(&self) -> Option<&str> {
        self.item.role_text.as_deref()
    }

    async fn name(&self) -> Option<&str> {
        self.item.name.as_deref()
    }

    async fn profession(&self) -> Option<&str> {
        self.item.profession.as_deref()
    }

    async fn hsa_id(&self) -> Option<HsaIdScalar> {
        self.item.hsa_id.clone().map(HsaIdScalar)
    }

    async fn care_unit(&self) -> Option<&Organisation> {
        self.item.care_unit.as_ref()
    }

    async fn phone(&self) -> Option<&str> {
        self.item.phone.as_deref()
    }

    async fn email(&self) -> Option<&str> {
        self.item.email.as_deref()
    }

    async fn start(&self) -> Option<Date> {
        self.item.start.map(Date)
    }

    async fn end(&self) -> Option<Date> {
        self.item.end.map(Date)
    }

    async fn provenance(&self) -> &[Provenance] {
        &self.provenance
    }
}

/// A plan that governs the patient's care: vårdplan, SIP, rehabiliteringsplan...
#[Object(name = "CarePlan")]
impl Merged<CarePlan> {
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }

    async fn title(&self) -> &str {
        &self.item.title
    }

    async fn kind(&self) -> CarePlanKind {
        self.item.kind.into()
    }

    /// The category as the source worded it.
    async fn category(&self) -> Option<&str> {
        self.item.category.as_deref()
    }

    async fn status(&self) -> PlanStatus {
        self.item.status.into()
    }

    async fn description(&self) -> Option<&str> {
        self.item.description.as_deref()
    }

    async fn start(&self) -> Option<Date> {
        self.item.start.map(Date)
    }

    async fn end(&self) -> Option<Date> {
        self.item.end.map(Date)
    }

    /// When the plan is next to be followed up.
    async fn next_review(&self) -> Option<Date> {
        self.item.next_review.map(Date)
    }

    /// Who owns the plan.
    async fn owner(&self) -> Option<&str> {
        self.item.owner.as_deref()
    }

    async fn care_unit(&self) -> Option<&Organisation> {
        self.item.care_unit.as_ref()
    }

    async fn provenance(&self) -> &[Provenance] {
        &self.provenance
    }
}

/// Something the patient and the care team agreed (överenskommelse): a goal, or who does what.
#[Object(name = "Agreement")]
impl Merged<Agreement> {
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }

    async fn kind(&self) -> AgreementKind {
        self.item.kind.into()
    }

    async fn description(&self) -> &str {
        &self.item.description
    }

    async fn status(&self) -> AgreementStatus {
        self.item.status.into()
    }

    /// Who is to carry it out.
    async fn responsible(&self) -> Option<&str> {
        self.item.responsible.as_deref()
    }

    async fn start(&self) -> Option<Date> {
        self.item.start.map(Date)
    }

    async fn due(&self) -> Option<Date> {
        self.item.due.map(Date)
    }

    /// The plan it belongs to, by title.
    async fn care_plan(&self) -> Option<&str> {
        self.item.care_plan.as_deref()
    }

    async fn provenance(&self) -> &[Provenance] {
        &self.provenance
    }
}

/// A medication: an ordination or prescription, or a record that the patient takes it.
#[Object(name = "Medication")]
impl Merged<Medication> {
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }

    /// The product or substance, e.g. "Eliquis 5 mg tablett".
    async fn name(&self) -> &str {
        &self.item.name
    }

    /// ATC, NPL-id or another code.
    async fn code(&self) -> Option<&Code> {
        self.item.code.as_ref()
    }

    /// The dosage instruction, e.g. "1 tablett 2 gånger dagligen".
    async fn dosage(&self) -> Option<&str> {
        self.item.dosage.as_deref()
    }

    /// The single dose, where structured.
    async fn dose(&self) -> Option<&Quantity> {
        self.item.dose.as_ref()
    }

    async fn status(&self) -> MedicationStatus {
        self.item.status.into()
    }

    async fn record_kind(&self) -> MedicationRecordKind {
        self.item.record_kind.into()
    }

    async fn start(&self) -> Option<Date> {
        self.item.start.map(Date)
    }

    async fn end(&self) -> Option<Date> {
        self.item.end.map(Date)
    }

    async fn prescriber(&self) -> Option<&str> {
        self.item.prescriber.as_deref()
    }

    async fn reason(&self) -> Option<&str> {
        self.item.reason.as_deref()
    }

    async fn provenance(&self) -> &[Provenance] {
        &self.provenance
    }
}

/// One part of a multi-part measurement, e.g. the systolic pressure.
#[Object(name = "MeasurementComponent")]
impl MeasurementComponent {
    async fn name(&self) -> &str {
        &self.name
    }

    async fn code(&self) -> Option<&Code> {
        self.code.as_ref()
    }

    async fn value(&self) -> Option<&Quantity> {
        self.value.as_ref()
    }
}

/// A measurement (mätvärde): blood pressure, weight, glucose..., taken by care staff or the
/// patient.
#[Object(name = "Measurement")]
impl Merged<Measurement> {
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }

    async fn name(&self) -> &str {
        &self.item.name
    }

    async fn code(&self) -> Option<&Code> {
        self.item.code.as_ref()
    }

    /// What was measured, in the concept map (the same measurement in any code system); null
    /// when the map does not know the code.
    async fn concept(&self) -> Option<&'static Concept> {
        self.item.code.as_ref().and_then(concepts::of)
    }

    async fn value(&self) -> Option<&Quantity> {
        self.item.value.as_ref()
    }

    /// A value that is not a quantity.
    async fn value_text(&self) -> Option<&str> {
        self.item.value_text.as_deref()
    }

    async fn components(&self) -> &[MeasurementComponent] {
        &self.item.components
    }

    async fn time(&self) -> Option<DateTime> {
        self.item.time.map(DateTime)
    }

    async fn status(&self) -> ResultStatus {
        self.item.status.into()
    }

    async fn measured_by(&self) -> MeasuredBy {
        self.item.measured_by.into()
    }

    async fn provenance(&self) -> &[Provenance] {
        &self.provenance
    }
}

/// A reference range.
#[Object(name = "ReferenceRange")]
impl ReferenceRange {
    async fn low(&self) -> Option<&Quantity> {
        self.low.as_ref()
    }

    async fn high(&self) -> Option<&Quantity> {
        self.high.as_ref()
    }

    async fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }
}

/// A lab result (provsvar).
#[Object(name = "LabResult")]
impl Merged<LabResult> {
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }

    /// The analysis, e.g. "P-Kreatinin".
    async fn analysis(&self) -> &str {
        &self.item.analysis
    }

    async fn code(&self) -> Option<&Code> {
        self.item.code.as_ref()
    }

    /// The analysis in the concept map (the same analysis in NPU or LOINC); null when the map
    /// does not know the code.
    async fn concept(&self) -> Option<&'static Concept> {
        self.item.code.as_ref().and_then(concepts::of)
    }

    async fn value(&self) -> Option<&Quantity> {
        self.item.value.as_ref()
    }

    /// A result that is not a quantity, or a report's conclusion.
    async fn value_text(&self) -> Option<&str> {
        self.item.value_text.as_deref()
    }

    async fn reference_range(&self) -> Option<&ReferenceRange> {
        self.item.reference_range.as_ref()
    }

    /// How the value compares with the reference range, where the source says.
    async fn abnormal(&self) -> Option<AbnormalFlag> {
        self.item.abnormal.map(Into::into)
    }

    /// The interpretation as the source worded it.
    async fn interpretation(&self) -> Option<&str> {
        self.item.interpretation.as_deref()
    }

    async fn time(&self) -> Option<DateTime> {
        self.item.time.map(DateTime)
    }

    async fn status(&self) -> ResultStatus {
        self.item.status.into()
    }

    /// The report the result belongs to.
    async fn report(&self) -> Option<&str> {
        self.item.report.as_deref()
    }

    async fn laboratory(&self) -> Option<&str> {
        self.item.laboratory.as_deref()
    }

    /// The id of the lab report (`Overview.labReports`) the result belongs to; null when it
    /// stands alone, or its report is not shown to you.
    async fn report_id(&self) -> Option<ID> {
        self.item.report_id.clone().map(ID)
    }

    /// The laboratory's comment on the result, where the source gives one.
    async fn comment(&self) -> Option<&str> {
        self.item.comment.as_deref()
    }

    async fn provenance(&self) -> &[Provenance] {
        &self.provenance
    }
}

/// A lab report as the overview shows it: the merged report and its merged results.
pub struct LabReportNode {
    pub report: Merged<LabReport>,
    /// The report's results as `labResults` shows them, in its order.
    pub results: Vec<Merged<LabResult>>,
}

/// A lab report (laboratoriesvar): the answer to one order, with its results.
#[Object(name = "LabReport")]
impl LabReportNode {
    async fn id(&self) -> ID {
        ID(self.report.id.clone())
    }

    /// What the report is about, e.g. "Klinisk kemi: vitamin B12".
    async fn title(&self) -> &str {
        &self.report.item.title
    }

    async fn code(&self) -> Option<&Code> {
        self.report.item.code.as_ref()
    }

    /// When the samples were taken, else when the report was made.
    async fn time(&self) -> Option<DateTime> {
        self.report.item.time.map(DateTime)
    }

    async fn status(&self) -> ResultStatus {
        self.report.item.status.into()
    }

    /// The laboratory that answers for the report.
    async fn laboratory(&self) -> Option<&Organisation> {
        self.report.item.laboratory.as_ref()
    }

    /// The unit that ordered the analyses, where the source says.
    async fn ordering_unit(&self) -> Option<&Organisation> {
        self.report.item.ordering_unit.as_ref()
    }

    /// The conclusion as text.
    async fn conclusion(&self) -> Option<&str> {
        self.report.item.conclusion.as_deref()
    }

    /// Comments on the report or on groups of its analyses.
    async fn comments(&self) -> &[String] {
        &self.report.item.comments
    }

    /// Its results you may see (each also in `labResults`), newest first.
    async fn results(&self) -> &[Merged<LabResult>] {
        &self.results
    }

    async fn provenance(&self) -> &[Provenance] {
        &self.report.provenance
    }
}

/// A booked (or proposed, or past) appointment (bokad tid).
#[Object(name = "Booking")]
impl Merged<Booking> {
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }

    async fn start(&self) -> DateTime {
        DateTime(self.item.start)
    }

    async fn end(&self) -> Option<DateTime> {
        self.item.end.map(DateTime)
    }

    async fn status(&self) -> BookingStatus {
        self.item.status.into()
    }

    async fn title(&self) -> Option<&str> {
        self.item.title.as_deref()
    }

    async fn service_type(&self) -> Option<&str> {
        self.item.service_type.as_deref()
    }

    /// Where it takes place.
    async fn care_unit(&self) -> Option<&Organisation> {
        self.item.care_unit.as_ref()
    }

    /// The room or place.
    async fn location(&self) -> Option<&str> {
        self.item.location.as_deref()
    }

    /// Whom the patient meets.
    async fn practitioner(&self) -> Option<&str> {
        self.item.practitioner.as_deref()
    }

    /// Whether the patient may cancel it themself; null when the source does not say.
    async fn patient_may_cancel(&self) -> Option<bool> {
        self.item.patient_may_cancel
    }

    /// Whether the patient may rebook it themself; null when the source does not say.
    async fn patient_may_rebook(&self) -> Option<bool> {
        self.item.patient_may_rebook
    }

    async fn provenance(&self) -> &[Provenance] {
        &self.provenance
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::resolver_utils::EnumType;

    use super::Domain;
    use crate::domain;

    #[test]
    fn the_schemas_domain_values_are_the_domain_tables_graphql_names() {
        // The schema's enum is a mirror async-graphql needs; its value names come from the
        // variant names, so this holds them to the one table (`domain::DOMAIN_NAMES`).
        let items = <Domain as EnumType>::items();
        assert_eq!(items.len(), domain::Domain::ALL.len());
        for item in items {
            let domain = domain::Domain::from(item.value);
            assert_eq!(item.name, domain.graphql_name());
        }
    }
}
