//! Read-only statistics over a catalog's events and items: events over time, events per item,
//! item search and an evenly spread sample of users. None of them writes.

use std::collections::BTreeMap;

use rusqlite::Connection;

use super::catalogs::id_of;
use super::items::{ITEM_COLUMNS, item_from_row};
use super::{to_i64, to_u64};
use crate::error::Result;
use crate::stats::{EventTimeline, ItemPage};

/// Events per bucket of `bucket_secs` seconds; an event's time is its timestamp when it has one,
/// else when it was ingested. Returns the last `limit` buckets up to the newest one.
pub(super) fn event_timeline(
    conn: &Connection,
    catalog: &str,
    bucket_secs: i64,
    limit: usize,
) -> Result<EventTimeline> {
    let catalog_id = id_of(conn, catalog)?;
    let bucket_secs = bucket_secs.max(1);
    let mut stmt =
        conn.prepare("SELECT COALESCE(ts, ingested_ms / 1000) FROM events WHERE catalog_id = ?1")?;
    let mut counts: BTreeMap<i64, u64> = BTreeMap::new();
    let mut rows = stmt.query([catalog_id])?;
    while let Some(row) = rows.next()? {
        let t: i64 = row.get(0)?;
        let start = t.div_euclid(bucket_secs).saturating_mul(bucket_secs);
        *counts.entry(start).or_default() += 1;
    }
    Ok(EventTimeline::from_counts(&counts, bucket_secs, limit))
}

/// Events per item id, most events first (ties by id), for every item with events.
pub(super) fn item_event_counts(conn: &Connection, catalog: &str) -> Result<Vec<(String, u64)>> {
    let catalog_id = id_of(conn, catalog)?;
    let mut per_key: BTreeMap<i64, u64> = BTreeMap::new();
    {
        let mut stmt = conn.prepare("SELECT item_key FROM events WHERE catalog_id = ?1")?;
        let mut rows = stmt.query([catalog_id])?;
        while let Some(row) = rows.next()? {
            *per_key.entry(row.get(0)?).or_default() += 1;
        }
    }
    let mut stmt = conn.prepare("SELECT key, item_id FROM item_keys WHERE catalog_id = ?1")?;
    let mut out = Vec::with_capacity(per_key.len());
    for row in
        stmt.query_map([catalog_id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?
    {
        let (key, id) = row?;
        if let Some(&n) = per_key.get(&key) {
            out.push((id, n));
        }
    }
    out.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(out)
}

/// Items with metadata whose id starts with `query` or whose title contains it (both ignoring
/// ASCII case; every item when `query` is empty), after the cursor `after`, at most `limit`.
pub(super) fn search_items(
    conn: &Connection,
    catalog: &str,
    query: &str,
    after: u64,
    limit: usize,
) -> Result<ItemPage> {
    let catalog_id = id_of(conn, catalog)?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ITEM_COLUMNS}, k.key FROM item_keys k JOIN items i ON i.key = k.key
         WHERE k.catalog_id = ?1 AND k.key > ?2
           AND (?3 = '' OR substr(lower(k.item_id), 1, length(?3)) = lower(?3)
                OR instr(lower(i.title), lower(?3)) > 0)
         ORDER BY k.key LIMIT ?4"
    ))?;
    let fetch = to_i64("limit", limit as u64 + 1)?;
    let after = to_i64("after", after)?;
    let mut items = Vec::new();
    let mut keys = Vec::new();
    let rows = stmt.query_map((catalog_id, after, query, fetch), |r| {
        // The item columns come first, as `item_from_row` reads them; the key follows.
        Ok((r.get::<_, i64>(7)?, item_from_row(r)?))
    })?;
    for row in rows {
        let (key, item) = row?;
        keys.push(key);
        items.push(item);
    }
    let next_after = if items.len() > limit {
        items.truncate(limit);
        keys.get(limit - 1).map(|&k| to_u64(k))
    } else {
        None
    };
    Ok(ItemPage { items, next_after })
}

/// Up to `max` user ids spread evenly over the catalog's users (every `users / max`-th in key
/// order), and the number of users.
pub(super) fn sample_users(
    conn: &Connection,
    catalog: &str,
    max: usize,
) -> Result<(Vec<String>, u64)> {
    let catalog_id = id_of(conn, catalog)?;
    let total: i64 =
        conn.query_row("SELECT COUNT(*) FROM users WHERE catalog_id = ?1", [catalog_id], |r| {
            r.get(0)
        })?;
    let total = to_u64(total);
    if max == 0 || total == 0 {
        return Ok((Vec::new(), total));
    }
    let step = total.div_ceil(max as u64).max(1);
    let mut stmt = conn.prepare(
        "SELECT user_id FROM (SELECT user_id, ROW_NUMBER() OVER (ORDER BY key) - 1 AS rn
                              FROM users WHERE catalog_id = ?1)
         WHERE rn % ?2 = 0 LIMIT ?3",
    )?;
    let rows = stmt
        .query_map((catalog_id, to_i64("step", step)?, to_i64("max", max as u64)?), |r| r.get(0))?;
    Ok((rows.collect::<rusqlite::Result<_>>()?, total))
}
