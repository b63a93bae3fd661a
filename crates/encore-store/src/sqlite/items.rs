//! Item keys and item metadata.

use rusqlite::{Connection, OptionalExtension, Row};

use super::catalogs::id_of;
use super::now_ms;
use crate::error::{Error, Resource, Result};
use crate::types::{Item, NewItem, UpsertReport};

/// The key of `item_id` in the catalog, creating it when absent; also says whether it was new.
pub(super) fn key_get_or_create(
    conn: &Connection,
    catalog_id: i64,
    item_id: &str,
) -> Result<(i64, bool)> {
    let existing: Option<i64> = conn
        .prepare_cached("SELECT key FROM item_keys WHERE catalog_id = ?1 AND item_id = ?2")?
        .query_row((catalog_id, item_id), |r| r.get(0))
        .optional()?;
    if let Some(key) = existing {
        return Ok((key, false));
    }
    conn.prepare_cached("INSERT INTO item_keys (catalog_id, item_id) VALUES (?1, ?2)")?
        .execute((catalog_id, item_id))?;
    Ok((conn.last_insert_rowid(), true))
}

/// The columns [`item_from_row`] reads, in order.
pub(super) const ITEM_COLUMNS: &str =
    "k.item_id, i.title, i.kind, i.tags, i.available, i.released, i.updated_ms";

pub(super) fn item_from_row(r: &Row<'_>) -> rusqlite::Result<Item> {
    let tags: String = r.get(3)?;
    let tags = serde_json::from_str(&tags).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(Item {
        item_id: r.get(0)?,
        title: r.get(1)?,
        kind: r.get(2)?,
        tags,
        available: r.get(4)?,
        released: r.get(5)?,
        updated_ms: r.get(6)?,
    })
}

/// Inserts or replaces metadata (the caller has validated the items).
pub(super) fn upsert(conn: &Connection, catalog: &str, items: &[NewItem]) -> Result<UpsertReport> {
    let catalog_id = id_of(conn, catalog)?;
    let now = now_ms();
    let mut report = UpsertReport::default();
    let mut exists = conn.prepare_cached("SELECT 1 FROM items WHERE key = ?1")?;
    // Putting an item back ends its takedown.
    let mut restore = conn.prepare_cached("DELETE FROM item_takedowns WHERE key = ?1")?;
    let mut write = conn.prepare_cached(
        "INSERT INTO items (key, title, kind, tags, available, released, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (key) DO UPDATE SET title = excluded.title, kind = excluded.kind,
             tags = excluded.tags, available = excluded.available,
             released = excluded.released, updated_ms = excluded.updated_ms",
    )?;
    for item in items {
        let (key, _) = key_get_or_create(conn, catalog_id, &item.item_id)?;
        if exists.exists([key])? {
            report.updated += 1;
        } else {
            report.inserted += 1;
        }
        restore.execute([key])?;
        let tags = serde_json::to_string(&item.tags).expect("a list of strings serialises");
        write.execute((
            key,
            &item.title,
            &item.kind,
            tags,
            item.available,
            item.released.as_deref(),
            now,
        ))?;
    }
    Ok(report)
}

pub(super) fn get(conn: &Connection, catalog: &str, item_id: &str) -> Result<Item> {
    let catalog_id = id_of(conn, catalog)?;
    conn.prepare_cached(&format!(
        "SELECT {ITEM_COLUMNS} FROM item_keys k JOIN items i ON i.key = k.key
         WHERE k.catalog_id = ?1 AND k.item_id = ?2"
    ))?
    .query_row((catalog_id, item_id), item_from_row)
    .optional()?
    .ok_or_else(|| Error::not_found(Resource::Item, item_id))
}

pub(super) fn for_each(
    conn: &Connection,
    catalog: &str,
    sink: &mut dyn FnMut(Item),
) -> Result<u64> {
    let catalog_id = id_of(conn, catalog)?;
    let mut stmt = conn.prepare(&format!(
        "SELECT {ITEM_COLUMNS} FROM item_keys k JOIN items i ON i.key = k.key
         WHERE k.catalog_id = ?1 ORDER BY k.key"
    ))?;
    let mut count = 0;
    for item in stmt.query_map([catalog_id], item_from_row)? {
        sink(item?);
        count += 1;
    }
    Ok(count)
}

pub(super) fn delete(conn: &Connection, catalog: &str, item_id: &str) -> Result<()> {
    let catalog_id = id_of(conn, catalog)?;
    let key: Option<i64> = conn
        .prepare_cached(
            "SELECT k.key FROM item_keys k
             WHERE k.catalog_id = ?1 AND k.item_id = ?2
               AND NOT EXISTS (SELECT 1 FROM item_takedowns t WHERE t.key = k.key)",
        )?
        .query_row((catalog_id, item_id), |r| r.get(0))
        .optional()?;
    let Some(key) = key else {
        return Err(Error::not_found(Resource::Item, item_id));
    };
    conn.prepare_cached("DELETE FROM items WHERE key = ?1")?.execute([key])?;
    conn.prepare_cached("INSERT INTO item_takedowns (key, taken_down_ms) VALUES (?1, ?2)")?
        .execute((key, now_ms()))?;
    Ok(())
}

/// The ids of the catalog's taken-down items.
pub(super) fn taken_down(conn: &Connection, catalog: &str) -> Result<Vec<String>> {
    let catalog_id = id_of(conn, catalog)?;
    let mut stmt = conn.prepare(
        "SELECT k.item_id FROM item_takedowns t JOIN item_keys k ON k.key = t.key
         WHERE k.catalog_id = ?1 ORDER BY k.key",
    )?;
    let rows = stmt.query_map([catalog_id], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
