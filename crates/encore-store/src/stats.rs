//! What the read-only statistics queries of [`crate::Store`] return (the dashboard's charts and
//! item search): events over time, events per item, a page of matching items.

use serde::{Deserialize, Serialize};

use crate::types::Item;

/// Events counted in fixed time buckets.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EventTimeline {
    /// `(bucket start, events)` in seconds since the Unix epoch, oldest first: the last `limit`
    /// buckets up to the newest event, empty buckets included.
    pub buckets: Vec<(i64, u64)>,
    /// Events older than the first bucket.
    pub earlier_events: u64,
}

impl EventTimeline {
    /// The timeline of event counts per bucket start (`counts`, bucket starts multiples of
    /// `bucket_secs`): the last `limit` buckets up to the newest, empty ones included, and the
    /// events before them. Both back ends count with their own query and shape it here.
    pub(crate) fn from_counts(
        counts: &std::collections::BTreeMap<i64, u64>,
        bucket_secs: i64,
        limit: usize,
    ) -> EventTimeline {
        let Some((&last, _)) = counts.last_key_value() else {
            return EventTimeline::default();
        };
        let span = bucket_secs.saturating_mul(limit.saturating_sub(1) as i64);
        let oldest = counts.first_key_value().map_or(last, |(k, _)| *k);
        let first = last.saturating_sub(span).max(oldest);
        let earlier_events = counts.range(..first).map(|(_, n)| n).sum();
        let mut buckets = Vec::new();
        let mut start = first;
        loop {
            buckets.push((start, counts.get(&start).copied().unwrap_or(0)));
            if start >= last || buckets.len() >= limit {
                break;
            }
            start = start.saturating_add(bucket_secs);
        }
        EventTimeline { buckets, earlier_events }
    }
}

/// One page of an item search.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ItemPage {
    /// Matching items with metadata, in key order (the order items were first seen).
    pub items: Vec<Item>,
    /// Cursor of the next page (`after`), when there are more matches.
    pub next_after: Option<u64>,
}
