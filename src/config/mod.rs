//! Configuration: the service's settings (from a TOML file, or the demo's defaults) and the
//! source catalog. Everything is checked here, at startup, so the rest of the code can trust it.

pub mod catalog;
pub mod policy;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use crate::sources::rivta::{EngagementIndexSettings, PlatformSettings};
pub use catalog::{CatalogError, SourceEntry, load_catalog};
pub use policy::{PolicyOverrides, SourcePolicy};

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
    /// Each source call gets the smaller of its policy's `timeout` and what is left of this.
    #[serde(with = "humantime_serde")]
    pub deadline: Duration,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            deadline: Duration::from_secs(3),
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
    /// Idle connections kept open per source: at least the calls one source sees at once at
    /// peak (overviews in flight × searches per domain), or connections churn.
    pub pool_max_idle_per_host: usize,
}

impl Default for SourceHttpSettings {
    fn default() -> Self {
        let d = HttpSettings::default();
        SourceHttpSettings {
            connect_timeout: d.connect_timeout,
            pool_max_idle_per_host: d.pool_max_idle_per_host,
        }
    }
}

impl From<&SourceHttpSettings> for HttpSettings {
    fn from(s: &SourceHttpSettings) -> Self {
        HttpSettings {
            connect_timeout: s.connect_timeout,
            max_body_bytes: SourcePolicy::default().max_body_bytes,
            pool_max_idle_per_host: s.pool_max_idle_per_host,
        }
    }
}

/// The GraphQL edge's limits, all checked before any source is called.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GraphqlSettings {
    /// Introspection and "did you mean" field suggestions. On in the demo, off in production
    /// unless set: a production schema is documented in the repository, not probed.
    pub introspection: Option<bool>,
    /// Keep what sources send about their failures (an OperationOutcome's or SOAP fault's
    /// text, what could not be read in an answer, an aggregator's or the engagement index's
    /// account) out of error messages and `SourceStatus.message`: clients then get a stable
    /// text per code ("Akademiska sjukhuset failed (SOURCE_ERROR)"). Such text may name the
    /// patient or describe the source's insides. On in production, off in the demo, unless set.
    pub redact_source_errors: Option<bool>,
    /// The deepest nesting of fields in a query.
    pub max_depth: usize,
    /// The most fields a query may select in all (each field counts one, fragments counted
    /// where they are spread).
    pub max_complexity: usize,
    /// The most aliased fields in a query (aliases multiply work without multiplying depth).
    pub max_aliases: usize,
    /// The most fields at the root of an operation (each `overview` is a fan-out to every
    /// source).
    pub max_root_fields: usize,
    /// The longest query text, in bytes.
    pub max_query_bytes: usize,
    /// Operations in one request; 1 turns batching off.
    pub max_batch: usize,
    /// The largest request body, in bytes, however it is sent (also chunked).
    pub max_body_bytes: usize,
    /// `Subscription.overview` (`[graphql.subscriptions]`).
    pub subscriptions: SubscriptionSettings,
}

/// Live overviews: when the first event goes out, and what one subscriber may hold open.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubscriptionSettings {
    /// The first event goes out when every source has answered or this has passed, whichever
    /// is first; sources still working are `PENDING` in it.
    #[serde(with = "humantime_serde")]
    pub first_answer: Duration,
    /// Open subscriptions per signed-in subject (browser tabs, devices).
    pub max_per_subject: usize,
    /// Open subscriptions in all, on this replica.
    pub max_total: usize,
    /// A live subscription ends (`SUBSCRIPTION_ENDED`) after this long; the client subscribes
    /// again, which also renews the access decision's context (a new token).
    #[serde(with = "humantime_serde")]
    pub max_lifetime: Duration,
    /// A live subscription with no event for this long ends (`SUBSCRIPTION_ENDED`).
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Changes arriving this close together make one event.
    #[serde(with = "humantime_serde")]
    pub coalesce: Duration,
    /// Events kept for a subscriber that does not read them; one more and it is dropped
    /// (`SLOW_CONSUMER`), never buffered without bound.
    pub buffer: usize,
    /// How often a transport sends a keep-alive (SSE comment, WebSocket ping).
    #[serde(with = "humantime_serde")]
    pub keep_alive: Duration,
}

