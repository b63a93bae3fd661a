//! API keys and the audit log (used by the access-control issue).

use rusqlite::{Connection, OptionalExtension, Row};

use super::{now_ms, to_i64, to_u64};
use crate::error::{Error, Resource, Result};
use crate::limits::check_catalog_name;
use crate::types::{ApiKeyRecord, AuditEntry, NewApiKey, NewAuditEntry, Role};

const KEY_SELECT: &str =
    "SELECT id, name, role, catalog, hash, prefix, created_ms, revoked_ms FROM api_keys";

fn key_from_row(r: &Row<'_>) -> rusqlite::Result<ApiKeyRecord> {
    let role: String = r.get(2)?;
    let role = Role::parse(&role).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            2,
            rusqlite::types::Type::Text,
            Box::new(std::io::Error::other(format!("unknown role `{role}`"))),
        )
    })?;
    Ok(ApiKeyRecord {
        id: to_u64(r.get(0)?),
        name: r.get(1)?,
        role,
        catalog: r.get(3)?,
        hash: r.get(4)?,
        prefix: r.get(5)?,
        created_ms: r.get(6)?,
        revoked_ms: r.get(7)?,
    })
}

pub(super) fn create_key(conn: &Connection, key: &NewApiKey) -> Result<ApiKeyRecord> {
    if key.name.is_empty() || key.hash.is_empty() || key.prefix.is_empty() {
        return Err(Error::Invalid("an API key needs a name, a hash and a prefix".into()));
    }
    if let Some(catalog) = &key.catalog {
        check_catalog_name(catalog)?;
    }
    conn.execute(
        "INSERT INTO api_keys (name, role, catalog, hash, prefix, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        (&key.name, key.role.as_str(), key.catalog.as_deref(), &key.hash, &key.prefix, now_ms()),
    )?;
    get_key(conn, to_u64(conn.last_insert_rowid()))
}

fn get_key(conn: &Connection, id: u64) -> Result<ApiKeyRecord> {
    conn.query_row(&format!("{KEY_SELECT} WHERE id = ?1"), [to_i64("key id", id)?], key_from_row)
        .optional()?
        .ok_or_else(|| Error::not_found(Resource::ApiKey, id.to_string()))
}

pub(super) fn list_keys(conn: &Connection) -> Result<Vec<ApiKeyRecord>> {
    let mut stmt = conn.prepare(&format!("{KEY_SELECT} ORDER BY id"))?;
    let rows = stmt.query_map([], key_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn revoke_key(conn: &Connection, id: u64) -> Result<ApiKeyRecord> {
    let key = get_key(conn, id)?;
    if key.revoked_ms.is_none() {
        conn.execute(
            "UPDATE api_keys SET revoked_ms = ?2 WHERE id = ?1",
            (to_i64("key id", id)?, now_ms()),
        )?;
    }
    get_key(conn, id)
}

pub(super) fn append_audit(conn: &Connection, e: &NewAuditEntry) -> Result<u64> {
    conn.prepare_cached(
        "INSERT INTO audit_log (time_ms, key_id, key_name, action, target, outcome, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute((
        now_ms(),
        e.key_id.map(|id| to_i64("key id", id)).transpose()?,
        e.key_name.as_deref(),
        &e.action,
        &e.target,
        &e.outcome,
        e.detail.to_string(),
    ))?;
    Ok(to_u64(conn.last_insert_rowid()))
}

pub(super) fn audit_page(
    conn: &Connection,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<AuditEntry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, time_ms, key_id, key_name, action, target, outcome, detail FROM audit_log
         WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let rows = stmt.query_map(
        (to_i64("sequence number", after_seq)?, i64::try_from(limit).unwrap_or(i64::MAX)),
        |r| {
            let detail: String = r.get(7)?;
            Ok(AuditEntry {
                seq: to_u64(r.get(0)?),
                time_ms: r.get(1)?,
                key_id: r.get::<_, Option<i64>>(2)?.map(to_u64),
                key_name: r.get(3)?,
                action: r.get(4)?,
                target: r.get(5)?,
                outcome: r.get(6)?,
                detail: serde_json::from_str(&detail).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        7,
                        rusqlite::types::Type::Text,
                        Box::new(e),
                    )
                })?,
                replica: None,
            })
        },
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
