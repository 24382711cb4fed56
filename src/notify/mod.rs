//! Change notifications from sources: who may send them (a shared secret per FHIR source, and
//! one for the platform's engagement index), which patients each concerns, and what it does:
//! the engine forgets those patients' fresh cached answers of the sources concerned (the stale
//! copies stay, for when a source then fails), the engagement index's remembered answers for
//! them are forgotten, and their live subscriptions are told (`live::Cause::Notified`), which
//! re-gather and push a new overview.
//!
//! Reading a notification is the protocol's (`sources::fhir::notification`,
//! `sources::rivta::notification`); carrying bytes in and answers out is the HTTP edge's
//! (`http::notify`). Nothing here logs a patient or puts one in a metric label: notifications
//! are counted by source id and outcome only. They are not written to the access log: nobody
//! reads a patient's data by sending one, and what a live subscriber is then shown is logged as
//! every event is.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use crate::config::Settings;
use crate::config::catalog::ProtocolConfig;
use crate::domain::PersonId;
use crate::engine::Engine;
use crate::metrics::{Metrics, NotificationLabels};
use crate::sources::SourceError;
use crate::sources::fhir::notification::{self as fhir, About, Kind};
use crate::sources::rivta::notification as rivta;

/// The most references to the source's own resources one FHIR notification may ask us to
/// resolve (each may cost a read from the source).
pub const MAX_REFERENCES: usize = 100;

/// How long resolving a notification's references may take in all before the source is told
/// to try again.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);

/// The metric label of notifications from the platform.
const PLATFORM: &str = "platform";

/// A shared secret a source sends with its notifications. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(Arc<str>);

impl Secret {
    /// A secret of this text; `None` when it is blank (a blank secret would let anyone in).
    pub fn new(text: &str) -> Option<Secret> {
        let text = text.trim();
        (!text.is_empty()).then(|| Secret(text.into()))
    }

    /// A fresh random secret (32 bytes, hex): what the demo and the tests give their sources.
    pub fn generate() -> Secret {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).expect("the system's random source works");
        Secret(
            bytes
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                .into(),
        )
    }

    /// The secret's text, to hand to the source that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is the secret, compared in constant time (for equal lengths).
    pub fn matches(&self, presented: &[u8]) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(self.0.as_bytes(), presented).is_ok()
    }

    /// Whether an `Authorization` header value carries the secret as `Bearer <secret>`.
    pub fn authorizes(&self, authorization: Option<&[u8]>) -> bool {
        let Some(value) = authorization else {
            return false;
        };
        let Some(space) = value.iter().position(|&b| b == b' ') else {
            return false;
        };
        let (scheme, rest) = value.split_at(space);
        scheme.eq_ignore_ascii_case(b"bearer") && self.matches(rest.trim_ascii())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Checks the name of an environment variable a setting names: `A-Z`, `0-9` and `_`, not
/// starting with a digit.
pub fn check_env_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err("the name of an environment variable: A-Z, 0-9 and _, not starting with a digit".into())
    }
}

/// Why notifications cannot be set up as the settings say.
#[derive(Debug, thiserror::Error)]
pub enum NotifyConfigError {
    #[error(
        "source file {file}: [protocol.fhir-r4] `notify_secret_env`: the environment variable {var} is not set (or is blank)"
    )]
    SourceSecret { file: String, var: String },
    #[error(
        "[platform] `notify_secret_env`: the environment variable {var} is not set (or is blank)"
    )]
    PlatformSecret { var: String },
}

/// Why a notification was refused. Each becomes one HTTP status and one stable code.
#[derive(Debug)]
pub enum Refusal {
    /// No source with that id takes notifications (404, `UNKNOWN_SOURCE`).
    UnknownSource,
    /// No or the wrong secret (401, `UNAUTHENTICATED`).
    Unauthenticated,
    /// The body cannot be read as a notification (400, `INVALID_NOTIFICATION`); the text
    /// names the element at fault, never a value.
    Unreadable(String),
    /// The notification names its patient by a reference only the source can resolve, and
    /// the source failed to (503, `SOURCE_ERROR`): it should send the notification again.
    SourceFailed(SourceError),
}

impl Refusal {
    fn outcome(&self) -> &'static str {
        match self {
            Refusal::UnknownSource => "unknown_source",
            Refusal::Unauthenticated => "unauthenticated",
            Refusal::Unreadable(_) => "invalid",
            Refusal::SourceFailed(_) => "unresolved",
        }
    }
}

