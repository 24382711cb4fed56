//! Configuration: the service's settings (from a TOML file, or the demo's defaults) and the
//! source catalog. Everything is checked here, at startup, so the rest of the code can trust it.

pub mod catalog;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use catalog::{CatalogError, SourceEntry, load_catalog};

use crate::sources::client::HttpSettings;

/// Demo or production. The demo accepts the built-in development signing key, serves GraphiQL
/// with a ready token and runs simulated sources; production does none of that.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Demo,
    Production,
}

/// How the engine fans out: the time limits that keep an overview interactive.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSettings {
    /// The whole overview's deadline: when it passes, sources that have not answered are
    /// reported as timed out and the rest is returned.
    #[serde(with = "humantime_serde")]
    pub deadline: Duration,
    /// Default time limit for one call to one source (a catalog file may override it). Each
    /// call gets the smaller of this and what is left of the deadline.
    #[serde(with = "humantime_serde")]
    pub source_timeout: Duration,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            deadline: Duration::from_secs(3),
            source_timeout: Duration::from_millis(2500),
        }
    }
}

/// The per-source cache, keyed by (patient, source, domain).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSettings {
    /// Off: every overview goes to the sources (no coalescing either).
    pub enabled: bool,
    /// How long a source's answer is served without asking the source again.
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
    /// How long after `ttl` an answer may still be served, marked stale, when the source fails.
    #[serde(with = "humantime_serde")]
    pub stale_window: Duration,
    /// The most (patient, source, domain) answers kept.
    pub max_entries: u64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            enabled: true,
            ttl: Duration::from_secs(60),
            stale_window: Duration::from_secs(15 * 60),
            max_entries: 100_000,
        }
    }
}

/// Outgoing HTTP to sources.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourceHttpSettings {
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// The largest answer accepted from one source call, in bytes.
    pub max_body_bytes: usize,
    /// Idle connections kept open per source: at least the calls one source sees at once at
    /// peak (overviews in flight × searches per domain), or connections churn.
    pub pool_max_idle_per_host: usize,
}

impl Default for SourceHttpSettings {
    fn default() -> Self {
        let d = HttpSettings::default();
        SourceHttpSettings {
            connect_timeout: d.connect_timeout,
            max_body_bytes: d.max_body_bytes,
            pool_max_idle_per_host: d.pool_max_idle_per_host,
        }
    }
}

impl From<&SourceHttpSettings> for HttpSettings {
    fn from(s: &SourceHttpSettings) -> Self {
        HttpSettings {
            connect_timeout: s.connect_timeout,
            max_body_bytes: s.max_body_bytes,
            pool_max_idle_per_host: s.pool_max_idle_per_host,
        }
    }
}

/// Signature algorithms accepted for bearer tokens. Pinned per issuer: a token's own `alg`
/// header never chooses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum TokenAlgorithm {
    RS256,
    ES256,
    EdDSA,
}

/// One identity provider whose tokens are accepted.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerSettings {
    /// The exact `iss` claim.
    pub issuer: String,
    /// The `aud` the token must carry.
    pub audience: String,
    pub algorithm: TokenAlgorithm,
    /// PEM file with the issuer's public key (relative to the config file).
    pub public_key_file: PathBuf,
    /// The claim that carries the signed-in person's personnummer.
    #[serde(default = "default_person_claim")]
    pub person_claim: String,
    /// Clock skew tolerated on `exp` and `nbf`.
    #[serde(default = "default_leeway", with = "humantime_serde")]
    pub leeway: Duration,
}

fn default_person_claim() -> String {
    // The claim name the Swedish OIDC profile (OIDC Sweden) uses for BankID and Freja.
    "https://id.oidc.se/claim/personalIdentityNumber".to_owned()
}

fn default_leeway() -> Duration {
    Duration::from_secs(30)
}

/// The database that keeps the access log, consents, blocks, delegations and care relationships.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// A SQLite file, `sqlite://PATH?mode=rwc` (`mode=rwc` creates the file if missing; a relative
    /// PATH is relative to the config file), or a PostgreSQL URL, `postgres://USER:PASSWORD@HOST/DB`.
    pub url: String,
}

