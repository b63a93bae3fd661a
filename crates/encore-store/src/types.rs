//! The records the store reads and writes.
//!
//! Naming: `New*` types are what a caller hands in; the plain names are what the store gives back
//! (with the keys, versions and times the store assigned). Times are Unix milliseconds (`*_ms`);
//! event timestamps are whatever the source data used (Unix seconds in the public data sets).

use serde::{Deserialize, Serialize};

/// A catalog: a namespace with its own items, users, events, models and jobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    /// The catalog's name (see [`crate::limits`] for the allowed characters).
    pub name: String,
    /// When the catalog was created, Unix ms.
    pub created_ms: i64,
}

/// Counts describing one catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CatalogStats {
    /// Items with metadata.
    pub items: u64,
    /// Distinct item ids seen in events or metadata.
    pub item_ids: u64,
    /// Distinct users.
    pub users: u64,
    /// Stored events.
    pub events: u64,
    /// Sequence number of the newest event of the catalog (0 when it has none).
    pub last_event_seq: u64,
}

/// Item metadata as handed in for an upsert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewItem {
    /// External item id.
    pub item_id: String,
    /// Display title (may be empty).
    pub title: String,
    /// Free-text kind such as `track`, `album`, `film`, `series`, `game` (may be empty).
    pub kind: String,
    /// Tags, for example genres.
    pub tags: Vec<String>,
    /// Whether the item may be recommended at the moment.
    pub available: bool,
    /// Release date `YYYY-MM-DD`, when known.
    pub released: Option<String>,
}

impl NewItem {
    /// An available item with the given id and title, no kind, no tags, no release date.
    pub fn new(item_id: impl Into<String>, title: impl Into<String>) -> Self {
        NewItem {
            item_id: item_id.into(),
            title: title.into(),
            kind: String::new(),
            tags: Vec::new(),
            available: true,
            released: None,
        }
    }
}

/// Stored item metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// External item id.
    pub item_id: String,
    /// Display title.
    pub title: String,
    /// Free-text kind.
    pub kind: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Whether the item may be recommended.
    pub available: bool,
    /// Release date `YYYY-MM-DD`, when known.
    pub released: Option<String>,
    /// When the metadata was last written, Unix ms.
    pub updated_ms: i64,
}

/// What an item upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UpsertReport {
    /// Items that had no metadata before.
    pub inserted: u64,
    /// Items whose metadata was replaced.
    pub updated: u64,
}

/// One event as handed in for an append: user `user_id` interacted with `item_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// External user id.
    pub user_id: String,
    /// External item id (needs no metadata).
    pub item_id: String,
    /// Strength of the interaction (play count, rating, …): finite and ≥ 0.
    pub weight: f32,
    /// When it happened, in the client's unit (Unix seconds in the public data sets).
    pub timestamp: Option<i64>,
}

/// What a committed append did. The call returns only after the commit is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AppendReport {
    /// Events stored.
    pub accepted: u64,
    /// Sequence numbers given to the batch, first and last inclusive (`None` for an empty batch).
    /// Sequence numbers are global (shared by all catalogs) and strictly increasing.
    pub seq_range: Option<(u64, u64)>,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Global sequence number (the order of ingestion).
    pub seq: u64,
    /// External user id.
    pub user_id: String,
    /// External item id.
    pub item_id: String,
    /// Strength of the interaction.
    pub weight: f32,
    /// When it happened, as given by the client.
    pub timestamp: Option<i64>,
    /// When it was stored, Unix ms.
    pub ingested_ms: i64,
}

/// One event as streamed to training ([`crate::Store::for_each_training_event`]); borrowed so
/// that millions of them cost no allocation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainingEvent<'a> {
    /// Global sequence number.
    pub seq: u64,
    /// External user id.
    pub user_id: &'a str,
    /// External item id.
    pub item_id: &'a str,
    /// Strength of the interaction.
    pub weight: f32,
    /// When it happened, as given by the client.
    pub timestamp: Option<i64>,
}

/// What erasing a user removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EraseReport {
    /// Events deleted.
    pub events_deleted: u64,
    /// Whether the user existed (and its row was deleted).
    pub user_deleted: bool,
}

/// How [`crate::Store::bulk_import`] treats its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BulkImportOptions<'a> {
    /// Where the events come from (a file name), for error messages: `origin:line: problem`.
    pub origin: &'a str,
    /// Skip (and count) events the store refuses instead of aborting the import.
    pub skip_invalid: bool,
}

