//! Request and response types of every use case, with the field names of the HTTP API.
//!
//! They derive `serde` and `utoipa::ToSchema`, so the server generates its OpenAPI document from
//! exactly the types the service checks. Optional request fields are `Option`s and their defaults
//! are applied (and documented) by the use case, not by serde, so that "absent" and "given" stay
//! distinguishable for validation messages.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

// ---------------------------------------------------------------- catalogs

/// `POST /v1/catalogs` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCatalog {
    /// Catalog name: 1–64 characters from `a-z`, `0-9`, `_` and `-`, starting with a letter or digit.
    #[schema(example = "music")]
    pub name: String,
}

/// A catalog with its counts and active model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CatalogInfo {
    /// Catalog name.
    pub name: String,
    /// Number of items (with metadata or created by events).
    pub items: u64,
    /// Number of distinct users with events.
    pub users: u64,
    /// Number of stored events.
    pub events: u64,
    /// Version of the active model, if any.
    pub active_model: Option<String>,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_unix_ms: i64,
}

/// `GET /v1/catalogs` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CatalogList {
    /// Every catalog, by name.
    pub catalogs: Vec<CatalogInfo>,
}

// ---------------------------------------------------------------- items

/// An item with its metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// The app's id of the item.
    #[schema(example = "track-42")]
    pub item_id: String,
    /// Display title (empty when unknown).
    #[serde(default)]
    pub title: String,
    /// Free-text kind: `track`, `album`, `film`, `series`, `game`… (empty when unknown).
    #[serde(default)]
    pub kind: String,
    /// Tags (genres, moods…).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Whether the item can be recommended with `only_available` (default true).
    #[serde(default = "default_true")]
    pub available: bool,
    /// Release date, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "2019-05-17")]
    pub released: Option<String>,
}

fn default_true() -> bool {
    true
}

// The item shapes and why each exists: `Item` is the API's (with its id), `ItemFields` the body
// of a PUT (the id is in the path), `encore_store::NewItem`/`encore_store::Item` what the store
// writes and reads (the latter with its update time), and the service's in-memory `ItemEntry`
// a compact form with interned kind and tags. The conversions between them live here, once.

impl From<&Item> for encore_store::NewItem {
    fn from(item: &Item) -> Self {
        encore_store::NewItem {
            item_id: item.item_id.clone(),
            title: item.title.clone(),
            kind: item.kind.clone(),
            tags: item.tags.clone(),
            available: item.available,
            released: item.released.clone(),
        }
    }
}

impl From<encore_store::Item> for Item {
    fn from(item: encore_store::Item) -> Self {
        Item {
            item_id: item.item_id,
            title: item.title,
            kind: item.kind,
            tags: item.tags,
            available: item.available,
            released: item.released,
        }
    }
}

/// `PUT /v1/catalogs/{c}/items/{item_id}` body: the item's metadata (the id is in the path).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemFields {
    /// Display title.
    #[serde(default)]
    pub title: String,
    /// Free-text kind.
    #[serde(default)]
    pub kind: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Availability (default true).
    #[serde(default = "default_true")]
    pub available: bool,
    /// Release date, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released: Option<String>,
}

impl ItemFields {
    /// The item with id `item_id` and these fields.
    pub fn into_item(self, item_id: &str) -> Item {
        Item {
            item_id: item_id.to_string(),
            title: self.title,
            kind: self.kind,
            tags: self.tags,
            available: self.available,
            released: self.released,
        }
    }
}

/// `POST /v1/catalogs/{c}/items` body: a batch upsert, all-or-nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertItems {
    /// Items to create or replace.
    pub items: Vec<Item>,
}

/// Response of a batch upsert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UpsertItemsResponse {
    /// Number of items written.
    pub upserted: usize,
}

// ---------------------------------------------------------------- events

/// One interaction: a user played, watched, bought or rated an item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventInput {
    /// The app's user id.
    pub user_id: String,
    /// The app's item id. An item not yet in the catalog is created bare (no metadata).
    pub item_id: String,
    /// Strength of the interaction: finite and ≥ 0 (default 1).
    #[serde(default)]
    pub weight: Option<f64>,
    /// When it happened, seconds since the Unix epoch (default: the time of ingestion).
    #[serde(default)]
    pub timestamp: Option<i64>,
}

