//! `GetCareContacts` v3 (clinicalprocess:logistics:logistics 3.0) → contacts: the people the
//! patient has met, one [`Contact`] per accountable health-care professional.
//!
//! A care contact (vårdkontakt: a visit, a call, a stay) names the professional accountable for
//! it. The overview's contacts are people, not visits, so the answer's care contacts are grouped
//! by professional (HSA-id, else name) and each group gives one Contact:
//!
//! | Contact | from |
//! |---|---|
//! | (one per) | accountable professional: `healthcareProfessionalHSAId`, else `healthcareProfessionalName`; a care contact naming neither is left out (skipped `careContact`) |
//! | role | always `CareTeamMember`: the contract has no notion of a named doctor or named care contact (the enums hold `CareContactCodeEnum` visit types only) |
//! | role_text | none |
//! | name | `healthcareProfessionalName` of the most recent care contact, else of any |
//! | profession | `healthcareProfessionalRoleCode` (befattning) display name, else code |
//! | hsa_id | `healthcareProfessionalHSAId` |
//! | care_unit | the most recent care contact's accountable care unit (see `map`), else its `careContactOrgUnit` |
//! | phone / email | `orgUnitTelecom` / `orgUnitEmail` of the professional's `healthcareProfessionalOrgUnit`, else of the `careContactOrgUnit`: the contract carries no personal number, and the unit is how the patient reaches them |
//! | start | the earliest `careContactTimePeriod/start` date (else `documentTime` date) |
//! | end | none: a visit's end is not the end of the care relationship (the person stays in the patient's care network; a contact with an end is filtered out as ended, and an end would also be filled into the same person's current contact from another source on merging) |
//!
//! The item's record is the most recent care contact (by period start, else `documentTime`):
//! its `<sourceSystemHSAId>/<documentId>` is the record id, and its care unit and care giver the
//! provenance. Unlike other items, a contact carries no document identifier: it is made of
//! several documents, and the newest one's id does not name the person (two routes to the same
//! source with different time windows would give the same person different identifiers, which
//! the merge reads as two different records).
//!
//! Approved for the patient only when every care contact it is made of is: the dates and the
//! unit come from all of them, and showing a patient what the source has not approved is the
//! worse mistake. A nullified care contact contributes nothing (counted in `stats.nullified`);
//! one about another patient is left out (skipped `otherPatient`).

use chrono::{DateTime, NaiveDate, Utc};
use roxmltree::Node;

use super::{Ctx, Record, xml};
use crate::domain::{Contact, ContactRole, Organisation, Sourced};

/// One care contact, as far as the contact it belongs to needs it.
struct Visit {
    record: Record,
    key: String,
    /// When it happened, for "most recent": the period's start, else `documentTime`.
    time: Option<DateTime<Utc>>,
    start: Option<NaiveDate>,
    contact_unit: Option<Organisation>,
    phone: Option<String>,
    email: Option<String>,
}

pub fn map(payload: Node<'_, '_>, cx: &mut Ctx<'_>) -> Vec<Sourced<Contact>> {
    // Grouped by professional, in the order each professional first appears.
    let mut groups: Vec<Vec<Visit>> = Vec::new();
    for care_contact in xml::children(payload, "careContact") {
        let Some(visit) = visit(care_contact, cx) else {
            continue;
        };
        match groups.iter_mut().find(|g| g[0].key == visit.key) {
            Some(group) => group.push(visit),
            None => groups.push(vec![visit]),
        }
    }
    groups.into_iter().map(|g| contact(g, cx)).collect()
}

/// Reads one care contact; `None` (counted where the rules say so) when it contributes nothing.
fn visit(care_contact: Node<'_, '_>, cx: &mut Ctx<'_>) -> Option<Visit> {
    let (header, record) = cx.summary_record(care_contact, "careContactHeader", "careContact")?;
    let author = record.author.clone().unwrap_or_default();
    let Some(key) = author
        .hsa_id
        .as_ref()
        .map(|h| h.as_str().to_owned())
        .or_else(|| author.name.clone())
    else {
        cx.skip("careContact");
        return None;
    };
    let body = xml::child(care_contact, "careContactBody");
    let period = body.and_then(|b| xml::child(b, "careContactTimePeriod"));
    let contact_unit_node = body.and_then(|b| xml::child(b, "careContactOrgUnit"));
    let professional_unit = xml::at(
        header,
        &[
            "accountableHealthcareProfessional",
            "healthcareProfessionalOrgUnit",
        ],
    );
    let unit_text = |name: &str| {
        professional_unit
            .and_then(|u| xml::string(u, name))
            .or_else(|| contact_unit_node.and_then(|u| xml::string(u, name)))
    };
    Some(Visit {
        key,
        time: period
            .and_then(|p| xml::timestamp_of(p, "start"))
            .or(record.time),
        // The date as written (Swedish local date), not the UTC date of the time stamp.
        start: period
            .and_then(|p| xml::date_of(p, "start"))
            .or_else(|| xml::date_of(header, "documentTime")),
        contact_unit: contact_unit_node.and_then(|u| {
            xml::organisation(
                xml::hsa_id_of(u, "orgUnitHSAId"),
                xml::text(u, "orgUnitName"),
            )
        }),
        phone: unit_text("orgUnitTelecom"),
        email: unit_text("orgUnitEmail"),
        record,
    })
}

