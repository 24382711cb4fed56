//! The FHIR R4 adapter: searches a FHIR server per domain, follows paging, and maps resources to normalised items.
//!
//! - [`FhirSource`] (`source.rs`) is the [`SourceAdapter`](crate::sources::SourceAdapter): it
//!   runs the searches listed in the README ("FHIR sources") concurrently, follows `link[relation=next]` (same origin only, no repeats, at most
//!   100 pages), and turns HTTP and FHIR errors into [`SourceError`](crate::sources::SourceError)s.
//! - [`ResourceSet`] (`resources.rs`) holds the resources of any number of bundles (searchset,
//!   collection, transaction, document, batch-response with nested bundles) or single resources,
//!   indexed so `<Type>/<id>`, absolute URLs ending in `<Type>/<id>`, `urn:uuid:` full URLs and
//!   contained `#id` references resolve.
//! - [`map_domain`] (`map/`) maps a set to one domain's items: pure, no I/O, never panics.
//!   A resource that cannot be mapped (e.g. an Appointment without `start`) is left out and
//!   counted ([`map_domain_with_stats`]; logged at debug level with its resource type only).
//!
//! # Which resources count
//!
//! In search answers, entries with `search.mode = match`; `include` entries only serve to resolve
//! references (except lab Observations a DiagnosticReport lists as results). Entries without a
//! search mode (collections, documents, transactions, single files) all count.
//!
//! # Mapping (FHIR element → item field)
//!
//! Every item: `provenance.source_id/source_name/system/care_provider` from the catalog's
//! `SourceInfo`; `record_id` = `<Type>/<id>` (else the entry's fullUrl); `fetched_at` = when the
//! answer arrived; `care_unit` = the organisation the record names (below), else the catalog's
//! default care unit. An organisation is `Organization.name` with the HSA-id from an
//! `identifier` with system `urn:oid:1.2.752.129.2.1.4.1` (invalid HSA-ids are ignored); an
//! unresolved reference to an Organization gives its `display` (and a logical
//! `Reference.identifier` HSA-id). `identifiers` = the resource's `identifier` (system + value),
//! except items that are one part of a resource (a CareTeam member, a CarePlan activity), which
//! carry none: the resource's identifier names the whole team or plan. A person's name is
//! `HumanName.text`, else given names + family, from the first official/usual name. A
//! CodeableConcept reads as its `text`, else the first coding `display`. Dates are the calendar
//! date as written (the local date of a dateTime's offset; a year or month means its first day,
//! or its last day for the end of a period); times are UTC (a date alone means midnight UTC).
//! A resolved reference gives the resource's name, an unresolved one its `display`.
//!
//! | item | field | FHIR |
//! |---|---|---|
//! | PatientRecord | name | Patient.name |
//! | Contact | (one per) | CareTeam.participant, except Patient / RelatedPerson / Group members; CareTeam `entered-in-error` left out |
//! | | role | participant.role coding in `https://overblick.se/fhir/CodeSystem/contact-role`: `named-doctor` → NamedDoctor, `named-care-contact` → NamedCareContact, `municipal-care-contact` → MunicipalCareContact; else CareTeamMember |
//! | | role_text | participant.role text / display |
//! | | name | member PractitionerRole → its Practitioner's name; member Practitioner → its name; member Organization → none; unresolved → member.display |
//! | | profession | PractitionerRole.code |
//! | | hsa_id | Practitioner, else PractitionerRole, identifier in the HSA system |
//! | | care_unit | PractitionerRole.organization; for a Practitioner participant.onBehalfOf, else CareTeam.managingOrganization; an Organization member is itself the unit |
//! | | phone / email | PractitionerRole.telecom, then Practitioner.telecom (Organization.telecom for a unit) |
//! | | start / end | participant.period, else CareTeam.period |
//! | CarePlan | title | CarePlan.title, else category text, else "Vårdplan" |
//! | | kind | category coding in `https://overblick.se/fhir/CodeSystem/care-plan-kind` (`sip`, `care-plan`, `rehabilitation-plan`, `other`); else CarePlan |
//! | | category | category text / display |
//! | | status | draft, active, on-hold, completed, revoked; other → Unknown; `entered-in-error` left out |
//! | | description | description |
//! | | start / end | period |
//! | | next_review | extension `https://overblick.se/fhir/StructureDefinition/next-review` (valueDate) |
//! | | owner | author name |
//! | | care_unit | author's organisation (PractitionerRole.organization or an Organization author) |
//! | Agreement (Goal) | kind | Goal |
//! | | description | Goal.description (required) |
//! | | status | lifecycleStatus: proposed/planned/accepted → Planned, active → Active, on-hold → OnHold, completed → Completed, cancelled/rejected → Cancelled, else Unknown; `entered-in-error` left out |
//! | | responsible | expressedBy name |
//! | | start / due | `startDate` / `target[0].dueDate` |
//! | | care_plan | title of a CarePlan in the answer whose `goal` lists it |
//! | Agreement (activity) | (one per) | CarePlan.activity of plans with intent plan/order/directive (not proposal/option) and status active/on-hold/completed |
//! | | kind | SelfCare if a detail.performer is a Patient, else Activity |
//! | | description | detail.description, else detail.code; an activity with only a `reference` counts only with a display (status Unknown) |
//! | | status | detail.status: not-started/scheduled → Planned, in-progress → Active, on-hold → OnHold, completed → Completed, cancelled/stopped → Cancelled, else Unknown; `entered-in-error` left out |
//! | | responsible | first detail.performer name |
//! | | start / due | detail.scheduledPeriod (else scheduledTiming.repeat.boundsPeriod) |
//! | | care_plan | the plan's title |
//! | Medication | record_kind | MedicationRequest → Prescription, MedicationStatement → Statement |
//! | | name | medicationCodeableConcept, else medicationReference → Medication.code (contained too), else its display (required) |
//! | | code | the ATC coding (`http://www.whocc.no/atc`), else the first coding |
//! | | dosage | dosageInstruction[] / dosage[] texts joined with "; " |
//! | | dose | first doseAndRate.doseQuantity |
//! | | status | active/intended → Active, on-hold → OnHold, completed/stopped/cancelled/not-taken → Ended, else Unknown; draft and `entered-in-error` left out |
//! | | start | dosage timing.repeat.boundsPeriod.start, else dispenseRequest.validityPeriod.start, else authoredOn, else effectivePeriod.start / effectiveDateTime |
//! | | end | boundsPeriod.end, else validityPeriod.end, else effectivePeriod.end |
//! | | prescriber | requester name |
//! | | reason | reasonCode, else reasonReference → the Condition's code, else its display |
//! | | care_unit | requester's organisation |
//! | Measurement | (one per) | Observation with category `vital-signs`; pure panels (hasMember, no value, no component) and `entered-in-error` left out |
//! | | name / code | code (the LOINC coding, else the first) |
//! | | value | valueQuantity |
//! | | value_text | valueString / valueCodeableConcept / valueBoolean / valueInteger / valueRange / valueRatio / valueTime / valueDateTime / valuePeriod, else dataAbsentReason |
//! | | components | component: code, valueQuantity |
//! | | time | effectiveDateTime / effectiveInstant / effectivePeriod.start, else issued |
//! | | status | registered, preliminary, final, amended/corrected → Amended, cancelled, else Unknown |
//! | | measured_by | Patient if a performer is a Patient, Care if there is another performer, else Unknown |
//! | LabResult (Observation) | (one per) | Observation with category `laboratory` or no category at all, or listed in a DiagnosticReport's `result`; never `vital-signs`; pure panels and `entered-in-error` left out |
//! | | analysis / code | code (the NPU coding `urn:oid:1.2.208.176.2.1`, else LOINC, else the first) |
//! | | value / value_text | as for measurements; an Observation with components only gets them as text ("name: value unit; ...") |
//! | | reference_range | `referenceRange[0]` low / high / text |
//! | | abnormal | interpretation code (v3 ObservationInterpretation / v2 0078, or no system; `sources::hl7`): N → Normal, A/AA → Abnormal, L/LU/`<` → Low, H/HU/`>` → High, LL → CriticallyLow, HH → CriticallyHigh |
//! | | interpretation | interpretation text / display |
//! | | time | `effective[x]`, else issued, else the report's |
//! | | report | the code of the DiagnosticReport listing it, else of the panel (hasMember) holding it |
//! | | laboratory | performer name, else the report's performer |
//! | | care_unit | performer's organisation, else the report's |
//! | | report_id | the primary DiagnosticReport listing it (its `LabReport`) |
//! | | comment | `note[].text` joined with "; " |
//! | LabReport | (one per) | primary DiagnosticReport with a code; `entered-in-error` left out; a clinical note (no result, no conclusion, only `presentedForm`, not in the laboratory category) is neither a report nor a result, only counted |
//! | | title / code | code (as for results) |
//! | | time / status | as for results |
//! | | laboratory | performer's organisation (name, HSA-id), else its name |
//! | | conclusion | conclusion, else conclusionCode texts joined with "; " |
//! | | ordering_unit | `basedOn` → a ServiceRequest in the answer (contained or included) → its requester's organisation |
//! | | comments | none (R4 has no note on a report) |
//! | LabResult (DiagnosticReport) | (one per) | a report none of whose results resolve, or one with a conclusion (so the conclusion is kept next to its results); `entered-in-error` left out |
//! | | analysis / code | DiagnosticReport.code |
//! | | value_text | conclusion, else conclusionCode texts joined with "; " |
//! | | time / status / laboratory / care_unit | as for Observations, from the report (status partial → Preliminary, appended → Amended) |
//! | Booking | (one per) | Appointment with a `start`; `entered-in-error` left out |
//! | | start / end | start / end |
//! | | status | proposed, pending, booked, arrived, checked-in, fulfilled, cancelled, noshow, waitlist; else Unknown |
//! | | title | description, else serviceType, else appointmentType |
//! | | service_type | serviceType |
//! | | care_unit | an Organization actor, else a Location actor's managingOrganization, else a PractitionerRole actor's organization |
//! | | location | Location actor name |
//! | | practitioner | Practitioner / PractitionerRole actor name |
//! | | patient_may_cancel / patient_may_rebook | extensions `https://overblick.se/fhir/StructureDefinition/patient-may-cancel` / `.../patient-may-rebook` (valueBoolean) |

