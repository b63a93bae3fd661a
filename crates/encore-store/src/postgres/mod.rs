//! [`PostgresStore`]: the [`Store`] on a PostgreSQL database (15 or newer), named by a
//! `postgres://user[:password]@host[:port]/dbname` URL.
//!
//! The client is the synchronous `postgres` crate (chosen by measurement, `bench/README.md`): the
//! trait is synchronous and the server calls it from `spawn_blocking`. It must not be called from
//! inside an async task (the client blocks on a runtime of its own).
//!
//! Connections: a small pool of idle clients; a call takes one (or connects), runs one
//! transaction on it and gives it back unless the connection broke. Writes run at READ COMMITTED
//! and take the row locks their invariants need (the event counter, the catalog row, the job
//! row); reads run in a READ ONLY REPEATABLE READ transaction, so every statement of one call
//! sees one snapshot, as SQLite readers do.
//!
//! Failures to reach the server, and connections lost mid-call, are [`Error::Unavailable`]: the
//! transaction was not committed, and the server answers 503 with `Retry-After`.
//!
//! Several processes may share one database: the store implements [`ReplicaFeed`] (`feed.rs`,
//! model files in `blobs.rs`), and every write a replica keeps in memory also writes its change
//! row in its own transaction (the [`Store`] methods below).

mod blobs;
mod catalogs;
mod events;
mod feed;
mod import;
mod items;
mod jobs;
mod keys;
mod models;
mod partitions;
pub(crate) mod schema;
mod security;
mod stats;

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use postgres::{Client, IsolationLevel, NoTls, Transaction};

use crate::error::{Error, Result};
use crate::replica::{ChangeKind, ReplicaFeed};
use crate::store::{ImportSource, Store};
use crate::types::{
    ApiKeyRecord, AppendReport, AuditEntry, BulkImportOptions, Catalog, CatalogStats, EraseReport,
    ImportReport, Item, JobRecord, JobUpdate, ModelRecord, NewApiKey, NewAuditEntry, NewEvent,
    NewItem, NewModel, StoredEvent, TrainingEvent, UpsertReport,
};

/// How long opening a connection may take before the server counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Idle connections kept open; more are opened on demand under load.
const MAX_IDLE_CONNECTIONS: usize = 8;

/// Key of the session-level advisory lock held by the one `encore serve` of a database
/// ([`PostgresStore::lock_single_server`]); distinct from the migration and audit locks.
const SERVER_LOCK: i64 = 0x456e_636f_7265_0003;

/// Held while a server runs on the database: dropping it ends the session, which releases the
/// lock. Drop it outside any async runtime (the synchronous client blocks on its own).
pub struct ServerLock {
    session: Option<Client>,
}

impl Drop for ServerLock {
    fn drop(&mut self) {
        close_off_runtime(self.session.take());
    }
}

impl std::fmt::Debug for ServerLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerLock").finish_non_exhaustive()
    }
}

/// The PostgreSQL implementation of [`Store`].
pub struct PostgresStore {
    config: postgres::Config,
    /// `host:port/dbname`, for messages (never the password).
    target: String,
    /// The replica this store writes for ([`PostgresStore::connect_as`]).
    replica: Option<String>,
    idle: Mutex<Vec<Client>>,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        close_off_runtime(std::mem::take(&mut *self.lock_idle()));
    }
}

/// Drops clients on a thread of their own and waits for it. Closing a `postgres::Client` blocks
/// on the client's own runtime, which panics when the dropping thread is driving async tasks —
/// and the last owner of a store can be one (a server task cancelled at shutdown), where the
/// panic inside a destructor aborted the process.
fn close_off_runtime<T: Send + 'static>(clients: T) {
    if let Ok(thread) =
        std::thread::Builder::new().name("encore-pg-close".into()).spawn(move || drop(clients))
    {
        let _ = thread.join();
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").field("target", &self.target).finish_non_exhaustive()
    }
}

/// True when `url` names a PostgreSQL database (`postgres://` or `postgresql://`), the form the
/// command line's `--database` takes.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// `host:port/dbname` of a parsed configuration, for messages.
fn describe(config: &postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}/{}", config.get_dbname().unwrap_or("(default database)"))
}

impl PostgresStore {
    /// Connects to the database named by `url` and applies pending migrations (once, under an
    /// advisory lock, however many processes start at the same time). A malformed URL is
    /// [`Error::Invalid`]; an unreachable server [`Error::Unavailable`]; a database written by a
    /// newer build [`Error::Conflict`] naming both schema versions.
    ///
    /// The store writes for no named replica (a tool such as `encore import`): see
    /// [`PostgresStore::connect_as`].
    pub fn connect(url: &str) -> Result<PostgresStore> {
        PostgresStore::connect_as(url, None)
    }

