//! The per-catalog partitions of `events`.
//!
//! A partition is made as a table of its own and then attached, never with `CREATE TABLE …
//! PARTITION OF`: attaching locks `events` only in SHARE UPDATE EXCLUSIVE mode, so reads and
//! writes of the other catalogs go on while the transaction that attaches (a long import) runs,
//! where `PARTITION OF` would lock every reader of `events` out until it commits. The table's
//! `CHECK (catalog_id = N)` proves the partition bound, so attaching does not scan it.

use postgres::Transaction;

use crate::error::Result;

/// Name of a catalog's partition of `events`.
pub(super) fn name(catalog_id: i64) -> String {
    format!("events_{catalog_id}")
}

/// Whether the catalog has its partition.
pub(super) fn exists(tx: &mut Transaction<'_>, catalog_id: i64) -> Result<bool> {
    Ok(tx.query_one("SELECT to_regclass($1) IS NOT NULL", &[&name(catalog_id)])?.get(0))
}

/// Creates the catalog's partition table, detached and without indexes (for [`attach`]).
pub(super) fn create_detached(tx: &mut Transaction<'_>, catalog_id: i64) -> Result<()> {
    let table = name(catalog_id);
    tx.batch_execute(&format!(
        "CREATE TABLE {table} (LIKE events INCLUDING DEFAULTS,
                               CONSTRAINT {table}_catalog CHECK (catalog_id = {catalog_id}))"
    ))?;
    Ok(())
}

/// Builds the partition's indexes (the same as the parent's, so attaching adopts them instead
/// of building others) and attaches it.
pub(super) fn attach(tx: &mut Transaction<'_>, catalog_id: i64) -> Result<()> {
    let table = name(catalog_id);
    tx.batch_execute(&format!(
        "ALTER TABLE {table} ADD PRIMARY KEY (catalog_id, seq);
         CREATE INDEX {table}_by_user ON {table} (user_key, seq);
         CREATE INDEX {table}_by_seq ON {table} (seq);
         ALTER TABLE events ATTACH PARTITION {table} FOR VALUES IN ({catalog_id});"
    ))?;
    Ok(())
}

/// Makes sure the catalog's partition exists (before the first event is written). Callers hold
/// the event counter's row lock, so two of them never create the same partition.
pub(super) fn ensure(tx: &mut Transaction<'_>, catalog_id: i64) -> Result<()> {
    if !exists(tx, catalog_id)? {
        create_detached(tx, catalog_id)?;
        attach(tx, catalog_id)?;
    }
    Ok(())
}

/// Drops the catalog's partition and its events.
pub(super) fn drop(tx: &mut Transaction<'_>, catalog_id: i64) -> Result<()> {
    tx.batch_execute(&format!("DROP TABLE IF EXISTS {}", name(catalog_id)))?;
    Ok(())
}
