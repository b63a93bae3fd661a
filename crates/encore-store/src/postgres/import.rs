//! Bulk import: millions of events in one transaction, written with `COPY … FROM STDIN (FORMAT
//! binary)`.
//!
//! What makes it fast: rows are encoded by hand in PostgreSQL's binary COPY format (a few
//! big-endian integers per row, no text parsing on the server, no per-value trait objects on the
//! client); the catalog's user and item keys are held in memory (a hash lookup per row); new keys
//! are drawn from the tables' identity sequences a chunk at a time; sequence numbers are assigned
//! in memory while this transaction holds the event counter's row lock; and `events` declares no
//! foreign keys (no trigger per row; `integrity_check` verifies the references).
//!
//! What makes it safe: everything happens in the caller's one transaction; a failure anywhere
//! (a bad line, a lost connection, the process killed) leaves it uncommitted.

use std::io::Write;

use postgres::Transaction;

use super::keys::KeyTable;
use super::{catalogs, partitions};
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::key_map::KeyMap;
use crate::limits::{check_id, check_weight};
use crate::store::ImportSource;
use crate::types::{BulkImportOptions, ImportReport};
use encore_core::data::Record;

/// Rows between two progress reports.
const PROGRESS_EVERY: u64 = 65_536;

/// Rows gathered, sorted by user and numbered before they are written (about 32 MB): the events
/// table's primary key is `(catalog, seq)`, so numbered rows append to it whatever their order;
/// the user index is not, and numbering a chunk user by user turns its random inserts into a
/// sequential pass (the same measurement as the SQLite import's).
const CHUNK_ROWS: usize = 1 << 20;

// Id → key maps ([`KeyMap`]): a key below zero is provisional: `-(n + 1)` is the `n`-th id new
// in this chunk, numbered when the chunk is written.

/// The signature, flags and header-extension length that open every binary COPY stream.
const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The end-of-data marker: a field count of -1.
const COPY_TRAILER: &[u8] = &(-1i16).to_be_bytes();

/// Encodes rows in PostgreSQL's binary COPY format: per row a field count, then per field its
/// byte length (-1 for NULL) and its big-endian value.
struct CopyRow<'b>(&'b mut Vec<u8>);

impl<'b> CopyRow<'b> {
    fn start(buf: &'b mut Vec<u8>, fields: i16) -> Self {
        buf.extend_from_slice(&fields.to_be_bytes());
        CopyRow(buf)
    }

