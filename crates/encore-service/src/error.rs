//! The service's one error type, with a stable machine code and an HTTP-like class per variant.
//!
//! The server maps [`ErrorClass`] to a status code in one place; the CLI prints the message. The
//! rule that matters: anything the caller could have done differently (a bad field, an unknown id,
//! a conflicting name) is *never* classed [`ErrorClass::Internal`].

use serde::Serialize;

pub use encore_store::Resource;

/// Result alias of the service layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One rejected row of a batch (items or events): which row, which field, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct RowError {
    /// 0-based position of the row in the request's list.
    pub index: usize,
    /// The offending field (`user_id`, `weight`, …).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// What kind of failure an [`Error`] is; the server maps each class to an HTTP status code
/// (`encore_server::error`), the CLI to a message and an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// 400: a field is malformed or out of range.
    BadRequest,
    /// 404: an unknown catalog, item, user, model version or job.
    NotFound,
    /// 409: the request conflicts with the current state (name taken, job already finished).
    Conflict,
    /// 413: the request is larger than the configured limits.
    PayloadTooLarge,
    /// 422: well-formed but semantically unusable (nothing to train on, unknown history items).
    Unprocessable,
    /// 503: the service is not ready yet (still loading its catalogs and models).
    Unavailable,
    /// 500: a fault of the server itself (I/O, corrupted model file).
    Internal,
}

/// Everything a use case can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An unknown catalog, item, user, model version or job.
    #[error("{kind} `{id}` not found")]
    NotFound {
        /// What was looked up.
        kind: Resource,
        /// The id that was not found.
        id: String,
    },
    /// The request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// One field of the request is invalid.
    #[error("invalid `{field}`: {message}")]
    Invalid {
        /// The field, in the request's JSON naming (`n`, `filter.kinds`, `name`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// Some rows of a batch are invalid; nothing of the batch was stored.
    #[error("{} invalid row(s); nothing was stored (first: row {}: `{}` {})",
        .0.len(),
        .0.first().map_or(0, |r| r.index),
        .0.first().map_or("", |r| r.field.as_str()),
        .0.first().map_or("", |r| r.message.as_str()))]
    InvalidRows(Vec<RowError>),
    /// Well-formed but semantically unusable.
    #[error("{0}")]
    Unprocessable(String),
    /// The operation needs a model and the catalog has no active one (recommendations do not:
    /// they fall back to popular items).
    #[error(
        "catalog `{catalog}` has no active model yet; train one with POST /v1/catalogs/{catalog}/models"
    )]
    NoActiveModel {
        /// The catalog.
        catalog: String,
    },
    /// The service is still loading its catalogs and active models after a start.
    #[error("the service is starting: {0}; retry shortly")]
    NotReady(String),
    /// The request exceeds a configured limit.
    #[error("{0}")]
    TooLarge(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] encore_store::Error),
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] encore_core::Error),
    /// A fault of the service itself.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid { field: field.into(), message: message.into() }
    }

    /// Shorthand for [`Error::NotFound`].
    pub fn not_found(kind: Resource, id: impl Into<String>) -> Self {
        Error::NotFound { kind, id: id.into() }
    }

    /// A stable, machine-readable code (the last segment of the problem `type` URI).
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotFound { kind, .. } => match kind {
                Resource::Catalog => "catalog_not_found",
                Resource::Item => "item_not_found",
                Resource::User => "user_not_found",
                Resource::Model => "model_not_found",
                Resource::Job => "job_not_found",
                Resource::ApiKey => "not_found",
            },
            Error::Conflict(_) => "conflict",
            Error::Invalid { .. } => "invalid_field",
            Error::InvalidRows(_) => "invalid_rows",
            Error::Unprocessable(_) => "unprocessable",
            Error::NoActiveModel { .. } => "no_active_model",
            Error::NotReady(_) => "not_ready",
            Error::TooLarge(_) => "too_large",
            Error::Store(e) => match store_class(e) {
                ErrorClass::NotFound => "not_found",
                ErrorClass::Conflict => "conflict",
                ErrorClass::BadRequest => "invalid_field",
                ErrorClass::Unavailable => "database_unavailable",
                _ => "store_error",
            },
            Error::Engine(e) => match engine_class(e) {
                ErrorClass::BadRequest => "invalid_model_spec",
                ErrorClass::Unprocessable => "unprocessable",
                ErrorClass::NotFound => "not_found",
                ErrorClass::Conflict => "cancelled",
                _ => "engine_error",
            },
            Error::Internal(_) => "internal",
        }
    }

    /// The HTTP-like class of the error.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::NotFound { .. } => ErrorClass::NotFound,
            Error::Conflict(_) => ErrorClass::Conflict,
            Error::Invalid { .. } | Error::InvalidRows(_) => ErrorClass::BadRequest,
            Error::Unprocessable(_) => ErrorClass::Unprocessable,
            Error::NoActiveModel { .. } => ErrorClass::Conflict,
            Error::NotReady(_) => ErrorClass::Unavailable,
            Error::TooLarge(_) => ErrorClass::PayloadTooLarge,
            Error::Store(e) => store_class(e),
            Error::Engine(e) => engine_class(e),
            Error::Internal(_) => ErrorClass::Internal,
        }
    }

    /// The per-row errors, for [`Error::InvalidRows`].
    pub fn rows(&self) -> &[RowError] {
        match self {
            Error::InvalidRows(r) => r,
            _ => &[],
        }
    }
}

