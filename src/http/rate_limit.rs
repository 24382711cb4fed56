//! Requests per signed-in subject: the token's issuer and subject, never the IP address (a
//! hospital's staff share a few addresses behind NAT). A GCRA limiter (governor) keyed by that
//! pair, checked after authentication and before the request's body is read.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::auth::Principal;
use crate::config::RateLimitSettings;

/// Checks between two sweeps of subjects idle long enough to have a full burst again.
const SWEEP_EVERY: u64 = 1024;

pub struct SubjectRateLimiter {
    limiter: DefaultKeyedRateLimiter<(String, String)>,
    checks: AtomicU64,
}

impl SubjectRateLimiter {
    /// The limiter `settings` describe, or `None` when rate limiting is off.
    pub fn new(settings: &RateLimitSettings) -> Option<Self> {
        if !settings.enabled {
            return None;
        }
        // The config check refuses zeros; a zero from code that skipped it means "as little as
        // possible", not "unlimited".
        let per_second = NonZeroU32::new(settings.per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(settings.burst).unwrap_or(NonZeroU32::MIN);
        Some(SubjectRateLimiter {
            limiter: DefaultKeyedRateLimiter::dashmap(
                Quota::per_second(per_second).allow_burst(burst),
            ),
            checks: AtomicU64::new(0),
        })
    }

    /// Counts one request of `principal`'s; when over the limit, how long until the next one
    /// would be allowed.
    pub fn check(&self, principal: &Principal) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            // Keeps the keyed state bounded by the subjects active lately.
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        let key = (principal.issuer.clone(), principal.subject.clone());
        self.limiter
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }

    /// Subjects with state kept now.
    pub fn subjects(&self) -> usize {
        self.limiter.len()
    }
}

/// `Retry-After` in whole seconds, rounded up, at least 1.
pub fn retry_after_seconds(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(subject: &str) -> Principal {
        Principal {
            issuer: "https://idp.example.se".into(),
            subject: subject.into(),
            kind: crate::auth::PrincipalKind::Person {
                person: crate::auth::demo::DEMO_PATIENT.id(),
                name: None,
            },
        }
    }

    #[test]
    fn the_limit_is_per_subject_and_idle_subjects_are_forgotten() {
        let limiter = SubjectRateLimiter::new(&RateLimitSettings {
            enabled: true,
            per_second: 1000,
            burst: 1,
        })
        .unwrap();
        assert!(limiter.check(&principal("a")).is_ok());
        assert!(
            limiter.check(&principal("a")).is_err(),
            "a's burst is spent"
        );
        assert!(limiter.check(&principal("b")).is_ok(), "b has its own");
        for n in 3..SWEEP_EVERY - 1 {
            let _ = limiter.check(&principal(&n.to_string()));
        }
        assert_eq!(limiter.subjects(), SWEEP_EVERY as usize - 2);
        // Idle for longer than a burst takes to refill: dropped at the next sweep.
        std::thread::sleep(Duration::from_millis(20));
        assert!(limiter.check(&principal("new")).is_ok());
        assert_eq!(limiter.subjects(), 1);
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up_and_at_least_one() {
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(10)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1000)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1001)), 2);
    }
}