    fn int8(self, v: i64) -> Self {
        self.0.extend_from_slice(&8i32.to_be_bytes());
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    fn opt_int8(self, v: Option<i64>) -> Self {
        match v {
            Some(v) => self.int8(v),
            None => {
                self.0.extend_from_slice(&(-1i32).to_be_bytes());
                self
            }
        }
    }

    fn float4(self, v: f32) -> Self {
        self.0.extend_from_slice(&4i32.to_be_bytes());
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    fn text(self, v: &str) -> Self {
        // Ids are at most 256 characters (`limits`), so the length fits.
        self.0.extend_from_slice(&(v.len() as i32).to_be_bytes());
        self.0.extend_from_slice(v.as_bytes());
        self
    }
}

/// Sends `rows` (already encoded, without header and trailer) through one COPY statement.
fn copy_in(tx: &mut Transaction<'_>, statement: &str, rows: &[u8]) -> Result<()> {
    let mut writer = tx.copy_in(statement)?;
    let io = |e: std::io::Error| Error::Unavailable(format!("COPY into the database failed: {e}"));
    writer.write_all(COPY_HEADER).map_err(io)?;
    writer.write_all(rows).map_err(io)?;
    writer.write_all(COPY_TRAILER).map_err(io)?;
    writer.finish()?;
    Ok(())
}

/// One event waiting for its chunk to be written.
#[derive(Clone, Copy)]
struct PendingRow {
    user: i64,
    item: i64,
    weight: f32,
    timestamp: Option<i64>,
}

/// The ids of one key table: known ones, and those new in the current chunk.
struct Keys {
    table: KeyTable,
    known: KeyMap,
    fresh: Vec<Box<str>>,
    created: u64,
}

impl Keys {
    fn load(tx: &mut Transaction<'_>, table: KeyTable, catalog_id: i64) -> Result<Keys> {
        let sql =
            format!("SELECT {}, key FROM {} WHERE catalog_id = $1", table.column(), table.table());
        let mut known = KeyMap::default();
        for r in tx.query(&sql, &[&catalog_id])? {
            known.insert(r.get::<_, String>(0).into_boxed_str(), r.get(1));
        }
        Ok(Keys { table, known, fresh: Vec::new(), created: 0 })
    }

    /// The key of `id`: known, or provisional when first seen in this chunk.
    fn key(&mut self, id: &str) -> i64 {
        if let Some(&key) = self.known.get(id) {
            return key;
        }
        let provisional = -(self.fresh.len() as i64) - 1;
        self.fresh.push(id.into());
        self.known.insert(id.into(), provisional);
        provisional
    }

    /// Draws real keys for this chunk's new ids, writes them with COPY, and returns them in the
    /// order of `fresh` (so provisional key `-(n + 1)` becomes `result[n]`).
    fn write_fresh(&mut self, tx: &mut Transaction<'_>, catalog_id: i64) -> Result<Vec<i64>> {
        if self.fresh.is_empty() {
            return Ok(Vec::new());
        }
        let (table, column) = (self.table.table(), self.table.column());
        let drawn: Vec<i64> = tx
            .query(
                &format!(
                    "SELECT nextval(pg_get_serial_sequence('{table}', 'key'))
                     FROM generate_series(1, $1::bigint) ORDER BY 1"
                ),
                &[&(self.fresh.len() as i64)],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut buf = Vec::with_capacity(self.fresh.len() * 40);
        for (id, &key) in self.fresh.iter().zip(&drawn) {
            CopyRow::start(&mut buf, 3).int8(key).int8(catalog_id).text(id);
            *self.known.get_mut(id).expect("a fresh id is in the map") = key;
        }
        copy_in(
            tx,
            &format!("COPY {table} (key, catalog_id, {column}) FROM STDIN (FORMAT binary)"),
            &buf,
        )?;
        self.created += self.fresh.len() as u64;
        self.fresh.clear();
        Ok(drawn)
    }
}

/// Resolves a provisional key against the keys just drawn.
fn real_key(key: i64, drawn: &[i64]) -> i64 {
    if key < 0 { drawn[(-key - 1) as usize] } else { key }
}

/// The import's state between chunks.
struct Importer {
    /// The COPY statement of the catalog's partition.
    events_copy: String,
    catalog_id: i64,
    now: i64,
    next_seq: i64,
    users: Keys,
    items: Keys,
    chunk: Vec<PendingRow>,
    buf: Vec<u8>,
}

impl Importer {
    /// Writes the chunk's new keys, then its events numbered user by user (stably: each user's
    /// events keep their file order).
    fn flush(&mut self, tx: &mut Transaction<'_>) -> Result<()> {
        let new_users = self.users.write_fresh(tx, self.catalog_id)?;
        let new_items = self.items.write_fresh(tx, self.catalog_id)?;
        for row in &mut self.chunk {
            row.user = real_key(row.user, &new_users);
            row.item = real_key(row.item, &new_items);
        }
        if self.chunk.is_empty() {
            return Ok(());
        }
        self.chunk.sort_by_key(|row| row.user);
        self.buf.clear();
        for row in &self.chunk {
            CopyRow::start(&mut self.buf, 7)
                .int8(self.catalog_id)
                .int8(self.next_seq)
                .int8(row.user)
                .int8(row.item)
                .float4(row.weight)
                .opt_int8(row.timestamp)
                .int8(self.now);
            self.next_seq += 1;
        }
        copy_in(tx, &self.events_copy, &self.buf)?;
        self.chunk.clear();
        Ok(())
    }
}

/// Imports in the caller's transaction. Also returns, when the import created the catalog, the
/// event counter before its events (the watermark of its `CatalogCreated` change).
pub(super) fn bulk_import(
    tx: &mut Transaction<'_>,
    catalog: &str,
    options: &BulkImportOptions<'_>,
    source: &mut ImportSource<'_>,
    progress: &mut dyn FnMut(u64),
) -> Result<(ImportReport, Option<u64>)> {
    let (catalog_id, created) = catalogs::get_or_create(tx, catalog)?;
    // Locks the counter row until commit: concurrent appends wait, so this import may number its
    // events itself and store the high-water mark once at the end.
    let seq_before: i64 =
        tx.query_one("SELECT value FROM counters WHERE name = 'event_seq' FOR UPDATE", &[])?.get(0);
    // A catalog without events yet gets its partition filled unindexed (FREEZE: the table is
    // this transaction's own, so its rows can be written already frozen) and indexed at the end.
    let fresh = !partitions::exists(tx, catalog_id)?;
    if fresh {
        partitions::create_detached(tx, catalog_id)?;
    }
    let mut importer = Importer {
        events_copy: format!(
            "COPY {} (catalog_id, seq, user_key, item_key, weight, ts, ingested_ms)
             FROM STDIN (FORMAT binary{})",
            partitions::name(catalog_id),
            if fresh { ", FREEZE" } else { "" }
        ),
        catalog_id,
        now: now_ms(),
        next_seq: seq_before + 1,
        users: Keys::load(tx, KeyTable::Users, catalog_id)?,
        items: Keys::load(tx, KeyTable::Items, catalog_id)?,
        chunk: Vec::with_capacity(CHUNK_ROWS),
        buf: Vec::new(),
    };
    let mut rows = 0u64;
    let mut failure: Option<Error> = None;
    let mut skipped_invalid = 0u64;
    let skipped_by_source = source(&mut |e: Record<'_>| {
        let valid = check_id("user_id", e.user)
            .and_then(|()| check_id("item_id", e.item))
            .and_then(|()| check_weight(e.weight));
        if let Err(err) = valid {
            if options.skip_invalid {
                skipped_invalid += 1;
                return true;
            }
            failure = Some(Error::Invalid(format!("{}:{}: {err}", options.origin, e.line)));
            return false;
        }
        let row = PendingRow {
            user: importer.users.key(e.user),
            item: importer.items.key(e.item),
            weight: e.weight,
            timestamp: e.timestamp,
        };
        importer.chunk.push(row);
        rows += 1;
        if rows.is_multiple_of(PROGRESS_EVERY) {
            progress(rows);
        }
        if importer.chunk.len() == CHUNK_ROWS
            && let Err(err) = importer.flush(tx)
        {
            failure = Some(err);
            return false;
        }
        true
    });
    // Returning early drops the caller's transaction, which rolls everything back. Our refusal
    // stopped the source, so when there is one it is the cause.
    if let Some(err) = failure {
        return Err(err);
    }
    let skipped_by_source = skipped_by_source?;
    importer.flush(tx)?;
    if fresh {
        partitions::attach(tx, catalog_id)?;
    }
    tx.execute(
        "UPDATE counters SET value = $1 WHERE name = 'event_seq'",
        &[&(importer.next_seq - 1)],
    )?;
    progress(rows);
    let report = ImportReport {
        rows,
        users_new: importer.users.created,
        items_new: importer.items.created,
        skipped: skipped_by_source + skipped_invalid,
        seconds: 0.0,
    };
    Ok((report, created.then_some(super::to_u64(seq_before))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_rows_are_big_endian_with_lengths_and_null_markers() {
        let mut buf = Vec::new();
        CopyRow::start(&mut buf, 3).int8(1).opt_int8(None).text("ab");
        let expected: Vec<u8> = [
            &3i16.to_be_bytes()[..],
            &8i32.to_be_bytes(),
            &1i64.to_be_bytes(),
            &(-1i32).to_be_bytes(),
            &2i32.to_be_bytes(),
            b"ab",
        ]
        .concat();
        assert_eq!(buf, expected);
        assert_eq!(COPY_HEADER.len(), 19);
    }

    #[test]
    fn provisional_keys_resolve_to_drawn_ones() {
        assert_eq!(real_key(-1, &[10, 11]), 10);
        assert_eq!(real_key(-2, &[10, 11]), 11);
        assert_eq!(real_key(7, &[10, 11]), 7);
    }
}
