//! The store's one error type.
//!
//! Each variant says whose fault it is, so `encore-service` can map it to an HTTP status without
//! parsing messages: [`Error::NotFound`] → 404, [`Error::Conflict`] → 409, [`Error::Invalid`] and
//! [`Error::Data`] → 400/422, [`Error::Unavailable`] → 503 (retry later), [`Error::Sqlite`],
//! [`Error::Postgres`] and [`Error::Io`] → 500.

use std::error::Error as _;
use std::path::PathBuf;

/// Result alias used across the store.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of thing was not found: one name per kind, shared by the store and the service
/// (which derives the API's `…_not_found` codes from it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// A catalog.
    Catalog,
    /// An item of a catalog.
    Item,
    /// A user of a catalog.
    User,
    /// A registered model version.
    Model,
    /// A training job.
    Job,
    /// An API key.
    ApiKey,
}

impl Resource {
    /// The kind's name in messages: `catalog`, `item`, `user`, `model`, `job`, `key`.
    pub fn name(self) -> &'static str {
        match self {
            Resource::Catalog => "catalog",
            Resource::Item => "item",
            Resource::User => "user",
            Resource::Model => "model",
            Resource::Job => "job",
            Resource::ApiKey => "key",
        }
    }
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A catalog, item, user, model, job or API key that does not exist.
    #[error("{kind} `{id}` not found")]
    NotFound {
        /// What was looked up.
        kind: Resource,
        /// The id that was asked for.
        id: String,
    },
    /// The request contradicts the stored state (the catalog already exists, the model is active,
    /// the job already finished, …).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Input that the store refuses: an empty or over-long id, a negative weight, … The service
    /// validates first with friendlier messages; this is the last line of defence.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// An input file could not be read or parsed by the engine (carries `file:line`).
    #[error(transparent)]
    Data(#[from] encore_core::Error),
    /// The SQLite database failed (corruption, disk full, locked for longer than the busy timeout).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The PostgreSQL database refused or failed a statement while the connection was fine (a
    /// constraint we did not expect to break, a full disk, …).
    #[error("database error: {0}")]
    Postgres(postgres::Error),
    /// The database cannot be reached (connection refused or lost, server shutting down or
    /// starting): nothing was committed by the failed call, and retrying later may succeed.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// An operating-system I/O error on a named path.
    #[error("{path}: {source}")]
    Io {
        /// Path of the file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// SQLSTATE classes and codes that mean "the server is away", not "the statement is wrong":
/// 08 connection exception, 57P01–57P03 admin/crash shutdown and "cannot connect now" (a server
/// starting or in recovery).
fn is_connection_state(code: &postgres::error::SqlState) -> bool {
    let code = code.code();
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
}

impl From<postgres::Error> for Error {
    fn from(e: postgres::Error) -> Self {
        let unavailable = e.is_closed()
            || e.code().is_some_and(is_connection_state)
            // No SQLSTATE and no server message: the failure is the socket's (I/O, TLS, timeout).
            || (e.code().is_none() && e.as_db_error().is_none() && e.source().is_some_and(
                |s| s.downcast_ref::<std::io::Error>().is_some(),
            ));
        if unavailable { Error::Unavailable(e.to_string()) } else { Error::Postgres(e) }
    }
}

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// Shorthand for [`Error::NotFound`].
    pub fn not_found(kind: Resource, id: impl Into<String>) -> Self {
        Error::NotFound { kind, id: id.into() }
    }
}
