//! The RIV-TA service contracts Överblick consumes: for each, its namespaces, the address path
//! on the service platform, the engagement index's service domain and categorisation, and the
//! overview domain it feeds.

use crate::domain::Domain;

/// One service contract (interaction) in one major version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Contract {
    /// `GetCareContacts` v3 (clinicalprocess:logistics:logistics 3.0) → contacts.
    CareContacts3,
    /// `GetCarePlans` v2 (clinicalprocess:logistics:logistics 3.0) → care plans.
    CarePlans2,
    /// `GetMedicationHistory` v2 (clinicalprocess:activityprescription:actoutcome 2.0) →
    /// medications.
    MedicationHistory2,
    /// `GetObservations` v1 (clinicalprocess:healthcond:basic 1.1) → measurements.
    Observations1,
    /// `GetLaboratoryOrderOutcome` v4 (clinicalprocess:healthcond:actoutcome 4.0) → lab results.
    LaboratoryOrderOutcome4,
    /// `GetLaboratoryOrderOutcome` v3 (clinicalprocess:healthcond:actoutcome 3.1) → lab results,
    /// for producers not yet on v4.
    LaboratoryOrderOutcome3,
    /// `GetSubjectOfCareSchedule` v1 (crm:scheduling 1.1) → bookings.
    SubjectOfCareSchedule1,
}

impl Contract {
    pub const ALL: [Contract; 7] = [
        Contract::CareContacts3,
        Contract::CarePlans2,
        Contract::MedicationHistory2,
        Contract::Observations1,
        Contract::LaboratoryOrderOutcome4,
        Contract::LaboratoryOrderOutcome3,
        Contract::SubjectOfCareSchedule1,
    ];

