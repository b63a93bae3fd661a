//! # encore-store — where Encore keeps things
//!
//! Catalogs, item metadata, users, events, the model registry, training jobs, API keys and the
//! audit log live in one database: by default an embedded SQLite file, `DIR/encore.db`, or a
//! PostgreSQL database named by a URL (`encore … --database postgres://…`). Model files live
//! under `DIR` either way, and the registry records their paths relative to `DIR`.
//!
//! - [`Store`] is the interface the service programs against (object-safe: `Arc<dyn Store>`); its
//!   contract (atomic batches, global sequence numbers, error kinds) is tested by one suite
//!   against both back ends (`tests/it`, `contract_test!`).
//! - [`SqliteStore`] implements it on a file: WAL journal, `synchronous=FULL` (an acknowledged
//!   append survives power loss), foreign keys on, schema migrations applied at open, one writer
//!   connection plus a pool of readers that never wait for the writer.
//! - [`PostgresStore`] implements it on PostgreSQL 15+: a pool of synchronous `postgres`
//!   connections, versioned migrations under an advisory lock (a newer schema is refused), reads
//!   in one REPEATABLE READ snapshot, bulk import with binary `COPY`, and
//!   [`Error::Unavailable`] when the server cannot be reached (the server answers 503).
//! - [`limits`] documents and enforces what ids, weights and metadata may look like.
//! - [`item_files`] reads item metadata files (Last.fm `artists.dat`, MovieLens `u.item` and
//!   `movies.csv`, generic CSV) for `encore import-items`.
//!
//! Users and items get dense integer keys inside the database, so the events table stores a few
//! integers and a weight per row (about 57 bytes per event with its user index): that keeps it
//! small and bulk import fast. Events are clustered by `(catalog, seq)`; sequence numbers are
//! global, strictly increasing and never reused, so a model's `trained_events_seq` watermark
//! splits a catalog's events into "seen by training" and "fresh".
//!
//! ```no_run
//! use encore_store::{NewEvent, SqliteStore, Store};
//! let store = SqliteStore::open("data")?;
//! store.create_catalog("music")?;
//! let event = NewEvent { user_id: "u1".into(), item_id: "t9".into(), weight: 1.0, timestamp: None };
//! let report = store.append_events("music", &[event])?; // durable when this returns
//! assert_eq!(report.accepted, 1);
//! # Ok::<(), encore_store::Error>(())
//! ```
//!
//! The import, training-stream, append, history and erasure speeds measured with the
//! `import_bench` example, and the PostgreSQL import against SQLite (`bench/pg_import.sh`), are in
//! `bench/README.md`.

mod clock;
pub mod error;
pub mod item_files;
mod key_map;
pub mod limits;
mod postgres;
pub mod replica;
mod sqlite;
pub mod stats;
mod store;
#[cfg(feature = "test-support")]
pub mod test_support;
pub mod types;

pub use error::{Error, Resource, Result};
pub use postgres::{PostgresStore, ServerLock, is_postgres_url};
pub use replica::{
    BlobInfo, CHANGE_RETENTION_MS, Change, ChangeKind, FeedEvent, FeedHeads, ReplicaFeed,
    ReplicaRecord,
};
pub use sqlite::{DB_FILE_NAME, SqliteStore};
pub use stats::{EventTimeline, ItemPage};
pub use store::{ImportSource, Store};
pub use types::*;
