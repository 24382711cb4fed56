//! The pure mapping from a [`ResourceSet`] to normalised items, one function per domain (the
//! rules are tabled in the module docs of `sources::fhir`). No I/O; never panics on any input.

mod bookings;
mod contacts;
mod medications;
mod observations;
mod plans;

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::elements::{self as el, hsa_id, human_name, list, text};
use super::resources::{Res, ResourceSet, referenced_type};
use crate::domain::{Domain, DomainItems, Identifier, Organisation, Provenance, Sourced};
use crate::sources::SourceInfo;

/// What a mapping left out because a resource could not be mapped (e.g. an Appointment without
/// `start`). Deliberate exclusions (`entered-in-error`, drafts, panels) are not counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapStats {
    /// Resources left out, by resource type.
    pub skipped: BTreeMap<&'static str, usize>,
    /// Clinical notes (DiagnosticReports that are documents, not laboratory reports) the
    /// answer held: not lab results, and not shown.
    pub notes: usize,
}

impl MapStats {
    /// How many resources were left out in all.
    pub fn skipped_total(&self) -> usize {
        self.skipped.values().sum()
    }
}

/// Maps the resources of `set` that belong to `domain` to items, with provenance from `info`.
/// Resources that cannot be mapped are left out and logged (by resource type only).
pub fn map_domain(
    domain: Domain,
    set: &ResourceSet,
    info: &SourceInfo,
    fetched_at: DateTime<Utc>,
) -> DomainItems {
    let (items, stats) = map_domain_with_stats(domain, set, info, fetched_at);
    for (resource_type, count) in &stats.skipped {
        tracing::debug!(
            domain = domain.as_str(),
            resource_type,
            count,
            "left out FHIR resources that could not be mapped"
        );
    }
    items
}

/// As [`map_domain`], also telling what was left out.
pub fn map_domain_with_stats(
    domain: Domain,
    set: &ResourceSet,
    info: &SourceInfo,
    fetched_at: DateTime<Utc>,
) -> (DomainItems, MapStats) {
    let mut cx = Ctx {
        set,
        info,
        fetched_at,
        stats: MapStats::default(),
    };
    let items = match domain {
        Domain::Patient => DomainItems::Patient(contacts::patients(&mut cx)),
        Domain::Contacts => DomainItems::Contacts(contacts::contacts(&mut cx)),
        Domain::CarePlans => DomainItems::CarePlans(plans::care_plans(&mut cx)),
        Domain::Agreements => DomainItems::Agreements(plans::agreements(&mut cx)),
        Domain::Medications => DomainItems::Medications(medications::medications(&mut cx)),
        Domain::Measurements => DomainItems::Measurements(observations::measurements(&mut cx)),
        Domain::LabResults => DomainItems::LabResults(observations::lab_results(&mut cx)),
        Domain::Bookings => DomainItems::Bookings(bookings::bookings(&mut cx)),
    };
    (items, cx.stats)
}

/// The mapping context: the set, where the answer came from, and the tally of left-out resources.
struct Ctx<'a> {
    set: &'a ResourceSet,
    info: &'a SourceInfo,
    fetched_at: DateTime<Utc>,
    stats: MapStats,
}

/// How far references are followed from one resource to find an organisation
/// (PractitionerRole → Organization, Location → Organization); guards against reference loops.
const MAX_REFERENCE_HOPS: usize = 3;

impl<'a> Ctx<'a> {
    fn skip(&mut self, resource_type: &'static str) {
        *self.stats.skipped.entry(resource_type).or_default() += 1;
    }

    /// Counts a clinical note left out of the lab results.
    fn note(&mut self) {
        self.stats.notes += 1;
    }

    fn sourced<T>(
        &self,
        res: Res<'_>,
        item: T,
        identifiers: Vec<Identifier>,
        care_unit: Option<Organisation>,
    ) -> Sourced<T> {
        Sourced {
            item,
            identifiers,
            provenance: Provenance {
                source_id: self.info.id.clone(),
                source_name: self.info.name.clone(),
                system: self.info.system.clone(),
                care_unit: care_unit
                    .filter(|o| !o.is_empty())
                    .or_else(|| self.info.default_care_unit.clone()),
                care_provider: Some(self.info.care_provider.clone()).filter(|o| !o.is_empty()),
                record_id: res.record_id(),
                fetched_at: self.fetched_at,
            },
            approved_for_patient: approved(res),
        }
    }

    /// As [`Ctx::sourced`], for one part of a resource (a CareTeam participant, a CarePlan
    /// activity): the part gets a record id of its own, `<Type>/<id>#<part>`, because the merge
    /// treats items with the same source and record id as one record.
    /// The part may carry an approval marker of its own; the resource's applies to it too.
    fn sourced_part<T>(
        &self,
        res: Res<'_>,
        part: &str,
        part_json: &Value,
        item: T,
        care_unit: Option<Organisation>,
    ) -> Sourced<T> {
        let mut sourced = self.sourced(res, item, Vec::new(), care_unit);
        sourced.provenance.record_id = format!("{}#{part}", sourced.provenance.record_id);
        sourced.approved_for_patient &= el::approved_for_patient(part_json);
        sourced
    }