/// What a bulk import did.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ImportReport {
    /// Events stored.
    pub rows: u64,
    /// Users that did not exist before.
    pub users_new: u64,
    /// Item ids that did not exist before.
    pub items_new: u64,
    /// Lines skipped as malformed (only with `skip_bad_lines`).
    pub skipped: u64,
    /// Wall time of the import, seconds.
    pub seconds: f64,
}

/// What an item metadata import did.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ItemImportReport {
    /// The format read (detected or given).
    #[serde(skip)]
    pub format: crate::item_files::ItemFormat,
    /// Items read from the file.
    pub items: u64,
    /// Items that had no metadata before.
    pub inserted: u64,
    /// Items whose metadata was replaced.
    pub updated: u64,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// A model as handed in to the registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewModel {
    /// The version to register, as reserved with [`crate::Store::reserve_model_version`];
    /// `None` takes the next free one.
    pub version: Option<u32>,
    /// Algorithm name (`ials`, `bpr`, `ease`, `itemknn`, `popularity`).
    pub algorithm: String,
    /// Training parameters.
    pub params: serde_json::Value,
    /// Evaluation metrics (may be `null`).
    pub metrics: serde_json::Value,
    /// Path of the model file, relative to the data directory.
    pub file_path: String,
    /// Size of the model file in bytes.
    pub size_bytes: u64,
    /// The event sequence watermark the model was trained on: every event with `seq <=` this was
    /// seen by training.
    pub trained_events_seq: u64,
    /// The training job that produced it, if any: the model is registered only while that job
    /// is still queued or running, else [`crate::Error::Conflict`] (a job failed as abandoned
    /// by another replica must not register a model afterwards; see [`crate::replica`]).
    #[serde(default)]
    pub job: Option<u64>,
}

/// A registered model version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRecord {
    /// Catalog name.
    pub catalog: String,
    /// Version, monotonic per catalog, never reused (shown as `v{version}`).
    pub version: u32,
    /// Algorithm name.
    pub algorithm: String,
    /// Training parameters.
    pub params: serde_json::Value,
    /// Evaluation metrics.
    pub metrics: serde_json::Value,
    /// Path of the model file, relative to the data directory.
    pub file_path: String,
    /// Size of the model file in bytes.
    pub size_bytes: u64,
    /// When it was registered, Unix ms.
    pub created_ms: i64,
    /// The event sequence watermark it was trained on.
    pub trained_events_seq: u64,
    /// Whether it is the catalog's active model (at most one is).
    pub active: bool,
}

impl ModelRecord {
    /// The version as shown to users: `v3`.
    pub fn version_label(&self) -> String {
        ModelVersion(self.version).to_string()
    }
}

/// A model version of a catalog: stored as its number, shown to clients as `v3`. The one
/// owner of that spelling: format with `Display`, parse with `FromStr` (which also takes `3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ModelVersion(pub u32);

impl std::fmt::Display for ModelVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "v{}", self.0)
    }
}

impl std::str::FromStr for ModelVersion {
    type Err = crate::Error;

    fn from_str(label: &str) -> crate::Result<Self> {
        let digits = label.strip_prefix('v').unwrap_or(label);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(crate::Error::Invalid(format!(
                "`{}` is not a model version such as v3",
                label.escape_debug()
            )));
        }
        digits
            .parse()
            .map(ModelVersion)
            .map_err(|_| crate::Error::Invalid(format!("model version `{label}` is out of range")))
    }
}

/// The life cycle of a training job: the one type for it, stored in the database and shown in
/// the API (`encore_service::dto::JobState` is this type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for a training thread.
    Queued,
    /// Training or evaluating.
    Running,
    /// Finished; `model_version` is registered.
    Succeeded,
    /// Stopped by an error (or by a restart of the server).
    Failed,
    /// Stopped by `DELETE /v1/jobs/{id}`.
    Cancelled,
}

impl JobState {
    /// The lowercase name stored in the database and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Parses [`JobState::as_str`] back.
    pub fn parse(name: &str) -> Option<JobState> {
        Some(match name {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "succeeded" => JobState::Succeeded,
            "failed" => JobState::Failed,
            "cancelled" => JobState::Cancelled,
            _ => return None,
        })
    }

    /// Whether the job has ended (a terminal state never changes again).
    pub fn is_terminal(self) -> bool {
        matches!(self, JobState::Succeeded | JobState::Failed | JobState::Cancelled)
    }
}

