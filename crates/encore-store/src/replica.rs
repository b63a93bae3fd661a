//! What the replicas of one service share through the database: the feed every replica follows
//! to keep its memory in step with the others' writes, replica liveness and job ownership, and
//! the model artifacts themselves.
//!
//! Only a store that several processes can share implements [`ReplicaFeed`]
//! ([`crate::PostgresStore`]); [`crate::Store::replica_feed`] returns it, and `None` for SQLite,
//! whose file one process owns.
//!
//! # The feed
//!
//! Two ordered logs, each numbered by a counter row whose row lock orders the writers, so that
//! sequence order is commit order and a follower reading "everything after N" never skips a row
//! that commits later with a smaller number:
//!
//! - **events**, by their global sequence number (the events table itself), and
//! - **changes** ([`Change`]): every other write a replica keeps in memory — catalogs created or
//!   deleted, items upserted or taken down, API keys created or revoked, a model activated, a
//!   user erased, a model file rewritten. A change row is written in the same transaction as the
//!   write it describes, so it exists exactly when the write committed.
//!
//! A change records the event sequence number committed when it was written
//! ([`Change::events_seq`]), so a follower can apply both logs in one order: every event up to
//! that number, then the change.
//!
//! A consistent way to follow: read [`ReplicaFeed::feed_heads`] first, then the events up to
//! its `events` and the changes up to its `changes`, and merge them by `events_seq`. Every
//! change up to that head has `events_seq <=` the events head, and every event up to the events
//! head has its catalog's `CatalogCreated` up to the changes head (an import that creates its
//! catalog writes both in one transaction). Reading "everything after N" of each log without
//! the heads can show a catalog's events before its creation.
//!
//! Change rows are kept for [`CHANGE_RETENTION_MS`] and then pruned ([`ReplicaFeed::heartbeat`]
//! prunes them); an erased user's id thus leaves the database with them. A follower that falls
//! further behind than that (it finds [`FeedHeads::oldest_change`] past its position) reloads
//! its state from the tables instead.
//!
//! # Replicas and jobs
//!
//! A store built for a named replica ([`crate::PostgresStore::connect_as`]) records that name as
//! the owner of the jobs it creates and as the writer of its audit entries. Each replica
//! heartbeats; [`ReplicaFeed::fail_abandoned_jobs`] fails the unfinished jobs of replicas whose
//! heartbeat stopped, so a killed replica never leaves a job "running". A job's model is
//! registered only while the job is still running ([`crate::NewModel::job`]), so a job failed as
//! abandoned can never register a model afterwards (the fencing rule).
//!
//! # Model artifacts
//!
//! Model files are stored in the database in chunks with their SHA-256
//! ([`ReplicaFeed::put_model_blob`]); each replica keeps a local copy in its data directory for
//! memory-mapping and checks it against the stored checksum before loading it, so the data
//! directory is only a cache that may be empty or lost.

use crate::error::Result;

/// How long change rows are kept (an hour): far longer than any live replica takes to apply
/// them (a tenth of a second), and short enough that an erased user's id does not linger.
pub const CHANGE_RETENTION_MS: i64 = 60 * 60 * 1000;

/// One event of the shared sequence, of any catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEvent {
    /// Global sequence number.
    pub seq: u64,
    /// Catalog name.
    pub catalog: String,
    /// User id.
    pub user_id: String,
    /// Item id.
    pub item_id: String,
    /// Weight.
    pub weight: f32,
}

/// What a [`Change`] changed.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChangeKind {
    /// A catalog was created (through the API or by an import).
    CatalogCreated,
    /// A catalog was deleted with everything in it. When API keys scoped to it were revoked
    /// with it, a [`ChangeKind::KeysChanged`] of the same transaction comes just before.
    CatalogDeleted,
    /// Items were inserted or replaced (their metadata is read back from the store). An empty
    /// upsert writes no change.
    ItemsUpserted {
        /// The item ids, in the batch's order.
        item_ids: Vec<String>,
    },
    /// An item was taken down.
    ItemTakenDown {
        /// The item id.
        item_id: String,
    },
    /// An API key was created or revoked (the key table is read back from the store). Revoking
    /// a key that was already revoked writes no change.
    KeysChanged,
    /// A model version became the catalog's only active one (also a rollback).
    ModelActivated {
        /// The version now active.
        version: u32,
    },
    /// A user's events and the user were deleted (erasure); also written when the catalog had
    /// no such user (a follower has nothing to drop).
    UserErased {
        /// The user id.
        user_id: String,
    },
    /// A model file was rewritten (after an erasure): its blob and checksum changed.
    ModelFileRewritten {
        /// The version rewritten.
        version: u32,
    },
}