    /// [`PostgresStore::connect`] for the replica named `replica` (unique among the service's
    /// live replicas, see [`crate::replica`]): the jobs it creates are owned by that name
    /// ([`crate::JobRecord::owner`]), and its audit entries and change-log rows carry it. A name
    /// must be a valid id (non-empty, at most 256 characters, no control characters), else
    /// [`Error::Invalid`].
    pub fn connect_as(url: &str, replica: Option<&str>) -> Result<PostgresStore> {
        if let Some(name) = replica {
            crate::limits::check_id("replica name", name)?;
        }
        if !is_postgres_url(url) {
            return Err(Error::Invalid(
                "a database URL starts with postgres:// (postgres://user@host:port/dbname)".into(),
            ));
        }
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e: postgres::Error| Error::Invalid(format!("malformed database URL: {e}")))?;
        // Notices are the server's informational messages; the only ones Encore causes are the
        // migrations' "already exists, skipping", which the client would log on every start.
        config.connect_timeout(CONNECT_TIMEOUT).application_name("encore").notice_callback(|_| {});
        let store = PostgresStore {
            target: describe(&config),
            config,
            replica: replica.map(str::to_owned),
            idle: Mutex::new(Vec::new()),
        };
        store.with_client(|c| schema::migrate(c).map(drop))?;
        Ok(store)
    }

    /// Takes the database's one-server lock for as long as the returned guard lives, or refuses
    /// with [`Error::Conflict`] when another `encore serve` holds it.
    ///
    /// Why: a server that does not follow the replica feed ([`crate::replica`]) would serve
    /// stale data beside another one, and fail the other's unfinished jobs at start; such a
    /// server takes this lock so that a second one is refused with a clear message. (Replicas
    /// that follow the feed and own their jobs by name, [`PostgresStore::connect_as`], need
    /// no lock.) The lock is a session-level
    /// advisory lock on a connection of its own: PostgreSQL releases it when that session ends,
    /// so a killed server never leaves it behind.
    pub fn lock_single_server(&self) -> Result<ServerLock> {
        let mut client = self.open_client()?;
        let locked: bool =
            client.query_one("SELECT pg_try_advisory_lock($1)", &[&SERVER_LOCK])?.get(0);
        if !locked {
            return Err(Error::Conflict(format!(
                "another encore serve is already running on the database {}: this release \
                 serves one server per database (docs/DEPLOY.md, \"Not yet\")",
                self.target
            )));
        }
        Ok(ServerLock { session: Some(client) })
    }

    /// The replica name this store writes for (`None`: [`PostgresStore::connect`]).
    pub fn replica(&self) -> Option<&str> {
        self.replica.as_deref()
    }

    /// Writes the change row describing this transaction's write (see [`feed::record`]); the
    /// last statement of the transaction.
    fn log(&self, tx: &mut Transaction<'_>, catalog: Option<&str>, kind: ChangeKind) -> Result<()> {
        feed::record(tx, self.replica(), catalog, &kind, None).map(drop)
    }

    /// The schema version of the database.
    pub fn schema_version(&self) -> Result<u32> {
        self.read(|tx| {
            let v: i32 = tx.query_one("SELECT version FROM schema_version", &[])?.get(0);
            Ok(v as u32)
        })
    }

    fn lock_idle(&self) -> MutexGuard<'_, Vec<Client>> {
        self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Opens a connection; a server that cannot be reached is [`Error::Unavailable`] naming
    /// `host:port/dbname` (a refused login or a missing database stays [`Error::Postgres`]).
    fn open_client(&self) -> Result<Client> {
        self.config.connect(NoTls).map_err(|e| match Error::from(e) {
            Error::Unavailable(why) => Error::Unavailable(format!("{}: {why}", self.target)),
            other => other,
        })
    }

    /// Runs `f` on a pooled connection; a connection that broke is dropped, not pooled.
    fn with_client<T>(&self, f: impl FnOnce(&mut Client) -> Result<T>) -> Result<T> {
        let pooled = self.lock_idle().pop();
        let mut client = match pooled {
            Some(client) if !client.is_closed() => client,
            _ => self.open_client()?,
        };
        let result = f(&mut client);
        let broken = client.is_closed() || matches!(result, Err(Error::Unavailable(_)));
        if !broken {
            let mut idle = self.lock_idle();
            if idle.len() < MAX_IDLE_CONNECTIONS {
                idle.push(client);
            }
        }
        result
    }

    /// Runs `f` in one READ COMMITTED transaction and commits it; on error nothing is written
    /// (dropping the transaction rolls it back).
    fn write<T>(&self, f: impl FnOnce(&mut Transaction<'_>) -> Result<T>) -> Result<T> {
        self.with_client(|c| {
            let mut tx = c.transaction()?;
            let value = f(&mut tx)?;
            tx.commit()?;
            Ok(value)
        })
    }

    /// Runs `f` in a READ ONLY REPEATABLE READ transaction: one snapshot for all its statements.
    fn read<T>(&self, f: impl FnOnce(&mut Transaction<'_>) -> Result<T>) -> Result<T> {
        self.with_client(|c| {
            let mut tx = c
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let value = f(&mut tx)?;
            tx.commit()?;
            Ok(value)
        })
    }
}

/// Converts a count or key read from the database (always ≥ 0 by construction) to `u64`.
pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Converts a `u64` the caller gave into PostgreSQL's `bigint`, refusing values beyond it.
pub(crate) fn to_i64(what: &str, v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::Invalid(format!("{what} {v} is too large")))
}

