//! A RIV-TA source's catalog table, `[protocol.riv-ta]`; the service-wide `[platform]` settings
//! (the function certificate, the engagement index) every RIV-TA source shares; and how they
//! build the adapters and the engagement index's [`Locator`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde::Deserialize;

use super::engagement::{Consulted, EngagementIndex, IndexSettings};
use super::{Contract, DOMAINS, RivtaSettings, RivtaSource};
use crate::config::catalog::SourceEntry;
use crate::domain::{Domain, PersonId};
use crate::sources::client::{HttpClient, HttpSettings, TlsSettings};
use crate::sources::{
    BuildContext, BuildError, FieldError, LocateKey, Located, Locator, SourceAdapter, SourceConfig,
    SourceError, check_base_url,
};

/// `[protocol.riv-ta]`: how the platform addresses one source.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RivtaConfig {
    /// The logical address (HSA-id) the platform routes calls to, and the engagement index
    /// names the source by.
    pub logical_address: String,
    /// The platform's base URL (contract paths are appended); `[platform] base_url` when left
    /// out.
    #[serde(default)]
    pub base_url: Option<String>,
    /// The GetLaboratoryOrderOutcome major version the source answers, 4 (default) or 3.
    #[serde(default)]
    pub lab_contract_version: Option<u8>,
    /// The `interactionAgreementId` GetObservations requires (a UUID agreed with the
    /// producer); the nil UUID when left out.
    #[serde(default)]
    pub interaction_agreement_id: Option<String>,
}

impl RivtaConfig {
    /// Whether GetLaboratoryOrderOutcome v3 is asked instead of v4.
    pub fn lab_v3(&self) -> bool {
        self.lab_contract_version == Some(3)
    }
}

impl SourceConfig for RivtaConfig {
    type Shared = Platform;

    fn domains(&self) -> &'static [Domain] {
        &DOMAINS
    }

    /// A RIV-TA source may leave out `base_url`: `[platform] base_url` stands in.
    fn check(&mut self, _simulated: bool) -> Result<(), FieldError> {
        let address = self.logical_address.trim();
        if address.is_empty() {
            return Err(FieldError::new(
                "logical_address",
                "required (the HSA-id the platform routes to)",
            ));
        }
        self.logical_address = address.to_owned();
        check_base_url(self.base_url.as_deref())?;
        match self.lab_contract_version {
            None | Some(3 | 4) => {}
            Some(other) => {
                return Err(FieldError::new(
                    "lab_contract_version",
                    format!("3 or 4, not {other}"),
                ));
            }
        }
        let agreement = match &self.interaction_agreement_id {
            None => uuid::Uuid::nil(),
            Some(id) => uuid::Uuid::parse_str(id.trim())
                .map_err(|e| FieldError::new("interaction_agreement_id", e.to_string()))?,
        };
        self.interaction_agreement_id = Some(agreement.to_string());
        Ok(())
    }

    fn base_url(&self) -> Option<&str> {
        self.base_url.as_deref()
    }

    async fn shared(cx: &BuildContext<'_>) -> Result<Platform, BuildError> {
        Ok(Platform {
            http: platform_client(cx.settings).await?,
            members: HashMap::new(),
        })
    }

    fn build(
        &self,
        entry: &SourceEntry,
        platform: &mut Platform,
        cx: &BuildContext<'_>,
    ) -> Result<Arc<dyn SourceAdapter>, BuildError> {
        let base_url = entry
            .base_url()
            .or(cx.settings.platform.base_url.as_deref())
            .ok_or_else(|| BuildError::Source {
                id: entry.info.id.clone(),
                file: entry.file.clone(),
                message: "no base_url, and [platform] has none either".into(),
            })?;
        // GetSubjectOfCareSchedule asks by care unit: the source's default unit, else the
        // logical address itself.
        let facility = entry
            .info
            .default_care_unit
            .as_ref()
            .and_then(|u| u.hsa_id.as_ref())
            .map_or(self.logical_address.as_str(), |h| h.as_str());
        let policy = entry.policy(&cx.settings.policy);
        platform.members.insert(
            entry.info.id.clone(),
            (self.logical_address.clone(), self.lab_v3()),
        );
        Ok(Arc::new(RivtaSource::new(
            Arc::new(entry.info.clone()),
            RivtaSettings {
                base_url: base_url.to_owned(),
                logical_address: self.logical_address.clone(),
                healthcare_facility: facility.to_owned(),
                interaction_agreement_id: self
                    .interaction_agreement_id
                    .clone()
                    .unwrap_or_else(|| uuid::Uuid::nil().to_string()),
                lab_v3: self.lab_v3(),
            },
            entry.domains.clone(),
            platform.http.with_max_body_bytes(policy.max_body_bytes),
        )))
    }

    /// A producer answering for the source's logical address.
    #[cfg(feature = "demo")]
    async fn simulate(
        &self,
        simulator: &crate::config::catalog::SimulatorEntry,
    ) -> Result<overblick_simulators::Simulator, overblick_simulators::SimulatorError> {
        overblick_simulators::start_rivta_dir(
            &simulator.data_dir,
            &self.logical_address,
            simulator.latency,
            overblick_simulators::DateShift::days(simulator.date_shift_days),
        )
        .await
        .map(overblick_simulators::Simulator::RivTa)
    }

    fn locator(
        platform: Platform,
        cx: &BuildContext<'_>,
    ) -> Result<Option<Arc<dyn Locator>>, BuildError> {
        let Some(index) = &cx.settings.platform.engagement_index else {
            return Ok(None);
        };
        let base_url = index
            .base_url
            .as_deref()
            .or(cx.settings.platform.base_url.as_deref())
            .ok_or_else(|| BuildError::Settings {
                section: "platform.engagement_index",
                message: "no base_url, and [platform] has none either".into(),
            })?;
        Ok(Some(Arc::new(EngagementLocator {
            index: EngagementIndex::new(
                &IndexSettings {
                    base_url: base_url.to_owned(),
                    logical_address: index.logical_address.clone(),
                    cache_ttl: index.cache_ttl,
                    timeout: index.timeout,
                },
                platform.http,
            ),
            members: platform.members,
        })))
    }
}

