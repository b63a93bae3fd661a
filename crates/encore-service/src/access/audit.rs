//! The audit log: an append-only record, in the store, of every admin act and every access to or
//! erasure of a user's data — when, which key (id and name, kept after the key is revoked), what
//! action, on what target, with what outcome. Refused attempts are recorded too.
//!
//! Entries are never updated or deleted through the API. [`Access::audit_page`] pages through them
//! oldest first with a keyset cursor (`after` = the last `seq` seen) and filters; the filters are
//! applied while scanning the store's pages, so a filtered page over a long log reads more rows
//! than it returns (the scan stops once the page is full).

use serde::{Deserialize, Serialize};

use super::{Access, Caller};
use crate::error::{Error, Result};

/// Most entries one page may ask for.
pub const MAX_AUDIT_PAGE: usize = 1000;
/// Rows read from the store per scan step.
const SCAN_BATCH: usize = 1000;

/// One audit-log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntryInfo {
    /// Sequence number: the order of writing, and the paging cursor.
    pub seq: u64,
    /// When, Unix ms.
    pub time_ms: i64,
    /// Id of the key that acted; absent for acts of the server itself (first-start key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<u64>,
    /// Name of that key at the time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_name: Option<String>,
    /// What was done: `catalog.delete`, `model.activate`, `user.read`, `user.erase`, `key.create`…
    pub action: String,
    /// What it was done to: the request path (`/v1/catalogs/music/users/u1`).
    pub target: String,
    /// `ok`, `denied` or `error`.
    pub outcome: String,
    /// More: the HTTP status, the request id.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// The replica that wrote it, when several `encore serve` processes share one PostgreSQL
    /// database (one log across them); absent for a single server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
}

/// A page of the audit log.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditPage {
    /// Matching entries, oldest first.
    pub entries: Vec<AuditEntryInfo>,
    /// Pass as `after` for the next page; absent when the log has no more matching entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<u64>,
}

/// Filters and cursor of `GET /v1/audit`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams, utoipa::ToSchema)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only entries with this exact action (`user.erase`).
    #[serde(default)]
    pub action: Option<String>,
    /// Only entries of this key id.
    #[serde(default)]
    pub key_id: Option<u64>,
    /// Only entries whose target starts with this (`/v1/catalogs/music`).
    #[serde(default)]
    pub target: Option<String>,
    /// Only entries at or after this time, Unix ms.
    #[serde(default)]
    pub since_ms: Option<i64>,
    /// Only entries before this time, Unix ms.
    #[serde(default)]
    pub until_ms: Option<i64>,
    /// Entries after this sequence number (the previous page's `next_after`); default 0.
    #[serde(default)]
    pub after: Option<u64>,
    /// Page size, 1–1000 (default 100).
    #[serde(default)]
    pub limit: Option<usize>,
}

impl AuditQuery {
    fn matches(&self, e: &encore_store::AuditEntry) -> bool {
        self.action.as_deref().is_none_or(|a| e.action == a)
            && self.key_id.is_none_or(|k| e.key_id == Some(k))
            && self.target.as_deref().is_none_or(|t| e.target.starts_with(t))
            && self.since_ms.is_none_or(|s| e.time_ms >= s)
            && self.until_ms.is_none_or(|u| e.time_ms < u)
    }
}

impl Access {
    /// Appends an audit entry for `caller` (`None`: the server itself); returns its sequence
    /// number.
    pub fn audit(
        &self,
        caller: Option<&Caller>,
        action: &str,
        target: &str,
        outcome: &str,
        detail: serde_json::Value,
    ) -> Result<u64> {
        Ok(self.store().append_audit(&encore_store::NewAuditEntry {
            key_id: caller.map(|c| c.key_id),
            key_name: caller.map(|c| c.name.clone()),
            action: action.to_string(),
            target: target.to_string(),
            outcome: outcome.to_string(),
            detail,
        })?)
    }

    /// One page of the audit log matching `query`.
    pub fn audit_page(&self, query: &AuditQuery) -> Result<AuditPage> {
        let limit = query.limit.unwrap_or(100);
        if limit == 0 || limit > MAX_AUDIT_PAGE {
            return Err(Error::invalid(
                "limit",
                format!("must be between 1 and {MAX_AUDIT_PAGE}, got {limit}"),
            ));
        }
        // Key ids and sequence numbers are SQLite integers (int64 in the API document).
        for (field, value) in [("key_id", query.key_id), ("after", query.after)] {
            if value.is_some_and(|v| v > i64::MAX as u64) {
                return Err(Error::invalid(field, format!("must be at most {}", i64::MAX)));
            }
        }
        let mut cursor = query.after.unwrap_or(0);
        let mut entries = Vec::new();
        loop {
            let batch = self.store().audit_page(cursor, SCAN_BATCH)?;
            let exhausted = batch.len() < SCAN_BATCH;
            for e in batch {
                cursor = e.seq;
                if query.matches(&e) {
                    entries.push(AuditEntryInfo {
                        seq: e.seq,
                        time_ms: e.time_ms,
                        key_id: e.key_id,
                        key_name: e.key_name,
                        action: e.action,
                        target: e.target,
                        outcome: e.outcome,
                        detail: e.detail,
                        replica: e.replica,
                    });
                    if entries.len() == limit {
                        return Ok(AuditPage { entries, next_after: Some(cursor) });
                    }
                }
            }
            if exhausted {
                return Ok(AuditPage { entries, next_after: None });
            }
        }
    }
}
