//! In-process rate limits: login attempts and token failures per client IP, uploads per team.
//! An exhausted key answers 429 `rate_limited` with `Retry-After` (distinct from the daily
//! `quota_exceeded`). The arithmetic is `governor`'s (GCRA, equivalent to a token bucket of
//! `burst` tokens refilled at `per_minute`); this module keeps the keys' state itself so that a
//! request can ask whether a key has a token without taking it (token checks charge only
//! failures), and drops idle keys when there are too many. State is per process: a scaled-out
//! deployment multiplies the allowance by its number of web processes (docs/SECURITY.md).

use crate::error::{ApiError, Code};
use actix_web::HttpRequest;
use arena::config::{RateLimitSettings, RateLimits};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::state::keyed::ShrinkableKeyedStateStore;
use governor::{NotUntil, Quota};
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Keys kept before idle ones are dropped, so spoofed keys cannot grow memory forever.
const MAX_KEYS: usize = 10_000;

/// A key as the limiter sees it: `take: false` asks without taking (the state is not written).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Probe<K> {
    key: K,
    take: bool,
}

/// Each key's GCRA state (its theoretical arrival time), written only by probes that take.
#[derive(Debug)]
struct Store<K> {
    map: Arc<Mutex<HashMap<K, Nanos>>>,
}

impl<K> Store<K> {
    fn map(&self) -> MutexGuard<'_, HashMap<K, Nanos>> {
        lock(&self.map)
    }
}

fn lock<K>(map: &Mutex<HashMap<K, Nanos>>) -> MutexGuard<'_, HashMap<K, Nanos>> {
    map.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<K: Hash + Eq + Clone> StateStore for Store<K> {
    type Key = Probe<K>;

    fn measure_and_replace<T, F, E>(&self, probe: &Probe<K>, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let mut map = self.map();
        let (answer, state) = f(map.get(&probe.key).copied())?;
        if probe.take {
            map.insert(probe.key.clone(), state);
        }
        Ok(answer)
    }
}

impl<K: Hash + Eq + Clone> ShrinkableKeyedStateStore<Probe<K>> for Store<K> {
    fn retain_recent(&self, drop_below: Nanos) {
        self.map().retain(|_, tat| *tat > drop_below);
    }

    fn len(&self) -> usize {
        self.map().len()
    }

    fn is_empty(&self) -> bool {
        self.map().is_empty()
    }
}

type Gcra<K, C> =
    governor::RateLimiter<Probe<K>, Store<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// One limit per key: `burst` requests at once, one more every `60 / per_minute` s (one an hour
/// when `per_minute` is 0); a `burst` of 0 is no limit.
pub struct Buckets<K: Hash + Eq + Clone, C: Clock = DefaultClock> {
    gcra: Option<Gcra<K, C>>,
    /// The store's map, to see whether a key is new before dropping idle ones.
    keys: Arc<Mutex<HashMap<K, Nanos>>>,
}

impl<K: Hash + Eq + Clone, C: Clock> std::fmt::Debug for Buckets<K, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buckets")
            .field("enabled", &self.gcra.is_some())
            .finish()
    }
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    pub fn new(limit: RateLimits) -> Buckets<K> {
        Buckets::with_clock(limit, DefaultClock::default())
    }
}

impl<K: Hash + Eq + Clone, C: Clock> Buckets<K, C> {
    fn with_clock(limit: RateLimits, clock: C) -> Buckets<K, C> {
        let keys = Arc::new(Mutex::new(HashMap::new()));
        let gcra = NonZeroU32::new(limit.burst).map(|burst| {
            let period = match limit.per_minute {
                0 => Duration::from_secs(3600),
                n => Duration::from_secs(60) / n,
            };
            let quota = Quota::with_period(period)
                .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
                .allow_burst(burst);
            let store = Store { map: keys.clone() };
            governor::RateLimiter::new(quota, store, clock)
        });
        Buckets { gcra, keys }
    }

    fn probe(&self, key: &K, take: bool) -> Result<(), Duration> {
        let Some(gcra) = &self.gcra else {
            return Ok(());
        };
        let full = {
            let keys = lock(&self.keys);
            keys.len() >= MAX_KEYS && !keys.contains_key(key)
        };
        if full {
            gcra.retain_recent();
        }
        let probe = Probe {
            key: key.clone(),
            take,
        };
        gcra.check_key(&probe)
            .map_err(|not_until: NotUntil<C::Instant>| not_until.wait_time_from(gcra.clock().now()))
    }

    /// Takes one token, or says how long to wait for one.
    pub fn take(&self, key: &K) -> Result<(), Duration> {
        self.probe(key, true)
    }

    /// Whether `key` has a token, without taking it.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        self.probe(key, false)
    }

    /// Takes one token when there is one (a failure already answered counts, never blocks).
    pub fn charge(&self, key: &K) {
        let _ = self.take(key);
    }
}