    /// The interaction's name, e.g. `GetMedicationHistory`.
    pub fn name(self) -> &'static str {
        match self {
            Contract::CareContacts3 => "GetCareContacts",
            Contract::CarePlans2 => "GetCarePlans",
            Contract::MedicationHistory2 => "GetMedicationHistory",
            Contract::Observations1 => "GetObservations",
            Contract::LaboratoryOrderOutcome4 | Contract::LaboratoryOrderOutcome3 => {
                "GetLaboratoryOrderOutcome"
            }
            Contract::SubjectOfCareSchedule1 => "GetSubjectOfCareSchedule",
        }
    }

    /// The major version, as in the namespace and the address.
    pub fn major(self) -> u8 {
        match self {
            Contract::CareContacts3 => 3,
            Contract::CarePlans2 | Contract::MedicationHistory2 => 2,
            Contract::Observations1 | Contract::SubjectOfCareSchedule1 => 1,
            Contract::LaboratoryOrderOutcome4 => 4,
            Contract::LaboratoryOrderOutcome3 => 3,
        }
    }

    /// How users and errors name it, e.g. `GetMedicationHistory v2`.
    pub fn label(self) -> String {
        format!("{} v{}", self.name(), self.major())
    }

    /// The service domain, e.g. `clinicalprocess:activityprescription:actoutcome`.
    fn domain_path(self) -> &'static str {
        match self {
            Contract::CareContacts3 | Contract::CarePlans2 => "clinicalprocess:logistics:logistics",
            Contract::MedicationHistory2 => "clinicalprocess:activityprescription:actoutcome",
            Contract::Observations1 => "clinicalprocess:healthcond:basic",
            Contract::LaboratoryOrderOutcome4 | Contract::LaboratoryOrderOutcome3 => {
                "clinicalprocess:healthcond:actoutcome"
            }
            Contract::SubjectOfCareSchedule1 => "crm:scheduling",
        }
    }

    /// The responder namespace of the request and response elements, e.g.
    /// `urn:riv:clinicalprocess:activityprescription:actoutcome:GetMedicationHistoryResponder:2`.
    pub fn responder_namespace(self) -> String {
        format!(
            "urn:riv:{}:{}Responder:{}",
            self.domain_path(),
            self.name(),
            self.major()
        )
    }

    /// The request element's local name.
    pub fn request_element(self) -> &'static str {
        self.name()
    }

    /// The response element's local name, e.g. `GetMedicationHistoryResponse`.
    pub fn response_element(self) -> String {
        format!("{}Response", self.name())
    }

    /// The SOAPAction of RIVTABP21: `urn:riv:<domain>:<Interaction>Responder:<major>:<Interaction>`.
    pub fn soap_action(self) -> String {
        format!("{}:{}", self.responder_namespace(), self.name())
    }

    /// The path the service platform serves the contract at, relative to the platform's base
    /// URL: `<domain as path>/<Interaction>/<major>/rivtabp21`.
    pub fn path(self) -> String {
        format!(
            "{}/{}/{}/rivtabp21",
            self.domain_path().replace(':', "/"),
            self.name(),
            self.major()
        )
    }

    /// The engagement index's service domain, e.g. `riv:clinicalprocess:logistics:logistics`.
    pub fn service_domain(self) -> String {
        format!("riv:{}", self.domain_path())
    }

    /// The engagement index's categorisation of the contract's information, as the national
    /// aggregating services ask for it.
    pub fn categorization(self) -> &'static str {
        match self {
            Contract::CareContacts3 => "vko",
            Contract::CarePlans2 => "cll-cp",
            Contract::MedicationHistory2 => "caa-gmh",
            Contract::Observations1 => "chb-o",
            Contract::LaboratoryOrderOutcome4 | Contract::LaboratoryOrderOutcome3 => "und-kkm-ure",
            Contract::SubjectOfCareSchedule1 => "Booking",
        }
    }

    /// The overview domain the contract feeds.
    pub fn domain(self) -> Domain {
        match self {
            Contract::CareContacts3 => Domain::Contacts,
            Contract::CarePlans2 => Domain::CarePlans,
            Contract::MedicationHistory2 => Domain::Medications,
            Contract::Observations1 => Domain::Measurements,
            Contract::LaboratoryOrderOutcome4 | Contract::LaboratoryOrderOutcome3 => {
                Domain::LabResults
            }
            Contract::SubjectOfCareSchedule1 => Domain::Bookings,
        }
    }

    /// The contract to use for `domain` (v4 for lab results unless the source is on v3); `None`
    /// for domains no contract carries (the patient's name, agreements).
    pub fn for_domain(domain: Domain, lab_v3: bool) -> Option<Contract> {
        match domain {
            Domain::Contacts => Some(Contract::CareContacts3),
            Domain::CarePlans => Some(Contract::CarePlans2),
            Domain::Medications => Some(Contract::MedicationHistory2),
            Domain::Measurements => Some(Contract::Observations1),
            Domain::LabResults if lab_v3 => Some(Contract::LaboratoryOrderOutcome3),
            Domain::LabResults => Some(Contract::LaboratoryOrderOutcome4),
            Domain::Bookings => Some(Contract::SubjectOfCareSchedule1),
            Domain::Patient | Domain::Agreements => None,
        }
    }

    /// The contract whose address path is `path` (for the simulator).
    pub fn from_path(path: &str) -> Option<Contract> {
        let path = path.trim_matches('/');
        Contract::ALL.into_iter().find(|c| c.path() == path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_rivtabp21() {
        let c = Contract::MedicationHistory2;
        assert_eq!(
            c.responder_namespace(),
            "urn:riv:clinicalprocess:activityprescription:actoutcome:GetMedicationHistoryResponder:2"
        );
        assert_eq!(
            c.path(),
            "clinicalprocess/activityprescription/actoutcome/GetMedicationHistory/2/rivtabp21"
        );
        assert_eq!(
            c.soap_action(),
            "urn:riv:clinicalprocess:activityprescription:actoutcome:GetMedicationHistoryResponder:2:GetMedicationHistory"
        );
        assert_eq!(
            Contract::SubjectOfCareSchedule1.responder_namespace(),
            "urn:riv:crm:scheduling:GetSubjectOfCareScheduleResponder:1"
        );
        for c in Contract::ALL {
            assert_eq!(Contract::from_path(&c.path()), Some(c));
        }
    }
}
