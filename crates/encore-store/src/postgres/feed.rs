//! The replica feed on PostgreSQL ([`ReplicaFeed`]): the change log written beside every write a
//! replica keeps in memory, the two logs read back in order, replica heartbeats and the jobs of
//! replicas that stopped.
//!
//! Ordering: a change takes its number from the `change_seq` row of `counters` with `UPDATE …
//! RETURNING`, whose row lock is held until the transaction ends, so change numbers commit in
//! order (as the event counter does for events). [`record`] is the last statement of every
//! transaction that calls it: a transaction holding the change counter then waits for no other
//! lock, so no lock cycle can include it.

use std::collections::HashMap;

use postgres::Transaction;

use super::{PostgresStore, blobs, limit_i64, to_i64, to_u64};
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::replica::{
    BlobInfo, CHANGE_RETENTION_MS, Change, ChangeKind, FeedEvent, FeedHeads, ReplicaFeed,
    ReplicaRecord,
};

/// The newest committed event sequence number (0: none yet). A plain read at READ COMMITTED:
/// it does not wait for an appender holding the counter, and sees the last committed value.
pub(super) fn committed_events_seq(tx: &mut Transaction<'_>) -> Result<u64> {
    let v: i64 = tx.query_one("SELECT value FROM counters WHERE name = 'event_seq'", &[])?.get(0);
    Ok(to_u64(v))
}

/// Writes one change row in the caller's transaction, so it commits exactly when the write it
/// describes does. `events_seq` is the event watermark the change follows: `None` reads the
/// committed counter (the caller's own events, if any, would not be counted), `Some` when the
/// caller holds the event counter and knows the value before its own events (an import that
/// creates its catalog, whose events must be applied after the catalog exists). Call it last in
/// the transaction (see the module docs). Returns the change's number.
pub(super) fn record(
    tx: &mut Transaction<'_>,
    replica: Option<&str>,
    catalog: Option<&str>,
    kind: &ChangeKind,
    events_seq: Option<u64>,
) -> Result<u64> {
    let seq: i64 = tx
        .query_one(
            "UPDATE counters SET value = value + 1 WHERE name = 'change_seq' RETURNING value",
            &[],
        )?
        .get(0);
    // Read after the change counter's lock is ours (a statement of its own: its snapshot is
    // taken after the wait), so the watermark never decreases in change order.
    let events_seq = match events_seq {
        Some(seq) => seq,
        None => committed_events_seq(tx)?,
    };
    let kind = serde_json::to_value(kind).expect("a change kind serialises");
    tx.execute(
        "INSERT INTO changes (seq, events_seq, catalog, kind, replica, time_ms)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[&seq, &to_i64("sequence number", events_seq)?, &catalog, &kind, &replica, &now_ms()],
    )?;
    Ok(to_u64(seq))
}

fn heads(tx: &mut Transaction<'_>) -> Result<FeedHeads> {
    let r = tx.query_one(
        "SELECT (SELECT value FROM counters WHERE name = 'event_seq'),
                (SELECT value FROM counters WHERE name = 'change_seq'),
                (SELECT coalesce(min(seq), 0) FROM changes)",
        &[],
    )?;
    Ok(FeedHeads {
        events: to_u64(r.get(0)),
        changes: to_u64(r.get(1)),
        oldest_change: to_u64(r.get(2)),
    })
}

fn events_after(tx: &mut Transaction<'_>, after: u64, limit: usize) -> Result<Vec<FeedEvent>> {
    // The ORDER BY … LIMIT runs on `events` alone (a merge of the partitions' `seq` indexes,
    // stopping after `limit` rows); the ids are then looked up by primary key for the keys those
    // rows name. One query joining `users` and `item_keys` to the page was planned as hash joins
    // over both whole tables (the planner takes `LIMIT $2` for `limit` rows): 3.6–5.7 ms for an
    // idle poll and 13–22 ms for 147 events at 5·10^4 users, against 0.8 ms by key, and every
    // replica polls ten times a second (bench/README.md, "Replicas on PostgreSQL").
    let rows = tx.query(
        "SELECT seq, catalog_id, user_key, item_key, weight FROM events
         WHERE seq > $1 ORDER BY seq LIMIT $2",
        &[&to_i64("sequence number", after)?, &limit_i64(limit)],
    )?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let distinct = |column: usize| -> Vec<i64> {
        let mut keys: Vec<i64> = rows.iter().map(|r| r.get(column)).collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    };
    let names =
        |tx: &mut Transaction<'_>, sql: &str, keys: Vec<i64>| -> Result<HashMap<i64, String>> {
            Ok(tx.query(sql, &[&keys])?.iter().map(|r| (r.get(0), r.get(1))).collect())
        };
    let catalogs = names(tx, "SELECT id, name FROM catalogs WHERE id = ANY($1)", distinct(1))?;
    let users = names(tx, "SELECT key, user_id FROM users WHERE key = ANY($1)", distinct(2))?;
    let items = names(tx, "SELECT key, item_id FROM item_keys WHERE key = ANY($1)", distinct(3))?;
    rows.iter()
        .map(|r| {
            let seq = to_u64(r.get(0));
            let name = |map: &HashMap<i64, String>, column: usize, what: &str| {
                map.get(&r.get::<_, i64>(column)).cloned().ok_or_else(|| {
                    Error::Conflict(format!("event {seq} names a {what} key that is not stored"))
                })
            };
            Ok(FeedEvent {
                seq,
                catalog: name(&catalogs, 1, "catalog")?,
                user_id: name(&users, 2, "user")?,
                item_id: name(&items, 3, "item")?,
                weight: r.get(4),
            })
        })
        .collect()
}

