//! The engine: for one overview, asks every source for every selected domain at once, each call
//! under its own time limit inside the request's deadline and through the cache, and reports
//! what happened to each (source, domain) pair. Policy lives here, around the adapters.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::future::join_all;
use tokio::time::timeout_at;

use crate::cache::merged::MergedCache;
use crate::cache::{Answer, CacheKey, Served, SourceCache};
use crate::config::{CacheSettings, EngineSettings};
use crate::domain::{Domain, DomainItems, PersonId};
use crate::sources::{SourceAdapter, SourceError, SourceInfo};

/// A source as the engine runs it: the adapter and its time limit.
pub struct Source {
    pub adapter: Arc<dyn SourceAdapter>,
    pub timeout: Duration,
}

/// What happened to one (source, domain) call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FetchState {
    /// Fresh from the source during this request.
    FromSource,
    /// From the cache, within its TTL.
    FromCache,
    /// The source failed; cached data within the stale window was served instead.
    StaleSourceFailed,
    /// The source failed and nothing cached could stand in.
    Failed,
    /// The source did not answer in time and nothing cached could stand in.
    TimedOut,
}

/// The outcome of one (source, domain) call.
#[derive(Clone, Debug)]
pub struct SourceOutcome {
    pub source: Arc<SourceInfo>,
    pub domain: Domain,
    pub state: FetchState,
    /// The items, unless the call failed with nothing cached.
    pub answer: Option<Arc<Answer>>,
    /// How long this request spent on the call.
    pub latency: Duration,
    /// Why the source gave no fresh data, when it did not.
    pub error: Option<Arc<SourceError>>,
}

impl SourceOutcome {
    pub fn items(&self) -> Option<&DomainItems> {
        self.answer.as_ref().map(|a| &a.items)
    }

    pub fn fetched_at(&self) -> Option<DateTime<Utc>> {
        self.answer.as_ref().map(|a| a.fetched_at)
    }
}

/// Everything gathered for one overview, in a deterministic order (domain, then source order).
#[derive(Clone, Debug, Default)]
pub struct Gathered {
    pub outcomes: Vec<SourceOutcome>,
}

impl Gathered {
    /// The outcomes for one domain.
    pub fn for_domain(&self, domain: Domain) -> impl Iterator<Item = &SourceOutcome> {
        self.outcomes.iter().filter(move |o| o.domain == domain)
    }
}

pub struct Engine {
    sources: Vec<Source>,
    cache: SourceCache,
    merged: MergedCache,
    settings: EngineSettings,
}

impl Engine {
    pub fn new(sources: Vec<Source>, settings: EngineSettings, cache: &CacheSettings) -> Self {
        Engine {
            sources,
            cache: SourceCache::new(cache),
            merged: MergedCache::new(cache),
            settings,
        }
    }

    pub fn sources(&self) -> &[Source] {
        &self.sources
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    /// Merged lists remembered for unchanged cached answers.
    pub fn merged_lists(&self) -> &MergedCache {
        &self.merged
    }

    /// Asks every source that offers one of `domains` for `patient`'s data, all at once, and
    /// returns when all have answered or the deadline has passed.
    pub async fn gather(&self, patient: &PersonId, domains: &[Domain]) -> Gathered {
        self.gather_where(patient, domains, |_| true).await
    }

    /// As [`gather`](Self::gather), asking only the sources `admit` lets through: a viewer
    /// who may not see a source's data does not make it be fetched.
    pub async fn gather_where(
        &self,
        patient: &PersonId,
        domains: &[Domain],
        admit: impl Fn(&SourceInfo) -> bool,
    ) -> Gathered {
        let deadline = Instant::now() + self.settings.deadline;
        let mut calls = Vec::new();
        for &domain in domains {
            for (index, source) in self.sources.iter().enumerate() {
                if source.adapter.domains().contains(&domain) && admit(source.adapter.info()) {
                    calls.push(self.call(index, source, patient, domain, deadline));
                }
            }
        }
        Gathered {
            outcomes: join_all(calls).await,
        }
    }

    async fn call(
        &self,
        index: usize,
        source: &Source,
        patient: &PersonId,
        domain: Domain,
        deadline: Instant,
    ) -> SourceOutcome {
        let started = Instant::now();
        let call_deadline = deadline.min(started + source.timeout);
        let limit_ms = call_deadline.saturating_duration_since(started).as_millis() as u64;
        let timed_out = || SourceError::Timeout { limit_ms };

        // The call itself: cancelled (and its connection dropped) when its time is up.
        let fetch = async {
            match timeout_at(call_deadline.into(), source.adapter.fetch(patient, domain)).await {
                Ok(Ok(fetched)) => Ok(Arc::new(Answer {
                    items: fetched.items,
                    parts: fetched.parts,
                    fetched_at: Utc::now(),
                    arrived: Instant::now(),
                })),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(timed_out()),
            }
        };
        let key = CacheKey {
            patient: patient.clone(),
            source: index,
            domain,
        };
        // A request that joined another's call still stops waiting at its own deadline.
        let result =
            match timeout_at(call_deadline.into(), self.cache.get_or_fetch(key, fetch)).await {
                Ok(r) => r,
                Err(_) => Err((Arc::new(timed_out()), None)),
            };
        let info = source.adapter.info().clone();
        let latency = started.elapsed();
        match result {
            Ok((answer, served)) => SourceOutcome {
                source: info,
                domain,
                state: match served {
                    Served::Fetched => FetchState::FromSource,
                    Served::Cached | Served::Stale => FetchState::FromCache,
                },
                answer: Some(answer),
                latency,
                error: None,
            },
            Err((error, stale)) => {
                tracing::warn!(
                    source = %info.id,
                    domain = domain.as_str(),
                    error = error.kind(),
                    latency_ms = latency.as_millis() as u64,
                    stale = stale.is_some(),
                    "source call failed"
                );
                let state = match (&stale, error.as_ref()) {
                    (Some(_), _) => FetchState::StaleSourceFailed,
                    (None, SourceError::Timeout { .. }) => FetchState::TimedOut,
                    (None, _) => FetchState::Failed,
                };
                SourceOutcome {
                    source: info,
                    domain,
                    state,
                    answer: stale,
                    latency,
                    error: Some(error),
                }
            }
        }
    }
}
