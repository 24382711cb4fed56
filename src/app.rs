//! Assembles the service from checked settings: sources, engine, store (with the access log),
//! authenticator, schema and routes, bound to a listener. `main` and the integration tests both
//! start it here, on any port.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::access::AccessSettings;
use crate::access::directory::{DirectoryFileError, FileDirectory, PopulationDirectory};
use crate::access::gate::Gate;
use crate::audit::AuditLog;
use crate::auth::{AuthConfigError, Authenticator};
use crate::config::catalog::Protocol;
use crate::config::{Mode, Settings};
use crate::domain::PersonId;
use crate::engine::{Engine, Source};
use crate::http::rate_limit::SubjectRateLimiter;
use crate::http::{GraphiqlMode, HttpState, router};
use crate::metrics::Metrics;
use crate::sources::SourceAdapter;
use crate::sources::client::{HttpClient, HttpSettings, TlsSettings};
use crate::sources::fhir::FhirSource;
use crate::sources::rivta::engagement::{EngagementIndex, IndexSettings};
use crate::sources::rivta::{RivtaSettings, RivtaSource};
use crate::store::{Store, StoreError, redact_url};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "source {id} ({file}): no base_url; in the demo the simulator sets it, elsewhere the catalog file must"
    )]
    NoBaseUrl { id: String, file: String },
    #[error("cannot build the HTTP client for sources: {0}")]
    HttpClient(String),
    #[error("[platform]: {0}")]
    Platform(String),
    #[error("source {id} ({file}): no base_url, and [platform] has none either")]
    NoPlatformUrl { id: String, file: String },
    #[error("cannot open the database {url}: {source}")]
    Store {
        /// Without its password.
        url: String,
        source: StoreError,
    },
    #[error(transparent)]
    Auth(#[from] AuthConfigError),
    #[error(transparent)]
    Population(#[from] DirectoryFileError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A built service, bound to its address, not yet serving.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    engine: Arc<Engine>,
    store: Store,
}

impl Application {
    /// Builds everything and binds `settings.listen` (port 0 picks a free port).
    pub async fn build(settings: &Settings) -> Result<Application, StartError> {
        let http = HttpClient::new(&HttpSettings::from(&settings.source_http))
            .map_err(|e| StartError::HttpClient(e.to_string()))?;
        let platform_http = platform_client(settings).await?;
        let mut sources = Vec::with_capacity(settings.catalog.len());
        for entry in &settings.catalog {
            let policy = entry.policy(&settings.policy);
            let adapter: Arc<dyn SourceAdapter> = match (entry.protocol, &entry.rivta) {
                (Protocol::RivTa, Some(rivta)) => {
                    let base_url = entry
                        .base_url
                        .as_deref()
                        .or(settings.platform.base_url.as_deref())
                        .ok_or_else(|| StartError::NoPlatformUrl {
                            id: entry.info.id.clone(),
                            file: entry.file.display().to_string(),
                        })?;
                    let facility = entry
                        .info
                        .default_care_unit
                        .as_ref()
                        .and_then(|u| u.hsa_id.as_ref())
                        .map_or(rivta.logical_address.as_str(), |h| h.as_str());
                    Arc::new(RivtaSource::new(
                        Arc::new(entry.info.clone()),
                        RivtaSettings {
                            base_url: base_url.to_owned(),
                            logical_address: rivta.logical_address.clone(),
                            healthcare_facility: facility.to_owned(),
                            interaction_agreement_id: rivta.interaction_agreement_id.clone(),
                            lab_v3: rivta.lab_v3,
                        },
                        entry.domains.clone(),
                        platform_http.with_max_body_bytes(policy.max_body_bytes),
                    ))
                }
                _ => {
                    let base_url =
                        entry
                            .base_url
                            .as_deref()
                            .ok_or_else(|| StartError::NoBaseUrl {
                                id: entry.info.id.clone(),
                                file: entry.file.display().to_string(),
                            })?;
                    Arc::new(FhirSource::new(
                        Arc::new(entry.info.clone()),
                        base_url,
                        entry.domains.clone(),
                        http.with_max_body_bytes(policy.max_body_bytes),
                    ))
                }
            };
            sources.push(Source::new(adapter, &policy));
        }
        let metrics = Arc::new(Metrics::new());
        let mut engine = Engine::new(sources, settings.engine.clone(), &settings.cache)
            .with_metrics(metrics.clone());
        if let Some(index) = &settings.platform.engagement_index {
            let base_url = index
                .base_url
                .as_deref()
                .or(settings.platform.base_url.as_deref())
                .ok_or_else(|| {
                    StartError::Platform(
                        "[platform.engagement_index]: no base_url, and [platform] has none either"
                            .into(),
                    )
                })?;
            engine = engine.with_engagement_index(EngagementIndex::new(
                &IndexSettings {
                    base_url: base_url.to_owned(),
                    logical_address: index.logical_address.clone(),
                    cache_ttl: index.cache_ttl,
                    timeout: index.timeout,
                },
                platform_http.clone(),
            ));
        }
        let engine = Arc::new(engine);
        let store = Store::open(&settings.database.url)
            .await
            .map_err(|source| StartError::Store {
                url: redact_url(&settings.database.url),
                source,
            })?;
        let audit: Arc<dyn AuditLog> = Arc::new(store.clone());
        let directory: Arc<dyn PopulationDirectory> =
            Arc::new(match &settings.access.population_file {
                Some(path) => FileDirectory::load(path)?,
                None => FileDirectory::empty(),
            });
        let gate = Arc::new(Gate::new(
            store.clone(),
            directory,
            AccessSettings {
                delegation: settings.access.delegation,
            },
        ));
        let auth = Arc::new(Authenticator::new(settings.mode, &settings.issuers).await?);
        let graphiql = match (settings.graphiql, settings.mode) {
            (false, _) => None,
            (true, Mode::Demo) => Some(GraphiqlMode::DemoToken(demo_person())),
            (true, Mode::Production) => Some(GraphiqlMode::Plain),
        };
        let router = router(HttpState {
            schema: crate::graphql::schema_with(engine.clone(), gate, audit, &settings.graphql),
            auth,
            graphiql,
            metrics,
            store: store.clone(),
            max_batch: settings.graphql.max_batch,
            max_body_bytes: settings.graphql.max_body_bytes,
            rate_limit: SubjectRateLimiter::new(&settings.rate_limit).map(Arc::new),
        });
        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| StartError::Listen {
                    addr: settings.listen,
                    source,
                })?;
        Ok(Application {
            listener,
            router,
            engine,
            store,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The routes, to drive in-process without the listener (the fuzz target does).
    pub fn router(&self) -> axum::Router {
        self.router.clone()
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// The database: the access log, consents, blocks, delegations, care relationships.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
    }

    /// Serves in a background task until the process ends (for tests).
    pub fn spawn(self) -> SocketAddr {
        let addr = self.local_addr();
        tokio::spawn(self.run_until(std::future::pending()));
        addr
    }
}

/// The client for the national service platform: the function certificate and the CAs of
/// `[platform]`, the same pool and limits as other sources.
async fn platform_client(settings: &Settings) -> Result<HttpClient, StartError> {
    let read = |path: &std::path::Path| {
        let path = path.to_owned();
        async move {
            tokio::fs::read(&path)
                .await
                .map_err(|e| StartError::Platform(format!("cannot read {}: {e}", path.display())))
        }
    };
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
    HttpClient::with_tls(&HttpSettings::from(&settings.source_http), &tls)
        .map_err(|e| StartError::Platform(format!("cannot use the TLS settings: {e}")))
}

/// The demo's test patient, Tolvan Tolvansson, whom GraphiQL signs in as.
pub fn demo_person() -> PersonId {
    crate::auth::demo::DEMO_PATIENT.id()
}

/// The demo's standing facts, so every role can be tried at once: Karin Lindqvist has a care
/// relationship with Tolvan at Gottsunda vårdcentral (but no consent: registering one is part
/// of the tour), and Tolvan has delegated his medications and bookings to Margareta. Added only
/// when missing, so what a user changed in the demo database stays.
/// Called by the demo command only: tests start from an empty database.
pub async fn seed_demo(store: &Store) -> Result<(), StoreError> {
    use crate::access::records::{NewCareRelationship, NewDelegation};
    use crate::auth::demo::{DEMO_DELEGATE, DEMO_PATIENT, DEMO_STAFF};
    use crate::domain::Domain;

    let now = chrono::Utc::now();
    let tolvan = DEMO_PATIENT.id();
    let karin = DEMO_STAFF.identity();
    let related = store
        .care_relationships(&tolvan)
        .await?
        .iter()
        .any(|r| r.care_unit == karin.care_unit && r.is_active(now));
    if !related {
        store
            .register_care_relationship(&NewCareRelationship {
                patient: tolvan.clone(),
                care_unit: karin.care_unit.clone(),
                care_provider: karin.care_provider.clone(),
                registered_by: karin.hsa_id.clone(),
                valid_from: now,
                valid_until: now + chrono::TimeDelta::days(365),
            })
            .await?;
    }
    let delegated = !store.delegations_granted_by(&tolvan).await?.is_empty();
    if !delegated {
        store
            .grant_delegation(&NewDelegation {
                patient: tolvan,
                delegate: DEMO_DELEGATE.id(),
                domains: vec![Domain::Medications, Domain::Bookings],
                valid_until: now.date_naive() + chrono::TimeDelta::days(180),
            })
            .await?;
    }
    Ok(())
}