/// A training job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Job id, unique across catalogs.
    pub id: u64,
    /// Catalog name.
    pub catalog: String,
    /// Current state.
    pub state: JobState,
    /// The request that started the job (model, params, holdout, activate policy, …).
    pub request: serde_json::Value,
    /// Fraction done, 0.0 to 1.0.
    pub progress: f64,
    /// Last finished epoch (1-based), when the algorithm has epochs.
    pub epoch: Option<u32>,
    /// Training loss after the last epoch, when the algorithm computes one.
    pub loss: Option<f64>,
    /// Evaluation metrics once known.
    pub metrics: Option<serde_json::Value>,
    /// Why the job failed.
    pub error: Option<String>,
    /// The model version it produced.
    pub model_version: Option<u32>,
    /// Created, Unix ms.
    pub created_ms: i64,
    /// Last changed, Unix ms.
    pub updated_ms: i64,
    /// The replica that runs it (PostgreSQL with named replicas; `None` on SQLite, where the one
    /// process runs every job).
    #[serde(default)]
    pub owner: Option<String>,
}

/// A change to a job; `None` fields are left as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobUpdate {
    /// New state. Moving out of a terminal state is a [`crate::Error::Conflict`].
    pub state: Option<JobState>,
    /// New progress.
    pub progress: Option<f64>,
    /// New epoch.
    pub epoch: Option<u32>,
    /// New loss.
    pub loss: Option<f64>,
    /// Metrics.
    pub metrics: Option<serde_json::Value>,
    /// Error message.
    pub error: Option<String>,
    /// Model version produced.
    pub model_version: Option<u32>,
}

impl JobUpdate {
    /// The rules every back end applies before writing the update to `current`: a job that has
    /// ended keeps its state ([`crate::Error::Conflict`]), and progress stays within 0..=1.
    pub fn check(&self, current: &JobRecord) -> crate::Result<()> {
        if let Some(state) = self.state
            && current.state.is_terminal()
            && state != current.state
        {
            return Err(crate::Error::Conflict(format!(
                "job {} already {}; it cannot become {}",
                current.id,
                current.state.as_str(),
                state.as_str()
            )));
        }
        if let Some(p) = self.progress
            && !(0.0..=1.0).contains(&p)
        {
            return Err(crate::Error::Invalid(format!("job progress {p} is not within 0..=1")));
        }
        Ok(())
    }
}

/// The role of an API key (the next issue's access control).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// May read recommendations, items and models.
    Reader,
    /// May also write items and events.
    Writer,
    /// May do everything, including keys and training.
    Admin,
}

impl Role {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Writer => "writer",
            Role::Admin => "admin",
        }
    }

    /// Parses [`Role::as_str`] back.
    pub fn parse(name: &str) -> Option<Role> {
        Some(match name {
            "reader" => Role::Reader,
            "writer" => Role::Writer,
            "admin" => Role::Admin,
            _ => return None,
        })
    }
}

/// An API key as handed in: the caller generates the secret and passes only its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewApiKey {
    /// Human name (`ci-ingest`).
    pub name: String,
    /// Role.
    pub role: Role,
    /// Catalog the key is limited to; `None` for all catalogs.
    pub catalog: Option<String>,
    /// Hash of the secret (for example hex SHA-256); never the secret itself.
    pub hash: String,
    /// Short public prefix of the key, used to find it and safe to log.
    pub prefix: String,
}

/// A stored API key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// Key id.
    pub id: u64,
    /// Human name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Catalog scope; `None` for all.
    pub catalog: Option<String>,
    /// Hash of the secret.
    pub hash: String,
    /// Public prefix.
    pub prefix: String,
    /// Created, Unix ms.
    pub created_ms: i64,
    /// Revoked, Unix ms; `None` while the key is valid.
    pub revoked_ms: Option<i64>,
}

/// An audit-log entry as handed in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAuditEntry {
    /// Id of the API key that acted, if any.
    pub key_id: Option<u64>,
    /// Name of that key (kept even after the key is revoked).
    pub key_name: Option<String>,
    /// What was done (`catalog.delete`, `model.activate`, …).
    pub action: String,
    /// What it was done to (`catalog/music`, …).
    pub target: String,
    /// `ok`, `denied`, `error`, …
    pub outcome: String,
    /// Anything else worth keeping.
    pub detail: serde_json::Value,
}

/// A stored audit-log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Sequence number (order of writing).
    pub seq: u64,
    /// When, Unix ms.
    pub time_ms: i64,
    /// Id of the key that acted.
    pub key_id: Option<u64>,
    /// Name of the key that acted.
    pub key_name: Option<String>,
    /// Action.
    pub action: String,
    /// Target.
    pub target: String,
    /// Outcome.
    pub outcome: String,
    /// Detail.
    pub detail: serde_json::Value,
    /// The replica that wrote it (PostgreSQL with named replicas; `None` on SQLite, where one
    /// process writes the whole log).
    #[serde(default)]
    pub replica: Option<String>,
}
