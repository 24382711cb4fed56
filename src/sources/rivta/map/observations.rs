//! `GetObservations` v1 (clinicalprocess:healthcond:basic 1.1) → measurements: one
//! [`Measurement`] per `observationGroup/observation`.
//!
//! This contract has no `PatientSummaryHeaderType`; each observation's record is built from the
//! observation and its group:
//!
//! | Record | from |
//! |---|---|
//! | document id | the observation's `id` (`IIType`) as `root:extension` (an extension is unique only within its root, e.g. a document UUID); no id → skipped `observation` |
//! | source system | the group's `sourceSystem/id` extension (an HSA-id; the root if there is no extension), else the source's care-provider HSA-id from the catalog (the aggregating services' own example leaves `sourceSystem` empty); neither → skipped `observation` |
//! | approved for patient | the observation's `approvedForPatient` (missing → false, as for the headers) |
//! | care unit | the group's `performerRole/careUnit` (`id` extension as HSA-id, `name`) |
//! | care giver | `performerRole/careUnit/careGiver/id` extension |
//! | patient | the group's `patient/id` extension: another patient's group is skipped (`otherPatient`, per observation) |
//!
//! | Measurement | from |
//! |---|---|
//! | name | `type` display name, else original text, else code; none → skipped `observation` |
//! | code | `type` (code system OID mapped to a URI where Överblick knows one, see `xml::code_system`) |
//! | value | `value/pq` (`value`, `unit`) |
//! | value_text | `value/cv` (display name, else code), `value/ts` (the time as written, formatted), `value/ivl_ts` ("start – end") |
//! | components | none (the contract has one value per observation) |
//! | time | `time/start`, else `time/end` (a `PartialTimeStampType`: Swedish local time; a year or a month alone is too vague for a time and gives none) |
//! | status | `status` code or display name, case-insensitively: `final`/`completed` → Final, `preliminary`/`active` → Preliminary, `registered` → Registered, `amended`/`corrected` → Amended, `cancelled`/`aborted` → Cancelled, `nullified`/`entered-in-error` → left out as nullified; anything else or none → Unknown |
//! | measured_by | Patient when the group's `performerRole/code` is `PAT` or `SELF` (HL7 role codes for the patient), else Care: the contract describes care's observations |
//!
//! `valueNegation = true` says the value was *not* observed: such a value is given only as text,
//! "Ej <value>", never as a quantity a chart could plot.
//!
//! Left out: `method`, `targetSite`, `description`, `registrationTime`, `legalAuthenticator`,
//! `additionalParticipant` and `relation`.

use chrono::{DateTime, Utc};
use roxmltree::Node;

use super::{Ctx, Ii, Record, xml};
use crate::domain::{MeasuredBy, Measurement, ResultStatus, Sourced};

/// What the group says about every observation in it.
struct Group {
    other_patient: bool,
    source_system: Option<String>,
    record: Record,
    measured_by: MeasuredBy,
}

pub fn map(payload: Node<'_, '_>, cx: &mut Ctx<'_>) -> Vec<Sourced<Measurement>> {
    let mut out = Vec::new();
    for group_node in xml::children(payload, "observationGroup") {
        let group = group(group_node, cx);
        for observation in xml::children(group_node, "observation") {
            if let Some(item) = measurement(observation, &group, cx) {
                out.push(item);
            }
        }
    }
    out
}

fn group(node: Node<'_, '_>, cx: &Ctx<'_>) -> Group {
    let patient = xml::at(node, &["patient", "id"]).and_then(Ii::of);
    let source_system = xml::at(node, &["sourceSystem", "id"])
        .and_then(Ii::of)
        .and_then(|id| id.extension.or(id.root))
        .or_else(|| {
            cx.info
                .care_provider
                .hsa_id
                .as_ref()
                .map(|h| h.as_str().to_owned())
        });
    let role = xml::child(node, "performerRole");
    let unit = role.and_then(|r| xml::child(r, "careUnit"));
    let measured_by = match role.and_then(|r| xml::text_at(r, &["code", "code"])) {
        Some("PAT" | "SELF") => MeasuredBy::Patient,
        _ => MeasuredBy::Care,
    };
    Group {
        other_patient: cx.is_other_patient(patient.as_ref().and_then(|p| p.extension.as_deref())),
        record: Record {
            document_id: String::new(),
            source_system: source_system.clone().unwrap_or_default(),
            approved_for_patient: false,
            nullified: false,
            care_unit: unit.and_then(|u| {
                xml::organisation(id_extension(u).and_then(xml::hsa_id), xml::text(u, "name"))
            }),
            care_giver: unit
                .and_then(|u| xml::child(u, "careGiver"))
                .and_then(id_extension)
                .and_then(xml::hsa_id),
            time: None,
            title: None,
            author: None,
        },
        source_system,
        measured_by,
    }
}

