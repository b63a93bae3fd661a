//! Catalog rows and the lookup every other module starts with.

use rusqlite::{Connection, OptionalExtension};

use super::{now_ms, to_u64};
use crate::error::{Error, Resource, Result};
use crate::limits::check_catalog_name;
use crate::types::{Catalog, CatalogStats};

/// The internal id of catalog `name`, or [`Error::NotFound`].
pub(super) fn id_of(conn: &Connection, name: &str) -> Result<i64> {
    conn.prepare_cached("SELECT id FROM catalogs WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?
        .ok_or_else(|| Error::not_found(Resource::Catalog, name))
}

/// Inserts a catalog row; [`Error::Conflict`] if the name is taken.
pub(super) fn create(conn: &Connection, name: &str) -> Result<Catalog> {
    check_catalog_name(name)?;
    if id_of(conn, name).is_ok() {
        return Err(Error::Conflict(format!("catalog `{name}` already exists")));
    }
    let created_ms = now_ms();
    conn.execute("INSERT INTO catalogs (name, created_ms) VALUES (?1, ?2)", (name, created_ms))?;
    Ok(Catalog { name: name.to_owned(), created_ms })
}

/// The id of catalog `name`, creating it when absent; also says whether it was created.
pub(super) fn get_or_create(conn: &Connection, name: &str) -> Result<(i64, bool)> {
    match id_of(conn, name) {
        Ok(id) => Ok((id, false)),
        Err(Error::NotFound { .. }) => {
            create(conn, name)?;
            Ok((conn.last_insert_rowid(), true))
        }
        Err(e) => Err(e),
    }
}

pub(super) fn get(conn: &Connection, name: &str) -> Result<Catalog> {
    conn.query_row("SELECT name, created_ms FROM catalogs WHERE name = ?1", [name], |r| {
        Ok(Catalog { name: r.get(0)?, created_ms: r.get(1)? })
    })
    .optional()?
    .ok_or_else(|| Error::not_found(Resource::Catalog, name))
}

pub(super) fn list(conn: &Connection) -> Result<Vec<Catalog>> {
    let mut stmt = conn.prepare("SELECT name, created_ms FROM catalogs ORDER BY name")?;
    let rows = stmt.query_map([], |r| Ok(Catalog { name: r.get(0)?, created_ms: r.get(1)? }))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn stats(conn: &Connection, name: &str) -> Result<CatalogStats> {
    let id = id_of(conn, name)?;
    let count = |sql: &str| -> Result<u64> {
        Ok(to_u64(conn.query_row(sql, [id], |r| r.get::<_, Option<i64>>(0))?.unwrap_or(0)))
    };
    Ok(CatalogStats {
        items: count(
            "SELECT count(*) FROM items JOIN item_keys USING (key) WHERE item_keys.catalog_id = ?1",
        )?,
        item_ids: count("SELECT count(*) FROM item_keys WHERE catalog_id = ?1")?,
        users: count("SELECT count(*) FROM users WHERE catalog_id = ?1")?,
        events: count("SELECT count(*) FROM events WHERE catalog_id = ?1")?,
        last_event_seq: count("SELECT max(seq) FROM events WHERE catalog_id = ?1")?,
    })
}

/// Deletes the catalog and everything in it; returns the model file paths.
pub(super) fn delete(conn: &Connection, name: &str) -> Result<Vec<String>> {
    let id = id_of(conn, name)?;
    let mut stmt = conn.prepare("SELECT file_path FROM models WHERE catalog_id = ?1")?;
    let files = stmt.query_map([id], |r| r.get(0))?.collect::<rusqlite::Result<Vec<String>>>()?;
    // Children first, each through its own index, so that the cascades below find nothing left
    // to do row by row.
    for sql in [
        "DELETE FROM events WHERE catalog_id = ?1",
        "DELETE FROM items WHERE key IN (SELECT key FROM item_keys WHERE catalog_id = ?1)",
        "DELETE FROM item_takedowns WHERE key IN (SELECT key FROM item_keys WHERE catalog_id = ?1)",
        "DELETE FROM item_keys WHERE catalog_id = ?1",
        "DELETE FROM users WHERE catalog_id = ?1",
        "DELETE FROM models WHERE catalog_id = ?1",
        "DELETE FROM jobs WHERE catalog_id = ?1",
        "DELETE FROM catalogs WHERE id = ?1",
    ] {
        conn.execute(sql, [id])?;
    }
    // Keys scoped to the catalog die with it: otherwise a later catalog of the same name would
    // inherit them (scopes are by name), handing its data to whoever held the old keys.
    conn.execute(
        "UPDATE api_keys SET revoked_ms = ?2 WHERE catalog = ?1 AND revoked_ms IS NULL",
        (name, now_ms()),
    )?;
    Ok(files)
}