impl std::fmt::Debug for DatabaseSettings {
    /// Without the password, should the settings ever be printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &crate::store::redact_url(&self.url))
            .finish()
    }
}

/// The demo's database: a SQLite file in the working directory, created on first run.
pub const DEMO_DATABASE_URL: &str = "sqlite://overblick-demo.sqlite?mode=rwc";

/// `url` with a relative SQLite path made relative to `base` (the config file's folder); other
/// URLs unchanged.
fn resolve_sqlite_path(url: &str, base: &Path) -> String {
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return url.to_owned();
    };
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    if path.is_empty() || path.starts_with(':') || Path::new(path).is_absolute() {
        return url.to_owned();
    }
    let mut resolved = format!("sqlite://{}", base.join(path).display());
    if let Some(query) = query {
        resolved.push('?');
        resolved.push_str(query);
    }
    resolved
}

/// The configuration file, as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default = "default_mode")]
    mode: Mode,
    #[serde(default)]
    listen: Option<SocketAddr>,
    /// Folder of source catalog files.
    sources: PathBuf,
    #[serde(default)]
    engine: EngineSettings,
    #[serde(default)]
    cache: CacheSettings,
    #[serde(default)]
    source_http: SourceHttpSettings,
    #[serde(default)]
    issuers: Vec<IssuerSettings>,
    database: DatabaseSettings,
    /// Serve GraphiQL on `GET /graphql` (always on in the demo).
    #[serde(default)]
    graphiql: Option<bool>,
}

fn default_mode() -> Mode {
    Mode::Production
}

/// Everything the service needs to start, checked.
#[derive(Clone, Debug)]
pub struct Settings {
    pub mode: Mode,
    pub listen: SocketAddr,
    pub catalog: Vec<SourceEntry>,
    pub engine: EngineSettings,
    pub cache: CacheSettings,
    pub source_http: SourceHttpSettings,
    pub issuers: Vec<IssuerSettings>,
    pub database: DatabaseSettings,
    pub graphiql: bool,
}

/// Why the settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

/// The address the demo listens on unless told otherwise.
pub const DEMO_LISTEN: &str = "127.0.0.1:4000";

impl Settings {
    /// The demo: simulated sources from `sources_dir`, the development token issuer, GraphiQL on,
    /// the database in [`DEMO_DATABASE_URL`].
    pub fn demo(sources_dir: &Path) -> Result<Settings, ConfigError> {
        Ok(Settings {
            mode: Mode::Demo,
            listen: DEMO_LISTEN.parse().expect("a valid socket address"),
            catalog: load_catalog(sources_dir)?,
            engine: EngineSettings::default(),
            cache: CacheSettings::default(),
            source_http: SourceHttpSettings::default(),
            issuers: Vec::new(),
            database: DatabaseSettings {
                url: DEMO_DATABASE_URL.to_owned(),
            },
            graphiql: true,
        })
    }

    /// Reads a TOML config file; relative paths in it are relative to the file.
    pub fn from_file(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(path, &text)
    }

