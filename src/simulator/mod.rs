//! The built-in FHIR R4 simulator: real HTTP servers on loopback serving care records from files,
//! used by the demo and the tests.
//!
//! - [`FhirStore`] holds one source's records: one FHIR Bundle per person.
//! - [`start`] serves a store at `http://127.0.0.1:<port>/fhir` and returns a [`SimulatorHandle`]
//!   to switch its [`Behaviour`] (hang, fail, send garbage, ...) and count its requests.
//! - [`start_catalog`] starts one simulator per simulated source in the catalog (the demo).
//!
//! What the searches support is described in `search.rs`. The simulator logs resource types and
//! counts only, never record content or identifiers.

mod fhir_types;
pub mod fixed;
mod search;
mod server;
mod store;

use std::path::PathBuf;

pub use server::{Behaviour, GARBAGE_BODY, SimulatorHandle, start};
pub use store::FhirStore;

use crate::config::catalog::SourceEntry;

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

/// Starts a simulator for every catalog entry that is simulated (`simulator` set) and has no
/// `base_url`, loading its data folder and using its latency, and sets the entry's `base_url` to
/// the simulator's. Keep the returned handles: dropping them stops the simulators. Entries with
/// a `base_url` are left alone.
pub async fn start_catalog(
    entries: &mut [SourceEntry],
) -> Result<Vec<SimulatorHandle>, SimulatorError> {
    let mut handles = Vec::new();
    for entry in entries.iter_mut() {
        let Some(simulator) = &entry.simulator else {
            continue;
        };
        if entry.base_url.is_some() {
            continue;
        }
        let data_dir = simulator.data_dir.clone();
        let latency = simulator.latency;
        let loading = data_dir.clone();
        let loaded = match tokio::task::spawn_blocking(move || FhirStore::load_dir(&loading)).await
        {
            Ok(loaded) => loaded,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(SimulatorError::Folder {
                path: data_dir.clone(),
                source: std::io::Error::other(e),
            }),
        };
        let store = loaded.map_err(|source| SimulatorError::Source {
            catalog: entry.file.clone(),
            data_dir: data_dir.clone(),
            source: Box::new(source),
        })?;
        let people = store.person_count();
        let handle = start(store, latency).map_err(|source| SimulatorError::Start {
            catalog: entry.file.clone(),
            source,
        })?;
        tracing::info!(
            source = %entry.info.id,
            base_url = handle.base_url(),
            people,
            latency_ms = latency.as_millis() as u64,
            "simulated source started"
        );
        entry.base_url = Some(handle.base_url().to_owned());
        handles.push(handle);
    }
    Ok(handles)
}
