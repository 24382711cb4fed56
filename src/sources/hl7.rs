//! HL7 terminology both adapters read: the ObservationInterpretation codes that say how a lab
//! result compares with its reference range. FHIR carries them in `Observation.interpretation`,
//! RIV-TA in `result/interpretation`; one table here so a result flagged high by one protocol is
//! never read differently from the same result sent over the other.

use crate::domain::AbnormalFlag;

/// The code systems whose codes [`abnormal_flag`] knows: HL7 v3 ObservationInterpretation and
/// HL7 v2 table 0078, as FHIR names them (R4 and the older URL) and as OIDs (RIV-TA's
/// `codeSystem`, which the RIV-TA reader writes as `urn:oid:…`; bare OIDs too, for callers that
/// do not).
pub const INTERPRETATION_SYSTEMS: [&str; 7] = [
    "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
    "http://terminology.hl7.org/CodeSystem/v2-0078",
    "http://hl7.org/fhir/v2/0078",
    "urn:oid:2.16.840.1.113883.5.83",
    "urn:oid:2.16.840.1.113883.12.78",
    "2.16.840.1.113883.5.83",
    "2.16.840.1.113883.12.78",
];

/// The interpretation codes that say how a result compares, and what each means. The v3 and v2
/// tables share these codes; `<` and `>` (off scale) count as low and high. Every other code
/// (`IND`, `R`, `S`, `POS`, ...) says something else and gives no flag.
const INTERPRETATIONS: [(&str, AbnormalFlag); 11] = [
    ("N", AbnormalFlag::Normal),
    ("A", AbnormalFlag::Abnormal),
    ("AA", AbnormalFlag::Abnormal),
    ("L", AbnormalFlag::Low),
    ("LU", AbnormalFlag::Low),
    ("<", AbnormalFlag::Low),
    ("H", AbnormalFlag::High),
    ("HU", AbnormalFlag::High),
    (">", AbnormalFlag::High),
    ("LL", AbnormalFlag::CriticallyLow),
    ("HH", AbnormalFlag::CriticallyHigh),
];

/// The flag an interpretation code gives, where `system` is one of
/// [`INTERPRETATION_SYSTEMS`] or not given at all (a bare `H` is read as HL7's, which is what
/// every source we know means by it). A code of another system is not guessed at: in a local
/// code system `H` may mean anything.
pub fn abnormal_flag(system: Option<&str>, code: &str) -> Option<AbnormalFlag> {
    if system.is_some_and(|s| !INTERPRETATION_SYSTEMS.contains(&s)) {
        return None;
    }
    INTERPRETATIONS
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, flag)| *flag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_comparing_interpretation_code_gives_its_flag() {
        let hl7 = Some("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation");
        let cases = [
            ("N", Some(AbnormalFlag::Normal)),
            ("A", Some(AbnormalFlag::Abnormal)),
            ("AA", Some(AbnormalFlag::Abnormal)),
            ("L", Some(AbnormalFlag::Low)),
            ("LU", Some(AbnormalFlag::Low)),
            ("<", Some(AbnormalFlag::Low)),
            ("H", Some(AbnormalFlag::High)),
            ("HU", Some(AbnormalFlag::High)),
            (">", Some(AbnormalFlag::High)),
            ("LL", Some(AbnormalFlag::CriticallyLow)),
            ("HH", Some(AbnormalFlag::CriticallyHigh)),
            ("IND", None),
            ("POS", None),
            ("h", None),
            ("", None),
        ];
        for (code, expected) in cases {
            assert_eq!(abnormal_flag(hl7, code), expected, "{code}");
            assert_eq!(
                abnormal_flag(None, code),
                expected,
                "{code} without a system"
            );
        }
    }

    #[test]
    fn a_code_is_read_in_every_hl7_spelling_of_its_system_and_in_no_other_system() {
        for system in INTERPRETATION_SYSTEMS {
            assert_eq!(
                abnormal_flag(Some(system), "HH"),
                Some(AbnormalFlag::CriticallyHigh),
                "{system}"
            );
        }
        for other in ["http://example.org", "urn:oid:1.2.752.129.2.2.1.1", ""] {
            assert_eq!(abnormal_flag(Some(other), "H"), None, "{other}");
        }
    }
}
