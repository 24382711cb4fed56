//! The code systems sources send, by every URI and OID they are sent under: a short name and a
//! Swedish and English label each. The one table; a system not in it has no name (never a guess).
//!
//! The identifiers were checked against the code (`sources::rivta::xml::code_system`,
//! `sources::fhir::elements`, `sources::hl7`), the RIV-TA schemas and examples in
//! `../shared/data` and Inera's list of code systems in the national service contracts.

/// One code system.
#[derive(Debug, PartialEq, Eq)]
pub struct CodeSystem {
    /// The short name people know it by, e.g. "NPU", "SNOMED CT", "KVÅ".
    pub name: &'static str,
    pub label_sv: &'static str,
    pub label_en: &'static str,
    /// Every identifier a source may send for it: URIs as written, OIDs without `urn:oid:`.
    /// The first is the one FHIR names it by (or its OID where FHIR has none).
    pub ids: &'static [&'static str],
}

/// Every code system the service can name. Sources send codes in these (see the README,
/// "Labels").
pub const CODE_SYSTEMS: &[CodeSystem] = &[
    CodeSystem {
        name: "LOINC",
        label_sv: "LOINC, koder för analyser och observationer",
        label_en: "LOINC, codes for analyses and observations",
        ids: &["http://loinc.org", "2.16.840.1.113883.6.1"],
    },
    CodeSystem {
        name: "SNOMED CT",
        label_sv: "SNOMED CT, klinisk terminologi",
        label_en: "SNOMED CT, clinical terminology",
        // 1.2.752.116.2.1.1 is the Swedish edition, as RIV-TA sources name it.
        ids: &[
            "http://snomed.info/sct",
            "2.16.840.1.113883.6.96",
            "1.2.752.116.2.1.1",
            "1.2.752.116.2.1.1.1",
        ],
    },
    CodeSystem {
        name: "NPU",
        label_sv: "NPU, nomenklatur för laboratorieanalyser",
        label_en: "NPU, nomenclature for laboratory analyses",
        ids: &["1.2.208.176.2.1"],
    },
    CodeSystem {
        name: "ATC",
        label_sv: "ATC, klassificering av läkemedel",
        label_en: "ATC, classification of medicines",
        ids: &[
            "http://www.whocc.no/atc",
            "1.2.752.129.2.2.3.1.1",
            "2.16.840.1.113883.6.73",
        ],
    },
    CodeSystem {
        name: "NPL-id",
        label_sv: "NPL-id, Läkemedelsverkets id för ett läkemedel",
        label_en: "NPL id, the Swedish Medical Products Agency's id of a medicinal product",
        ids: &["1.2.752.129.2.1.5.1"],
    },
    CodeSystem {
        name: "RxNorm",
        label_sv: "RxNorm, amerikansk läkemedelsterminologi",
        label_en: "RxNorm, US medication terminology",
        ids: &[
            "http://www.nlm.nih.gov/research/umls/rxnorm",
            "2.16.840.1.113883.6.88",
        ],
    },
    CodeSystem {
        name: "ICD-10-SE",
        label_sv: "ICD-10-SE, klassifikation av sjukdomar (svensk version)",
        label_en: "ICD-10-SE, classification of diseases (Swedish edition)",
        ids: &["1.2.752.116.1.1.1.1.3"],
    },
    CodeSystem {
        name: "ICD-10",
        label_sv: "ICD-10, klassifikation av sjukdomar",
        label_en: "ICD-10, classification of diseases",
        ids: &["http://hl7.org/fhir/sid/icd-10", "2.16.840.1.113883.6.3"],
    },
    CodeSystem {
        name: "KVÅ",
        label_sv: "KVÅ, klassifikation av vårdåtgärder",
        label_en: "KVÅ, Swedish classification of care procedures",
        ids: &["1.2.752.116.1.3.2.1.4"],
    },
    CodeSystem {
        name: "UCUM",
        label_sv: "UCUM, måttenheter",
        label_en: "UCUM, units of measure",
        ids: &["http://unitsofmeasure.org", "2.16.840.1.113883.6.8"],
    },
    CodeSystem {
        name: "HSA-id",
        label_sv: "HSA-id, id i Hälso- och sjukvårdens adressregister",
        label_en: "HSA id, id in the Swedish health care directory",
        // 1.2.752.29.4.19 is the older OID, still in Inera's FHIR examples.
        ids: &["1.2.752.129.2.1.4.1", "1.2.752.29.4.19"],
    },
    CodeSystem {
        name: "KV befattning",
        label_sv: "KV befattning, befattningar i vård och omsorg",
        label_en: "KV befattning, positions in health and social care",
        ids: &["1.2.752.129.2.2.1.4"],
    },
    CodeSystem {
        name: "KV kön",
        label_sv: "KV kön, kön",
        label_en: "KV kön, sex",
        ids: &["1.2.752.129.2.2.1.1"],
    },
    CodeSystem {
        name: "KV typ av fast kontakt",
        label_sv: "KV typ av fast kontakt, fasta kontakter",
        label_en: "KV typ av fast kontakt, kinds of named contact",
        ids: &[
            "https://terminologitjansten.inera.se/inera-kodverksforvaltning/kodverk/kv_typ_av_fast_kontakt",
            "1.2.752.129.5.1.69",
        ],
    },
    CodeSystem {
        name: "HL7 ObservationInterpretation",
        label_sv: "HL7 ObservationInterpretation, tolkning av resultat",
        label_en: "HL7 ObservationInterpretation, interpretation of results",
        ids: &[
            "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
            "2.16.840.1.113883.5.83",
        ],
    },
    CodeSystem {
        name: "Överblick kontaktroll",
        label_sv: "Överblicks koder för kontaktroller",
        label_en: "Överblick's codes for contact roles",
        ids: &["https://overblick.se/fhir/CodeSystem/contact-role"],
    },
    CodeSystem {
        name: "Överblick plantyp",
        label_sv: "Överblicks koder för typer av vårdplan",
        label_en: "Överblick's codes for kinds of care plan",
        ids: &["https://overblick.se/fhir/CodeSystem/care-plan-kind"],
    },
];

