//! Every limit on what a caller may send, defined once.
//!
//! The HTTP API, the CLI (`encore import --catalog …`, `import-items`, `keys create --catalog`) and
//! the OpenAPI document all take their rules from here, so the doors accept and refuse the same
//! things. The storage rules (catalog name, ids, item metadata) are the store's own
//! ([`encore_store::limits`], its last line of defence), re-exported; the request limits (`n`,
//! batch sizes, history and filter lengths) are the service's.
//!
//! Lengths are counted in characters, as JSON Schema's `minLength`/`maxLength` count them.

pub use encore_store::limits::{
    CATALOG_NAME_PATTERN, MAX_CATALOG_NAME, MAX_ID, MAX_KIND, MAX_TAG, MAX_TAGS, MAX_TITLE,
    NO_CONTROL_PATTERN, RELEASE_DATE_PATTERN,
};

pub use crate::access::MAX_KEY_NAME;
pub use crate::access::audit::MAX_AUDIT_PAGE;

/// Largest `n` (recommendations or similar items) a request may ask for.
pub const MAX_N: usize = 1000;
/// The `n` of a request that gives none.
pub const DEFAULT_N: usize = 10;
/// Most rows (events or items) in one batch request.
pub const MAX_BATCH_ROWS: usize = 100_000;
/// Most entries in a request's `history`.
pub const MAX_HISTORY: usize = 10_000;
/// Most entries in each list of a recommendation filter (`kinds`, `tags_any`, …).
pub const MAX_FILTER_ENTRIES: usize = 1000;
/// Longest entry of a filter list, characters (an item id, a kind or a tag).
pub const MAX_FILTER_VALUE: usize = 256;
/// Largest event or history weight: the largest finite `f32`, as weights are stored as `f32`.
pub const MAX_WEIGHT: f64 = f32::MAX as f64;
/// A key name: 1–[`MAX_KEY_NAME`] characters without control characters, not only white space.
pub const KEY_NAME_PATTERN: &str =
    "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$";

// The request limits fit the storage limits: a filter entry can name any item id, kind or tag
// the store accepts, and the default `n` is a valid one.
const _: () = assert!(MAX_FILTER_VALUE >= MAX_ID);
const _: () = assert!(MAX_FILTER_VALUE >= MAX_KIND && MAX_FILTER_VALUE >= MAX_TAG);
const _: () = assert!(DEFAULT_N >= 1 && DEFAULT_N <= MAX_N);
