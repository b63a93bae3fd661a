//! The engine's one error type.

use std::path::PathBuf;

/// Result alias used across the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the engine. Each variant says whose fault it is, so the layers
/// above can map it (bad input → 4xx, I/O → 5xx) without parsing messages.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A line of an input file could not be parsed.
    #[error("{path}:{line}: {message}")]
    Parse {
        /// File name (or `<input>` for in-memory data).
        path: String,
        /// 1-based line number.
        line: u64,
        /// What was wrong with the line.
        message: String,
    },
    /// Input that is well-formed but unusable (empty, unknown format, inconsistent sizes).
    #[error("{0}")]
    InvalidInput(String),
    /// A model spec such as `ials:factors=64` could not be understood.
    #[error("invalid model spec `{spec}`: {message}")]
    InvalidSpec {
        /// The spec as given.
        spec: String,
        /// What was wrong with it.
        message: String,
    },
    /// A model file is truncated, corrupted, of another format version or otherwise unreadable.
    #[error("model file {path}: {message}")]
    ModelFile {
        /// Path of the file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// The work would need more memory than the configured limit.
    #[error("{0}")]
    ResourceLimit(String),
    /// A user id that the model does not know.
    #[error("unknown user `{0}`")]
    UnknownUser(String),
    /// An item id that the model does not know.
    #[error("unknown item `{0}`")]
    UnknownItem(String),
    /// Training was cancelled through its [`crate::progress::TrainingObserver`].
    #[error("training was cancelled")]
    Cancelled,
    /// An operating-system I/O error on a named file.
    #[error("{path}: {source}")]
    Io {
        /// Path of the file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}
