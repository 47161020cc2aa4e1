//! In-process token buckets: login attempts and token failures per client IP, uploads per team.
//! An empty bucket answers 429 `rate_limited` with `Retry-After` (distinct from the daily
//! `quota_exceeded`). State is per process: a scaled-out deployment multiplies the allowance by
//! its number of web processes (docs/SECURITY.md).

use crate::error::ApiError;
use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use arena::config::{RateLimitSettings, RateLimits};
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets kept before full (idle) ones are dropped, so spoofed keys cannot grow memory forever.
const MAX_KEYS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// One token bucket per key: `burst` tokens, refilled at `per_minute` a minute.
#[derive(Debug)]
pub struct Buckets<K> {
    limit: RateLimits,
    map: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    pub fn new(limit: RateLimits) -> Buckets<K> {
        Buckets {
            limit,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn enabled(&self) -> bool {
        self.limit.burst > 0
    }

    fn per_second(&self) -> f64 {
        f64::from(self.limit.per_minute) / 60.0
    }

    /// Applies `f` to `key`'s bucket, refilled up to now.
    fn with_bucket<T>(&self, key: &K, now: Instant, f: impl FnOnce(&mut Bucket) -> T) -> T {
        let burst = f64::from(self.limit.burst);
        let rate = self.per_second();
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if map.len() >= MAX_KEYS && !map.contains_key(key) {
            map.retain(|_, b| {
                b.tokens + rate * now.duration_since(b.updated).as_secs_f64() < burst
            });
        }
        let bucket = map.entry(key.clone()).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + rate * elapsed).min(burst);
        bucket.updated = now;
        f(bucket)
    }

    /// Time until `key` has a whole token again (zero when it has one now).
    fn wait_for(&self, tokens: f64) -> Duration {
        let missing = 1.0 - tokens;
        let rate = self.per_second();
        if missing <= 0.0 {
            Duration::ZERO
        } else if rate <= 0.0 {
            Duration::from_secs(3600)
        } else {
            Duration::from_secs_f64(missing / rate)
        }
    }

    /// Takes one token, or says how long to wait for one.
    pub fn take(&self, key: &K) -> Result<(), Duration> {
        if !self.enabled() {
            return Ok(());
        }
        self.with_bucket(key, Instant::now(), |b| {
            if b.tokens >= 1.0 {
                b.tokens -= 1.0;
                Ok(())
            } else {
                Err(self.wait_for(b.tokens))
            }
        })
    }

    /// Whether `key` has a token, without taking it.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        if !self.enabled() {
            return Ok(());
        }
        self.with_bucket(key, Instant::now(), |b| {
            if b.tokens >= 1.0 {
                Ok(())
            } else {
                Err(self.wait_for(b.tokens))
            }
        })
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
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many {what} in a short time; retry in {secs} s"),
    );
    e.retry_after_s = Some(secs);
    e
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn limits(burst: u32, per_minute: u32) -> RateLimits {
        RateLimits { burst, per_minute }
    }

    #[test]
    fn a_bucket_empties_then_refills() {
        let b: Buckets<u8> = Buckets::new(limits(2, 60));
        let t0 = Instant::now();
        let take = |now| {
            b.with_bucket(&1, now, |k| {
                if k.tokens >= 1.0 {
                    k.tokens -= 1.0;
                    true
                } else {
                    false
                }
            })
        };
        assert!(take(t0));
        assert!(take(t0));
        assert!(!take(t0));
        assert!(!take(t0 + Duration::from_millis(500)));
        assert!(take(t0 + Duration::from_millis(1600)), "one a second");
        // Another key has its own bucket.
        assert!(b.take(&2).is_ok());
    }

    #[test]
    fn retry_after_is_the_time_to_the_next_token() {
        let b: Buckets<u8> = Buckets::new(limits(1, 6));
        assert!(b.take(&1).is_ok());
        let wait = b.take(&1).unwrap_err();
        assert!(wait > Duration::from_secs(9) && wait <= Duration::from_secs(10));
        assert_eq!(limited("x", wait).retry_after_s, Some(10));
        assert!(
            b.check(&1).is_err(),
            "checking takes nothing and finds none"
        );
    }

    #[test]
    fn a_zero_burst_turns_the_limit_off() {
        let b: Buckets<u8> = Buckets::new(limits(0, 0));
        for _ in 0..100 {
            assert!(b.take(&1).is_ok());
        }
    }

    #[test]
    fn idle_keys_are_dropped_when_the_map_is_full() {
        let b: Buckets<usize> = Buckets::new(limits(1, 600));
        for k in 0..MAX_KEYS {
            b.charge(&k);
        }
        std::thread::sleep(Duration::from_millis(120));
        b.charge(&MAX_KEYS);
        assert!(
            b.map.lock().unwrap().len() < 10,
            "refilled buckets are forgotten"
        );
    }
}
