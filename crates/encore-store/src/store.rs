//! The [`Store`] trait: everything the service asks of persistence.
//!
//! The trait is synchronous (SQLite and the `postgres` client are blocking libraries; the server
//! calls the service from `spawn_blocking`), `Send + Sync`, and object-safe, so the service holds
//! an `Arc<dyn Store>`: [`crate::SqliteStore`] or [`crate::PostgresStore`], chosen at start-up.
//!
//! Contract shared by every back end:
//! - Every method that names a catalog fails with [`crate::Error::NotFound`] (`kind = "catalog"`)
//!   when it does not exist, except the imports ([`Store::bulk_import`], [`Store::import_records`],
//!   [`Store::import_items`]), which create it.
//! - Every write is atomic: a batch is stored entirely or not at all, and a method returns only
//!   after its transaction is durably committed.
//! - Inputs are checked against [`crate::limits`] and rejected with [`crate::Error::Invalid`].
//! - A database that cannot be reached is [`crate::Error::Unavailable`]; the call committed
//!   nothing.

use std::path::Path;

use encore_core::data::{ReadOptions, Record, read_records};

use crate::error::{Error, Result};
use crate::item_files::{ItemFormat, detect_item_format, read_item_file};
use crate::types::{
    ApiKeyRecord, AppendReport, AuditEntry, BulkImportOptions, Catalog, CatalogStats, EraseReport,
    ImportReport, Item, ItemImportReport, JobRecord, JobUpdate, ModelRecord, NewApiKey,
    NewAuditEntry, NewEvent, NewItem, NewModel, StoredEvent, TrainingEvent, UpsertReport,
};

/// A source of events for [`Store::bulk_import`]: it calls the given sink once per event, in file
/// order, and stops as soon as the sink returns `false` (the store refused an event: the import is
/// aborted and the store reports why). It returns the number of input lines it skipped itself, or
/// `Err` to abort the import (nothing is then stored).
pub type ImportSource<'a> = dyn FnMut(&mut dyn FnMut(Record<'_>) -> bool) -> Result<u64> + 'a;

/// Persistence for catalogs, items, users, events, the model registry, training jobs, API keys
/// and the audit log.
pub trait Store: Send + Sync {
    // ----- catalogs -----

    /// Creates a catalog; [`crate::Error::Conflict`] if it exists.
    fn create_catalog(&self, name: &str) -> Result<Catalog>;
    /// Looks a catalog up.
    fn get_catalog(&self, name: &str) -> Result<Catalog>;
    /// All catalogs, by name.
    fn list_catalogs(&self) -> Result<Vec<Catalog>>;
    /// Counts of a catalog's items, users and events.
    fn catalog_stats(&self, name: &str) -> Result<CatalogStats>;
    /// Deletes a catalog with its items, users, events, models and jobs, and returns the model
    /// file paths (relative to the data directory) so the caller can delete the files.
    fn delete_catalog(&self, name: &str) -> Result<Vec<String>>;

    // ----- items -----

    /// Inserts or replaces item metadata, all or nothing.
    fn upsert_items(&self, catalog: &str, items: &[NewItem]) -> Result<UpsertReport>;
    /// One item's metadata.
    fn get_item(&self, catalog: &str, item_id: &str) -> Result<Item>;
    /// Calls `sink` for every item with metadata (for loading filters into memory); returns the
    /// count.
    fn for_each_item(&self, catalog: &str, sink: &mut dyn FnMut(Item)) -> Result<u64>;
    /// Takes an item down: deletes its metadata and records the takedown, so the item is hidden
    /// from clients until an upsert puts it back. Its events stay: they are history, and training
    /// still learns from them. [`crate::Error::NotFound`] if the catalog has no such item (by
    /// metadata or events) or it is already taken down.
    fn delete_item(&self, catalog: &str, item_id: &str) -> Result<()>;
    /// The ids of the catalog's taken-down items (deleted and not put back).
    fn taken_down_items(&self, catalog: &str) -> Result<Vec<String>>;

    // ----- events -----

