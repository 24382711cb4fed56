//! `Subscription.overview`: one overview as its sources answer (the fast ones at once, the slow
//! ones as they come), and with `live: true` again whenever a source's data changes. Before
//! every event the access rules are decided again; every event that carries data the
//! subscriber had not yet been sent is in the access log before it leaves. What a subscriber
//! may hold open is bounded: subscriptions per subject and in all, lifetime, idleness, and the
//! events kept for one who does not read them.
//!
//! Each event is the whole overview as it then stands, not a patch: a client renders an event
//! as it renders a query's answer, an event lost or skipped costs nothing, and the merge (which
//! may join a late source's record with one already shown) never has to be replayed on the
//! client.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::{Context, Result, Subscription};
use chrono::Utc;
use futures::Stream;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, sleep_until, timeout};

use super::overview::{ListFilter, Overview, list_filters};
use super::scalars::PersonIdScalar;
use super::{
    Opened, PurposeArg, Reader, access_record, coded_error, codes, open, reader, refused,
    selected_domains, write_record,
};
use crate::access::SourceAccess;
use crate::access::gate::Gate;
use crate::audit::AuditLog;
use crate::cache::Answer;
use crate::config::SubscriptionSettings;
use crate::domain::Domain;
use crate::engine::{Engine, FetchState, Gathered};
use crate::metrics::Metrics;

/// Every subscription.
#[derive(Default)]
pub struct Subscription;

#[Subscription]
impl Subscription {
    /// The care overview of `patient`, as `Query.overview` gives it (same arguments, same
    /// selection, same access rules), as a stream of events. The first event comes as soon as
    /// every source has answered or a short first-answer budget has passed (150 ms unless
    /// configured), whichever is first: sources still working are `PENDING` in `sources`.
    /// Each later event is the whole overview as it then stands, until the event with
    /// `complete: true` (every source answered, failed or timed out). With `live: true` the
    /// stream then stays open and sends the overview again whenever a source's data changes
    /// (its notification, or a refreshed answer that differs), with `sources.changed` saying
    /// where.
    ///
    /// The access rules are decided again before every event: when they no longer allow what
    /// the stream shows, it ends with that error (`FORBIDDEN` for a revoked delegation or
    /// ended care relationship, `CONSENT_REQUIRED` for a withdrawn consent, `ACCESS_CHANGED`
    /// when what may be shown changed otherwise). Every event with data not sent before is in
    /// the access log first. Limits: `TOO_MANY_SUBSCRIPTIONS`, `SUBSCRIPTION_ENDED` (lifetime
    /// or idleness), `SLOW_CONSUMER` (events not read).
    async fn overview(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Whose overview; the signed-in person's when left out.")] patient: Option<
            PersonIdScalar,
        >,
        #[graphql(desc = "Care staff: why you open the overview. Not for patients and relatives.")]
        purpose: Option<PurposeArg>,
        #[graphql(
            desc = "Care staff: why, in words. Required for EMERGENCY, and must be visible: spaces, zero-width and other invisible characters alone are no reason."
        )]
        reason: Option<String>,
        #[graphql(
            desc = "Stay open after the overview is complete and send it again when a source's data changes.",
            default = false
        )]
        live: bool,
    ) -> Result<impl Stream<Item = Result<Overview>> + use<>> {
        let subscribers = ctx.data_unchecked::<Arc<Subscribers>>().clone();
        let request = super::request(ctx)?;
        let slot = subscribers.admit(&format!(
            "{}\u{0}{}",
            request.principal.issuer, request.principal.subject
        ))?;
        let opened = open(ctx, patient, purpose, reason).await?;
        let engine = ctx.data_unchecked::<Arc<Engine>>().clone();
        let gate = ctx.data_unchecked::<Arc<Gate>>().clone();
        let ask = opened.ask(Utc::now());
        let reader = reader(&gate, &opened.request, &ask, false).await;
        let settings = subscribers.settings.clone();
        let (events, received) = mpsc::channel(settings.buffer.max(1));
        let dropped = Arc::new(AtomicBool::new(false));
        let producer = Producer {
            engine,
            gate,
            audit: ctx.data_unchecked::<Arc<dyn AuditLog>>().clone(),
            selected: selected_domains(ctx),
            filters: list_filters(ctx),
            opened,
            reader,
            live,
            settings,
            sent: HashMap::new(),
            started: false,
            events,
            dropped: dropped.clone(),
            _slot: slot,
        };
        tokio::spawn(producer.run());
        Ok(futures::stream::unfold(
            (received, dropped, false),
            |(mut received, dropped, ended)| async move {
                if ended {
                    return None;
                }
                match received.recv().await {
                    Some(event) => Some((event, (received, dropped, false))),
                    // The producer gave up on a subscriber that did not read: say so last.
                    None if dropped.load(Ordering::Relaxed) => Some((
                        Err(coded_error(
                            codes::SLOW_CONSUMER,
                            "events were not read fast enough and the subscription was ended; subscribe again",
                        )),
                        (received, dropped, true),
                    )),
                    None => None,
                }
            },
        ))
    }
}

