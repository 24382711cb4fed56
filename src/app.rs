//! Assembles the service from checked settings: sources, engine, store (with the access log),
//! authenticator, schema and routes, bound to a listener. `main` and the integration tests both
//! start it here, on any port.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::audit::AuditLog;
use crate::auth::{AuthConfigError, Authenticator};
use crate::config::catalog::Protocol;
use crate::config::{Mode, Settings};
use crate::domain::PersonId;
use crate::engine::{Engine, Source};
use crate::http::{GraphiqlMode, HttpState, router};
use crate::sources::SourceAdapter;
use crate::sources::client::{HttpClient, HttpSettings};
use crate::sources::fhir::FhirSource;
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
    #[error("cannot open the database {url}: {source}")]
    Store {
        /// Without its password.
        url: String,
        source: StoreError,
    },
    #[error(transparent)]
    Auth(#[from] AuthConfigError),
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
        let mut sources = Vec::with_capacity(settings.catalog.len());
        for entry in &settings.catalog {
            let base_url = entry
                .base_url
                .as_deref()
                .ok_or_else(|| StartError::NoBaseUrl {
                    id: entry.info.id.clone(),
                    file: entry.file.display().to_string(),
                })?;
            let adapter: Arc<dyn SourceAdapter> = match entry.protocol {
                Protocol::FhirR4 => Arc::new(FhirSource::new(
                    Arc::new(entry.info.clone()),
                    base_url,
                    entry.domains.clone(),
                    http.clone(),
                )),
            };
            sources.push(Source {
                adapter,
                timeout: entry.timeout.unwrap_or(settings.engine.source_timeout),
            });
        }
        let engine = Arc::new(Engine::new(
            sources,
            settings.engine.clone(),
            &settings.cache,
        ));
        let store = Store::open(&settings.database.url)
            .await
            .map_err(|source| StartError::Store {
                url: redact_url(&settings.database.url),
                source,
            })?;
        let audit: Arc<dyn AuditLog> = Arc::new(store.clone());
        let auth = Arc::new(Authenticator::new(settings.mode, &settings.issuers)?);
        let graphiql = match (settings.graphiql, settings.mode) {
            (false, _) => None,
            (true, Mode::Demo) => Some(GraphiqlMode::DemoToken(demo_person())),
            (true, Mode::Production) => Some(GraphiqlMode::Plain),
        };
        let router = router(HttpState {
            schema: crate::graphql::schema(engine.clone(), audit),
            auth,
            graphiql,
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

/// The demo's test patient, Tolvan Tolvansson.
pub fn demo_person() -> PersonId {
    PersonId::parse("191212121212").expect("Tolvan's personnummer is valid")
}
