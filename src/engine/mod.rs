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
use tokio::sync::mpsc;
use tokio::time::timeout_at;

use crate::cache::merged::MergedCache;
use crate::cache::{Answer, CacheKey, Served, SourceCache};
use crate::config::{CacheSettings, EngineSettings, SourcePolicy};
use crate::domain::{Domain, DomainItems, PersonId};
use crate::live::{Cause, Change, Changes};
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
    /// Still being asked (a live overview's event before the source has answered).
    Pending,
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
    changes: Changes,
}

/// A call's place in [`Gathered::outcomes`]: (position of its domain in the request, source
/// index).
type Slot = (usize, usize);

/// The calls of one overview, decided before any is made.
#[derive(Default)]
struct Plan {
    /// Calls no locator decides about.
    direct: Vec<(Slot, Domain)>,
    /// Groups of sources a locator decides about.
    located: Vec<Located>,
}

impl Plan {
    /// Every call the plan may make (a located group's members until its lookup says).
    fn slots(&self) -> impl Iterator<Item = (Slot, Domain)> + '_ {
        self.direct
            .iter()
            .copied()
            .chain(self.located.iter().flat_map(|g| {
                g.members
                    .iter()
                    .map(move |&index| ((g.position, index), g.domain))
            }))
    }
}

/// Sources of one group in one domain, asked after their locator's lookup.
struct Located {
    position: usize,
    domain: Domain,
    locator: usize,
    key: LocateKey,
    members: Vec<usize>,
}

/// One thing that ended while gathering.
enum Arrival {
    Outcome(Slot, SourceOutcome),
    /// A locator's lookup, and the members of its group it left out (never called).
    Lookup(IndexLookup, Vec<Slot>),
}

/// What has arrived so far; calls not yet ended are pending outcomes in their slots.
struct Progress {
    outcomes: std::collections::BTreeMap<Slot, SourceOutcome>,
    index: Vec<IndexLookup>,
}

impl Progress {
    fn new(pending: Vec<(Slot, SourceOutcome)>) -> Self {
        Progress {
            outcomes: pending.into_iter().collect(),
            index: Vec::new(),
        }
    }

    fn add(&mut self, arrival: Arrival) {
        match arrival {
            Arrival::Outcome(slot, outcome) => {
                self.outcomes.insert(slot, outcome);
            }
            Arrival::Lookup(lookup, not_asked) => {
                for slot in not_asked {
                    self.outcomes.remove(&slot);
                }
                self.index.push(lookup);
            }
        }
    }

    fn pending(&self) -> usize {
        self.outcomes
            .values()
            .filter(|o| o.state == FetchState::Pending)
            .count()
    }

    /// A snapshot in a deterministic order: domain, then source order; lookups by domain and
    /// group.
    fn gathered(&self, domains: &[Domain]) -> Gathered {
        let mut index = self.index.clone();
        index.sort_by_key(|l| {
            (
                domains.iter().position(|d| *d == l.domain),
                l.key.scope.clone(),
                l.key.category,
            )
        });
        Gathered {
            outcomes: self.outcomes.values().cloned().collect(),
            index,
        }
    }
}

/// An overview being gathered: what has arrived, and the calls still running in their task.
pub struct Gathering {
    progress: Progress,
    received: mpsc::UnboundedReceiver<Arrival>,
    started: Instant,
    domains: Vec<Domain>,
    task: tokio::task::AbortHandle,
}

impl Gathering {
    /// Waits for the next call (or lookup) to end and takes in whatever else has ended by
    /// then. False when nothing is left to wait for.
    pub async fn next(&mut self) -> bool {
        match self.received.recv().await {
            Some(arrival) => {
                self.progress.add(arrival);
                while let Ok(arrival) = self.received.try_recv() {
                    self.progress.add(arrival);
                }
                true
            }
            None => false,
        }
    }

    /// Waits until every call has ended or `until` has come, whichever is first.
    pub async fn settle(&mut self, until: Instant) {
        while !self.complete() {
            match timeout_at(until.into(), self.next()).await {
                Ok(true) => {}
                Ok(false) | Err(_) => break,
            }
        }
    }

    /// Whether every call has ended.
    pub fn complete(&self) -> bool {
        self.progress.pending() == 0 && self.received.is_closed() && self.received.is_empty()
    }

    /// What has been gathered so far; a pending call's latency is the time waited for it.
    pub fn snapshot(&self) -> Gathered {
        let mut gathered = self.progress.gathered(&self.domains);
        let waited = self.started.elapsed();
        for o in &mut gathered.outcomes {
            if o.state == FetchState::Pending {
                o.latency = waited;
            }
        }
        gathered
    }
}

