//! [`SqliteStore`]: the [`Store`] on one embedded SQLite file, `DIR/encore.db`.
//!
//! Durability: the journal is WAL and `synchronous=FULL`, so every commit fsyncs the WAL before
//! the call returns. `synchronous=NORMAL` would also keep the database consistent, but in WAL mode
//! it may lose the last commits on power loss, and an acknowledged event must survive that.
//!
//! Concurrency: SQLite allows one writer at a time, so writes go through one connection behind a
//! mutex (waiting on a Rust mutex is cheaper and fairer than SQLite's busy loop). Reads take a
//! connection from a small pool; in WAL mode readers see the last committed state and never wait
//! for the writer. `busy_timeout` covers the rare case of another process (an `encore import`
//! beside a running server) holding the write lock.

mod catalogs;
mod events;
mod import;
mod items;
mod jobs;
mod models;
pub(crate) mod schema;
mod security;
mod stats;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::error::{Error, Result};
use crate::store::{ImportSource, Store};
use crate::types::{
    ApiKeyRecord, AppendReport, AuditEntry, BulkImportOptions, Catalog, CatalogStats, EraseReport,
    ImportReport, Item, JobRecord, JobUpdate, ModelRecord, NewApiKey, NewAuditEntry, NewEvent,
    NewItem, NewModel, StoredEvent, TrainingEvent, UpsertReport,
};

/// File name of the database inside the data directory.
pub const DB_FILE_NAME: &str = "encore.db";

/// How long a statement waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Idle reader connections kept open; more are opened on demand under load.
const MAX_IDLE_READERS: usize = 8;

