//! The concept map (`concepts.toml`): which LOINC, SNOMED CT and NPU codes name the same
//! measurement or lab analysis, and the `code` filter (a FHIR token) that matches through it.
//!
//! The map is a data file in the repository, compiled into the binary and read once. Every code
//! in it is grounded in a source cited beside it (see the file's head); a test holds each code
//! to its system's form and check digit, so a typo cannot quietly join two measurements.

use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

use serde::Deserialize;

use super::Code;

pub const LOINC: &str = "http://loinc.org";
pub const SNOMED_CT: &str = "http://snomed.info/sct";
pub const NPU: &str = "urn:oid:1.2.208.176.2.1";

/// One measurement or analysis, whatever system codes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Concept {
    /// Stable, e.g. `body-weight`.
    pub id: String,
    pub name_sv: String,
    pub name_en: String,
    pub codes: Vec<ConceptCode>,
}

/// One code of a concept and where the mapping comes from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConceptCode {
    pub system: String,
    pub code: String,
    pub source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    concept: Vec<Concept>,
}

/// The map and its indexes, built once.
struct Map {
    concepts: Vec<Concept>,
    /// system → code → index in `concepts` (nested so a lookup borrows, without allocating).
    by_code: HashMap<String, HashMap<String, usize>>,
    /// code → the concepts holding it in any system (a bare `code` filter).
    by_bare_code: HashMap<String, Vec<usize>>,
}

static MAP: LazyLock<Map> = LazyLock::new(|| {
    let file: File = toml::from_str(include_str!("concepts.toml"))
        // The file is part of the source; a test parses it, so this cannot fail in a build
        // that passed its tests.
        .expect("src/domain/concepts.toml is invalid");
    let mut by_code: HashMap<String, HashMap<String, usize>> = HashMap::new();
    let mut by_bare_code: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, concept) in file.concept.iter().enumerate() {
        for c in &concept.codes {
            by_code
                .entry(c.system.clone())
                .or_default()
                .insert(c.code.clone(), i);
            let holders = by_bare_code.entry(c.code.clone()).or_default();
            if !holders.contains(&i) {
                holders.push(i);
            }
        }
    }
    Map {
        concepts: file.concept,
        by_code,
        by_bare_code,
    }
});

/// Every concept of the map, in the file's order.
pub fn all() -> &'static [Concept] {
    &MAP.concepts
}

/// The concept a coded item belongs to, if the map knows its system and code.
pub fn of(code: &Code) -> Option<&'static Concept> {
    concept_index(code).map(|i| &MAP.concepts[i])
}

fn concept_index(code: &Code) -> Option<usize> {
    let (system, code) = (code.system.as_deref()?, code.code.as_deref()?);
    MAP.by_code.get(system)?.get(code).copied()
}

/// Which system a `code` filter asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
enum SystemWanted {
    /// A bare `code`: any system.
    Any,
    /// `|code`: the item's code has no system.
    Absent,
    /// `system|code`, the system as a URI.
    Is(String),
}

/// A `code` argument (a FHIR token search parameter): `system|code`, `|code` or a bare `code`,
/// widened through the concept map to the same concept's codes in other systems.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeQuery {
    system: SystemWanted,
    code: String,
    /// The concepts the asked code belongs to (empty when the map does not know it; several
    /// only for a bare code that two systems both use, which the map's codes never do).
    concepts: Vec<usize>,
}

/// Why a `code` argument could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeQueryError(String);

impl fmt::Display for CodeQueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CodeQueryError {}

fn refuse(why: impl Into<String>) -> CodeQueryError {
    CodeQueryError(format!(
        "`code` {}; write `system|code` (e.g. `http://loinc.org|29463-7`, or `LOINC|29463-7`), `|code` for a code without a system, or a bare `code` for any system",
        why.into()
    ))
}