impl Default for SubscriptionSettings {
    fn default() -> Self {
        SubscriptionSettings {
            first_answer: Duration::from_millis(150),
            max_per_subject: 8,
            max_total: 2000,
            max_lifetime: Duration::from_secs(60 * 60),
            idle_timeout: Duration::from_secs(30 * 60),
            coalesce: Duration::from_millis(100),
            buffer: 8,
            keep_alive: Duration::from_secs(15),
        }
    }
}

impl Default for GraphqlSettings {
    fn default() -> Self {
        GraphqlSettings {
            introspection: None,
            redact_source_errors: None,
            max_depth: 12,
            max_complexity: 400,
            max_aliases: 30,
            max_root_fields: 4,
            max_query_bytes: 16 * 1024,
            max_batch: 1,
            max_body_bytes: 64 * 1024,
            subscriptions: SubscriptionSettings::default(),
        }
    }
}

impl GraphqlSettings {
    /// Whether introspection and suggestions are on (resolved from the mode at load).
    pub fn introspection(&self) -> bool {
        self.introspection.unwrap_or(false)
    }

    /// Whether clients are kept from the text sources send about their failures (resolved
    /// from the mode at load; on when unresolved, the safe side).
    pub fn redact_source_errors(&self) -> bool {
        self.redact_source_errors.unwrap_or(true)
    }

    fn check(&self) -> Result<(), String> {
        for (field, value) in [
            ("max_depth", self.max_depth),
            ("max_complexity", self.max_complexity),
            ("max_root_fields", self.max_root_fields),
            ("max_query_bytes", self.max_query_bytes),
            ("max_batch", self.max_batch),
            ("max_body_bytes", self.max_body_bytes),
        ] {
            if value == 0 {
                return Err(format!("[graphql]: `{field}` must be more than zero"));
            }
        }
        if self.max_query_bytes > self.max_body_bytes {
            return Err("[graphql]: `max_query_bytes` must not exceed `max_body_bytes`".into());
        }
        Ok(())
    }
}

/// Requests per signed-in subject (issuer and subject, not IP address: hospitals sit behind
/// NAT), and requests without a valid token per client address. Over either, 429 with
/// `Retry-After`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSettings {
    /// Both limits on or off.
    pub enabled: bool,
    /// Sustained requests per second per subject.
    pub per_second: u32,
    /// Requests a subject may make at once before the sustained rate applies.
    pub burst: u32,
    /// Sustained requests per second without a valid token (none, malformed, expired, badly
    /// signed) per client address (an IPv6 address counts by its /64). A signed-in user's
    /// requests do not spend it, but an address that has spent it is refused before any token
    /// is looked at, so token guessing and log flooding cost the guesser, not the service.
    pub unauthenticated_per_second: u32,
    /// Requests without a valid token an address may make at once before the sustained rate
    /// applies.
    pub unauthenticated_burst: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            enabled: true,
            per_second: 20,
            burst: 40,
            // Generous enough for a hospital's staff behind one NAT address whose tokens expire
            // now and then; far too little to guess tokens or flood the log.
            unauthenticated_per_second: 10,
            unauthenticated_burst: 50,
        }
    }
}

impl RateLimitSettings {
    fn check(&self) -> Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        for (field, value) in [
            ("per_second", self.per_second),
            ("burst", self.burst),
            (
                "unauthenticated_per_second",
                self.unauthenticated_per_second,
            ),
            ("unauthenticated_burst", self.unauthenticated_burst),
        ] {
            if value == 0 {
                return Err(format!(
                    "[rate_limit]: `{field}` must be more than zero (or set `enabled = false`)"
                ));
            }
        }
        Ok(())
    }
}