/// Engine errors caused by the request are client errors; file and I/O faults are ours.
fn engine_class(e: &encore_core::Error) -> ErrorClass {
    use encore_core::Error as E;
    match e {
        E::InvalidSpec { .. } | E::Parse { .. } => ErrorClass::BadRequest,
        E::InvalidInput(_) | E::ResourceLimit(_) => ErrorClass::Unprocessable,
        E::UnknownUser(_) | E::UnknownItem(_) => ErrorClass::NotFound,
        E::Cancelled => ErrorClass::Conflict,
        E::ModelFile { .. } | E::Io { .. } => ErrorClass::Internal,
    }
}

/// The store reports what it knows about the cause; everything else is a fault of ours.
fn store_class(e: &encore_store::Error) -> ErrorClass {
    use encore_store::Error as E;
    match e {
        E::NotFound { .. } => ErrorClass::NotFound,
        E::Conflict(_) => ErrorClass::Conflict,
        E::Invalid(_) => ErrorClass::BadRequest,
        E::Data(inner) => engine_class(inner),
        // The database is away (connection lost, server restarting): 503, come back later.
        E::Unavailable(_) => ErrorClass::Unavailable,
        E::Sqlite(_) | E::Postgres(_) | E::Io { .. } => ErrorClass::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_input_is_never_internal() {
        let cases = [
            Error::invalid("n", "must be between 1 and 1000"),
            Error::InvalidRows(vec![RowError {
                index: 3,
                field: "weight".into(),
                message: "must be finite".into(),
            }]),
            Error::not_found(Resource::Catalog, "music"),
            Error::Conflict("exists".into()),
            Error::Engine(encore_core::Error::InvalidSpec {
                spec: "ials:x=1".into(),
                message: "unknown parameter".into(),
            }),
            Error::Engine(encore_core::Error::InvalidInput("empty".into())),
        ];
        for e in cases {
            assert_ne!(e.class(), ErrorClass::Internal, "{e}");
            assert!(!matches!(e.class(), ErrorClass::Internal | ErrorClass::Unavailable), "{e}");
        }
        assert_eq!(Error::not_found(Resource::Job, "j1").code(), "job_not_found");
        assert_eq!(Error::NoActiveModel { catalog: "c".into() }.class(), ErrorClass::Conflict);
        assert_eq!(Error::NotReady("loading".into()).class(), ErrorClass::Unavailable);
        let lost = Error::Store(encore_store::Error::Unavailable("connection refused".into()));
        assert_eq!((lost.class(), lost.code()), (ErrorClass::Unavailable, "database_unavailable"));
    }

    #[test]
    fn invalid_rows_message_names_the_first_row() {
        let e = Error::InvalidRows(vec![RowError {
            index: 7,
            field: "user_id".into(),
            message: "must not be empty".into(),
        }]);
        assert!(e.to_string().contains("row 7"), "{e}");
        assert_eq!(e.rows().len(), 1);
    }
}
