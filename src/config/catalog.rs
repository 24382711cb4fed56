//! The source catalog: one TOML file per care-provider source in a folder (`sources/` in the
//! repository holds the demo's). A file that cannot be used stops startup with a message naming
//! the file and the field.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::policy::{PolicyOverrides, SourcePolicy};
use crate::domain::{Domain, HsaId, Organisation};
use crate::sources::SourceInfo;
pub use crate::sources::registry::ProtocolConfig;

/// One catalog file, as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceFile {
    /// Our id of the source: lowercase letters, digits and `-`; unique in the catalog.
    pub id: String,
    /// Display name shown to users, e.g. "Akademiska sjukhuset".
    pub name: String,
    /// How to reach it: one table named by the protocol, holding that protocol's settings
    /// (`[protocol.fhir-r4]`, `[protocol.riv-ta]`; see `sources::registry`).
    pub protocol: ProtocolConfig,
    /// The record system behind it, e.g. "Cosmic" (shown in provenance).
    #[serde(default)]
    pub system: Option<String>,
    /// The care provider (vårdgivare) whose system this is.
    pub care_provider: OrganisationFile,
    /// The care unit to name for records that do not say.
    #[serde(default)]
    pub care_unit: Option<OrganisationFile>,
    /// The domains to ask this source for; every domain its protocol can answer when left out.
    #[serde(default)]
    pub domains: Option<Vec<DomainName>>,
    /// This source's policy where it differs from the settings' `[policy]`.
    #[serde(default)]
    pub policy: PolicyOverrides,
    /// Served by the built-in simulator in demo mode, from these files. Refused in production.
    #[serde(default)]
    pub simulator: Option<SimulatorFile>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganisationFile {
    pub name: String,
    #[serde(default)]
    pub hsa_id: Option<HsaId>,
}

impl From<&OrganisationFile> for Organisation {
    fn from(o: &OrganisationFile) -> Self {
        Organisation {
            name: Some(o.name.clone()),
            hsa_id: o.hsa_id.clone(),
        }
    }
}

/// A domain as a catalog file names it ([`Domain::catalog_name`], e.g. `lab-results`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DomainName(pub Domain);

impl<'de> Deserialize<'de> for DomainName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Domain::from_catalog_name(&name)
            .map(DomainName)
            .ok_or_else(|| serde::de::Error::unknown_variant(&name, &Domain::CATALOG_NAMES))
    }
}

impl From<DomainName> for Domain {
    fn from(d: DomainName) -> Self {
        d.0
    }
}