/// The listener's defences against clients that hold connections open without sending
/// requests (slowloris), and which browser apps on other origins may call the API (CORS).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// The longest a connection may take to send a request's headers, counted from when the
    /// service starts waiting for them (a new connection, or the end of the previous answer on
    /// a kept-alive one). Past it the connection is closed, however steadily bytes trickle in.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Connections open at once from one client address (an IPv6 address counts by its /64);
    /// a new connection from an address at the cap is closed at once.
    pub max_connections_per_ip: usize,
    /// Origins of browser apps (a patient app, a staff app) allowed to call `/graphql` from
    /// their own pages: each exactly as a browser sends it in `Origin`, `scheme://host[:port]`
    /// (no path, no `*`, no default port). None unless configured: a browser then refuses
    /// every other site's page a cross-origin answer. Tokens are bearer tokens, not cookies,
    /// so no credentials mode is offered.
    pub cors_origins: Vec<String>,
    /// Also allow any loopback origin (`http://127.0.0.1:<any port>`, `http://localhost:<any
    /// port>`, `http://[::1]:<any port>`): an app under development on the same machine. Off
    /// unless set; the demo command turns it on.
    pub cors_loopback: bool,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            header_read_timeout: Duration::from_secs(10),
            max_connections_per_ip: 256,
            cors_origins: Vec::new(),
            cors_loopback: false,
        }
    }
}

impl ServerSettings {
    fn check(&self) -> Result<(), String> {
        if self.header_read_timeout.is_zero() {
            return Err("[server]: `header_read_timeout` must be more than zero".into());
        }
        if self.max_connections_per_ip == 0 {
            return Err("[server]: `max_connections_per_ip` must be more than zero".into());
        }
        for origin in &self.cors_origins {
            check_origin(origin).map_err(|e| format!("[server]: `cors_origins`: {e}"))?;
        }
        Ok(())
    }
}

/// `origin` is an origin as a browser serializes it in its `Origin` header (the only form that
/// can match): `http` or `https`, a host, a port only when not the scheme's default, nothing
/// after. A wildcard or a path would silently match nothing, or more than meant.
fn check_origin(origin: &str) -> Result<(), String> {
    if origin.contains('*') {
        return Err(format!(
            "{origin:?}: no wildcards; name each origin (`cors_loopback` allows local apps)"
        ));
    }
    let url = reqwest::Url::parse(origin).map_err(|e| format!("{origin:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{origin:?}: the scheme must be http or https"));
    }
    let serialized = url.origin().ascii_serialization();
    if serialized != origin {
        return Err(format!(
            "{origin:?}: an origin is `scheme://host[:port]` as browsers send it, with no path, \
             query, user or default port; did you mean {serialized:?}?"
        ));
    }
    Ok(())
}

/// Signature algorithms accepted for bearer tokens. Pinned per issuer: a token's own `alg`
/// header never chooses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum TokenAlgorithm {
    RS256,
    ES256,
    EdDSA,
}

/// What kind of signed-in user an issuer may vouch for. A citizen e-ID provider vouches for
/// persons only, so a token of its can never make anyone care staff, whatever claims it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrincipalType {
    /// A person signed in with their personnummer (patient, guardian or delegate).
    Person,
    /// Care staff, identified by HSA-id with a care unit and care provider.
    Staff,
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
    /// PEM file with the issuer's public key (relative to the config file). Exactly one of this
    /// and `jwks_url`.
    #[serde(default)]
    pub public_key_file: Option<PathBuf>,
    /// Where the issuer publishes its signing keys (a JWKS). `https`, or `http` on loopback
    /// only. Exactly one of this and `public_key_file`.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// A token naming a key (`kid`) not in the cached JWKS makes the service fetch the JWKS
    /// again, at most once per this interval.
    #[serde(default = "default_jwks_refresh_interval", with = "humantime_serde")]
    pub jwks_refresh_interval: Duration,
    /// Whom the issuer vouches for: `["person"]` (the default), `["staff"]` or both.
    #[serde(default = "default_principals")]
    pub principals: Vec<PrincipalType>,
    /// The claim that carries the signed-in person's personnummer.
    #[serde(default = "default_person_claim")]
    pub person_claim: String,
    /// The claims that describe care staff (used when `principals` has `staff`).
    #[serde(default)]
    pub staff_claims: StaffClaims,
    /// Clock skew tolerated on `exp` and `nbf`.
    #[serde(default = "default_leeway", with = "humantime_serde")]
    pub leeway: Duration,
}

