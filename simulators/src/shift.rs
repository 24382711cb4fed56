//! Moving a demo's story in time: every date and time in the simulated records moved by the
//! same number of days, so that the story's "today" is today and upcoming bookings stay
//! upcoming, ended plans ended, and last week's weight last week's.
//!
//! Times keep their wall-clock time in Sweden: a FHIR instant is moved as the Swedish local time
//! it names and written back in UTC, and a RIV-TA time stamp (Swedish local time without an
//! offset) as written. So the same appointment sent by a FHIR source and over the platform still
//! meets itself after the move, across a change to or from summer time. Birth dates do not move
//! (ages come from the personnummer), nor codes, identifiers or partial dates (a year, a month).

use chrono::{
    DateTime, LocalResult, NaiveDate, NaiveDateTime, SecondsFormat, TimeDelta, TimeZone, Utc,
};
use chrono_tz::Europe::Stockholm;
use serde_json::Value;

/// A move of a story by whole days (zero: as written).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DateShift {
    days: i64,
}

/// FHIR elements whose dates stay as written: when a person was born or died is theirs.
const FHIR_KEPT: &[&str] = &["birthDate", "deceasedDateTime"];

/// RIV-TA elements whose dates stay as written.
const RIVTA_KEPT: &[&str] = &["dateOfBirth", "birthDate"];

impl DateShift {
    /// Moves everything by `days` (negative: into the past).
    pub fn days(days: i64) -> DateShift {
        DateShift { days }
    }

    /// The move that makes `story_today` today.
    pub fn to_today(story_today: NaiveDate, today: NaiveDate) -> DateShift {
        DateShift::days((today - story_today).num_days())
    }

    pub fn is_none(self) -> bool {
        self.days == 0
    }

    fn delta(self) -> TimeDelta {
        TimeDelta::days(self.days)
    }

    /// Moves a date (`YYYY-MM-DD`).
    pub fn date(self, date: NaiveDate) -> NaiveDate {
        date + self.delta()
    }

    /// Moves a Swedish local time, keeping its wall-clock time (an hour that does not exist on
    /// the new day, in the spring, is read as the hour after).
    pub fn local(self, local: NaiveDateTime) -> NaiveDateTime {
        local + self.delta()
    }

    /// Moves an instant as the Swedish local time it names.
    pub fn instant(self, instant: DateTime<Utc>) -> DateTime<Utc> {
        let local = self.local(instant.with_timezone(&Stockholm).naive_local());
        match Stockholm.from_local_datetime(&local) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
            LocalResult::None => (Stockholm.from_utc_datetime(&(local - TimeDelta::hours(1)))
                + TimeDelta::hours(1))
            .with_timezone(&Utc),
        }
    }

    /// Moves every FHIR date and dateTime in `value` (a Bundle or a resource), except the kept
    /// elements'.
    pub fn fhir(self, value: &mut Value) {
        if self.is_none() {
            return;
        }
        match value {
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    let name = key.strip_prefix('_').unwrap_or(key);
                    if FHIR_KEPT.contains(&name) {
                        continue;
                    }
                    self.fhir(v);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.fhir(v)),
            Value::String(text) => {
                if let Some(moved) = self.fhir_text(text) {
                    *text = moved;
                }
            }
            _ => {}
        }
    }

    /// A FHIR date (`YYYY-MM-DD`) or dateTime/instant with a time zone, moved; `None` for any
    /// other text.
    fn fhir_text(self, text: &str) -> Option<String> {
        let bytes = text.as_bytes();
        let shaped = bytes.len() >= 10
            && bytes[4] == b'-'
            && bytes[7] == b'-'
            && bytes[..4].iter().all(u8::is_ascii_digit);
        if !shaped {
            return None;
        }
        if text.len() == 10 {
            let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
            return Some(self.date(date).format("%Y-%m-%d").to_string());
        }
        let instant = DateTime::parse_from_rfc3339(text).ok()?;
        let seconds = if instant.timestamp_subsec_nanos() == 0 {
            SecondsFormat::Secs
        } else {
            SecondsFormat::AutoSi
        };
        Some(
            self.instant(instant.with_timezone(&Utc))
                .to_rfc3339_opts(seconds, true),
        )
    }

    /// A RIV-TA time stamp (`YYYYMMDDhhmmss`) or date (`YYYYMMDD`), moved; `None` for any other
    /// text.
    pub fn rivta_text(self, text: &str) -> Option<String> {
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        match text.len() {
            14 => {
                let local = NaiveDateTime::parse_from_str(text, "%Y%m%d%H%M%S").ok()?;
                Some(self.local(local).format("%Y%m%d%H%M%S").to_string())
            }
            8 => {
                let date = NaiveDate::parse_from_str(text, "%Y%m%d").ok()?;
                Some(self.date(date).format("%Y%m%d").to_string())
            }
            _ => None,
        }
    }

    /// `xml` with the text of every time element moved: an element whose local name says it
    /// holds a time (`documentTime`, `startOfTreatment`, `start`, `end`, `timestamp`, ...) and
    /// whose whole text is a RIV-TA time stamp or date. Codes and values that happen to be
    /// eight digits stay as they are.
    pub fn rivta(self, xml: &str) -> String {
        if self.is_none() {
            return xml.to_owned();
        }
        let Ok(doc) = roxmltree::Document::parse(xml) else {
            return xml.to_owned();
        };
        let mut edits: Vec<(std::ops::Range<usize>, String)> = doc
            .descendants()
            .filter(|n| n.is_element() && holds_time(n.tag_name().name()))
            .filter_map(|n| {
                let text = n.first_child().filter(|t| t.is_text())?;
                if n.children().count() != 1 {
                    return None;
                }
                let raw = &xml[text.range()];
                let trimmed = raw.trim();
                let moved = self.rivta_text(trimmed)?;
                let start = text.range().start + (raw.len() - raw.trim_start().len());
                Some((start..start + trimmed.len(), moved))
            })
            .collect();
        edits.sort_by_key(|(range, _)| range.start);
        let mut out = String::with_capacity(xml.len());
        let mut at = 0;
        for (range, moved) in edits {
            out.push_str(&xml[at..range.start]);
            out.push_str(&moved);
            at = range.end;
        }
        out.push_str(&xml[at..]);
        out
    }
}