    /// The top-level resources that a DiagnosticReport (`result`) or a panel Observation
    /// (`hasMember`) not approved for the patient groups, and what those group in turn: what a
    /// report withholds, it withholds for every result in it, even a result without a marker.
    fn withheld_by_group(&self) -> HashSet<usize> {
        let mut withheld = HashSet::new();
        let mut groups: Vec<Res<'a>> = self.set.resources().filter(|r| !approved(*r)).collect();
        while let Some(group) = groups.pop() {
            let members = match group.resource_type() {
                "DiagnosticReport" => list(group.json(), "result"),
                "Observation" => list(group.json(), "hasMember"),
                _ => continue,
            };
            for member in members.iter().filter_map(|m| self.resolve(group, m)) {
                if member.index().is_some_and(|i| withheld.insert(i)) {
                    groups.push(member);
                }
            }
        }
        withheld
    }

    /// Marks `item` not approved when `res` is withheld by a group (see
    /// [`Ctx::withheld_by_group`]).
    fn withhold_grouped<T>(
        res: Res<'_>,
        withheld: &HashSet<usize>,
        mut item: Sourced<T>,
    ) -> Sourced<T> {
        if res.index().is_some_and(|i| withheld.contains(&i)) {
            item.approved_for_patient = false;
        }
        item
    }

    fn resolve(&self, from: Res<'a>, reference: &Value) -> Option<Res<'a>> {
        self.set.resolve(from, reference)
    }

    /// The resource type a reference points at: the resolved resource's, else the one it names.
    fn ref_type<'v>(&self, from: Res<'a>, reference: &'v Value) -> Option<&'v str>
    where
        'a: 'v,
    {
        match self.resolve(from, reference) {
            Some(r) => Some(r.resource_type()),
            None => referenced_type(reference),
        }
    }

    /// The name of what a reference points at: the resolved resource's name, else its `display`.
    fn ref_name(&self, from: Res<'a>, reference: &Value) -> Option<String> {
        self.resolve(from, reference)
            .and_then(|r| self.res_name(r))
            .or_else(|| el::string(reference, "display"))
    }

    /// The first name among a list of references.
    fn first_ref_name(&self, from: Res<'a>, references: &[Value]) -> Option<String> {
        references.iter().find_map(|r| self.ref_name(from, r))
    }

    /// A resource's name as people read it: a person's name, a role's practitioner, a unit's name.
    fn res_name(&self, res: Res<'a>) -> Option<String> {
        let json = res.json();
        match res.resource_type() {
            "Practitioner" | "Patient" | "RelatedPerson" | "Person" => {
                human_name(list(json, "name"))
            }
            "PractitionerRole" => json
                .get("practitioner")
                .and_then(|p| self.resolve(res, p))
                .filter(|p| p.resource_type() == "Practitioner")
                .and_then(|p| human_name(list(p.json(), "name")))
                .or_else(|| {
                    json.get("practitioner")
                        .and_then(|p| el::string(p, "display"))
                }),
            "Device" => list(json, "deviceName")
                .iter()
                .find_map(|n| el::string(n, "name")),
            _ => el::string(json, "name"),
        }
    }

    /// The organisation a resource stands for or belongs to: an Organization itself, a
    /// PractitionerRole's organization, a Location's managing organization.
    fn res_organisation(&self, res: Res<'a>) -> Option<Organisation> {
        self.res_organisation_hops(res, 0)
    }

    fn res_organisation_hops(&self, res: Res<'a>, hops: usize) -> Option<Organisation> {
        let json = res.json();
        let org = match res.resource_type() {
            "Organization" => Organisation {
                name: el::string(json, "name"),
                hsa_id: hsa_id(json),
            },
            "PractitionerRole" => {
                return self.ref_organisation_hops(res, json.get("organization")?, hops + 1);
            }
            "Location" => {
                return self.ref_organisation_hops(
                    res,
                    json.get("managingOrganization")?,
                    hops + 1,
                );
            }
            _ => return None,
        };
        (!org.is_empty()).then_some(org)
    }

    /// The organisation a reference names (see [`Ctx::res_organisation`]); an unresolved
    /// reference to an Organization gives its display and any HSA-id in its `identifier`.
    fn ref_organisation(&self, from: Res<'a>, reference: &Value) -> Option<Organisation> {
        self.ref_organisation_hops(from, reference, 0)
    }

    fn ref_organisation_hops(
        &self,
        from: Res<'a>,
        reference: &Value,
        hops: usize,
    ) -> Option<Organisation> {
        if hops > MAX_REFERENCE_HOPS {
            return None;
        }
        if let Some(res) = self.resolve(from, reference) {
            return self.res_organisation_hops(res, hops);
        }
        if referenced_type(reference) != Some("Organization") {
            return None;
        }
        let org = Organisation {
            name: el::string(reference, "display"),
            hsa_id: hsa_id(reference),
        };
        (!org.is_empty()).then_some(org)
    }

    /// The first organisation among a list of references.
    fn first_ref_organisation(&self, from: Res<'a>, references: &[Value]) -> Option<Organisation> {
        references
            .iter()
            .find_map(|r| self.ref_organisation(from, r))
    }
}

/// Whether a resource may be shown to the patient as far as the source says: its own markers,
/// and for a contained resource also its container's (it is part of that record).
fn approved(res: Res<'_>) -> bool {
    el::approved_for_patient(res.json()) && res.container().is_none_or(el::approved_for_patient)
}

/// The `status` of a resource.
fn status(res: Res<'_>) -> Option<&str> {
    text(res.json(), "status")
}

#[cfg(test)]
mod tests;