/// Where an issuer's keys come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySource<'a> {
    File(&'a Path),
    Jwks(&'a str),
}

impl IssuerSettings {
    /// An issuer with the defaults for everything but its name, audience, algorithm and key.
    pub fn new(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        algorithm: TokenAlgorithm,
        key: KeySource<'_>,
    ) -> Self {
        let (public_key_file, jwks_url) = match key {
            KeySource::File(path) => (Some(path.to_owned()), None),
            KeySource::Jwks(url) => (None, Some(url.to_owned())),
        };
        IssuerSettings {
            issuer: issuer.into(),
            audience: audience.into(),
            algorithm,
            public_key_file,
            jwks_url,
            jwks_refresh_interval: default_jwks_refresh_interval(),
            principals: default_principals(),
            person_claim: default_person_claim(),
            staff_claims: StaffClaims::default(),
            leeway: default_leeway(),
        }
    }

    /// The key source, or why the settings do not name exactly one.
    pub fn key_source(&self) -> Result<KeySource<'_>, String> {
        match (&self.public_key_file, &self.jwks_url) {
            (Some(path), None) => Ok(KeySource::File(path)),
            (None, Some(url)) => Ok(KeySource::Jwks(url)),
            (Some(_), Some(_)) => Err(
                "set either `public_key_file` or `jwks_url`, not both: one issuer has one source of keys"
                    .into(),
            ),
            (None, None) => Err(
                "set `public_key_file` (a PEM public key) or `jwks_url` (where the issuer publishes its keys)"
                    .into(),
            ),
        }
    }

    /// Checks what serde cannot: one key source, a refresh interval, someone to vouch for.
    pub fn check(&self) -> Result<(), String> {
        self.key_source()?;
        if self.principals.is_empty() {
            return Err(
                "`principals` is empty: list whom the issuer vouches for, \"person\" and/or \"staff\""
                    .into(),
            );
        }
        if self.jwks_url.is_some() && self.jwks_refresh_interval.is_zero() {
            return Err("`jwks_refresh_interval` must be more than zero".into());
        }
        Ok(())
    }

    pub fn vouches_for(&self, kind: PrincipalType) -> bool {
        self.principals.contains(&kind)
    }
}

fn default_person_claim() -> String {
    // The claim name the Swedish OIDC profile (OIDC Sweden) uses for BankID and Freja.
    "https://id.oidc.se/claim/personalIdentityNumber".to_owned()
}

fn default_leeway() -> Duration {
    Duration::from_secs(30)
}

fn default_jwks_refresh_interval() -> Duration {
    Duration::from_secs(5 * 60)
}

fn default_principals() -> Vec<PrincipalType> {
    // Staff must be switched on explicitly: an issuer configured for citizens stays one.
    vec![PrincipalType::Person]
}

/// The claim names that carry a staff member's identity. The defaults are the Sambi attribute
/// names (the Swedish health-care identity federation) that staff IdPs such as SITHS-based ones
/// put in their OIDC tokens; each can be renamed per issuer.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StaffClaims {
    /// The staff member's own HSA-id (required).
    pub hsa_id: String,
    /// Their display name (optional).
    pub name: String,
    /// Their profession or title, e.g. "Läkare" (optional).
    pub profession: String,
    /// HSA-id of the care unit they are signed in at (required).
    pub care_unit: String,
    /// That unit's name (optional).
    pub care_unit_name: String,
    /// HSA-id of the care provider (vårdgivare) the unit belongs to (required).
    pub care_provider: String,
    /// That provider's name (optional).
    pub care_provider_name: String,
}