/// Whether a RIV-TA element of this local name holds a time or date that belongs to the story.
fn holds_time(name: &str) -> bool {
    if RIVTA_KEPT.contains(&name) {
        return false;
    }
    matches!(name, "start" | "end" | "timestamp" | "date")
        || [
            "Time",
            "time",
            "Date",
            "Inclusive",
            "Exclusive",
            "OfTreatment",
            "Synch",
            "Content",
        ]
        .iter()
        .any(|suffix| name.ends_with(suffix))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fhir_dates_and_times_move_and_birth_dates_codes_and_partial_dates_stay() {
        let mut bundle = json!({
            "resourceType": "Bundle",
            "entry": [
                { "resource": { "resourceType": "Patient", "birthDate": "1912-12-12" } },
                { "resource": {
                    "resourceType": "Appointment",
                    "start": "2026-11-25T08:00:00Z",
                    "end": "2026-11-25T08:30:00+01:00",
                    "created": "2026-11-20",
                    "identifier": [{ "value": "2026-11-25" }],
                    "code": { "coding": [{ "code": "29463-7" }] },
                    "note": [{ "text": "2026" }]
                } }
            ]
        });
        DateShift::days(10).fhir(&mut bundle);
        assert_eq!(bundle["entry"][0]["resource"]["birthDate"], "1912-12-12");
        let a = &bundle["entry"][1]["resource"];
        assert_eq!(a["start"], "2026-12-05T08:00:00Z");
        assert_eq!(a["end"], "2026-12-05T07:30:00Z");
        assert_eq!(a["created"], "2026-11-30");
        assert_eq!(a["code"]["coding"][0]["code"], "29463-7");
        assert_eq!(a["note"][0]["text"], "2026");
        // Identifiers are values like any other string; one that is a date moves with the
        // story, which keeps identical records identical across sources.
        assert_eq!(a["identifier"][0]["value"], "2026-12-05");
    }

    #[test]
    fn a_time_keeps_its_swedish_wall_clock_across_summer_time_in_fhir_and_riv_ta_alike() {
        // 09:00 in Uppsala on 2027-03-20 (winter time, UTC+1), moved 10 days into summer time.
        let shift = DateShift::days(10);
        let fhir = shift.fhir_text("2027-03-20T08:00:00Z").unwrap();
        assert_eq!(fhir, "2027-03-30T07:00:00Z");
        let riv_ta = shift.rivta_text("20270320090000").unwrap();
        assert_eq!(riv_ta, "20270330090000");
        let local = NaiveDateTime::parse_from_str(&riv_ta, "%Y%m%d%H%M%S").unwrap();
        let riv_ta_utc = Stockholm
            .from_local_datetime(&local)
            .single()
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(riv_ta_utc.to_rfc3339_opts(SecondsFormat::Secs, true), fhir);
    }

    #[test]
    fn riv_ta_time_elements_move_and_birth_dates_and_codes_stay() {
        let xml = r#"<r xmlns:c="x"><c:documentTime>20261117081000</c:documentTime><c:dateOfBirth>19121212</c:dateOfBirth><c:code>20261117</c:code><c:startOfTreatment> 20240305 </c:startOfTreatment><c:end>20261125</c:end></r>"#;
        let moved = DateShift::days(-1).rivta(xml);
        assert_eq!(
            moved,
            r#"<r xmlns:c="x"><c:documentTime>20261116081000</c:documentTime><c:dateOfBirth>19121212</c:dateOfBirth><c:code>20261117</c:code><c:startOfTreatment> 20240304 </c:startOfTreatment><c:end>20261124</c:end></r>"#
        );
        assert_eq!(DateShift::default().rivta(xml), xml);
    }

    #[test]
    fn the_move_to_today_is_the_days_between() {
        let story = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 12, 5).unwrap();
        assert_eq!(DateShift::to_today(story, today), DateShift::days(13));
    }
}
