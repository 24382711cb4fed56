//! Rate limits. Requests per signed-in subject: the token's issuer and subject, never the IP
//! address (a hospital's staff share a few addresses behind NAT); a GCRA limiter (governor)
//! keyed by that pair, checked after authentication and before the request's body is read.
//! Requests without a valid token per client address ([`AddressRateLimiter`]): only they spend
//! it, but an address that has spent it is refused before its token is looked at.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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

/// The key a client address is counted under: an IPv4 address itself (also when written as
/// IPv4-mapped IPv6), an IPv6 address by its /64, the smallest block one subscriber is given,
/// so rotating through one's own addresses does not buy a fresh budget.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Requests without a valid token, per client address: a token bucket per address, kept as the
/// time at which the bucket will be full again (GCRA's "theoretical arrival time"). Unlike
/// governor's limiter it can be looked at without spending, which the edge needs: every
/// request is checked against the bucket before authentication, but only a request whose token
/// turned out missing or invalid spends from it.
pub struct AddressRateLimiter {
    /// Time one request's cost takes to refill.
    interval: Duration,
    /// The bucket's size.
    burst: u32,
    /// Per address (as [`client_key`] gives it): when its bucket is full again. Addresses whose
    /// bucket is full are not kept.
    full_at: Mutex<HashMap<IpAddr, Instant>>,
    charges: AtomicU64,
}

impl AddressRateLimiter {
    /// The limiter `settings` describe, or `None` when rate limiting is off.
    pub fn new(settings: &RateLimitSettings) -> Option<Self> {
        if !settings.enabled {
            return None;
        }
        // Zeros are refused by the config check; from code that skipped it, as little as possible.
        Some(AddressRateLimiter {
            interval: Duration::from_secs(1) / settings.unauthenticated_per_second.max(1),
            burst: settings.unauthenticated_burst.max(1),
            full_at: Mutex::new(HashMap::new()),
            charges: AtomicU64::new(0),
        })
    }

    /// Whether `ip` has at least one request left, without spending it; when not, how long
    /// until it has.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        self.check_at(ip, Instant::now())
    }

    /// Spends one request of `ip`'s (a request without a valid token). Never refuses: the
    /// request was let in by [`check`](Self::check); requests let in together may leave the
    /// bucket in debt, which later requests wait off.
    pub fn charge(&self, ip: IpAddr) {
        self.charge_at(ip, Instant::now());
    }

    /// Addresses with state kept now.
    pub fn addresses(&self) -> usize {
        self.lock().len()
    }

    fn check_at(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let full_at = self.lock().get(&client_key(ip)).copied();
        // Requests the bucket is short of: (full_at - now) / interval. One more must fit.
        let owed = full_at.map_or(Duration::ZERO, |t| t.saturating_duration_since(now));
        let allowed = self.interval * (self.burst - 1);
        match owed.checked_sub(allowed) {
            Some(wait) if !wait.is_zero() => Err(wait),
            _ => Ok(()),
        }
    }

    fn charge_at(&self, ip: IpAddr, now: Instant) {
        let mut full_at = self.lock();
        if self.charges.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            // Keeps the map bounded by the addresses that failed lately.
            full_at.retain(|_, t| *t > now);
            full_at.shrink_to_fit();
        }
        let t = full_at.entry(client_key(ip)).or_insert(now);
        *t = (*t).max(now) + self.interval;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Instant>> {
        // A panic while holding the lock cannot leave the map inconsistent: every change is
        // one insert or retain.
        self.full_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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
            ..RateLimitSettings::default()
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

    fn address_limiter(per_second: u32, burst: u32) -> AddressRateLimiter {
        AddressRateLimiter::new(&RateLimitSettings {
            unauthenticated_per_second: per_second,
            unauthenticated_burst: burst,
            ..RateLimitSettings::default()
        })
        .unwrap()
    }

    #[test]
    fn an_address_may_fail_its_burst_then_waits_for_the_refill_and_checking_spends_nothing() {
        let limiter = address_limiter(2, 3);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..10 {
            assert_eq!(
                limiter.check_at(ip, t0),
                Ok(()),
                "a check alone spends nothing"
            );
        }
        for _ in 0..3 {
            assert_eq!(limiter.check_at(ip, t0), Ok(()));
            limiter.charge_at(ip, t0);
        }
        assert_eq!(
            limiter.check_at(ip, t0),
            Err(Duration::from_millis(500)),
            "the burst is spent: one request refills in 1/2 s"
        );
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        assert_eq!(
            limiter.check_at(other, t0),
            Ok(()),
            "another address has its own"
        );
        assert_eq!(
            limiter.check_at(ip, t0 + Duration::from_millis(500)),
            Ok(())
        );
        // Requests let in together may overspend: the debt is waited off.
        limiter.charge_at(ip, t0);
        assert_eq!(limiter.check_at(ip, t0), Err(Duration::from_millis(1000)));
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_and_mapped_ipv4_as_ipv4() {
        let limiter = address_limiter(1, 1);
        let t0 = Instant::now();
        limiter.charge_at("2001:db8:1:2::1".parse().unwrap(), t0);
        assert!(
            limiter
                .check_at("2001:db8:1:2:ffff::9".parse().unwrap(), t0)
                .is_err()
        );
        assert!(
            limiter
                .check_at("2001:db8:1:3::1".parse().unwrap(), t0)
                .is_ok()
        );
        limiter.charge_at("::ffff:192.0.2.1".parse().unwrap(), t0);
        assert!(limiter.check_at("192.0.2.1".parse().unwrap(), t0).is_err());
    }

    #[test]
    fn addresses_whose_bucket_is_full_again_are_forgotten() {
        let limiter = address_limiter(1000, 1);
        let t0 = Instant::now();
        for n in 0..SWEEP_EVERY - 1 {
            limiter.charge_at(IpAddr::from([10, 0, (n / 256) as u8, n as u8]), t0);
        }
        assert_eq!(limiter.addresses(), SWEEP_EVERY as usize - 1);
        limiter.charge_at("192.0.2.1".parse().unwrap(), t0 + Duration::from_secs(1));
        assert_eq!(limiter.addresses(), 1);
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up_and_at_least_one() {
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(10)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1000)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1001)), 2);
    }
}
