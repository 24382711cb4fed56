//! The schema's own scalars: `PersonId`, `Date`, `DateTime`, `DateOrDateTime` and `HsaId`.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::NaiveDate;

use crate::domain::{HsaId, PersonId, PersonIdError};

#[derive(Clone, Debug)]
pub struct PersonIdScalar(pub Result<PersonId, PersonIdError>);

/// A Swedish personnummer or samordningsnummer: `YYYYMMDDNNNC` or `YYYYMMDD-NNNC` (also
/// `YYYYMMDD+NNNC`), with a real date (day + 60 for samordningsnummer) and a valid Luhn check
/// digit. Returned as `YYYYMMDD-NNNC`.
///
/// An argument that is not a valid number fails with `extensions.code` `INVALID_PERSON_ID`.
/// Parsing is checked in the resolver rather than by the GraphQL validator so that the error
/// carries that code.
#[Scalar(name = "PersonId")]
impl ScalarType for PersonIdScalar {
    fn parse(value: Value) -> InputValueResult<Self> {
        Ok(match value {
            Value::String(s) => PersonIdScalar(PersonId::parse(&s)),
            _ => PersonIdScalar(Err(PersonIdError::Format)),
        })
    }

    fn to_value(&self) -> Value {
        match &self.0 {
            Ok(id) => Value::String(id.to_string()),
            Err(_) => Value::Null,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date(pub NaiveDate);

/// A calendar date, `YYYY-MM-DD`.
#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| InputValueError::custom("a date is written YYYY-MM-DD")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

#[derive(Clone, Debug)]
pub struct HsaIdScalar(pub HsaId);

/// An HSA-id, the national identifier of care units, care providers and staff, e.g.
/// `SE2321000016-A291`.
#[Scalar(name = "HsaId")]
impl ScalarType for HsaIdScalar {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => HsaId::parse(s)
                .map(HsaIdScalar)
                .map_err(|e| InputValueError::custom(e.to_string())),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

/// An instant, RFC 3339. Accepted with any offset (`2027-02-15T09:30:00+01:00`); always
/// answered in UTC with `Z` (`2027-02-15T08:30:00Z`), so clients can compare answers as text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateTime(pub chrono::DateTime<chrono::Utc>);

/// An instant, RFC 3339. Accepted with any offset, e.g. `2027-02-15T09:30:00+01:00`; answered
/// in UTC, e.g. `2027-02-15T08:30:00Z`.
#[Scalar(
    name = "DateTime",
    specified_by_url = "https://www.rfc-editor.org/rfc/rfc3339"
)]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| DateTime(t.with_timezone(&chrono::Utc)))
                .map_err(|_| {
                    InputValueError::custom(
                        "an instant is written RFC 3339 with an offset, e.g. 2027-02-15T09:30:00+01:00",
                    )
                }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
    }
}

/// A `from` or `to` bound as a client wrote it: a calendar date or an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateOrDateTime {
    /// `YYYY-MM-DD`: a Swedish calendar day (Europe/Stockholm).
    Date(NaiveDate),
    Instant(chrono::DateTime<chrono::Utc>),
}

/// A bound of a range: a calendar date `YYYY-MM-DD` or an RFC 3339 instant with an offset.
/// A date is the Swedish calendar day (Europe/Stockholm): in `from` it starts at that day's
/// midnight, in `to` it ends at the next day's midnight, so `from: "2026-11-01", to:
/// "2026-11-30"` is all of November, the 30th included.
#[Scalar(name = "DateOrDateTime")]
impl ScalarType for DateOrDateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) if s.len() == 10 => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(DateOrDateTime::Date)
                .map_err(|_| InputValueError::custom("a date is written YYYY-MM-DD, e.g. 2026-11-30")),
            Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| DateOrDateTime::Instant(t.with_timezone(&chrono::Utc)))
                .map_err(|_| {
                    InputValueError::custom(
                        "a bound is a date YYYY-MM-DD or an instant written RFC 3339 with an offset, e.g. 2026-11-30 or 2026-11-30T09:30:00+01:00",
                    )
                }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        match self {
            DateOrDateTime::Date(d) => Value::String(d.format("%Y-%m-%d").to_string()),
            DateOrDateTime::Instant(t) => {
                Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_is_a_date_or_an_instant_with_an_offset() {
        assert_eq!(
            DateOrDateTime::parse(Value::String("2026-11-30".into())).unwrap(),
            DateOrDateTime::Date(NaiveDate::from_ymd_opt(2026, 11, 30).unwrap())
        );
        assert!(matches!(
            DateOrDateTime::parse(Value::String("2026-11-30T09:30:00+01:00".into())).unwrap(),
            DateOrDateTime::Instant(t) if t.to_rfc3339() == "2026-11-30T08:30:00+00:00"
        ));
        for bad in [
            "2026-11-31",
            "2026-11-30T09:30:00",
            "30/11/2026",
            "2026-11-30 09:30",
            "",
        ] {
            assert!(
                DateOrDateTime::parse(Value::String(bad.into())).is_err(),
                "{bad}"
            );
        }
    }
}
