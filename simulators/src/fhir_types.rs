//! The simulator's fixed knowledge of FHIR R4: which resource types exist, which belong to the
//! patient compartment, and which `_include` parameters follow which reference elements.

/// Every resource type of FHIR R4 (4.0.1). A search for any other type is answered with 404.
const R4_TYPES: &[&str] = &[
    "Account",
    "ActivityDefinition",
    "AdverseEvent",
    "AllergyIntolerance",
    "Appointment",
    "AppointmentResponse",
    "AuditEvent",
    "Basic",
    "Binary",
    "BiologicallyDerivedProduct",
    "BodyStructure",
    "Bundle",
    "CapabilityStatement",
    "CarePlan",
    "CareTeam",
    "CatalogEntry",
    "ChargeItem",
    "ChargeItemDefinition",
    "Claim",
    "ClaimResponse",
    "ClinicalImpression",
    "CodeSystem",
    "Communication",
    "CommunicationRequest",
    "CompartmentDefinition",
    "Composition",
    "ConceptMap",
    "Condition",
    "Consent",
    "Contract",
    "Coverage",
    "CoverageEligibilityRequest",
    "CoverageEligibilityResponse",
    "DetectedIssue",
    "Device",
    "DeviceDefinition",
    "DeviceMetric",
    "DeviceRequest",
    "DeviceUseStatement",
    "DiagnosticReport",
    "DocumentManifest",
    "DocumentReference",
    "EffectEvidenceSynthesis",
    "Encounter",
    "Endpoint",
    "EnrollmentRequest",
    "EnrollmentResponse",
    "EpisodeOfCare",
    "EventDefinition",
    "Evidence",
    "EvidenceVariable",
    "ExampleScenario",
    "ExplanationOfBenefit",
    "FamilyMemberHistory",
    "Flag",
    "Goal",
    "GraphDefinition",
    "Group",
    "GuidanceResponse",
    "HealthcareService",
    "ImagingStudy",
    "Immunization",
    "ImmunizationEvaluation",
    "ImmunizationRecommendation",
    "ImplementationGuide",
    "InsurancePlan",
    "Invoice",
    "Library",
    "Linkage",
    "List",
    "Location",
    "Measure",
    "MeasureReport",
    "Media",
    "Medication",
    "MedicationAdministration",
    "MedicationDispense",
    "MedicationKnowledge",
    "MedicationRequest",
    "MedicationStatement",
    "MedicinalProduct",
    "MedicinalProductAuthorization",
    "MedicinalProductContraindication",
    "MedicinalProductIndication",
    "MedicinalProductIngredient",
    "MedicinalProductInteraction",
    "MedicinalProductManufactured",
    "MedicinalProductPackaged",
    "MedicinalProductPharmaceutical",
    "MedicinalProductUndesirableEffect",
    "MessageDefinition",
    "MessageHeader",
    "MolecularSequence",
    "NamingSystem",
    "NutritionOrder",
    "Observation",
    "ObservationDefinition",
    "OperationDefinition",
    "OperationOutcome",
    "Organization",
    "OrganizationAffiliation",
    "Parameters",
    "Patient",
    "PaymentNotice",
    "PaymentReconciliation",
    "Person",
    "PlanDefinition",
    "Practitioner",
    "PractitionerRole",
    "Procedure",
    "Provenance",
    "Questionnaire",
    "QuestionnaireResponse",
    "RelatedPerson",
    "RequestGroup",
    "ResearchDefinition",
    "ResearchElementDefinition",
    "ResearchStudy",
    "ResearchSubject",
    "RiskAssessment",
    "RiskEvidenceSynthesis",
    "Schedule",
    "SearchParameter",
    "ServiceRequest",
    "Slot",
    "Specimen",
    "SpecimenDefinition",
    "StructureDefinition",
    "StructureMap",
    "Subscription",
    "Substance",
    "SubstanceNucleicAcid",
    "SubstancePolymer",
    "SubstanceProtein",
    "SubstanceReferenceInformation",
    "SubstanceSourceMaterial",
    "SubstanceSpecification",
    "SupplyDelivery",
    "SupplyRequest",
    "Task",
    "TerminologyCapabilities",
    "TestReport",
    "TestScript",
    "ValueSet",
    "VerificationResult",
    "VisionPrescription",
];

/// Types in the R4 patient compartment (other than Patient itself): searching them without
/// naming a patient would list everybody's records, so the simulator refuses it.
const PATIENT_COMPARTMENT: &[&str] = &[
    "Account",
    "AdverseEvent",
    "AllergyIntolerance",
    "Appointment",
    "AppointmentResponse",
    "AuditEvent",
    "Basic",
    "BodyStructure",
    "CarePlan",
    "CareTeam",
    "ChargeItem",
    "Claim",
    "ClaimResponse",
    "ClinicalImpression",
    "Communication",
    "CommunicationRequest",
    "Composition",
    "Condition",
    "Consent",
    "Coverage",
    "CoverageEligibilityRequest",
    "CoverageEligibilityResponse",
    "DetectedIssue",
    "DeviceRequest",
    "DeviceUseStatement",
    "DiagnosticReport",
    "DocumentManifest",
    "DocumentReference",
    "Encounter",
    "EnrollmentRequest",
    "EpisodeOfCare",
    "ExplanationOfBenefit",
    "FamilyMemberHistory",
    "Flag",
    "Goal",
    "Group",
    "ImagingStudy",
    "Immunization",
    "ImmunizationEvaluation",
    "ImmunizationRecommendation",
    "Invoice",
    "List",
    "MeasureReport",
    "Media",
    "MedicationAdministration",
    "MedicationDispense",
    "MedicationRequest",
    "MedicationStatement",
    "MolecularSequence",
    "NutritionOrder",
    "Observation",
    "Person",
    "Procedure",
    "Provenance",
    "QuestionnaireResponse",
    "RelatedPerson",
    "RequestGroup",
    "ResearchSubject",
    "RiskAssessment",
    "Schedule",
    "ServiceRequest",
    "Specimen",
    "SupplyDelivery",
    "SupplyRequest",
    "VisionPrescription",
];

