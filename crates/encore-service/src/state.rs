//! What the use cases share in memory: the per-catalog state (index, active model, erasure
//! ticks), the start-up progress, the default-catalog cache, and [`Inner`], which owns them and
//! the one sequence that puts a model in front of requests ([`Inner::serve_model`]).

use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use arc_swap::ArcSwapOption;
use encore_core::model_file::ModelArtifact;
use encore_store::{ModelRecord, Store};
use rustc_hash::FxHashMap;

use crate::catalog_data::CatalogData;
use crate::config::ServiceConfig;
use crate::dto;
use crate::error::{Error, Resource, Result};
use crate::job_registry::JobRegistry;
use crate::loaded::{CandidateBudget, LoadedModel};

/// The state of one catalog held in memory.
pub(crate) struct CatalogState {
    pub name: String,
    /// Items, histories and popularity (see [`CatalogData`]).
    pub data: RwLock<CatalogData>,
    /// The active model. Requests clone the `Arc` and keep it for their whole duration, so a swap
    /// never fails or delays them.
    pub model: ArcSwapOption<LoadedModel>,
    /// The model an activation is preparing (its candidate table being built) while `model`
    /// keeps serving; shown by readiness.
    pub preparing: ArcSwapOption<LoadedModel>,
    /// Serialises writers of model files and activation (training registration, erasure
    /// rewrites, activation), so an erasure cannot miss a file being registered.
    pub model_files: Mutex<()>,
    /// Serialises activations of this catalog (each prepares its model outside `model_files`).
    pub activation: Mutex<()>,
    /// Users erased by this process with the tick of their erasure; a running job drops the users
    /// erased after its snapshot began from the model it registers.
    erased: Mutex<Vec<(u64, String)>>,
    erase_ticks: std::sync::atomic::AtomicU64,
}

impl CatalogState {
    pub fn read(&self) -> RwLockReadGuard<'_, CatalogData> {
        self.data.read().unwrap_or_else(|p| p.into_inner())
    }
    pub fn write(&self) -> RwLockWriteGuard<'_, CatalogData> {
        self.data.write().unwrap_or_else(|p| p.into_inner())
    }
    /// The current erasure tick (see [`CatalogState::erased_since`]).
    pub fn erase_tick(&self) -> u64 {
        self.erase_ticks.load(std::sync::atomic::Ordering::SeqCst)
    }
    /// Records that `user` was erased from the store.
    pub fn record_erasure(&self, user: &str) {
        let mut erased = self.erased.lock().unwrap_or_else(|p| p.into_inner());
        let tick = self.erase_ticks.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        erased.push((tick, user.to_string()));
    }
    /// Users erased after `tick`.
    pub fn erased_since(&self, tick: u64) -> Vec<String> {
        let erased = self.erased.lock().unwrap_or_else(|p| p.into_inner());
        erased.iter().filter(|(t, _)| *t > tick).map(|(_, u)| u.clone()).collect()
    }
}

/// How far the start-up load of catalogs and active models has got.
#[derive(Debug, Default)]
pub(crate) struct Startup {
    /// Set once every catalog that existed at start is loaded (or failed to load its model).
    pub done: std::sync::atomic::AtomicBool,
    /// Catalogs to load, catalogs loaded, and the one being loaded.
    pub progress: Mutex<(usize, usize, Option<String>)>,
}

impl Startup {
    pub fn is_done(&self) -> bool {
        self.done.load(std::sync::atomic::Ordering::Acquire)
    }

    /// A sentence for `/readyz` and `not_ready` problems.
    pub fn describe(&self) -> String {
        let (total, loaded, current) =
            self.progress.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match current {
            Some(c) => format!("loading catalogs: {loaded} of {total} loaded, now `{c}`"),
            None => format!("loading catalogs: {loaded} of {total} loaded"),
        }
    }
}

/// The catalog a request without one means, remembered: asking the store is an SQLite read,
/// and the answer changes only when a catalog is created or deleted, which bump the
/// generation. An answer is cached with the generation read *before* asking the store, so an
/// answer computed across a concurrent create or delete is never served after it.
#[derive(Debug, Default)]
pub(crate) struct DefaultCatalog {
    generation: std::sync::atomic::AtomicU64,
    cached: RwLock<Option<(u64, String)>>,
}

