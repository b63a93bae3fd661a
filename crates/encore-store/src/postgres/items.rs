//! Item metadata and takedowns.

use std::collections::{HashMap, HashSet};

use postgres::{Row, Transaction};

use super::catalogs::id_of;
use super::keys::{self, KeyTable};
use crate::clock::now_ms;
use crate::error::{Error, Resource, Result};
use crate::types::{Item, NewItem, UpsertReport};

/// The columns [`item_from_row`] reads, in order (`k` is `item_keys`, `i` is `items`).
pub(super) const ITEM_COLUMNS: &str =
    "k.item_id, i.title, i.kind, i.tags, i.available, i.released, i.updated_ms";

pub(super) fn item_from_row(r: &Row) -> Result<Item> {
    let tags: serde_json::Value = r.get(3);
    let tags = serde_json::from_value(tags)
        .map_err(|e| Error::Conflict(format!("stored tags are not a list of strings: {e}")))?;
    Ok(Item {
        item_id: r.get(0),
        title: r.get(1),
        kind: r.get(2),
        tags,
        available: r.get(4),
        released: r.get(5),
        updated_ms: r.get(6),
    })
}

/// Inserts or replaces metadata (the caller has validated the items). An id given twice counts
/// as inserted then updated, and the last one wins, as in the SQLite store.
pub(super) fn upsert(
    tx: &mut Transaction<'_>,
    catalog: &str,
    items: &[NewItem],
) -> Result<UpsertReport> {
    let catalog_id = id_of(tx, catalog)?;
    let ids: Vec<&str> = items.iter().map(|i| i.item_id.as_str()).collect();
    let (key_of, _) = keys::resolve(tx, KeyTable::Items, catalog_id, &ids)?;
    let all_keys: Vec<i64> = key_of.values().copied().collect();
    let mut has_metadata: HashSet<i64> = tx
        .query("SELECT key FROM items WHERE key = ANY($1)", &[&all_keys])?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut report = UpsertReport::default();
    // The last version of each key, in first-appearance order.
    let mut last: HashMap<i64, &NewItem> = HashMap::new();
    let mut order: Vec<i64> = Vec::new();
    for item in items {
        let key = key_of[item.item_id.as_str()];
        if has_metadata.insert(key) {
            report.inserted += 1;
        } else {
            report.updated += 1;
        }
        if last.insert(key, item).is_none() {
            order.push(key);
        }
    }
    let rows: Vec<&NewItem> = order.iter().map(|k| last[k]).collect();
    let titles: Vec<&str> = rows.iter().map(|i| i.title.as_str()).collect();
    let kinds: Vec<&str> = rows.iter().map(|i| i.kind.as_str()).collect();
    let tags: Vec<String> = rows
        .iter()
        .map(|i| serde_json::to_string(&i.tags).expect("a list of strings serialises"))
        .collect();
    let available: Vec<bool> = rows.iter().map(|i| i.available).collect();
    let released: Vec<Option<&str>> = rows.iter().map(|i| i.released.as_deref()).collect();
    // Putting an item back ends its takedown.
    tx.execute("DELETE FROM item_takedowns WHERE key = ANY($1)", &[&order])?;
    tx.execute(
        "INSERT INTO items (key, title, kind, tags, available, released, updated_ms)
         SELECT k, t, d, g::jsonb, a, r, $7
         FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::boolean[], $6::text[])
              AS x(k, t, d, g, a, r)
         ON CONFLICT (key) DO UPDATE SET title = excluded.title, kind = excluded.kind,
             tags = excluded.tags, available = excluded.available,
             released = excluded.released, updated_ms = excluded.updated_ms",
        &[&order, &titles, &kinds, &tags, &available, &released, &now_ms()],
    )?;
    Ok(report)
}

pub(super) fn get(tx: &mut Transaction<'_>, catalog: &str, item_id: &str) -> Result<Item> {
    let catalog_id = id_of(tx, catalog)?;
    let row = tx.query_opt(
        &format!(
            "SELECT {ITEM_COLUMNS} FROM item_keys k JOIN items i ON i.key = k.key
             WHERE k.catalog_id = $1 AND k.item_id = $2"
        ),
        &[&catalog_id, &item_id],
    )?;
    match row {
        Some(r) => item_from_row(&r),
        None => Err(Error::not_found(Resource::Item, item_id)),
    }
}

pub(super) fn for_each(
    tx: &mut Transaction<'_>,
    catalog: &str,
    sink: &mut dyn FnMut(Item),
) -> Result<u64> {
    let catalog_id = id_of(tx, catalog)?;
    let rows = tx.query(
        &format!(
            "SELECT {ITEM_COLUMNS} FROM item_keys k JOIN items i ON i.key = k.key
             WHERE k.catalog_id = $1 ORDER BY k.key"
        ),
        &[&catalog_id],
    )?;
    for r in &rows {
        sink(item_from_row(r)?);
    }
    Ok(rows.len() as u64)
}

pub(super) fn delete(tx: &mut Transaction<'_>, catalog: &str, item_id: &str) -> Result<()> {
    let catalog_id = id_of(tx, catalog)?;
    let key: Option<i64> = tx
        .query_opt(
            "SELECT k.key FROM item_keys k
             WHERE k.catalog_id = $1 AND k.item_id = $2
               AND NOT EXISTS (SELECT 1 FROM item_takedowns t WHERE t.key = k.key)
             FOR UPDATE",
            &[&catalog_id, &item_id],
        )?
        .map(|r| r.get(0));
    let Some(key) = key else {
        return Err(Error::not_found(Resource::Item, item_id));
    };
    tx.execute("DELETE FROM items WHERE key = $1", &[&key])?;
    let taken = tx.execute(
        "INSERT INTO item_takedowns (key, taken_down_ms) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&key, &now_ms()],
    )?;
    if taken == 0 {
        // A concurrent delete won the race: it is already taken down.
        return Err(Error::not_found(Resource::Item, item_id));
    }
    Ok(())
}

/// The ids of the catalog's taken-down items.
pub(super) fn taken_down(tx: &mut Transaction<'_>, catalog: &str) -> Result<Vec<String>> {
    let catalog_id = id_of(tx, catalog)?;
    let rows = tx.query(
        "SELECT k.item_id FROM item_takedowns t JOIN item_keys k ON k.key = t.key
         WHERE k.catalog_id = $1 ORDER BY k.key",
        &[&catalog_id],
    )?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
