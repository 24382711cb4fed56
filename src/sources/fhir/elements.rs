//! Readers for FHIR data types (strings, CodeableConcept, HumanName, Quantity, dates, Period,
//! Identifier, ContactPoint, extensions, security labels) over untrusted JSON: every reader returns `None` on a
//! missing or malformed value and never panics.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;

use crate::domain::{Code, HsaId, Identifier, Quantity};

pub const HSA_SYSTEM: &str = "urn:oid:1.2.752.129.2.1.4.1";
pub const ATC_SYSTEM: &str = "http://www.whocc.no/atc";
pub const LOINC_SYSTEM: &str = "http://loinc.org";
pub const NPU_SYSTEM: &str = "urn:oid:1.2.208.176.2.1";
pub const UCUM_SYSTEM: &str = "http://unitsofmeasure.org";
pub const CONTACT_ROLE_SYSTEM: &str = "https://overblick.se/fhir/CodeSystem/contact-role";
pub const CARE_PLAN_KIND_SYSTEM: &str = "https://overblick.se/fhir/CodeSystem/care-plan-kind";
pub const NEXT_REVIEW_EXTENSION: &str = "https://overblick.se/fhir/StructureDefinition/next-review";
pub const MAY_CANCEL_EXTENSION: &str =
    "https://overblick.se/fhir/StructureDefinition/patient-may-cancel";
pub const MAY_REBOOK_EXTENSION: &str =
    "https://overblick.se/fhir/StructureDefinition/patient-may-rebook";
/// Överblick's marker of a record the patient may not see yet: `valueBoolean` false.
pub const APPROVED_FOR_PATIENT_EXTENSION: &str =
    "https://overblick.se/fhir/StructureDefinition/approved-for-patient";
/// HL7 v3 ActCode, the code system of FHIR's refrain-policy security labels.
pub const ACT_CODE_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
/// The v3 ActCode refrain policy "no disclosure to patient, family or caregivers without
/// attending provider's authorization": in `meta.security`, the record is not for the patient yet.
pub const NO_DISCLOSURE_TO_PATIENT: &str = "NOPAT";

/// A non-blank string field, trimmed.
pub fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// An owned non-blank string field.
pub fn string(v: &Value, key: &str) -> Option<String> {
    text(v, key).map(str::to_owned)
}

/// An array field; empty when missing or not an array.
pub fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The first element of an array field, or the field itself when it is a single object.
pub fn first<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v.get(key)? {
        Value::Array(items) => items.first(),
        other @ Value::Object(_) => Some(other),
        _ => None,
    }
}

/// The codings of a CodeableConcept.
pub fn codings(concept: &Value) -> &[Value] {
    list(concept, "coding")
}

/// A CodeableConcept as people read it: its text, else the first coding display.
pub fn concept_text(concept: &Value) -> Option<String> {
    string(concept, "text").or_else(|| codings(concept).iter().find_map(|c| string(c, "display")))
}

/// The first readable text of a list of CodeableConcepts.
pub fn concepts_text(concepts: &[Value]) -> Option<String> {
    concepts.iter().find_map(concept_text)
}

/// A CodeableConcept's name: its text, else a coding display, else a coding's code.
pub fn concept_name(concept: &Value) -> Option<String> {
    concept_text(concept).or_else(|| codings(concept).iter().find_map(|c| string(c, "code")))
}

/// A Coding as a [`Code`]; `None` when it has neither code nor display.
pub fn coding_to_code(coding: &Value) -> Option<Code> {
    let code = Code {
        system: string(coding, "system"),
        code: string(coding, "code"),
        display: string(coding, "display"),
    };
    (code.code.is_some() || code.display.is_some()).then_some(code)
}

/// The coding of the first preferred system present, else the first usable coding.
pub fn preferred_code(concept: &Value, systems: &[&str]) -> Option<Code> {
    let all = codings(concept);
    systems
        .iter()
        .find_map(|system| {
            all.iter()
                .filter(|c| text(c, "system") == Some(system))
                .find_map(coding_to_code)
        })
        .or_else(|| all.iter().find_map(coding_to_code))
}

