//! Patient → `PatientRecord`; CareTeam participants → `Contact`.

use serde_json::Value;

use super::{Ctx, status};
use crate::domain::{Contact, ContactRole, Organisation, PatientRecord, Sourced};
use crate::sources::fhir::elements::{
    CONTACT_ROLE_SYSTEM, codes_in, concepts_text, hsa_id, human_name, identifiers, list,
    period_dates, string, telecom,
};
use crate::sources::fhir::resources::{Res, referenced_type};

pub(super) fn patients(cx: &mut Ctx<'_>) -> Vec<Sourced<PatientRecord>> {
    cx.set
        .primary("Patient")
        .map(|p| {
            let item = PatientRecord {
                name: human_name(list(p.json(), "name")),
            };
            cx.sourced(p, item, identifiers(p.json()), None)
        })
        .collect()
}

pub(super) fn contacts(cx: &mut Ctx<'_>) -> Vec<Sourced<Contact>> {
    let mut out = Vec::new();
    for team in cx.set.primary("CareTeam") {
        if status(team) == Some("entered-in-error") {
            continue;
        }
        for (index, participant) in list(team.json(), "participant").iter().enumerate() {
            if let Some(contact) = contact(cx, team, participant) {
                let unit = contact.care_unit.clone();
                // The team's identifier names the team, not one member: members carry none.
                // A member is named by its reference where it has one (stable when the team's
                // list is reordered), else by its place in the list.
                let member = participant.get("member");
                let part = member
                    .and_then(|m| cx.resolve(team, m))
                    .map(|r| {
                        // A member contained in the team is named by its local id alone.
                        let id = r.record_id();
                        let team_prefix = format!("{}#", team.record_id());
                        id.strip_prefix(&team_prefix)
                            .map_or(id.clone(), str::to_owned)
                    })
                    .or_else(|| member.and_then(|m| string(m, "reference")))
                    .unwrap_or_else(|| format!("participant-{index}"));
                out.push(cx.sourced_part(team, &part, participant, contact, unit));
            }
        }
    }
    out
}

fn role_of(code: &str) -> Option<ContactRole> {
    match code {
        "named-doctor" => Some(ContactRole::NamedDoctor),
        "named-care-contact" => Some(ContactRole::NamedCareContact),
        "municipal-care-contact" => Some(ContactRole::MunicipalCareContact),
        _ => None,
    }
}

/// One participant as a contact; `None` for the patient, relatives and unnamed members.
fn contact<'a>(cx: &Ctx<'a>, team: Res<'a>, participant: &Value) -> Option<Contact> {
    let member = participant.get("member")?;
    let resolved = cx.resolve(team, member);
    let member_type = resolved
        .map(|r| r.resource_type())
        .or_else(|| referenced_type(member));
    if matches!(member_type, Some("Patient" | "RelatedPerson" | "Group")) {
        return None;
    }
    let roles = list(participant, "role");
    let role = codes_in(roles, CONTACT_ROLE_SYSTEM)
        .find_map(role_of)
        .unwrap_or(ContactRole::CareTeamMember);
    let (mut start, mut end) = period_dates(participant.get("period"));
    if start.is_none() && end.is_none() {
        (start, end) = period_dates(team.get("period"));
    }
    let team_unit = || {
        participant
            .get("onBehalfOf")
            .and_then(|r| cx.ref_organisation(team, r))
            .or_else(|| cx.first_ref_organisation(team, list(team.json(), "managingOrganization")))
    };
    let mut contact = Contact {
        role,
        role_text: concepts_text(roles),
        name: None,
        profession: None,
        hsa_id: None,
        care_unit: None,
        phone: None,
        email: None,
        start,
        end,
    };
    match resolved {
        Some(role_res) if role_res.resource_type() == "PractitionerRole" => {
            let json = role_res.json();
            let practitioner = json
                .get("practitioner")
                .and_then(|p| cx.resolve(role_res, p))
                .filter(|p| p.resource_type() == "Practitioner");
            contact.name = cx.res_name(role_res).or_else(|| string(member, "display"));
            contact.profession = concepts_text(list(json, "code"));
            contact.care_unit = cx.res_organisation(role_res).or_else(team_unit);
            let p_json = practitioner.map(|p| p.json());
            contact.phone =
                telecom(json, "phone").or_else(|| p_json.and_then(|p| telecom(p, "phone")));
            contact.email =
                telecom(json, "email").or_else(|| p_json.and_then(|p| telecom(p, "email")));
            contact.hsa_id = p_json
                .and_then(hsa_id)
                .or_else(|| hsa_id(json))
                .or_else(|| json.get("practitioner").and_then(hsa_id));
        }
        Some(practitioner) if practitioner.resource_type() == "Practitioner" => {
            let json = practitioner.json();
            contact.name = human_name(list(json, "name")).or_else(|| string(member, "display"));
            contact.hsa_id = hsa_id(json);
            contact.phone = telecom(json, "phone");
            contact.email = telecom(json, "email");
            contact.care_unit = team_unit();
        }
        Some(org) if org.resource_type() == "Organization" => {
            contact.care_unit = cx.res_organisation(org);
            contact.phone = telecom(org.json(), "phone");
            contact.email = telecom(org.json(), "email");
        }
        Some(other) => {
            contact.name = cx.res_name(other).or_else(|| string(member, "display"));
            contact.phone = telecom(other.json(), "phone");
            contact.email = telecom(other.json(), "email");
            contact.care_unit = team_unit();
        }
        None if member_type == Some("Organization") => {
            contact.care_unit = Some(Organisation {
                name: string(member, "display"),
                hsa_id: hsa_id(member),
            })
            .filter(|o| !o.is_empty());
        }
        None => {
            contact.name = string(member, "display");
            contact.hsa_id = hsa_id(member);
            contact.care_unit = team_unit();
        }
    }
    // A member is shown when it names someone (or a role, or a unit as member); the team's unit
    // alone says nothing about who the contact is.
    let identified = contact.name.is_some()
        || contact.hsa_id.is_some()
        || contact.profession.is_some()
        || (member_type == Some("Organization") && contact.care_unit.is_some());
    identified.then_some(contact)
}