/// The contact one professional's care contacts make.
fn contact(mut visits: Vec<Visit>, cx: &Ctx<'_>) -> Sourced<Contact> {
    // Most recent last; care contacts without a time count as the oldest. The sort is stable,
    // so among equal times the later one in the answer wins.
    visits.sort_by_key(|v| v.time);
    let start = visits.iter().filter_map(|v| v.start).min();
    // No end: that a visit is over does not mean the person has left the care network.
    let end = None;
    let approved = visits.iter().all(|v| v.record.approved_for_patient);
    let latest = visits
        .last()
        .expect("a group has at least one care contact");
    let from_newest = |f: &dyn Fn(&Visit) -> Option<String>| visits.iter().rev().find_map(f);
    let author = |v: &Visit| v.record.author.clone().unwrap_or_default();
    let item = Contact {
        role: ContactRole::CareTeamMember,
        role_text: None,
        name: from_newest(&|v| author(v).name),
        profession: from_newest(&|v| author(v).role),
        hsa_id: author(latest).hsa_id,
        care_unit: latest
            .record
            .care_unit
            .clone()
            .or_else(|| latest.contact_unit.clone()),
        phone: latest.phone.clone(),
        email: latest.email.clone(),
        start,
        end,
    };
    let mut sourced = cx.sourced(&latest.record, item);
    sourced.identifiers.clear();
    sourced.approved_for_patient = approved;
    sourced
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::rivta::map::testing::{hsa, run};

    /// One care contact: `document` id, professional (`hsa` id, `name`), period, approval and
    /// anything else for the header (`extra`).
    fn care_contact(
        document: &str,
        professional: &str,
        period: (&str, Option<&str>),
        approved: bool,
        extra: &str,
    ) -> String {
        let end = period
            .1
            .map(|e| format!("<end>{e}</end>"))
            .unwrap_or_default();
        format!(
            r#"<careContact>
              <careContactHeader>
                <documentId>{document}</documentId>
                <sourceSystemHSAId>SE2321000016-SYS1</sourceSystemHSAId>
                <documentTime>{start}</documentTime>
                <patientId><id>191212121212</id><type>1.2.752.129.2.1.3.1</type></patientId>
                <accountableHealthcareProfessional>
                  <authorTime>{start}</authorTime>
                  {professional}
                  <healthcareProfessionalRoleCode>
                    <code>201011</code><codeSystem>1.2.752.129.2.2.1.4</codeSystem>
                    <displayName>Distriktsläkare</displayName>
                  </healthcareProfessionalRoleCode>
                  <healthcareProfessionalOrgUnit>
                    <orgUnitHSAId>SE2321000016-VC01</orgUnitHSAId>
                    <orgUnitName>Vårdcentralen Kärnan</orgUnitName>
                    <orgUnitTelecom>010-123 45 00</orgUnitTelecom>
                  </healthcareProfessionalOrgUnit>
                  <healthcareProfessionalCareUnitHSAId>SE2321000016-VC01</healthcareProfessionalCareUnitHSAId>
                  <healthcareProfessionalCareGiverHSAId>SE2321000016-A291</healthcareProfessionalCareGiverHSAId>
                </accountableHealthcareProfessional>
                <approvedForPatient>{approved}</approvedForPatient>
                {extra}
              </careContactHeader>
              <careContactBody>
                <careContactCode><code>1</code><displayName>Besök</displayName></careContactCode>
                <careContactTimePeriod><start>{start}</start>{end}</careContactTimePeriod>
              </careContactBody>
            </careContact>"#,
            start = period.0,
        )
    }

    const ANNA: &str = "<healthcareProfessionalHSAId>SE2321000016-ANNA</healthcareProfessionalHSAId>\
                        <healthcareProfessionalName>Anna Läkare</healthcareProfessionalName>";
    const BO: &str = "<healthcareProfessionalName>Bo Sjuksköterska</healthcareProfessionalName>";

    fn answer(care_contacts: &[String]) -> String {
        format!(
            r#"<GetCareContactsResponse xmlns="urn:riv:clinicalprocess:logistics:logistics:GetCareContactsResponder:3" xmlns:c="urn:riv:clinicalprocess:logistics:logistics:3">{}<result><resultCode>OK</resultCode><logId>1</logId></result></GetCareContactsResponse>"#,
            care_contacts.concat()
        )
    }

    #[test]
    fn each_professional_becomes_one_contact_spanning_their_care_contacts() {
        let (items, stats) = run(
            &answer(&[
                care_contact(
                    "D1",
                    ANNA,
                    ("20240110090000", Some("20240110093000")),
                    true,
                    "",
                ),
                care_contact("D2", BO, ("20240301100000", None), true, ""),
                care_contact(
                    "D3",
                    ANNA,
                    ("20250203140000", Some("20250203143000")),
                    true,
                    "",
                ),
            ]),
            map,
        );
        assert_eq!(stats.skipped_total(), 0);
        assert_eq!(items.len(), 2);
        let anna = &items[0];
        assert_eq!(anna.item.name.as_deref(), Some("Anna Läkare"));
        assert_eq!(anna.item.hsa_id, Some(hsa("SE2321000016-ANNA")));
        assert_eq!(anna.item.role, ContactRole::CareTeamMember);
        assert_eq!(anna.item.profession.as_deref(), Some("Distriktsläkare"));
        assert_eq!(anna.item.start, NaiveDate::from_ymd_opt(2024, 1, 10));
        // Her care contacts are all over, but she is still someone the patient has met.
        assert_eq!(anna.item.end, None);
        assert_eq!(anna.item.phone.as_deref(), Some("010-123 45 00"));
        let unit = anna.item.care_unit.as_ref().unwrap();
        assert_eq!(unit.name.as_deref(), Some("Vårdcentralen Kärnan"));
        // The record is the most recent care contact, and the item carries no document id.
        assert_eq!(anna.provenance.record_id, "SE2321000016-SYS1/D3");
        assert!(anna.identifiers.is_empty());
        assert_eq!(anna.provenance.care_unit, anna.item.care_unit);

        // Bo has no HSA-id: grouped by name; his care contact has not ended.
        let bo = &items[1];
        assert_eq!(bo.item.name.as_deref(), Some("Bo Sjuksköterska"));
        assert_eq!(bo.item.hsa_id, None);
        assert_eq!(bo.item.end, None);
    }

    #[test]
    fn a_contact_has_no_end_even_when_its_care_contacts_have_ended() {
        let (items, _) = run(
            &answer(&[
                care_contact(
                    "D1",
                    ANNA,
                    ("20240110090000", Some("20240110093000")),
                    true,
                    "",
                ),
                care_contact("D2", ANNA, ("20240501090000", None), true, ""),
            ]),
            map,
        );
        assert_eq!(items[0].item.end, None);
        assert_eq!(items[0].item.start, NaiveDate::from_ymd_opt(2024, 1, 10));
    }

    #[test]
    fn a_contact_is_hidden_from_the_patient_when_any_of_its_care_contacts_is_not_approved() {
        let (items, _) = run(
            &answer(&[
                care_contact("D1", ANNA, ("20240110090000", None), false, ""),
                care_contact("D2", ANNA, ("20250110090000", None), true, ""),
                care_contact("D3", BO, ("20250110090000", None), true, ""),
            ]),
            map,
        );
        assert!(!items[0].approved_for_patient);
        assert!(items[1].approved_for_patient);
    }

    #[test]
    fn a_nullified_care_contact_contributes_nothing() {
        let (items, stats) = run(
            &answer(&[
                care_contact(
                    "D1",
                    ANNA,
                    ("20200110090000", None),
                    false,
                    "<nullified>true</nullified>",
                ),
                care_contact(
                    "D2",
                    ANNA,
                    ("20250110090000", Some("20250110100000")),
                    true,
                    "",
                ),
                care_contact(
                    "D3",
                    BO,
                    ("20250110090000", None),
                    true,
                    "<nullified>true</nullified>",
                ),
            ]),
            map,
        );
        assert_eq!(items.len(), 1);
        let anna = &items[0];
        assert!(anna.approved_for_patient);
        assert_eq!(anna.item.start, NaiveDate::from_ymd_opt(2025, 1, 10));
        assert_eq!(anna.item.end, None);
        assert_eq!(stats.nullified, 2);
        assert_eq!(stats.skipped_total(), 0);
    }

    #[test]
    fn another_patients_care_contact_is_left_out() {
        let other = care_contact("D1", ANNA, ("20250110090000", None), true, "")
            .replace("191212121212", "201212121212");
        let (items, stats) = run(&answer(&[other]), map);
        assert!(items.is_empty());
        assert_eq!(stats.skipped.get("otherPatient"), Some(&1));
    }

    #[test]
    fn a_care_contact_without_a_document_id_or_a_professional_is_skipped_and_counted() {
        let no_id = care_contact("D1", ANNA, ("20250110090000", None), true, "")
            .replace("<documentId>D1</documentId>", "");
        let nobody = care_contact("D2", "", ("20250110090000", None), true, "");
        let (items, stats) = run(&answer(&[no_id, nobody]), map);
        assert!(items.is_empty());
        assert_eq!(stats.skipped.get("careContact"), Some(&2));
    }

    #[test]
    fn dates_are_the_swedish_calendar_dates_as_written() {
        // 00:30 on 1 June in Sweden is still 31 May in UTC.
        let (items, _) = run(
            &answer(&[care_contact(
                "D1",
                ANNA,
                ("20250601003000", Some("20250601010000")),
                true,
                "",
            )]),
            map,
        );
        assert_eq!(items[0].item.start, NaiveDate::from_ymd_opt(2025, 6, 1));
    }
}
