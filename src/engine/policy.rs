//! The policies the engine applies around each source's calls, whatever its protocol: a
//! bulkhead (a concurrency limit that sheds, never queues), a circuit breaker (fail fast while
//! a source is down, one trial call after a cool-down) and retries (exponential backoff with
//! jitter, never past the call's time limit, within a retry budget per source).

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::time::timeout_at;
use tower::retry::backoff::{Backoff, ExponentialBackoffMaker, MakeBackoff};
use tower::retry::budget::{Budget, TpsBudget};
use tower::util::rng::HasherRng;

use crate::config::SourcePolicy;
use crate::sources::{Fetched, SourceError};

/// A retry is not started with less than this left before the call's time limit: an attempt
/// that cannot finish only adds load.
const MIN_ATTEMPT: Duration = Duration::from_millis(20);

/// How long the retry budget remembers a call (Finagle's and tower's default window).
const BUDGET_WINDOW: Duration = Duration::from_secs(10);

/// The circuit breaker's state, as metrics and tests see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls fail at once until the cool-down ends.
    Open,
    /// The cool-down has ended and one trial call is in progress; others fail at once.
    HalfOpen,
}

impl BreakerState {
    /// The value of the `overblick_source_breaker_state` gauge.
    pub fn gauge(self) -> i64 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::HalfOpen => 1,
            BreakerState::Open => 2,
        }
    }
}

/// What happened inside one guarded call, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attempts {
    /// Requests made to the source (0 when shed or the breaker was open).
    pub made: u32,
}

/// The policies of one source, shared by every call to it.
pub struct Guard {
    policy: SourcePolicy,
    bulkhead: Arc<Semaphore>,
    breaker: Breaker,
    budget: TpsBudget,
}

impl Guard {
    /// A guard for a checked policy (see [`SourcePolicy::check`]).
    pub fn new(policy: &SourcePolicy) -> Self {
        Guard {
            bulkhead: Arc::new(Semaphore::new(policy.max_concurrent)),
            breaker: Breaker::new(policy.breaker_failures, policy.breaker_cool_down),
            budget: TpsBudget::new(
                BUDGET_WINDOW,
                policy.retry_budget_floor,
                policy.retry_budget_percent as f32 / 100.0,
            ),
            policy: policy.clone(),
        }
    }

    pub fn policy(&self) -> &SourcePolicy {
        &self.policy
    }

    pub fn breaker_state(&self) -> BreakerState {
        self.breaker.state()
    }

    /// Calls in progress now.
    pub fn in_flight(&self) -> usize {
        self.policy.max_concurrent - self.bulkhead.available_permits()
    }

    /// Runs `attempt` under the policies until it succeeds, fails for good, or `deadline` (the
    /// call's time limit) passes; `attempts` counts the requests made.
    pub async fn run<F, Fut>(
        &self,
        deadline: Instant,
        attempts: &mut Attempts,
        mut attempt: F,
    ) -> Result<Fetched, SourceError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Fetched, SourceError>>,
    {
        // Shed rather than queue: a caller waiting here would wait on the slowest source.
        let _permit =
            self.bulkhead
                .clone()
                .try_acquire_owned()
                .map_err(|_| SourceError::Overloaded {
                    limit: self.policy.max_concurrent,
                })?;
        let admission = self.breaker.admit()?;
        self.budget.deposit();
        let mut backoff = self.backoff();
        loop {
            let started = Instant::now();
            let attempt_deadline = match self.policy.attempt_timeout {
                Some(limit) => deadline.min(started + limit),
                None => deadline,
            };
            attempts.made += 1;
            let result = match timeout_at(attempt_deadline.into(), attempt()).await {
                Ok(result) => result,
                Err(_) => Err(SourceError::Timeout {
                    limit_ms: attempt_deadline
                        .saturating_duration_since(started)
                        .as_millis() as u64,
                }),
            };
            let error = match result {
                Ok(fetched) => {
                    admission.close(Verdict::Healthy);
                    return Ok(fetched);
                }
                Err(error) => error,
            };
            if attempts.made < self.policy.max_attempts && self.may_retry(&error) {
                let pause = backoff.next_backoff();
                // Never past the deadline; the budget is asked last so that a retry that would
                // not fit does not spend it.
                if pause.deadline().into_std() + MIN_ATTEMPT < deadline && self.budget.withdraw() {
                    pause.await;
                    continue;
                }
            }
            admission.close(if error.is_source_fault() {
                Verdict::Failed
            } else {
                Verdict::Neutral
            });
            return Err(error);
        }
    }

    /// A backoff for one call, with its own random source: a shared one, cloned, would give
    /// every call the same "random" jitter.
    fn backoff(&self) -> impl Backoff<Future = tokio::time::Sleep> {
        ExponentialBackoffMaker::new(
            self.policy.backoff_initial,
            self.policy.backoff_max.max(Duration::from_millis(1)),
            // Up to the base again at random: retries of many callers spread out.
            1.0,
            HasherRng::default(),
        )
        .expect("a checked policy has backoff_initial <= backoff_max")
        .make_backoff()
    }

