//! Access control: API keys, roles, catalog scopes, and the audit log.
//!
//! ## Keys
//!
//! A key's secret is `ek_` followed by 32 bytes from the operating system's random generator in
//! unpadded base64url (46 characters in all). The store keeps only the hex SHA-256 of the secret
//! and its first [`PREFIX_LEN`] characters (the *prefix*, which is public: it names the key in
//! listings and logs and finds it without scanning). A fast hash is right here because the secret
//! has 256 bits of entropy: nobody can guess it, so a slow password hash would only make every
//! request slower. The digest is compared in constant time ([`subtle`]).
//!
//! [`Access`] keeps every valid key in memory (prefix → digest and caller), so verifying a key is
//! one SHA-256 and one hash-map lookup; the table is updated in the same call that creates or
//! revokes a key through this process, so a revocation takes effect on the very next request.
//! Keys revoked by another process (`encore keys revoke` while the server runs) are picked up
//! by [`Access::reload`], which the server calls every second.
//!
//! ## Roles and scopes
//!
//! `reader` (recommend, similar items, item and catalog reads) ⊂ `writer` (+ event ingestion and
//! item writes) ⊂ `admin` (everything: catalogs, models, training, activation, user data access and
//! erasure, keys, the audit log). A key is scoped to one catalog or to all. [`authorize`] decides
//! from the key and the request alone, before anything is looked up, so a refusal says nothing
//! about whether a catalog, user or item exists.
//!
//! ## Audit
//!
//! [`audit`] records admin acts and user-data access: see [`Access::audit`] and
//! [`Access::audit_page`].

pub mod audit;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use base64::Engine as _;
pub use encore_store::Role;
use encore_store::{ApiKeyRecord, NewApiKey, Store};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use subtle::ConstantTimeEq as _;

use crate::error::{Error, Resource, Result};
use crate::validate;

pub use audit::{AuditEntryInfo, AuditPage, AuditQuery};

/// Every secret starts with this, so a leaked key is recognisable (secret scanners, logs).
pub const SECRET_PREFIX: &str = "ek_";
/// Characters of the secret kept as its public prefix (`ek_` + 8 characters = 48 random bits).
pub const PREFIX_LEN: usize = 11;
/// Length of a secret: `ek_` + 43 base64url characters (32 bytes).
pub const SECRET_LEN: usize = 46;
/// Longest key name.
pub const MAX_KEY_NAME: usize = 64;

/// Who is calling: a verified, unrevoked key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Key id.
    pub key_id: u64,
    /// Key name (for the audit log).
    pub name: String,
    /// Role.
    pub role: Role,
    /// Catalog the key is limited to; `None` for all.
    pub catalog: Option<String>,
    /// Public prefix of the key (safe to log).
    pub prefix: String,
}

/// A key as shown to users: everything but the secret and its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeyInfo {
    /// Key id (what `DELETE /v1/keys/{id}` and `encore keys revoke` take).
    pub id: u64,
    /// Human name.
    pub name: String,
    /// `reader`, `writer` or `admin`.
    #[schema(value_type = String, example = "reader")]
    pub role: Role,
    /// The one catalog the key may use; absent for all catalogs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<String>,
    /// Public prefix of the secret, to recognise the key.
    pub prefix: String,
    /// Created, Unix ms.
    pub created_ms: i64,
    /// Revoked, Unix ms; absent while the key is valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_ms: Option<i64>,
}

impl From<&ApiKeyRecord> for KeyInfo {
    fn from(r: &ApiKeyRecord) -> Self {
        KeyInfo {
            id: r.id,
            name: r.name.clone(),
            role: r.role,
            catalog: r.catalog.clone(),
            prefix: r.prefix.clone(),
            created_ms: r.created_ms,
            revoked_ms: r.revoked_ms,
        }
    }
}

/// A new key: its description and the secret, which is shown this once and never again.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedKey {
    /// The key.
    #[serde(flatten)]
    pub key: KeyInfo,
    /// The secret to send as `Authorization: Bearer <secret>`. Only its hash is stored: keep it
    /// now, it cannot be shown again.
    pub secret: String,
}

/// Body of `POST /v1/keys`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// Human name (1–64 characters), for listings and the audit log.
    pub name: String,
    /// `reader`, `writer` or `admin`.
    #[schema(value_type = String, example = "writer")]
    pub role: Role,
    /// Limit the key to one catalog (which need not exist yet); absent for all catalogs.
    #[serde(default)]
    pub catalog: Option<String>,
}

/// Every key, revoked ones included.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeyList {
    /// Keys by id.
    pub keys: Vec<KeyInfo>,
}

/// Why a caller may not do something. Deliberately says nothing about the target's existence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The key's role is below what the act needs.
    #[error("this key has role `{have}`; the request needs `{need}`")]
    Role {
        /// The key's role.
        have: &'static str,
        /// The role the act needs.
        need: &'static str,
    },
    /// The key is limited to another catalog, or the act spans catalogs.
    #[error("this key is limited to catalog `{scope}`; the request is outside it")]
    Scope {
        /// The key's catalog.
        scope: String,
    },
}