#[cfg(test)]
mod domain_name_tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct File {
        domains: Vec<DomainName>,
    }

    #[test]
    fn a_catalog_names_domains_in_kebab_case_and_nothing_else() {
        let file: File = toml::from_str(r#"domains = ["care-plans", "lab-results", "patient"]"#)
            .expect("kebab-case names");
        let domains: Vec<Domain> = file.domains.into_iter().map(Domain::from).collect();
        assert_eq!(
            domains,
            [Domain::CarePlans, Domain::LabResults, Domain::Patient]
        );
        let err = toml::from_str::<File>(r#"domains = ["lab_results"]"#).unwrap_err();
        let err = err.to_string();
        assert!(
            err.contains(
                "unknown variant `lab_results`, expected one of `patient`, `contacts`, `care-plans`"
            ),
            "{err}"
        );
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorFile {
    /// Relative to the catalog folder. `fhir-r4`: a folder of FHIR Bundles, one per patient,
    /// named by the patient's 12-digit personnummer (`191212121212.json`). `riv-ta`: a folder
    /// with one subfolder per contract (`GetMedicationHistory`, ...) of response payloads, one
    /// per patient (`191212121212.xml`); see `simulator::rivta`.
    pub data: PathBuf,
    /// Artificial latency added to every answer.
    #[serde(default, with = "humantime_serde")]
    pub latency: Option<Duration>,
}

/// A catalog entry after checking, with paths resolved.
#[derive(Clone, Debug)]
pub struct SourceEntry {
    pub file: PathBuf,
    pub info: SourceInfo,
    /// The protocol and its settings, checked.
    pub protocol: ProtocolConfig,
    pub domains: Vec<Domain>,
    /// Overrides of the default policy.
    pub policy: PolicyOverrides,
    pub simulator: Option<SimulatorEntry>,
    /// Where a demo simulator serves the source, once started: it stands in for the protocol
    /// table's `base_url`.
    pub simulated_at: Option<String>,
}

impl SourceEntry {
    /// The source's policy: `defaults` with this file's overrides.
    pub fn policy(&self, defaults: &SourcePolicy) -> SourcePolicy {
        self.policy.apply(defaults)
    }

    /// Where the source is reached: its simulator's address once started, else the base URL
    /// its protocol table sets.
    pub fn base_url(&self) -> Option<&str> {
        self.simulated_at
            .as_deref()
            .or_else(|| self.protocol.base_url())
    }
}

#[derive(Clone, Debug)]
pub struct SimulatorEntry {
    pub data_dir: PathBuf,
    pub latency: Duration,
    /// Days every date of the simulated records is moved by (see `demo::move_story_to`); 0 as
    /// written. Not a catalog field: the demo sets it when it starts.
    pub date_shift_days: i64,
}

/// Why the catalog could not be loaded. Every message names the file, and the field where one
/// is at fault.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read the source catalog folder {}: {source}", path.display())]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read source file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("source file {}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("the source catalog {} holds no source files (*.toml)", path.display())]
    Empty { path: PathBuf },
}

fn invalid(path: &Path, message: impl Into<String>) -> CatalogError {
    CatalogError::Invalid {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// Parses one catalog file's text; `path` is used for messages and to resolve relative paths.
pub fn parse_source_file(path: &Path, text: &str) -> Result<SourceEntry, CatalogError> {
    let file: SourceFile = toml::from_str(text).map_err(|e| {
        // toml's message names the field and shows the line; keep it on one line.
        let msg = e.message().to_owned();
        let at = e
            .span()
            .map(|span| {
                let line = text[..span.start].matches('\n').count() + 1;
                format!(" (line {line})")
            })
            .unwrap_or_default();
        invalid(path, format!("{msg}{at}"))
    })?;

    if file.id.is_empty()
        || !file
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(invalid(
            path,
            "field `id`: use lowercase letters, digits and `-` only",
        ));
    }
    if file.name.trim().is_empty() {
        return Err(invalid(path, "field `name`: must not be empty"));
    }
    let mut protocol = file.protocol.clone();
    let protocol_name = protocol.name();
    protocol.check(file.simulator.is_some()).map_err(|e| {
        invalid(
            path,
            format!(
                "[protocol.{protocol_name}] field `{}`: {}",
                e.field, e.message
            ),
        )
    })?;
    let offered = protocol.domains();
    let domains = match &file.domains {
        None => offered.to_vec(),
        Some(list) if list.is_empty() => {
            return Err(invalid(path, "field `domains`: list at least one domain"));
        }
        Some(list) => {
            let mut v: Vec<Domain> = list.iter().copied().map(Domain::from).collect();
            v.sort();
            v.dedup();
            if let Some(d) = v.iter().find(|d| !offered.contains(d)) {
                return Err(invalid(
                    path,
                    format!(
                        "field `domains`: a {protocol_name} source cannot answer {}",
                        d.catalog_name()
                    ),
                ));
            }
            v
        }
    };
    let folder = path.parent().unwrap_or(Path::new("."));
    let simulator = file.simulator.as_ref().map(|s| SimulatorEntry {
        data_dir: folder.join(&s.data),
        latency: s.latency.unwrap_or(Duration::ZERO),
        date_shift_days: 0,
    });
    Ok(SourceEntry {
        file: path.to_owned(),
        info: SourceInfo {
            id: file.id.clone(),
            name: file.name.clone(),
            system: file.system.clone(),
            care_provider: Organisation::from(&file.care_provider),
            default_care_unit: file.care_unit.as_ref().map(Organisation::from),
        },
        protocol,
        domains,
        policy: file.policy.clone(),
        simulator,
        simulated_at: None,
    })
}

/// Loads every `*.toml` file directly in `dir` (not in subfolders, which hold other data such as
/// the demo's population register), in file-name order, and checks that ids are unique.
pub fn load_catalog(dir: &Path) -> Result<Vec<SourceEntry>, CatalogError> {
    let read = std::fs::read_dir(dir).map_err(|source| CatalogError::Folder {
        path: dir.to_owned(),
        source,
    })?;
    let mut paths = Vec::new();
    for entry in read {
        let entry = entry.map_err(|source| CatalogError::Folder {
            path: dir.to_owned(),
            source,
        })?;
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    if paths.is_empty() {
        return Err(CatalogError::Empty {
            path: dir.to_owned(),
        });
    }
    let mut entries: Vec<SourceEntry> = Vec::with_capacity(paths.len());
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|source| CatalogError::Read {
            path: path.clone(),
            source,
        })?;
        let entry = parse_source_file(&path, &text)?;
        if let Some(other) = entries.iter().find(|e| e.info.id == entry.info.id) {
            return Err(invalid(
                &path,
                format!(
                    "field `id`: \"{}\" is already used by {}",
                    entry.info.id,
                    other.file.display()
                ),
            ));
        }
        entries.push(entry);
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = "akademiska"
name = "Akademiska sjukhuset"
system = "Cosmic"
domains = ["medications", "lab-results"]

[policy]
timeout = "1500ms"

[protocol.fhir-r4]
base_url = "https://fhir.example.org/r4"

[care_provider]
name = "Region Uppsala"
hsa_id = "SE2321000024-0001"
"#;

    #[test]
    fn a_complete_file_parses() {
        let e = parse_source_file(Path::new("sources/a.toml"), GOOD).unwrap();
        assert_eq!(e.info.id, "akademiska");
        assert_eq!(e.policy.timeout, Some(Duration::from_millis(1500)));
        assert_eq!(e.domains, vec![Domain::Medications, Domain::LabResults]);
        assert_eq!(
            e.info.care_provider.hsa_id.as_ref().unwrap().as_str(),
            "SE2321000024-0001"
        );
    }

    fn error_of(text: &str) -> String {
        parse_source_file(Path::new("sources/bad.toml"), text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn an_unknown_field_names_the_file_and_the_field() {
        let msg = error_of(&format!("{GOOD}\nbase_ulr = \"x\"\n"));
        assert!(msg.contains("sources/bad.toml"), "{msg}");
        assert!(msg.contains("base_ulr"), "{msg}");
    }

    #[test]
    fn a_bad_hsa_id_names_the_field() {
        let msg = error_of(&GOOD.replace("SE2321000024-0001", "SE23-nope"));
        assert!(msg.contains("HSA-id"), "{msg}");
        assert!(msg.contains("line"), "{msg}");
    }

    #[test]
    fn a_bad_duration_names_the_field() {
        let msg = error_of(&GOOD.replace("1500ms", "soon"));
        assert!(msg.contains("sources/bad.toml"), "{msg}");
        assert!(msg.contains("line 8"), "{msg}");
    }

    #[test]
    fn a_missing_base_url_is_refused_for_real_sources() {
        let msg = error_of(&GOOD.replace("base_url = \"https://fhir.example.org/r4\"", ""));
        assert!(msg.contains("`base_url`"), "{msg}");
    }

    #[test]
    fn a_non_http_base_url_is_refused() {
        let msg = error_of(&GOOD.replace("https://fhir.example.org/r4", "file:///etc/passwd"));
        assert!(msg.contains("`base_url`"), "{msg}");
    }

    #[test]
    fn an_unknown_protocol_is_refused() {
        let msg = error_of(&GOOD.replace("fhir-r4", "hl7v2"));
        assert!(msg.contains("hl7v2"), "{msg}");
        assert!(msg.contains("fhir-r4") && msg.contains("riv-ta"), "{msg}");
    }

    const RIVTA: &str = r#"
id = "region-uppsala-tp"
name = "Region Uppsala (tjänsteplattformen)"

[protocol.riv-ta]
logical_address = "SE2321000024-0001"

[care_provider]
name = "Region Uppsala"
"#;

    #[test]
    fn a_riv_ta_source_gets_the_domains_its_contracts_carry() {
        let e = parse_source_file(Path::new("sources/tp.toml"), RIVTA).unwrap();
        assert_eq!(e.domains, crate::sources::rivta::DOMAINS.to_vec());
        assert_eq!(e.protocol.name(), "riv-ta");
        assert_eq!(e.base_url(), None, "the platform's base URL stands in");
    }

    #[test]
    fn a_riv_ta_source_without_a_logical_address_names_the_field() {
        let msg = error_of(&RIVTA.replace("logical_address = \"SE2321000024-0001\"", ""));
        assert!(msg.contains("logical_address"), "{msg}");
        let msg = error_of(&RIVTA.replace("SE2321000024-0001\"", " \""));
        assert!(
            msg.contains("[protocol.riv-ta] field `logical_address`"),
            "{msg}"
        );
    }

    #[test]
    fn a_field_of_another_protocol_is_refused_in_a_protocols_table() {
        let msg = error_of(&GOOD.replace(
            "[protocol.fhir-r4]\n",
            "[protocol.fhir-r4]\nlogical_address = \"SE2321000024-0001\"\n",
        ));
        assert!(msg.contains("logical_address"), "{msg}");
        let msg = error_of(&RIVTA.replace(
            "[protocol.riv-ta]\n",
            "[protocol.riv-ta]\nlab_contract_version = 5\n",
        ));
        assert!(
            msg.contains("`lab_contract_version`: 3 or 4, not 5"),
            "{msg}"
        );
    }

    #[test]
    fn a_domain_the_protocol_cannot_answer_is_refused() {
        let msg = error_of(&RIVTA.replace(
            "[protocol.riv-ta]",
            "domains = [\"agreements\"]\n\n[protocol.riv-ta]",
        ));
        assert!(
            msg.contains("field `domains`: a riv-ta source cannot answer agreements"),
            "{msg}"
        );
    }

    #[test]
    fn every_catalog_file_the_readme_shows_parses() {
        let readme = include_str!("../../README.md");
        let files: Vec<&str> = readme
            .split("```toml\n")
            .skip(1)
            .filter_map(|block| block.split("```").next())
            .filter(|block| block.contains("[protocol."))
            .collect();
        assert!(
            files.len() >= 2,
            "the README shows a FHIR and a RIV-TA source"
        );
        for text in files {
            if let Err(e) = parse_source_file(Path::new("README.md"), text) {
                panic!("{e}\n{text}");
            }
        }
    }

    #[test]
    fn a_notification_secret_is_named_by_an_environment_variable_never_written_in_the_file() {
        let e = parse_source_file(
            Path::new("sources/a.toml"),
            &GOOD.replace(
                "[protocol.fhir-r4]\n",
                "[protocol.fhir-r4]\nnotify_secret_env = \"AKADEMISKA_NOTIFY_SECRET\"\n",
            ),
        )
        .unwrap();
        let ProtocolConfig::FhirR4(config) = &e.protocol else {
            panic!("a FHIR source");
        };
        assert_eq!(
            config.notify_secret_env.as_deref(),
            Some("AKADEMISKA_NOTIFY_SECRET")
        );
        let msg = error_of(&GOOD.replace(
            "[protocol.fhir-r4]\n",
            "[protocol.fhir-r4]\nnotify_secret_env = \"s3cret value\"\n",
        ));
        assert!(
            msg.contains("[protocol.fhir-r4] field `notify_secret_env`"),
            "{msg}"
        );
        let msg = error_of(&GOOD.replace(
            "[protocol.fhir-r4]\n",
            "[protocol.fhir-r4]\nnotify_secret = \"s3cret\"\n",
        ));
        assert!(msg.contains("notify_secret"), "{msg}");
    }

    #[test]
    fn two_protocol_tables_are_refused() {
        let msg = error_of(&format!(
            "{GOOD}\n[protocol.riv-ta]\nlogical_address = \"SE2321000024-0001\"\n"
        ));
        assert!(msg.contains("sources/bad.toml"), "{msg}");
    }

    #[test]
    fn duplicate_ids_name_both_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.toml"), GOOD).unwrap();
        std::fs::write(dir.path().join("b.toml"), GOOD).unwrap();
        let msg = load_catalog(dir.path()).unwrap_err().to_string();
        assert!(msg.contains("b.toml") && msg.contains("a.toml"), "{msg}");
    }

    #[test]
    fn toml_files_in_subfolders_are_not_sources() {
        // sources/registers/population.toml is the demo's population register, not a source.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.toml"), GOOD).unwrap();
        std::fs::create_dir(dir.path().join("registers")).unwrap();
        std::fs::write(
            dir.path().join("registers/population.toml"),
            "[[person]]\nperson_id = \"191212121212\"\n",
        )
        .unwrap();
        let entries = load_catalog(dir.path()).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].info.id, "akademiska");
    }

    #[test]
    fn an_empty_folder_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            load_catalog(dir.path()),
            Err(CatalogError::Empty { .. })
        ));
    }
}
