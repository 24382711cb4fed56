//! Labels: the language a request is answered in (from `Accept-Language`, Swedish unless the
//! client prefers English), the one table of Swedish and English labels for every enum value of
//! the schema, and `Query.labels`, the catalog clients show enum values and code systems by.

use async_graphql::{Context, Enum, Object, SimpleObject};

use crate::domain::CODE_SYSTEMS;

/// A language the service labels in.
#[derive(Enum, Copy, Clone, Debug, Default, Eq, PartialEq)]
pub enum Language {
    /// Svenska: the default.
    #[default]
    Sv,
    /// English.
    En,
}

impl Language {
    /// The language of an `Accept-Language` header (RFC 9110): the supported language with the
    /// highest weight, the earlier one on a tie; Swedish when the header is absent, malformed,
    /// or names neither Swedish nor English. `*` stands for the default, Swedish.
    pub fn from_accept_language(header: Option<&str>) -> Language {
        let mut best: Option<(u16, Language)> = None;
        for range in header.unwrap_or("").split(',') {
            let mut parts = range.split(';');
            let tag = parts.next().unwrap_or("").trim();
            let primary = tag.split('-').next().unwrap_or("");
            let language = if primary.eq_ignore_ascii_case("sv") || tag == "*" {
                Language::Sv
            } else if primary.eq_ignore_ascii_case("en") {
                Language::En
            } else {
                continue;
            };
            let mut weight = 1000;
            for parameter in parts {
                if let Some((name, value)) = parameter.split_once('=')
                    && name.trim().eq_ignore_ascii_case("q")
                {
                    match quality(value.trim()) {
                        Some(q) => weight = q,
                        // A malformed weight: the range is left out, not guessed at.
                        None => weight = 0,
                    }
                }
            }
            if weight > 0 && best.is_none_or(|(w, _)| weight > w) {
                best = Some((weight, language));
            }
        }
        best.map_or(Language::Sv, |(_, language)| language)
    }

    /// The language tag for `Content-Language`.
    pub fn tag(self) -> &'static str {
        match self {
            Language::Sv => "sv",
            Language::En => "en",
        }
    }

    /// The request's language (what the HTTP edge put in), Swedish where none was.
    pub fn of(ctx: &Context<'_>) -> Language {
        ctx.data_opt::<Language>().copied().unwrap_or_default()
    }

    /// `sv` or `en`, whichever is this language's.
    pub fn pick(self, sv: &'static str, en: &'static str) -> &'static str {
        match self {
            Language::Sv => sv,
            Language::En => en,
        }
    }
}

/// A `qvalue` (`0`, `0.5`, `1.000`) in thousandths; `None` when it is not one.
fn quality(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{fraction:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// One enum's labels: each value's GraphQL name, Swedish label, English label.
pub struct EnumLabelTable {
    pub name: &'static str,
    pub values: &'static [(&'static str, &'static str, &'static str)],
}