/// `POST /v1/catalogs/{c}/events` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestEvents {
    /// The events; all are stored or none. Two events with the same `user_id`, `item_id` and
    /// explicit `timestamp` are one event sent twice: the batch is refused (400).
    pub events: Vec<EventInput>,
}

/// Response of an event batch: every event was durably committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IngestEventsResponse {
    /// Number of events stored.
    pub accepted: usize,
}

// ---------------------------------------------------------------- recommend

/// One item of a history given at request time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryEntry {
    /// Item id.
    pub item_id: String,
    /// Weight, finite and ≥ 0 (default 1).
    #[serde(default)]
    pub weight: Option<f64>,
}

/// Restricts what may be recommended; every condition must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecommendFilter {
    /// Only items of one of these kinds.
    #[serde(default)]
    pub kinds: Option<Vec<String>>,
    /// Only items with at least one of these tags.
    #[serde(default)]
    pub tags_any: Option<Vec<String>>,
    /// Only items with all of these tags.
    #[serde(default)]
    pub tags_all: Option<Vec<String>>,
    /// Never these items.
    #[serde(default)]
    pub exclude_items: Option<Vec<String>>,
    /// Only items marked available. Kept for compatibility: unavailable items are left out by
    /// default now (see `include_unavailable`), so `true` changes nothing.
    #[serde(default)]
    pub only_available: Option<bool>,
    /// Also recommend items marked unavailable (`"available": false`: licence expired,
    /// region-locked, not yet released), which are left out by default. Taken-down (deleted)
    /// items are never recommended.
    #[serde(default)]
    pub include_unavailable: Option<bool>,
}

/// `POST /v1/catalogs/{c}/recommend` body (and of the simple `POST /recommend`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecommendRequest {
    /// A stored user. Exactly one of `user_id` and `history` is required.
    #[serde(default)]
    pub user_id: Option<String>,
    /// A history given at request time (new user, anonymous session), scored without retraining.
    #[serde(default)]
    pub history: Option<Vec<HistoryEntry>>,
    /// Number of recommendations, 1–1000 (default 10).
    #[serde(default)]
    pub n: Option<usize>,
    /// Leave out items of the history (default true).
    #[serde(default)]
    pub exclude_seen: Option<bool>,
    /// Restrictions on the recommended items.
    #[serde(default)]
    pub filter: Option<RecommendFilter>,
    /// Add `because` to each recommendation (default false).
    #[serde(default)]
    pub explain: Option<bool>,
    /// Score exactly, bypassing the approximate index of a large catalogue (default false).
    /// Precomputed lists are exact and may still answer.
    #[serde(default)]
    pub exact: Option<bool>,
}

/// How the recommendations were produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A user known to the active model, with no events newer than the model: the model's own
    /// parameters for the user.
    Model,
    /// Scored from a history: the one given in the request, or a stored user's full history when
    /// it has events newer than the model or the model does not know the user (fold-in).
    History,
    /// A user without usable history: the catalog's most popular items within the filter.
    Popular,
}

/// A history item's share of a recommendation's score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Because {
    /// The history item.
    pub item_id: String,
    /// Its contribution to the score.
    pub contribution: f32,
    /// The history item's title, when the catalog has one (for "because you played …").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The history item's kind, when the catalog has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// One recommended (or similar) item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Recommendation {
    /// Item id.
    pub item_id: String,
    /// Score (higher is better; comparable only within one response).
    pub score: f32,
    /// Title (empty when the item has no metadata).
    pub title: String,
    /// Kind (empty when unknown).
    pub kind: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Availability.
    pub available: bool,
    /// With `explain`: the history items that contributed most, largest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub because: Option<Vec<Because>>,
}

/// Response of a recommendation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RecommendResponse {
    /// The user, when the request named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The catalog.
    pub catalog: String,
    /// Version of the model that scored; `null` when the catalog has no active model (the list
    /// is then the catalog's popular items, `source: popular`).
    pub model_version: Option<String>,
    /// How the list was produced.
    pub source: Source,
    /// Best first.
    pub recommendations: Vec<Recommendation>,
}