/// Counters the server exports as metrics.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub events_ingested: std::sync::atomic::AtomicU64,
}

pub(crate) struct Inner {
    pub config: ServiceConfig,
    pub store: Arc<dyn Store>,
    pub catalogs: RwLock<FxHashMap<String, Arc<CatalogState>>>,
    pub jobs: JobRegistry,
    pub training_pool: rayon::ThreadPool,
    pub precompute_pool: Option<rayon::ThreadPool>,
    pub counters: Counters,
    pub startup: Startup,
    pub default_catalog: DefaultCatalog,
    /// The follower of the other replicas, once started ([`crate::replication`]).
    pub follow: std::sync::OnceLock<Arc<crate::replication::Follow>>,
}

impl DefaultCatalog {
    /// The cached answer, or `lookup`'s (kept when it succeeds).
    pub fn get(&self, lookup: impl FnOnce() -> Result<String>) -> Result<String> {
        let generation = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        if let Some((cached, name)) = &*self.cached.read().unwrap_or_else(|p| p.into_inner())
            && *cached == generation
        {
            return Ok(name.clone());
        }
        let name = lookup()?;
        *self.cached.write().unwrap_or_else(|p| p.into_inner()) = Some((generation, name.clone()));
        Ok(name)
    }

    /// Forgets the cached answer; called after a catalog is created or deleted.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Inner {
    /// The in-memory state of `name`, building it from the store on first use. `NotFound` when
    /// the catalog does not exist.
    pub fn catalog_state(self: &Arc<Self>, name: &str) -> Result<Arc<CatalogState>> {
        if let Some(s) = self.catalogs.read().unwrap_or_else(|p| p.into_inner()).get(name) {
            return Ok(s.clone());
        }
        if !self.startup.is_done() {
            // The start-up load will build it; building it here too would double the work.
            self.store.get_catalog(name).map_err(not_found_as(Resource::Catalog, name))?;
            return Err(Error::NotReady(self.startup.describe()));
        }
        self.build_catalog_state(name)
    }

    /// Builds the in-memory state of `name` from the store (items, events, takedowns) and loads
    /// its active model, unless another thread built it first.
    pub fn build_catalog_state(self: &Arc<Self>, name: &str) -> Result<Arc<CatalogState>> {
        if let Some(s) = self.catalogs.read().unwrap_or_else(|p| p.into_inner()).get(name) {
            return Ok(s.clone());
        }
        // With a follower, the build and the follower's polls exclude each other: the follower
        // then applies exactly the events committed after this build's snapshot.
        let follow = self.following().cloned();
        let _apply = follow.as_ref().map(|f| f.apply.lock().unwrap_or_else(|p| p.into_inner()));
        if let Some(s) = self.catalogs.read().unwrap_or_else(|p| p.into_inner()).get(name) {
            return Ok(s.clone());
        }
        self.store.get_catalog(name).map_err(not_found_as(Resource::Catalog, name))?;
        let started = Instant::now();
        let mut data = CatalogData::default();
        self.store.for_each_item(name, &mut |item| data.set_item(&dto::Item::from(item)))?;
        self.store.for_each_training_event(name, None, &mut |e| {
            data.apply_event(e.seq, e.user_id, e.item_id, e.weight)
        })?;
        for item_id in self.store.taken_down_items(name)? {
            data.take_down(&item_id);
        }
        tracing::info!(
            catalog = name,
            users = data.users.len(),
            items = data.items.len(),
            events = data.events,
            seconds = started.elapsed().as_secs_f64(),
            "catalog index built"
        );
        let state = Arc::new(CatalogState {
            name: name.to_string(),
            data: RwLock::new(data),
            model: ArcSwapOption::empty(),
            preparing: ArcSwapOption::empty(),
            model_files: Mutex::new(()),
            activation: Mutex::new(()),
            erased: Mutex::new(Vec::new()),
            erase_ticks: std::sync::atomic::AtomicU64::new(0),
        });
        // Another thread may have built it meanwhile: keep the first one.
        let state = {
            let mut map = self.catalogs.write().unwrap_or_else(|p| p.into_inner());
            map.entry(name.to_string()).or_insert(state).clone()
        };
        drop(_apply);
        if state.model.load().is_none()
            && let Some(record) = self.store.active_model(name)?
        {
            let _files = state.model_files.lock().unwrap_or_else(|p| p.into_inner());
            if state.model.load().is_none() {
                // A model file that cannot be loaded must not take the catalog (or the whole
                // service, at start-up) down: the catalog answers 503 and is reported not ready
                // until another version is activated.
                if let Err(e) = self.load_and_swap(&state, &record) {
                    tracing::error!(
                        catalog = name,
                        model = %record.version_label(),
                        error = %e,
                        "the active model could not be loaded"
                    );
                }
            }
        }
        Ok(state)
    }

