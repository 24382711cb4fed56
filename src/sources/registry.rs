//! The protocols the service speaks, registered in one place: each line names a protocol's
//! catalog name and the type of its catalog table (a [`SourceConfig`]). Everything that must
//! know every protocol (the catalog's tagged table, the checks, building adapters and locators)
//! is generated from this list with exhaustive matches, so a protocol added here without the
//! rest of its folder does not compile, and none can fall through to another's.

use std::sync::Arc;

use serde::Deserialize;

use super::{BuildContext, BuildError, FieldError, Locator, SourceAdapter, SourceConfig};
use super::{fhir, rivta};
use crate::config::catalog::SourceEntry;
use crate::domain::Domain;

macro_rules! protocols {
    ($($variant:ident = $name:literal => $config:ty),+ $(,)?) => {
        /// A source's protocol and its settings: the one table under `[protocol]` in its
        /// catalog file, named by the protocol (`[protocol.fhir-r4]`, `[protocol.riv-ta]`).
        #[derive(Clone, Debug, Deserialize)]
        pub enum ProtocolConfig {
            $(
                #[serde(rename = $name)]
                $variant($config),
            )+
        }

        impl ProtocolConfig {
            /// The protocol's catalog name.
            pub fn name(&self) -> &'static str {
                match self {
                    $(ProtocolConfig::$variant(_) => $name,)+
                }
            }

            /// The domains a source of this protocol can answer at all.
            pub fn domains(&self) -> &'static [Domain] {
                match self {
                    $(ProtocolConfig::$variant(config) => config.domains(),)+
                }
            }

            /// Checks the protocol's table; the field named is within `[protocol.<name>]`.
            /// `simulated`: a demo simulator serves the source (it may then lack an address).
            pub fn check(&mut self, simulated: bool) -> Result<(), FieldError> {
                match self {
                    $(ProtocolConfig::$variant(config) => config.check(simulated),)+
                }
            }

            /// Starts the demo's simulator for a source of this protocol.
            #[cfg(feature = "demo")]
            pub async fn simulate(
                &self,
                simulator: &crate::config::catalog::SimulatorEntry,
            ) -> Result<overblick_simulators::Simulator, overblick_simulators::SimulatorError> {
                match self {
                    $(ProtocolConfig::$variant(config) => config.simulate(simulator).await,)+
                }
            }

            /// The base URL the table sets, if any.
            pub fn base_url(&self) -> Option<&str> {
                match self {
                    $(ProtocolConfig::$variant(config) => config.base_url(),)+
                }
            }
        }

        /// Each protocol's shared state while the service's sources are built.
        #[derive(Default)]
        #[allow(non_snake_case)]
        struct Shared {
            $($variant: Option<<$config as SourceConfig>::Shared>,)+
        }

        /// The adapters of every catalog entry, in catalog order, and the locators their
        /// protocols want asked first.
        pub async fn build_sources(
            entries: &[SourceEntry],
            cx: &BuildContext<'_>,
        ) -> Result<(Vec<Arc<dyn SourceAdapter>>, Vec<Arc<dyn Locator>>), BuildError> {
            let mut shared = Shared::default();
            let mut adapters = Vec::with_capacity(entries.len());
            for entry in entries {
                let adapter = match &entry.protocol {
                    $(
                        ProtocolConfig::$variant(config) => {
                            let state = match &mut shared.$variant {
                                Some(state) => state,
                                empty => empty.insert(<$config as SourceConfig>::shared(cx).await?),
                            };
                            config.build(entry, state, cx)?
                        }
                    )+
                };
                adapters.push(adapter);
            }
            let mut locators = Vec::new();
            $(
                if let Some(state) = shared.$variant {
                    locators.extend(<$config as SourceConfig>::locator(state, cx)?);
                }
            )+
            Ok((adapters, locators))
        }
    };
}

protocols! {
    FhirR4 = "fhir-r4" => fhir::FhirConfig,
    RivTa = "riv-ta" => rivta::RivtaConfig,
}
