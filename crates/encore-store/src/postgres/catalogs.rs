//! Catalog rows and the lookup every other module starts with.

use postgres::Transaction;

use super::to_u64;
use crate::clock::now_ms;
use crate::error::{Error, Resource, Result};
use crate::limits::check_catalog_name;
use crate::types::{Catalog, CatalogStats};

/// The internal id of catalog `name`, or [`Error::NotFound`].
pub(super) fn id_of(tx: &mut Transaction<'_>, name: &str) -> Result<i64> {
    tx.query_opt("SELECT id FROM catalogs WHERE name = $1", &[&name])?
        .map(|r| r.get(0))
        .ok_or_else(|| Error::not_found(Resource::Catalog, name))
}

/// The id of catalog `name`, with its row locked until the transaction ends: writers that must
/// not interleave on one catalog (activation, version reservation) serialise here.
pub(super) fn lock(tx: &mut Transaction<'_>, name: &str) -> Result<i64> {
    tx.query_opt("SELECT id FROM catalogs WHERE name = $1 FOR UPDATE", &[&name])?
        .map(|r| r.get(0))
        .ok_or_else(|| Error::not_found(Resource::Catalog, name))
}

/// Inserts a catalog row; returns its id, or `None` when the name is taken.
fn insert(tx: &mut Transaction<'_>, name: &str, created_ms: i64) -> Result<Option<i64>> {
    check_catalog_name(name)?;
    Ok(tx
        .query_opt(
            "INSERT INTO catalogs (name, created_ms) VALUES ($1, $2)
             ON CONFLICT (name) DO NOTHING RETURNING id",
            &[&name, &created_ms],
        )?
        .map(|r| r.get(0)))
}

/// Inserts a catalog row; [`Error::Conflict`] if the name is taken.
pub(super) fn create(tx: &mut Transaction<'_>, name: &str) -> Result<Catalog> {
    let created_ms = now_ms();
    match insert(tx, name, created_ms)? {
        Some(_) => Ok(Catalog { name: name.to_owned(), created_ms }),
        None => Err(Error::Conflict(format!("catalog `{name}` already exists"))),
    }
}

/// The id of catalog `name`, creating it when absent; and whether it was created.
pub(super) fn get_or_create(tx: &mut Transaction<'_>, name: &str) -> Result<(i64, bool)> {
    match insert(tx, name, now_ms())? {
        Some(id) => Ok((id, true)),
        // ON CONFLICT waited for a concurrent creator to commit; the row is visible now.
        None => Ok((id_of(tx, name)?, false)),
    }
}

pub(super) fn get(tx: &mut Transaction<'_>, name: &str) -> Result<Catalog> {
    tx.query_opt("SELECT name, created_ms FROM catalogs WHERE name = $1", &[&name])?
        .map(|r| Catalog { name: r.get(0), created_ms: r.get(1) })
        .ok_or_else(|| Error::not_found(Resource::Catalog, name))
}

pub(super) fn list(tx: &mut Transaction<'_>) -> Result<Vec<Catalog>> {
    let rows = tx.query("SELECT name, created_ms FROM catalogs ORDER BY name", &[])?;
    Ok(rows.iter().map(|r| Catalog { name: r.get(0), created_ms: r.get(1) }).collect())
}

pub(super) fn stats(tx: &mut Transaction<'_>, name: &str) -> Result<CatalogStats> {
    let id = id_of(tx, name)?;
    let r = tx.query_one(
        "SELECT
            (SELECT count(*) FROM items JOIN item_keys USING (key) WHERE item_keys.catalog_id = $1),
            (SELECT count(*) FROM item_keys WHERE catalog_id = $1),
            (SELECT count(*) FROM users WHERE catalog_id = $1),
            (SELECT count(*) FROM events WHERE catalog_id = $1),
            (SELECT coalesce(max(seq), 0) FROM events WHERE catalog_id = $1)",
        &[&id],
    )?;
    Ok(CatalogStats {
        items: to_u64(r.get(0)),
        item_ids: to_u64(r.get(1)),
        users: to_u64(r.get(2)),
        events: to_u64(r.get(3)),
        last_event_seq: to_u64(r.get(4)),
    })
}

/// What deleting a catalog removed besides its rows.
pub(super) struct Deleted {
    /// The model file paths, for the caller to delete.
    pub(super) files: Vec<String>,
    /// API keys scoped to the catalog that were revoked with it.
    pub(super) keys_revoked: u64,
}

/// Deletes the catalog and everything in it (its stored model files cascade with the row).
pub(super) fn delete(tx: &mut Transaction<'_>, name: &str) -> Result<Deleted> {
    let id = lock(tx, name)?;
    let files = tx
        .query("SELECT file_path FROM models WHERE catalog_id = $1", &[&id])?
        .iter()
        .map(|r| r.get(0))
        .collect();
    // Events first (their partition): they have no declared references (see schema.rs), so
    // nothing else would remove them.
    super::partitions::drop(tx, id)?;
    for sql in [
        "DELETE FROM items WHERE key IN (SELECT key FROM item_keys WHERE catalog_id = $1)",
        "DELETE FROM item_takedowns WHERE key IN (SELECT key FROM item_keys WHERE catalog_id = $1)",
        "DELETE FROM item_keys WHERE catalog_id = $1",
        "DELETE FROM users WHERE catalog_id = $1",
        "DELETE FROM models WHERE catalog_id = $1",
        "DELETE FROM jobs WHERE catalog_id = $1",
        "DELETE FROM catalogs WHERE id = $1",
    ] {
        tx.execute(sql, &[&id])?;
    }
    // Keys scoped to the catalog die with it: otherwise a later catalog of the same name would
    // inherit them (scopes are by name).
    let keys_revoked = tx.execute(
        "UPDATE api_keys SET revoked_ms = $2 WHERE catalog = $1 AND revoked_ms IS NULL",
        &[&name, &now_ms()],
    )?;
    Ok(Deleted { files, keys_revoked })
}