/// What the RIV-TA sources of one service share: the platform's client, and every source's
/// logical address (and lab contract version) for the engagement index.
pub struct Platform {
    http: HttpClient,
    /// Source id → (logical address, GetLaboratoryOrderOutcome v3).
    members: HashMap<String, (String, bool)>,
}

/// The client for the national service platform: the function certificate and the CAs of
/// `[platform]`, the same pool settings as other sources.
async fn platform_client(settings: &crate::config::Settings) -> Result<HttpClient, BuildError> {
    async fn read(path: &Path) -> Result<Vec<u8>, BuildError> {
        tokio::fs::read(path)
            .await
            .map_err(|source| BuildError::Read {
                section: "platform",
                path: path.to_owned(),
                source,
            })
    }
    let platform = &settings.platform;
    let mut tls = TlsSettings::default();
    if let (Some(cert), Some(key)) = (&platform.client_certificate, &platform.client_key) {
        let mut pem = read(cert).await?;
        pem.push(b'\n');
        pem.extend(read(key).await?);
        tls.identity_pem = Some(pem);
    }
    if let Some(ca) = &platform.ca_certificates {
        tls.ca_pem = Some(read(ca).await?);
    }
    HttpClient::with_tls(&HttpSettings::from(&settings.source_http), &tls).map_err(|source| {
        BuildError::Client {
            section: "platform",
            source,
        }
    })
}

/// The engagement index as the engine's [`Locator`] for RIV-TA sources: a source is in the
/// group of its contract's service domain and categorisation for a domain, and is asked when
/// the index names its logical address.
struct EngagementLocator {
    index: EngagementIndex,
    members: HashMap<String, (String, bool)>,
}

impl Locator for EngagementLocator {
    fn key(&self, source: &str, domain: Domain) -> Option<LocateKey> {
        let (_, lab_v3) = self.members.get(source)?;
        Contract::for_domain(domain, *lab_v3).map(|c| LocateKey {
            scope: c.service_domain(),
            category: c.categorization(),
        })
    }