    fn from_toml(path: &Path, text: &str) -> Result<Settings, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        };
        let file: ConfigFile = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| format!(" (line {})", text[..s.start].matches('\n').count() + 1))
                .unwrap_or_default();
            invalid(format!("{}{at}", e.message()))
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        if file.engine.deadline.is_zero() || file.engine.source_timeout.is_zero() {
            return Err(invalid(
                "[engine]: `deadline` and `source_timeout` must be more than zero".into(),
            ));
        }
        if file.mode == Mode::Production && file.issuers.is_empty() {
            return Err(invalid(
                "`issuers`: production needs at least one [[issuers]] entry".into(),
            ));
        }
        let issuers = file
            .issuers
            .into_iter()
            .map(|mut i| {
                i.public_key_file = base.join(&i.public_key_file);
                i
            })
            .collect();
        Ok(Settings {
            mode: file.mode,
            listen: file
                .listen
                .unwrap_or_else(|| DEMO_LISTEN.parse().expect("a valid socket address")),
            catalog: load_catalog(&base.join(&file.sources))?,
            engine: file.engine,
            cache: file.cache,
            source_http: file.source_http,
            issuers,
            database: DatabaseSettings {
                url: resolve_sqlite_path(&file.database.url, base),
            },
            graphiql: file.graphiql.unwrap_or(file.mode == Mode::Demo),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_catalog(dir: &Path) {
        std::fs::create_dir_all(dir.join("sources")).unwrap();
        std::fs::write(
            dir.join("sources/a.toml"),
            "id = \"a\"\nname = \"A\"\nprotocol = \"fhir-r4\"\nbase_url = \"http://127.0.0.1:9/fhir\"\n[care_provider]\nname = \"Region A\"\n",
        )
        .unwrap();
    }

    #[test]
    fn a_production_config_reads_durations_and_resolves_paths() {
        let dir = tempfile::tempdir().unwrap();
        write_catalog(dir.path());
        let path = dir.path().join("overblick.toml");
        let text = r#"
sources = "sources"
listen = "127.0.0.1:8080"
[engine]
deadline = "4s"
source_timeout = "1500ms"
[cache]
ttl = "30s"
[[issuers]]
issuer = "https://idp.example"
audience = "overblick"
algorithm = "RS256"
public_key_file = "keys/idp.pem"
[database]
url = "sqlite://overblick.sqlite?mode=rwc"
"#;
        let s = Settings::from_toml(&path, text).unwrap();
        assert_eq!(s.mode, Mode::Production);
        assert_eq!(s.engine.deadline, Duration::from_secs(4));
        assert_eq!(s.engine.source_timeout, Duration::from_millis(1500));
        assert_eq!(s.cache.ttl, Duration::from_secs(30));
        assert_eq!(s.cache.stale_window, CacheSettings::default().stale_window);
        assert_eq!(
            s.issuers[0].public_key_file,
            dir.path().join("keys/idp.pem")
        );
        assert!(!s.graphiql);
        assert_eq!(s.catalog.len(), 1);
        assert_eq!(
            s.database.url,
            format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("overblick.sqlite").display()
            )
        );
    }

    #[test]
    fn only_a_relative_sqlite_path_is_resolved_against_the_config_folder() {
        let base = Path::new("/etc/overblick");
        for (written, read) in [
            ("sqlite:log.sqlite", "sqlite:///etc/overblick/log.sqlite"),
            (
                "sqlite://data/log.sqlite?mode=rwc",
                "sqlite:///etc/overblick/data/log.sqlite?mode=rwc",
            ),
            ("sqlite:///var/lib/o.sqlite", "sqlite:///var/lib/o.sqlite"),
            ("sqlite::memory:", "sqlite::memory:"),
            (
                "postgres://o:secret@db/overblick",
                "postgres://o:secret@db/overblick",
            ),
        ] {
            assert_eq!(resolve_sqlite_path(written, base), read, "{written}");
        }
    }

    #[test]
    fn the_database_password_is_not_in_the_settings_debug_output() {
        let s = DatabaseSettings {
            url: "postgres://overblick:hemligt@db.example/overblick".into(),
        };
        let shown = format!("{s:?}");
        assert!(!shown.contains("hemligt"), "{shown}");
        assert!(shown.contains("db.example"), "{shown}");
    }

    #[test]
    fn an_unknown_setting_is_named() {
        let dir = tempfile::tempdir().unwrap();
        write_catalog(dir.path());
        let err = Settings::from_toml(
            &dir.path().join("c.toml"),
            "sources = \"sources\"\nmode = \"demo\"\n[database]\nurl = \"sqlite://a\"\n[engine]\ndeadlin = \"1s\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("deadlin") && err.contains("line 6"), "{err}");
    }

    #[test]
    fn production_without_an_issuer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        write_catalog(dir.path());
        let err = Settings::from_toml(
            &dir.path().join("c.toml"),
            "sources = \"sources\"\n[database]\nurl = \"sqlite://a\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("issuers"), "{err}");
    }
}
