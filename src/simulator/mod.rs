//! The built-in simulators: real HTTP servers on loopback serving care records from files, used
//! by the demo and the tests. FHIR R4 sources, RIV-TA producers behind the national service
//! platform, and the platform's engagement index.
//!
//! - [`FhirStore`] holds one FHIR source's records: one FHIR Bundle per person.
//! - [`start`] serves a store at `http://127.0.0.1:<port>/fhir` and returns a [`SimulatorHandle`]
//!   to switch its [`Behaviour`] (hang, fail, send garbage, ...) and count its requests.
//! - [`rivta`] serves one RIV-TA producer's answers (SOAP, seven contracts) from a data folder,
//!   optionally as an aggregating service and over mutual TLS: [`rivta::start`],
//!   [`RivtaHandle`].
//! - [`engagement`] serves the engagement index's FindContent from a register file:
//!   [`start_engagement_index`], [`EngagementIndexHandle`].
//! - [`start_catalog_simulators`] starts one simulator per simulated source in the catalog, of
//!   the source's protocol (the demo); [`start_catalog`] is the same for callers that keep only
//!   the FHIR handles.
//!
//! What the FHIR searches support is described in `search.rs`. The simulators log resource types,
//! contract names and counts only, never record content or identifiers.

pub mod engagement;
mod fhir_types;
pub mod fixed;
pub mod rivta;
mod search;
mod server;
mod store;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use engagement::{Engagement, EngagementIndex, EngagementIndexHandle};
pub use rivta::{
    PartStatusCode, ProcessingPart, RivtaData, RivtaHandle, ServerTls, SoapBehaviour,
    SoapServerOptions, SyncError,
};
pub use server::{Behaviour, DRIP_CHUNK_BYTES, GARBAGE_BODY, SimulatorHandle, start};
pub use store::FhirStore;

use crate::config::catalog::{ProtocolConfig, SourceEntry};

/// Why simulated data could not be loaded or served.
#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    #[error("cannot read the simulator data folder {}: {source}", path.display())]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("simulator data file {}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error("not a usable FHIR Bundle: {0}")]
    Bundle(String),
    #[error("source file {}: simulator data folder {}: {source}", catalog.display(), data_dir.display())]
    Source {
        catalog: PathBuf,
        data_dir: PathBuf,
        source: Box<SimulatorError>,
    },
    #[error("source file {}: cannot start the simulator: {source}", catalog.display())]
    Start {
        catalog: PathBuf,
        source: std::io::Error,
    },
}

/// The simulators [`start_catalog_simulators`] started. Dropping it stops them.
#[derive(Debug, Default)]
pub struct CatalogSimulators {
    /// One per simulated `fhir-r4` source.
    pub fhir: Vec<SimulatorHandle>,
    /// One per simulated `riv-ta` source.
    pub rivta: Vec<RivtaHandle>,
}

