//! The pure mapping from a RIV-TA response payload (the SOAP Body's one element) to normalised
//! items, one module per service contract. No I/O; never panics on any input.
//!
//! Shared rules, whatever the contract:
//! - A record's natural key is (`sourceSystemHSAId`, `documentId`): `record_id` is
//!   `<sourceSystemHSAId>/<documentId>`, and the item carries the identifier
//!   `{system: DOCUMENT_ID_SYSTEM + sourceSystemHSAId, value: documentId}`, so the same document
//!   reached through two platform routes merges into one item.
//! - `nullified` records are left out (deliberately, not counted as skipped);
//!   `approvedForPatient = false` becomes [`Sourced::approved_for_patient`] = false.
//! - The accountable care unit (HSA-id, and the org unit's name where given) becomes the
//!   provenance's care unit, the accountable care giver its care provider (named from the
//!   catalog when it is the source's own provider); the catalog's fills what the record leaves
//!   out.
//! - A record without what the item cannot do without (its key, or e.g. a booking's start) is
//!   left out and counted in [`MapStats`]; unknown elements and enumeration values outside the
//!   schema never fail a response: an unknown status maps to `Unknown`.

pub mod care_contacts;
pub mod care_plans;
pub mod lab_outcome;
pub mod medication_history;
pub mod observations;
pub mod schedule;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Europe::Stockholm;
use roxmltree::Node;

use super::xml;
use crate::domain::{HsaId, Identifier, Organisation, PersonId, Provenance, Sourced};
use crate::sources::SourceInfo;

/// The identifier system prefix for RIV-TA documents; the source system's HSA-id follows.
pub const DOCUMENT_ID_SYSTEM: &str = "https://overblick.se/riv-ta/document/";

/// What a mapping left out because a record could not be mapped, by record kind
/// (e.g. `"careContact"`). Nullified records are not counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapStats {
    pub skipped: BTreeMap<&'static str, usize>,
    /// Records left out because the source marked them nullified.
    pub nullified: usize,
}

impl MapStats {
    pub fn skipped_total(&self) -> usize {
        self.skipped.values().sum()
    }
}

/// The mapping context: whom the answer is about, where it came from, and the tally of what
/// was left out.
pub struct Ctx<'a> {
    /// The asked-for patient's 12 digits.
    pub patient: String,
    pub info: &'a SourceInfo,
    pub fetched_at: DateTime<Utc>,
    pub stats: MapStats,
}

impl<'a> Ctx<'a> {
    pub fn new(patient: &PersonId, info: &'a SourceInfo, fetched_at: DateTime<Utc>) -> Self {
        Ctx {
            patient: patient.digits(),
            info,
            fetched_at,
            stats: MapStats::default(),
        }
    }

    /// Whether a record's patient identifier names someone other than the asked-for patient.
    /// Such records are left out (counted as skipped `"otherPatient"`): a producer that mixes up
    /// patients must not show one person's care to another. A record without one is kept.
    pub fn is_other_patient(&self, id: Option<&str>) -> bool {
        id.is_some_and(|id| {
            let digits: String = id.chars().filter(char::is_ascii_alphanumeric).collect();
            digits != self.patient
        })
    }

    /// Counts one record of `kind` left out because it could not be mapped.
    pub fn skip(&mut self, kind: &'static str) {
        *self.stats.skipped.entry(kind).or_default() += 1;
    }

    /// The record of `node`'s `PatientSummaryHeaderType` child `header`, when it is one to show:
    /// without a key it is skipped as `kind`; about another patient it is skipped as
    /// `otherPatient`; nullified it is counted as such. Every contract with that header reads its
    /// records through here, so the three rules cannot drift apart.
    /// Returns the header element with the record.
    pub fn summary_record<'n, 'i>(
        &mut self,
        node: Node<'n, 'i>,
        header: &str,
        kind: &'static str,
    ) -> Option<(Node<'n, 'i>, Record)> {
        let Some((header, record)) = xml::child(node, header)
            .and_then(|h| Record::from_patient_summary_header(h).map(|r| (h, r)))
        else {
            self.skip(kind);
            return None;
        };
        if self.is_other_patient(xml::text_at(header, &["patientId", "id"])) {
            self.skip("otherPatient");
            return None;
        }
        if record.nullified {
            self.stats.nullified += 1;
            return None;
        }
        Some((header, record))
    }

    /// An item with its provenance and document identifier.
    pub fn sourced<T>(&self, record: &Record, item: T) -> Sourced<T> {
        Sourced {
            item,
            identifiers: vec![Identifier {
                system: Some(format!("{DOCUMENT_ID_SYSTEM}{}", record.source_system)),
                value: record.document_id.clone(),
            }],
            provenance: Provenance {
                source_id: self.info.id.clone(),
                source_name: self.info.name.clone(),
                system: self.info.system.clone(),
                care_unit: record
                    .care_unit
                    .clone()
                    .or_else(|| self.info.default_care_unit.clone()),
                care_provider: Some(self.care_provider(record.care_giver.as_ref()))
                    .filter(|o| !o.is_empty()),
                record_id: format!("{}/{}", record.source_system, record.document_id),
                fetched_at: self.fetched_at,
            },
            approved_for_patient: record.approved_for_patient,
        }
    }

