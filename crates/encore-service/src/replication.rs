//! Many replicas, one service: following the shared database
//! ([`encore_store::ReplicaFeed`]) so that every replica's memory reflects every replica's
//! writes.
//!
//! A replica started with [`Encore::start_following`] runs one follower thread which, every
//! [`POLL_INTERVAL`] (or at once when a local write nudges it), reads the changes and the events
//! committed since its position and applies them in one order — every event up to a change's
//! `events_seq`, then the change — under [`Follow::apply`]:
//!
//! - **events** go into the catalog's histories and popularity (only events newer than the
//!   catalog's `last_seq`, so a catalog built from the store meanwhile is never counted twice);
//! - **items** upserted elsewhere are read back from the store, takedowns applied;
//! - **catalogs** deleted elsewhere leave memory (and their cached model files the disk);
//! - **API keys** created or revoked elsewhere make the key table reload;
//! - **activations** (and rollbacks) elsewhere make this replica converge on the version the
//!   registry names active, prepared on a thread of its own while the current one serves;
//! - **erasures** elsewhere remove the user from memory, and rewritten model files from the
//!   cache.
//!
//! Changes this replica wrote itself were applied when they were made and are skipped. Events
//! are the exception: with a follower, the follower is the only thing that applies events, and
//! ingestion waits until its own batch has been applied ([`Follow::wait_applied`]) — two
//! appliers could not keep a catalog's events in sequence order, which the `last_seq` rule
//! needs. NOTIFY is not used: a missed notification would lose nothing, but a 100 ms poll of two
//! indexed range queries already bounds the delay, and works through any reconnect.
//!
//! The same thread heartbeats the replica every [`HEARTBEAT_INTERVAL`] and fails the jobs of
//! replicas whose heartbeat is older than [`ABANDONED_AFTER`]. While the database is down, it
//! retries with a growing pause (at most a second) and the replica keeps serving from memory.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use encore_store::{Change, ChangeKind, FeedEvent, ReplicaFeed};

use crate::dto;
use crate::error::{Error, Result};
use crate::service::Encore;
use crate::state::{CatalogState, Inner};

/// How often the follower polls the database when nothing nudges it.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How often a replica records that it is alive.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
/// A replica silent for this long is taken for dead: its unfinished jobs are failed.
pub const ABANDONED_AFTER: Duration = Duration::from_secs(10);
/// How often the follower looks for abandoned jobs.
const REAP_INTERVAL: Duration = Duration::from_secs(5);
/// Events read per poll (a larger backlog takes several).
const EVENT_PAGE: usize = 20_000;
/// Changes read per poll.
const CHANGE_PAGE: usize = 1_000;
/// How long ingestion waits for the follower to apply its batch before answering anyway (the
/// events are committed; they count as soon as the follower catches up).
const APPLY_WAIT: Duration = Duration::from_secs(5);

/// Refuses to start as `replica` while a live process has that name. The follower skips the
/// changes its own name wrote, so two replicas of one name would never see each other's items,
/// keys or activations. A namesake's recent heartbeat may be a dead process's last one (a
/// restart under the same name): it is alive only if its heartbeat moves within two heartbeat
/// intervals.
pub(crate) fn refuse_a_live_namesake(feed: &dyn ReplicaFeed, replica: &str) -> Result<()> {
    let fresh = ABANDONED_AFTER.as_millis() as i64;
    let heartbeat_of = || -> Result<Option<i64>> {
        Ok(feed
            .live_replicas(fresh)?
            .into_iter()
            .find(|r| r.name == replica)
            .map(|r| r.heartbeat_ms))
    };
    let Some(seen) = heartbeat_of()? else { return Ok(()) };
    std::thread::sleep(HEARTBEAT_INTERVAL * 2 + Duration::from_millis(500));
    match heartbeat_of()? {
        Some(now) if now > seen => Err(Error::Conflict(format!(
            "another replica named `{replica}` is running on this database (its heartbeat \
             moved while this one waited); give each replica its own --replica-name"
        ))),
        _ => Ok(()),
    }
}

/// Called when another replica created or revoked an API key (the server reloads its table).
pub type KeysChanged = Arc<dyn Fn() + Send + Sync>;

/// Where the follower has got to in both logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Position {
    events: u64,
    changes: u64,
}