impl CatalogSimulators {
    /// How many simulators run.
    pub fn len(&self) -> usize {
        self.fhir.len() + self.rivta.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The RIV-TA simulator serving `base_url` (a catalog entry's, after the start).
    pub fn rivta_for(&self, base_url: &str) -> Option<&RivtaHandle> {
        self.rivta.iter().find(|h| h.base_url() == base_url)
    }
}

/// Starts a simulator for every catalog entry that is simulated (`simulator` set) and has no
/// `base_url`, of the entry's protocol: a FHIR simulator over its data folder of Bundles, or a
/// RIV-TA simulator over its data folder of contract answers answering for the entry's logical
/// address (see [`rivta`]). Each uses the entry's latency; the entry's `base_url` is set to the
/// simulator's. Keep the returned handles: dropping them stops the simulators. Entries with a
/// `base_url` are left alone.
pub async fn start_catalog_simulators(
    entries: &mut [SourceEntry],
) -> Result<CatalogSimulators, SimulatorError> {
    let mut started = CatalogSimulators::default();
    for entry in entries.iter_mut() {
        let Some(simulator) = &entry.simulator else {
            continue;
        };
        if entry.base_url().is_some() {
            continue;
        }
        let data_dir = simulator.data_dir.clone();
        let latency = simulator.latency;
        let in_source = |source: SimulatorError| SimulatorError::Source {
            catalog: entry.file.clone(),
            data_dir: data_dir.clone(),
            source: Box::new(source),
        };
        let cannot_start = |source: std::io::Error| SimulatorError::Start {
            catalog: entry.file.clone(),
            source,
        };
        let base_url = match &entry.protocol {
            ProtocolConfig::RivTa(rivta) => {
                let data = load_blocking(&data_dir, RivtaData::load_dir)
                    .await
                    .map_err(in_source)?;
                let (people, answers) = (data.person_count(), data.response_count());
                let handle = rivta::start(
                    data,
                    vec![rivta.logical_address.clone()],
                    &SoapServerOptions { latency, tls: None },
                )
                .map_err(cannot_start)?;
                tracing::info!(
                    source = %entry.info.id,
                    base_url = handle.base_url(),
                    people,
                    answers,
                    latency_ms = latency.as_millis() as u64,
                    "simulated RIV-TA source started"
                );
                let url = handle.base_url().to_owned();
                started.rivta.push(handle);
                url
            }
            ProtocolConfig::FhirR4(_) => {
                let store = load_blocking(&data_dir, FhirStore::load_dir)
                    .await
                    .map_err(in_source)?;
                let people = store.person_count();
                let handle = start(store, latency).map_err(cannot_start)?;
                tracing::info!(
                    source = %entry.info.id,
                    base_url = handle.base_url(),
                    people,
                    latency_ms = latency.as_millis() as u64,
                    "simulated source started"
                );
                let url = handle.base_url().to_owned();
                started.fhir.push(handle);
                url
            }
        };
        entry.simulated_at = Some(base_url);
    }
    Ok(started)
}

/// As [`start_catalog_simulators`], returning the FHIR simulators' handles only: the RIV-TA
/// simulators it starts run until the Tokio runtime shuts down ([`RivtaHandle::detach`]). For
/// callers that do not control RIV-TA simulators; others use [`start_catalog_simulators`].
pub async fn start_catalog(
    entries: &mut [SourceEntry],
) -> Result<Vec<SimulatorHandle>, SimulatorError> {
    let started = start_catalog_simulators(entries).await?;
    for handle in started.rivta {
        handle.detach();
    }
    Ok(started.fhir)
}

/// Starts the engagement index simulator over the register file at `register` (see
/// [`engagement`]; the demo's is `sources/registers/engagement-index.toml`), on plain HTTP
/// without latency. Its [`EngagementIndexHandle::base_url`] and
/// [`EngagementIndexHandle::logical_address`] are what `[platform.engagement_index]` needs.
pub async fn start_engagement_index(
    register: &Path,
) -> Result<EngagementIndexHandle, SimulatorError> {
    let index = load_blocking(register, EngagementIndex::load).await?;
    let engagements = index.engagements.len();
    let handle = engagement::start(
        index,
        &SoapServerOptions {
            latency: Duration::ZERO,
            tls: None,
        },
    )
    .map_err(|source| SimulatorError::Start {
        catalog: register.to_owned(),
        source,
    })?;
    tracing::info!(
        base_url = handle.base_url(),
        engagements,
        "simulated engagement index started"
    );
    Ok(handle)
}

/// Runs a loader of files on the blocking pool.
async fn load_blocking<T: Send + 'static>(
    path: &Path,
    load: fn(&Path) -> Result<T, SimulatorError>,
) -> Result<T, SimulatorError> {
    let owned = path.to_owned();
    match tokio::task::spawn_blocking(move || load(&owned)).await {
        Ok(loaded) => loaded,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(SimulatorError::Folder {
            path: path.to_owned(),
            source: std::io::Error::other(e),
        }),
    }
}