/// The rank of a role: each includes every lower one.
pub fn role_rank(role: Role) -> u8 {
    match role {
        Role::Reader => 0,
        Role::Writer => 1,
        Role::Admin => 2,
    }
}

/// Whether `caller` may perform an act needing `need` on `catalog` (`None`: the act is not about
/// one catalog, for example listing catalogs or managing keys, so it needs an all-catalog key).
/// Decided from the key alone: call it before looking anything up.
pub fn authorize(caller: &Caller, need: Role, catalog: Option<&str>) -> Result<(), Denied> {
    if role_rank(caller.role) < role_rank(need) {
        return Err(Denied::Role { have: caller.role.as_str(), need: need.as_str() });
    }
    match (&caller.catalog, catalog) {
        (None, _) => Ok(()),
        (Some(scope), Some(c)) if scope == c => Ok(()),
        (Some(scope), _) => Err(Denied::Scope { scope: scope.clone() }),
    }
}

/// One valid key in memory.
#[derive(Clone)]
struct KeyEntry {
    digest: [u8; 32],
    caller: Arc<Caller>,
}

/// The key table and the audit log over a store. Cheap to share (`Arc`); every method but
/// [`Access::verify`] blocks on the store.
pub struct Access {
    store: Arc<dyn Store>,
    /// Valid keys by prefix (a prefix collision is possible, so a list). Readers load the
    /// current map without taking a lock (no shared counter bounces between cores on the hot
    /// path); writers build a new map and swap it in.
    table: ArcSwap<KeyTable>,
    /// Serialises the writers of `table` (copy, change, swap).
    writers: Mutex<()>,
}

type KeyTable = HashMap<String, Vec<KeyEntry>>;

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: usize = self.table.load().values().map(Vec::len).sum();
        f.debug_struct("Access").field("valid_keys", &keys).finish()
    }
}

impl Access {
    /// Loads the valid keys of `store`.
    pub fn open(store: Arc<dyn Store>) -> Result<Self> {
        let access = Access::empty(store);
        access.reload()?;
        Ok(access)
    }

    /// An access table that knows no key yet (every request is refused) until
    /// [`Access::reload`] succeeds: the fail-closed fallback when the store cannot be read.
    pub fn empty(store: Arc<dyn Store>) -> Self {
        Access { store, table: ArcSwap::from_pointee(HashMap::new()), writers: Mutex::new(()) }
    }

    /// Applies `change` to a copy of the key table and swaps the copy in.
    fn update_table(&self, change: impl FnOnce(&mut KeyTable)) {
        let _writer = self.writers.lock().unwrap_or_else(|p| p.into_inner());
        let mut table = KeyTable::clone(&self.table.load());
        change(&mut table);
        self.table.store(Arc::new(table));
    }

    /// Re-reads the valid keys from the store (keys created or revoked by another process).
    pub fn reload(&self) -> Result<()> {
        // Hold the writer lock across the read so a key created meanwhile is not lost.
        let _writer = self.writers.lock().unwrap_or_else(|p| p.into_inner());
        let mut table = KeyTable::new();
        for record in self.store.list_api_keys()? {
            if record.revoked_ms.is_some() {
                continue;
            }
            if let Some(entry) = entry_of(&record) {
                table.entry(record.prefix.clone()).or_default().push(entry);
            } else {
                tracing::warn!(key_id = record.id, "API key with a malformed hash is ignored");
            }
        }
        self.table.store(Arc::new(table));
        Ok(())
    }

    /// The caller a presented secret belongs to, or `None` for an unknown, malformed or revoked
    /// key. Costs one SHA-256 and one lookup; never touches the store.
    pub fn verify(&self, secret: &str) -> Option<Arc<Caller>> {
        if secret.len() != SECRET_LEN || !secret.starts_with(SECRET_PREFIX) {
            return None;
        }
        let prefix = secret.get(..PREFIX_LEN)?;
        let digest: [u8; 32] = sha2::Sha256::digest(secret.as_bytes()).into();
        let table = self.table.load();
        let entries = table.get(prefix)?;
        let mut found = None;
        // Compare with every entry of the prefix, in constant time each.
        for entry in entries {
            if bool::from(entry.digest.ct_eq(&digest)) {
                found = Some(Arc::clone(&entry.caller));
            }
        }
        found
    }