    /// Connection failures, 502/503/504 and timed-out attempts shorter than the call: the
    /// failures a second try of the same read can cure.
    fn may_retry(&self, error: &SourceError) -> bool {
        match error {
            SourceError::Connect(_) => true,
            SourceError::Status { status, .. } => matches!(status, 502..=504),
            SourceError::Timeout { .. } => self.policy.retries_timeouts(),
            _ => false,
        }
    }
}

/// Opens after `threshold` consecutive failed calls; after `cool_down`, lets one trial call
/// through, and closes when it succeeds.
struct Breaker {
    state: Mutex<State>,
    threshold: u32,
    cool_down: Duration,
}

#[derive(Clone, Copy, Debug)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen,
}

/// How a call ended, for the breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Healthy,
    Failed,
    /// Says nothing of the source's health (e.g. it does not offer the domain).
    Neutral,
}

impl Breaker {
    fn new(threshold: u32, cool_down: Duration) -> Self {
        Breaker {
            state: Mutex::new(State::Closed { failures: 0 }),
            threshold,
            cool_down,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn state(&self) -> BreakerState {
        match *self.lock() {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen => BreakerState::HalfOpen,
        }
    }

    /// Lets a call through, or says when the breaker may next let one through.
    fn admit(&self) -> Result<Admission<'_>, SourceError> {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => Ok(Admission {
                breaker: self,
                trial: false,
                closed: false,
            }),
            State::Open { until } if Instant::now() >= until => {
                *state = State::HalfOpen;
                Ok(Admission {
                    breaker: self,
                    trial: true,
                    closed: false,
                })
            }
            State::Open { until } => Err(SourceError::Unavailable {
                retry_in_ms: until.saturating_duration_since(Instant::now()).as_millis() as u64,
            }),
            // The trial call decides; until it does, nobody else waits on the source.
            State::HalfOpen => Err(SourceError::Unavailable { retry_in_ms: 0 }),
        }
    }

    fn record(&self, trial: bool, verdict: Verdict) {
        let mut state = self.lock();
        let open = State::Open {
            until: Instant::now() + self.cool_down,
        };
        *state = match (*state, verdict) {
            (_, Verdict::Healthy) => State::Closed { failures: 0 },
            (State::HalfOpen, _) if trial => open,
            (State::Closed { failures }, Verdict::Failed) if failures + 1 >= self.threshold => open,
            (State::Closed { failures }, Verdict::Failed) => State::Closed {
                failures: failures + 1,
            },
            (current, _) => current,
        };
    }
}

/// A call the breaker let through; it must report how the call ended. A trial call dropped
/// before it did (its request cancelled) counts as failed, so the breaker cannot stay half-open
/// with no trial running.
struct Admission<'a> {
    breaker: &'a Breaker,
    trial: bool,
    closed: bool,
}

