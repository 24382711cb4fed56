//! A FHIR R4 source's catalog table, `[protocol.fhir-r4]`, and how it builds its adapter.

use std::sync::Arc;

use serde::Deserialize;

use super::FhirSource;
use crate::config::catalog::SourceEntry;
use crate::domain::Domain;
use crate::sources::{
    BuildContext, BuildError, FieldError, Locator, SourceAdapter, SourceConfig, check_base_url,
};

/// `[protocol.fhir-r4]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FhirConfig {
    /// The FHIR server's base URL (`https://fhir.example.se/r4`). Required unless a demo
    /// simulator serves the source.
    #[serde(default)]
    pub base_url: Option<String>,
    /// The environment variable holding the secret the source sends with its change
    /// notifications (`Authorization: Bearer <secret>`, its R4 Subscription's
    /// `channel.header`). Without it the source's notifications are refused.
    #[serde(default)]
    pub notify_secret_env: Option<String>,
    /// The secret itself, set by the demo and the tests (which make one at start) instead of
    /// an environment variable; never read from a file.
    #[serde(skip)]
    pub notify_secret: Option<crate::notify::Secret>,
}

impl SourceConfig for FhirConfig {
    /// FHIR sources share the service's client for sources: nothing of their own.
    type Shared = ();

    fn domains(&self) -> &'static [Domain] {
        &Domain::ALL
    }

    fn check(&mut self, simulated: bool) -> Result<(), FieldError> {
        if self.base_url.is_none() && !simulated {
            return Err(FieldError::new(
                "base_url",
                "required (only simulated demo sources may leave it out)",
            ));
        }
        check_base_url(self.base_url.as_deref())?;
        if let Some(name) = &self.notify_secret_env {
            crate::notify::check_env_name(name)
                .map_err(|message| FieldError::new("notify_secret_env", message))?;
        }
        Ok(())
    }

    fn base_url(&self) -> Option<&str> {
        self.base_url.as_deref()
    }

    async fn shared(_: &BuildContext<'_>) -> Result<(), BuildError> {
        Ok(())
    }

    fn build(
        &self,
        entry: &SourceEntry,
        _: &mut (),
        cx: &BuildContext<'_>,
    ) -> Result<Arc<dyn SourceAdapter>, BuildError> {
        let base_url = entry.base_url().ok_or_else(|| BuildError::Source {
            id: entry.info.id.clone(),
            file: entry.file.clone(),
            message: "no base_url; in the demo the simulator sets it, elsewhere the catalog file \
                      must ([protocol.fhir-r4] base_url)"
                .into(),
        })?;
        let policy = entry.policy(&cx.settings.policy);
        Ok(Arc::new(FhirSource::new(
            Arc::new(entry.info.clone()),
            base_url,
            entry.domains.clone(),
            cx.http.with_max_body_bytes(policy.max_body_bytes),
        )))
    }

    #[cfg(feature = "demo")]
    async fn simulate(
        &self,
        simulator: &crate::config::catalog::SimulatorEntry,
    ) -> Result<overblick_simulators::Simulator, overblick_simulators::SimulatorError> {
        overblick_simulators::start_fhir_dir(
            &simulator.data_dir,
            simulator.latency,
            overblick_simulators::DateShift::days(simulator.date_shift_days),
        )
        .await
        .map(overblick_simulators::Simulator::Fhir)
    }

    fn locator(_: (), _: &BuildContext<'_>) -> Result<Option<Arc<dyn Locator>>, BuildError> {
        Ok(None)
    }
}