/// The subscriptions open on this replica, per subject and in all.
pub struct Subscribers {
    settings: SubscriptionSettings,
    open: Mutex<(usize, HashMap<String, usize>)>,
    /// Open subscriptions and why they ended, for operators.
    metrics: Arc<Metrics>,
}

impl Subscribers {
    pub fn new(settings: SubscriptionSettings, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Subscribers {
            settings,
            open: Mutex::new((0, HashMap::new())),
            metrics,
        })
    }

    /// A place for one more subscription of `subject`, or `TOO_MANY_SUBSCRIPTIONS`.
    fn admit(self: &Arc<Self>, subject: &str) -> Result<Place> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let (total, per_subject) = &mut *open;
        let mine = per_subject.get(subject).copied().unwrap_or(0);
        if *total >= self.settings.max_total || mine >= self.settings.max_per_subject {
            return Err(coded_error(
                codes::TOO_MANY_SUBSCRIPTIONS,
                format!(
                    "too many open subscriptions (at most {} per user and {} in all); close one first",
                    self.settings.max_per_subject, self.settings.max_total
                ),
            ));
        }
        *total += 1;
        per_subject.insert(subject.to_owned(), mine + 1);
        self.metrics.subscriptions_open.inc();
        Ok(Place {
            subscribers: self.clone(),
            subject: subject.to_owned(),
        })
    }

    /// Subscriptions open now (for metrics and tests).
    pub fn open(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).0
    }
}

/// One open subscription's place; given back when it ends.
struct Place {
    subscribers: Arc<Subscribers>,
    subject: String,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut open = self
            .subscribers
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let (total, per_subject) = &mut *open;
        *total -= 1;
        self.subscribers.metrics.subscriptions_open.dec();
        if let Some(n) = per_subject.get_mut(&self.subject) {
            *n -= 1;
            if *n == 0 {
                per_subject.remove(&self.subject);
            }
        }
    }
}

/// How a source stood in an event, as far as a reader would notice.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Standing {
    Pending,
    Answered,
    Stale,
    Missing,
}

fn standing(state: FetchState) -> Standing {
    match state {
        FetchState::Pending => Standing::Pending,
        FetchState::FromSource | FetchState::FromCache | FetchState::Unknown => Standing::Answered,
        FetchState::StaleSourceFailed => Standing::Stale,
        FetchState::Failed | FetchState::TimedOut => Standing::Missing,
    }
}

