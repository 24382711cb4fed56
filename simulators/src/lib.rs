//! Överblick's simulated care-provider systems: real HTTP servers on loopback serving care
//! records from files, for the demo and the tests, never for a real user (the service's
//! production build does not contain them, and its production configuration refuses a
//! simulated source). FHIR R4 sources, RIV-TA producers behind the national service platform,
//! and the platform's engagement index.
//!
//! - [`server`]: the HTTP server every simulator runs on, with one fault-injection layer for
//!   every protocol: a [`Behaviour`] (hang, delay, status, protocol error such as a SOAP fault,
//!   reset, garbage, truncated, huge, drip, missing required elements) switched at runtime on a
//!   [`SimulatorHandle`], which also counts requests.
//! - [`fhir`]: a FHIR R4 server over a [`FhirStore`] (one Bundle per person):
//!   [`fhir::start`], [`start_fhir_dir`].
//! - [`rivta`]: one RIV-TA producer's answers (SOAP, the seven [`Contract`]s) from a data folder,
//!   optionally as an aggregating service and over mutual TLS: [`rivta::start`],
//!   [`start_rivta_dir`], [`RivtaHandle`].
//! - [`engagement`]: the engagement index's FindContent from a register file:
//!   [`start_engagement_index`], [`EngagementIndexHandle`].
//! - [`control`]: the demo's control panel, switching a running source's behaviour over HTTP.
//! - [`fixed`]: fixed-answer FHIR sources for load tests, without the fault layer (they measure
//!   the gateway, not themselves).
//!
//! What the FHIR searches support is described in `search.rs`. The simulators log resource
//! types, contract names and counts only, never record content or identifiers.

pub mod contracts;
pub mod control;
pub mod engagement;
pub mod fhir;
mod fhir_types;
pub mod fixed;
pub mod notify;
pub mod person;
pub mod rivta;
mod search;
pub mod server;
pub mod shift;
mod soap;
mod store;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use contracts::Contract;
pub use engagement::{Engagement, EngagementIndex, EngagementIndexHandle};
pub use fhir::FhirHandle;
pub use notify::{Change, Changed, NotifyTarget};
pub use rivta::{PartStatusCode, ProcessingPart, RivtaData, RivtaHandle, SyncError};
pub use server::{
    Behaviour, DRIP_CHUNK_BYTES, GARBAGE_BODY, ServerOptions, ServerTls, SimulatorHandle,
};
pub use shift::DateShift;
pub use soap::{HEADERS_NS, REGISTRY_NS, SOAP_ENV};
pub use store::FhirStore;

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
    #[error("cannot start the simulator for {}: {source}", path.display())]
    Start {
        /// The data folder or register it was to serve.
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A running simulator of any protocol.
#[derive(Clone, Debug)]
pub enum Simulator {
    Fhir(FhirHandle),
    RivTa(RivtaHandle),
}

impl Simulator {
    /// The shared server's controls: base URL, behaviour, hits, shutdown.
    pub fn server(&self) -> &SimulatorHandle {
        match self {
            Simulator::Fhir(handle) => handle.server(),
            Simulator::RivTa(handle) => handle.server(),
        }
    }
}

/// Starts a FHIR simulator over a data folder of Bundles named by the patient's 12 digits
/// (`191212121212.json`), with their dates moved by `shift`, answering after `latency`.
pub async fn start_fhir_dir(
    data_dir: &Path,
    latency: Duration,
    shift: DateShift,
) -> Result<FhirHandle, SimulatorError> {
    let store = load_blocking(data_dir, move |dir| FhirStore::load_dir_shifted(dir, shift)).await?;
    let people = store.person_count();
    let handle = fhir::start_live(store, latency).map_err(|source| SimulatorError::Start {
        path: data_dir.to_owned(),
        source,
    })?;
    tracing::debug!(
        base_url = handle.base_url(),
        people,
        latency_ms = latency.as_millis() as u64,
        "simulated FHIR source started"
    );
    Ok(handle)
}

/// Starts a RIV-TA producer over a data folder (see [`rivta`]) with its times moved by `shift`,
/// answering for `logical_address`, after `latency`, on plain HTTP.
pub async fn start_rivta_dir(
    data_dir: &Path,
    logical_address: &str,
    latency: Duration,
    shift: DateShift,
) -> Result<RivtaHandle, SimulatorError> {
    let data = load_blocking(data_dir, move |dir| RivtaData::load_dir_shifted(dir, shift)).await?;
    let (people, answers) = (data.person_count(), data.response_count());
    let handle = rivta::start(
        data,
        vec![logical_address.to_owned()],
        &ServerOptions { latency, tls: None },
    )
    .map_err(|source| SimulatorError::Start {
        path: data_dir.to_owned(),
        source,
    })?;
    tracing::debug!(
        base_url = handle.base_url(),
        people,
        answers,
        latency_ms = latency.as_millis() as u64,
        "simulated RIV-TA source started"
    );
    Ok(handle)
}

/// Starts the engagement index simulator over the register file at `register` (see
/// [`engagement`]), on plain HTTP without latency. Its [`EngagementIndexHandle::base_url`] and
/// [`EngagementIndexHandle::logical_address`] are what the service's
/// `[platform.engagement_index]` needs.
pub async fn start_engagement_index(
    register: &Path,
) -> Result<EngagementIndexHandle, SimulatorError> {
    let index = load_blocking(register, EngagementIndex::load).await?;
    let engagements = index.engagements.len();
    let handle = engagement::start(index, &ServerOptions::default()).map_err(|source| {
        SimulatorError::Start {
            path: register.to_owned(),
            source,
        }
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
    load: impl FnOnce(&Path) -> Result<T, SimulatorError> + Send + 'static,
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
