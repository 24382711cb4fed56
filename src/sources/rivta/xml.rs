//! Lenient reading of RIV-TA XML: elements found by local name whatever their namespace (real
//! producers mix schema versions, see the care-contacts example), text trimmed, and value
//! parsers that answer `None` for what they cannot read instead of failing the response.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::Stockholm;
use roxmltree::Node;

use crate::domain::{Code, HsaId, Organisation, Quantity};

/// The first element child of `node` named `name` (local name, any namespace).
pub fn child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

/// Every element child of `node` named `name`, in document order.
pub fn children<'a, 'i>(node: Node<'a, 'i>, name: &'a str) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == name)
}

/// The element reached from `node` by following `path` (first match at each step).
pub fn at<'a, 'i>(node: Node<'a, 'i>, path: &[&str]) -> Option<Node<'a, 'i>> {
    path.iter().try_fold(node, |n, name| child(n, name))
}

/// The trimmed text of `node` itself; `None` when it is empty.
pub fn own_text<'a>(node: Node<'a, '_>) -> Option<&'a str> {
    node.text().map(str::trim).filter(|t| !t.is_empty())
}

/// The trimmed text of the child `name`; `None` when it is missing or empty.
pub fn text<'a>(node: Node<'a, '_>, name: &str) -> Option<&'a str> {
    child(node, name).and_then(own_text)
}

/// As [`text`], owned.
pub fn string(node: Node<'_, '_>, name: &str) -> Option<String> {
    text(node, name).map(str::to_owned)
}

/// The trimmed text at `path`; `None` when it is missing or empty.
pub fn text_at<'a>(node: Node<'a, '_>, path: &[&str]) -> Option<&'a str> {
    at(node, path).and_then(own_text)
}

/// An `xs:boolean` (`true`, `false`, `1`, `0`); `None` for anything else.
pub fn boolean(text: &str) -> Option<bool> {
    match text.trim() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// The child `name` as an `xs:boolean`.
pub fn bool_of(node: Node<'_, '_>, name: &str) -> Option<bool> {
    text(node, name).and_then(boolean)
}

/// A decimal number as RIV-TA writes it (`.`; a `,` is accepted too, as some producers send it).
pub fn number(text: &str) -> Option<f64> {
    let t = text.trim();
    t.parse::<f64>()
        .ok()
        .or_else(|| t.replace(',', ".").parse::<f64>().ok())
        .filter(|v| v.is_finite())
}

/// An HSA-id; `None` when the text is not one.
pub fn hsa_id(text: &str) -> Option<HsaId> {
    HsaId::parse(text.trim()).ok()
}

/// The child `name` as an HSA-id.
pub fn hsa_id_of(node: Node<'_, '_>, name: &str) -> Option<HsaId> {
    text(node, name).and_then(hsa_id)
}

/// A RIV-TA time stamp (`YYYYMMDDhhmmss`; also `YYYYMMDDhhmm`, `YYYYMMDD` and ISO 8601 forms,
/// which producers send too). Without an offset the time is Swedish local time, as the service
/// contracts specify; a time that does not exist locally (the hour skipped in spring) is `None`,
/// a time that exists twice (autumn) is taken as the earlier one.
pub fn timestamp(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Some(dt.with_timezone(&Utc));
    }
    let local = local_datetime(t)?;
    match Stockholm.from_local_datetime(&local) {
        LocalResult::Single(dt) => Some(dt.with_timezone(&Utc)),
        LocalResult::Ambiguous(earlier, _) => Some(earlier.with_timezone(&Utc)),
        LocalResult::None => None,
    }
}

fn local_datetime(t: &str) -> Option<NaiveDateTime> {
    for format in [
        "%Y%m%d%H%M%S",
        "%Y%m%d%H%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(t, format) {
            return Some(dt);
        }
    }
    // Fractions of a second (`YYYYMMDDhhmmss.fff`) are dropped.
    if let Some((whole, _)) = t.split_once('.')
        && whole.len() == 14
    {
        return NaiveDateTime::parse_from_str(whole, "%Y%m%d%H%M%S").ok();
    }
    date(t).map(|d| d.and_time(NaiveTime::MIN))
}

/// A date (`YYYYMMDD`, `YYYY-MM-DD`, or the date part of a time stamp).
pub fn date(text: &str) -> Option<NaiveDate> {
    let t = text.trim();
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Some(d);
    }
    let digits = t.get(..8)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveDate::parse_from_str(digits, "%Y%m%d").ok()
}

/// The child `name` as a time stamp.
pub fn timestamp_of(node: Node<'_, '_>, name: &str) -> Option<DateTime<Utc>> {
    text(node, name).and_then(timestamp)
}

/// The child `name` as a date.
pub fn date_of(node: Node<'_, '_>, name: &str) -> Option<NaiveDate> {
    text(node, name).and_then(date)
}