/// The `id/extension` of a care unit or care giver: its HSA-id.
fn id_extension<'a>(node: Node<'a, '_>) -> Option<&'a str> {
    xml::child(node, "id").and_then(|id| xml::text(id, "extension"))
}

fn measurement(
    node: Node<'_, '_>,
    group: &Group,
    cx: &mut Ctx<'_>,
) -> Option<Sourced<Measurement>> {
    if group.other_patient {
        cx.skip("otherPatient");
        return None;
    }
    let (Some(id), Some(_)) = (Ii::of_child(node, "id"), &group.source_system) else {
        cx.skip("observation");
        return None;
    };
    let status = match status(node) {
        Some(status) => status,
        None => {
            cx.stats.nullified += 1;
            return None;
        }
    };
    let code = xml::code_of(node, "type");
    let Some(name) = code
        .as_ref()
        .and_then(|c| c.display.clone().or(c.code.clone()))
    else {
        cx.skip("observation");
        return None;
    };
    let negated = xml::bool_of(node, "valueNegation") == Some(true);
    let value_node = xml::child(node, "value");
    let pq = value_node.and_then(|v| xml::child(v, "pq"));
    let (value, value_text) = match pq.filter(|pq| xml::quantity(*pq).is_some()) {
        Some(pq) if negated => {
            let text = [xml::text(pq, "value"), xml::text(pq, "unit")]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            (None, Some(format!("Ej {text}")))
        }
        Some(pq) => (xml::quantity(pq), None),
        None => (
            None,
            value_node
                .and_then(value_text)
                .map(|t| if negated { format!("Ej {t}") } else { t }),
        ),
    };
    let time = xml::child(node, "time").and_then(|t| {
        xml::child(t, "start")
            .and_then(partial_time)
            .or_else(|| xml::child(t, "end").and_then(partial_time))
    });
    let record = Record {
        document_id: id.key(),
        approved_for_patient: xml::bool_of(node, "approvedForPatient").unwrap_or(false),
        ..group.record.clone()
    };
    let item = Measurement {
        name,
        code,
        value,
        value_text,
        components: Vec::new(),
        time,
        status,
        measured_by: group.measured_by,
    };
    Some(cx.sourced(&record, item))
}

/// The status; `None` for an observation the source has withdrawn.
fn status(node: Node<'_, '_>) -> Option<ResultStatus> {
    let Some(status) = xml::code_of(node, "status") else {
        return Some(ResultStatus::Unknown);
    };
    let words = [status.code, status.display];
    let is = |names: &[&str]| {
        words
            .iter()
            .flatten()
            .any(|w| names.iter().any(|n| w.eq_ignore_ascii_case(n)))
    };
    if is(&["nullified", "entered-in-error"]) {
        None
    } else if is(&["final", "completed"]) {
        Some(ResultStatus::Final)
    } else if is(&["preliminary", "active"]) {
        Some(ResultStatus::Preliminary)
    } else if is(&["registered"]) {
        Some(ResultStatus::Registered)
    } else if is(&["amended", "corrected"]) {
        Some(ResultStatus::Amended)
    } else if is(&["cancelled", "aborted"]) {
        Some(ResultStatus::Cancelled)
    } else {
        Some(ResultStatus::Unknown)
    }
}

/// A value that is not a quantity, as text.
fn value_text(value: Node<'_, '_>) -> Option<String> {
    if let Some(cv) = xml::child(value, "cv").and_then(xml::code) {
        return cv.display.or(cv.code);
    }
    if let Some(ts) = xml::child(value, "ts").and_then(|t| xml::text(t, "value")) {
        return Some(readable_time(ts));
    }
    let period = xml::child(value, "ivl_ts")?;
    let side = |name: &str| {
        xml::child(period, name)
            .and_then(|p| xml::text(p, "value"))
            .map(readable_time)
    };
    match (side("start"), side("end")) {
        (None, None) => None,
        (start, end) => Some(format!(
            "{} – {}",
            start.unwrap_or_default(),
            end.unwrap_or_default()
        )),
    }
}

/// A `PartialTimeStampType` as a time: to the minute or second, or an hour (`YYYYMMDDhh`) or a
/// day (midnight); a year or a month alone is `None`.
fn partial_time(node: Node<'_, '_>) -> Option<DateTime<Utc>> {
    let value = xml::text(node, "value")?;
    match value.len() {
        10 => xml::timestamp(&format!("{value}00")),
        8 | 12 | 14 => xml::timestamp(value),
        _ => None,
    }
}

