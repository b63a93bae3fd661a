//! Read-only statistics of a catalog for the dashboard: events over time, the popularity long
//! tail, the catalogue coverage of the active model's recommendations, and item search. Every
//! call checks the catalog like any other catalog request (404 unknown, 503 while loading).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Error, Result};
use crate::{Encore, dto};

/// Largest page of an item search (the API's one bound for every `limit`).
pub const MAX_ITEM_PAGE: usize = crate::limits::MAX_AUDIT_PAGE;
/// Longest item search text, in characters.
pub const MAX_QUERY_CHARS: usize = 256;
/// Most buckets of an event timeline (the API's one bound for every `limit`).
pub const MAX_BUCKETS: usize = crate::limits::MAX_AUDIT_PAGE;
/// Largest list length of a coverage measurement.
pub const MAX_COVERAGE_K: usize = 100;
/// Most users a coverage measurement asks recommendations for.
pub const MAX_COVERAGE_USERS: usize = 2000;
/// Share of the items with events that counts as the head of the long tail.
pub const HEAD_FRACTION: f64 = 0.2;
/// Points of the popularity curve, at most.
const CURVE_POINTS: usize = 200;
/// Items in the popularity top list.
const TOP_ITEMS: usize = 10;

/// Width of the buckets of an event timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    /// One hour.
    #[default]
    Hour,
    /// One day (UTC).
    Day,
}

impl Bucket {
    /// Width in seconds.
    pub fn seconds(self) -> i64 {
        match self {
            Bucket::Hour => 3600,
            Bucket::Day => 86_400,
        }
    }
}

/// One bucket of events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TimeBucket {
    /// Start of the bucket, seconds since the Unix epoch.
    pub start: i64,
    /// Events whose time falls in the bucket.
    pub events: u64,
}

/// `GET /v1/catalogs/{c}/stats/events`: events per hour or day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EventTimeline {
    /// Catalog name.
    pub catalog: String,
    /// Bucket width.
    pub bucket: Bucket,
    /// The last `limit` buckets up to the newest event, oldest first, empty ones included (an
    /// event's time is its `timestamp`, else when it was ingested). Empty without events.
    pub buckets: Vec<TimeBucket>,
    /// Events older than the first bucket.
    pub earlier_events: u64,
}

/// A point of the popularity curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PopularityPoint {
    /// Rank of the item by events, 1 = most played.
    pub rank: u64,
    /// Events of the item at that rank.
    pub events: u64,
    /// Share of all events on the items up to this rank, 0–1.
    pub cumulative_share: f64,
}

/// An item and its number of events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ItemEvents {
    /// Item id.
    pub item_id: String,
    /// Title, when the item has metadata (and is not taken down).
    pub title: Option<String>,
    /// Events of the item.
    pub events: u64,
}

/// `GET /v1/catalogs/{c}/stats/popularity`: the long tail of item popularity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Popularity {
    /// Catalog name.
    pub catalog: String,
    /// Stored events.
    pub events: u64,
    /// Items with at least one event.
    pub items_with_events: u64,
    /// Items of the head: the most played 20 % of the items with events (at least one when
    /// there are events).
    pub head_items: u64,
    /// Share of the events on the head items, 0–1 (0 without events); the tail has the rest.
    pub head_share: f64,
    /// The curve, sampled at up to 200 ranks spread evenly on a log scale (first and last
    /// included).
    pub curve: Vec<PopularityPoint>,
    /// The ten most played items.
    pub top: Vec<ItemEvents>,
}

/// `GET /v1/catalogs/{c}/stats/coverage`: how much of the catalogue recommendations reach.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Coverage {
    /// Catalog name.
    pub catalog: String,
    /// Active model version the lists came from; `null` without one (then the lists are the
    /// popular items).
    pub model_version: Option<String>,
    /// Length of each list.
    pub k: usize,
    /// Users whose lists were computed: spread evenly over the catalog's users.
    pub users_sampled: u64,
    /// Users of the catalog.
    pub users: u64,
    /// Distinct items in those lists.
    pub items_recommended: u64,
    /// Item ids of the catalog (with metadata or created by events).
    pub items: u64,
    /// `items_recommended / items`, 0–1 (0 for an empty catalog).
    pub coverage: f64,
}

/// `GET /v1/catalogs/{c}/items`: a page of an item search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ItemSearch {
    /// Matching items, in the order they were first seen.
    pub items: Vec<dto::Item>,
    /// Pass as `after` for the next page; `null` on the last page.
    pub next_after: Option<u64>,
}

impl Encore {
    /// Events per bucket: the last `limit` buckets (1–1000, default 168) up to the newest event.
    pub fn event_timeline(
        &self,
        catalog: &str,
        bucket: Option<Bucket>,
        limit: Option<usize>,
    ) -> Result<EventTimeline> {
        let bucket = bucket.unwrap_or_default();
        let limit = in_range("limit", limit.unwrap_or(168), 1, MAX_BUCKETS)?;
        self.inner.catalog_state(catalog)?;
        let timeline = self.inner.store.event_timeline(catalog, bucket.seconds(), limit)?;
        Ok(EventTimeline {
            catalog: catalog.to_string(),
            bucket,
            buckets: timeline
                .buckets
                .into_iter()
                .map(|(start, events)| TimeBucket { start, events })
                .collect(),
            earlier_events: timeline.earlier_events,
        })
    }