/// The system URI Överblick uses for a RIV-TA code system OID, so that a code merges with the
/// same code from a FHIR source (which names LOINC, SNOMED CT and ATC by URI).
pub fn code_system(oid: &str) -> String {
    let oid = oid.trim();
    let oid = oid.strip_prefix("urn:oid:").unwrap_or(oid);
    match oid {
        "2.16.840.1.113883.6.1" => "http://loinc.org".into(),
        "1.2.752.116.2.1.1" | "1.2.752.116.2.1.1.1" | "2.16.840.1.113883.6.96" => {
            "http://snomed.info/sct".into()
        }
        "1.2.752.129.2.2.3.1.1" | "2.16.840.1.113883.6.73" => "http://www.whocc.no/atc".into(),
        "2.16.840.1.113883.6.8" => "http://unitsofmeasure.org".into(),
        other if other.contains("://") => other.into(),
        other => format!("urn:oid:{other}"),
    }
}

/// A coded value (`CVType`: `code`, `codeSystem`, `displayName`, `originalText`); `None` when it
/// carries neither a code nor a text.
pub fn code(node: Node<'_, '_>) -> Option<Code> {
    let value = text(node, "code").map(str::to_owned);
    let display = text(node, "displayName")
        .or_else(|| text(node, "originalText"))
        .map(str::to_owned);
    if value.is_none() && display.is_none() {
        return None;
    }
    Some(Code {
        system: value
            .as_ref()
            .and(text(node, "codeSystem"))
            .map(code_system),
        code: value,
        display,
    })
}

/// The child `name` as a coded value.
pub fn code_of(node: Node<'_, '_>, name: &str) -> Option<Code> {
    child(node, name).and_then(code)
}

/// A physical quantity (`PQType`: `value`, `unit`); `None` without a readable value. RIV-TA
/// units are UCUM, so the unit is also the unit code.
pub fn quantity(node: Node<'_, '_>) -> Option<Quantity> {
    let value = text(node, "value").and_then(number)?;
    let unit = string(node, "unit");
    Some(Quantity {
        value,
        unit_code: unit.clone(),
        unit,
    })
}

/// An organisation from an HSA-id and a name, either of which may be missing; `None` when both
/// are.
pub fn organisation(hsa: Option<HsaId>, name: Option<&str>) -> Option<Organisation> {
    let org = Organisation {
        name: name.map(str::to_owned),
        hsa_id: hsa,
    };
    (!org.is_empty()).then_some(org)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_winter_time_stamp_is_an_hour_ahead_of_utc() {
        let t = timestamp("20261203093000").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-12-03T08:30:00+00:00");
    }

    #[test]
    fn a_summer_time_stamp_is_two_hours_ahead_of_utc() {
        let t = timestamp("20260615120000").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-06-15T10:00:00+00:00");
    }

    #[test]
    fn shorter_and_iso_forms_are_read() {
        assert_eq!(
            timestamp("201505011257").unwrap().to_rfc3339(),
            "2015-05-01T10:57:00+00:00"
        );
        assert_eq!(
            timestamp("2015-05-01T12:57:00+02:00").unwrap().to_rfc3339(),
            "2015-05-01T10:57:00+00:00"
        );
        assert_eq!(date("20150501").unwrap().to_string(), "2015-05-01");
        assert_eq!(date("20150501125700").unwrap().to_string(), "2015-05-01");
    }

    #[test]
    fn a_local_time_that_does_not_exist_is_not_invented() {
        // 2026-03-29 02:30 was skipped when Sweden moved to summer time.
        assert_eq!(timestamp("20260329023000"), None);
        assert_eq!(timestamp("not a time"), None);
        assert_eq!(date("2015"), None);
    }

    #[test]
    fn code_systems_are_named_as_fhir_names_them() {
        assert_eq!(
            code_system("1.2.752.129.2.2.3.1.1"),
            "http://www.whocc.no/atc"
        );
        assert_eq!(code_system("2.16.840.1.113883.6.1"), "http://loinc.org");
        assert_eq!(code_system("1.2.752.116.2.1.1"), "http://snomed.info/sct");
        assert_eq!(code_system("1.2.208.176.2.1"), "urn:oid:1.2.208.176.2.1");
    }

    #[test]
    fn elements_are_found_by_local_name_in_any_namespace() {
        let doc = roxmltree::Document::parse(
            r#"<a xmlns="urn:x:3" xmlns:o="urn:x:2"><o:b><c> 5,5 </c></o:b><b><c>7</c></b></a>"#,
        )
        .unwrap();
        let root = doc.root_element();
        assert_eq!(text_at(root, &["b", "c"]), Some("5,5"));
        assert_eq!(number("5,5"), Some(5.5));
        assert_eq!(children(root, "b").count(), 2);
    }
}
