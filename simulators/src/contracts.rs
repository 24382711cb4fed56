//! The RIV-TA service contracts the simulated producers serve, as the simulators state them:
//! names, majors, namespaces and addresses by RIVTABP21's rules. Written here independently of
//! the service's adapter, so that the two can check each other (the service's tests validate
//! every simulated answer against the contracts' real XSDs).

/// One service contract (interaction) in one major version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Contract {
    /// `GetCareContacts` v3 (clinicalprocess:logistics:logistics 3.0).
    CareContacts3,
    /// `GetCarePlans` v2 (clinicalprocess:logistics:logistics 3.0).
    CarePlans2,
    /// `GetMedicationHistory` v2 (clinicalprocess:activityprescription:actoutcome 2.0).
    MedicationHistory2,
    /// `GetObservations` v1 (clinicalprocess:healthcond:basic 1.1).
    Observations1,
    /// `GetLaboratoryOrderOutcome` v4 (clinicalprocess:healthcond:actoutcome 4.0).
    LaboratoryOrderOutcome4,
    /// `GetLaboratoryOrderOutcome` v3 (clinicalprocess:healthcond:actoutcome 3.1).
    LaboratoryOrderOutcome3,
    /// `GetSubjectOfCareSchedule` v1 (crm:scheduling 1.1).
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

    /// The major version.
    pub fn major(self) -> u8 {
        match self {
            Contract::CareContacts3 | Contract::LaboratoryOrderOutcome3 => 3,
            Contract::CarePlans2 | Contract::MedicationHistory2 => 2,
            Contract::Observations1 | Contract::SubjectOfCareSchedule1 => 1,
            Contract::LaboratoryOrderOutcome4 => 4,
        }
    }

    /// `<Interaction> v<major>`, as counters and messages name it.
    pub fn label(self) -> String {
        format!("{} v{}", self.name(), self.major())
    }

    /// The service domain, colon-separated, without `riv:`.
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

    /// `urn:riv:<domain>:<Interaction>Responder:<major>`.
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

    /// `urn:riv:<domain>:<Interaction>Responder:<major>:<Interaction>`.
    pub fn soap_action(self) -> String {
        format!("{}:{}", self.responder_namespace(), self.name())
    }

    /// `<domain as path>/<Interaction>/<major>/rivtabp21`, under the platform's base URL.
    pub fn path(self) -> String {
        format!(
            "{}/{}/{}/rivtabp21",
            self.domain_path().replace(':', "/"),
            self.name(),
            self.major()
        )
    }

    /// The contract served at `path` (relative to the platform's base URL).
    pub fn from_path(path: &str) -> Option<Contract> {
        let path = path.trim_matches('/');
        Contract::ALL.into_iter().find(|c| c.path() == path)
    }

    /// The namespace of the contract's core components (where `result`'s children live).
    pub fn core_namespace(self) -> &'static str {
        match self {
            Contract::CareContacts3 | Contract::CarePlans2 => {
                "urn:riv:clinicalprocess:logistics:logistics:3"
            }
            Contract::MedicationHistory2 => {
                "urn:riv:clinicalprocess:activityprescription:actoutcome:2"
            }
            Contract::Observations1 => "urn:riv:clinicalprocess:healthcond:basic:1",
            Contract::LaboratoryOrderOutcome4 => "urn:riv:clinicalprocess:healthcond:actoutcome:4",
            Contract::LaboratoryOrderOutcome3 => "urn:riv:clinicalprocess:healthcond:actoutcome:3",
            Contract::SubjectOfCareSchedule1 => "urn:riv:crm:scheduling:1",
        }
    }

    /// Whether the response ends with a required `result` (v4 lab results, observations and
    /// bookings have none).
    pub fn has_result(self) -> bool {
        matches!(
            self,
            Contract::CareContacts3
                | Contract::CarePlans2
                | Contract::MedicationHistory2
                | Contract::LaboratoryOrderOutcome3
        )
    }

    /// The folder (under a producer's data folder) holding the contract's payloads: the
    /// interaction's name, with `-v<major>` for an older major version of an interaction that
    /// has a newer one.
    pub fn folder_name(self) -> String {
        let newer_exists = Contract::ALL
            .iter()
            .any(|c| c.name() == self.name() && c.major() > self.major());
        if newer_exists {
            format!("{}-v{}", self.name(), self.major())
        } else {
            self.name().to_owned()
        }
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
        for c in Contract::ALL {
            assert_eq!(Contract::from_path(&c.path()), Some(c));
        }
    }

    #[test]
    fn folders_are_named_by_interaction_and_older_versions_by_major() {
        assert_eq!(
            Contract::MedicationHistory2.folder_name(),
            "GetMedicationHistory"
        );
        assert_eq!(
            Contract::LaboratoryOrderOutcome4.folder_name(),
            "GetLaboratoryOrderOutcome"
        );
        assert_eq!(
            Contract::LaboratoryOrderOutcome3.folder_name(),
            "GetLaboratoryOrderOutcome-v3"
        );
    }
}
