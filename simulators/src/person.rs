//! The people the simulated systems hold records of: Swedish personal identity numbers as the
//! systems key them, 12 digits, and the identifier systems FHIR sources name them by.

use std::fmt;

/// OID of the Swedish personnummer, as FHIR `Identifier.system`.
pub const PERSONNUMMER_SYSTEM: &str = "urn:oid:1.2.752.129.2.1.3.1";
/// OID of the Swedish samordningsnummer (coordination number), as FHIR `Identifier.system`.
pub const SAMORDNINGSNUMMER_SYSTEM: &str = "urn:oid:1.2.752.129.2.1.3.3";

/// A personnummer or samordningsnummer, 12 digits (`YYYYMMDDNNNC`) with a valid check digit, so
/// that a data file named by a mistyped number is refused when loaded rather than never found.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Person(String);

impl Person {
    /// `text` when it is 12 digits ending in the Luhn check digit of the ten after the
    /// century, else `None`.
    pub fn parse(text: &str) -> Option<Person> {
        let digits: Vec<u32> = text
            .chars()
            .map(|c| c.to_digit(10))
            .collect::<Option<_>>()?;
        if digits.len() != 12 {
            return None;
        }
        let sum: u32 = digits[2..11]
            .iter()
            .enumerate()
            .map(|(i, d)| if i % 2 == 0 { d * 2 } else { *d })
            .map(|d| d / 10 + d % 10)
            .sum();
        ((10 - sum % 10) % 10 == digits[11]).then(|| Person(text.to_owned()))
    }

    /// The 12 digits.
    pub fn digits(&self) -> &str {
        &self.0
    }

    /// The identifier system of this kind of number: a samordningsnummer's day is 61-91.
    pub fn identifier_system(&self) -> &'static str {
        let day: u8 = self.0[6..8].parse().unwrap_or(0);
        if day > 60 {
            SAMORDNINGSNUMMER_SYSTEM
        } else {
            PERSONNUMMER_SYSTEM
        }
    }
}

impl fmt::Debug for Person {
    /// Never the number itself: simulators log, and the number is personal data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Person(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twelve_digits_are_a_person_and_the_day_tells_the_kind() {
        let tolvan = Person::parse("191212121212").unwrap();
        assert_eq!(tolvan.identifier_system(), PERSONNUMMER_SYSTEM);
        let coordination = Person::parse("197010632391").unwrap();
        assert_eq!(coordination.identifier_system(), SAMORDNINGSNUMMER_SYSTEM);
        assert!(Person::parse("19121212-1212").is_none());
        assert!(Person::parse("1912121212").is_none());
        assert!(
            Person::parse("191212121213").is_none(),
            "a wrong check digit"
        );
        assert_eq!(format!("{tolvan:?}"), "Person(..)");
    }
}
