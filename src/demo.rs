//! The demo's simulated sources (feature `demo`): one simulator per catalog entry with
//! `[simulator]` and no address, of the entry's protocol (each protocol starts its own, see
//! `SourceConfig::simulate`), and the engagement index. The simulators themselves are the
//! `overblick-simulators` crate; a production build contains neither.

use std::path::{Path, PathBuf};

use overblick_simulators::{
    EngagementIndexHandle, RivtaHandle, Simulator, SimulatorError, SimulatorHandle,
};

use crate::config::catalog::SourceEntry;

/// "Today" in the demo's story (see `sources/demo-data/README.md`): the day its records were
/// written around. The demo moves the story so that this day is today.
pub const DEMO_STORY_TODAY: (i32, u32, u32) = (2026, 11, 22);

/// Moves the story of every simulated entry so that the demo story's today is `today`: every
/// date in their records moves by the days between (birth dates excepted), so bookings stay
/// upcoming and last week's results last week's on whatever day the demo runs.
pub fn move_story_to(entries: &mut [SourceEntry], today: chrono::NaiveDate) {
    let (year, month, day) = DEMO_STORY_TODAY;
    let story = chrono::NaiveDate::from_ymd_opt(year, month, day).expect("a real date");
    let days = (today - story).num_days();
    for simulator in entries.iter_mut().filter_map(|e| e.simulator.as_mut()) {
        simulator.date_shift_days = days;
    }
}

/// Why a catalog's simulators could not start.
#[derive(Debug, thiserror::Error)]
#[error("source file {}: {source}", catalog.display())]
pub struct DemoError {
    /// The catalog file of the simulated source.
    pub catalog: PathBuf,
    #[source]
    pub source: SimulatorError,
}

/// The simulators [`start_simulators`] started, by source id. Dropping it stops them.
#[derive(Debug, Default)]
pub struct CatalogSimulators {
    pub started: Vec<(String, Simulator)>,
}

impl CatalogSimulators {
    /// How many simulators run.
    pub fn len(&self) -> usize {
        self.started.len()
    }

    pub fn is_empty(&self) -> bool {
        self.started.is_empty()
    }

    /// The simulator of the source with this id.
    pub fn for_source(&self, id: &str) -> Option<&Simulator> {
        self.started
            .iter()
            .find(|(s, _)| s == id)
            .map(|(_, sim)| sim)
    }

    /// The FHIR simulators, in catalog order.
    pub fn fhir(&self) -> Vec<SimulatorHandle> {
        self.started
            .iter()
            .filter_map(|(_, sim)| match sim {
                Simulator::Fhir(handle) => Some(handle.clone()),
                Simulator::RivTa(_) => None,
            })
            .collect()
    }

    /// The RIV-TA simulators, in catalog order.
    pub fn rivta(&self) -> Vec<RivtaHandle> {
        self.started
            .iter()
            .filter_map(|(_, sim)| match sim {
                Simulator::RivTa(handle) => Some(handle.clone()),
                Simulator::Fhir(_) => None,
            })
            .collect()
    }

    /// The RIV-TA simulator serving `base_url` (a catalog entry's, after the start).
    pub fn rivta_for(&self, base_url: &str) -> Option<RivtaHandle> {
        self.rivta().into_iter().find(|h| h.base_url() == base_url)
    }
}

/// Starts a simulator for every catalog entry that is simulated (`simulator` set) and has no
/// address of its own, of the entry's protocol, with the entry's data folder and latency; the
/// entry's `simulated_at` is set to the simulator's base URL. Keep the returned handles:
/// dropping them stops the simulators. Entries with an address are left alone.
pub async fn start_simulators(entries: &mut [SourceEntry]) -> Result<CatalogSimulators, DemoError> {
    let mut started = CatalogSimulators::default();
    for entry in entries.iter_mut() {
        let Some(simulator) = &entry.simulator else {
            continue;
        };
        if entry.base_url().is_some() {
            continue;
        }
        let running = entry
            .protocol
            .simulate(simulator)
            .await
            .map_err(|source| DemoError {
                catalog: entry.file.clone(),
                source,
            })?;
        tracing::info!(
            source = %entry.info.id,
            protocol = entry.protocol.name(),
            base_url = running.server().base_url(),
            latency_ms = simulator.latency.as_millis() as u64,
            "simulated source started"
        );
        entry.simulated_at = Some(running.server().base_url().to_owned());
        started.started.push((entry.info.id.clone(), running));
    }
    Ok(started)
}

/// As [`start_simulators`], returning the FHIR simulators' handles only: the others run until
/// the Tokio runtime shuts down. For callers that control FHIR simulators only.
pub async fn start_catalog(entries: &mut [SourceEntry]) -> Result<Vec<SimulatorHandle>, DemoError> {
    let started = start_simulators(entries).await?;
    let fhir = started.fhir();
    for (_, simulator) in started.started {
        if let Simulator::RivTa(handle) = simulator {
            handle.detach();
        }
    }
    Ok(fhir)
}

/// Starts the demo's engagement index over its register file.
pub async fn start_engagement_index(register: &Path) -> Result<EngagementIndexHandle, DemoError> {
    overblick_simulators::start_engagement_index(register)
        .await
        .map_err(|source| DemoError {
            catalog: register.to_owned(),
            source,
        })
}