/// The code system `system` names (a URI, `urn:oid:` OID or bare OID, as sources send it), or
/// `None` when it is none the service knows.
pub fn code_system(system: &str) -> Option<&'static CodeSystem> {
    let system = system.trim();
    let id = system.strip_prefix("urn:oid:").unwrap_or(system);
    CODE_SYSTEMS.iter().find(|s| s.ids.contains(&id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(system: &str) -> Option<&'static str> {
        code_system(system).map(|s| s.name)
    }

    #[test]
    fn npu_is_named_under_its_oid_as_fhir_and_riv_ta_sources_send_it() {
        assert_eq!(name("urn:oid:1.2.208.176.2.1"), Some("NPU"));
        assert_eq!(name("1.2.208.176.2.1"), Some("NPU"));
    }

    #[test]
    fn the_systems_a_riv_ta_source_sends_are_named_after_the_adapter_maps_them() {
        use crate::sources::rivta::xml::code_system as mapped;
        // ATC in GetMedicationHistory, the NPL-id without an ATC code, SNOMED CT (Swedish
        // edition) in GetObservations, ICD-10-SE and KVÅ as the contracts list them.
        assert_eq!(name(&mapped("1.2.752.129.2.2.3.1.1")), Some("ATC"));
        assert_eq!(name(&mapped("1.2.752.129.2.1.5.1")), Some("NPL-id"));
        assert_eq!(name(&mapped("1.2.752.116.2.1.1")), Some("SNOMED CT"));
        assert_eq!(name(&mapped("2.16.840.1.113883.6.1")), Some("LOINC"));
        assert_eq!(name(&mapped("1.2.752.116.1.1.1.1.3")), Some("ICD-10-SE"));
        assert_eq!(name(&mapped("1.2.752.116.1.3.2.1.4")), Some("KVÅ"));
    }

    #[test]
    fn the_systems_fhir_sources_send_are_named_by_their_uris() {
        // As `sources::fhir::elements` and the demo's FHIR sources spell them.
        assert_eq!(name("http://loinc.org"), Some("LOINC"));
        assert_eq!(name("http://www.whocc.no/atc"), Some("ATC"));
        assert_eq!(name("urn:oid:1.2.208.176.2.1"), Some("NPU"));
        assert_eq!(name("http://unitsofmeasure.org"), Some("UCUM"));
        assert_eq!(name("http://snomed.info/sct"), Some("SNOMED CT"));
        assert_eq!(
            name("http://www.nlm.nih.gov/research/umls/rxnorm"),
            Some("RxNorm")
        );
    }

    #[test]
    fn an_unknown_or_merely_similar_system_has_no_name() {
        for unknown in [
            "http://example.org/codes",
            "urn:oid:1.2.208.176.2",
            "urn:oid:1.2.208.176.2.1.1",
            "http://loinc.org/extra",
            "",
        ] {
            assert_eq!(name(unknown), None, "{unknown}");
        }
    }

    #[test]
    fn no_identifier_names_two_systems_and_every_system_has_both_labels() {
        let mut seen = std::collections::HashSet::new();
        for system in CODE_SYSTEMS {
            assert!(!system.label_sv.is_empty() && !system.label_en.is_empty());
            for id in system.ids {
                assert!(!id.starts_with("urn:oid:"), "{id}: OIDs are listed bare");
                assert!(seen.insert(*id), "{id} is listed twice");
            }
        }
    }
}