/// The types Överblick's FHIR adapter searches; the CapabilityStatement lists them even when
/// the store holds none, because the simulator answers those searches (with empty bundles).
pub(crate) const ADAPTER_TYPES: &[&str] = &[
    "Appointment",
    "CarePlan",
    "CareTeam",
    "DiagnosticReport",
    "Goal",
    "Medication",
    "MedicationRequest",
    "MedicationStatement",
    "Observation",
    "Organization",
    "Patient",
    "Practitioner",
    "PractitionerRole",
];

/// `_include` parameters the simulator follows: `(source type, parameter, element paths)`.
/// A path is a list of element names walked from the resource; arrays are flattened at every
/// step, and the element reached must be a `Reference`.
const INCLUDES: &[(&str, &str, &[&[&str]])] = &[
    ("Appointment", "actor", &[&["participant", "actor"]]),
    ("Appointment", "patient", &[&["participant", "actor"]]),
    ("Appointment", "practitioner", &[&["participant", "actor"]]),
    ("Appointment", "location", &[&["participant", "actor"]]),
    ("CarePlan", "care-team", &[&["careTeam"]]),
    ("CarePlan", "goal", &[&["goal"]]),
    ("CarePlan", "patient", &[&["subject"]]),
    ("CarePlan", "subject", &[&["subject"]]),
    ("CareTeam", "participant", &[&["participant", "member"]]),
    ("CareTeam", "patient", &[&["subject"]]),
    ("CareTeam", "subject", &[&["subject"]]),
    ("DiagnosticReport", "patient", &[&["subject"]]),
    ("Location", "organization", &[&["managingOrganization"]]),
    ("DiagnosticReport", "performer", &[&["performer"]]),
    ("DiagnosticReport", "result", &[&["result"]]),
    ("DiagnosticReport", "subject", &[&["subject"]]),
    ("Goal", "patient", &[&["subject"]]),
    ("Goal", "subject", &[&["subject"]]),
    (
        "MedicationRequest",
        "medication",
        &[&["medicationReference"]],
    ),
    ("MedicationRequest", "patient", &[&["subject"]]),
    ("MedicationRequest", "requester", &[&["requester"]]),
    ("MedicationRequest", "subject", &[&["subject"]]),
    (
        "MedicationStatement",
        "medication",
        &[&["medicationReference"]],
    ),
    ("MedicationStatement", "patient", &[&["subject"]]),
    ("MedicationStatement", "source", &[&["informationSource"]]),
    ("MedicationStatement", "subject", &[&["subject"]]),
    ("Observation", "patient", &[&["subject"]]),
    ("Observation", "performer", &[&["performer"]]),
    ("Observation", "subject", &[&["subject"]]),
    (
        "Patient",
        "general-practitioner",
        &[&["generalPractitioner"]],
    ),
    ("Patient", "organization", &[&["managingOrganization"]]),
    ("PractitionerRole", "location", &[&["location"]]),
    ("PractitionerRole", "organization", &[&["organization"]]),
    ("PractitionerRole", "practitioner", &[&["practitioner"]]),
];

/// Whether `name` is a FHIR R4 resource type.
pub(crate) fn is_r4_type(name: &str) -> bool {
    R4_TYPES.binary_search(&name).is_ok()
}

/// Whether `name` is in the patient compartment (Patient itself is not).
pub(crate) fn is_patient_compartment(name: &str) -> bool {
    PATIENT_COMPARTMENT.binary_search(&name).is_ok()
}

/// The element paths an `_include` of `source:param` follows, if the simulator knows it.
pub(crate) fn include_paths(
    source: &str,
    param: &str,
) -> Option<&'static [&'static [&'static str]]> {
    INCLUDES
        .iter()
        .find(|(s, p, _)| *s == source && *p == param)
        .map(|(_, _, paths)| *paths)
}

/// The `_include` values the simulator follows for resources of `source`, as `Type:param`.
pub(crate) fn includes_of(source: &str) -> Vec<String> {
    INCLUDES
        .iter()
        .filter(|(s, _, _)| *s == source)
        .map(|(s, p, _)| format!("{s}:{p}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_tables_are_sorted_so_binary_search_works() {
        assert!(R4_TYPES.windows(2).all(|w| w[0] < w[1]));
        assert!(PATIENT_COMPARTMENT.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn every_compartment_and_adapter_type_is_an_r4_type() {
        for t in PATIENT_COMPARTMENT.iter().chain(ADAPTER_TYPES) {
            assert!(is_r4_type(t), "{t}");
        }
        for (s, _, _) in INCLUDES {
            assert!(is_r4_type(s), "{s}");
        }
    }

    #[test]
    fn the_adapters_includes_are_known() {
        for (source, param) in [
            ("CareTeam", "participant"),
            ("PractitionerRole", "practitioner"),
            ("PractitionerRole", "organization"),
            ("MedicationRequest", "medication"),
            ("MedicationStatement", "medication"),
            ("DiagnosticReport", "result"),
            ("Appointment", "actor"),
        ] {
            assert!(include_paths(source, param).is_some(), "{source}:{param}");
        }
    }
}
