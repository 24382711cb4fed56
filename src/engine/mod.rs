//! The engine: for one overview, asks every source for every selected domain at once, each call
//! under its own time limit inside the request's deadline and through the cache, and reports
//! what happened to each (source, domain) pair. Policy lives here, around the adapters.
//!
//! A protocol may hand the engine a [`Locator`] (RIV-TA's engagement index): the sources it
//! decides about are asked only when it names them for the patient; the lookup runs inside the
//! same deadline, concurrently with every other domain's calls and with the sources no locator
//! covers. When the lookup fails or times out, every source of its group is asked, and the
//! [`IndexLookup`] says so. The engine knows nothing of what a locator asks.
//!
//! Each call goes through the cache first; what reaches a source goes through its [`Guard`]
//! (bulkhead, circuit breaker, retries in a budget), all under the call's time limit.

pub mod policy;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::future::{BoxFuture, join_all};
use tokio::time::timeout_at;

use crate::cache::merged::MergedCache;
use crate::cache::{Answer, CacheKey, Served, SourceCache};
use crate::config::{CacheSettings, EngineSettings, SourcePolicy};
use crate::domain::{Domain, DomainItems, PersonId};
use crate::metrics::{DomainLabels, IndexLabels, Metrics, SourceCallLabels, SourceLabels};
use crate::sources::{LocateKey, Locator, PartStatus, SourceAdapter, SourceError, SourceInfo};
use policy::{Attempts, Guard};

/// A source as the engine runs it: the adapter and the policies around it.
pub struct Source {
    pub adapter: Arc<dyn SourceAdapter>,
    pub guard: Guard,
}

impl Source {
    /// `adapter` under `policy` (checked, see [`SourcePolicy::check`]).
    pub fn new(adapter: Arc<dyn SourceAdapter>, policy: &SourcePolicy) -> Self {
        Source {
            adapter,
            guard: Guard::new(policy),
        }
    }

    pub fn policy(&self) -> &SourcePolicy {
        self.guard.policy()
    }
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
    /// Reported by an aggregating source for a system behind it, with a status code outside
    /// the contract.
    Unknown,
}

/// The outcome of one (source, domain) call.
#[derive(Clone, Debug)]
pub struct SourceOutcome {
    pub source: Arc<SourceInfo>,
    /// The source's logical address on the national service platform (RIV-TA sources).
    pub logical_address: Option<Arc<str>>,
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

    /// What an aggregating source reported for each source system behind it.
    pub fn parts(&self) -> &[PartStatus] {
        self.answer.as_ref().map_or(&[], |a| &a.parts)
    }
}

/// How a locator (the engagement index) was consulted for one group of sources.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexState {
    /// The locator answered during this request.
    Answered,
    /// The locator's answer was remembered from a recent lookup.
    FromCache,
    /// The locator failed or did not answer in time: every source of the group was asked.
    FailedAskedAll,
}

/// One locator lookup: for one domain and group, which of the group's sources were asked.
#[derive(Clone, Debug)]
pub struct IndexLookup {
    pub domain: Domain,
    /// The group (for the engagement index: service domain and categorisation).
    pub key: LocateKey,
    pub state: IndexState,
    /// The sources of the group the viewer may see (those the locator decides about).
    pub considered: Vec<Arc<SourceInfo>>,
    /// How many of them were asked.
    pub asked: usize,
    pub error: Option<Arc<SourceError>>,
    pub latency: Duration,
}

impl IndexLookup {
    /// Source calls the index saved.
    pub fn avoided(&self) -> usize {
        self.considered.len() - self.asked
    }
}

/// Everything gathered for one overview, in a deterministic order (domain, then source order).
#[derive(Clone, Debug, Default)]
pub struct Gathered {
    pub outcomes: Vec<SourceOutcome>,
    /// One entry per (domain, group) a locator was consulted for.
    pub index: Vec<IndexLookup>,
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
    locators: Vec<Arc<dyn Locator>>,
    metrics: Arc<Metrics>,
}

/// A call's place in [`Gathered::outcomes`]: (position of its domain in the request, source
/// index).
type Slot = (usize, usize);