/// The server's limiters.
#[derive(Debug)]
pub struct RateLimiter {
    /// Login attempts and failed token checks, per client IP.
    pub auth: Buckets<IpAddr>,
    /// Uploads (creations, detectors, reals, task targets), per team.
    pub uploads: Buckets<i64>,
    trust_forwarded_for: bool,
}

impl RateLimiter {
    pub fn new(s: &RateLimitSettings) -> RateLimiter {
        RateLimiter {
            auth: Buckets::new(s.auth),
            uploads: Buckets::new(s.uploads),
            trust_forwarded_for: s.trust_forwarded_for,
        }
    }

    /// The client's IP: the TCP peer, or the proxy-reported one when configured to trust it.
    pub fn client_ip(&self, req: &HttpRequest) -> IpAddr {
        if self.trust_forwarded_for
            && let Some(ip) = req
                .connection_info()
                .realip_remote_addr()
                .and_then(parse_ip)
        {
            return ip;
        }
        req.peer_addr()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip())
    }

    /// Takes an upload token for `team_id` (429 `rate_limited` when there is none).
    pub fn upload(&self, team_id: i64) -> Result<(), ApiError> {
        self.uploads
            .take(&team_id)
            .map_err(|wait| limited("uploads", wait))
    }
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    s.parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
}

/// The 429 answer: `rate_limited` with a whole number of seconds to wait in `Retry-After`.
pub fn limited(what: &str, wait: Duration) -> ApiError {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let secs = secs.max(1);
    let mut e = ApiError::of(
        Code::RateLimited,
        format!("too many {what} in a short time; retry in {secs} s"),
    );
    e.retry_after_s = Some(secs);
    e
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn buckets(burst: u32, per_minute: u32) -> (Buckets<u8, FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let limit = RateLimits { burst, per_minute };
        (Buckets::with_clock(limit, clock.clone()), clock)
    }

    #[test]
    fn a_bucket_empties_then_refills() {
        let (b, clock) = buckets(2, 60);
        assert!(b.take(&1).is_ok());
        assert!(b.take(&1).is_ok());
        assert!(b.take(&1).is_err());
        clock.advance(Duration::from_millis(500));
        assert!(b.take(&1).is_err());
        clock.advance(Duration::from_millis(600));
        assert!(b.take(&1).is_ok(), "one a second");
        assert!(b.take(&1).is_err());
        // Another key has its own bucket.
        assert!(b.take(&2).is_ok());
    }

    #[test]
    fn retry_after_is_the_time_to_the_next_token() {
        let (b, clock) = buckets(1, 6);
        assert!(b.take(&1).is_ok());
        clock.advance(Duration::from_millis(500));
        let wait = b.take(&1).unwrap_err();
        assert_eq!(wait, Duration::from_millis(9500));
        assert_eq!(limited("x", wait).retry_after_s, Some(10));
        assert_eq!(
            b.check(&1),
            Err(wait),
            "checking takes nothing and finds none"
        );
    }

    #[test]
    fn checking_takes_nothing() {
        let (b, _clock) = buckets(2, 1);
        for _ in 0..10 {
            assert!(b.check(&1).is_ok());
        }
        b.charge(&1);
        assert!(b.check(&1).is_ok(), "one token left");
        b.charge(&1);
        assert!(b.check(&1).is_err());
        b.charge(&1);
        assert!(b.check(&2).is_ok(), "other keys are untouched");
    }

    #[test]
    fn a_zero_burst_turns_the_limit_off() {
        let (b, _clock) = buckets(0, 0);
        for _ in 0..100 {
            assert!(b.take(&1).is_ok());
        }
    }

    #[test]
    fn no_refill_rate_is_one_an_hour() {
        let (b, clock) = buckets(1, 0);
        assert!(b.take(&1).is_ok());
        assert_eq!(b.take(&1), Err(Duration::from_secs(3600)));
        clock.advance(Duration::from_secs(3600));
        assert!(b.take(&1).is_ok());
    }

    #[test]
    fn idle_keys_are_dropped_when_the_map_is_full() {
        let clock = FakeRelativeClock::default();
        let limit = RateLimits {
            burst: 1,
            per_minute: 600,
        };
        let b: Buckets<usize, _> = Buckets::with_clock(limit, clock.clone());
        for k in 0..MAX_KEYS {
            b.charge(&k);
        }
        let len = |b: &Buckets<usize, FakeRelativeClock>| lock(&b.keys).len();
        assert_eq!(len(&b), MAX_KEYS);
        clock.advance(Duration::from_millis(250));
        b.charge(&MAX_KEYS);
        assert_eq!(len(&b), 1, "refilled keys are forgotten");
        // A key still waiting for its token is kept.
        for k in 0..MAX_KEYS {
            b.charge(&k);
        }
        b.charge(&(MAX_KEYS + 1));
        assert_eq!(len(&b), MAX_KEYS + 2);
    }
}