/// What a notification did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handled {
    /// `changed` (patients' answers forgotten), `ping` (an empty body: nobody named) or
    /// `status` (a handshake or heartbeat).
    pub outcome: &'static str,
    /// How many patients it concerned.
    pub patients: usize,
    /// How many (patient, source) answers were forgotten.
    pub invalidated: usize,
}

/// Takes notifications in and acts on them.
pub struct Notifier {
    engine: Arc<Engine>,
    /// FHIR sources that take notifications, by id, with their secrets.
    fhir: HashMap<String, Secret>,
    /// The engagement index's secret; `None`: its notifications are refused.
    platform: Option<Secret>,
    metrics: Arc<Metrics>,
}

impl Notifier {
    /// The notifier of `settings`' sources: each FHIR source whose catalog file names
    /// `notify_secret_env` (or was given a secret by the demo or a test) takes notifications;
    /// the platform does when `[platform]` does the same. `env` reads an environment variable.
    pub fn new(
        settings: &Settings,
        engine: Arc<Engine>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Notifier, NotifyConfigError> {
        let mut fhir = HashMap::new();
        for entry in &settings.catalog {
            let ProtocolConfig::FhirR4(config) = &entry.protocol else {
                continue;
            };
            let secret = match (&config.notify_secret, &config.notify_secret_env) {
                (Some(secret), _) => secret.clone(),
                (None, Some(var)) => {
                    env(var).as_deref().and_then(Secret::new).ok_or_else(|| {
                        NotifyConfigError::SourceSecret {
                            file: entry.file.display().to_string(),
                            var: var.clone(),
                        }
                    })?
                }
                (None, None) => continue,
            };
            fhir.insert(entry.info.id.clone(), secret);
        }
        let platform = match (
            &settings.platform.notify_secret,
            &settings.platform.notify_secret_env,
        ) {
            (Some(secret), _) => Some(secret.clone()),
            (None, Some(var)) => Some(
                env(var)
                    .as_deref()
                    .and_then(Secret::new)
                    .ok_or_else(|| NotifyConfigError::PlatformSecret { var: var.clone() })?,
            ),
            (None, None) => None,
        };
        let metrics = engine.metrics().clone();
        Ok(Notifier {
            engine,
            fhir,
            platform,
            metrics,
        })
    }

    fn count(&self, source: &str, outcome: &'static str) {
        self.metrics
            .notifications
            .get_or_create(&NotificationLabels {
                source: source.to_owned(),
                outcome,
            })
            .inc();
    }

    /// A FHIR source's notification (`POST /notify/fhir/<source_id>`): `authorization` is the
    /// request's `Authorization` header, `body` its body.
    pub async fn fhir(
        &self,
        source_id: &str,
        authorization: Option<&[u8]>,
        body: &[u8],
    ) -> Result<Handled, Refusal> {
        let Some(secret) = self.fhir.get(source_id) else {
            // The label is fixed: the id in the path is the client's text.
            self.count("unknown", Refusal::UnknownSource.outcome());
            return Err(Refusal::UnknownSource);
        };
        let result = match secret.authorizes(authorization) {
            false => Err(Refusal::Unauthenticated),
            true => self.fhir_authorized(source_id, body).await,
        };
        let outcome = match &result {
            Ok(handled) => handled.outcome,
            Err(refusal) => refusal.outcome(),
        };
        self.count(source_id, outcome);
        match &result {
            Ok(handled) => tracing::info!(
                source = source_id,
                outcome,
                patients = handled.patients,
                invalidated = handled.invalidated,
                "source notification"
            ),
            Err(Refusal::SourceFailed(e)) => tracing::warn!(
                source = source_id,
                outcome,
                error = e.kind(),
                detail = %e.log_text(),
                "source notification: the source could not say whose the changed records are"
            ),
            Err(_) => tracing::warn!(source = source_id, outcome, "source notification refused"),
        }
        result
    }

    async fn fhir_authorized(&self, source_id: &str, body: &[u8]) -> Result<Handled, Refusal> {
        let notification = fhir::read(body).map_err(|e| Refusal::Unreadable(e.0))?;
        match notification.kind {
            // An empty body names nobody: there is no patient whose answers to forget or whose
            // subscribers to tell, and forgetting every patient's answers of the source on
            // every ping would send every overview back to it at once. Its answers expire as
            // usual ([cache] ttl); sources should send `id-only` or `full-resource` payloads.
            Kind::Ping => {
                return Ok(Handled {
                    outcome: "ping",
                    patients: 0,
                    invalidated: 0,
                });
            }
            Kind::Status => {
                return Ok(Handled {
                    outcome: "status",
                    patients: 0,
                    invalidated: 0,
                });
            }
            Kind::Event => {}
        }
        let references = notification
            .about
            .iter()
            .filter(|a| matches!(a, About::Reference(_)))
            .count();
        if references > MAX_REFERENCES {
            return Err(Refusal::Unreadable(format!(
                "the notification names more than {MAX_REFERENCES} resources to resolve; send them in several"
            )));
        }
        let adapter = self
            .engine
            .sources()
            .iter()
            .find(|s| s.adapter.info().id == source_id)
            .map(|s| s.adapter.clone())
            .ok_or(Refusal::UnknownSource)?;
        let resolve = async {
            let mut people = BTreeSet::new();
            for about in &notification.about {
                match about {
                    About::Person(person) => {
                        people.insert(person.clone());
                    }
                    About::Reference(reference) => {
                        people.extend(adapter.resolve_patients(reference).await?);
                    }
                }
            }
            Ok::<_, SourceError>(people)
        };
        let people = tokio::time::timeout(RESOLVE_TIMEOUT, resolve)
            .await
            .map_err(|_| {
                Refusal::SourceFailed(SourceError::Timeout {
                    limit_ms: RESOLVE_TIMEOUT.as_millis() as u64,
                })
            })?
            .map_err(Refusal::SourceFailed)?;
        let mut invalidated = 0;
        for person in &people {
            if self.engine.source_changed(person, source_id).await {
                invalidated += 1;
            }
        }
        Ok(Handled {
            outcome: "changed",
            patients: people.len(),
            invalidated,
        })
    }

    /// The engagement index's `ProcessNotification` (`POST /notify/rivta`).
    pub async fn rivta(
        &self,
        authorization: Option<&[u8]>,
        body: &[u8],
    ) -> Result<Handled, Refusal> {
        let result = match &self.platform {
            None => Err(Refusal::UnknownSource),
            Some(secret) if !secret.authorizes(authorization) => Err(Refusal::Unauthenticated),
            Some(_) => self.rivta_authorized(body).await,
        };
        let outcome = match &result {
            Ok(handled) => handled.outcome,
            Err(refusal) => refusal.outcome(),
        };
        self.count(PLATFORM, outcome);
        match &result {
            Ok(handled) => tracing::info!(
                source = PLATFORM,
                outcome,
                patients = handled.patients,
                invalidated = handled.invalidated,
                "engagement index notification"
            ),
            Err(_) => tracing::warn!(
                source = PLATFORM,
                outcome,
                "engagement index notification refused"
            ),
        }
        result
    }

    async fn rivta_authorized(&self, body: &[u8]) -> Result<Handled, Refusal> {
        let changes = rivta::read(body).map_err(|e| Refusal::Unreadable(e.0))?;
        let mut patients: BTreeSet<&PersonId> = BTreeSet::new();
        let mut concerned: BTreeSet<(&PersonId, String)> = BTreeSet::new();
        for change in &changes {
            if patients.insert(&change.patient) {
                self.engine.locations_changed(&change.patient);
            }
            for id in self.engine.sources_located_at(
                &change.service_domain,
                change.categorization.as_deref(),
                &change.addresses,
            ) {
                concerned.insert((&change.patient, id));
            }
        }
        let mut invalidated = 0;
        for (patient, id) in &concerned {
            if self.engine.source_changed(patient, id).await {
                invalidated += 1;
            }
        }
        Ok(Handled {
            outcome: "changed",
            patients: patients.len(),
            invalidated,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_taken_only_as_a_bearer_credential_and_never_printed() {
        let secret = Secret::new("s3cret-value").unwrap();
        assert!(secret.authorizes(Some(b"Bearer s3cret-value")));
        assert!(secret.authorizes(Some(b"bearer  s3cret-value ")));
        assert!(!secret.authorizes(Some(b"Bearer s3cret-valuf")));
        assert!(!secret.authorizes(Some(b"Basic s3cret-value")));
        assert!(!secret.authorizes(Some(b"s3cret-value")));
        assert!(!secret.authorizes(None));
        assert_eq!(format!("{secret:?}"), "Secret(..)");
        assert!(Secret::new("  ").is_none());
        assert_ne!(Secret::generate().expose(), Secret::generate().expose());
    }

    #[test]
    fn an_environment_variable_name_is_checked() {
        assert!(check_env_name("VC_GOTTSUNDA_NOTIFY_SECRET").is_ok());
        assert!(check_env_name("vc-gottsunda").is_err());
        assert!(check_env_name("1X").is_err());
        assert!(check_env_name("").is_err());
    }
}