    /// Loads a registered model file and makes it the catalog's serving model. Requests in flight
    /// keep the model they started with; the old model's background work stops.
    pub fn load_and_swap(
        self: &Arc<Self>,
        state: &CatalogState,
        record: &ModelRecord,
    ) -> Result<()> {
        let loaded = Arc::new(self.load_model(state, record)?);
        tracing::info!(catalog = %state.name, model = %loaded.label, seconds = loaded.load_seconds, "model activated");
        self.serve_model(state, loaded);
        Ok(())
    }

    /// Puts `next` in front of requests: swaps the catalog's model pointer (a request in flight
    /// keeps the model it started with, so a swap never fails or delays one) and stops the old
    /// model's background work. A model that is not prepared yet (start-up: there is no old
    /// model to keep serving) serves at once, scoring on demand, while its candidate table is
    /// computed on the precompute pool. Every swap — start-up load, activation, rollback, erasure
    /// rewrite — ends with this sequence; activations prepare first ([`Inner::prepare`]).
    pub fn serve_model(&self, state: &CatalogState, next: Arc<LoadedModel>) {
        if let Some(old) = state.model.swap(Some(next.clone())) {
            old.retire();
        }
        if let Some(pool) = &self.precompute_pool
            && !next.is_prepared()
        {
            pool.spawn(move || {
                next.precompute();
            });
        }
    }

    /// Builds what `next` needs to serve at full speed (its candidate table) on the precompute
    /// pool, blocking the caller — not the requests, which the current model keeps serving.
    /// Returns the seconds it took.
    pub fn prepare(&self, next: &LoadedModel) -> f64 {
        let started = Instant::now();
        if let Some(pool) = &self.precompute_pool
            && !next.is_prepared()
        {
            pool.install(|| next.precompute());
        }
        started.elapsed().as_secs_f64()
    }

    /// Loads a model file and maps its items to the catalog's.
    pub fn load_model(&self, state: &CatalogState, record: &ModelRecord) -> Result<LoadedModel> {
        let started = Instant::now();
        let path = self.local_model_file(&state.name, record)?;
        let artifact = ModelArtifact::load(&path)?;
        let (to_catalog, catalog_items) = {
            let mut data = state.write();
            let map: Vec<u32> = artifact.items.iter().map(|id| data.intern_item(id)).collect();
            (map, data.items.len())
        };
        Ok(LoadedModel::new(
            record.version,
            record.trained_events_seq,
            artifact,
            to_catalog,
            catalog_items,
            CandidateBudget {
                per_user: self.config.candidates_per_user,
                memory_bytes: self.config.candidate_memory_bytes,
            },
            started.elapsed().as_secs_f64(),
        ))
    }
}

/// Turns the store's `NotFound` for a catalog-level lookup into the service's, naming `id`.
pub(crate) fn not_found_as(kind: Resource, id: &str) -> impl FnOnce(encore_store::Error) -> Error {
    let id = id.to_string();
    move |e| match e {
        encore_store::Error::NotFound { kind: k, .. } if k == kind => Error::not_found(kind, id),
        other => Error::Store(other),
    }
}

/// Registry metrics (a JSON object of numbers) as a map; anything else is ignored.
pub(crate) fn metrics_map(v: &serde_json::Value) -> std::collections::BTreeMap<String, f64> {
    v.as_object()
        .map(|o| o.iter().filter_map(|(k, v)| v.as_f64().map(|x| (k.clone(), x))).collect())
        .unwrap_or_default()
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