    /// Appends a batch in one transaction; returns after the commit is durable.
    fn append_events(&self, catalog: &str, events: &[NewEvent]) -> Result<AppendReport>;
    /// Streams a catalog's events in sequence order, up to and including `up_to_seq` when given;
    /// returns the number streamed. Used to build the training matrix.
    fn for_each_training_event(
        &self,
        catalog: &str,
        up_to_seq: Option<u64>,
        sink: &mut dyn FnMut(TrainingEvent<'_>),
    ) -> Result<u64>;
    /// A user's events in sequence order; [`crate::Error::NotFound`] (`kind = "user"`) if the
    /// user has none.
    fn user_events(&self, catalog: &str, user_id: &str) -> Result<Vec<StoredEvent>>;
    /// Number of events in the catalog.
    fn count_events(&self, catalog: &str) -> Result<u64>;
    /// Deletes a user's events and the user (data erasure).
    fn erase_user(&self, catalog: &str, user_id: &str) -> Result<EraseReport>;
    /// Stores many events fast, in one transaction, creating the catalog if absent. `source`
    /// feeds the events (see [`ImportSource`]); it returns the number of lines it skipped. The
    /// first invalid event (see [`crate::limits`]) aborts the import and nothing is stored, unless
    /// `options.skip_invalid` is set: then it is counted as skipped. `progress` receives the
    /// number of rows handled so far, now and then.
    fn bulk_import(
        &self,
        catalog: &str,
        options: &BulkImportOptions<'_>,
        source: &mut ImportSource<'_>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<ImportReport>;

    /// Imports an interaction file (any format of [`encore_core::data`]) through
    /// [`Store::bulk_import`]: all of it or, on the first malformed line, nothing (the error
    /// names `file:line`); with `options.skip_bad_lines` malformed lines are skipped and counted.
    fn import_records(
        &self,
        catalog: &str,
        path: &Path,
        options: &ReadOptions,
        progress: &mut dyn FnMut(u64),
    ) -> Result<ImportReport> {
        let origin = path.display().to_string();
        let bulk = BulkImportOptions { origin: &origin, skip_invalid: options.skip_bad_lines };
        let mut source = |sink: &mut dyn FnMut(Record<'_>) -> bool| -> Result<u64> {
            let mut stopped = false;
            let summary = read_records(path, options, |r| {
                if sink(r) {
                    Ok(())
                } else {
                    stopped = true;
                    // Only stops the reader; the store reports its own error instead.
                    Err(encore_core::Error::InvalidInput("import stopped by the store".into()))
                }
            });
            match summary {
                Ok(summary) => Ok(summary.skipped_bad_lines),
                Err(_) if stopped => Ok(0),
                Err(e) => Err(e.into()),
            }
        };
        self.bulk_import(catalog, &bulk, &mut source, progress)
    }

    /// Loads an item metadata file (see [`crate::item_files`]) into the catalog, creating the
    /// catalog if absent; all items or, on the first bad line, none.
    fn import_items(
        &self,
        catalog: &str,
        path: &Path,
        format: ItemFormat,
    ) -> Result<ItemImportReport> {
        let started = std::time::Instant::now();
        let format = match format {
            ItemFormat::Auto => {
                let head = read_first_line(path)?;
                detect_item_format(&head)
            }
            f => f,
        };
        let items = read_item_file(path, format)?;
        match self.create_catalog(catalog) {
            Ok(_) | Err(Error::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
        let upsert = self.upsert_items(catalog, &items)?;
        Ok(ItemImportReport {
            format,
            items: items.len() as u64,
            inserted: upsert.inserted,
            updated: upsert.updated,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    // ----- model registry -----

    /// Reserves the next model version of the catalog (never handed out again), so the model
    /// file can be named before it is registered.
    fn reserve_model_version(&self, catalog: &str) -> Result<u32>;
    /// Registers a trained model (inactive).
    fn register_model(&self, catalog: &str, model: &NewModel) -> Result<ModelRecord>;
    /// One model version.
    fn get_model(&self, catalog: &str, version: u32) -> Result<ModelRecord>;
    /// All versions of the catalog, newest first.
    fn list_models(&self, catalog: &str) -> Result<Vec<ModelRecord>>;
    /// Makes `version` the only active model of the catalog, in one transaction.
    fn activate_model(&self, catalog: &str, version: u32) -> Result<ModelRecord>;
    /// The active model, if any.
    fn active_model(&self, catalog: &str) -> Result<Option<ModelRecord>>;
    /// Records that a model file was rewritten (after an erasure): new path and size.
    fn update_model_file(
        &self,
        catalog: &str,
        version: u32,
        file_path: &str,
        size_bytes: u64,
    ) -> Result<ModelRecord>;

    // ----- training jobs -----

    /// Creates a queued job.
    fn create_job(&self, catalog: &str, request: &serde_json::Value) -> Result<JobRecord>;
    /// One job.
    fn get_job(&self, id: u64) -> Result<JobRecord>;
    /// The newest `limit` jobs, of one catalog or of all.
    fn list_jobs(&self, catalog: Option<&str>, limit: usize) -> Result<Vec<JobRecord>>;
    /// Changes a job; [`crate::Error::Conflict`] when it has already ended and the update would
    /// change its state.
    fn update_job(&self, id: u64, update: &JobUpdate) -> Result<JobRecord>;
    /// Marks every queued or running job as failed with `reason` (at start-up: a restart killed
    /// them); returns how many.
    fn fail_unfinished_jobs(&self, reason: &str) -> Result<u64>;

    // ----- API keys and audit log -----

    /// Stores a new API key.
    fn create_api_key(&self, key: &NewApiKey) -> Result<ApiKeyRecord>;
    /// All keys, revoked ones included, by id.
    fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>>;
    /// Revokes a key (idempotent) and returns it.
    fn revoke_api_key(&self, id: u64) -> Result<ApiKeyRecord>;
    /// Appends an audit entry; returns its sequence number.
    fn append_audit(&self, entry: &NewAuditEntry) -> Result<u64>;
    /// Up to `limit` entries with `seq > after_seq`, oldest first.
    fn audit_page(&self, after_seq: u64, limit: usize) -> Result<Vec<AuditEntry>>;

    // ----- maintenance -----

    /// Checks the database (SQLite: `PRAGMA integrity_check` and `foreign_key_check`;
    /// PostgreSQL: orphaned events, duplicate or out-of-range sequence numbers, more than one
    /// active model); returns the problems found (empty when the store is consistent).
    fn integrity_check(&self) -> Result<Vec<String>>;

    // ----- statistics (read-only; the dashboard's charts and item search) -----

    /// Events per time bucket of `bucket_secs` seconds (an event's time is its timestamp, else
    /// when it was ingested): the last `limit` buckets up to the newest event.
    fn event_timeline(
        &self,
        catalog: &str,
        bucket_secs: i64,
        limit: usize,
    ) -> Result<crate::stats::EventTimeline>;
    /// Events per item id for every item with events, most first (ties by id).
    fn item_event_counts(&self, catalog: &str) -> Result<Vec<(String, u64)>>;
    /// Items with metadata whose id starts with `query` or whose title contains it, ignoring
    /// ASCII case (all items when empty), in key order after the cursor `after`.
    fn search_items(
        &self,
        catalog: &str,
        query: &str,
        after: u64,
        limit: usize,
    ) -> Result<crate::stats::ItemPage>;
    /// Up to `max` user ids spread evenly over the catalog's users, and the number of users.
    fn sample_users(&self, catalog: &str, max: usize) -> Result<(Vec<String>, u64)>;

    // ----- replicas -----

    /// The feed replicas of one service share ([`crate::replica`]), when several processes can
    /// use this store at once; `None` (the default) for a store one process owns.
    fn replica_feed(&self) -> Option<&dyn crate::replica::ReplicaFeed> {
        None
    }
}

/// The first line of a file, decoded leniently (enough to detect a format).
fn read_first_line(path: &Path) -> Result<String> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut line = Vec::new();
    std::io::BufReader::new(file).read_until(b'\n', &mut line).map_err(|e| Error::io(path, e))?;
    Ok(String::from_utf8_lossy(&line).into_owned())
}