/// The follower's state shared with the use cases.
pub(crate) struct Follow {
    /// This replica's name (its own changes are skipped).
    replica: String,
    /// Held while a poll is applied and while a catalog's state is built from the store, so a
    /// build and the follower never both apply one event.
    pub apply: Mutex<()>,
    position: Mutex<Position>,
    /// Signalled when the position moves.
    applied: Condvar,
    /// Set (and signalled) to make the follower poll now.
    nudged: Mutex<bool>,
    nudge: Condvar,
    stop: AtomicBool,
}

impl Follow {
    fn lock_position(&self) -> MutexGuard<'_, Position> {
        self.position.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes the follower poll now instead of at its next interval.
    pub fn wake(&self) {
        *self.nudged.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.nudge.notify_one();
    }

    /// Waits until the follower has applied every event up to `seq` (or [`APPLY_WAIT`] passed);
    /// returns whether it has.
    pub fn wait_applied(&self, seq: u64) -> bool {
        self.wake();
        let position = self.lock_position();
        let (position, _) = self
            .applied
            .wait_timeout_while(position, APPLY_WAIT, |p| p.events < seq)
            .unwrap_or_else(|p| p.into_inner());
        position.events >= seq
    }

    /// Sleeps until nudged, stopped, or `timeout` passed.
    fn sleep(&self, timeout: Duration) {
        let nudged = self.nudged.lock().unwrap_or_else(|p| p.into_inner());
        let (mut nudged, _) = self
            .nudge
            .wait_timeout_while(nudged, timeout, |n| !*n && !self.stop.load(Ordering::Relaxed))
            .unwrap_or_else(|p| p.into_inner());
        *nudged = false;
    }
}

/// The running follower; stops its thread when stopped or dropped.
pub struct Follower {
    follow: Arc<Follow>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower").field("replica", &self.follow.replica).finish()
    }
}

impl Follower {
    /// Stops following and waits for the thread to end.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.follow.stop.store(true, Ordering::Relaxed);
        self.follow.wake();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.halt();
    }
}