/// `YYYYMMDDhhmmss` (or a shorter prefix of it) as `YYYY-MM-DD hh:mm:ss`; anything else as it
/// is.
fn readable_time(value: &str) -> String {
    if !value.bytes().all(|b| b.is_ascii_digit())
        || !value.len().is_multiple_of(2)
        || value.len() > 14
    {
        return value.to_owned();
    }
    let mut out = String::new();
    for (i, c) in value.chars().enumerate() {
        match i {
            4 | 6 => out.push('-'),
            8 => out.push(' '),
            10 | 12 => out.push(':'),
            _ => {}
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::rivta::map::testing::{PROVIDER, hsa, run};

    fn answer(group_extra: &str, observations: &str) -> String {
        format!(
            r#"<GetObservationsResponse xmlns="urn:riv:clinicalprocess:healthcond:basic:GetObservationsResponder:1" xmlns:b="urn:riv:clinicalprocess:healthcond:basic:1">
              <observationGroup>
                <b:patient><b:id><b:root>1.2.752.129.2.1.3.1</b:root><b:extension>191212121212</b:extension></b:id><b:dateOfBirth>19121212</b:dateOfBirth></b:patient>
                <b:performerRole>
                  <b:code><b:code>ASSIGNED</b:code><b:codeSystem>2.16.840.1.113883.5.110</b:codeSystem></b:code>
                  <b:careUnit>
                    <b:id><b:root>1.2.752.129.2.1.4.1</b:root><b:extension>SE2321000016-VC01</b:extension></b:id>
                    <b:name>Vårdcentralen Kärnan</b:name>
                    <b:careGiver><b:id><b:root>1.2.752.129.2.1.4.1</b:root><b:extension>SE2321000016-A291</b:extension></b:id></b:careGiver>
                  </b:careUnit>
                </b:performerRole>
                {group_extra}
                {observations}
              </observationGroup>
            </GetObservationsResponse>"#
        )
    }

    const SOURCE: &str = "<b:sourceSystem><b:id><b:root>1.2.752.129.2.1.4.1</b:root><b:extension>SE2321000016-SYS1</b:extension></b:id></b:sourceSystem>";

    fn observation(extension: &str, value: &str, extra: &str) -> String {
        format!(
            r#"<b:observation>
              <b:id><b:root>D3CC3AFD-310E-40C1-8E89-0342389C2F1F</b:root><b:extension>{extension}</b:extension></b:id>
              <b:type><b:code>27113001</b:code><b:codeSystem>1.2.752.116.2.1.1</b:codeSystem><b:displayName>Kroppsvikt</b:displayName></b:type>
              <b:time><b:start><b:format>YYYYMMDDhhmmss</b:format><b:value>20250115081500</b:value></b:start></b:time>
              <b:value>{value}</b:value>
              <b:valueNegation>false</b:valueNegation>
              <b:approvedForPatient>true</b:approvedForPatient>
              {extra}
            </b:observation>"#
        )
    }

    const KG: &str = "<b:pq><b:value>80.5</b:value><b:unit>kg</b:unit></b:pq>";

    #[test]
    fn a_weight_is_a_quantity_measured_by_care_at_swedish_local_time() {
        let (items, stats) = run(&answer(SOURCE, &observation("6", KG, "")), map);
        assert_eq!(stats.skipped_total(), 0);
        let m = &items[0];
        assert_eq!(m.item.name, "Kroppsvikt");
        let code = m.item.code.as_ref().unwrap();
        assert_eq!(code.system.as_deref(), Some("http://snomed.info/sct"));
        let value = m.item.value.as_ref().unwrap();
        assert_eq!((value.value, value.unit.as_deref()), (80.5, Some("kg")));
        // 08:15 in Swedish winter time is 07:15 UTC.
        assert_eq!(
            m.item.time.unwrap().to_rfc3339(),
            "2025-01-15T07:15:00+00:00"
        );
        assert_eq!(m.item.measured_by, MeasuredBy::Care);
        assert_eq!(m.item.status, ResultStatus::Unknown);
        assert_eq!(
            m.provenance.record_id,
            "SE2321000016-SYS1/D3CC3AFD-310E-40C1-8E89-0342389C2F1F:6"
        );
        let unit = m.provenance.care_unit.as_ref().unwrap();
        assert_eq!(unit.hsa_id, Some(hsa("SE2321000016-VC01")));
        assert_eq!(unit.name.as_deref(), Some("Vårdcentralen Kärnan"));
        // The care giver is the catalog's own provider: named from the catalog.
        let provider = m.provenance.care_provider.as_ref().unwrap();
        assert_eq!(provider.name.as_deref(), Some("Region Test"));
        assert!(m.approved_for_patient);
    }

    #[test]
    fn without_a_source_system_the_catalogs_care_provider_keys_the_record() {
        let (items, _) = run(&answer("<b:sourceSystem/>", &observation("6", KG, "")), map);
        assert!(
            items[0]
                .provenance
                .record_id
                .starts_with(&format!("{PROVIDER}/"))
        );
    }

    #[test]
    fn a_measurement_the_patient_took_is_marked_so() {
        let (items, _) = run(
            &answer(SOURCE, &observation("6", KG, "")).replace(">ASSIGNED<", ">PAT<"),
            map,
        );
        assert_eq!(items[0].item.measured_by, MeasuredBy::Patient);
    }

    #[test]
    fn coded_negated_and_time_values_are_text() {
        let cv = "<b:cv><b:code>260385009</b:code><b:codeSystem>1.2.752.116.2.1.1</b:codeSystem><b:displayName>Negativ</b:displayName></b:cv>";
        let ts = "<b:ts><b:format>YYYYMMDD</b:format><b:value>20250110</b:value></b:ts>";
        let (items, _) = run(
            &answer(
                SOURCE,
                &[
                    observation("1", cv, ""),
                    observation("2", KG, "")
                        .replace("<b:valueNegation>false", "<b:valueNegation>true"),
                    observation("3", ts, ""),
                ]
                .concat(),
            ),
            map,
        );
        assert_eq!(items[0].item.value_text.as_deref(), Some("Negativ"));
        assert_eq!(items[1].item.value, None);
        assert_eq!(items[1].item.value_text.as_deref(), Some("Ej 80.5 kg"));
        assert_eq!(items[2].item.value_text.as_deref(), Some("2025-01-10"));
    }

    #[test]
    fn statuses_are_read_and_an_unknown_one_is_unknown() {
        let with_status = |s: &str| {
            let (items, stats) = run(
                &answer(
                    SOURCE,
                    &observation("6", KG, "").replace(
                        "<b:time>",
                        &format!("<b:status><b:code>{s}</b:code><b:codeSystem>x</b:codeSystem></b:status><b:time>"),
                    ),
                ),
                map,
            );
            (items.first().map(|i| i.item.status), stats)
        };
        assert_eq!(with_status("completed").0, Some(ResultStatus::Final));
        assert_eq!(
            with_status("Preliminary").0,
            Some(ResultStatus::Preliminary)
        );
        assert_eq!(with_status("something").0, Some(ResultStatus::Unknown));
        let (withdrawn, stats) = with_status("nullified");
        assert_eq!(withdrawn, None);
        assert_eq!(stats.nullified, 1);
    }

    #[test]
    fn another_patients_group_is_left_out() {
        let (items, stats) = run(
            &answer(
                SOURCE,
                &[observation("1", KG, ""), observation("2", KG, "")].concat(),
            )
            .replace(">191212121212<", ">201212121212<"),
            map,
        );
        assert!(items.is_empty());
        assert_eq!(stats.skipped.get("otherPatient"), Some(&2));
    }

    #[test]
    fn an_observation_without_an_id_is_skipped_and_counted() {
        let without_id = observation("6", KG, "")
            .replace("<b:id><b:root>D3CC3AFD-310E-40C1-8E89-0342389C2F1F</b:root><b:extension>6</b:extension></b:id>", "");
        let (items, stats) = run(&answer(SOURCE, &without_id), map);
        assert!(items.is_empty());
        assert_eq!(stats.skipped.get("observation"), Some(&1));
    }

    #[test]
    fn an_observation_not_approved_for_the_patient_is_marked_so() {
        let (items, _) = run(
            &answer(
                SOURCE,
                &observation("6", KG, "")
                    .replace("<b:approvedForPatient>true", "<b:approvedForPatient>false"),
            ),
            map,
        );
        assert!(!items[0].approved_for_patient);
    }

    #[test]
    fn partial_times_are_as_precise_as_they_say() {
        let at = |format: &str, value: &str| {
            let text = format!("<start><format>{format}</format><value>{value}</value></start>");
            let doc = roxmltree::Document::parse(&text).unwrap();
            partial_time(doc.root_element()).map(|t| t.to_rfc3339())
        };
        assert_eq!(
            at("YYYYMMDDhhmm", "201505011257").as_deref(),
            Some("2015-05-01T10:57:00+00:00")
        );
        assert_eq!(
            at("YYYYMMDDhh", "2015050112").as_deref(),
            Some("2015-05-01T10:00:00+00:00")
        );
        assert_eq!(at("YYYYMM", "201505"), None);
        assert_eq!(readable_time("20150501125700"), "2015-05-01 12:57:00");
        assert_eq!(readable_time("not a time"), "not a time");
    }
}
