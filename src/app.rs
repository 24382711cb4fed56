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
use crate::config::{Mode, ServerSettings, Settings};
use crate::domain::PersonId;
use crate::engine::{Engine, Source};
use crate::http::cors::AllowedOrigins;
use crate::http::rate_limit::{AddressRateLimiter, SubjectRateLimiter};
use crate::http::{GraphiqlMode, HttpState, router};
use crate::metrics::Metrics;
use crate::sources::client::{HttpClient, HttpSettings};
use crate::sources::registry::build_sources;
use crate::sources::{BuildContext, BuildError};
use crate::store::{Store, StoreError, redact_url};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "source file {file}: field `simulator`: simulated sources serve demo records; a production service refuses them"
    )]
    SimulatedSource { file: String },
    #[error("cannot build the HTTP client for sources: {0}")]
    HttpClient(#[source] reqwest::Error),
    #[error(transparent)]
    Source(#[from] BuildError),
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
    #[error(transparent)]
    Notify(#[from] crate::notify::NotifyConfigError),
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
    /// The listener's header read timeout and connections per client address.
    server: ServerSettings,
}

impl Application {
    /// Builds everything and binds `settings.listen` (port 0 picks a free port).
    pub async fn build(settings: &Settings) -> Result<Application, StartError> {
        if settings.mode == Mode::Production
            && let Some(entry) = settings.catalog.iter().find(|e| e.simulator.is_some())
        {
            // Settings::from_file refuses these already; settings made in code must not slip
            // a simulated source into production either.
            return Err(StartError::SimulatedSource {
                file: entry.file.display().to_string(),
            });
        }
        let http = HttpClient::new(&HttpSettings::from(&settings.source_http))
            .map_err(StartError::HttpClient)?;
        let (adapters, locators) = build_sources(
            &settings.catalog,
            &BuildContext {
                settings,
                http: &http,
            },
        )
        .await?;
        let sources = adapters
            .into_iter()
            .zip(&settings.catalog)
            .map(|(adapter, entry)| Source::new(adapter, &entry.policy(&settings.policy)))
            .collect();
        let metrics = Arc::new(Metrics::new());
        let engine = Engine::new(sources, settings.engine.clone(), &settings.cache)
            .with_metrics(metrics.clone())
            .with_locators(locators);
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
        let notify = Arc::new(crate::notify::Notifier::new(
            settings,
            engine.clone(),
            |var| std::env::var(var).ok(),
        )?);
        let router = router(HttpState {
            schema: crate::graphql::schema_with(engine.clone(), gate, audit, &settings.graphql),
            auth,
            graphiql,
            metrics,
            store: store.clone(),
            max_batch: settings.graphql.max_batch,
            max_body_bytes: settings.graphql.max_body_bytes,
            rate_limit: SubjectRateLimiter::new(&settings.rate_limit).map(Arc::new),
            address_rate_limit: AddressRateLimiter::new(&settings.rate_limit).map(Arc::new),
            cors: AllowedOrigins {
                origins: settings.server.cors_origins.clone(),
                loopback: settings.server.cors_loopback,
            },
            keep_alive: settings.graphql.subscriptions.keep_alive,
            // As GraphiQL's demo token: the demo issuer's tokens, which the page hands out, are
            // accepted in demo mode only.
            demo_page: settings.mode == Mode::Demo,
            notify,
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
            server: settings.server.clone(),
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
        // Live subscriptions end first (with SUBSCRIPTION_ENDED): an open event stream is a
        // request in flight that would otherwise hold the shutdown until its lifetime is over.
        let engine = self.engine.clone();
        let shutdown = async move {
            shutdown.await;
            engine.changes().close();
        };
        crate::http::server::serve(self.listener, self.router, &self.server, shutdown).await
    }

    /// Serves in a background task until the process ends (for tests).
    pub fn spawn(self) -> SocketAddr {
        let addr = self.local_addr();
        tokio::spawn(self.run_until(std::future::pending()));
        addr
    }
}

/// The demo's test patient, Tolvan Tolvansson, whom GraphiQL signs in as.
pub fn demo_person() -> PersonId {
    crate::auth::demo::DEMO_PATIENT.id()
}

/// The demo's standing facts, so every role can be tried at once: Karin Lindqvist has a care
/// relationship with Tolvan at Gottsunda vårdcentral (but no consent: registering one is part
/// of the tour), Sara Holm has one at Hjärtkliniken Fyris and Tolvan's consent for it (so
/// staff who see other providers' data can be tried too), and Tolvan has delegated his
/// medications and bookings to Margareta. Added only when missing, so what a user changed in
/// the demo database stays.
/// Called by the demo command only: tests start from an empty database.
pub async fn seed_demo(store: &Store) -> Result<(), StoreError> {
    use crate::access::records::NewConsent;
    use crate::access::records::{NewCareRelationship, NewDelegation};
    use crate::auth::demo::{DEMO_DELEGATE, DEMO_PATIENT, DEMO_STAFF, DEMO_STAFF_WITH_CONSENT};
    use crate::domain::Domain;

    let now = chrono::Utc::now();
    let tolvan = DEMO_PATIENT.id();
    for staff in [DEMO_STAFF.identity(), DEMO_STAFF_WITH_CONSENT.identity()] {
        let related = store
            .care_relationships(&tolvan)
            .await?
            .iter()
            .any(|r| r.care_unit == staff.care_unit && r.is_active(now));
        if !related {
            store
                .register_care_relationship(&NewCareRelationship {
                    patient: tolvan.clone(),
                    care_unit: staff.care_unit.clone(),
                    care_provider: staff.care_provider.clone(),
                    registered_by: staff.hsa_id.clone(),
                    valid_from: now,
                    valid_until: now + chrono::TimeDelta::days(365),
                })
                .await?;
        }
    }
    let sara = DEMO_STAFF_WITH_CONSENT.identity();
    // Any consent ever registered for her unit counts as seeded: one the user withdrew in the
    // demo stays withdrawn.
    let consented = store
        .consents(&tolvan)
        .await?
        .iter()
        .any(|c| c.care_unit == sara.care_unit);
    if !consented {
        store
            .register_consent(&NewConsent {
                patient: tolvan.clone(),
                care_unit: sara.care_unit.clone(),
                care_unit_name: sara.care_unit_name.clone(),
                care_provider: sara.care_provider.clone(),
                registered_by: sara.hsa_id.clone(),
                registered_by_name: sara.name.clone(),
                registered_by_profession: sara.profession.clone(),
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