    /// The popularity long tail of the catalog's items.
    pub fn popularity(&self, catalog: &str) -> Result<Popularity> {
        let state = self.inner.catalog_state(catalog)?;
        let counts = self.inner.store.item_event_counts(catalog)?;
        let events: u64 = counts.iter().map(|(_, n)| n).sum();
        let items = counts.len();
        let head_items =
            if items == 0 { 0 } else { ((items as f64 * HEAD_FRACTION).ceil() as usize).max(1) };
        let head_events: u64 = counts.iter().take(head_items).map(|(_, n)| n).sum();
        let share = |part: u64| if events == 0 { 0.0 } else { part as f64 / events as f64 };
        let mut cumulative = Vec::with_capacity(items);
        let mut sum = 0u64;
        for (_, n) in &counts {
            sum += n;
            cumulative.push(sum);
        }
        let curve = log_ranks(items, CURVE_POINTS)
            .into_iter()
            .map(|rank| PopularityPoint {
                rank: rank as u64,
                events: counts[rank - 1].1,
                cumulative_share: share(cumulative[rank - 1]),
            })
            .collect();
        let data = state.read();
        let top = counts
            .iter()
            .take(TOP_ITEMS)
            .map(|(id, n)| ItemEvents {
                item_id: id.clone(),
                title: data.visible_item(id).and_then(|i| data.title_and_kind(i).0),
                events: *n,
            })
            .collect();
        Ok(Popularity {
            catalog: catalog.to_string(),
            events,
            items_with_events: items as u64,
            head_items: head_items as u64,
            head_share: share(head_events),
            curve,
            top,
        })
    }

    /// Catalogue coverage of the top-`k` lists (1–100, default 10) of up to `users` users
    /// (1–2000, default 500) spread evenly over the catalog, as `POST …/recommend` answers them.
    pub fn coverage(
        &self,
        catalog: &str,
        k: Option<usize>,
        users: Option<usize>,
    ) -> Result<Coverage> {
        let k = in_range("k", k.unwrap_or(10), 1, MAX_COVERAGE_K)?;
        let max_users = in_range("users", users.unwrap_or(500), 1, MAX_COVERAGE_USERS)?;
        self.inner.catalog_state(catalog)?;
        let (sample, total) = self.inner.store.sample_users(catalog, max_users)?;
        let mut seen = HashSet::new();
        let mut model_version = None;
        for user in &sample {
            let request = dto::RecommendRequest {
                user_id: Some(user.clone()),
                n: Some(k),
                ..Default::default()
            };
            let answer = self.recommend_ids(catalog, &request)?;
            model_version = answer.model_version.clone();
            seen.extend(answer.items.into_iter().map(|(id, _)| id));
        }
        if sample.is_empty() {
            model_version = self.inner.store.active_model(catalog)?.map(|m| m.version_label());
        }
        let items = self.inner.store.catalog_stats(catalog)?.item_ids;
        let recommended = seen.len() as u64;
        Ok(Coverage {
            catalog: catalog.to_string(),
            model_version,
            k,
            users_sampled: sample.len() as u64,
            users: total,
            items_recommended: recommended,
            items,
            coverage: if items == 0 { 0.0 } else { recommended as f64 / items as f64 },
        })
    }

    /// Items whose id starts with `query` or whose title contains it (ignoring ASCII case; all
    /// items when empty), a page of `limit` (1–1000, default 50) after the cursor `after`
    /// (0 to `i64::MAX`).
    pub fn search_items(
        &self,
        catalog: &str,
        query: Option<&str>,
        after: Option<u64>,
        limit: Option<usize>,
    ) -> Result<ItemSearch> {
        let query = query.unwrap_or("");
        if query.chars().count() > MAX_QUERY_CHARS {
            return Err(Error::invalid("q", format!("at most {MAX_QUERY_CHARS} characters")));
        }
        let limit = in_range("limit", limit.unwrap_or(50), 1, MAX_ITEM_PAGE)?;
        // Keys are SQLite integers: a cursor is at most `i64::MAX` (as the document says).
        let after = after.unwrap_or(0);
        if after > i64::MAX as u64 {
            return Err(Error::invalid("after", format!("at most {}, got {after}", i64::MAX)));
        }
        self.inner.catalog_state(catalog)?;
        let page = self.inner.store.search_items(catalog, query, after, limit)?;
        Ok(ItemSearch {
            items: page.items.into_iter().map(dto::Item::from).collect(),
            next_after: page.next_after,
        })
    }
}

fn in_range(field: &str, value: usize, min: usize, max: usize) -> Result<usize> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(Error::invalid(field, format!("must be {min}–{max}, got {value}")))
    }
}

/// Up to `points` ranks in `1..=len`, spread evenly on a log scale, first and last included.
fn log_ranks(len: usize, points: usize) -> Vec<usize> {
    if len == 0 {
        return Vec::new();
    }
    if len <= points {
        return (1..=len).collect();
    }
    let top = (len as f64).ln();
    let mut ranks: Vec<usize> = (0..points)
        .map(|i| ((top * i as f64 / (points - 1) as f64).exp().round() as usize).clamp(1, len))
        .collect();
    ranks.dedup();
    if ranks.last() != Some(&len) {
        ranks.push(len);
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ranks_cover_both_ends_in_order() {
        assert_eq!(log_ranks(0, 200), Vec::<usize>::new());
        assert_eq!(log_ranks(3, 200), vec![1, 2, 3]);
        let ranks = log_ranks(1_000_000, 200);
        assert_eq!(ranks.first(), Some(&1));
        assert_eq!(ranks.last(), Some(&1_000_000));
        assert!(ranks.len() <= 201);
        assert!(ranks.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn ranges_name_the_field() {
        let err = in_range("limit", 0, 1, 10).unwrap_err();
        assert!(err.to_string().contains("limit"), "{err}");
        assert_eq!(in_range("limit", 10, 1, 10).unwrap(), 10);
    }
}
