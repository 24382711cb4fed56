//! `PersonId`: a Swedish personnummer or samordningsnummer that has passed its date and Luhn checks.
//!
//! The only way to get one is [`PersonId::parse`], so a value of this type is valid everywhere
//! past the edge. Its `Debug` form hides the number: identifiers must never reach logs by accident.

use std::fmt;

use chrono::{Datelike, NaiveDate};

/// Which kind of Swedish personal identity number this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum PersonIdKind {
    /// Personnummer, issued by Skatteverket at birth or immigration.
    Personnummer,
    /// Samordningsnummer: for people who are not (yet) registered; the day of birth plus 60.
    Samordningsnummer,
}

/// Why a text is not a valid personnummer or samordningsnummer. The messages never repeat the
/// input: they go back to clients and may end up in logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PersonIdError {
    #[error(
        "a personal identity number has 12 digits, written YYYYMMDDNNNC or YYYYMMDD-NNNC (or YYYYMMDD+NNNC for people aged 100 or more)"
    )]
    Format,
    #[error("the date part of the personal identity number is not a real date")]
    Date,
    #[error("the date of birth in the personal identity number lies in the future")]
    Future,
    #[error("the check digit of the personal identity number does not match (Luhn)")]
    CheckDigit,
}

/// A valid personnummer or samordningsnummer, stored as its 12 digits.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PersonId {
    digits: [u8; 12],
}

impl PersonId {
    /// Parses `YYYYMMDDNNNC`, `YYYYMMDD-NNNC` or `YYYYMMDD+NNNC`, checking the date (with day + 60
    /// for samordningsnummer) and the Luhn check digit over `YYMMDDNNN`.
    pub fn parse(text: &str) -> Result<Self, PersonIdError> {
        Self::parse_on(text, chrono::Utc::now().date_naive())
    }

    /// As [`PersonId::parse`], judging "in the future" against `today` (for tests).
    pub fn parse_on(text: &str, today: NaiveDate) -> Result<Self, PersonIdError> {
        let text = text.trim();
        let bytes = text.as_bytes();
        let compact: Vec<u8> = match bytes.len() {
            12 => bytes.to_vec(),
            13 if matches!(bytes[8], b'-' | b'+') => {
                let mut v = bytes[..8].to_vec();
                v.extend_from_slice(&bytes[9..]);
                v
            }
            _ => return Err(PersonIdError::Format),
        };
        if !compact.iter().all(u8::is_ascii_digit) {
            return Err(PersonIdError::Format);
        }
        let mut digits = [0u8; 12];
        for (d, b) in digits.iter_mut().zip(&compact) {
            *d = b - b'0';
        }
        let id = PersonId { digits };
        let birth = id.birth_date_checked().ok_or(PersonIdError::Date)?;
        if birth > today {
            return Err(PersonIdError::Future);
        }
        if luhn_check_digit(&digits[2..11]) != digits[11] {
            return Err(PersonIdError::CheckDigit);
        }
        Ok(id)
    }

    fn number(&self, range: std::ops::Range<usize>) -> u32 {
        self.digits[range]
            .iter()
            .fold(0, |acc, d| acc * 10 + u32::from(*d))
    }

    fn birth_date_checked(&self) -> Option<NaiveDate> {
        let year = self.number(0..4) as i32;
        let month = self.number(4..6);
        let mut day = self.number(6..8);
        if day > 60 {
            day -= 60;
        }
        NaiveDate::from_ymd_opt(year, month, day)
    }

    /// Whether this is a personnummer or a samordningsnummer.
    pub fn kind(&self) -> PersonIdKind {
        if self.number(6..8) > 60 {
            PersonIdKind::Samordningsnummer
        } else {
            PersonIdKind::Personnummer
        }
    }

    /// The date of birth the number encodes.
    pub fn birth_date(&self) -> NaiveDate {
        self.birth_date_checked()
            .expect("a PersonId is only constructed with a valid date")
    }

    /// Age in whole years on `today`.
    pub fn age_on(&self, today: NaiveDate) -> u32 {
        let birth = self.birth_date();
        let mut age = today.year() - birth.year();
        if (today.month(), today.day()) < (birth.month(), birth.day()) {
            age -= 1;
        }
        age.max(0) as u32
    }

    /// The 12 digits, `YYYYMMDDNNNC`: the form used on the wire to sources.
    pub fn digits(&self) -> String {
        self.digits.iter().map(|d| char::from(b'0' + d)).collect()
    }

    /// The identifier system (OID) sources use for this kind of number.
    pub fn identifier_system(&self) -> &'static str {
        match self.kind() {
            PersonIdKind::Personnummer => PERSONNUMMER_SYSTEM,
            PersonIdKind::Samordningsnummer => SAMORDNINGSNUMMER_SYSTEM,
        }
    }
}

