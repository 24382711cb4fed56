//! The demo's simulated sources (feature `demo`): one simulator per catalog entry with
//! `[simulator]` and no address, of the entry's protocol (each protocol starts its own, see
//! `SourceConfig::simulate`), and the engagement index. The simulators themselves are the
//! `overblick-simulators` crate; a production build contains neither.

use std::path::{Path, PathBuf};

use std::time::Duration;

use overblick_simulators::{
    Change, EngagementIndexHandle, FhirHandle, NotifyTarget, RivtaHandle, Simulator,
    SimulatorError, SimulatorHandle,
};

use crate::config::catalog::{ProtocolConfig, SourceEntry};
use crate::notify::Secret;

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
                Simulator::Fhir(handle) => Some(handle.server().clone()),
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

    /// The FHIR simulator of the source with this id.
    pub fn fhir_for(&self, id: &str) -> Option<FhirHandle> {
        match self.for_source(id)? {
            Simulator::Fhir(handle) => Some(handle.clone()),
            Simulator::RivTa(_) => None,
        }
    }

    /// Points every simulated source's change notifications at the service at `service_url`
    /// (e.g. `http://127.0.0.1:4000`): a FHIR source's with the secret its catalog entry was
    /// given ([`give_notify_secrets`]); a RIV-TA source's, sent as the platform's
    /// ProcessNotification, with `platform_secret` (none: they tell nobody).
    pub fn notify_service(
        &self,
        entries: &[SourceEntry],
        platform_secret: Option<&str>,
        service_url: &str,
    ) {
        let service_url = service_url.trim_end_matches('/');
        for (id, simulator) in &self.started {
            match simulator {
                Simulator::Fhir(handle) => {
                    let secret =
                        entries
                            .iter()
                            .find(|e| e.info.id == *id)
                            .and_then(|e| match &e.protocol {
                                ProtocolConfig::FhirR4(config) => config.notify_secret.clone(),
                                _ => None,
                            });
                    handle.notify_to(secret.map(|secret| NotifyTarget {
                        url: format!("{service_url}/notify/fhir/{id}"),
                        secret: secret.expose().to_owned(),
                    }));
                }
                Simulator::RivTa(handle) => {
                    handle.notify_to(platform_secret.map(|secret| NotifyTarget {
                        url: format!("{service_url}/notify/rivta"),
                        secret: secret.to_owned(),
                    }));
                }
            }
        }
    }

    /// The RIV-TA simulator serving `base_url` (a catalog entry's, after the start).
    pub fn rivta_for(&self, base_url: &str) -> Option<RivtaHandle> {
        self.rivta().into_iter().find(|h| h.base_url() == base_url)
    }
}

/// Gives every simulated FHIR source without a notification secret a fresh one (the demo and
/// the tests set no environment variables), so it may notify the service.
pub fn give_notify_secrets(entries: &mut [SourceEntry]) {
    for entry in entries.iter_mut().filter(|e| e.simulator.is_some()) {
        if let ProtocolConfig::FhirR4(config) = &mut entry.protocol
            && config.notify_secret.is_none()
            && config.notify_secret_env.is_none()
        {
            config.notify_secret = Some(Secret::generate());
        }
    }
}

/// The shortest and longest wait between two of the demo's own changes.
pub const DEMO_CHANGE_EVERY: (Duration, Duration) =
    (Duration::from_secs(20), Duration::from_secs(40));

/// The demo's living source: every 20 to 40 s (at random) `source` changes `person`'s
/// records, a new blood-pressure reading and a moved booking in turn, and notifies the service
/// (see [`CatalogSimulators::notify_service`]), so a live overview visibly updates. Runs until
/// the returned task is aborted or the runtime ends.
pub fn spawn_demo_changes(source: FhirHandle, person: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let (shortest, longest) = DEMO_CHANGE_EVERY;
        let mut next = Change::Measurement;
        loop {
            let spread = (longest - shortest).as_millis() as u64;
            let random = u64::from_le_bytes(
                uuid::Uuid::new_v4().as_bytes()[..8]
                    .try_into()
                    .expect("eight bytes"),
            );
            tokio::time::sleep(shortest + Duration::from_millis(random % spread.max(1))).await;
            match source.change(&person, next).await {
                Ok(changed) => tracing::info!(
                    change = next.name(),
                    notified = changed.notified,
                    "the demo source changed a record"
                ),
                Err(error) => {
                    tracing::warn!(change = next.name(), %error, "the demo source could not change")
                }
            }
            next = match next {
                Change::Measurement => Change::Booking,
                Change::Booking => Change::Measurement,
            };
        }
    })
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