/// Response of `GET /v1/catalogs/{c}/items/{item_id}/similar`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SimilarItemsResponse {
    /// The item asked about.
    pub item_id: String,
    /// The catalog.
    pub catalog: String,
    /// Version of the model.
    pub model_version: String,
    /// Most similar first.
    pub similar: Vec<Recommendation>,
}

// ---------------------------------------------------------------- users

/// One stored event of a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserEvent {
    /// Item id.
    pub item_id: String,
    /// Weight.
    pub weight: f64,
    /// Seconds since the Unix epoch.
    pub timestamp: i64,
    /// Title of the item, when it has metadata (and is not taken down).
    #[serde(default)]
    pub title: Option<String>,
}

/// `GET /v1/catalogs/{c}/users/{user_id}`: everything stored about the user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserData {
    /// User id.
    pub user_id: String,
    /// The user's events in the order they were stored.
    pub events: Vec<UserEvent>,
}

/// Receipt of an erasure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EraseReceipt {
    /// User id.
    pub user_id: String,
    /// Number of events deleted.
    pub events_removed: u64,
    /// Number of model files rewritten without the user.
    pub models_rewritten: usize,
    /// The versions whose model files were rewritten without the user (`v1`, …), oldest first.
    pub versions_rewritten: Vec<String>,
}

// ---------------------------------------------------------------- models and jobs

/// When a trained model becomes the active one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActivatePolicy {
    /// When its holdout ndcg@10 beats the active model's (or there is no active model, or no
    /// comparable metric: then it activates only if there is no active model).
    #[default]
    IfBetter,
    /// Always.
    Always,
    /// Never; activate later by hand.
    Never,
}

/// `POST /v1/catalogs/{c}/models` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainRequest {
    /// Algorithm: `ials`, `bpr`, `ease`, `itemknn` or `popularity`; or `auto` to search models
    /// and settings on the catalog's events within `budget_seconds` (like `encore tune`) and
    /// train the pick.
    #[schema(example = "ials")]
    pub model: String,
    /// Hyperparameters, e.g. `{"factors": 64, "iterations": 15}`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Share of each user's items held out to measure the model, strictly between 0 and 1;
    /// absent or 0 means no evaluation.
    #[serde(default)]
    pub holdout: Option<f64>,
    /// Activation policy (default `if_better`).
    #[serde(default)]
    pub activate: Option<ActivatePolicy>,
    /// With `auto`: the search's wall-clock budget in seconds (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_seconds: Option<u64>,
    /// With `auto`: the algorithms to search (default all five).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    /// With `auto`: only settings that train within this many seconds qualify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_train_seconds: Option<f64>,
    /// With `auto`: only settings whose training memory stays within this many bytes qualify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_memory_bytes: Option<u64>,
}

/// How far the search of an `auto` training job is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TuningProgress {
    /// Trials finished.
    pub trials_done: usize,
    /// Spec of the best trial so far.
    pub best_model: Option<String>,
    /// Its validation ndcg@10.
    pub best_ndcg_at_10: Option<f64>,
    /// Seconds of the search budget left (0 once the search is over).
    pub seconds_left: f64,
}

/// `202` response of a training request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobAccepted {
    /// Id of the job, for `GET /v1/jobs/{id}`.
    pub job_id: u64,
}

/// Life cycle of a job (the store's type: one owner, see [`encore_store::JobState`]).
pub use encore_store::JobState;