/// Every enum of the schema, every value, in Swedish as a clinician and a patient would read it
/// and in English. A test holds this to the schema: a value without both labels fails it.
pub const ENUM_LABELS: &[EnumLabelTable] = &[
    EnumLabelTable {
        name: "AbnormalFlag",
        values: &[
            ("NORMAL", "Normalt", "Normal"),
            ("ABNORMAL", "Avvikande", "Abnormal"),
            ("LOW", "Lågt", "Low"),
            ("HIGH", "Högt", "High"),
            ("CRITICALLY_LOW", "Kritiskt lågt", "Critically low"),
            ("CRITICALLY_HIGH", "Kritiskt högt", "Critically high"),
        ],
    },
    EnumLabelTable {
        name: "AccessRole",
        values: &[
            ("PATIENT", "Patienten själv", "The patient"),
            ("STAFF", "Vårdpersonal", "Care staff"),
            ("GUARDIAN", "Vårdnadshavare", "Guardian"),
            ("DELEGATE", "Ombud", "Delegate"),
            ("PERSON", "Annan person", "Another person"),
        ],
    },
    EnumLabelTable {
        name: "ActivityFilter",
        values: &[
            ("ACTIVE", "Aktuella", "Current"),
            ("ENDED", "Avslutade", "Ended"),
            ("ALL", "Alla", "All"),
        ],
    },
    EnumLabelTable {
        name: "AgreementKind",
        values: &[
            ("GOAL", "Mål", "Goal"),
            ("ACTIVITY", "Aktivitet", "Activity"),
            ("SELF_CARE", "Egenvård", "Self-care"),
        ],
    },
    EnumLabelTable {
        name: "AgreementStatus",
        values: &[
            ("PLANNED", "Planerad", "Planned"),
            ("ACTIVE", "Pågående", "Active"),
            ("ON_HOLD", "Vilande", "On hold"),
            ("COMPLETED", "Genomförd", "Completed"),
            ("CANCELLED", "Avbruten", "Cancelled"),
            ("UNKNOWN", "Okänd status", "Unknown status"),
        ],
    },
    EnumLabelTable {
        name: "BookingFilter",
        values: &[
            ("UPCOMING", "Kommande", "Upcoming"),
            ("PAST", "Tidigare", "Past"),
            ("ALL", "Alla", "All"),
        ],
    },
    EnumLabelTable {
        name: "BookingStatus",
        values: &[
            ("PROPOSED", "Föreslagen", "Proposed"),
            ("PENDING", "Inväntar bekräftelse", "Awaiting confirmation"),
            ("BOOKED", "Bokad", "Booked"),
            ("ARRIVED", "Ankommen", "Arrived"),
            ("CHECKED_IN", "Incheckad", "Checked in"),
            ("FULFILLED", "Genomförd", "Completed"),
            ("CANCELLED", "Avbokad", "Cancelled"),
            ("NO_SHOW", "Uteblev", "Did not attend"),
            ("WAITLIST", "På väntelista", "On the waiting list"),
            ("UNKNOWN", "Okänd status", "Unknown status"),
        ],
    },
    EnumLabelTable {
        name: "CarePlanKind",
        values: &[
            (
                "SIP",
                "Samordnad individuell plan (SIP)",
                "Coordinated individual plan (SIP)",
            ),
            ("CARE_PLAN", "Vårdplan", "Care plan"),
            (
                "REHABILITATION_PLAN",
                "Rehabiliteringsplan",
                "Rehabilitation plan",
            ),
            ("OTHER", "Annan plan", "Other plan"),
        ],
    },
    EnumLabelTable {
        name: "ContactRole",
        values: &[
            ("NAMED_DOCTOR", "Fast läkarkontakt", "Named doctor"),
            (
                "NAMED_CARE_CONTACT",
                "Fast vårdkontakt",
                "Named care contact",
            ),
            (
                "MUNICIPAL_CARE_CONTACT",
                "Fast omsorgskontakt",
                "Named municipal care contact",
            ),
            (
                "CARE_TEAM_MEMBER",
                "Vård- och omsorgsnätverk",
                "Care network member",
            ),
        ],
    },
    EnumLabelTable {
        name: "Domain",
        values: &[
            ("PATIENT", "Personuppgifter", "Personal details"),
            ("CONTACTS", "Kontakter", "Contacts"),
            ("CARE_PLANS", "Vårdplaner", "Care plans"),
            ("AGREEMENTS", "Överenskommelser", "Agreements"),
            ("MEDICATIONS", "Läkemedel", "Medications"),
            ("MEASUREMENTS", "Mätvärden", "Measurements"),
            ("LAB_RESULTS", "Provsvar", "Lab results"),
            ("BOOKINGS", "Bokade tider", "Bookings"),
        ],
    },
    EnumLabelTable {
        name: "IndexLookupState",
        values: &[
            (
                "ANSWERED",
                "Engagemangsindex svarade",
                "The engagement index answered",
            ),
            (
                "FROM_CACHE",
                "Engagemangsindexets senaste svar användes",
                "The engagement index's recent answer was used",
            ),
            (
                "FAILED_ASKED_ALL",
                "Engagemangsindex svarade inte; alla källor tillfrågades",
                "The engagement index failed; every source was asked",
            ),
        ],
    },
    EnumLabelTable {
        name: "Language",
        values: &[("SV", "Svenska", "Swedish"), ("EN", "Engelska", "English")],
    },
    EnumLabelTable {
        name: "MeasuredBy",
        values: &[
            ("CARE", "Uppmätt av vården", "Measured by care staff"),
            ("PATIENT", "Egen mätning", "Measured by the patient"),
            ("UNKNOWN", "Okänt vem som mätte", "Measured by whom unknown"),
        ],
    },
    EnumLabelTable {
        name: "MedicationRecordKind",
        values: &[
            ("PRESCRIPTION", "Ordination", "Prescription"),
            ("STATEMENT", "Läkemedelsanvändning", "Medication use"),
        ],
    },
    EnumLabelTable {
        name: "MedicationStatus",
        values: &[
            ("ACTIVE", "Aktuell", "Current"),
            ("ON_HOLD", "Tillfälligt utsatt", "Paused"),
            ("ENDED", "Avslutad", "Ended"),
            ("UNKNOWN", "Okänd status", "Unknown status"),
        ],
    },
    EnumLabelTable {
        name: "PlanStatus",
        values: &[
            ("DRAFT", "Utkast", "Draft"),
            ("ACTIVE", "Pågående", "Active"),
            ("ON_HOLD", "Vilande", "On hold"),
            ("COMPLETED", "Avslutad", "Completed"),
            ("REVOKED", "Återkallad", "Revoked"),
            ("UNKNOWN", "Okänd status", "Unknown status"),
        ],
    },
    EnumLabelTable {
        name: "Purpose",
        values: &[
            ("CARE", "Vård och behandling", "Care and treatment"),
            ("EMERGENCY", "Nödåtkomst", "Emergency access"),
        ],
    },
    EnumLabelTable {
        name: "ResultStatus",
        values: &[
            ("REGISTERED", "Registrerad", "Registered"),
            ("PRELIMINARY", "Preliminärt svar", "Preliminary"),
            ("FINAL", "Slutsvar", "Final"),
            ("AMENDED", "Korrigerat svar", "Amended"),
            ("CANCELLED", "Makulerat", "Cancelled"),
            ("UNKNOWN", "Okänd status", "Unknown status"),
        ],
    },
    EnumLabelTable {
        name: "SourceState",
        values: &[
            (
                "FROM_SOURCE",
                "Hämtat från källan",
                "Fetched from the source",
            ),
            (
                "FROM_CACHE",
                "Nyligen hämtat från källan",
                "Recently fetched from the source",
            ),
            (
                "STALE_SOURCE_FAILED",
                "Källan svarade inte; tidigare hämtade uppgifter visas",
                "The source failed; earlier data is shown",
            ),
            ("FAILED", "Källan svarade inte", "The source failed"),
            (
                "TIMED_OUT",
                "Källan svarade inte i tid",
                "The source did not answer in time",
            ),
            ("UNKNOWN", "Okänt läge", "Unknown state"),
            ("PENDING", "Väntar på svar", "Waiting for an answer"),
        ],
    },
];