fn changes_after(tx: &mut Transaction<'_>, after: u64, limit: usize) -> Result<Vec<Change>> {
    let rows = tx.query(
        "SELECT seq, events_seq, catalog, kind, replica, time_ms FROM changes
         WHERE seq > $1 ORDER BY seq LIMIT $2",
        &[&to_i64("sequence number", after)?, &limit_i64(limit)],
    )?;
    rows.iter()
        .map(|r| {
            let seq = to_u64(r.get(0));
            let kind = serde_json::from_value(r.get(3)).map_err(|e| {
                Error::Conflict(format!("stored change {seq} has an unknown kind: {e}"))
            })?;
            Ok(Change {
                seq,
                events_seq: to_u64(r.get(1)),
                catalog: r.get(2),
                kind,
                replica: r.get(4),
                time_ms: r.get(5),
            })
        })
        .collect()
}

fn heartbeat(tx: &mut Transaction<'_>, replica: &str) -> Result<()> {
    crate::limits::check_id("replica name", replica)?;
    let now = now_ms();
    tx.execute(
        "INSERT INTO replicas (name, started_ms, heartbeat_ms) VALUES ($1, $2, $2)
         ON CONFLICT (name) DO UPDATE SET heartbeat_ms = greatest(replicas.heartbeat_ms, $2)",
        &[&replica, &now],
    )?;
    // The newest change is never pruned, so the log is empty only while no change was ever
    // written and `FeedHeads::oldest_change` is 0 only then: a follower compares its position
    // with it alone.
    tx.execute(
        "DELETE FROM changes WHERE time_ms < $1
             AND seq < (SELECT value FROM counters WHERE name = 'change_seq')",
        &[&(now - CHANGE_RETENTION_MS)],
    )?;
    Ok(())
}

fn live_replicas(tx: &mut Transaction<'_>, fresh_ms: i64) -> Result<Vec<ReplicaRecord>> {
    let rows = tx.query(
        "SELECT name, started_ms, heartbeat_ms FROM replicas WHERE heartbeat_ms >= $1
         ORDER BY name",
        &[&(now_ms() - fresh_ms.max(0))],
    )?;
    Ok(rows
        .iter()
        .map(|r| ReplicaRecord { name: r.get(0), started_ms: r.get(1), heartbeat_ms: r.get(2) })
        .collect())
}

/// Fails the unfinished jobs no live replica runs. The job rows are locked by the UPDATE and
/// their state checked again after any wait, so a job that its owner finished (or another
/// replica failed) meanwhile is left alone, and the owner's later update is refused
/// (an ended job keeps its state).
fn fail_abandoned_jobs(
    tx: &mut Transaction<'_>,
    stale_ms: i64,
    restarted: Option<&str>,
) -> Result<Vec<u64>> {
    let now = now_ms();
    let rows = tx.query(
        "UPDATE jobs j SET state = 'failed', updated_ms = $1::bigint,
             error = CASE
                 WHEN j.owner IS NULL THEN
                     'abandoned: no replica owns it (it was created by a process without a \
                      replica name)'
                 WHEN j.owner = $3::text THEN
                     'abandoned: replica `' || j.owner || '` restarted'
                 ELSE
                     'abandoned: replica `' || j.owner || '` stopped (' || coalesce(
                         'no heartbeat for ' || (($1 - (SELECT r.heartbeat_ms FROM replicas r
                                                        WHERE r.name = j.owner)) / 1000)
                             || ' s',
                         'no heartbeat recorded') || ')'
             END
         WHERE j.state IN ('queued', 'running')
           AND (j.owner IS NULL OR j.owner = $3 OR NOT EXISTS (
               SELECT 1 FROM replicas r
               WHERE r.name = j.owner AND r.heartbeat_ms >= $1::bigint - $2::bigint))
         RETURNING j.id",
        &[&now, &stale_ms.max(0), &restarted],
    )?;
    let mut ids: Vec<u64> = rows.iter().map(|r| to_u64(r.get(0))).collect();
    ids.sort_unstable();
    Ok(ids)
}

impl ReplicaFeed for PostgresStore {
    fn feed_heads(&self) -> Result<FeedHeads> {
        self.read(heads)
    }

    fn events_after(&self, after: u64, limit: usize) -> Result<Vec<FeedEvent>> {
        self.read(|tx| events_after(tx, after, limit))
    }

    fn changes_after(&self, after: u64, limit: usize) -> Result<Vec<Change>> {
        self.read(|tx| changes_after(tx, after, limit))
    }

    fn heartbeat(&self, replica: &str) -> Result<()> {
        self.write(|tx| heartbeat(tx, replica))
    }

    fn live_replicas(&self, fresh_ms: i64) -> Result<Vec<ReplicaRecord>> {
        self.read(|tx| live_replicas(tx, fresh_ms))
    }

    fn fail_abandoned_jobs(&self, stale_ms: i64, restarted: Option<&str>) -> Result<Vec<u64>> {
        self.write(|tx| fail_abandoned_jobs(tx, stale_ms, restarted))
    }

    fn put_model_blob(
        &self,
        catalog: &str,
        version: u32,
        source: &mut dyn std::io::Read,
    ) -> Result<BlobInfo> {
        self.write(|tx| blobs::put(tx, catalog, version, source))
    }

    fn model_blob_info(&self, catalog: &str, version: u32) -> Result<Option<BlobInfo>> {
        self.read(|tx| blobs::info(tx, catalog, version))
    }

    fn read_model_blob(
        &self,
        catalog: &str,
        version: u32,
        sink: &mut dyn std::io::Write,
    ) -> Result<BlobInfo> {
        self.read(|tx| blobs::read(tx, catalog, version, sink))
    }
}