    /// The care provider for a record's care giver HSA-id: the catalog's (with its name) when it
    /// is the same or the record names none, else the record's, by HSA-id only.
    fn care_provider(&self, care_giver: Option<&HsaId>) -> Organisation {
        match care_giver {
            Some(hsa) if self.info.care_provider.hsa_id.as_ref() != Some(hsa) => Organisation {
                name: None,
                hsa_id: Some(hsa.clone()),
            },
            _ => self.info.care_provider.clone(),
        }
    }
}

/// What every mapped record needs, whichever header type the contract uses: its key, whether
/// the patient may see it, and where it belongs.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub document_id: String,
    /// The source system's HSA-id as sent (kept as text: it is a key, not a checked id).
    pub source_system: String,
    pub approved_for_patient: bool,
    pub nullified: bool,
    pub care_unit: Option<Organisation>,
    pub care_giver: Option<HsaId>,
    /// `documentTime`, where given.
    pub time: Option<DateTime<Utc>>,
    pub title: Option<String>,
    pub author: Option<Author>,
}

/// The accountable health-care professional of a record.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Author {
    pub hsa_id: Option<HsaId>,
    pub name: Option<String>,
    /// The role as text (`healthcareProfessionalRoleCode`'s display name or code).
    pub role: Option<String>,
    pub time: Option<DateTime<Utc>>,
}

impl Record {
    /// Reads a `PatientSummaryHeaderType` (clinicalprocess logistics 3.0, actoutcome 3.1,
    /// activityprescription 2.0). `None` without a documentId or sourceSystemHSAId.
    /// A missing `approvedForPatient` counts as false: the schema requires it, and showing a
    /// patient what the source did not approve is the worse mistake.
    pub fn from_patient_summary_header(header: Node<'_, '_>) -> Option<Record> {
        let document_id = xml::string(header, "documentId")?;
        let source_system = xml::string(header, "sourceSystemHSAId")?;
        let professional = xml::child(header, "accountableHealthcareProfessional");
        let org_unit = professional.and_then(|p| xml::child(p, "healthcareProfessionalOrgUnit"));
        let unit_hsa = professional
            .and_then(|p| xml::hsa_id_of(p, "healthcareProfessionalCareUnitHSAId"))
            .or_else(|| org_unit.and_then(|o| xml::hsa_id_of(o, "orgUnitHSAId")));
        // The org unit's name names the care unit only when the org unit is that unit (or the
        // record names no unit otherwise).
        let unit_name = org_unit.and_then(|o| {
            let same = match (xml::hsa_id_of(o, "orgUnitHSAId"), &unit_hsa) {
                (Some(a), Some(b)) => &a == b,
                (None, _) | (_, None) => true,
            };
            same.then(|| xml::text(o, "orgUnitName")).flatten()
        });
        let author = professional.map(|p| Author {
            hsa_id: xml::hsa_id_of(p, "healthcareProfessionalHSAId"),
            name: xml::string(p, "healthcareProfessionalName"),
            role: xml::child(p, "healthcareProfessionalRoleCode")
                .and_then(xml::code)
                .and_then(|c| c.display.or(c.code)),
            time: xml::timestamp_of(p, "authorTime"),
        });
        Some(Record {
            document_id,
            source_system,
            approved_for_patient: xml::bool_of(header, "approvedForPatient").unwrap_or(false),
            nullified: xml::bool_of(header, "nullified").unwrap_or(false),
            care_unit: xml::organisation(unit_hsa, unit_name),
            care_giver: professional
                .and_then(|p| xml::hsa_id_of(p, "healthcareProfessionalCareGiverHSAId")),
            time: xml::timestamp_of(header, "documentTime"),
            title: xml::string(header, "documentTitle"),
            author,
        })
    }
}

/// An instance identifier (`IIType`): `root` (an OID or UUID naming the id's issuer, or the id
/// itself when there is no extension) and `extension`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ii {
    pub root: Option<String>,
    pub extension: Option<String>,
}

impl Ii {
    /// Reads an `IIType` element; `None` when it has neither a root nor an extension.
    pub fn of(node: Node<'_, '_>) -> Option<Ii> {
        let ii = Ii {
            root: xml::string(node, "root"),
            extension: xml::string(node, "extension"),
        };
        (ii.root.is_some() || ii.extension.is_some()).then_some(ii)
    }

    /// The child `name` as an `IIType`.
    pub fn of_child(node: Node<'_, '_>, name: &str) -> Option<Ii> {
        xml::child(node, name).and_then(Ii::of)
    }