/// The label of `value` of enum `name` in `language`, where the table has one.
pub fn enum_label(name: &str, value: &str, language: Language) -> Option<&'static str> {
    ENUM_LABELS
        .iter()
        .find(|e| e.name == name)?
        .values
        .iter()
        .find(|(v, ..)| *v == value)
        .map(|(_, sv, en)| language.pick(sv, en))
}

// ---------------------------------------------------------------------------------------------
// The catalog

/// Labels for the schema's enums and the code systems codes come in, in the request's language.
pub struct Labels {
    language: Language,
    only: Option<Vec<String>>,
}

#[Object]
impl Labels {
    /// The language of the labels: Swedish unless `Accept-Language` prefers English.
    async fn language(&self) -> Language {
        self.language
    }

    /// Each enum of the schema (or those asked for), with a label for each of its values.
    async fn enums(&self) -> Vec<EnumLabels> {
        ENUM_LABELS
            .iter()
            .filter(|e| {
                self.only
                    .as_ref()
                    .is_none_or(|only| only.iter().any(|o| o == e.name))
            })
            .map(|e| EnumLabels {
                name: e.name,
                values: e
                    .values
                    .iter()
                    .map(|(value, sv, en)| EnumValueLabel {
                        value,
                        label: self.language.pick(sv, en),
                    })
                    .collect(),
            })
            .collect()
    }

    /// Every code system the service can name, with the URIs and OIDs it is sent under.
    async fn code_systems(&self) -> Vec<CodeSystemLabel> {
        CODE_SYSTEMS
            .iter()
            .map(|s| CodeSystemLabel {
                name: s.name,
                label: self.language.pick(s.label_sv, s.label_en),
                identifiers: s
                    .ids
                    .iter()
                    .map(|id| {
                        if id.contains(':') {
                            (*id).to_owned()
                        } else {
                            format!("urn:oid:{id}")
                        }
                    })
                    .collect(),
            })
            .collect()
    }
}

/// One enum's labels.
#[derive(SimpleObject)]
pub struct EnumLabels {
    /// The enum's name in the schema, e.g. `BookingStatus`.
    name: &'static str,
    values: Vec<EnumValueLabel>,
}

/// One enum value and its label.
#[derive(SimpleObject)]
pub struct EnumValueLabel {
    /// The value as the schema spells it, e.g. `CHECKED_IN`.
    value: &'static str,
    /// As people read it, e.g. "Incheckad".
    label: &'static str,
}

/// A code system the service can name.
#[derive(SimpleObject)]
pub struct CodeSystemLabel {
    /// The short name, e.g. `NPU`: what `Coding.systemName` says.
    name: &'static str,
    /// What `Coding.systemLabel` says.
    label: &'static str,
    /// The URIs and `urn:oid:` OIDs a `Coding.system` may hold for it.
    identifiers: Vec<String>,
}