/// Why the producer stopped before the stream's natural end.
enum Stop {
    /// The subscriber is gone, or was dropped for not reading: nothing more to send. With why,
    /// for the metrics.
    Gone(&'static str),
    /// An error to send as the stream's last event, with why the stream ended (for the
    /// metrics).
    Error(&'static str, async_graphql::Error),
}

/// What one (source, domain) pair was when last sent.
struct Sent {
    answer: Option<Arc<Answer>>,
    standing: Standing,
}

/// Gathers, decides, logs and sends one subscription's events, in a task of its own.
struct Producer {
    engine: Arc<Engine>,
    gate: Arc<Gate>,
    audit: Arc<dyn AuditLog>,
    opened: Opened,
    /// Every domain the selection asks for (for refusal records).
    selected: Vec<Domain>,
    filters: Vec<(Domain, Option<ListFilter>)>,
    reader: Reader,
    live: bool,
    settings: SubscriptionSettings,
    sent: HashMap<(String, Domain), Sent>,
    /// Whether the subscription's start is in the access log.
    started: bool,
    events: mpsc::Sender<Result<Overview>>,
    dropped: Arc<AtomicBool>,
    _slot: Place,
}

impl Producer {
    async fn run(mut self) {
        let reason = match self.stream().await {
            Ok(()) => "complete",
            Err(Stop::Gone(reason)) => reason,
            Err(Stop::Error(reason, error)) => {
                // The last word; a subscriber who cannot take it has gone anyway.
                let _ = self.events.try_send(Err(error));
                reason
            }
        };
        self.engine.metrics().subscription_ended(reason);
    }

    async fn stream(&mut self) -> Result<(), Stop> {
        let started = Instant::now();
        // Listening from the start: a change during the first round is not missed.
        let mut changes = self.engine.changes().subscribe(&self.opened.patient);
        let view = self.opened.grant.view.clone();
        let mut gathering =
            self.engine
                .gather_progressively(&self.opened.patient, &self.opened.domains, |info| {
                    view.source(info) != SourceAccess::Skip
                });
        let first = std::time::Instant::now() + self.settings.first_answer;
        tokio::select! {
            _ = gathering.settle(first) => {}
            _ = self.events.closed() => return Err(Stop::Gone("client_gone")),
        }
        let mut first_event = true;
        loop {
            let complete = gathering.complete();
            // The first event's access was decided when the subscription opened.
            self.send(gathering.snapshot(), complete, first_event, true)
                .await?;
            first_event = false;
            if complete {
                break;
            }
            tokio::select! {
                _ = gathering.next() => {}
                _ = self.events.closed() => return Err(Stop::Gone("client_gone")),
            }
        }
        drop(gathering);
        if !self.live {
            return Ok(());
        }

        let ends = started + self.settings.max_lifetime;
        let mut last_event = Instant::now();
        loop {
            let idle_ends = last_event + self.settings.idle_timeout;
            tokio::select! {
                change = changes.next() => {
                    if change.is_none() {
                        return Err(Stop::Error("shutdown", ended("the service is restarting")));
                    }
                }
                _ = sleep_until(ends) => return Err(Stop::Error("lifetime", ended("its lifetime is over"))),
                _ = sleep_until(idle_ends) => {
                    return Err(Stop::Error("idle", ended("nothing changed for a long time")));
                }
                _ = self.events.closed() => return Err(Stop::Gone("client_gone")),
            }
            // Changes close together make one event.
            sleep(self.settings.coalesce).await;
            while let Ok(Some(_)) = timeout(Duration::ZERO, changes.next()).await {}
            // Whatever the change, access first: it may be the change (a consent withdrawn).
            self.decide_again().await?;
            let view = self.opened.grant.view.clone();
            let gathered = tokio::select! {
                g = self.engine.gather_where(&self.opened.patient, &self.opened.domains, |info| {
                    view.source(info) != SourceAccess::Skip
                }) => g,
                _ = self.events.closed() => return Err(Stop::Gone("client_gone")),
            };
            if self.send(gathered, true, true, false).await? {
                last_event = Instant::now();
            }
        }
    }

    /// Sends `gathered` as an event when it shows something not sent before (always, when
    /// `always`): the access rules decided again first (unless `decided` a moment ago), the
    /// access written to the log when it carries new data. True when sent.
    async fn send(
        &mut self,
        gathered: Gathered,
        complete: bool,
        decided: bool,
        always: bool,
    ) -> Result<bool, Stop> {
        let first = !self.started;
        let mut changed = Vec::new();
        let mut news = false;
        let mut shown = HashMap::new();
        for outcome in &gathered.outcomes {
            let key = (outcome.source.id.clone(), outcome.domain);
            let now = standing(outcome.state);
            let before = self.sent.get(&key);
            let new_data = match (&outcome.answer, before.and_then(|s| s.answer.as_ref())) {
                (Some(answer), Some(sent)) => {
                    !Arc::ptr_eq(answer, sent) && !answer.items.same_records(&sent.items)
                }
                (Some(_), None) => true,
                (None, _) => false,
            };
            if new_data {
                changed.push(key.clone());
            }
            news |= new_data || before.is_none_or(|s| s.standing != now);
            shown.insert(
                key,
                Sent {
                    answer: outcome.answer.clone(),
                    standing: now,
                },
            );
        }
        if !news && !always {
            return Ok(false);
        }
        if !decided {
            self.decide_again().await?;
        }
        if first || !changed.is_empty() {
            // Only the sources whose data this event brings anew are in its record.
            let fresh = Gathered {
                outcomes: gathered
                    .outcomes
                    .iter()
                    .filter(|o| {
                        changed
                            .iter()
                            .any(|(id, d)| *id == o.source.id && *d == o.domain)
                    })
                    .cloned()
                    .collect(),
                index: Vec::new(),
            };
            let ask = self.opened.ask(Utc::now());
            let record = access_record(
                &self.opened.request,
                &ask,
                Some(&self.opened.grant),
                &self.opened.domains,
                &self.opened.refusals,
                &fresh,
                "granted",
                self.reader.clone(),
            );
            write_record(self.audit.as_ref(), &self.opened.request, &record)
                .await
                .map_err(|e| Stop::Error("error", e))?;
            self.started = true;
        }
        self.sent = shown;
        let event = Overview::new(
            self.opened.patient.clone(),
            gathered,
            self.engine.clone(),
            self.opened.grant.clone(),
            self.filters.clone(),
        )
        .into_event(complete, changed, self.opened.grant.consent_missing);
        match self.events.try_send(Ok(event)) {
            Ok(()) => Ok(true),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.dropped.store(true, Ordering::Relaxed);
                tracing::warn!(
                    request_id = %self.opened.request.request_id,
                    "subscriber did not read its events; subscription ended"
                );
                Err(Stop::Gone("slow_consumer"))
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Stop::Gone("client_gone")),
        }
    }

    /// The access rules again, as for a new overview: a refusal is logged and ends the stream
    /// with its code; a grant that no longer shows what the stream showed ends it too.
    async fn decide_again(&self) -> Result<(), Stop> {
        let decided = self.gate.decide(&self.opened.ask(Utc::now())).await;
        match decided {
            Ok(grant) if grant == self.opened.grant => Ok(()),
            Ok(grant) => {
                let error = if grant.consent_missing && !self.opened.grant.consent_missing {
                    coded_error(
                        codes::CONSENT_REQUIRED,
                        "the patient's consent for your care unit has ended: other care providers' data can no longer be shown; subscribe again to see your own care provider's",
                    )
                } else {
                    coded_error(
                        codes::ACCESS_CHANGED,
                        "what you may see of this overview has changed (a consent, block or delegation); subscribe again",
                    )
                };
                Err(Stop::Error("access", error))
            }
            Err(refusal) => Err(Stop::Error(
                "access",
                refused(
                    &self.gate,
                    self.audit.as_ref(),
                    &self.opened.asking,
                    &self.selected,
                    refusal,
                )
                .await,
            )),
        }
    }
}

fn ended(why: &str) -> async_graphql::Error {
    coded_error(
        codes::SUBSCRIPTION_ENDED,
        format!("the subscription ended: {why}; subscribe again to go on"),
    )
}