impl Admission<'_> {
    fn close(mut self, verdict: Verdict) {
        self.closed = true;
        self.breaker.record(self.trial, verdict);
    }
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        if !self.closed && self.trial {
            self.breaker.record(true, Verdict::Failed);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::domain::{Domain, DomainItems};

    fn policy() -> SourcePolicy {
        SourcePolicy {
            backoff_initial: Duration::from_millis(1),
            backoff_max: Duration::from_millis(2),
            breaker_failures: 3,
            breaker_cool_down: Duration::from_millis(50),
            ..SourcePolicy::default()
        }
    }

    fn ok() -> Result<Fetched, SourceError> {
        Ok(Fetched::from(DomainItems::empty(Domain::Medications)))
    }

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    async fn call(guard: &Guard, result: Result<Fetched, SourceError>) -> (Attempts, bool) {
        let mut attempts = Attempts::default();
        let outcome = guard
            .run(later(), &mut attempts, || {
                let result = result.clone();
                async move { result }
            })
            .await;
        (attempts, outcome.is_ok())
    }

    #[tokio::test]
    async fn a_503_is_retried_up_to_the_attempt_limit() {
        let guard = Guard::new(&policy());
        let (attempts, ok) = call(
            &guard,
            Err(SourceError::Status {
                status: 503,
                outcome: None,
            }),
        )
        .await;
        assert!(!ok);
        assert_eq!(attempts.made, 3);
    }

    #[tokio::test]
    async fn a_500_or_a_garbled_answer_is_not_retried() {
        let guard = Guard::new(&policy());
        for error in [
            SourceError::Status {
                status: 500,
                outcome: None,
            },
            SourceError::InvalidResponse("not JSON".into()),
        ] {
            let (attempts, _) = call(&guard, Err(error)).await;
            assert_eq!(attempts.made, 1);
        }
    }

    #[tokio::test]
    async fn a_failure_then_a_success_is_a_success_after_one_retry() {
        let guard = Guard::new(&policy());
        let tries = AtomicU32::new(0);
        let mut attempts = Attempts::default();
        let result = guard
            .run(later(), &mut attempts, || {
                let n = tries.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n == 0 {
                        Err(SourceError::Connect("refused".into()))
                    } else {
                        ok()
                    }
                }
            })
            .await;
        assert!(result.is_ok());
        assert_eq!(attempts.made, 2);
        assert_eq!(guard.breaker_state(), BreakerState::Closed);
    }

    #[tokio::test]
    async fn no_retry_starts_that_could_not_finish_before_the_deadline() {
        let guard = Guard::new(&SourcePolicy {
            backoff_initial: Duration::from_millis(200),
            backoff_max: Duration::from_millis(400),
            ..policy()
        });
        let mut attempts = Attempts::default();
        let deadline = Instant::now() + Duration::from_millis(100);
        let result = guard
            .run(deadline, &mut attempts, || async {
                Err(SourceError::Connect("refused".into()))
            })
            .await;
        assert!(result.is_err());
        assert_eq!(attempts.made, 1);
    }

    #[tokio::test]
    async fn retries_stop_when_the_budget_is_spent() {
        // No floor and no percentage: nothing to retry with.
        let guard = Guard::new(&SourcePolicy {
            retry_budget_floor: 0,
            retry_budget_percent: 0,
            ..policy()
        });
        let (attempts, _) = call(&guard, Err(SourceError::Connect("refused".into()))).await;
        assert_eq!(attempts.made, 1);
    }

    #[tokio::test]
    async fn the_breaker_opens_after_the_threshold_fails_fast_and_closes_after_a_good_trial() {
        let guard = Guard::new(&SourcePolicy {
            max_attempts: 1,
            ..policy()
        });
        let failure = || {
            Err(SourceError::Status {
                status: 500,
                outcome: None,
            })
        };
        for _ in 0..3 {
            call(&guard, failure()).await;
        }
        assert_eq!(guard.breaker_state(), BreakerState::Open);
        let mut attempts = Attempts::default();
        let fast = guard.run(later(), &mut attempts, || async { ok() }).await;
        assert!(matches!(fast, Err(SourceError::Unavailable { .. })));
        assert_eq!(attempts.made, 0, "no request while open");

        tokio::time::sleep(Duration::from_millis(60)).await;
        // A failed trial opens it again for another cool-down.
        let (attempts, _) = call(&guard, failure()).await;
        assert_eq!(attempts.made, 1);
        assert_eq!(guard.breaker_state(), BreakerState::Open);

        tokio::time::sleep(Duration::from_millis(60)).await;
        let (_, ok) = call(&guard, ok()).await;
        assert!(ok);
        assert_eq!(guard.breaker_state(), BreakerState::Closed);
    }

    #[tokio::test]
    async fn while_the_trial_runs_other_calls_fail_fast() {
        let guard = Arc::new(Guard::new(&SourcePolicy {
            max_attempts: 1,
            breaker_failures: 1,
            ..policy()
        }));
        call(&guard, Err(SourceError::Connect("refused".into()))).await;
        tokio::time::sleep(Duration::from_millis(60)).await;
        let trial = {
            let guard = guard.clone();
            tokio::spawn(async move {
                let mut attempts = Attempts::default();
                guard
                    .run(later(), &mut attempts, || async {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        ok()
                    })
                    .await
                    .is_ok()
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(guard.breaker_state(), BreakerState::HalfOpen);
        let (attempts, ok) = call(&guard, ok()).await;
        assert!(!ok && attempts.made == 0);
        assert!(trial.await.unwrap());
        assert_eq!(guard.breaker_state(), BreakerState::Closed);
    }

    #[tokio::test]
    async fn a_cancelled_trial_reopens_the_breaker_rather_than_leaving_it_half_open() {
        let guard = Guard::new(&SourcePolicy {
            max_attempts: 1,
            breaker_failures: 1,
            ..policy()
        });
        call(&guard, Err(SourceError::Connect("refused".into()))).await;
        tokio::time::sleep(Duration::from_millis(60)).await;
        let mut attempts = Attempts::default();
        let hanging = guard.run(later(), &mut attempts, std::future::pending);
        let _ = tokio::time::timeout(Duration::from_millis(10), hanging).await;
        assert_eq!(guard.breaker_state(), BreakerState::Open);
    }

    #[tokio::test]
    async fn calls_over_the_concurrency_limit_are_shed_at_once() {
        let guard = Arc::new(Guard::new(&SourcePolicy {
            max_concurrent: 2,
            ..policy()
        }));
        let (release, wait) = tokio::sync::watch::channel(false);
        let mut held = Vec::new();
        for _ in 0..2 {
            let guard = guard.clone();
            let wait = wait.clone();
            held.push(tokio::spawn(async move {
                let mut attempts = Attempts::default();
                guard
                    .run(later(), &mut attempts, || {
                        let mut wait = wait.clone();
                        async move {
                            let _ = wait.wait_for(|go| *go).await;
                            ok()
                        }
                    })
                    .await
                    .is_ok()
            }));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(guard.in_flight(), 2);
        let mut attempts = Attempts::default();
        let shed = guard.run(later(), &mut attempts, || async { ok() }).await;
        assert!(matches!(shed, Err(SourceError::Overloaded { limit: 2 })));
        assert_eq!(attempts.made, 0);
        release.send_replace(true);
        for h in held {
            assert!(h.await.unwrap());
        }
        assert_eq!(guard.in_flight(), 0);
    }
}