#[derive(Default)]
pub struct LabelsQuery;

#[Object]
impl LabelsQuery {
    /// Swedish or English labels (by `Accept-Language`; Swedish by default, and the response's
    /// `Content-Language` says which) for every value of every enum of the schema, and the
    /// names of the code systems codes come in. The same for everyone; no data of anyone's.
    async fn labels(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Only these enums, by name (e.g. [\"BookingStatus\"]); all when left out."
        )]
        enums: Option<Vec<String>>,
    ) -> Labels {
        Labels {
            language: Language::of(ctx),
            only: enums,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use async_graphql::{EmptySubscription, Schema};

    use super::*;
    use crate::graphql::{Query, access::AccessMutation};

    #[test]
    fn swedish_is_chosen_unless_english_is_preferred() {
        let of = |h: Option<&str>| Language::from_accept_language(h);
        assert_eq!(of(None), Language::Sv);
        assert_eq!(of(Some("")), Language::Sv);
        assert_eq!(of(Some("sv-SE,sv;q=0.9,en;q=0.8")), Language::Sv);
        assert_eq!(of(Some("en-GB,en;q=0.9")), Language::En);
        assert_eq!(of(Some("EN-us")), Language::En);
        assert_eq!(of(Some("de-DE,de;q=0.9,en;q=0.5")), Language::En);
        assert_eq!(of(Some("en;q=0.4, sv;q=0.6")), Language::Sv);
        assert_eq!(of(Some("sv;q=0.2, en;q=0.8")), Language::En);
        // Refused outright, or not ours at all, or nonsense: Swedish.
        assert_eq!(of(Some("en;q=0")), Language::Sv);
        assert_eq!(of(Some("fi, nb")), Language::Sv);
        assert_eq!(of(Some("en;q=2")), Language::Sv);
        assert_eq!(of(Some("en;q=abc")), Language::Sv);
        assert_eq!(of(Some("*")), Language::Sv);
        // A tie goes to the one listed first.
        assert_eq!(of(Some("en, sv")), Language::En);
        assert_eq!(of(Some("sv;q=0.5, en;q=0.500")), Language::Sv);
    }

    /// Every enum of the schema with its values, as introspection tells them.
    fn schema_enums() -> BTreeMap<String, Vec<String>> {
        let schema = Schema::build(Query::default(), AccessMutation, EmptySubscription).finish();
        let response = futures::executor::block_on(schema.execute(
            "{ __schema { types { kind name enumValues(includeDeprecated: true) { name } } } }",
        ));
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        let json = response.data.into_json().unwrap();
        json["__schema"]["types"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["kind"] == "ENUM")
            .filter(|t| !t["name"].as_str().unwrap().starts_with("__"))
            .map(|t| {
                let values = t["enumValues"].as_array().unwrap();
                (
                    t["name"].as_str().unwrap().to_owned(),
                    values
                        .iter()
                        .map(|v| v["name"].as_str().unwrap().to_owned())
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn every_value_of_every_enum_in_the_schema_has_a_swedish_and_an_english_label() {
        let enums = schema_enums();
        assert!(enums.contains_key("BookingStatus"), "{enums:?}");
        let mut missing = Vec::new();
        for (name, values) in &enums {
            for value in values {
                for language in [Language::Sv, Language::En] {
                    match enum_label(name, value, language) {
                        Some(label) if !label.trim().is_empty() => {}
                        _ => missing.push(format!("{name}.{value} ({})", language.tag())),
                    }
                }
            }
        }
        assert!(
            missing.is_empty(),
            "label these in ENUM_LABELS: {missing:?}"
        );
        // And the table holds nothing the schema no longer has.
        for table in ENUM_LABELS {
            let values = enums
                .get(table.name)
                .unwrap_or_else(|| panic!("{} is not in the schema", table.name));
            for (value, ..) in table.values {
                assert!(values.iter().any(|v| v == value), "{}.{value}", table.name);
            }
        }
    }

    #[test]
    fn a_booking_checked_in_and_an_active_care_plan_read_as_a_swedish_clinician_says_them() {
        assert_eq!(
            enum_label("BookingStatus", "CHECKED_IN", Language::Sv),
            Some("Incheckad")
        );
        assert_eq!(
            enum_label("PlanStatus", "ACTIVE", Language::Sv),
            Some("Pågående")
        );
        assert_eq!(
            enum_label("PlanStatus", "ACTIVE", Language::En),
            Some("Active")
        );
        assert_eq!(
            enum_label("ContactRole", "NAMED_DOCTOR", Language::Sv),
            Some("Fast läkarkontakt")
        );
        assert_eq!(
            enum_label("BookingStatus", "NOT_A_VALUE", Language::Sv),
            None
        );
    }
}
