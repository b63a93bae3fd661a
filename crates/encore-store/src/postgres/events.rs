//! Users and events: appends, reads for training, user histories and counts, erasure.

use postgres::Transaction;
use postgres::fallible_iterator::FallibleIterator;

use super::catalogs::id_of;
use super::keys::{self, KeyTable};
use super::{to_i64, to_u64};
use crate::clock::now_ms;
use crate::error::{Error, Resource, Result};
use crate::types::{AppendReport, EraseReport, NewEvent, StoredEvent, TrainingEvent};

pub(super) use crate::limits::check_batch;

/// Reserves `count` consecutive sequence numbers and returns the first. The counter row stays
/// locked until the caller's transaction ends, so appends commit in sequence order and a
/// rollback gives the numbers back.
pub(super) fn reserve_seqs(tx: &mut Transaction<'_>, count: u64) -> Result<u64> {
    let last: i64 = tx
        .query_one(
            "UPDATE counters SET value = value + $1 WHERE name = 'event_seq' RETURNING value",
            &[&to_i64("event count", count)?],
        )?
        .get(0);
    Ok(to_u64(last) - count + 1)
}

/// Appends a validated batch inside the caller's transaction: the keys of the whole batch in two
/// or three statements, then one `INSERT … SELECT FROM unnest(…)`.
pub(super) fn append(
    tx: &mut Transaction<'_>,
    catalog: &str,
    batch: &[NewEvent],
) -> Result<AppendReport> {
    let catalog_id = id_of(tx, catalog)?;
    if batch.is_empty() {
        return Ok(AppendReport { accepted: 0, seq_range: None });
    }
    let first = reserve_seqs(tx, batch.len() as u64)?;
    super::partitions::ensure(tx, catalog_id)?;
    let user_ids: Vec<&str> = batch.iter().map(|e| e.user_id.as_str()).collect();
    let item_ids: Vec<&str> = batch.iter().map(|e| e.item_id.as_str()).collect();
    let (users, _) = keys::resolve(tx, KeyTable::Users, catalog_id, &user_ids)?;
    let (items, _) = keys::resolve(tx, KeyTable::Items, catalog_id, &item_ids)?;
    let first_i = to_i64("sequence number", first)?;
    let seqs: Vec<i64> = (first_i..).take(batch.len()).collect();
    let user_keys: Vec<i64> = user_ids.iter().map(|u| users[*u]).collect();
    let item_keys: Vec<i64> = item_ids.iter().map(|i| items[*i]).collect();
    let weights: Vec<f32> = batch.iter().map(|e| e.weight).collect();
    let timestamps: Vec<Option<i64>> = batch.iter().map(|e| e.timestamp).collect();
    tx.execute(
        "INSERT INTO events (catalog_id, seq, user_key, item_key, weight, ts, ingested_ms)
         SELECT $1, s, u, i, w, t, $7
         FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::real[], $6::bigint[])
              AS x(s, u, i, w, t)",
        &[&catalog_id, &seqs, &user_keys, &item_keys, &weights, &timestamps, &now_ms()],
    )?;
    let last = first + batch.len() as u64 - 1;
    Ok(AppendReport { accepted: batch.len() as u64, seq_range: Some((first, last)) })
}

/// Streams events in sequence order. The id tables are loaded once into memory so the scan reads
/// only integers, row by row as the server sends them (never the whole result at once).
pub(super) fn for_each_training_event(
    tx: &mut Transaction<'_>,
    catalog: &str,
    up_to_seq: Option<u64>,
    sink: &mut dyn FnMut(TrainingEvent<'_>),
) -> Result<u64> {
    let catalog_id = id_of(tx, catalog)?;
    let users = keys::names(tx, KeyTable::Users, catalog_id)?;
    let items = keys::names(tx, KeyTable::Items, catalog_id)?;
    let limit = match up_to_seq {
        Some(seq) => to_i64("sequence number", seq)?,
        None => i64::MAX,
    };
    let params: [&(dyn postgres::types::ToSql + Sync); 2] = [&catalog_id, &limit];
    let mut rows = tx.query_raw(
        "SELECT seq, user_key, item_key, weight, ts FROM events
         WHERE catalog_id = $1 AND seq <= $2 ORDER BY seq",
        params,
    )?;
    let mut count = 0;
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0);
        let (Some(user_id), Some(item_id)) =
            (users.get(&r.get::<_, i64>(1)), items.get(&r.get::<_, i64>(2)))
        else {
            return Err(Error::Conflict(format!(
                "event {seq} references a missing user or item key"
            )));
        };
        sink(TrainingEvent {
            seq: to_u64(seq),
            user_id,
            item_id,
            weight: r.get(3),
            timestamp: r.get(4),
        });
        count += 1;
    }
    Ok(count)
}

pub(super) fn of_user(
    tx: &mut Transaction<'_>,
    catalog: &str,
    user_id: &str,
) -> Result<Vec<StoredEvent>> {
    let catalog_id = id_of(tx, catalog)?;
    let Some(key) = keys::find(tx, KeyTable::Users, catalog_id, user_id)? else {
        return Err(Error::not_found(Resource::User, user_id));
    };
    // Naming the catalog confines the scan and its locks to the catalog's partition (a user
    // key alone would probe, and wait for, every catalog's).
    let rows = tx.query(
        "SELECT e.seq, k.item_id, e.weight, e.ts, e.ingested_ms
         FROM events e JOIN item_keys k ON k.key = e.item_key
         WHERE e.catalog_id = $1 AND e.user_key = $2 ORDER BY e.seq",
        &[&catalog_id, &key],
    )?;
    if rows.is_empty() {
        return Err(Error::not_found(Resource::User, user_id));
    }
    Ok(rows
        .iter()
        .map(|r| StoredEvent {
            seq: to_u64(r.get(0)),
            user_id: user_id.to_owned(),
            item_id: r.get(1),
            weight: r.get(2),
            timestamp: r.get(3),
            ingested_ms: r.get(4),
        })
        .collect())
}

pub(super) fn count(tx: &mut Transaction<'_>, catalog: &str) -> Result<u64> {
    let catalog_id = id_of(tx, catalog)?;
    let n: i64 =
        tx.query_one("SELECT count(*) FROM events WHERE catalog_id = $1", &[&catalog_id])?.get(0);
    Ok(to_u64(n))
}

pub(super) fn erase_user(
    tx: &mut Transaction<'_>,
    catalog: &str,
    user_id: &str,
) -> Result<EraseReport> {
    let catalog_id = id_of(tx, catalog)?;
    // Holds appends off (they update the counter) until the erasure commits: an event of this
    // user committing meanwhile would escape the DELETE and reference a deleted user key, and
    // the change row's event watermark is exact (every event up to it was seen).
    tx.execute("SELECT value FROM counters WHERE name = 'event_seq' FOR SHARE", &[])?;
    let Some(key) = keys::find(tx, KeyTable::Users, catalog_id, user_id)? else {
        return Ok(EraseReport::default());
    };
    // The catalog's partition only, as in `of_user`.
    let events_deleted = tx.execute(
        "DELETE FROM events WHERE catalog_id = $1 AND user_key = $2",
        &[&catalog_id, &key],
    )?;
    let users_deleted = tx.execute("DELETE FROM users WHERE key = $1", &[&key])?;
    Ok(EraseReport { events_deleted, user_deleted: users_deleted > 0 })
}
