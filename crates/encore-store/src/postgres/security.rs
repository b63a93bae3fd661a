//! API keys and the audit log.

use postgres::{Row, Transaction};

use super::{limit_i64, to_i64, to_u64};
use crate::clock::now_ms;
use crate::error::{Error, Resource, Result};
use crate::limits::check_catalog_name;
use crate::types::{ApiKeyRecord, AuditEntry, NewApiKey, NewAuditEntry, Role};

/// Key of the advisory lock that orders audit appends (see [`append_audit`]).
const AUDIT_LOCK: i64 = 0x456e_636f_7265_0002;

const KEY_SELECT: &str =
    "SELECT id, name, role, catalog, hash, prefix, created_ms, revoked_ms FROM api_keys";

fn key_from_row(r: &Row) -> Result<ApiKeyRecord> {
    let role: String = r.get(2);
    let role = Role::parse(&role)
        .ok_or_else(|| Error::Conflict(format!("stored key role `{role}` is unknown")))?;
    Ok(ApiKeyRecord {
        id: to_u64(r.get(0)),
        name: r.get(1),
        role,
        catalog: r.get(3),
        hash: r.get(4),
        prefix: r.get(5),
        created_ms: r.get(6),
        revoked_ms: r.get(7),
    })
}

pub(super) fn create_key(tx: &mut Transaction<'_>, key: &NewApiKey) -> Result<ApiKeyRecord> {
    if key.name.is_empty() || key.hash.is_empty() || key.prefix.is_empty() {
        return Err(Error::Invalid("an API key needs a name, a hash and a prefix".into()));
    }
    if let Some(catalog) = &key.catalog {
        check_catalog_name(catalog)?;
    }
    let id: i64 = tx
        .query_one(
            "INSERT INTO api_keys (name, role, catalog, hash, prefix, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[&key.name, &key.role.as_str(), &key.catalog, &key.hash, &key.prefix, &now_ms()],
        )?
        .get(0);
    get_key(tx, to_u64(id))
}

fn get_key(tx: &mut Transaction<'_>, id: u64) -> Result<ApiKeyRecord> {
    match tx.query_opt(&format!("{KEY_SELECT} WHERE id = $1"), &[&to_i64("key id", id)?])? {
        Some(r) => key_from_row(&r),
        None => Err(Error::not_found(Resource::ApiKey, id.to_string())),
    }
}

pub(super) fn list_keys(tx: &mut Transaction<'_>) -> Result<Vec<ApiKeyRecord>> {
    tx.query(&format!("{KEY_SELECT} ORDER BY id"), &[])?.iter().map(key_from_row).collect()
}

/// Revokes a key; also says whether this call revoked it (`false`: it already was).
pub(super) fn revoke_key(tx: &mut Transaction<'_>, id: u64) -> Result<(ApiKeyRecord, bool)> {
    let key = get_key(tx, id)?;
    let mut revoked_now = false;
    if key.revoked_ms.is_none() {
        // `revoked_ms IS NULL` again: a concurrent revocation keeps its (earlier) time.
        revoked_now = tx.execute(
            "UPDATE api_keys SET revoked_ms = $2 WHERE id = $1 AND revoked_ms IS NULL",
            &[&to_i64("key id", id)?, &now_ms()],
        )? > 0;
    }
    Ok((get_key(tx, id)?, revoked_now))
}

/// Appends an entry. The advisory lock makes appends commit in sequence order, so a reader
/// paging with `after_seq` never skips an entry that commits late with a smaller number.
/// `replica` is the writer's name ([`crate::PostgresStore::connect_as`]).
pub(super) fn append_audit(
    tx: &mut Transaction<'_>,
    e: &NewAuditEntry,
    replica: Option<&str>,
) -> Result<u64> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&AUDIT_LOCK])?;
    let seq: i64 = tx
        .query_one(
            "INSERT INTO audit_log (time_ms, key_id, key_name, action, target, outcome, detail,
                 replica)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING seq",
            &[
                &now_ms(),
                &e.key_id.map(|id| to_i64("key id", id)).transpose()?,
                &e.key_name,
                &e.action,
                &e.target,
                &e.outcome,
                &e.detail,
                &replica,
            ],
        )?
        .get(0);
    Ok(to_u64(seq))
}

pub(super) fn audit_page(
    tx: &mut Transaction<'_>,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<AuditEntry>> {
    let rows = tx.query(
        "SELECT seq, time_ms, key_id, key_name, action, target, outcome, detail, replica
         FROM audit_log
         WHERE seq > $1 ORDER BY seq LIMIT $2",
        &[&to_i64("sequence number", after_seq)?, &limit_i64(limit)],
    )?;
    Ok(rows
        .iter()
        .map(|r| AuditEntry {
            seq: to_u64(r.get(0)),
            time_ms: r.get(1),
            key_id: r.get::<_, Option<i64>>(2).map(to_u64),
            key_name: r.get(3),
            action: r.get(4),
            target: r.get(5),
            outcome: r.get(6),
            detail: r.get(7),
            replica: r.get(8),
        })
        .collect())
}