    /// The id as one text that stays unique: `root:extension` (an extension is only unique
    /// within its root), else whichever of the two is given.
    pub fn key(&self) -> String {
        match (&self.root, &self.extension) {
            (Some(root), Some(extension)) => format!("{root}:{extension}"),
            (Some(only), None) | (None, Some(only)) => only.clone(),
            (None, None) => String::new(),
        }
    }

    /// The id as an [`Identifier`]: the extension as the value, in the system its root names
    /// (`urn:oid:<root>` for an OID, `urn:uuid:<root>` for a UUID, a root that is already a URI
    /// as it is); a root without an extension is the id itself, without a system.
    pub fn identifier(&self) -> Identifier {
        match (&self.root, &self.extension) {
            (Some(root), Some(extension)) => Identifier {
                system: Some(root_system(root)),
                value: extension.clone(),
            },
            (Some(only), None) | (None, Some(only)) => Identifier {
                system: None,
                value: only.clone(),
            },
            (None, None) => Identifier {
                system: None,
                value: String::new(),
            },
        }
    }
}

/// The URI of an `IIType` root.
fn root_system(root: &str) -> String {
    let is_oid = root.split('.').count() > 1
        && root
            .split('.')
            .all(|arc| !arc.is_empty() && arc.bytes().all(|b| b.is_ascii_digit()));
    let is_uuid = root.len() == 36
        && root.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    if is_oid {
        format!("urn:oid:{root}")
    } else if is_uuid {
        format!("urn:uuid:{}", root.to_ascii_lowercase())
    } else {
        root.to_owned()
    }
}

/// Makes `item` one part of its document: `#<part>` is appended to its record id and to the
/// value of its document identifier. For documents that give several items (a lab report's
/// results): the merge takes one `(source, record_id)` for one record, and items sharing an
/// identifier for the same record, so each part needs its own of both.
pub fn as_part<T>(mut item: Sourced<T>, part: &str) -> Sourced<T> {
    item.provenance.record_id = format!("{}#{part}", item.provenance.record_id);
    for identifier in &mut item.identifiers {
        if identifier
            .system
            .as_deref()
            .is_some_and(|s| s.starts_with(DOCUMENT_ID_SYSTEM))
        {
            identifier.value = format!("{}#{part}", identifier.value);
        }
    }
    item
}

/// The date in Sweden when the answer arrived: what "today" means for a treatment's or plan's
/// end date, which RIV-TA writes as a Swedish calendar date.
pub fn local_today(cx: &Ctx<'_>) -> NaiveDate {
    cx.fetched_at.with_timezone(&Stockholm).date_naive()
}

/// Maps the payload (the response element) of `contract` to the items of its domain.
pub fn map_payload(
    contract: super::Contract,
    payload: Node<'_, '_>,
    cx: &mut Ctx<'_>,
) -> crate::domain::DomainItems {
    use super::Contract;
    use crate::domain::DomainItems;
    match contract {
        Contract::CareContacts3 => DomainItems::Contacts(care_contacts::map(payload, cx)),
        Contract::CarePlans2 => DomainItems::CarePlans(care_plans::map(payload, cx)),
        Contract::MedicationHistory2 => {
            DomainItems::Medications(medication_history::map(payload, cx))
        }
        Contract::Observations1 => DomainItems::Measurements(observations::map(payload, cx)),
        Contract::LaboratoryOrderOutcome4 => {
            DomainItems::LabResults(lab_outcome::map_v4(payload, cx))
        }
        Contract::LaboratoryOrderOutcome3 => {
            DomainItems::LabResults(lab_outcome::map_v3(payload, cx))
        }
        Contract::SubjectOfCareSchedule1 => DomainItems::Bookings(schedule::map(payload, cx)),
    }
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests {
    use super::*;

    fn ii(root: Option<&str>, extension: Option<&str>) -> Ii {
        Ii {
            root: root.map(str::to_owned),
            extension: extension.map(str::to_owned),
        }
    }

    #[test]
    fn an_instance_id_names_its_system_by_what_its_root_is() {
        let system = |root: &str| ii(Some(root), Some("X")).identifier().system.unwrap();
        assert_eq!(system("1.2.752.129.2.1.2.1"), "urn:oid:1.2.752.129.2.1.2.1");
        assert_eq!(
            system("D3CC3AFD-310E-40C1-8E89-0342389C2F1F"),
            "urn:uuid:d3cc3afd-310e-40c1-8e89-0342389c2f1f"
        );
        assert_eq!(system("urn:oid:1.2.3"), "urn:oid:1.2.3");
        assert_eq!(system("?"), "?");
        // A root alone is the id itself; the key keeps the root with the extension.
        assert_eq!(
            ii(Some("1.2.3"), None).identifier(),
            Identifier {
                system: None,
                value: "1.2.3".into()
            }
        );
        assert_eq!(ii(Some("1.2.3"), Some("A1")).key(), "1.2.3:A1");
        assert_eq!(ii(None, Some("A1")).key(), "A1");
    }
}