//!
//! # Approved for patient view
//!
//! Every item's `approved_for_patient` is true unless the source marks the record as not to be
//! shown to the patient yet (an unsigned note, a result the doctor has not reviewed), with
//! either marker:
//!
//! - the extension `https://overblick.se/fhir/StructureDefinition/approved-for-patient` with
//!   `valueBoolean` false, on the resource, or on the CareTeam `participant` or CarePlan
//!   `activity` an item is made from (a value other than `true` counts as false: a marker the
//!   source meant to set is read in the direction that shows less);
//! - the security label `NOPAT` from `http://terminology.hl7.org/CodeSystem/v3-ActCode` in
//!   `meta.security` (HL7's refrain policy "no disclosure to patient, family or caregivers
//!   without attending provider's authorization", part of FHIR R4's security-labels value set).
//!
//! What a record withholds, its parts withhold too: a contained resource shares its
//! container's markers, the results of a DiagnosticReport that is not approved (`result`) and
//! the members of a panel Observation that is not approved (`hasMember`, followed through
//! nested panels) are not approved either, whatever their own markers say.

mod config;
mod elements;
mod map;
pub mod notification;
mod outcome;
mod resources;
mod source;

pub use config::FhirConfig;
pub use map::{MapStats, map_domain, map_domain_with_stats};
pub use resources::{EntryMode, Res, ResourceSet, ResourceSetError};
pub use source::{FHIR_JSON, FhirSource, MAX_PAGES};
