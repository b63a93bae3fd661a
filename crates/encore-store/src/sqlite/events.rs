//! Users and events: appends, reads for training, user histories and counts, erasure.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Row};

use super::catalogs::id_of;
use super::items::key_get_or_create as item_key_get_or_create;
use super::{now_ms, to_i64, to_u64};
use crate::error::{Error, Resource, Result};
use crate::types::{AppendReport, EraseReport, NewEvent, StoredEvent, TrainingEvent};

pub(super) use crate::limits::check_batch;

/// The key of `user_id` in the catalog, creating it when absent; also says whether it was new.
pub(super) fn user_key_get_or_create(
    conn: &Connection,
    catalog_id: i64,
    user_id: &str,
) -> Result<(i64, bool)> {
    if let Some(key) = user_key(conn, catalog_id, user_id)? {
        return Ok((key, false));
    }
    conn.prepare_cached("INSERT INTO users (catalog_id, user_id) VALUES (?1, ?2)")?
        .execute((catalog_id, user_id))?;
    Ok((conn.last_insert_rowid(), true))
}

fn user_key(conn: &Connection, catalog_id: i64, user_id: &str) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT key FROM users WHERE catalog_id = ?1 AND user_id = ?2")?
        .query_row((catalog_id, user_id), |r| r.get(0))
        .optional()?)
}

/// Reserves `count` consecutive sequence numbers and returns the first (inside the caller's
/// transaction: a rollback gives them back).
pub(super) fn reserve_seqs(conn: &Connection, count: u64) -> Result<u64> {
    let last: i64 = conn
        .prepare_cached(
            "UPDATE counters SET value = value + ?1 WHERE name = 'event_seq' RETURNING value",
        )?
        .query_row([to_i64("event count", count)?], |r| r.get(0))?;
    Ok(to_u64(last) - count + 1)
}

/// Appends a validated batch inside the caller's transaction.
pub(super) fn append(conn: &Connection, catalog: &str, batch: &[NewEvent]) -> Result<AppendReport> {
    let catalog_id = id_of(conn, catalog)?;
    if batch.is_empty() {
        return Ok(AppendReport { accepted: 0, seq_range: None });
    }
    let now = now_ms();
    let first = reserve_seqs(conn, batch.len() as u64)?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO events (catalog_id, seq, user_key, item_key, weight, ts, ingested_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for (seq, e) in (first..).zip(batch) {
        let (user, _) = user_key_get_or_create(conn, catalog_id, &e.user_id)?;
        let (item, _) = item_key_get_or_create(conn, catalog_id, &e.item_id)?;
        insert.execute((
            catalog_id,
            to_i64("sequence number", seq)?,
            user,
            item,
            f64::from(e.weight),
            e.timestamp,
            now,
        ))?;
    }
    let last = first + batch.len() as u64 - 1;
    Ok(AppendReport { accepted: batch.len() as u64, seq_range: Some((first, last)) })
}

/// Loads `key → id` for a catalog's users or item keys.
fn key_names(
    conn: &Connection,
    table: &str,
    column: &str,
    catalog_id: i64,
) -> Result<HashMap<i64, String>> {
    let mut stmt =
        conn.prepare(&format!("SELECT key, {column} FROM {table} WHERE catalog_id = ?1"))?;
    let rows = stmt.query_map([catalog_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Streams events in sequence order. The id tables are loaded once into memory so the scan reads
/// only integers: a join per row would cost two index lookups per event.
pub(super) fn for_each_training_event(
    conn: &Connection,
    catalog: &str,
    up_to_seq: Option<u64>,
    sink: &mut dyn FnMut(TrainingEvent<'_>),
) -> Result<u64> {
    let catalog_id = id_of(conn, catalog)?;
    let users = key_names(conn, "users", "user_id", catalog_id)?;
    let items = key_names(conn, "item_keys", "item_id", catalog_id)?;
    let limit = match up_to_seq {
        Some(seq) => to_i64("sequence number", seq)?,
        None => i64::MAX,
    };
    let mut stmt = conn.prepare(
        "SELECT seq, user_key, item_key, weight, ts FROM events
         WHERE catalog_id = ?1 AND seq <= ?2 ORDER BY seq",
    )?;
    let mut rows = stmt.query((catalog_id, limit))?;
    let mut count = 0;
    while let Some(r) = rows.next()? {
        let user_key: i64 = r.get(1)?;
        let item_key: i64 = r.get(2)?;
        // Both lookups succeed: foreign keys guarantee the rows, and the snapshot is consistent.
        let (Some(user_id), Some(item_id)) = (users.get(&user_key), items.get(&item_key)) else {
            return Err(Error::Conflict(format!(
                "event {} references a missing user or item key",
                r.get::<_, i64>(0)?
            )));
        };
        sink(TrainingEvent {
            seq: to_u64(r.get(0)?),
            user_id,
            item_id,
            weight: r.get::<_, f64>(3)? as f32,
            timestamp: r.get(4)?,
        });
        count += 1;
    }
    Ok(count)
}

const STORED_EVENT_SELECT: &str =
    "SELECT e.seq, u.user_id, k.item_id, e.weight, e.ts, e.ingested_ms
     FROM events e JOIN users u ON u.key = e.user_key JOIN item_keys k ON k.key = e.item_key";

fn stored_event(r: &Row<'_>) -> rusqlite::Result<StoredEvent> {
    Ok(StoredEvent {
        seq: to_u64(r.get(0)?),
        user_id: r.get(1)?,
        item_id: r.get(2)?,
        weight: r.get::<_, f64>(3)? as f32,
        timestamp: r.get(4)?,
        ingested_ms: r.get(5)?,
    })
}

pub(super) fn of_user(conn: &Connection, catalog: &str, user_id: &str) -> Result<Vec<StoredEvent>> {
    let catalog_id = id_of(conn, catalog)?;
    let Some(key) = user_key(conn, catalog_id, user_id)? else {
        return Err(Error::not_found(Resource::User, user_id));
    };
    let mut stmt = conn
        .prepare_cached(&format!("{STORED_EVENT_SELECT} WHERE e.user_key = ?1 ORDER BY e.seq"))?;
    let rows = stmt.query_map([key], stored_event)?;
    let events: Vec<StoredEvent> = rows.collect::<rusqlite::Result<_>>()?;
    if events.is_empty() {
        return Err(Error::not_found(Resource::User, user_id));
    }
    Ok(events)
}

pub(super) fn count(conn: &Connection, catalog: &str) -> Result<u64> {
    let catalog_id = id_of(conn, catalog)?;
    let n: i64 =
        conn.query_row("SELECT count(*) FROM events WHERE catalog_id = ?1", [catalog_id], |r| {
            r.get(0)
        })?;
    Ok(to_u64(n))
}

pub(super) fn erase_user(conn: &Connection, catalog: &str, user_id: &str) -> Result<EraseReport> {
    let catalog_id = id_of(conn, catalog)?;
    let Some(key) = user_key(conn, catalog_id, user_id)? else {
        return Ok(EraseReport::default());
    };
    // By user key alone (keys are unique across catalogs), so the planner takes the user index
    // instead of scanning the catalog's range.
    let events_deleted = conn.execute("DELETE FROM events WHERE user_key = ?1", [key])?;
    conn.execute("DELETE FROM users WHERE key = ?1", [key])?;
    Ok(EraseReport { events_deleted: events_deleted as u64, user_deleted: true })
}
