//! The server's own request metrics over the last hour, kept in memory for the dashboard
//! (`GET /v1/metrics/history`): per minute, the requests, the 4xx and 5xx answers, and latency
//! percentiles.
//!
//! Like the Prometheus recorder ([`crate::metrics::recorder`]) it is process-wide: [`record`] is
//! called by the request middleware ([`crate::metrics::track`]) for every request, and costs one
//! relaxed atomic addition (two for an error answer), no lock. Sixty minute slots form a ring; the first request of a
//! new minute claims the slot of the minute an hour ago and clears it (a request recorded by
//! another thread in the instant between the claim and the clearing can be lost: the figures are
//! exact but for that instant at each minute boundary).
//!
//! Latencies go into logarithmic buckets, four per doubling from 16 µs (so a bucket is 19 %
//! wide) up to about 67 s, with one more bucket for anything slower; a percentile is reported as
//! the upper bound of the bucket it falls in.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Minutes kept.
pub const MINUTES: usize = 60;
/// Latency buckets (the last one is open-ended).
const BUCKETS: usize = 89;
/// Upper bound of the first bucket, in microseconds.
const FIRST_BOUND_MICROS: f64 = 16.0;
/// Buckets per doubling of the latency.
const PER_DOUBLING: f64 = 4.0;

struct Slot {
    /// The minute (since the Unix epoch) the counters belong to.
    minute: AtomicU64,
    client_errors: AtomicU64,
    server_errors: AtomicU64,
    latency: [AtomicU64; BUCKETS],
}

impl Slot {
    fn new() -> Slot {
        Slot {
            minute: AtomicU64::new(u64::MAX),
            client_errors: AtomicU64::new(0),
            server_errors: AtomicU64::new(0),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    fn clear(&self) {
        self.client_errors.store(0, Relaxed);
        self.server_errors.store(0, Relaxed);
        for bucket in &self.latency {
            bucket.store(0, Relaxed);
        }
    }
}

/// The last hour of request metrics.
pub struct History {
    slots: [Slot; MINUTES],
}

impl Default for History {
    fn default() -> Self {
        History { slots: std::array::from_fn(|_| Slot::new()) }
    }
}

/// The process-wide history [`record`] writes to.
pub fn history() -> &'static History {
    static HISTORY: OnceLock<History> = OnceLock::new();
    HISTORY.get_or_init(History::default)
}

/// Records one answered request in the process-wide history.
pub fn record(status: u16, latency: Duration) {
    history().record_at(now_secs(), status, latency);
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn bucket_of(latency: Duration) -> usize {
    let micros = latency.as_secs_f64() * 1e6;
    if micros <= FIRST_BOUND_MICROS {
        return 0;
    }
    let index = ((micros / FIRST_BOUND_MICROS).log2() * PER_DOUBLING).ceil();
    (index as usize).min(BUCKETS - 1)
}

/// Upper bound of a bucket in milliseconds (`None` for the open-ended last one).
fn bound_ms(bucket: usize) -> Option<f64> {
    (bucket < BUCKETS - 1)
        .then(|| FIRST_BOUND_MICROS * (bucket as f64 / PER_DOUBLING).exp2() / 1000.0)
}

impl History {
    /// Records a request answered at `now` (seconds since the Unix epoch).
    pub fn record_at(&self, now: u64, status: u16, latency: Duration) {
        let minute = now / 60;
        let slot = &self.slots[(minute % MINUTES as u64) as usize];
        let claimed = slot.minute.load(Relaxed);
        if claimed != minute
            && slot.minute.compare_exchange(claimed, minute, Relaxed, Relaxed).is_ok()
        {
            slot.clear();
        }
        // The requests are the sum of the latency buckets: a request costs one addition (two for
        // an error), on a cache line shared only with requests of similar latency.
        match status {
            400..=499 => slot.client_errors.fetch_add(1, Relaxed),
            500..=599 => slot.server_errors.fetch_add(1, Relaxed),
            _ => 0,
        };
        slot.latency[bucket_of(latency)].fetch_add(1, Relaxed);
    }

    /// The last hour as of `now`, one entry per minute, oldest first, the current minute last.
    pub fn snapshot_at(&self, now: u64) -> MetricsHistory {
        let current = now / 60;
        let minutes = (current.saturating_sub(MINUTES as u64 - 1)..=current)
            .map(|minute| {
                let slot = &self.slots[(minute % MINUTES as u64) as usize];
                let seconds = if minute == current { (now % 60 + 1) as u32 } else { 60 };
                let mut entry = MinuteMetrics {
                    start: minute * 60,
                    seconds,
                    requests: 0,
                    client_errors: 0,
                    server_errors: 0,
                    p50_ms: None,
                    p95_ms: None,
                    p99_ms: None,
                };
                if slot.minute.load(Relaxed) != minute {
                    return entry;
                }
                let counts: Vec<u64> = slot.latency.iter().map(|b| b.load(Relaxed)).collect();
                entry.requests = counts.iter().sum();
                entry.client_errors = slot.client_errors.load(Relaxed);
                entry.server_errors = slot.server_errors.load(Relaxed);
                entry.p50_ms = percentile(&counts, 0.50);
                entry.p95_ms = percentile(&counts, 0.95);
                entry.p99_ms = percentile(&counts, 0.99);
                entry
            })
            .collect();
        MetricsHistory { resolution_seconds: 60, minutes }
    }

    /// The last hour as of now.
    pub fn snapshot(&self) -> MetricsHistory {
        self.snapshot_at(now_secs())
    }
}

/// The upper bound of the bucket holding quantile `q` (the last bucket's lower bound when it
/// falls in the open-ended one); `None` without requests.
fn percentile(counts: &[u64], q: f64) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = ((q * total as f64).ceil() as u64).max(1);
    let mut seen = 0;
    for (bucket, &n) in counts.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return Some(bound_ms(bucket).unwrap_or_else(|| bound_ms(BUCKETS - 2).unwrap_or(0.0)));
        }
    }
    None
}

