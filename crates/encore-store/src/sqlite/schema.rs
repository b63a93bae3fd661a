//! The database schema and its migrations.
//!
//! `schema_version` holds one row: the number of migrations applied. [`migrate`] applies the
//! missing ones, each in its own transaction, at open. A migration is never edited once released:
//! a change is a new entry at the end of [`MIGRATIONS`].
//!
//! Users and item ids get integer keys (`users.key`, `item_keys.key`) so that `events` stores only
//! integers and a weight; event sequence numbers come from `counters` (see there). Item metadata
//! (`items`) is keyed by the item key: events may name items that have no metadata yet.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Error, Result};

/// Every migration, in order. Index `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    r#"
    CREATE TABLE catalogs (
        id                 INTEGER PRIMARY KEY,
        name               TEXT NOT NULL UNIQUE,
        created_ms         INTEGER NOT NULL,
        next_model_version INTEGER NOT NULL DEFAULT 1
    );
    CREATE TABLE users (
        key        INTEGER PRIMARY KEY,
        catalog_id INTEGER NOT NULL REFERENCES catalogs(id) ON DELETE CASCADE,
        user_id    TEXT NOT NULL,
        UNIQUE (catalog_id, user_id)
    );
    CREATE TABLE item_keys (
        key        INTEGER PRIMARY KEY,
        catalog_id INTEGER NOT NULL REFERENCES catalogs(id) ON DELETE CASCADE,
        item_id    TEXT NOT NULL,
        UNIQUE (catalog_id, item_id)
    );
    CREATE TABLE items (
        key        INTEGER PRIMARY KEY REFERENCES item_keys(key) ON DELETE CASCADE,
        title      TEXT NOT NULL,
        kind       TEXT NOT NULL,
        tags       TEXT NOT NULL,          -- JSON array of strings
        available  INTEGER NOT NULL,
        released   TEXT,                   -- YYYY-MM-DD
        updated_ms INTEGER NOT NULL
    );
    -- Sequence numbers are handed out from here, never from max(seq) + 1, so that erasing the
    -- newest events cannot make a later event reuse a number a model watermark already covers.
    CREATE TABLE counters (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    INSERT INTO counters (name, value) VALUES ('event_seq', 0);
    -- Clustered by (catalog, seq): a catalog's events in order are one contiguous range, which is
    -- what training, freshness and counting read, and what appends extend. No rowid table and no
    -- separate catalog index: about 55 bytes per event with the user index.
    -- `item_key` has no declared foreign key on purpose: enforcing it on deletes of item keys
    -- would need an index on it (a third B-tree, a third of the bulk-import time). Item keys are
    -- only deleted with their catalog, after its events, and `integrity_check` verifies the
    -- reference.
    CREATE TABLE events (
        catalog_id  INTEGER NOT NULL REFERENCES catalogs(id) ON DELETE CASCADE,
        seq         INTEGER NOT NULL,
        user_key    INTEGER NOT NULL REFERENCES users(key) ON DELETE CASCADE,
        item_key    INTEGER NOT NULL,
        weight      REAL NOT NULL,
        ts          INTEGER,
        ingested_ms INTEGER NOT NULL,
        PRIMARY KEY (catalog_id, seq)
    ) WITHOUT ROWID;
    CREATE INDEX events_by_user ON events (user_key, seq);
    CREATE TABLE models (
        catalog_id         INTEGER NOT NULL REFERENCES catalogs(id) ON DELETE CASCADE,
        version            INTEGER NOT NULL,
        algorithm          TEXT NOT NULL,
        params             TEXT NOT NULL,  -- JSON
        metrics            TEXT NOT NULL,  -- JSON
        file_path          TEXT NOT NULL,
        size_bytes         INTEGER NOT NULL,
        created_ms         INTEGER NOT NULL,
        trained_events_seq INTEGER NOT NULL,
        active             INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (catalog_id, version)
    );
    -- At most one active model per catalog, enforced by the database itself.
    CREATE UNIQUE INDEX models_one_active ON models (catalog_id) WHERE active = 1;
    CREATE TABLE jobs (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        catalog_id    INTEGER NOT NULL REFERENCES catalogs(id) ON DELETE CASCADE,
        state         TEXT NOT NULL
                      CHECK (state IN ('queued','running','succeeded','failed','cancelled')),
        request       TEXT NOT NULL,      -- JSON
        progress      REAL NOT NULL DEFAULT 0,
        epoch         INTEGER,
        loss          REAL,
        metrics       TEXT,               -- JSON
        error         TEXT,
        model_version INTEGER,
        created_ms    INTEGER NOT NULL,
        updated_ms    INTEGER NOT NULL
    );
    CREATE INDEX jobs_by_catalog ON jobs (catalog_id, id);
    CREATE TABLE api_keys (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        name       TEXT NOT NULL,
        role       TEXT NOT NULL CHECK (role IN ('reader','writer','admin')),
        catalog    TEXT,                  -- NULL: every catalog
        hash       TEXT NOT NULL,
        prefix     TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        revoked_ms INTEGER
    );
    CREATE INDEX api_keys_by_prefix ON api_keys (prefix);
    CREATE TABLE audit_log (
        seq      INTEGER PRIMARY KEY AUTOINCREMENT,
        time_ms  INTEGER NOT NULL,
        key_id   INTEGER,
        key_name TEXT,
        action   TEXT NOT NULL,
        target   TEXT NOT NULL,
        outcome  TEXT NOT NULL,
        detail   TEXT NOT NULL            -- JSON
    );
    "#,
    // 2: takedowns. A deleted item keeps its key (its events are history that training still
    // learns from) but must never be shown again until it is put back; the row says so across
    // restarts.
    r#"
    CREATE TABLE item_takedowns (
        key           INTEGER PRIMARY KEY REFERENCES item_keys(key) ON DELETE CASCADE,
        taken_down_ms INTEGER NOT NULL
    );
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Brings the database up to [`SCHEMA_VERSION`]; refuses a database written by a newer build.
pub fn migrate(conn: &mut Connection) -> Result<u32> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    loop {
        // IMMEDIATE: two processes opening a fresh data dir at once must not both migrate.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current: Option<u32> =
            tx.query_row("SELECT version FROM schema_version", [], |r| r.get(0)).ok();
        let current = current.unwrap_or(0);
        if current as usize > MIGRATIONS.len() {
            return Err(Error::Conflict(format!(
                "the database has schema version {current}, newer than this build's \
                 {SCHEMA_VERSION}: upgrade encore"
            )));
        }
        if current as usize == MIGRATIONS.len() {
            tx.commit()?;
            return Ok(current);
        }
        tx.execute_batch(MIGRATIONS[current as usize])?;
        tx.execute("DELETE FROM schema_version", [])?;
        tx.execute("INSERT INTO schema_version (version) VALUES (?1)", [current + 1])?;
        tx.commit()?;
    }
}
