//! The use cases the `encore` command line runs on a data directory without opening the service:
//! bulk imports, API keys, and checking for an active model.
//!
//! [`DataDir`] opens only the store, not an [`crate::Encore`] (which loads every catalog and
//! active model into memory), so these also work while `encore serve` runs on the same
//! directory: SQLite serialises the writes, the server re-reads its key table every second, and
//! events imported meanwhile are seen by the server at its next start. Every rule an input must
//! follow is the API's ([`crate::validate`]), so the command line never stores what
//! `POST /v1/…` would refuse.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use encore_core::data::ReadOptions;
use encore_store::item_files::ItemFormat;
use encore_store::{ImportReport, ItemImportReport, NewItem, SqliteStore, Store, UpsertReport};

use crate::access::{Access, CreateKey, CreatedKey, KeyInfo, KeyList};
use crate::error::Result;

/// A data directory opened for offline use cases.
#[derive(Clone)]
pub struct DataDir {
    path: PathBuf,
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for DataDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataDir").field("path", &self.path).finish_non_exhaustive()
    }
}

impl DataDir {
    /// Opens (creating if needed) the store of `path` (`DIR/encore.db`).
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Self::with_store(path, Arc::new(SqliteStore::open(path)?)))
    }

    /// The use cases over a given store (`encore … --database postgres://…`); `path` is the
    /// local directory of the model files.
    pub fn with_store(path: &Path, store: Arc<dyn Store>) -> Self {
        Self { path: path.to_path_buf(), store }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when the directory has a database file (without creating one).
    pub fn exists(path: &Path) -> bool {
        path.join(encore_store::DB_FILE_NAME).exists()
    }

    /// Bulk-loads an interaction file into `catalog` (created if absent) in one transaction: all
    /// of it or, at the first malformed line, nothing (unless `options.skip_bad_lines`).
    /// `progress` receives the number of rows handled so far, now and then.
    pub fn import_events(
        &self,
        catalog: &str,
        file: &Path,
        options: &ReadOptions,
        progress: &mut dyn FnMut(u64),
    ) -> Result<ImportReport> {
        crate::validate::catalog_name("catalog", catalog)?;
        Ok(self.store.import_records(catalog, file, options, progress)?)
    }

    /// Loads an item metadata file into `catalog` (created if absent); existing items are
    /// replaced; all items or, on a malformed line, none.
    pub fn import_items(
        &self,
        catalog: &str,
        file: &Path,
        format: ItemFormat,
    ) -> Result<ItemImportReport> {
        crate::validate::catalog_name("catalog", catalog)?;
        Ok(self.store.import_items(catalog, file, format)?)
    }

    /// Stores items in `catalog`, creating the catalog if absent.
    pub fn upsert_items(&self, catalog: &str, items: &[NewItem]) -> Result<UpsertReport> {
        crate::validate::catalog_name("catalog", catalog)?;
        match self.store.create_catalog(catalog) {
            Ok(_) | Err(encore_store::Error::Conflict(_)) => {}
            Err(error) => return Err(error.into()),
        }
        Ok(self.store.upsert_items(catalog, items)?)
    }

    /// True when `catalog` exists and has an active model.
    pub fn has_active_model(&self, catalog: &str) -> Result<bool> {
        match self.store.active_model(catalog) {
            Ok(active) => Ok(active.is_some()),
            Err(encore_store::Error::NotFound { .. }) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// The API keys, without secrets.
    pub fn list_keys(&self) -> Result<KeyList> {
        self.access()?.list_keys()
    }

    /// Creates a key (its secret is in the answer, and only there) and records it in the audit
    /// log as done by the command line (no key id).
    pub fn create_key(&self, request: &CreateKey) -> Result<CreatedKey> {
        let access = self.access()?;
        let created = access.create_key(request)?;
        let key = &created.key;
        access.audit(
            None,
            "key.create",
            &format!("/v1/keys/{}", key.id),
            "ok",
            serde_json::json!({"via": "cli", "key_id": key.id, "role": key.role.as_str(),
                "catalog": key.catalog, "prefix": key.prefix}),
        )?;
        Ok(created)
    }

    /// Revokes a key (refused from the next request on; within a second by a running server)
    /// and records it in the audit log as done by the command line.
    pub fn revoke_key(&self, id: u64) -> Result<KeyInfo> {
        let access = self.access()?;
        let key = access.revoke_key(id)?;
        access.audit(
            None,
            "key.revoke",
            &format!("/v1/keys/{}", key.id),
            "ok",
            serde_json::json!({"via": "cli"}),
        )?;
        Ok(key)
    }

    fn access(&self) -> Result<Access> {
        Access::open(Arc::clone(&self.store))
    }
}
