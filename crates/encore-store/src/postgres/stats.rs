//! Read-only statistics over a catalog's events and items (events over time, events per item,
//! item search, a sample of users), and the consistency check. None of them writes.

use std::collections::BTreeMap;

use postgres::Transaction;

use super::catalogs::id_of;
use super::items::{ITEM_COLUMNS, item_from_row};
use super::{limit_i64, to_i64, to_u64};
use crate::error::Result;
use crate::stats::{EventTimeline, ItemPage};

/// Events per bucket of `bucket_secs` seconds (an event's time is its timestamp when it has one,
/// else when it was ingested): the last `limit` buckets up to the newest one. Bucketed by the
/// server; the Rust side only fills the gaps, exactly as the SQLite store does.
pub(super) fn event_timeline(
    tx: &mut Transaction<'_>,
    catalog: &str,
    bucket_secs: i64,
    limit: usize,
) -> Result<EventTimeline> {
    let catalog_id = id_of(tx, catalog)?;
    let bucket_secs = bucket_secs.max(1);
    // Floor division in numeric: extreme timestamps must neither overflow nor round toward 0.
    let rows = tx.query(
        "SELECT (floor(coalesce(ts, ingested_ms / 1000)::numeric / $2::bigint) * $2::bigint)::text,
                count(*)
         FROM events WHERE catalog_id = $1 GROUP BY 1",
        &[&catalog_id, &bucket_secs],
    )?;
    let mut counts: BTreeMap<i64, u64> = BTreeMap::new();
    for r in &rows {
        let start: String = r.get(0);
        // A bucket start beyond i64 saturates, as `saturating_mul` does in the SQLite store.
        let start = start.parse::<i64>().unwrap_or(if start.starts_with('-') {
            i64::MIN
        } else {
            i64::MAX
        });
        *counts.entry(start).or_default() += to_u64(r.get(1));
    }
    Ok(EventTimeline::from_counts(&counts, bucket_secs, limit))
}

/// Events per item id, most events first (ties by id), for every item with events.
pub(super) fn item_event_counts(
    tx: &mut Transaction<'_>,
    catalog: &str,
) -> Result<Vec<(String, u64)>> {
    let catalog_id = id_of(tx, catalog)?;
    let rows = tx.query(
        "SELECT k.item_id, c.n FROM
             (SELECT item_key, count(*) AS n FROM events WHERE catalog_id = $1 GROUP BY item_key) c
         JOIN item_keys k ON k.key = c.item_key",
        &[&catalog_id],
    )?;
    let mut out: Vec<(String, u64)> = rows.iter().map(|r| (r.get(0), to_u64(r.get(1)))).collect();
    // Sorted here, by byte order of the ids, as the SQLite store sorts (a database collation
    // could order ids differently).
    out.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(out)
}

/// Items with metadata whose id starts with `query` or whose title contains it (ignoring case;
/// every item when `query` is empty), after the cursor `after`, at most `limit`.
pub(super) fn search_items(
    tx: &mut Transaction<'_>,
    catalog: &str,
    query: &str,
    after: u64,
    limit: usize,
) -> Result<ItemPage> {
    let catalog_id = id_of(tx, catalog)?;
    let fetch = to_i64("limit", limit as u64 + 1)?;
    let rows = tx.query(
        &format!(
            "SELECT {ITEM_COLUMNS}, k.key FROM item_keys k JOIN items i ON i.key = k.key
             WHERE k.catalog_id = $1 AND k.key > $2
               AND ($3 = '' OR left(lower(k.item_id), length($3)) = lower($3)
                    OR strpos(lower(i.title), lower($3)) > 0)
             ORDER BY k.key LIMIT $4"
        ),
        &[&catalog_id, &to_i64("after", after)?, &query, &fetch],
    )?;
    let mut items = Vec::with_capacity(rows.len());
    let mut keys = Vec::with_capacity(rows.len());
    for r in &rows {
        keys.push(r.get::<_, i64>(7));
        items.push(item_from_row(r)?);
    }
    let next_after = if items.len() > limit {
        items.truncate(limit);
        keys.get(limit.wrapping_sub(1)).map(|&k| to_u64(k))
    } else {
        None
    };
    Ok(ItemPage { items, next_after })
}

/// Up to `max` user ids spread evenly over the catalog's users (every `users / max`-th in key
/// order), and the number of users.
pub(super) fn sample_users(
    tx: &mut Transaction<'_>,
    catalog: &str,
    max: usize,
) -> Result<(Vec<String>, u64)> {
    let catalog_id = id_of(tx, catalog)?;
    let total: i64 =
        tx.query_one("SELECT count(*) FROM users WHERE catalog_id = $1", &[&catalog_id])?.get(0);
    let total = to_u64(total);
    if max == 0 || total == 0 {
        return Ok((Vec::new(), total));
    }
    let step = total.div_ceil(max as u64).max(1);
    let rows = tx.query(
        "SELECT user_id FROM (SELECT user_id, row_number() OVER (ORDER BY key) - 1 AS rn
                              FROM users WHERE catalog_id = $1) numbered
         WHERE rn % $2 = 0 ORDER BY rn LIMIT $3",
        &[&catalog_id, &to_i64("step", step)?, &limit_i64(max)],
    )?;
    Ok((rows.iter().map(|r| r.get(0)).collect(), total))
}

/// What the schema does not enforce by itself: events reference no declared keys (see
/// schema.rs), sequence numbers must be unique across catalogs and never above the counter, and
/// every catalog has at most one active model (the index enforces it; checked anyway, as a
/// canary for a dropped index).
pub(super) fn integrity_check(tx: &mut Transaction<'_>) -> Result<Vec<String>> {
    let checks = [
        (
            "SELECT count(*) FROM events e WHERE NOT EXISTS
                 (SELECT 1 FROM users u WHERE u.key = e.user_key AND u.catalog_id = e.catalog_id)",
            "events reference a missing user key",
        ),
        (
            "SELECT count(*) FROM events e WHERE NOT EXISTS
                 (SELECT 1 FROM item_keys k WHERE k.key = e.item_key AND k.catalog_id = e.catalog_id)",
            "events reference a missing item key",
        ),
        (
            "SELECT count(*) FROM events e
             WHERE NOT EXISTS (SELECT 1 FROM catalogs c WHERE c.id = e.catalog_id)",
            "events reference a missing catalog",
        ),
        (
            "SELECT count(*) FROM (SELECT seq FROM events GROUP BY seq HAVING count(*) > 1) d",
            "sequence numbers are used by more than one event",
        ),
        (
            "SELECT count(*) FROM events
             WHERE seq > (SELECT value FROM counters WHERE name = 'event_seq') OR seq < 1",
            "events have a sequence number outside 1..=the counter (a later append would reuse it)",
        ),
        (
            "SELECT count(*) FROM (SELECT catalog_id FROM models WHERE active
                                   GROUP BY catalog_id HAVING count(*) > 1) d",
            "catalogs have more than one active model",
        ),
    ];
    let mut problems = Vec::new();
    for (sql, what) in checks {
        let n: i64 = tx.query_one(sql, &[])?.get(0);
        if n > 0 {
            problems.push(format!("{n} {what}"));
        }
    }
    Ok(problems)
}
