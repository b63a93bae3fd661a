//! Dense integer keys for user and item ids, resolved a batch at a time.

use std::collections::HashMap;

use postgres::Transaction;

use crate::error::Result;

/// Which id table: `users (user_id)` or `item_keys (item_id)`.
#[derive(Debug, Clone, Copy)]
pub(super) enum KeyTable {
    Users,
    Items,
}

impl KeyTable {
    pub(super) fn table(self) -> &'static str {
        match self {
            KeyTable::Users => "users",
            KeyTable::Items => "item_keys",
        }
    }

    pub(super) fn column(self) -> &'static str {
        match self {
            KeyTable::Users => "user_id",
            KeyTable::Items => "item_id",
        }
    }
}

/// The keys of `ids` (any order, duplicates allowed) in the catalog, creating the missing ones in
/// first-appearance order; also returns how many were created. Only missing ids are inserted, so
/// the identity hands out no numbers for ids that already had one (keys stay dense).
pub(super) fn resolve(
    tx: &mut Transaction<'_>,
    table: KeyTable,
    catalog_id: i64,
    ids: &[&str],
) -> Result<(HashMap<String, i64>, u64)> {
    let (name, column) = (table.table(), table.column());
    let select =
        format!("SELECT {column}, key FROM {name} WHERE catalog_id = $1 AND {column} = ANY($2)");
    let mut keys: HashMap<String, i64> = HashMap::with_capacity(ids.len());
    for r in tx.query(&select, &[&catalog_id, &ids])? {
        keys.insert(r.get(0), r.get(1));
    }
    let mut missing: Vec<&str> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for &id in ids {
        if !keys.contains_key(id) && seen.insert(id) {
            missing.push(id);
        }
    }
    if missing.is_empty() {
        return Ok((keys, 0));
    }
    // A concurrent writer may insert the same id meanwhile: DO NOTHING waits for it, and the
    // second SELECT (a new statement, so a new snapshot at READ COMMITTED) sees its row.
    let insert = format!(
        "INSERT INTO {name} (catalog_id, {column})
         SELECT $1, id FROM unnest($2::text[]) WITH ORDINALITY AS t(id, n) ORDER BY n
         ON CONFLICT (catalog_id, {column}) DO NOTHING RETURNING {column}, key"
    );
    let mut created = 0;
    for r in tx.query(&insert, &[&catalog_id, &missing])? {
        keys.insert(r.get(0), r.get(1));
        created += 1;
    }
    if created < missing.len() as u64 {
        for r in tx.query(&select, &[&catalog_id, &missing])? {
            keys.insert(r.get(0), r.get(1));
        }
    }
    Ok((keys, created))
}

/// The key of one id, if it has one.
pub(super) fn find(
    tx: &mut Transaction<'_>,
    table: KeyTable,
    catalog_id: i64,
    id: &str,
) -> Result<Option<i64>> {
    let sql = format!(
        "SELECT key FROM {} WHERE catalog_id = $1 AND {} = $2",
        table.table(),
        table.column()
    );
    Ok(tx.query_opt(&sql, &[&catalog_id, &id])?.map(|r| r.get(0)))
}

/// Every `key → id` of the catalog (training streams integers and looks names up here).
pub(super) fn names(
    tx: &mut Transaction<'_>,
    table: KeyTable,
    catalog_id: i64,
) -> Result<HashMap<i64, String>> {
    let sql =
        format!("SELECT key, {} FROM {} WHERE catalog_id = $1", table.column(), table.table());
    Ok(tx.query(&sql, &[&catalog_id])?.iter().map(|r| (r.get(0), r.get(1))).collect())
}