/// What one unit of concurrent work gathered: calls' outcomes, and the index lookup if any.
type Work<'a> = BoxFuture<'a, (Vec<(Slot, SourceOutcome)>, Option<IndexLookup>)>;

impl Engine {
    pub fn new(sources: Vec<Source>, settings: EngineSettings, cache: &CacheSettings) -> Self {
        Engine {
            sources,
            cache: SourceCache::new(cache),
            merged: MergedCache::new(cache),
            settings,
            locators: Vec::new(),
            metrics: Arc::new(Metrics::new()),
        }
    }

    /// Consults `locators` before asking the sources they decide about.
    pub fn with_locators(mut self, locators: Vec<Arc<dyn Locator>>) -> Self {
        self.locators = locators;
        self
    }

    /// Counts into `metrics` (the service's registry) instead of a private one.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
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
        let mut work: Vec<Work<'_>> = Vec::new();
        // Sources a locator decides about, by (domain's position, locator, group).
        let mut located: Vec<(usize, Domain, usize, LocateKey, Vec<usize>)> = Vec::new();
        for (position, &domain) in domains.iter().enumerate() {
            for (index, source) in self.sources.iter().enumerate() {
                let info = source.adapter.info();
                if !source.adapter.domains().contains(&domain) || !admit(info) {
                    continue;
                }
                let group = self
                    .locators
                    .iter()
                    .enumerate()
                    .find_map(|(l, locator)| Some((l, locator.key(&info.id, domain)?)));
                match group {
                    Some((locator, key)) => {
                        match located
                            .iter_mut()
                            .find(|g| g.0 == position && g.2 == locator && g.3 == key)
                        {
                            Some(group) => group.4.push(index),
                            None => located.push((position, domain, locator, key, vec![index])),
                        }
                    }
                    None => work.push(Box::pin(async move {
                        let outcome = self.call(index, source, patient, domain, deadline).await;
                        (vec![((position, index), outcome)], None)
                    })),
                }
            }
        }
        for (position, domain, locator, key, members) in located {
            work.push(Box::pin(self.located_calls(
                &*self.locators[locator],
                patient,
                (position, domain),
                key,
                members,
                deadline,
            )));
        }
        let mut outcomes = Vec::new();
        let mut lookups = Vec::new();
        for (calls, lookup) in join_all(work).await {
            outcomes.extend(calls);
            lookups.extend(lookup);
        }
        outcomes.sort_by_key(|(slot, _)| *slot);
        lookups.sort_by_key(|l| {
            (
                domains.iter().position(|d| *d == l.domain),
                l.key.scope.clone(),
                l.key.category,
            )
        });
        Gathered {
            outcomes: outcomes.into_iter().map(|(_, o)| o).collect(),
            index: lookups,
        }
    }

    /// Asks `locator` which of `members` (sources of one group in one domain) hold the
    /// patient's records, then calls those; all of them when the locator fails.
    async fn located_calls(
        &self,
        locator: &dyn Locator,
        patient: &PersonId,
        (position, domain): (usize, Domain),
        key: LocateKey,
        members: Vec<usize>,
        deadline: Instant,
    ) -> (Vec<(Slot, SourceOutcome)>, Option<IndexLookup>) {
        let started = Instant::now();
        let limit = deadline.min(started + locator.timeout());
        let limit_ms = limit.saturating_duration_since(started).as_millis() as u64;
        let found = match timeout_at(limit.into(), locator.locate(patient, &key)).await {
            Ok(result) => result,
            Err(_) => Err(Arc::new(SourceError::Timeout { limit_ms })),
        };
        let latency = started.elapsed();
        let (state, error, asked): (IndexState, Option<Arc<SourceError>>, Vec<usize>) = match found
        {
            Ok(located) => {
                let named = members
                    .iter()
                    .copied()
                    .filter(|&i| located.sources.contains(&self.sources[i].adapter.info().id))
                    .collect();
                let state = if located.from_cache {
                    IndexState::FromCache
                } else {
                    IndexState::Answered
                };
                (state, None, named)
            }
            Err(error) => {
                tracing::warn!(
                    domain = domain.as_str(),
                    error = error.kind(),
                    detail = %error.log_text(),
                    latency_ms = latency.as_millis() as u64,
                    "engagement index failed; asking every source of the domain"
                );
                (IndexState::FailedAskedAll, Some(error), members.clone())
            }
        };
        let lookup = IndexLookup {
            domain,
            key,
            state,
            considered: members
                .iter()
                .map(|&i| self.sources[i].adapter.info().clone())
                .collect(),
            asked: asked.len(),
            error,
            latency,
        };
        self.metrics
            .index_lookups
            .get_or_create(&IndexLabels {
                domain: domain.as_str(),
                outcome: match state {
                    IndexState::Answered => "answered",
                    IndexState::FromCache => "cached",
                    IndexState::FailedAskedAll => "failed",
                },
            })
            .inc();
        if lookup.avoided() > 0 {
            self.metrics
                .source_calls_avoided
                .get_or_create(&DomainLabels {
                    domain: domain.as_str(),
                })
                .inc_by(lookup.avoided() as u64);
        }
        let calls = asked.into_iter().map(|index| async move {
            let outcome = self
                .call(index, &self.sources[index], patient, domain, deadline)
                .await;
            ((position, index), outcome)
        });
        (join_all(calls).await, Some(lookup))
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
        let call_deadline = deadline.min(started + source.policy().timeout);
        let limit_ms = call_deadline.saturating_duration_since(started).as_millis() as u64;
        let timed_out = || SourceError::Timeout { limit_ms };

        // The call itself, through the source's policies: cancelled (and its connection
        // dropped) when its time is up.
        let mut attempts = Attempts::default();
        let made = &mut attempts;
        let fetch = async {
            let fetched = source
                .guard
                .run(call_deadline, made, || {
                    source.adapter.fetch(patient, domain)
                })
                .await
                // An attempt cut off by the call's own deadline: the source had the call's
                // whole time (its attempt's remainder would read as 2499 ms of 2500).
                .map_err(|e| match e {
                    SourceError::Timeout { .. } if Instant::now() >= call_deadline => timed_out(),
                    e => e,
                })?;
            Ok(Arc::new(Answer {
                items: fetched.items,
                parts: fetched.parts,
                left_out: fetched.left_out,
                fetched_at: Utc::now(),
                arrived: Instant::now(),
            }))
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
        let logical_address = source.adapter.logical_address().map(Arc::from);
        let latency = started.elapsed();
        let outcome = match result {
            Ok((answer, served)) => SourceOutcome {
                source: info,
                logical_address,
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
                    detail = %error.log_text(),
                    latency_ms = latency.as_millis() as u64,
                    attempts = attempts.made,
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
                    logical_address,
                    domain,
                    state,
                    answer: stale,
                    latency,
                    error: Some(error),
                }
            }
        };
        self.count(source, &outcome, attempts);
        outcome
    }

    /// Metrics of one call: its outcome, latency and requests, the breaker's state, the cache.
    fn count(&self, source: &Source, outcome: &SourceOutcome, attempts: Attempts) {
        let m = &self.metrics;
        let label = SourceLabels {
            source: outcome.source.id.clone(),
        };
        let result = match (outcome.state, outcome.error.as_deref()) {
            (FetchState::FromSource, _) => "fresh",
            (FetchState::FromCache, _) => "cached",
            (FetchState::StaleSourceFailed, _) => "stale",
            (_, Some(SourceError::Timeout { .. })) => "timed_out",
            (_, Some(SourceError::Overloaded { .. })) => "shed",
            (_, Some(SourceError::Unavailable { .. })) => "breaker_open",
            _ => "failed",
        };
        m.source_calls
            .get_or_create(&SourceCallLabels {
                source: outcome.source.id.clone(),
                domain: outcome.domain.as_str(),
                outcome: result,
            })
            .inc();
        m.source_latency
            .get_or_create(&label)
            .observe(outcome.latency.as_secs_f64());
        if attempts.made > 0 {
            m.source_requests
                .get_or_create(&label)
                .inc_by(u64::from(attempts.made));
        }
        m.breaker_state
            .get_or_create(&label)
            .set(source.guard.breaker_state().gauge());
        if self.cache.enabled() {
            m.cache_lookup(outcome.state == FetchState::FromCache);
        }
    }
}
