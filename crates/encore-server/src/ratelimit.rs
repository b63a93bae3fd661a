//! Per-key rate limits: one token bucket per API key id.
//!
//! A bucket holds up to `burst` tokens and refills at `per_second` tokens a second; a request
//! takes one token or, when the bucket is empty, is answered 429 with `Retry-After` (whole
//! seconds until a token is back, at least 1). Buckets are keyed by key id, never by address, so
//! clients behind one proxy do not share a limit and one key cannot dodge its limit by changing
//! address. The cost is one uncontended mutex and a little arithmetic per request.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A rate: `per_second` sustained, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    /// Sustained requests per second (> 0).
    pub per_second: f64,
    /// Bucket size: requests allowed at once after a quiet period (>= 1).
    pub burst: u32,
}

impl Quota {
    /// A quota, checked: `per_second` finite and > 0, `burst` >= 1.
    pub fn new(per_second: f64, burst: u32) -> Result<Self, String> {
        if !(per_second.is_finite() && per_second > 0.0) {
            return Err(format!("the rate must be a number > 0 per second, got {per_second}"));
        }
        if burst == 0 {
            return Err("the burst must be at least 1".into());
        }
        Ok(Quota { per_second, burst })
    }
}

/// Parses `N/s` or `N` (requests per second) with a burst of twice the rate (at least 1), or
/// `N/s:B` with an explicit burst: `100/s`, `50/s:200`, `0.5/s:1`.
impl FromStr for Quota {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (rate, burst) = match text.split_once(':') {
            Some((rate, burst)) => {
                let burst = burst
                    .trim()
                    .parse::<u32>()
                    .map_err(|_| format!("`{burst}` is not a burst size (a whole number >= 1)"))?;
                (rate, Some(burst))
            }
            None => (text, None),
        };
        let rate = rate.trim();
        let number = rate.strip_suffix("/s").unwrap_or(rate);
        let per_second = number.trim().parse::<f64>().map_err(|_| {
            format!("`{text}` is not a rate; write requests per second as `100/s` or `100/s:200`")
        })?;
        let burst = burst.unwrap_or_else(|| ((per_second * 2.0).ceil() as u32).max(1));
        Quota::new(per_second, burst)
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// The buckets of every key, with a default quota and per-key overrides.
#[derive(Debug)]
pub struct RateLimiter {
    default: Option<Quota>,
    per_key: HashMap<u64, Quota>,
    buckets: Mutex<HashMap<u64, Bucket>>,
}

impl RateLimiter {
    /// A limiter: `default` for every key (`None`: unlimited) and `per_key` overrides.
    pub fn new(default: Option<Quota>, per_key: HashMap<u64, Quota>) -> Self {
        RateLimiter { default, per_key, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes a token for `key_id`: `Ok` to proceed, or `Err(wait)` until the next token.
    pub fn check(&self, key_id: u64) -> Result<(), Duration> {
        let Some(quota) = self.per_key.get(&key_id).copied().or(self.default) else {
            return Ok(());
        };
        self.check_at(key_id, quota, Instant::now())
    }

    fn check_at(&self, key_id: u64, quota: Quota, now: Instant) -> Result<(), Duration> {
        let burst = f64::from(quota.burst);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry(key_id).or_insert(Bucket { tokens: burst, updated: now });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * quota.per_second).min(burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / quota.per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates() {
        assert_eq!("100/s".parse::<Quota>().unwrap(), Quota { per_second: 100.0, burst: 200 });
        assert_eq!("5/s:7".parse::<Quota>().unwrap(), Quota { per_second: 5.0, burst: 7 });
        assert_eq!("0.5/s:1".parse::<Quota>().unwrap(), Quota { per_second: 0.5, burst: 1 });
        assert_eq!("3".parse::<Quota>().unwrap().burst, 6);
        for bad in ["", "x/s", "0/s", "-1/s", "5/s:0", "5/s:x", "inf/s"] {
            assert!(bad.parse::<Quota>().is_err(), "{bad}");
        }
    }

    #[test]
    fn bucket_allows_burst_then_refills() {
        let limiter = RateLimiter::new(None, HashMap::new());
        let quota = Quota::new(2.0, 3).unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at(1, quota, t0).is_ok());
        }
        let wait = limiter.check_at(1, quota, t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6, "{wait:?}");
        // Another key has its own bucket.
        assert!(limiter.check_at(2, quota, t0).is_ok());
        // Half a second later one token is back, and only one.
        let t1 = t0 + Duration::from_millis(500);
        assert!(limiter.check_at(1, quota, t1).is_ok());
        assert!(limiter.check_at(1, quota, t1).is_err());
    }

    #[test]
    fn unlimited_without_quota_and_overrides_apply() {
        let limiter = RateLimiter::new(None, HashMap::from([(9, Quota::new(1.0, 1).unwrap())]));
        for _ in 0..1000 {
            assert!(limiter.check(1).is_ok());
        }
        assert!(limiter.check(9).is_ok());
        assert!(limiter.check(9).is_err());
    }
}