/// Requests answered in one minute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MinuteMetrics {
    /// Start of the minute, seconds since the Unix epoch.
    pub start: u64,
    /// Seconds of the minute covered: 60, or the seconds so far for the current minute.
    pub seconds: u32,
    /// Requests answered.
    pub requests: u64,
    /// Of which answered 4xx.
    pub client_errors: u64,
    /// Of which answered 5xx.
    pub server_errors: u64,
    /// Median latency in ms (upper bound of its 19 %-wide bucket); `null` without requests.
    pub p50_ms: Option<f64>,
    /// 95th percentile latency in ms, the same way.
    pub p95_ms: Option<f64>,
    /// 99th percentile latency in ms, the same way.
    pub p99_ms: Option<f64>,
}

/// `GET /v1/metrics/history`: this process's requests over the last hour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MetricsHistory {
    /// Width of each entry in seconds (60).
    pub resolution_seconds: u32,
    /// The last 60 minutes, oldest first, the current (partial) minute last.
    pub minutes: Vec<MinuteMetrics>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_bound_the_latency_within_a_fifth() {
        for micros in [1u64, 16, 17, 100, 999, 1_000, 12_345, 1_000_000, 30_000_000] {
            let latency = Duration::from_micros(micros);
            let bound = bound_ms(bucket_of(latency)).unwrap() * 1000.0;
            assert!(bound >= micros as f64 - 1e-6, "{micros} µs above its bound {bound}");
            assert!(bound <= (micros as f64).max(16.0) * 1.19 + 1e-6, "{micros} µs: bound {bound}");
        }
        assert_eq!(bucket_of(Duration::from_secs(3600)), BUCKETS - 1);
    }

    #[test]
    fn minutes_count_requests_and_percentiles_and_forget_after_an_hour() {
        let history = History::default();
        let t0 = 1_700_000_000 - 1_700_000_000 % 60;
        for i in 0..100u64 {
            let status = if i < 10 {
                500
            } else if i < 30 {
                404
            } else {
                200
            };
            history.record_at(t0 + 5, status, Duration::from_micros(100 + i * 10));
        }
        history.record_at(t0 + 65, 200, Duration::from_millis(2));
        let snap = history.snapshot_at(t0 + 70);
        assert_eq!(snap.minutes.len(), MINUTES);
        let last = &snap.minutes[MINUTES - 1];
        let before = &snap.minutes[MINUTES - 2];
        assert_eq!((last.start, last.seconds, last.requests), (t0 + 60, 11, 1));
        assert_eq!((before.start, before.seconds), (t0, 60));
        assert_eq!((before.requests, before.server_errors, before.client_errors), (100, 10, 20));
        // 100 latencies from 0.1 to 1.09 ms: the median is 0.59 ms, within its bucket's bound.
        let p50 = before.p50_ms.unwrap();
        assert!((0.59..=0.59 * 1.19).contains(&p50), "{p50}");
        assert!(before.p99_ms.unwrap() >= 1.08);
        assert_eq!(snap.minutes[0].requests, 0);
        assert_eq!(snap.minutes[0].p50_ms, None);
        // An hour later the slot is reused and the old minute is gone.
        history.record_at(t0 + 5 + 3600, 200, Duration::from_millis(1));
        let later = history.snapshot_at(t0 + 3600 + 10);
        assert_eq!(later.minutes[MINUTES - 1].requests, 1);
        assert!(later.minutes.iter().all(|m| m.start > t0 || m.requests == 0));
    }
}