/// A system as a `code` filter may name it: its URI, or for the three the concept map uses,
/// its name (case-insensitive).
fn system_uri(written: &str) -> Result<String, CodeQueryError> {
    let by_name = match written.to_ascii_lowercase().as_str() {
        "loinc" => Some(LOINC),
        "snomed ct" | "snomed-ct" | "snomedct" | "snomed" | "sct" => Some(SNOMED_CT),
        "npu" => Some(NPU),
        // The OIDs RIV-TA sources send, which Överblick reads as these URIs.
        "2.16.840.1.113883.6.1" | "urn:oid:2.16.840.1.113883.6.1" => Some(LOINC),
        "1.2.752.116.2.1.1"
        | "urn:oid:1.2.752.116.2.1.1"
        | "2.16.840.1.113883.6.96"
        | "urn:oid:2.16.840.1.113883.6.96" => Some(SNOMED_CT),
        "1.2.208.176.2.1" => Some(NPU),
        _ => None,
    };
    match by_name {
        Some(uri) => Ok(uri.to_owned()),
        None if written.contains(':') => Ok(written.to_owned()),
        None => Err(refuse(format!(
            "names an unknown code system `{written}`: give its URI, or LOINC, SNOMED CT or NPU"
        ))),
    }
}

impl CodeQuery {
    /// Reads a `code` argument. Refused: an empty argument or code, more than one `|`,
    /// whitespace or control characters in the code, a system neither a URI nor a known name,
    /// and a LOINC, SNOMED CT or NPU code that is not well-formed for its system (a wrong
    /// check digit, say), which would otherwise silently match nothing.
    pub fn parse(written: &str) -> Result<CodeQuery, CodeQueryError> {
        let (system, code) = match written.split_once('|') {
            None => (SystemWanted::Any, written),
            Some((_, code)) if code.contains('|') => return Err(refuse("has more than one `|`")),
            Some(("", code)) => (SystemWanted::Absent, code),
            Some((system, code)) => (SystemWanted::Is(system_uri(system)?), code),
        };
        if code.is_empty() {
            return Err(refuse("has no code"));
        }
        if code.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(refuse("has spaces or control characters in the code"));
        }
        if let SystemWanted::Is(uri) = &system
            && let Err(why) = well_formed(uri, code)
        {
            return Err(refuse(why));
        }
        let concepts = match &system {
            SystemWanted::Any => MAP.by_bare_code.get(code).cloned().unwrap_or_default(),
            SystemWanted::Absent => Vec::new(),
            SystemWanted::Is(uri) => MAP
                .by_code
                .get(uri)
                .and_then(|codes| codes.get(code))
                .map(|i| vec![*i])
                .unwrap_or_default(),
        };
        Ok(CodeQuery {
            system,
            code: code.to_owned(),
            concepts,
        })
    }

    /// Whether an item coded `code` (or not coded at all) is one the filter asks for: the same
    /// code in the asked system, or any code of the same concept.
    pub fn matches(&self, code: Option<&Code>) -> bool {
        let Some(code) = code else {
            return false;
        };
        let same = code.code.as_deref() == Some(self.code.as_str())
            && match &self.system {
                SystemWanted::Any => true,
                SystemWanted::Absent => code.system.is_none(),
                SystemWanted::Is(uri) => code.system.as_deref() == Some(uri.as_str()),
            };
        same || (!self.concepts.is_empty()
            && concept_index(code).is_some_and(|i| self.concepts.contains(&i)))
    }
}

/// Whether `code` has the form of a code of `system`, for the three systems whose form we
/// know; any code passes for other systems. The error says what is wrong.
pub fn well_formed(system: &str, code: &str) -> Result<(), String> {
    match system {
        LOINC if !loinc_ok(code) => Err(format!(
            "`{code}` is not a LOINC code (digits, a hyphen and the right check digit, e.g. 29463-7)"
        )),
        SNOMED_CT if !snomed_ok(code) => Err(format!(
            "`{code}` is not a SNOMED CT concept id (6 to 18 digits with the right check digit, e.g. 27113001)"
        )),
        NPU if !npu_ok(code) => Err(format!(
            "`{code}` is not an NPU code (NPU or DNK and five digits, e.g. NPU28309)"
        )),
        _ => Ok(()),
    }
}