impl Default for StaffClaims {
    fn default() -> Self {
        StaffClaims {
            hsa_id: "http://sambi.se/attributes/1/employeeHsaId".into(),
            name: "name".into(),
            profession: "http://sambi.se/attributes/1/title".into(),
            care_unit: "http://sambi.se/attributes/1/healthCareUnitHsaId".into(),
            care_unit_name: "http://sambi.se/attributes/1/healthCareUnitName".into(),
            care_provider: "http://sambi.se/attributes/1/healthCareProviderHsaId".into(),
            care_provider_name: "http://sambi.se/attributes/1/healthCareProviderName".into(),
        }
    }
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

/// The deployment's access choices.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessFile {
    /// Whether patients may grant delegations (ombud) and delegates use them. Off unless
    /// switched on: adult delegation needs a legal basis the deployment must have.
    pub delegation: bool,
    /// The population register as a TOML file (guardianship, protected identity, names);
    /// relative to the config file. Without it nobody acts as guardian.
    pub population_file: Option<PathBuf>,
}

/// The demo's population register.
pub const DEMO_POPULATION_FILE: &str = "registers/population.toml";

/// The demo's engagement index register (served by `simulator::engagement`).
pub const DEMO_ENGAGEMENT_INDEX_FILE: &str = "registers/engagement-index.toml";

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
    policy: SourcePolicy,
    #[serde(default)]
    graphql: GraphqlSettings,
    #[serde(default)]
    rate_limit: RateLimitSettings,
    #[serde(default)]
    server: ServerSettings,
    #[serde(default)]
    issuers: Vec<IssuerSettings>,
    database: DatabaseSettings,
    #[serde(default)]
    access: AccessFile,
    #[serde(default)]
    platform: PlatformSettings,
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
    /// The policy every source gets unless its catalog file overrides a part.
    pub policy: SourcePolicy,
    /// The GraphQL edge's limits, introspection resolved from the mode.
    pub graphql: GraphqlSettings,
    pub rate_limit: RateLimitSettings,
    /// The listener: header read timeout, connections per client address.
    pub server: ServerSettings,
    pub issuers: Vec<IssuerSettings>,
    pub database: DatabaseSettings,
    /// Delegation on or off, and the population register's file (paths resolved).
    pub access: AccessFile,
    /// The national service platform (paths resolved).
    pub platform: PlatformSettings,
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
            policy: SourcePolicy::default(),
            graphql: GraphqlSettings {
                introspection: Some(true),
                redact_source_errors: Some(false),
                ..GraphqlSettings::default()
            },
            rate_limit: RateLimitSettings::default(),
            server: ServerSettings {
                // An app under development on this machine can call the demo at once.
                cors_loopback: true,
                ..ServerSettings::default()
            },
            issuers: Vec::new(),
            database: DatabaseSettings {
                url: DEMO_DATABASE_URL.to_owned(),
            },
            access: AccessFile {
                delegation: true,
                population_file: Some(sources_dir.join(DEMO_POPULATION_FILE)),
            },
            platform: PlatformSettings::default(),
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
        if file.engine.deadline.is_zero() {
            return Err(invalid(
                "[engine]: `deadline` must be more than zero".into(),
            ));
        }
        file.policy
            .check()
            .map_err(|e| invalid(format!("[policy]: {e}")))?;
        file.graphql.check().map_err(invalid)?;
        file.rate_limit.check().map_err(invalid)?;
        file.server.check().map_err(invalid)?;
        let catalog = load_catalog(&base.join(&file.sources))?;
        for entry in &catalog {
            entry.policy(&file.policy).check().map_err(|e| {
                invalid(format!(
                    "source file {} [policy]: {e}",
                    entry.file.display()
                ))
            })?;
        }
        let mut graphql = file.graphql;
        graphql.introspection.get_or_insert(file.mode == Mode::Demo);
        graphql
            .redact_source_errors
            .get_or_insert(file.mode == Mode::Production);
        if file.mode == Mode::Production && file.issuers.is_empty() {
            return Err(invalid(
                "`issuers`: production needs at least one [[issuers]] entry".into(),
            ));
        }
        let platform = file.platform.resolve(base).map_err(invalid)?;
        if file.mode == Mode::Production {
            // Simulators serve canned records: a production service must never show them as
            // if a care provider had sent them.
            if let Some(entry) = catalog.iter().find(|e| e.simulator.is_some()) {
                return Err(ConfigError::Catalog(CatalogError::Invalid {
                    path: entry.file.clone(),
                    message: "field `simulator`: simulated sources serve demo records; a \
                              production service refuses them (remove the table, or set \
                              `mode = \"demo\"`)"
                        .into(),
                }));
            }
        }
        let mut issuers = file.issuers;
        for (n, issuer) in issuers.iter_mut().enumerate() {
            issuer
                .check()
                .map_err(|e| invalid(format!("[[issuers]] #{} ({}): {e}", n + 1, issuer.issuer)))?;
            issuer.public_key_file = issuer.public_key_file.as_ref().map(|p| base.join(p));
        }
        Ok(Settings {
            mode: file.mode,
            listen: file
                .listen
                .unwrap_or_else(|| DEMO_LISTEN.parse().expect("a valid socket address")),
            catalog,
            engine: file.engine,
            cache: file.cache,
            source_http: file.source_http,
            policy: file.policy,
            graphql,
            rate_limit: file.rate_limit,
            server: file.server,
            issuers,
            database: DatabaseSettings {
                url: resolve_sqlite_path(&file.database.url, base),
            },
            access: AccessFile {
                delegation: file.access.delegation,
                population_file: file.access.population_file.map(|p| base.join(p)),
            },
            platform,
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
            "id = \"a\"\nname = \"A\"\n[protocol.fhir-r4]\nbase_url = \"http://127.0.0.1:9/fhir\"\n[care_provider]\nname = \"Region A\"\n",
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
[policy]
timeout = "1500ms"
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
        assert_eq!(s.policy.timeout, Duration::from_millis(1500));
        assert!(!s.graphql.introspection(), "off in production unless set");
        assert!(
            s.graphql.redact_source_errors(),
            "upstream error text kept from clients in production unless set"
        );
        assert_eq!(s.cache.ttl, Duration::from_secs(30));
        assert_eq!(s.cache.stale_window, CacheSettings::default().stale_window);
        assert_eq!(
            s.issuers[0].public_key_file,
            Some(dir.path().join("keys/idp.pem"))
        );
        assert_eq!(s.issuers[0].principals, [PrincipalType::Person]);
        assert_eq!(s.issuers[0].jwks_refresh_interval, Duration::from_secs(300));
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
    fn the_edge_defences_have_defaults_read_their_keys_and_refuse_zeros() {
        let dir = tempfile::tempdir().unwrap();
        write_catalog(dir.path());
        let load = |extra: &str| {
            Settings::from_toml(
                &dir.path().join("c.toml"),
                &format!(
                    "sources = \"sources\"\nmode = \"demo\"\n[database]\nurl = \"sqlite://a\"\n{extra}"
                ),
            )
        };
        let s = load("").unwrap();
        assert_eq!(s.server, ServerSettings::default());
        assert_eq!(s.server.header_read_timeout, Duration::from_secs(10));
        assert_eq!(s.server.max_connections_per_ip, 256);
        assert_eq!(s.rate_limit.unauthenticated_per_second, 10);
        assert_eq!(s.rate_limit.unauthenticated_burst, 50);

        let s = load(
            "[server]\nheader_read_timeout = \"300ms\"\nmax_connections_per_ip = 3\n\
             [rate_limit]\nunauthenticated_per_second = 2\nunauthenticated_burst = 5\n",
        )
        .unwrap();
        assert_eq!(s.server.header_read_timeout, Duration::from_millis(300));
        assert_eq!(s.server.max_connections_per_ip, 3);
        assert_eq!(s.rate_limit.unauthenticated_per_second, 2);
        assert_eq!(s.rate_limit.unauthenticated_burst, 5);

        for (extra, key) in [
            (
                "[server]\nheader_read_timeout = \"0s\"\n",
                "header_read_timeout",
            ),
            (
                "[server]\nmax_connections_per_ip = 0\n",
                "max_connections_per_ip",
            ),
            (
                "[rate_limit]\nunauthenticated_per_second = 0\n",
                "unauthenticated_per_second",
            ),
            (
                "[rate_limit]\nunauthenticated_burst = 0\n",
                "unauthenticated_burst",
            ),
            ("[rate_limit]\nburst = 0\n", "burst"),
            ("[server]\nmax_connections = 9\n", "max_connections"),
        ] {
            let err = load(extra).unwrap_err().to_string();
            assert!(err.contains(key), "{extra}: {err}");
        }
        // Off: the numbers do not matter.
        assert!(load("[rate_limit]\nenabled = false\nunauthenticated_burst = 0\n").is_ok());
    }

    #[test]
    fn cors_origins_are_read_and_each_must_be_an_origin_as_browsers_send_it() {
        let dir = tempfile::tempdir().unwrap();
        write_catalog(dir.path());
        let load = |extra: &str| {
            Settings::from_toml(
                &dir.path().join("c.toml"),
                &format!(
                    "sources = \"sources\"\nmode = \"demo\"\n[database]\nurl = \"sqlite://a\"\n{extra}"
                ),
            )
        };
        let s = load("").unwrap();
        assert!(s.server.cors_origins.is_empty() && !s.server.cors_loopback);
        let s = load(
            "[server]\ncors_origins = [\"https://app.example.se\", \"http://10.0.0.1:8080\"]\n\
             cors_loopback = true\n",
        )
        .unwrap();
        assert_eq!(
            s.server.cors_origins,
            ["https://app.example.se", "http://10.0.0.1:8080"]
        );
        assert!(s.server.cors_loopback);
        for bad in [
            "*",
            "https://*.example.se",
            "https://app.example.se/",
            "https://app.example.se/app",
            "https://app.example.se:443",
            "https://App.Example.se",
            "app.example.se",
            "ftp://app.example.se",
            "https://user@app.example.se",
        ] {
            let err = load(&format!("[server]\ncors_origins = [{bad:?}]\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("cors_origins"), "{bad}: {err}");
        }
        let demo = Settings::demo(&dir.path().join("sources")).unwrap();
        assert!(demo.server.cors_loopback, "the demo allows local apps");
        assert!(demo.server.cors_origins.is_empty());
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

    const ISSUER: &str = "[[issuers]]\nissuer = \"https://idp.example.se\"\naudience = \"overblick\"\nalgorithm = \"RS256\"\npublic_key_file = \"idp.pem\"\n";

    #[test]
    fn production_refuses_a_simulated_source_naming_the_file_and_the_field() {
        let dir = tempfile::tempdir().unwrap();
        write_catalog(dir.path());
        std::fs::write(
            dir.path().join("sources/b.toml"),
            "id = \"b\"\nname = \"B\"\n[protocol.fhir-r4]\n[care_provider]\nname = \"Region B\"\n[simulator]\ndata = \"demo-data/b\"\n",
        )
        .unwrap();
        let err = with_issuer(dir.path(), ISSUER).unwrap_err().to_string();
        assert!(err.contains("sources/b.toml"), "{err}");
        assert!(err.contains("field `simulator`"), "{err}");

        let demo = Settings::from_toml(
            &dir.path().join("c.toml"),
            "mode = \"demo\"\nsources = \"sources\"\n[database]\nurl = \"sqlite://a\"\n",
        );
        assert!(demo.is_ok(), "a demo configuration may simulate: {demo:?}");
    }

    #[test]
    fn source_error_text_is_kept_from_clients_in_production_and_shown_in_the_demo_unless_set() {
        let dir = tempfile::tempdir().unwrap();
        write_catalog(dir.path());
        let load = |text: &str| {
            Settings::from_toml(&dir.path().join("c.toml"), text)
                .unwrap()
                .graphql
                .redact_source_errors()
        };
        let demo = "mode = \"demo\"\nsources = \"sources\"\n[database]\nurl = \"sqlite://a\"\n";
        assert!(!load(demo), "shown in the demo");
        assert!(load(&format!(
            "{demo}[graphql]\nredact_source_errors = true\n"
        )));
        let production = with_issuer(dir.path(), ISSUER).unwrap();
        assert!(
            production.graphql.redact_source_errors(),
            "kept out in production"
        );
        let shown = with_issuer(
            dir.path(),
            &format!("{ISSUER}\n[graphql]\nredact_source_errors = false\n"),
        )
        .unwrap();
        assert!(!shown.graphql.redact_source_errors());
        assert!(
            !Settings::demo(&dir.path().join("sources"))
                .unwrap()
                .graphql
                .redact_source_errors()
        );
        assert!(
            GraphqlSettings::default().redact_source_errors(),
            "unresolved: kept out"
        );
    }

    fn with_issuer(dir: &Path, issuer: &str) -> Result<Settings, ConfigError> {
        write_catalog(dir);
        Settings::from_toml(
            &dir.join("c.toml"),
            &format!(
                "sources = \"sources\"\n[database]\nurl = \"sqlite://a.sqlite?mode=rwc\"\n{issuer}"
            ),
        )
    }

    #[test]
    fn a_jwks_issuer_reads_its_url_interval_principals_and_renamed_staff_claims() {
        let dir = tempfile::tempdir().unwrap();
        let s = with_issuer(
            dir.path(),
            r#"
[[issuers]]
issuer = "https://siths.example.se"
audience = "overblick"
algorithm = "ES256"
jwks_url = "https://siths.example.se/jwks"
jwks_refresh_interval = "1m"
principals = ["staff"]
[issuers.staff_claims]
care_unit = "unit"
"#,
        )
        .unwrap();
        let i = &s.issuers[0];
        assert_eq!(
            i.key_source(),
            Ok(KeySource::Jwks("https://siths.example.se/jwks"))
        );
        assert_eq!(i.jwks_refresh_interval, Duration::from_secs(60));
        assert!(i.vouches_for(PrincipalType::Staff) && !i.vouches_for(PrincipalType::Person));
        assert_eq!(i.staff_claims.care_unit, "unit");
        assert_eq!(
            i.staff_claims.hsa_id,
            "http://sambi.se/attributes/1/employeeHsaId"
        );
    }

    #[test]
    fn an_issuer_with_both_or_neither_key_source_is_refused_with_both_keys_named() {
        let both = r#"
[[issuers]]
issuer = "https://idp.example.se"
audience = "overblick"
algorithm = "RS256"
public_key_file = "idp.pem"
jwks_url = "https://idp.example.se/jwks"
"#;
        let neither = r#"
[[issuers]]
issuer = "https://idp.example.se"
audience = "overblick"
algorithm = "RS256"
"#;
        for text in [both, neither] {
            let dir = tempfile::tempdir().unwrap();
            let err = with_issuer(dir.path(), text).unwrap_err().to_string();
            assert!(
                err.contains("https://idp.example.se")
                    && err.contains("public_key_file")
                    && err.contains("jwks_url"),
                "{err}"
            );
        }
    }

    #[test]
    fn an_issuer_vouching_for_nobody_or_for_an_unknown_kind_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = with_issuer(
            dir.path(),
            "[[issuers]]\nissuer = \"i\"\naudience = \"a\"\nalgorithm = \"EdDSA\"\npublic_key_file = \"k.pem\"\nprincipals = []\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("principals"), "{err}");
        let err = with_issuer(
            dir.path(),
            "[[issuers]]\nissuer = \"i\"\naudience = \"a\"\nalgorithm = \"EdDSA\"\npublic_key_file = \"k.pem\"\nprincipals = [\"admin\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("admin"), "{err}");
    }
}