/// One entry of the change log.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Position in the change log (strictly increasing, commit order).
    pub seq: u64,
    /// The newest event sequence number committed when the change was written. For the
    /// `CatalogCreated` of an import that created its catalog, the number before the import's
    /// own events (which follow the change). An erasure holds appends off while it runs, so
    /// the events up to this number are exactly those it saw. Never decreases from one change
    /// to the next.
    pub events_seq: u64,
    /// The catalog changed (`None` for API keys, which are not per catalog).
    pub catalog: Option<String>,
    /// What changed.
    pub kind: ChangeKind,
    /// The replica that wrote it (`None` for a tool such as `encore import`).
    pub replica: Option<String>,
    /// When, Unix ms.
    pub time_ms: i64,
}

/// Where the two logs stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeedHeads {
    /// The newest committed event sequence number (0: none yet).
    pub events: u64,
    /// The newest committed change number (0: none yet).
    pub changes: u64,
    /// The oldest change still kept (0 when the log is empty); a follower whose position is
    /// below `oldest_change - 1` has missed pruned changes. Pruning never removes the newest
    /// change, so the log is empty only while no change was ever written.
    pub oldest_change: u64,
}

/// A replica as the database knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaRecord {
    /// Its name (unique among live replicas).
    pub name: String,
    /// When it first heartbeat, Unix ms.
    pub started_ms: i64,
    /// Its last heartbeat, Unix ms.
    pub heartbeat_ms: i64,
}

/// A stored model file: its checksum and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    /// SHA-256 of the file, lower-case hex.
    pub sha256: String,
    /// Size in bytes.
    pub size_bytes: u64,
}

/// The shared state of replicas (see the module docs).
pub trait ReplicaFeed: Send + Sync {
    /// Where both logs stand now.
    fn feed_heads(&self) -> Result<FeedHeads>;
    /// Up to `limit` events of every catalog with `seq > after`, in sequence order.
    fn events_after(&self, after: u64, limit: usize) -> Result<Vec<FeedEvent>>;
    /// Up to `limit` changes with `seq > after`, in order.
    fn changes_after(&self, after: u64, limit: usize) -> Result<Vec<Change>>;

    /// Records that `replica` is alive now (creating its row on first call) and prunes change
    /// rows older than [`CHANGE_RETENTION_MS`] (never the newest). The name must be a valid id
    /// ([`crate::limits::check_id`]), else [`crate::Error::Invalid`].
    fn heartbeat(&self, replica: &str) -> Result<()>;
    /// Replicas whose heartbeat is at most `fresh_ms` old, by name.
    fn live_replicas(&self, fresh_ms: i64) -> Result<Vec<ReplicaRecord>>;
    /// Fails every queued or running job whose owner has not heartbeat for `stale_ms` (or has
    /// no owner, or is `restarted`: a replica of that name starting again, whose earlier
    /// process cannot be running them any more), with an error naming the owner; returns the
    /// ids failed, ascending. Pass `restarted` only at start-up, before the replica creates
    /// jobs of its own: every unfinished job of that name is failed.
    ///
    /// The errors stored: ``abandoned: replica `X` stopped (no heartbeat for N s)`` (or `(no
    /// heartbeat recorded)` when `X` never heartbeat), ``abandoned: replica `X` restarted``,
    /// and `abandoned: no replica owns it (…)` for a job created without a replica name.
    fn fail_abandoned_jobs(&self, stale_ms: i64, restarted: Option<&str>) -> Result<Vec<u64>>;

    /// Stores a model file's bytes for `catalog`'s `version` (replacing any stored before) and
    /// returns its checksum; `source` is read to its end. The version must be reserved
    /// ([`crate::Error::Invalid`] otherwise). Readers see the earlier file until this commits;
    /// deleting the catalog deletes its files. Store the file before the registry write that
    /// announces it (`activate_model`, `update_model_file`), so a follower finds it.
    fn put_model_blob(
        &self,
        catalog: &str,
        version: u32,
        source: &mut dyn std::io::Read,
    ) -> Result<BlobInfo>;
    /// The checksum of the stored file, `None` when none is stored.
    fn model_blob_info(&self, catalog: &str, version: u32) -> Result<Option<BlobInfo>>;
    /// Writes the stored file to `sink` chunk by chunk (never all in memory) and returns its
    /// checksum as stored; [`crate::Error::NotFound`] (`kind = "model"`) when none is stored.
    /// The caller checks the bytes it received against the checksum.
    fn read_model_blob(
        &self,
        catalog: &str,
        version: u32,
        sink: &mut dyn std::io::Write,
    ) -> Result<BlobInfo>;
}

/// The fencing rule every back end applies when registering a model with
/// [`crate::NewModel::job`]: only a queued or running job's model is registered, so a job that
/// was failed (as abandoned, by another replica), cancelled or finished cannot register one.
pub(crate) fn check_job_may_register(job: u64, state: crate::types::JobState) -> Result<()> {
    use crate::types::JobState;
    match state {
        JobState::Queued | JobState::Running => Ok(()),
        ended => Err(crate::Error::Conflict(format!(
            "job {job} is {}: its model is not registered (only a queued or running job \
             registers its model)",
            ended.as_str()
        ))),
    }
}