/// State of a training job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobInfo {
    /// Job id.
    pub job_id: u64,
    /// Catalog trained.
    pub catalog: String,
    /// Algorithm.
    pub model: String,
    /// State.
    pub state: JobState,
    /// Fraction done, 0–1.
    pub progress: f64,
    /// Epoch being run (1-based) when the model has epochs.
    pub epoch: Option<usize>,
    /// Epochs planned.
    pub epochs: Option<usize>,
    /// Training loss of the last epoch, when the model computes one.
    pub loss: Option<f64>,
    /// Loss after each epoch of the fit in progress (the holdout fit, then the final one), for
    /// jobs this process runs; empty for jobs of an earlier process or models without a loss.
    #[serde(default)]
    pub loss_history: Vec<f64>,
    /// Holdout metrics when done (`ndcg@10`, `precision@10`, …).
    pub metrics: Option<BTreeMap<String, f64>>,
    /// Version registered when done.
    pub model_version: Option<String>,
    /// Whether the job activated its model.
    pub activated: Option<bool>,
    /// Seconds from the end of training to the new version answering requests (the new model's
    /// candidate table is built first, while the previous version keeps serving; the job stays
    /// `running` meanwhile). Set when the job activated its model.
    pub activation_seconds: Option<f64>,
    /// For `auto` jobs this process runs: the search's trials done, best so far and time left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuning: Option<TuningProgress>,
    /// Why it failed.
    pub error: Option<String>,
    /// Creation time (ms since the epoch).
    pub created_unix_ms: i64,
    /// End time (ms since the epoch).
    pub finished_unix_ms: Option<i64>,
    /// The replica that runs (or ran) it, when several `encore serve` processes share one
    /// PostgreSQL database; absent for a single server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
}

/// `GET /v1/jobs` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobList {
    /// Jobs, newest first.
    pub jobs: Vec<JobInfo>,
}

/// A registered model version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ModelInfo {
    /// Version id.
    pub version: String,
    /// Algorithm.
    pub algorithm: String,
    /// Effective hyperparameters.
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// Holdout metrics (empty when trained without holdout).
    pub metrics: BTreeMap<String, f64>,
    /// The approximate index built with the version and its measured recall; null when none was
    /// built (a catalogue below the size that needs one, or a model without factors).
    #[serde(default)]
    pub index: Option<IndexSummary>,
    /// For a version trained with `"model": "auto"`: the search that chose it, `{"best": …,
    /// "trials": [{"model", "validation", "train_seconds", "peak_memory_bytes", …}], …}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub tuning: Option<serde_json::Value>,
    /// Size of the model file in bytes.
    pub size_bytes: u64,
    /// Creation time (ms since the epoch).
    pub created_unix_ms: i64,
    /// Data watermark: the sequence number of the newest event it was trained on.
    #[serde(default)]
    pub watermark: u64,
    /// Whether this is the catalog's active model.
    pub active: bool,
}

/// The approximate index of a model version, as recorded in the registry when it was built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IndexSummary {
    /// Kind of index (`ivf`: clusters of items, the best-matching clusters scanned exactly).
    pub kind: String,
    /// Number of item clusters.
    pub clusters: usize,
    /// Clusters scanned per request.
    pub probes: usize,
    /// Recall@10 against exact scoring at that probe count, over the sampled users (seen items
    /// excluded).
    pub recall_at_10: f64,
    /// Users the recall was measured on.
    pub sampled_users: usize,
    /// The recall the probe count was chosen to reach.
    pub target_recall: f64,
    /// Seconds the build took (clustering and measurement).
    pub build_seconds: f64,
}

/// `GET /v1/catalogs/{c}/models` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ModelList {
    /// Versions, newest first.
    pub models: Vec<ModelInfo>,
}

// ---------------------------------------------------------------- readiness

/// Serving state of one catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CatalogReadiness {
    /// Catalog.
    pub catalog: String,
    /// Active version in the registry.
    pub active_model: Option<String>,
    /// Version loaded in memory.
    pub loaded_model: Option<String>,
    /// Share (0–1) of the loaded model's known users whose candidates are precomputed; requests
    /// for the others are scored on demand (slower, same results).
    pub candidates_precomputed: Option<f64>,
    /// Seconds from the loaded version's activation request to it answering (0 when it was
    /// loaded at start-up).
    pub activation_seconds: Option<f64>,
    /// A version being activated: its candidate table is being built while `loaded_model`
    /// keeps serving.
    pub preparing_model: Option<String>,
    /// Share (0–1) of the preparing version's known users whose candidates are computed.
    pub preparing_precomputed: Option<f64>,
}

/// `GET /readyz` details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    /// True when the store is open and every active model is loaded.
    pub ready: bool,
    /// While the service is still loading its catalogs after a start: how far it has got.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loading: Option<String>,
    /// Per catalog.
    pub catalogs: Vec<CatalogReadiness>,
}