/// Converts a `u32` (model version, epoch) into PostgreSQL's `integer`.
pub(crate) fn to_i32(what: &str, v: u32) -> Result<i32> {
    i32::try_from(v).map_err(|_| Error::Invalid(format!("{what} {v} is too large")))
}

/// A limit as a `bigint` (`usize::MAX` means no limit).
pub(crate) fn limit_i64(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

impl Store for PostgresStore {
    fn create_catalog(&self, name: &str) -> Result<Catalog> {
        self.write(|tx| {
            let catalog = catalogs::create(tx, name)?;
            self.log(tx, Some(name), ChangeKind::CatalogCreated)?;
            Ok(catalog)
        })
    }

    fn get_catalog(&self, name: &str) -> Result<Catalog> {
        self.read(|tx| catalogs::get(tx, name))
    }

    fn list_catalogs(&self) -> Result<Vec<Catalog>> {
        self.read(catalogs::list)
    }

    fn catalog_stats(&self, name: &str) -> Result<CatalogStats> {
        self.read(|tx| catalogs::stats(tx, name))
    }

    fn delete_catalog(&self, name: &str) -> Result<Vec<String>> {
        self.write(|tx| {
            let deleted = catalogs::delete(tx, name)?;
            if deleted.keys_revoked > 0 {
                // Its scoped keys were revoked with it: followers reload the key table too.
                feed::record(tx, self.replica(), None, &ChangeKind::KeysChanged, None)?;
            }
            self.log(tx, Some(name), ChangeKind::CatalogDeleted)?;
            Ok(deleted.files)
        })
    }

    fn upsert_items(&self, catalog: &str, items: &[NewItem]) -> Result<UpsertReport> {
        for item in items {
            crate::limits::check_item(item)?;
        }
        self.write(|tx| {
            let report = items::upsert(tx, catalog, items)?;
            if !items.is_empty() {
                let item_ids = items.iter().map(|i| i.item_id.clone()).collect();
                self.log(tx, Some(catalog), ChangeKind::ItemsUpserted { item_ids })?;
            }
            Ok(report)
        })
    }

    fn get_item(&self, catalog: &str, item_id: &str) -> Result<Item> {
        self.read(|tx| items::get(tx, catalog, item_id))
    }

    fn for_each_item(&self, catalog: &str, sink: &mut dyn FnMut(Item)) -> Result<u64> {
        self.read(|tx| items::for_each(tx, catalog, sink))
    }

    fn delete_item(&self, catalog: &str, item_id: &str) -> Result<()> {
        self.write(|tx| {
            items::delete(tx, catalog, item_id)?;
            let item_id = item_id.to_owned();
            self.log(tx, Some(catalog), ChangeKind::ItemTakenDown { item_id })
        })
    }

    fn taken_down_items(&self, catalog: &str) -> Result<Vec<String>> {
        self.read(|tx| items::taken_down(tx, catalog))
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
        self.read(|tx| events::for_each_training_event(tx, catalog, up_to_seq, sink))
    }

    fn user_events(&self, catalog: &str, user_id: &str) -> Result<Vec<StoredEvent>> {
        self.read(|tx| events::of_user(tx, catalog, user_id))
    }

    fn count_events(&self, catalog: &str) -> Result<u64> {
        self.read(|tx| events::count(tx, catalog))
    }

    fn erase_user(&self, catalog: &str, user_id: &str) -> Result<EraseReport> {
        self.write(|tx| {
            let report = events::erase_user(tx, catalog, user_id)?;
            let user_id = user_id.to_owned();
            self.log(tx, Some(catalog), ChangeKind::UserErased { user_id })?;
            Ok(report)
        })
    }

    fn bulk_import(
        &self,
        catalog: &str,
        options: &BulkImportOptions<'_>,
        source: &mut ImportSource<'_>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<ImportReport> {
        crate::limits::check_catalog_name(catalog)?;
        let started = std::time::Instant::now();
        let mut report = self.write(|tx| {
            let (report, created) = import::bulk_import(tx, catalog, options, source, progress)?;
            if let Some(events_before) = created {
                // Numbered before the import's own events: a follower creates the catalog,
                // then applies them.
                let kind = ChangeKind::CatalogCreated;
                feed::record(tx, self.replica(), Some(catalog), &kind, Some(events_before))?;
            }
            Ok(report)
        })?;
        report.seconds = started.elapsed().as_secs_f64();
        Ok(report)
    }

    fn reserve_model_version(&self, catalog: &str) -> Result<u32> {
        self.write(|tx| models::reserve_version(tx, catalog))
    }

    fn register_model(&self, catalog: &str, model: &NewModel) -> Result<ModelRecord> {
        self.write(|tx| models::register(tx, catalog, model))
    }

    fn get_model(&self, catalog: &str, version: u32) -> Result<ModelRecord> {
        self.read(|tx| models::get(tx, catalog, version))
    }

    fn list_models(&self, catalog: &str) -> Result<Vec<ModelRecord>> {
        self.read(|tx| models::list(tx, catalog))
    }

    fn activate_model(&self, catalog: &str, version: u32) -> Result<ModelRecord> {
        self.write(|tx| {
            let model = models::activate(tx, catalog, version)?;
            self.log(tx, Some(catalog), ChangeKind::ModelActivated { version })?;
            Ok(model)
        })
    }

    fn active_model(&self, catalog: &str) -> Result<Option<ModelRecord>> {
        self.read(|tx| models::active(tx, catalog))
    }

    fn update_model_file(
        &self,
        catalog: &str,
        version: u32,
        file_path: &str,
        size_bytes: u64,
    ) -> Result<ModelRecord> {
        self.write(|tx| {
            let model = models::update_file(tx, catalog, version, file_path, size_bytes)?;
            self.log(tx, Some(catalog), ChangeKind::ModelFileRewritten { version })?;
            Ok(model)
        })
    }

    fn create_job(&self, catalog: &str, request: &serde_json::Value) -> Result<JobRecord> {
        self.write(|tx| jobs::create(tx, catalog, request, self.replica()))
    }

    fn get_job(&self, id: u64) -> Result<JobRecord> {
        self.read(|tx| jobs::get(tx, id))
    }

    fn list_jobs(&self, catalog: Option<&str>, limit: usize) -> Result<Vec<JobRecord>> {
        self.read(|tx| jobs::list(tx, catalog, limit))
    }

    fn update_job(&self, id: u64, update: &JobUpdate) -> Result<JobRecord> {
        self.write(|tx| jobs::update(tx, id, update))
    }

    fn fail_unfinished_jobs(&self, reason: &str) -> Result<u64> {
        self.write(|tx| jobs::fail_unfinished(tx, reason))
    }

    fn create_api_key(&self, key: &NewApiKey) -> Result<ApiKeyRecord> {
        self.write(|tx| {
            let key = security::create_key(tx, key)?;
            self.log(tx, None, ChangeKind::KeysChanged)?;
            Ok(key)
        })
    }

    fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        self.read(security::list_keys)
    }

    fn revoke_api_key(&self, id: u64) -> Result<ApiKeyRecord> {
        self.write(|tx| {
            let (key, revoked_now) = security::revoke_key(tx, id)?;
            if revoked_now {
                self.log(tx, None, ChangeKind::KeysChanged)?;
            }
            Ok(key)
        })
    }

    fn append_audit(&self, entry: &NewAuditEntry) -> Result<u64> {
        self.write(|tx| security::append_audit(tx, entry, self.replica()))
    }

    fn audit_page(&self, after_seq: u64, limit: usize) -> Result<Vec<AuditEntry>> {
        self.read(|tx| security::audit_page(tx, after_seq, limit))
    }

    fn integrity_check(&self) -> Result<Vec<String>> {
        self.read(stats::integrity_check)
    }

    fn event_timeline(
        &self,
        catalog: &str,
        bucket_secs: i64,
        limit: usize,
    ) -> Result<crate::stats::EventTimeline> {
        self.read(|tx| stats::event_timeline(tx, catalog, bucket_secs, limit))
    }

    fn item_event_counts(&self, catalog: &str) -> Result<Vec<(String, u64)>> {
        self.read(|tx| stats::item_event_counts(tx, catalog))
    }

    fn search_items(
        &self,
        catalog: &str,
        query: &str,
        after: u64,
        limit: usize,
    ) -> Result<crate::stats::ItemPage> {
        self.read(|tx| stats::search_items(tx, catalog, query, after, limit))
    }

    fn sample_users(&self, catalog: &str, max: usize) -> Result<(Vec<String>, u64)> {
        self.read(|tx| stats::sample_users(tx, catalog, max))
    }

    fn replica_feed(&self) -> Option<&dyn ReplicaFeed> {
        Some(self)
    }
}