/// Whether any of the CodeableConcepts carries `code` (in `system`, when given).
pub fn has_code(concepts: &[Value], system: Option<&str>, code: &str) -> bool {
    concepts.iter().any(|concept| {
        codings(concept).iter().any(|c| {
            text(c, "code") == Some(code) && system.is_none_or(|s| text(c, "system") == Some(s))
        })
    })
}

/// The codes of `system` the CodeableConcepts carry.
pub fn codes_in<'a>(concepts: &'a [Value], system: &'a str) -> impl Iterator<Item = &'a str> {
    concepts
        .iter()
        .flat_map(codings)
        .filter(move |c| text(c, "system") == Some(system))
        .filter_map(|c| text(c, "code"))
}

/// A person's name from a list of HumanNames: the first official or usual name (else the
/// first), as its text, else given names and family name.
pub fn human_name(names: &[Value]) -> Option<String> {
    let preferred = names
        .iter()
        .find(|n| matches!(text(n, "use"), Some("official" | "usual")))
        .or_else(|| {
            names
                .iter()
                .find(|n| !matches!(text(n, "use"), Some("old" | "maiden")))
        })
        .or_else(|| names.first())?;
    if let Some(t) = string(preferred, "text") {
        return Some(t);
    }
    let mut parts: Vec<&str> = list(preferred, "given")
        .iter()
        .filter_map(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    match preferred.get("family") {
        Some(Value::String(family)) if !family.trim().is_empty() => parts.push(family.trim()),
        // STU3-era data sometimes has family as a list.
        Some(Value::Array(family)) => parts.extend(
            family
                .iter()
                .filter_map(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty()),
        ),
        _ => {}
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// A finite number.
pub fn number(v: &Value) -> Option<f64> {
    v.as_f64().filter(|n| n.is_finite())
}

/// A Quantity with a value; the unit as written (else its UCUM code), and the code when it is
/// UCUM (or has no system).
pub fn quantity(v: &Value) -> Option<Quantity> {
    let value = number(v.get("value")?)?;
    let ucum = matches!(text(v, "system"), None | Some(UCUM_SYSTEM));
    let unit_code = string(v, "code").filter(|_| ucum);
    Some(Quantity {
        value,
        unit: string(v, "unit").or_else(|| unit_code.clone()),
        unit_code,
    })
}

/// A FHIR date, dateTime or instant as the calendar date written (the local date of its
/// offset); a year or year-month means its first day.
pub fn date_start(v: &Value) -> Option<NaiveDate> {
    let (year, month, day) = date_parts(v.as_str()?)?;
    NaiveDate::from_ymd_opt(year, month.unwrap_or(1), day.unwrap_or(1))
}

/// As [`date_start`], but a year or year-month means its last day (for ends of periods).
pub fn date_end(v: &Value) -> Option<NaiveDate> {
    let (year, month, day) = date_parts(v.as_str()?)?;
    match (month, day) {
        (Some(m), Some(d)) => NaiveDate::from_ymd_opt(year, m, d),
        (Some(m), None) => {
            let (ny, nm) = if m == 12 {
                (year + 1, 1)
            } else {
                (year, m + 1)
            };
            NaiveDate::from_ymd_opt(ny, nm, 1)?.pred_opt()
        }
        (None, _) => NaiveDate::from_ymd_opt(year, 12, 31),
    }
}

fn date_parts(text: &str) -> Option<(i32, Option<u32>, Option<u32>)> {
    let text = text.trim();
    let date = text.get(..10.min(text.len()))?;
    let mut parts = date.split('-');
    let year = parts.next().filter(|y| y.len() == 4)?.parse().ok()?;
    let month = match parts.next() {
        Some(m) if m.len() == 2 => Some(m.parse().ok()?),
        Some(_) => return None,
        None => None,
    };
    let day = match parts.next() {
        Some(d) if d.len() == 2 => Some(d.parse().ok()?),
        Some(_) => return None,
        None => None,
    };
    if day.is_some() && month.is_none() {
        return None;
    }
    Some((year, month, day))
}

/// A FHIR date, dateTime or instant as a UTC time; a date without time means midnight UTC of its
/// (first) day; a time without offset is taken as UTC.
pub fn instant(v: &Value) -> Option<DateTime<Utc>> {
    let text = v.as_str()?.trim();
    if text.len() <= 10 {
        return date_start(v)?.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M"))
        .ok()
        .map(|t| t.and_utc())
}

/// A Period's start and end dates.
pub fn period_dates(period: Option<&Value>) -> (Option<NaiveDate>, Option<NaiveDate>) {
    let Some(period) = period else {
        return (None, None);
    };
    (
        period.get("start").and_then(date_start),
        period.get("end").and_then(date_end),
    )
}

/// The time of an `effective[x]` (or similar) choice: `<prefix>DateTime`, `<prefix>Instant`,
/// `<prefix>Period.start`, `<prefix>Date`.
pub fn choice_time(v: &Value, prefix: &str) -> Option<DateTime<Utc>> {
    ["DateTime", "Instant", "Date"]
        .iter()
        .find_map(|suffix| v.get(format!("{prefix}{suffix}")).and_then(instant))
        .or_else(|| {
            v.get(format!("{prefix}Period"))
                .and_then(|p| p.get("start"))
                .and_then(instant)
        })
}

/// The business identifiers of a resource (`identifier`, a list or a single one).
pub fn identifiers(resource: &Value) -> Vec<Identifier> {
    let one;
    let ids: &[Value] = match resource.get("identifier") {
        Some(Value::Array(ids)) => ids,
        Some(single @ Value::Object(_)) => {
            one = [single.clone()];
            &one
        }
        _ => &[],
    };
    ids.iter()
        .filter_map(|id| {
            Some(Identifier {
                system: string(id, "system"),
                value: string(id, "value")?,
            })
        })
        .collect()
}

/// The first valid HSA-id among a resource's identifiers (or a Reference's `identifier`).
pub fn hsa_id(v: &Value) -> Option<HsaId> {
    let single = v.get("identifier").filter(|i| i.is_object());
    list(v, "identifier")
        .iter()
        .chain(single)
        .filter(|id| text(id, "system") == Some(HSA_SYSTEM))
        .find_map(|id| HsaId::parse(text(id, "value")?).ok())
}

/// The first ContactPoint value of `system` (`phone`, `email`) in `telecom`.
pub fn telecom(v: &Value, system: &str) -> Option<String> {
    list(v, "telecom")
        .iter()
        .filter(|t| text(t, "system") == Some(system))
        .find_map(|t| string(t, "value"))
}

/// The value of the extension with `url` (`value<suffix>`).
pub fn extension<'a>(v: &'a Value, url: &str, suffix: &str) -> Option<&'a Value> {
    list(v, "extension")
        .iter()
        .find(|e| text(e, "url") == Some(url))
        .and_then(|e| e.get(format!("value{suffix}")))
}

/// Whether an element (a resource, or a part of one such as a CareTeam participant or a
/// CarePlan activity) may be shown to the patient as far as its own markers say: not when it
/// carries the `approved-for-patient` extension with anything but `valueBoolean` true (a
/// marker the source meant to set is read in the direction that shows less), nor when its
/// `meta.security` holds the v3 ActCode `NOPAT`. No marker means approved.
pub fn approved_for_patient(v: &Value) -> bool {
    let withheld_by_extension = list(v, "extension")
        .iter()
        .filter(|e| text(e, "url") == Some(APPROVED_FOR_PATIENT_EXTENSION))
        .any(|e| e.get("valueBoolean").and_then(Value::as_bool) != Some(true));
    let withheld_by_label = v.get("meta").is_some_and(|meta| {
        list(meta, "security").iter().any(|label| {
            text(label, "system") == Some(ACT_CODE_SYSTEM)
                && text(label, "code") == Some(NO_DISCLOSURE_TO_PATIENT)
        })
    });
    !withheld_by_extension && !withheld_by_label
}

/// A readable rendering of an Observation `value[x]` that is not a Quantity.
pub fn value_text(v: &Value) -> Option<String> {
    if let Some(s) = string(v, "valueString") {
        return Some(s);
    }
    if let Some(c) = v.get("valueCodeableConcept").and_then(concept_name) {
        return Some(c);
    }
    if let Some(b) = v.get("valueBoolean").and_then(Value::as_bool) {
        return Some(b.to_string());
    }
    if let Some(n) = v.get("valueInteger").and_then(number) {
        return Some(format_number(n));
    }
    for key in ["valueTime", "valueDateTime"] {
        if let Some(s) = string(v, key) {
            return Some(s);
        }
    }
    if let Some(range) = v.get("valueRange") {
        let low = range.get("low").and_then(quantity);
        let high = range.get("high").and_then(quantity);
        if low.is_some() || high.is_some() {
            return Some(format!(
                "{}–{}",
                low.map(|q| format_quantity(&q)).unwrap_or_default(),
                high.map(|q| format_quantity(&q)).unwrap_or_default()
            ));
        }
    }
    if let Some(ratio) = v.get("valueRatio") {
        let n = ratio.get("numerator").and_then(quantity)?;
        let d = ratio.get("denominator").and_then(quantity)?;
        return Some(format!("{}/{}", format_quantity(&n), format_quantity(&d)));
    }
    if let Some(p) = v.get("valuePeriod") {
        let (s, e) = (text(p, "start"), text(p, "end"));
        if s.is_some() || e.is_some() {
            return Some(format!("{}–{}", s.unwrap_or(""), e.unwrap_or("")));
        }
    }
    None
}

/// A number as people read it: plain, or in exponent form when very large or small.
fn format_number(n: f64) -> String {
    let magnitude = n.abs();
    if magnitude != 0.0 && !(1e-6..1e15).contains(&magnitude) {
        format!("{n:e}")
    } else {
        format!("{n}")
    }
}

pub fn format_quantity(q: &Quantity) -> String {
    match &q.unit {
        Some(unit) => format!("{} {unit}", format_number(q.value)),
        None => format_number(q.value),
    }
}

/// Cuts `text` to at most `max` characters, on a character boundary, marking the cut with "…".
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn partial_dates_mean_the_first_day_at_the_start_and_the_last_day_at_the_end() {
        assert_eq!(
            date_start(&json!("2013-04")),
            NaiveDate::from_ymd_opt(2013, 4, 1)
        );
        assert_eq!(
            date_end(&json!("2013-04")),
            NaiveDate::from_ymd_opt(2013, 4, 30)
        );
        assert_eq!(
            date_end(&json!("2012-12")),
            NaiveDate::from_ymd_opt(2012, 12, 31)
        );
        assert_eq!(
            date_end(&json!("2013")),
            NaiveDate::from_ymd_opt(2013, 12, 31)
        );
    }

    #[test]
    fn a_date_time_gives_the_local_date_of_its_offset() {
        assert_eq!(
            date_start(&json!("2013-04-02T23:30:10-05:00")),
            NaiveDate::from_ymd_opt(2013, 4, 2)
        );
    }

    #[test]
    fn malformed_dates_are_none_not_panics() {
        for bad in [
            json!(""),
            json!("13-04-02"),
            json!("2013-4-2"),
            json!("2013-13-01"),
            json!("2013-02-30"),
            json!("ååå"),
            json!("2013-04-0é"),
            json!(20130402),
            json!(null),
        ] {
            assert_eq!(date_start(&bad), None, "{bad}");
            assert_eq!(date_end(&bad), None, "{bad}");
            assert_eq!(instant(&bad), None, "{bad}");
        }
    }

    #[test]
    fn instants_are_converted_to_utc_and_dates_mean_midnight_utc() {
        assert_eq!(
            instant(&json!("2013-04-02T09:30:10+01:00"))
                .unwrap()
                .to_rfc3339(),
            "2013-04-02T08:30:10+00:00"
        );
        assert_eq!(
            instant(&json!("2013-04")).unwrap().to_rfc3339(),
            "2013-04-01T00:00:00+00:00"
        );
        assert_eq!(
            instant(&json!("2013-04-02T09:30:10")).unwrap().to_rfc3339(),
            "2013-04-02T09:30:10+00:00"
        );
    }

    #[test]
    fn a_human_name_prefers_text_then_given_and_family_of_the_official_name() {
        let names = json!([
            {"use": "maiden", "family": "Old"},
            {"use": "official", "given": ["Anna", "Maria"], "family": "Svensson", "prefix": ["Dr"]}
        ]);
        assert_eq!(
            human_name(names.as_array().unwrap()).as_deref(),
            Some("Anna Maria Svensson")
        );
        let names = json!([{"text": "Dr. Anna Svensson", "family": "Svensson"}]);
        assert_eq!(
            human_name(names.as_array().unwrap()).as_deref(),
            Some("Dr. Anna Svensson")
        );
        assert_eq!(human_name(&[json!({"given": [1, null]})]), None);
    }

    #[test]
    fn invalid_hsa_ids_are_ignored() {
        let v = json!({"identifier": [
            {"system": HSA_SYSTEM, "value": "not-an-hsa-id"},
            {"system": HSA_SYSTEM, "value": "SE2321000016-A291"}
        ]});
        assert_eq!(hsa_id(&v).unwrap().as_str(), "SE2321000016-A291");
        assert_eq!(
            hsa_id(&json!({"identifier": {"system": HSA_SYSTEM, "value": "SE2321000016-B1"}}))
                .unwrap()
                .as_str(),
            "SE2321000016-B1"
        );
        assert_eq!(hsa_id(&json!({"identifier": "x"})), None);
    }

    #[test]
    fn a_quantity_without_a_finite_value_is_none() {
        assert_eq!(quantity(&json!({"unit": "kg"})), None);
        assert_eq!(quantity(&json!({"value": "7"})), None);
        let q = quantity(&json!({"value": 7.5, "unit": "kg", "system": UCUM_SYSTEM, "code": "kg"}))
            .unwrap();
        assert_eq!(q.unit_code.as_deref(), Some("kg"));
        let q =
            quantity(&json!({"value": 1, "code": "385055001", "system": "http://snomed.info/sct"}))
                .unwrap();
        assert_eq!(q.unit_code, None);
        assert_eq!(q.unit, None);
    }

    #[test]
    fn a_record_without_a_marker_is_approved_for_the_patient() {
        assert!(approved_for_patient(
            &json!({"resourceType": "Observation"})
        ));
        assert!(approved_for_patient(&json!({
            "meta": {"security": [{"system": ACT_CODE_SYSTEM, "code": "NORDSCLCD"}]},
            "extension": [{"url": NEXT_REVIEW_EXTENSION, "valueDate": "2026-12-01"}]
        })));
        assert!(approved_for_patient(&json!({"extension": [
            {"url": APPROVED_FOR_PATIENT_EXTENSION, "valueBoolean": true}
        ]})));
    }

    #[test]
    fn the_extension_with_false_withholds_a_record_from_the_patient() {
        assert!(!approved_for_patient(&json!({"extension": [
            {"url": APPROVED_FOR_PATIENT_EXTENSION, "valueBoolean": false}
        ]})));
    }

    #[test]
    fn an_unreadable_approval_extension_withholds_rather_than_shows() {
        assert!(!approved_for_patient(&json!({"extension": [
            {"url": APPROVED_FOR_PATIENT_EXTENSION, "valueString": "true"}
        ]})));
        assert!(!approved_for_patient(&json!({"extension": [
            {"url": APPROVED_FOR_PATIENT_EXTENSION, "valueBoolean": true},
            {"url": APPROVED_FOR_PATIENT_EXTENSION, "valueBoolean": false}
        ]})));
    }

    #[test]
    fn the_nopat_security_label_withholds_a_record_from_the_patient() {
        assert!(!approved_for_patient(&json!({"meta": {"security": [
            {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "N"},
            {"system": ACT_CODE_SYSTEM, "code": "NOPAT"}
        ]}})));
        // The code means something only in its code system.
        assert!(approved_for_patient(&json!({"meta": {"security": [
            {"system": "https://example.se/labels", "code": "NOPAT"}
        ]}})));
    }

    #[test]
    fn very_large_and_small_numbers_are_written_with_an_exponent() {
        assert_eq!(format_number(1e-245), "1e-245");
        assert_eq!(format_number(-1e245), "-1e245");
        assert_eq!(format_number(0.0), "0");
        assert_eq!(format_number(6.3), "6.3");
        assert_eq!(format_number(1e18), "1e18");
    }

    #[test]
    fn truncation_respects_character_boundaries() {
        assert_eq!(truncate("åäö", 5), "åäö");
        assert_eq!(truncate("åäöåäö", 3), "åä…");
    }
}