/// LOINC: `digits-checkdigit`, the check digit by the Luhn (mod 10) algorithm over the digits.
fn loinc_ok(code: &str) -> bool {
    let Some((body, check)) = code.split_once('-') else {
        return false;
    };
    if body.is_empty()
        || body.len() > 7
        || check.len() != 1
        || !body
            .bytes()
            .chain(check.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return false;
    }
    // Luhn: from the rightmost digit of the body, double every other digit starting with it.
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let d = d * 2;
                d / 10 + d % 10
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10 == u32::from(check.as_bytes()[0] - b'0')
}

/// SNOMED CT concept id: 6 to 18 digits, no leading zero, partition `00` or `10` (a concept),
/// the last digit a Verhoeff check digit over the rest.
fn snomed_ok(code: &str) -> bool {
    if !(6..=18).contains(&code.len())
        || !code.bytes().all(|b| b.is_ascii_digit())
        || code.starts_with('0')
    {
        return false;
    }
    let partition = &code[code.len() - 3..code.len() - 1];
    (partition == "00" || partition == "10") && verhoeff_ok(code)
}

fn verhoeff_ok(digits: &str) -> bool {
    const D: [[u8; 10]; 10] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
        [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
        [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
        [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
        [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
        [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
        [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
        [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
        [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
    ];
    const P: [[u8; 10]; 8] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
        [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
        [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
        [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
        [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
        [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
        [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
    ];
    let mut c = 0u8;
    for (i, b) in digits.bytes().rev().enumerate() {
        c = D[usize::from(c)][usize::from(P[i % 8][usize::from(b - b'0')])];
    }
    c == 0
}

/// NPU: `NPU` or `DNK` (Danish national extensions) and five digits.
fn npu_ok(code: &str) -> bool {
    (code.starts_with("NPU") || code.starts_with("DNK"))
        && code.len() == 8
        && code[3..].bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coded(system: &str, code: &str) -> Code {
        Code {
            system: Some(system.to_owned()),
            code: Some(code.to_owned()),
            display: None,
        }
    }

    #[test]
    fn every_code_in_the_map_is_well_formed_for_its_system_and_cites_a_source() {
        assert!(!all().is_empty());
        for concept in all() {
            assert!(!concept.codes.is_empty(), "{} has no code", concept.id);
            assert!(!concept.name_sv.is_empty() && !concept.name_en.is_empty());
            for c in &concept.codes {
                assert!(
                    [LOINC, SNOMED_CT, NPU].contains(&c.system.as_str()),
                    "{}: unknown system {}",
                    concept.id,
                    c.system
                );
                assert_eq!(well_formed(&c.system, &c.code), Ok(()), "{}", concept.id);
                assert!(!c.source.trim().is_empty(), "{} {}", concept.id, c.code);
            }
        }
    }

    #[test]
    fn no_code_and_no_id_belongs_to_two_concepts() {
        let mut seen = HashMap::new();
        let mut ids = std::collections::HashSet::new();
        for concept in all() {
            assert!(ids.insert(&concept.id), "{} twice", concept.id);
            for c in &concept.codes {
                if let Some(other) = seen.insert((&c.system, &c.code), &concept.id) {
                    panic!("{} {} is in {other} and {}", c.system, c.code, concept.id);
                }
                // A bare code must not be ambiguous across systems either.
                let holders = &MAP.by_bare_code[&c.code];
                assert_eq!(holders.len(), 1, "{} is in several concepts", c.code);
            }
        }
    }

    #[test]
    fn check_digits_catch_a_mistyped_code() {
        // Real codes pass...
        for code in ["29463-7", "8480-6", "718-7", "85354-9", "14682-9"] {
            assert!(loinc_ok(code), "{code}");
        }
        for code in [
            "27113001",
            "271649006",
            "271650006",
            "364075005",
            "386725007",
        ] {
            assert!(snomed_ok(code), "{code}");
        }
        assert!(npu_ok("NPU28309") && npu_ok("DNK05472"));
        // ...and one wrong digit does not.
        for code in ["29463-8", "8480-5", "29463", "29463-77", "-7", "2946a-7"] {
            assert!(!loinc_ok(code), "{code}");
        }
        for code in ["27113002", "271649007", "12345", "027113001", "2711300x"] {
            assert!(!snomed_ok(code), "{code}");
        }
        for code in ["NPU2830", "NPU283091", "npu28309", "XYZ28309"] {
            assert!(!npu_ok(code), "{code}");
        }
    }

    #[test]
    fn a_weight_coded_in_snomed_ct_matches_a_loinc_filter() {
        let platform_weight = coded(SNOMED_CT, "27113001");
        for written in ["29463-7", "http://loinc.org|29463-7", "LOINC|29463-7"] {
            let query = CodeQuery::parse(written).unwrap();
            assert!(query.matches(Some(&platform_weight)), "{written}");
            assert!(query.matches(Some(&coded(LOINC, "29463-7"))), "{written}");
        }
        // The other way round too, and not a height.
        let query = CodeQuery::parse("SNOMED CT|27113001").unwrap();
        assert!(query.matches(Some(&coded(LOINC, "29463-7"))));
        assert!(!query.matches(Some(&coded(LOINC, "8302-2"))));
    }

    #[test]
    fn an_npu_lab_result_matches_its_loinc_code_and_not_another_analysis() {
        let hb = coded(NPU, "NPU28309");
        assert!(
            CodeQuery::parse("http://loinc.org|718-7")
                .unwrap()
                .matches(Some(&hb))
        );
        assert!(CodeQuery::parse("NPU|NPU28309").unwrap().matches(Some(&hb)));
        assert!(!CodeQuery::parse("1988-5").unwrap().matches(Some(&hb)));
    }

    #[test]
    fn a_code_the_map_does_not_know_matches_only_itself_in_its_system() {
        let query = CodeQuery::parse("http://acme.org/devices/clinical-codes|body-weight").unwrap();
        assert!(query.matches(Some(&coded(
            "http://acme.org/devices/clinical-codes",
            "body-weight"
        ))));
        assert!(!query.matches(Some(&coded(LOINC, "29463-7"))));
        assert!(!query.matches(Some(&coded("http://other.example", "body-weight"))));
        assert!(!query.matches(None));
    }

    #[test]
    fn a_code_without_a_system_is_asked_for_with_a_leading_bar() {
        let bare = Code {
            system: None,
            code: Some("29463-7".into()),
            display: None,
        };
        let query = CodeQuery::parse("|29463-7").unwrap();
        assert!(query.matches(Some(&bare)));
        // `|code` is about the code without a system: the concept map is not consulted.
        assert!(!query.matches(Some(&coded(LOINC, "29463-7"))));
        assert!(!query.matches(Some(&coded(SNOMED_CT, "27113001"))));
        // A bare code matches it with or without a system.
        assert!(CodeQuery::parse("29463-7").unwrap().matches(Some(&bare)));
    }

    #[test]
    fn a_malformed_code_argument_is_refused_with_a_reason() {
        for written in [
            "",
            "http://loinc.org|",
            "a|b|c",
            "LOINC|29463-8",
            "SCT|27113002",
            "NPU|28309",
            "weight|29463-7",
            "29463 -7",
        ] {
            let error = CodeQuery::parse(written).unwrap_err();
            assert!(
                error.to_string().starts_with("`code`"),
                "{written}: {error}"
            );
        }
        assert!(
            CodeQuery::parse("LOINC|29463-8")
                .unwrap_err()
                .to_string()
                .contains("check digit")
        );
    }

    #[test]
    fn an_item_knows_its_concept_by_system_and_code() {
        assert_eq!(
            of(&coded(SNOMED_CT, "27113001")).map(|c| c.id.as_str()),
            Some("body-weight")
        );
        assert!(of(&coded(LOINC, "27113001")).is_none());
        assert!(of(&coded(LOINC, "29463-7")).is_some_and(|c| c.name_sv == "Kroppsvikt"));
    }
}