/// OID of the Swedish personnummer, as used in FHIR `Identifier.system` and RIV-TA `type`.
pub const PERSONNUMMER_SYSTEM: &str = "urn:oid:1.2.752.129.2.1.3.1";
/// OID of the Swedish samordningsnummer.
pub const SAMORDNINGSNUMMER_SYSTEM: &str = "urn:oid:1.2.752.129.2.1.3.3";

/// Luhn (mod 10) check digit with weights 2, 1, 2, ... from the left, as Skatteverket specifies.
fn luhn_check_digit(digits: &[u8]) -> u8 {
    let sum: u32 = digits
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let p = u32::from(*d) * if i % 2 == 0 { 2 } else { 1 };
            p / 10 + p % 10
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

impl fmt::Display for PersonId {
    /// `YYYYMMDD-NNNC`, the form people read.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.digits();
        write!(f, "{}-{}", &d[..8], &d[8..])
    }
}

impl fmt::Debug for PersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PersonId(<redacted>)")
    }
}

impl serde::Serialize for PersonId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// `text` with everything shaped like a personal identity number masked: a run of 10 or 12
/// digits, at most one `-` or `+` among them, not part of a longer run. For text the service
/// did not write (a source's error message) that goes to the log: a producer may echo the
/// patient it was asked about. Errs towards masking (any 10 digits), never towards a leak.
pub fn mask_person_ids(text: &str) -> String {
    const MASK: &str = "[personnummer?]";
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        let digits = run.bytes().filter(u8::is_ascii_digit).count();
        let separators = run.len() - digits;
        let ends_in_digit = run.bytes().last().is_some_and(|b| b.is_ascii_digit());
        if matches!(digits, 10 | 12) && separators <= 1 && ends_in_digit {
            out.push_str(MASK);
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        let continues = c.is_ascii_digit()
            || (matches!(c, '-' | '+') && run.bytes().last().is_some_and(|b| b.is_ascii_digit()));
        if continues {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_identity_numbers_in_foreign_text_are_masked_and_other_numbers_kept() {
        let masked = mask_person_ids(
            "VP007 no patient 191212121212 (19121212-1212, 121212+1212) at SE2321000024-0001, HTTP 503",
        );
        assert_eq!(
            masked,
            "VP007 no patient [personnummer?] ([personnummer?], [personnummer?]) at SE2321000024-0001, HTTP 503"
        );
        assert_eq!(
            mask_person_ids("2026-12-05 took 1200 ms"),
            "2026-12-05 took 1200 ms"
        );
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }

    #[test]
    fn tolvan_is_valid_with_and_without_hyphen() {
        let a = PersonId::parse_on("19121212-1212", today()).unwrap();
        let b = PersonId::parse_on("191212121212", today()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "19121212-1212");
        assert_eq!(a.digits(), "191212121212");
        assert_eq!(a.kind(), PersonIdKind::Personnummer);
        assert_eq!(
            a.birth_date(),
            NaiveDate::from_ymd_opt(1912, 12, 12).unwrap()
        );
        assert_eq!(a.age_on(today()), 113);
    }

    #[test]
    fn a_plus_sign_is_accepted_for_centenarians() {
        assert!(PersonId::parse_on("19121212+1212", today()).is_ok());
    }

    #[test]
    fn a_samordningsnummer_has_day_plus_sixty() {
        // 1990-01-01 as samordningsnummer: day 61; check digit computed over 900161 + 123.
        let id = PersonId::parse_on("199001612382", today()).unwrap();
        assert_eq!(id.kind(), PersonIdKind::Samordningsnummer);
        assert_eq!(
            id.birth_date(),
            NaiveDate::from_ymd_opt(1990, 1, 1).unwrap()
        );
        assert_eq!(id.identifier_system(), SAMORDNINGSNUMMER_SYSTEM);
    }

    #[test]
    fn a_wrong_check_digit_is_rejected() {
        assert_eq!(
            PersonId::parse_on("19121212-1213", today()),
            Err(PersonIdError::CheckDigit)
        );
    }

    #[test]
    fn impossible_dates_are_rejected() {
        assert_eq!(
            PersonId::parse_on("19120230-1210", today()),
            Err(PersonIdError::Date)
        );
        assert_eq!(
            PersonId::parse_on("19121312-1212", today()),
            Err(PersonIdError::Date)
        );
    }

    #[test]
    fn dates_in_the_future_are_rejected() {
        assert_eq!(
            PersonId::parse_on("20991212-1219", today()),
            Err(PersonIdError::Future)
        );
    }

    #[test]
    fn other_shapes_are_format_errors() {
        for bad in [
            "",
            "1212121212",
            "121212-1212",
            "19121212 1212",
            "1912121212120",
            "19121212/1212",
            "abcdefghijkl",
            "١٩١٢١٢١٢١٢١٢",
        ] {
            assert_eq!(
                PersonId::parse_on(bad, today()),
                Err(PersonIdError::Format),
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_output_never_shows_the_number() {
        let id = PersonId::parse_on("191212121212", today()).unwrap();
        assert!(!format!("{id:?}").contains("1212"));
    }
}
