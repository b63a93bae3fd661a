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

/// One page of an item search.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ItemPage {
    /// Matching items with metadata, in key order (the order items were first seen).
    pub items: Vec<Item>,
    /// Cursor of the next page (`after`), when there are more matches.
    pub next_after: Option<u64>,
}