    fn timeout(&self) -> Duration {
        self.index.timeout()
    }

    fn locate<'a>(
        &'a self,
        patient: &'a PersonId,
        key: &'a LocateKey,
    ) -> BoxFuture<'a, Result<Located, Arc<SourceError>>> {
        async move {
            let (engagements, consulted) =
                self.index.find(patient, &key.scope, key.category).await?;
            Ok(Located {
                sources: self
                    .members
                    .iter()
                    .filter(|(_, (address, _))| engagements.names(address))
                    .map(|(id, _)| id.clone())
                    .collect(),
                from_cache: consulted == Consulted::Cached,
            })
        }
        .boxed()
    }

    fn forget(&self, patient: &PersonId) {
        self.index.forget(patient);
    }
}

/// `[platform]`: the connection to the national service platform, shared by every `riv-ta`
/// source.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlatformSettings {
    /// The platform's base URL for `riv-ta` sources that do not set their own `base_url`.
    pub base_url: Option<String>,
    /// The function certificate (PEM) presented to the platform; relative to the config file.
    pub client_certificate: Option<PathBuf>,
    /// Its private key (PEM, PKCS#8 or RSA or SEC1); relative to the config file.
    pub client_key: Option<PathBuf>,
    /// CA certificates (PEM) the platform's server certificate must chain to. When set, only
    /// these are trusted for `riv-ta` sources; else the system's roots.
    pub ca_certificates: Option<PathBuf>,
    /// The engagement index; without it every `riv-ta` source is asked every time.
    pub engagement_index: Option<EngagementIndexSettings>,
    /// The environment variable holding the secret the platform sends with its engagement
    /// index notifications (`POST /notify/rivta`, `Authorization: Bearer <secret>`). Without
    /// it they are refused.
    pub notify_secret_env: Option<String>,
    /// The secret itself, set by the demo and the tests instead of an environment variable.
    #[serde(skip)]
    pub notify_secret: Option<crate::notify::Secret>,
}

impl PlatformSettings {
    /// Checks the settings and resolves their paths against the config file's folder.
    pub fn resolve(self, base: &Path) -> Result<PlatformSettings, String> {
        if self.client_certificate.is_some() != self.client_key.is_some() {
            return Err("[platform]: `client_certificate` and `client_key` go together".into());
        }
        if let Some(name) = &self.notify_secret_env {
            crate::notify::check_env_name(name)
                .map_err(|message| format!("[platform]: `notify_secret_env`: {message}"))?;
        }
        Ok(PlatformSettings {
            client_certificate: self.client_certificate.map(|p| base.join(p)),
            client_key: self.client_key.map(|p| base.join(p)),
            ca_certificates: self.ca_certificates.map(|p| base.join(p)),
            ..self
        })
    }
}

/// `[platform.engagement_index]`: where and how to ask the engagement index (`FindContent`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngagementIndexSettings {
    /// The platform base URL serving FindContent; the platform's `base_url` when left out.
    #[serde(default)]
    pub base_url: Option<String>,
    /// The logical address of the engagement index (the national one's HSA-id).
    pub logical_address: String,
    /// How long an answer is reused for the same patient and service domain.
    #[serde(default = "default_index_ttl", with = "humantime_serde")]
    pub cache_ttl: Duration,
    /// Time limit for one FindContent call; the overview falls back to every source when it
    /// passes.
    #[serde(default = "default_index_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

impl EngagementIndexSettings {
    /// The index at `logical_address` served under `base_url`, with the default cache time and
    /// time limit.
    pub fn new(base_url: Option<String>, logical_address: String) -> Self {
        EngagementIndexSettings {
            base_url,
            logical_address,
            cache_ttl: default_index_ttl(),
            timeout: default_index_timeout(),
        }
    }
}

fn default_index_ttl() -> Duration {
    Duration::from_secs(30)
}

fn default_index_timeout() -> Duration {
    Duration::from_millis(800)
}
