//! Per-source policies: the time limit, retries, circuit breaker, bulkhead and answer-size cap
//! the engine wraps around every adapter, as defaults for all sources (`[policy]` in the
//! settings) with overrides per source (`[policy]` in a catalog file).

use std::time::Duration;

use serde::Deserialize;

/// How the engine treats calls to one source.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourcePolicy {
    /// Time limit for one call (all attempts together). Each call gets the smaller of this and
    /// what is left of the request's deadline; past it the call is cancelled.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Time limit for one attempt. Left out, one attempt may take the call's whole time, so a
    /// timed-out attempt is never retried; set it below `timeout` to retry slow attempts.
    #[serde(default, with = "humantime_serde")]
    pub attempt_timeout: Option<Duration>,
    /// Attempts per call, the first included (1: no retries). Retries happen only for
    /// connection failures, HTTP 502/503/504 and timed-out attempts, and never past the call's
    /// time limit.
    pub max_attempts: u32,
    /// The first retry's backoff; each following one doubles it, up to `backoff_max`, with
    /// random jitter so that many callers do not retry in step.
    #[serde(with = "humantime_serde")]
    pub backoff_initial: Duration,
    #[serde(with = "humantime_serde")]
    pub backoff_max: Duration,
    /// The retry budget: retries may add this percentage of the source's recent calls...
    pub retry_budget_percent: u32,
    /// ...plus this many retries per second, so a quiet source can still retry.
    pub retry_budget_floor: u32,
    /// Consecutive failed calls after which the circuit breaker opens: calls then fail at
    /// once with `SOURCE_UNAVAILABLE` instead of waiting on a source that is down.
    pub breaker_failures: u32,
    /// How long the breaker stays open before one trial call is let through; the breaker
    /// closes when it succeeds and stays open another cool-down when it fails.
    #[serde(with = "humantime_serde")]
    pub breaker_cool_down: Duration,
    /// The bulkhead: calls in progress to this source at once. A call over it is shed at once
    /// with `SOURCE_OVERLOADED` rather than queued, so a slow source cannot tie up the
    /// overviews that do not need it.
    pub max_concurrent: usize,
    /// The largest answer accepted from one request to the source, in bytes; a larger one is
    /// a source error, read no further.
    pub max_body_bytes: usize,
}

impl Default for SourcePolicy {
    fn default() -> Self {
        SourcePolicy {
            timeout: Duration::from_millis(2500),
            attempt_timeout: None,
            max_attempts: 3,
            backoff_initial: Duration::from_millis(25),
            backoff_max: Duration::from_millis(400),
            // Finagle's defaults: 20% extra load at most, plus 10 retries a second.
            retry_budget_percent: 20,
            retry_budget_floor: 10,
            breaker_failures: 5,
            breaker_cool_down: Duration::from_secs(10),
            // Calls are per (patient, domain) after coalescing; a source busy with this many
            // distinct calls at once is already far slower than its answers are useful.
            max_concurrent: 256,
            max_body_bytes: 32 * 1024 * 1024,
        }
    }
}

impl SourcePolicy {
    /// Checks what serde cannot; the message names the field.
    pub fn check(&self) -> Result<(), String> {
        let positive = [
            ("timeout", !self.timeout.is_zero()),
            (
                "attempt_timeout",
                self.attempt_timeout.is_none_or(|t| !t.is_zero()),
            ),
            ("max_attempts", self.max_attempts > 0),
            ("breaker_failures", self.breaker_failures > 0),
            ("breaker_cool_down", !self.breaker_cool_down.is_zero()),
            ("max_concurrent", self.max_concurrent > 0),
            ("max_body_bytes", self.max_body_bytes > 0),
        ];
        if let Some((field, _)) = positive.iter().find(|(_, ok)| !ok) {
            return Err(format!("`{field}` must be more than zero"));
        }
        if self.backoff_max < self.backoff_initial {
            return Err("`backoff_max` must not be less than `backoff_initial`".into());
        }
        if self.retry_budget_percent > 1000 {
            return Err("`retry_budget_percent` is at most 1000".into());
        }
        Ok(())
    }

    /// Whether a timed-out attempt may be retried: only when an attempt is shorter than the
    /// call.
    pub fn retries_timeouts(&self) -> bool {
        self.attempt_timeout.is_some_and(|t| t < self.timeout)
    }
}

/// A catalog file's `[policy]`: any field of [`SourcePolicy`], overriding the default.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyOverrides {
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub attempt_timeout: Option<Duration>,
    #[serde(default)]
    pub max_attempts: Option<u32>,
    #[serde(default, with = "humantime_serde")]
    pub backoff_initial: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub backoff_max: Option<Duration>,
    #[serde(default)]
    pub retry_budget_percent: Option<u32>,
    #[serde(default)]
    pub retry_budget_floor: Option<u32>,
    #[serde(default)]
    pub breaker_failures: Option<u32>,
    #[serde(default, with = "humantime_serde")]
    pub breaker_cool_down: Option<Duration>,
    #[serde(default)]
    pub max_concurrent: Option<usize>,
    #[serde(default)]
    pub max_body_bytes: Option<usize>,
}

impl PolicyOverrides {
    /// `base` with these overrides applied.
    pub fn apply(&self, base: &SourcePolicy) -> SourcePolicy {
        SourcePolicy {
            timeout: self.timeout.unwrap_or(base.timeout),
            attempt_timeout: self.attempt_timeout.or(base.attempt_timeout),
            max_attempts: self.max_attempts.unwrap_or(base.max_attempts),
            backoff_initial: self.backoff_initial.unwrap_or(base.backoff_initial),
            backoff_max: self.backoff_max.unwrap_or(base.backoff_max),
            retry_budget_percent: self
                .retry_budget_percent
                .unwrap_or(base.retry_budget_percent),
            retry_budget_floor: self.retry_budget_floor.unwrap_or(base.retry_budget_floor),
            breaker_failures: self.breaker_failures.unwrap_or(base.breaker_failures),
            breaker_cool_down: self.breaker_cool_down.unwrap_or(base.breaker_cool_down),
            max_concurrent: self.max_concurrent.unwrap_or(base.max_concurrent),
            max_body_bytes: self.max_body_bytes.unwrap_or(base.max_body_bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_override_replaces_only_the_fields_it_names() {
        let overrides: PolicyOverrides =
            toml::from_str("timeout = \"800ms\"\nmax_concurrent = 4\n").unwrap();
        let policy = overrides.apply(&SourcePolicy::default());
        assert_eq!(policy.timeout, Duration::from_millis(800));
        assert_eq!(policy.max_concurrent, 4);
        assert_eq!(policy.max_attempts, SourcePolicy::default().max_attempts);
    }

    #[test]
    fn a_zero_limit_is_refused_by_name() {
        let policy = PolicyOverrides {
            max_concurrent: Some(0),
            ..Default::default()
        }
        .apply(&SourcePolicy::default());
        assert!(policy.check().unwrap_err().contains("max_concurrent"));
    }

    #[test]
    fn timeouts_are_retried_only_with_an_attempt_shorter_than_the_call() {
        let mut policy = SourcePolicy::default();
        assert!(!policy.retries_timeouts());
        policy.attempt_timeout = Some(Duration::from_millis(500));
        assert!(policy.retries_timeouts());
    }
}