impl Encore {
    /// Starts following the other replicas (see the module docs), when the store is shared
    /// ([`encore_store::Store::replica_feed`]) and the service has a replica name; `None`
    /// otherwise (one process owns the store, and its writes are applied where they are made).
    /// Call it before [`Encore::load_catalogs`], so nothing committed in between is missed.
    pub fn start_following(&self, keys_changed: KeysChanged) -> Result<Option<Follower>> {
        let Some(replica) = self.inner.config.replica_name.clone() else {
            return Ok(None);
        };
        let Some(feed) = self.inner.store.replica_feed() else {
            return Ok(None);
        };
        let heads = feed.feed_heads()?;
        let follow = Arc::new(Follow {
            replica: replica.clone(),
            apply: Mutex::new(()),
            position: Mutex::new(Position { events: heads.events, changes: heads.changes }),
            applied: Condvar::new(),
            nudged: Mutex::new(false),
            nudge: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        if self.inner.follow.set(follow.clone()).is_err() {
            return Err(Error::Internal("the service already follows its replicas".into()));
        }
        // Keys created between the key table's load and the heads just read would be missed.
        keys_changed();
        let inner = self.inner.clone();
        let thread_follow = follow.clone();
        let thread = std::thread::Builder::new()
            .name("encore-follow".into())
            .spawn(move || inner.follow_loop(&thread_follow, &*keys_changed))
            .map_err(|e| Error::Internal(format!("cannot start the follower: {e}")))?;
        tracing::info!(
            replica,
            events = heads.events,
            changes = heads.changes,
            "following the other replicas"
        );
        Ok(Some(Follower { follow, thread: Some(thread) }))
    }
}

impl Inner {
    /// The follower, when this replica follows others.
    pub(crate) fn following(&self) -> Option<&Arc<Follow>> {
        self.follow.get()
    }

    fn follow_loop(self: &Arc<Self>, follow: &Follow, keys_changed: &dyn Fn()) {
        let Some(feed) = self.store.replica_feed() else { return };
        let mut last_heartbeat: Option<Instant> = None;
        // Not before every live replica has had the time to heartbeat: at start, and again
        // after the database was unreachable (no replica could heartbeat meanwhile, and a reap at
        // once would fail the jobs of replicas that are alive).
        let mut next_reap = Instant::now() + ABANDONED_AFTER;
        let mut failures = 0u32;
        while !follow.stop.load(Ordering::Relaxed) {
            let round = (|| -> Result<bool> {
                if last_heartbeat.is_none_or(|t| t.elapsed() >= HEARTBEAT_INTERVAL) {
                    feed.heartbeat(&follow.replica)?;
                    last_heartbeat = Some(Instant::now());
                }
                if Instant::now() >= next_reap {
                    next_reap = Instant::now() + REAP_INTERVAL;
                    let stale = ABANDONED_AFTER.as_millis() as i64;
                    let failed = feed.fail_abandoned_jobs(stale, None)?;
                    if !failed.is_empty() {
                        tracing::warn!(jobs = ?failed, "failed the jobs of a replica that stopped");
                    }
                }
                self.poll(follow, feed, keys_changed)
            })();
            match round {
                Ok(more) => {
                    if failures > 0 {
                        tracing::info!(failures, "the database answers again; following resumed");
                        next_reap = next_reap.max(Instant::now() + ABANDONED_AFTER);
                    }
                    failures = 0;
                    // A backlog (a bulk import, a replica catching up) is read page after page.
                    if !more {
                        follow.sleep(POLL_INTERVAL);
                    }
                }
                Err(error) => {
                    failures += 1;
                    if failures == 1 {
                        tracing::warn!(%error, "cannot follow the database; serving from memory and retrying");
                    }
                    let pause = POLL_INTERVAL * 2u32.saturating_pow(failures.min(4));
                    follow.sleep(pause.min(Duration::from_secs(1)));
                }
            }
        }
    }

    /// One poll: reads what was committed since the position and applies it in order; returns
    /// whether a page was full (there is more to read at once).
    fn poll(
        self: &Arc<Self>,
        follow: &Follow,
        feed: &dyn ReplicaFeed,
        keys_changed: &dyn Fn(),
    ) -> Result<bool> {
        let _apply = follow.apply.lock().unwrap_or_else(|p| p.into_inner());
        let position = *follow.lock_position();
        // Changes first: every change read then has its `events_seq` among the events read next.
        let changes = feed.changes_after(position.changes, CHANGE_PAGE)?;
        if let Some(first) = changes.first()
            && first.seq > position.changes + 1
        {
            // Pruned before this replica read them (it was cut off for longer than the
            // retention): what it holds may be stale in ways no change left can tell.
            self.resync(follow, feed, keys_changed)?;
            return Ok(true);
        }
        let events = feed.events_after(position.events, EVENT_PAGE)?;
        let truncated = events.len() == EVENT_PAGE;
        let events_end = events.last().map_or(position.events, |e| e.seq);
        let mut next = position;
        let mut rest: &[FeedEvent] = &events;
        for change in &changes {
            if truncated && change.events_seq > events_end {
                break;
            }
            let upto = rest.partition_point(|e| e.seq <= change.events_seq);
            self.apply_events(&rest[..upto]);
            rest = &rest[upto..];
            if change.replica.as_deref() != Some(follow.replica.as_str()) {
                self.apply_change(change, keys_changed);
            }
            next.changes = change.seq;
        }
        self.apply_events(rest);
        next.events = events_end;
        if next != position {
            *follow.lock_position() = next;
            follow.applied.notify_all();
        }
        Ok(truncated || changes.len() == CHANGE_PAGE)
    }

    /// Applies events (in sequence order) to the catalogs held in memory; a catalog not built
    /// yet reads them from the store when it is.
    fn apply_events(&self, events: &[FeedEvent]) {
        let mut start = 0;
        while start < events.len() {
            let catalog = &events[start].catalog;
            let end = start + events[start..].iter().take_while(|e| &e.catalog == catalog).count();
            if let Some(state) = self.held_catalog(catalog) {
                let mut data = state.write();
                for e in &events[start..end] {
                    if e.seq > data.last_seq {
                        data.apply_event(e.seq, &e.user_id, &e.item_id, e.weight);
                    }
                }
            }
            start = end;
        }
    }

    fn held_catalog(&self, name: &str) -> Option<Arc<CatalogState>> {
        self.catalogs.read().unwrap_or_else(|p| p.into_inner()).get(name).cloned()
    }

    /// Applies another replica's change (see the module docs).
    fn apply_change(self: &Arc<Self>, change: &Change, keys_changed: &dyn Fn()) {
        let catalog = change.catalog.as_deref().unwrap_or_default();
        let state = change.catalog.as_deref().and_then(|c| self.held_catalog(c));
        match &change.kind {
            ChangeKind::CatalogCreated => self.default_catalog.invalidate(),
            ChangeKind::CatalogDeleted => {
                self.default_catalog.invalidate();
                if let Some(state) = state {
                    self.jobs.cancel_catalog(catalog);
                    if let Some(old) = state.model.swap(None) {
                        old.retire();
                    }
                    self.catalogs.write().unwrap_or_else(|p| p.into_inner()).remove(catalog);
                }
                self.drop_cached_model_files(catalog, None);
                let _ = std::fs::remove_dir(self.config.models_dir(catalog));
            }
            ChangeKind::ItemsUpserted { item_ids } => {
                let Some(state) = state else { return };
                for id in item_ids {
                    match self.store.get_item(catalog, id) {
                        Ok(item) => state.write().set_item(&dto::Item::from(item)),
                        // Taken down or the catalog deleted since: a later change says so.
                        Err(encore_store::Error::NotFound { .. }) => {}
                        Err(error) => {
                            tracing::warn!(catalog, item = %id, %error, "could not read an item changed elsewhere")
                        }
                    }
                }
            }
            ChangeKind::ItemTakenDown { item_id } => {
                if let Some(state) = state {
                    state.write().take_down(item_id);
                }
            }
            ChangeKind::KeysChanged => keys_changed(),
            ChangeKind::ModelActivated { version } => {
                let Some(state) = state else { return };
                let inner = self.clone();
                let version = *version;
                // Preparing a model takes long; the follower must go on applying events.
                let spawned = std::thread::Builder::new()
                    .name("encore-converge".into())
                    .spawn(move || inner.converge_on_active(&state, version));
                if let Err(error) = spawned {
                    tracing::error!(catalog, %error, "cannot start loading an activated model");
                }
            }
            ChangeKind::UserErased { user_id } => {
                if let Some(state) = state {
                    self.forget_user(&state, user_id);
                }
            }
            ChangeKind::ModelFileRewritten { version } => {
                self.drop_cached_model_files(catalog, Some(*version));
            }
        }
    }

    /// Removes an erased user from this replica's memory: history, fresh results, the loaded
    /// model's row, and any model a running job registers later.
    pub(crate) fn forget_user(&self, state: &CatalogState, user_id: &str) {
        let _files = state.model_files.lock().unwrap_or_else(|p| p.into_inner());
        state.record_erasure(user_id);
        state.write().remove_user(user_id);
        if let Some(current) = state.model.load_full() {
            current.forget_fresh(user_id);
            if let Some(next) = current.without_user_id(user_id) {
                self.serve_model(state, Arc::new(next));
            }
        }
    }

    /// Serves the version the registry names active (another replica activated `version`):
    /// loaded and prepared while the current one serves, like a local activation.
    fn converge_on_active(self: &Arc<Self>, state: &CatalogState, version: u32) {
        let result = (|| -> Result<()> {
            let _activation = state.activation.lock().unwrap_or_else(|p| p.into_inner());
            // A later activation may have superseded this one: serve what is active now.
            let Some(active) = self.store.active_model(&state.name)? else { return Ok(()) };
            if state.model.load().as_ref().is_some_and(|m| m.version == active.version) {
                return Ok(());
            }
            let started = Instant::now();
            let (loaded, erase_tick, _) = self.prepare_version(state, active.version)?;
            let _files = state.model_files.lock().unwrap_or_else(|p| p.into_inner());
            let loaded = crate::jobs::without_erased(state, loaded, erase_tick);
            loaded.set_activation_seconds(started.elapsed().as_secs_f64());
            tracing::info!(catalog = %state.name, model = %loaded.label, seconds = started.elapsed().as_secs_f64(), "serving the version activated by another replica");
            self.serve_model(state, loaded);
            Ok(())
        })();
        if let Err(error) = result {
            tracing::error!(catalog = %state.name, version, %error, "could not serve the version activated elsewhere");
        }
    }

    /// Forgets every catalog's memory and starts again from the tables (the change log was
    /// pruned past this replica's position).
    fn resync(
        &self,
        follow: &Follow,
        feed: &dyn ReplicaFeed,
        keys_changed: &dyn Fn(),
    ) -> Result<()> {
        let heads = feed.feed_heads()?;
        tracing::warn!(
            "this replica missed changes pruned from the log (cut off for longer than the \
             retention); reloading every catalog from the database"
        );
        let states: Vec<_> = {
            let mut map = self.catalogs.write().unwrap_or_else(|p| p.into_inner());
            map.drain().map(|(_, s)| s).collect()
        };
        for state in states {
            if let Some(old) = state.model.swap(None) {
                old.retire();
            }
        }
        self.default_catalog.invalidate();
        keys_changed();
        *follow.lock_position() = Position { events: heads.events, changes: heads.changes };
        follow.applied.notify_all();
        Ok(())
    }
}