/// The SQLite implementation of [`Store`].
pub struct SqliteStore {
    data_dir: PathBuf,
    db_path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("db_path", &self.db_path).finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `data_dir`: creates the directory, opens
    /// `data_dir/encore.db`, switches it to WAL and applies pending migrations.
    pub fn open(data_dir: impl AsRef<Path>) -> Result<SqliteStore> {
        let data_dir = data_dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&data_dir).map_err(|e| Error::io(&data_dir, e))?;
        let db_path = data_dir.join(DB_FILE_NAME);
        let mut writer = open_connection(&db_path)?;
        // WAL is a property of the file: set once here, every later connection inherits it.
        let mode: String = writer.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Conflict(format!(
                "{}: could not switch the journal to WAL (got `{mode}`)",
                db_path.display()
            )));
        }
        schema::migrate(&mut writer)?;
        Ok(SqliteStore {
            data_dir,
            db_path,
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
        })
    }

    /// The data directory the store was opened in.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Path of the database file.
    pub fn db_path(&self) -> &Path {
        &self.db_path
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<u32> {
        self.read(|c| Ok(c.query_row("SELECT version FROM schema_version", [], |r| r.get(0))?))
    }

    /// Locks the writer connection. A panic in another writer leaves the connection usable (its
    /// transaction was rolled back when it unwound), so a poisoned lock is taken over.
    fn lock_writer(&self) -> MutexGuard<'_, Connection> {
        self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` in one IMMEDIATE write transaction and commits it; on error nothing is written.
    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.lock_writer();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    /// Runs `f` on a reader connection inside a read transaction, so that all its statements see
    /// one snapshot.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => open_connection(&self.db_path)?,
        };
        let value = {
            let tx = conn.unchecked_transaction()?;
            let value = f(&tx);
            // A read-only transaction: finishing it either way releases the snapshot.
            tx.finish()?;
            value
        };
        let mut idle = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        value
    }
}

/// Opens one connection with the settings every connection needs.
fn open_connection(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch(
        "PRAGMA foreign_keys = ON;
         PRAGMA synchronous = FULL;
         PRAGMA temp_store = MEMORY;
         PRAGMA journal_size_limit = 67108864;",
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

pub(crate) use crate::clock::now_ms;

/// Converts a count or key read from SQLite (always ≥ 0 by construction) to `u64`.
pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Converts a `u64` the caller gave into SQLite's `i64`, refusing values beyond `i64::MAX`.
pub(crate) fn to_i64(what: &str, v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::Invalid(format!("{what} {v} is too large")))
}

impl Store for SqliteStore {
    fn create_catalog(&self, name: &str) -> Result<Catalog> {
        self.write(|tx| catalogs::create(tx, name))
    }

    fn get_catalog(&self, name: &str) -> Result<Catalog> {
        self.read(|c| catalogs::get(c, name))
    }

    fn list_catalogs(&self) -> Result<Vec<Catalog>> {
        self.read(catalogs::list)
    }

    fn catalog_stats(&self, name: &str) -> Result<CatalogStats> {
        self.read(|c| catalogs::stats(c, name))
    }

    fn delete_catalog(&self, name: &str) -> Result<Vec<String>> {
        self.write(|tx| catalogs::delete(tx, name))
    }

    fn upsert_items(&self, catalog: &str, items: &[NewItem]) -> Result<UpsertReport> {
        for item in items {
            crate::limits::check_item(item)?;
        }
        self.write(|tx| items::upsert(tx, catalog, items))
    }

    fn get_item(&self, catalog: &str, item_id: &str) -> Result<Item> {
        self.read(|c| items::get(c, catalog, item_id))
    }

    fn for_each_item(&self, catalog: &str, sink: &mut dyn FnMut(Item)) -> Result<u64> {
        self.read(|c| items::for_each(c, catalog, sink))
    }

    fn delete_item(&self, catalog: &str, item_id: &str) -> Result<()> {
        self.write(|tx| items::delete(tx, catalog, item_id))
    }

    fn taken_down_items(&self, catalog: &str) -> Result<Vec<String>> {
        self.read(|c| items::taken_down(c, catalog))
    }

    fn append_events(&self, catalog: &str, batch: &[NewEvent]) -> Result<AppendReport> {
        events::check_batch(batch)?;
        self.write(|tx| events::append(tx, catalog, batch))
    }

    fn for_each_training_event(
        &self,
        catalog: &str,
        up_to_seq: Option<u64>,
        sink: &mut dyn FnMut(TrainingEvent<'_>),
    ) -> Result<u64> {
        self.read(|c| events::for_each_training_event(c, catalog, up_to_seq, sink))
    }

    fn user_events(&self, catalog: &str, user_id: &str) -> Result<Vec<StoredEvent>> {
        self.read(|c| events::of_user(c, catalog, user_id))
    }

    fn count_events(&self, catalog: &str) -> Result<u64> {
        self.read(|c| events::count(c, catalog))
    }

    fn erase_user(&self, catalog: &str, user_id: &str) -> Result<EraseReport> {
        self.write(|tx| events::erase_user(tx, catalog, user_id))
    }

    fn bulk_import(
        &self,
        catalog: &str,
        options: &BulkImportOptions<'_>,
        source: &mut ImportSource<'_>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<ImportReport> {
        crate::limits::check_catalog_name(catalog)?;
        let mut conn = self.lock_writer();
        import::bulk_import(&mut conn, catalog, options, source, progress)
    }

    fn reserve_model_version(&self, catalog: &str) -> Result<u32> {
        self.write(|tx| models::reserve_version(tx, catalog))
    }

    fn register_model(&self, catalog: &str, model: &NewModel) -> Result<ModelRecord> {
        self.write(|tx| models::register(tx, catalog, model))
    }

    fn get_model(&self, catalog: &str, version: u32) -> Result<ModelRecord> {
        self.read(|c| models::get(c, catalog, version))
    }

    fn list_models(&self, catalog: &str) -> Result<Vec<ModelRecord>> {
        self.read(|c| models::list(c, catalog))
    }

    fn activate_model(&self, catalog: &str, version: u32) -> Result<ModelRecord> {
        self.write(|tx| models::activate(tx, catalog, version))
    }

    fn active_model(&self, catalog: &str) -> Result<Option<ModelRecord>> {
        self.read(|c| models::active(c, catalog))
    }

    fn update_model_file(
        &self,
        catalog: &str,
        version: u32,
        file_path: &str,
        size_bytes: u64,
    ) -> Result<ModelRecord> {
        self.write(|tx| models::update_file(tx, catalog, version, file_path, size_bytes))
    }

    fn create_job(&self, catalog: &str, request: &serde_json::Value) -> Result<JobRecord> {
        self.write(|tx| jobs::create(tx, catalog, request))
    }

    fn get_job(&self, id: u64) -> Result<JobRecord> {
        self.read(|c| jobs::get(c, id))
    }

    fn list_jobs(&self, catalog: Option<&str>, limit: usize) -> Result<Vec<JobRecord>> {
        self.read(|c| jobs::list(c, catalog, limit))
    }

    fn update_job(&self, id: u64, update: &JobUpdate) -> Result<JobRecord> {
        self.write(|tx| jobs::update(tx, id, update))
    }

    fn fail_unfinished_jobs(&self, reason: &str) -> Result<u64> {
        self.write(|tx| jobs::fail_unfinished(tx, reason))
    }

    fn create_api_key(&self, key: &NewApiKey) -> Result<ApiKeyRecord> {
        self.write(|tx| security::create_key(tx, key))
    }

    fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        self.read(security::list_keys)
    }

    fn revoke_api_key(&self, id: u64) -> Result<ApiKeyRecord> {
        self.write(|tx| security::revoke_key(tx, id))
    }

    fn append_audit(&self, entry: &NewAuditEntry) -> Result<u64> {
        self.write(|tx| security::append_audit(tx, entry))
    }

    fn audit_page(&self, after_seq: u64, limit: usize) -> Result<Vec<AuditEntry>> {
        self.read(|c| security::audit_page(c, after_seq, limit))
    }

    fn integrity_check(&self) -> Result<Vec<String>> {
        self.read(|c| {
            let mut problems = Vec::new();
            let mut stmt = c.prepare("PRAGMA integrity_check")?;
            for row in stmt.query_map([], |r| r.get::<_, String>(0))? {
                let row = row?;
                if row != "ok" {
                    problems.push(row);
                }
            }
            // The one reference the schema does not declare (see schema.rs).
            let orphans: i64 = c.query_row(
                "SELECT count(*) FROM events e
                 WHERE NOT EXISTS (SELECT 1 FROM item_keys k
                                   WHERE k.key = e.item_key AND k.catalog_id = e.catalog_id)",
                [],
                |r| r.get(0),
            )?;
            if orphans > 0 {
                problems.push(format!("{orphans} events reference a missing item key"));
            }
            let mut stmt = c.prepare("PRAGMA foreign_key_check")?;
            let rows = stmt.query_map([], |r| {
                Ok(format!(
                    "foreign key violation: {} row {} -> {}",
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<i64>>(1)?.unwrap_or(-1),
                    r.get::<_, String>(2)?
                ))
            })?;
            for row in rows {
                problems.push(row?);
            }
            Ok(problems)
        })
    }

    fn event_timeline(
        &self,
        catalog: &str,
        bucket_secs: i64,
        limit: usize,
    ) -> Result<crate::stats::EventTimeline> {
        self.read(|c| stats::event_timeline(c, catalog, bucket_secs, limit))
    }

    fn item_event_counts(&self, catalog: &str) -> Result<Vec<(String, u64)>> {
        self.read(|c| stats::item_event_counts(c, catalog))
    }

    fn search_items(
        &self,
        catalog: &str,
        query: &str,
        after: u64,
        limit: usize,
    ) -> Result<crate::stats::ItemPage> {
        self.read(|c| stats::search_items(c, catalog, query, after, limit))
    }

    fn sample_users(&self, catalog: &str, max: usize) -> Result<(Vec<String>, u64)> {
        self.read(|c| stats::sample_users(c, catalog, max))
    }
}