    /// Creates a key and returns it with its secret (shown once). The caller records the act in
    /// the audit log.
    pub fn create_key(&self, request: &CreateKey) -> Result<CreatedKey> {
        // The length counts what was sent; the name is stored without surrounding white space.
        let name = request.name.trim();
        if name.is_empty()
            || request.name.chars().count() > MAX_KEY_NAME
            || name.chars().any(char::is_control)
        {
            return Err(Error::invalid(
                "name",
                format!(
                    "must be 1-{MAX_KEY_NAME} characters without control characters, not only \
                     white space"
                ),
            ));
        }
        if let Some(catalog) = &request.catalog {
            validate::catalog_name("catalog", catalog)?;
        }
        let secret = new_secret()?;
        let record = self.store.create_api_key(&NewApiKey {
            name: name.to_string(),
            role: request.role,
            catalog: request.catalog.clone(),
            hash: hex(&sha2::Sha256::digest(secret.as_bytes())),
            prefix: secret[..PREFIX_LEN].to_string(),
        })?;
        if let Some(entry) = entry_of(&record) {
            self.update_table(|table| table.entry(record.prefix.clone()).or_default().push(entry));
        }
        Ok(CreatedKey { key: KeyInfo::from(&record), secret })
    }

    /// Every key, revoked ones included, without secrets or hashes.
    pub fn list_keys(&self) -> Result<KeyList> {
        Ok(KeyList { keys: self.store.list_api_keys()?.iter().map(KeyInfo::from).collect() })
    }

    /// Revokes a key (idempotent); it is refused from the next request on.
    pub fn revoke_key(&self, id: u64) -> Result<KeyInfo> {
        let record = self.store.revoke_api_key(id).map_err(|e| match e {
            encore_store::Error::NotFound { .. } => {
                Error::not_found(Resource::ApiKey, id.to_string())
            }
            other => Error::Store(other),
        })?;
        self.update_table(|table| {
            if let Some(entries) = table.get_mut(&record.prefix) {
                entries.retain(|e| e.caller.key_id != id);
                if entries.is_empty() {
                    table.remove(&record.prefix);
                }
            }
        });
        Ok(KeyInfo::from(&record))
    }

    /// On first start (no key was ever created, revoked ones included), creates one admin key
    /// for all catalogs and returns it so the caller can show the secret once. `None` when keys
    /// exist.
    pub fn bootstrap(&self) -> Result<Option<CreatedKey>> {
        if !self.store.list_api_keys()?.is_empty() {
            return Ok(None);
        }
        let created = self.create_key(&CreateKey {
            name: "bootstrap-admin".into(),
            role: Role::Admin,
            catalog: None,
        })?;
        self.audit(
            None,
            "key.bootstrap",
            &format!("keys/{}", created.key.id),
            "ok",
            serde_json::json!({}),
        )?;
        Ok(Some(created))
    }

    /// The store (for the audit log).
    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
}

fn entry_of(record: &ApiKeyRecord) -> Option<KeyEntry> {
    let digest = unhex32(&record.hash)?;
    Some(KeyEntry {
        digest,
        caller: Arc::new(Caller {
            key_id: record.id,
            name: record.name.clone(),
            role: record.role,
            catalog: record.catalog.clone(),
            prefix: record.prefix.clone(),
        }),
    })
}

/// A new secret: `ek_` + 32 bytes of OS randomness in unpadded base64url.
fn new_secret() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        Error::Internal(format!("the operating system's random generator failed: {e}"))
    })?;
    let secret = format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    debug_assert_eq!(secret.len(), SECRET_LEN);
    Ok(secret)
}

/// Lower-case hex of `bytes` (key hashes here, model file checksums in `model_cache`).
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, chunk) in s.as_bytes().chunks_exact(2).enumerate() {
        let text = std::str::from_utf8(chunk).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

/// The store-backed behaviour (keys, revocation, bootstrap, the audit log) is tested on both back
/// ends in `tests/it/access.rs`.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_nest_and_scopes_confine() {
        let caller = |role, catalog: Option<&str>| Caller {
            key_id: 1,
            name: "k".into(),
            role,
            catalog: catalog.map(String::from),
            prefix: "ek_x".into(),
        };
        let reader = caller(Role::Reader, None);
        assert!(authorize(&reader, Role::Reader, Some("music")).is_ok());
        assert!(matches!(
            authorize(&reader, Role::Writer, Some("music")),
            Err(Denied::Role { .. })
        ));
        let writer = caller(Role::Writer, Some("music"));
        assert!(authorize(&writer, Role::Writer, Some("music")).is_ok());
        assert!(authorize(&writer, Role::Reader, Some("music")).is_ok());
        assert!(matches!(
            authorize(&writer, Role::Reader, Some("films")),
            Err(Denied::Scope { .. })
        ));
        assert!(matches!(authorize(&writer, Role::Reader, None), Err(Denied::Scope { .. })));
        let admin = caller(Role::Admin, None);
        assert!(authorize(&admin, Role::Admin, None).is_ok());
        let scoped_admin = caller(Role::Admin, Some("music"));
        assert!(authorize(&scoped_admin, Role::Admin, Some("music")).is_ok());
        assert!(authorize(&scoped_admin, Role::Admin, None).is_err());
    }
}