impl Drop for Gathering {
    /// Nobody waits for the overview any more: its calls stop (what they cached stays).
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Engine {
    pub fn new(sources: Vec<Source>, settings: EngineSettings, cache: &CacheSettings) -> Self {
        Engine {
            sources,
            cache: SourceCache::new(cache),
            merged: MergedCache::new(cache),
            settings,
            locators: Vec::new(),
            metrics: Arc::new(Metrics::new()),
            changes: Changes::default(),
        }
    }

    /// Where changes to patients' data are told to live subscriptions.
    pub fn changes(&self) -> &Changes {
        &self.changes
    }

    /// A source told us that `patient`'s data there changed: its cached answers are forgotten
    /// and the patient's live subscriptions told. False when no source has that id.
    pub async fn source_changed(&self, patient: &PersonId, source_id: &str) -> bool {
        let Some(index) = self
            .sources
            .iter()
            .position(|s| s.adapter.info().id == source_id)
        else {
            return false;
        };
        self.cache.invalidate(patient, index).await;
        self.changes.publish(Change {
            patient: patient.clone(),
            source: Some(source_id.to_owned()),
            cause: Cause::Notified,
        });
        true
    }

    /// A locator (the engagement index) told us `patient`'s engagements changed: every
    /// locator forgets its answers for them, so the next overview asks it again.
    pub fn locations_changed(&self, patient: &PersonId) {
        for locator in &self.locators {
            locator.forget(patient);
        }
    }

    /// The ids of the sources a locator change concerns: those grouped under `scope` (and
    /// `category`, when it names one of the scope's groups) whose logical address is one of
    /// `addresses`. Narrowed as far as the change allows, never to nothing a source could be
    /// behind: when no member has one of the addresses (a source system behind an aggregating
    /// address, say), every member of the group; when no locator groups a source under
    /// `scope`, every source with a logical address.
    pub fn sources_located_at(
        &self,
        scope: &str,
        category: Option<&str>,
        addresses: &[String],
    ) -> Vec<String> {
        let grouped = |wanted: Option<&str>| -> Vec<&Source> {
            self.sources
                .iter()
                .filter(|s| {
                    let info = s.adapter.info();
                    s.adapter.domains().iter().any(|&domain| {
                        self.locators.iter().any(|l| {
                            l.key(&info.id, domain).is_some_and(|k| {
                                k.scope == scope && wanted.is_none_or(|c| k.category == c)
                            })
                        })
                    })
                })
                .collect()
        };
        let mut group = grouped(category);
        if group.is_empty() && category.is_some() {
            group = grouped(None);
        }
        if group.is_empty() {
            group = self
                .sources
                .iter()
                .filter(|s| s.adapter.logical_address().is_some())
                .collect();
        }
        let named: Vec<&Source> = group
            .iter()
            .copied()
            .filter(|s| {
                s.adapter
                    .logical_address()
                    .is_some_and(|a| addresses.iter().any(|x| x == a))
            })
            .collect();
        let chosen = if named.is_empty() { group } else { named };
        chosen
            .into_iter()
            .map(|s| s.adapter.info().id.clone())
            .collect()
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
        let plan = self.plan(domains, admit);
        let (arrivals, mut received) = mpsc::unbounded_channel();
        self.run(
            patient,
            &plan,
            Instant::now() + self.settings.deadline,
            &arrivals,
        )
        .await;
        drop(arrivals);
        let mut progress = Progress::new(Vec::new());
        while let Some(arrival) = received.recv().await {
            progress.add(arrival);
        }
        progress.gathered(domains)
    }

    /// As [`gather_where`](Self::gather_where), but reporting each call as it ends: the
    /// calls run in a task of their own (stopped when the returned [`Gathering`] is dropped),
    /// and [`Gathering::next`] waits for the next one. Until a call ends its source is pending.
    pub fn gather_progressively(
        self: &Arc<Self>,
        patient: &PersonId,
        domains: &[Domain],
        admit: impl Fn(&SourceInfo) -> bool,
    ) -> Gathering {
        let plan = self.plan(domains, admit);
        let pending = plan
            .slots()
            .map(|(slot, domain)| {
                let adapter = &self.sources[slot.1].adapter;
                (
                    slot,
                    SourceOutcome {
                        source: adapter.info().clone(),
                        logical_address: adapter.logical_address().map(Arc::from),
                        domain,
                        state: FetchState::Pending,
                        answer: None,
                        latency: Duration::ZERO,
                        error: None,
                    },
                )
            })
            .collect();
        let (arrivals, received) = mpsc::unbounded_channel();
        let engine = self.clone();
        let patient = patient.clone();
        let deadline = Instant::now() + self.settings.deadline;
        let task = tokio::spawn(async move {
            engine.run(&patient, &plan, deadline, &arrivals).await;
        });
        Gathering {
            progress: Progress::new(pending),
            received,
            started: Instant::now(),
            domains: domains.to_vec(),
            task: task.abort_handle(),
        }
    }

    /// Which calls an overview of `domains` makes: each (domain, source) `admit` lets through,
    /// directly or after a locator's lookup.
    fn plan(&self, domains: &[Domain], admit: impl Fn(&SourceInfo) -> bool) -> Plan {
        let mut plan = Plan::default();
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
                        match plan.located.iter_mut().find(|g| {
                            g.position == position && g.locator == locator && g.key == key
                        }) {
                            Some(group) => group.members.push(index),
                            None => plan.located.push(Located {
                                position,
                                domain,
                                locator,
                                key,
                                members: vec![index],
                            }),
                        }
                    }
                    None => plan.direct.push(((position, index), domain)),
                }
            }
        }
        plan
    }

    /// Makes the calls of `plan`, all at once, each reported on `arrivals` as it ends.
    async fn run(
        &self,
        patient: &PersonId,
        plan: &Plan,
        deadline: Instant,
        arrivals: &mpsc::UnboundedSender<Arrival>,
    ) {
        let mut work: Vec<BoxFuture<'_, ()>> = Vec::new();
        for &((position, index), domain) in &plan.direct {
            work.push(Box::pin(async move {
                let outcome = self
                    .call(index, &self.sources[index], patient, domain, deadline)
                    .await;
                // The receiver is gone only when nobody waits for the overview any more.
                let _ = arrivals.send(Arrival::Outcome((position, index), outcome));
            }));
        }
        for group in &plan.located {
            work.push(Box::pin(self.located_calls(
                &*self.locators[group.locator],
                patient,
                group,
                deadline,
                arrivals,
            )));
        }
        join_all(work).await;
    }

    /// Asks `locator` which of the group's members (sources of one group in one domain) hold
    /// the patient's records, then calls those; all of them when the locator fails.
    async fn located_calls(
        &self,
        locator: &dyn Locator,
        patient: &PersonId,
        group: &Located,
        deadline: Instant,
        arrivals: &mpsc::UnboundedSender<Arrival>,
    ) {
        let Located {
            position,
            domain,
            ref key,
            ref members,
            ..
        } = *group;
        let started = Instant::now();
        let limit = deadline.min(started + locator.timeout());
        let limit_ms = limit.saturating_duration_since(started).as_millis() as u64;
        let found = match timeout_at(limit.into(), locator.locate(patient, key)).await {
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
            key: key.clone(),
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
        let not_asked = members
            .iter()
            .filter(|i| !asked.contains(i))
            .map(|&i| (position, i))
            .collect();
        let _ = arrivals.send(Arrival::Lookup(lookup, not_asked));
        let calls = asked.into_iter().map(|index| async move {
            let outcome = self
                .call(index, &self.sources[index], patient, domain, deadline)
                .await;
            let _ = arrivals.send(Arrival::Outcome((position, index), outcome));
        });
        join_all(calls).await;
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
                notes: fetched.notes,
                fetched_at: Utc::now(),
                arrived: Instant::now(),
                asked: started,
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
        match &result {
            Ok((_, Served::Replaced)) => self.changes.publish(Change {
                patient: patient.clone(),
                source: Some(source.adapter.info().id.clone()),
                cause: Cause::Refreshed,
            }),
            // The answer predates a change the source announced: whoever waits for that
            // change (a live subscription that woke and joined this call) is woken again, and
            // its next gather asks the source anew.
            Ok((_, Served::Superseded)) => self.changes.publish(Change {
                patient: patient.clone(),
                source: Some(source.adapter.info().id.clone()),
                cause: Cause::Notified,
            }),
            _ => {}
        }
        let outcome = match result {
            Ok((answer, served)) => SourceOutcome {
                source: info,
                logical_address,
                domain,
                state: match served {
                    Served::Fetched | Served::Replaced => FetchState::FromSource,
                    Served::Cached | Served::Stale | Served::Superseded => FetchState::FromCache,
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
