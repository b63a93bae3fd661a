//! [`Encore`]: the service object, its per-catalog state, and the catalog, item and event use
//! cases. Recommendation, erasure and training live in sibling modules as further `impl` blocks.

use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use arc_swap::ArcSwapOption;
use encore_core::model_file::ModelArtifact;
use encore_store::{ModelRecord, NewEvent, NewItem, Store};
use rustc_hash::FxHashMap;

use crate::catalog_data::CatalogData;
use crate::config::ServiceConfig;
use crate::dto;
use crate::error::{Error, Resource, Result};
use crate::jobs::JobRegistry;
use crate::limits;
use crate::loaded::LoadedModel;
use crate::validate::{self, RowErrors};

/// The state of one catalog held in memory.
pub(crate) struct CatalogState {
    pub name: String,
    /// Items, histories and popularity (see [`CatalogData`]).
    pub data: RwLock<CatalogData>,
    /// The active model. Requests clone the `Arc` and keep it for their whole duration, so a swap
    /// never fails or delays them.
    pub model: ArcSwapOption<LoadedModel>,
    /// Serialises writers of model files and activation (training registration, erasure
    /// rewrites, activation), so an erasure cannot miss a file being registered.
    pub model_files: Mutex<()>,
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
    fn is_done(&self) -> bool {
        self.done.load(std::sync::atomic::Ordering::Acquire)
    }

    /// A sentence for `/readyz` and `not_ready` problems.
    fn describe(&self) -> String {
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
}

/// Encore's use cases on one data directory. Cheap to clone (an `Arc` inside); every method is
/// blocking (CPU work and SQLite), so async callers run them on a blocking thread.
#[derive(Clone)]
pub struct Encore {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Encore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encore").field("data_dir", &self.inner.config.data_dir).finish()
    }
}

impl Encore {
    /// Opens the SQLite store in `config.data_dir` (creating it) and starts the service.
    pub fn open(config: ServiceConfig) -> Result<Self> {
        let store = encore_store::SqliteStore::open(&config.data_dir)?;
        Self::with_store(config, Arc::new(store))
    }

    /// Starts the service on a given store: marks jobs interrupted by a previous stop as failed,
    /// builds every catalog's in-memory index and loads every active model (a model that fails
    /// to load is logged and leaves its catalog not ready, rather than failing the start).
    /// Returns once everything is loaded; a server uses [`Encore::with_store_unloaded`] and
    /// [`Encore::load_catalogs`] to answer liveness probes meanwhile.
    ///
    /// One service process owns a data directory: a second one would mark the first one's
    /// running jobs as failed, and neither would see the other's new events in memory. Tools that
    /// only import (`encore import`) use the store directly and are picked up at the next start.
    pub fn with_store(config: ServiceConfig, store: Arc<dyn Store>) -> Result<Self> {
        let service = Self::with_store_unloaded(config, store)?;
        service.load_catalogs()?;
        Ok(service)
    }

    /// Opens the SQLite store in `config.data_dir` without loading the catalogs yet (see
    /// [`Encore::with_store_unloaded`]).
    pub fn open_unloaded(config: ServiceConfig) -> Result<Self> {
        let store = encore_store::SqliteStore::open(&config.data_dir)?;
        Self::with_store_unloaded(config, Arc::new(store))
    }

    /// The service before its catalogs are loaded: it answers at once, reports itself not ready
    /// ([`Encore::readiness`]) and refuses catalog requests with [`Error::NotReady`] until
    /// [`Encore::load_catalogs`] has run (on another thread), so a large catalog does not delay
    /// liveness.
    pub fn with_store_unloaded(config: ServiceConfig, store: Arc<dyn Store>) -> Result<Self> {
        if config.candidates_per_user == 0 {
            return Err(Error::invalid("config", "candidates_per_user must be >= 1"));
        }
        let interrupted = store.fail_unfinished_jobs("interrupted: the service stopped")?;
        if interrupted > 0 {
            tracing::warn!(
                jobs = interrupted,
                "marked training jobs interrupted by a stop as failed"
            );
        }
        let pool = |threads: usize, name: &'static str| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads.max(1))
                .thread_name(move |i| format!("{name}-{i}"))
                .build()
                .map_err(|e| Error::Internal(format!("cannot start the {name} pool: {e}")))
        };
        let training_pool = pool(config.training_threads, "encore-train")?;
        let precompute_pool = match config.precompute_threads {
            0 => None,
            n => Some(pool(n, "encore-precompute")?),
        };
        let service = Encore {
            inner: Arc::new(Inner {
                config,
                store,
                catalogs: RwLock::new(FxHashMap::default()),
                jobs: JobRegistry::default(),
                training_pool,
                precompute_pool,
                counters: Counters::default(),
                startup: Startup::default(),
                default_catalog: DefaultCatalog::default(),
            }),
        };
        Ok(service)
    }

    /// Builds every catalog's in-memory index and loads its active model, then marks the
    /// service started. Idempotent. A catalog that cannot be built is logged and skipped (it is
    /// built again on first use), so one bad catalog does not keep the others from serving.
    pub fn load_catalogs(&self) -> Result<()> {
        let started = Instant::now();
        let catalogs = self.inner.store.list_catalogs()?;
        let startup = &self.inner.startup;
        *startup.progress.lock().unwrap_or_else(|p| p.into_inner()) = (catalogs.len(), 0, None);
        for (i, catalog) in catalogs.iter().enumerate() {
            startup.progress.lock().unwrap_or_else(|p| p.into_inner()).2 =
                Some(catalog.name.clone());
            if let Err(error) = self.inner.build_catalog_state(&catalog.name) {
                tracing::error!(catalog = %catalog.name, %error, "cannot load the catalog");
            }
            *startup.progress.lock().unwrap_or_else(|p| p.into_inner()) =
                (catalogs.len(), i + 1, None);
        }
        startup.done.store(true, std::sync::atomic::Ordering::Release);
        tracing::info!(
            catalogs = catalogs.len(),
            seconds = started.elapsed().as_secs_f64(),
            "catalogs loaded; ready"
        );
        Ok(())
    }

    /// `Err(NotReady)` until [`Encore::load_catalogs`] has finished.
    fn ensure_started(&self) -> Result<()> {
        if self.inner.startup.is_done() {
            Ok(())
        } else {
            Err(Error::NotReady(self.inner.startup.describe()))
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ServiceConfig {
        &self.inner.config
    }

    /// The store (for the CLI's import commands and the server's API keys).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    // ------------------------------------------------------------ catalogs

    /// Creates a catalog; `Conflict` if it exists.
    pub fn create_catalog(&self, req: &dto::CreateCatalog) -> Result<dto::CatalogInfo> {
        validate::catalog_name("name", &req.name)?;
        self.ensure_started()?;
        self.inner.store.create_catalog(&req.name)?;
        self.inner.default_catalog.invalidate();
        self.inner.catalog_state(&req.name)?;
        self.catalog(&req.name)
    }

    /// All catalogs with their counts.
    pub fn list_catalogs(&self) -> Result<dto::CatalogList> {
        let catalogs = self.inner.store.list_catalogs()?;
        let catalogs =
            catalogs.iter().map(|c| self.catalog(&c.name)).collect::<Result<Vec<_>>>()?;
        Ok(dto::CatalogList { catalogs })
    }

    /// One catalog with its counts and active model.
    pub fn catalog(&self, name: &str) -> Result<dto::CatalogInfo> {
        let catalog =
            self.inner.store.get_catalog(name).map_err(not_found_as(Resource::Catalog, name))?;
        let stats = self.inner.store.catalog_stats(name)?;
        let active = self.inner.store.active_model(name)?;
        Ok(dto::CatalogInfo {
            name: catalog.name,
            items: stats.item_ids,
            users: stats.users,
            events: stats.events,
            active_model: active.map(|m| m.version_label()),
            created_unix_ms: catalog.created_ms,
        })
    }

    /// The catalog a request without one means: the only catalog, when there is exactly one.
    /// Cached until a catalog is created or deleted (see [`DefaultCatalog`]).
    pub fn default_catalog(&self) -> Result<String> {
        let cache = &self.inner.default_catalog;
        let generation = cache.generation.load(std::sync::atomic::Ordering::SeqCst);
        if let Some((cached, name)) = &*cache.cached.read().unwrap_or_else(|p| p.into_inner())
            && *cached == generation
        {
            return Ok(name.clone());
        }
        let mut catalogs = self.inner.store.list_catalogs()?;
        match catalogs.len() {
            1 => {
                let name = catalogs.remove(0).name;
                *cache.cached.write().unwrap_or_else(|p| p.into_inner()) =
                    Some((generation, name.clone()));
                Ok(name)
            }
            0 => Err(Error::not_found(Resource::Catalog, "(default)")),
            // A well-formed request the server's state makes ambiguous: a conflict, not a bad field.
            n => Err(Error::Conflict(format!(
                "the server hosts {n} catalogs; name one with \"catalog\""
            ))),
        }
    }

    /// Deletes a catalog with its items, events, models (files too) and jobs.
    pub fn delete_catalog(&self, name: &str) -> Result<()> {
        let state = self.inner.catalog_state(name)?;
        let files = {
            let _files = state.model_files.lock().unwrap_or_else(|p| p.into_inner());
            self.inner.jobs.cancel_catalog(name);
            let files = self.inner.store.delete_catalog(name)?;
            self.inner.default_catalog.invalidate();
            if let Some(old) = state.model.swap(None) {
                old.retire();
            }
            self.inner.catalogs.write().unwrap_or_else(|p| p.into_inner()).remove(name);
            files
        };
        for file in files {
            let path = self.inner.config.data_dir.join(&file);
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(path = %path.display(), error = %e, "could not delete a model file");
            }
        }
        let _ = std::fs::remove_dir(self.inner.config.models_dir(name));
        Ok(())
    }

    // ------------------------------------------------------------ items

    /// Creates or replaces items, all or nothing; every bad row is reported.
    pub fn upsert_items(
        &self,
        catalog: &str,
        req: &dto::UpsertItems,
    ) -> Result<dto::UpsertItemsResponse> {
        let state = self.inner.catalog_state(catalog)?;
        if req.items.len() > limits::MAX_BATCH_ROWS {
            return Err(Error::TooLarge(format!(
                "{} items in one request; the limit is {}",
                req.items.len(),
                limits::MAX_BATCH_ROWS
            )));
        }
        let mut errors = RowErrors::default();
        for (i, item) in req.items.iter().enumerate() {
            validate::item_row(i, item, &mut errors);
        }
        errors.finish()?;
        let rows: Vec<NewItem> = req.items.iter().map(NewItem::from).collect();
        self.inner.store.upsert_items(catalog, &rows)?;
        let mut data = state.write();
        for item in &req.items {
            data.set_item(item);
        }
        Ok(dto::UpsertItemsResponse { upserted: req.items.len() })
    }

    /// One item. An item known only from events (no metadata) is returned bare; a taken-down
    /// item is not found.
    pub fn get_item(&self, catalog: &str, item_id: &str) -> Result<dto::Item> {
        let state = self.inner.catalog_state(catalog)?;
        let data = state.read();
        match data.visible_item(item_id) {
            Some(i) => Ok(data.item_dto(i)),
            None => Err(Error::not_found(Resource::Item, item_id)),
        }
    }

    /// Creates or replaces one item.
    pub fn put_item(
        &self,
        catalog: &str,
        item_id: &str,
        fields: &dto::ItemFields,
    ) -> Result<dto::Item> {
        let item = fields.clone().into_item(item_id);
        let req = dto::UpsertItems { items: vec![item.clone()] };
        self.upsert_items(catalog, &req).map_err(|e| match e {
            // A single item's problems are reported as plain field errors.
            Error::InvalidRows(rows) if !rows.is_empty() => {
                Error::invalid(rows[0].field.clone(), rows[0].message.clone())
            }
            other => other,
        })?;
        Ok(item)
    }

    /// Takes an item down: from the moment this returns, `get_item` does not find it and no
    /// recommendation or similar list contains it, whatever the source, without retraining.
    /// Its events stay (they are training history); storing the item again puts it back.
    /// `NotFound` when the catalog has no such item or it is already down.
    pub fn delete_item(&self, catalog: &str, item_id: &str) -> Result<()> {
        let state = self.inner.catalog_state(catalog)?;
        self.inner
            .store
            .delete_item(catalog, item_id)
            .map_err(not_found_as(Resource::Item, item_id))?;
        state.write().take_down(item_id);
        Ok(())
    }

    // ------------------------------------------------------------ events

    /// Validates and stores a batch of events, all or nothing, returning once they are durably
    /// committed. Items the catalog does not know yet are created bare, so no event is lost for
    /// lack of metadata. The events count for recommendations at once.
    pub fn ingest_events(
        &self,
        catalog: &str,
        req: &dto::IngestEvents,
    ) -> Result<dto::IngestEventsResponse> {
        let state = self.inner.catalog_state(catalog)?;
        if req.events.len() > limits::MAX_BATCH_ROWS {
            return Err(Error::TooLarge(format!(
                "{} events in one request; the limit is {}",
                req.events.len(),
                limits::MAX_BATCH_ROWS
            )));
        }
        let now_s = now_ms() / 1000;
        let mut errors = RowErrors::default();
        let mut rows = Vec::with_capacity(req.events.len());
        // An event with an explicit timestamp is identified by (user, item, timestamp): the same
        // triple twice in one batch is one event sent twice (a client bug or a botched retry),
        // and storing both would count it twice. Events without a timestamp are repeat plays
        // stamped at ingestion, so they may repeat.
        let mut first_of: FxHashMap<(&str, &str, i64), usize> = FxHashMap::default();
        for (i, e) in req.events.iter().enumerate() {
            if let Some(m) = validate::id_problem(&e.user_id) {
                errors.push(i, "user_id", m);
            }
            if let Some(m) = validate::id_problem(&e.item_id) {
                errors.push(i, "item_id", m);
            }
            let weight = validate::weight(e.weight).unwrap_or_else(|m| {
                errors.push(i, "weight", m);
                0.0
            });
            if let Some(t) = e.timestamp
                && t < 0
            {
                errors.push(i, "timestamp", "must be seconds since the Unix epoch (>= 0)");
            }
            if let Some(t) = e.timestamp {
                let first = *first_of.entry((&e.user_id, &e.item_id, t)).or_insert(i);
                if first != i {
                    let m =
                        format!("duplicates event {first} (same user_id, item_id and timestamp)");
                    errors.push(i, "timestamp", m);
                }
            }
            rows.push(NewEvent {
                user_id: e.user_id.clone(),
                item_id: e.item_id.clone(),
                weight,
                timestamp: Some(e.timestamp.unwrap_or(now_s)),
            });
        }
        errors.finish()?;
        if rows.is_empty() {
            return Ok(dto::IngestEventsResponse { accepted: 0 });
        }
        let report = self.inner.store.append_events(catalog, &rows)?;
        let (first, _) = report
            .seq_range
            .ok_or_else(|| Error::Internal("the store assigned no sequence numbers".into()))?;
        let mut data = state.write();
        for (k, e) in rows.iter().enumerate() {
            data.apply_event(first + k as u64, &e.user_id, &e.item_id, e.weight);
        }
        drop(data);
        self.inner
            .counters
            .events_ingested
            .fetch_add(rows.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(dto::IngestEventsResponse { accepted: rows.len() })
    }

    /// Events ingested through this service since it started (for metrics).
    pub fn events_ingested(&self) -> u64 {
        self.inner.counters.events_ingested.load(std::sync::atomic::Ordering::Relaxed)
    }

    // ------------------------------------------------------------ readiness

    /// Ready when the start-up load has finished, the store answers and every catalog's active
    /// model is loaded.
    pub fn readiness(&self) -> dto::Readiness {
        if !self.inner.startup.is_done() {
            return dto::Readiness {
                ready: false,
                loading: Some(self.inner.startup.describe()),
                catalogs: Vec::new(),
            };
        }
        let catalogs = match self.inner.store.list_catalogs() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "store not ready");
                return dto::Readiness { ready: false, loading: None, catalogs: Vec::new() };
            }
        };
        let mut ready = true;
        let mut out = Vec::new();
        for c in catalogs {
            let active = self.inner.store.active_model(&c.name).ok().flatten();
            let loaded = self
                .inner
                .catalogs
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(&c.name)
                .and_then(|s| s.model.load_full());
            let ok = match (&active, &loaded) {
                (None, _) => true,
                (Some(a), Some(l)) => a.version == l.version,
                (Some(_), None) => false,
            };
            ready &= ok;
            out.push(dto::CatalogReadiness {
                catalog: c.name,
                active_model: active.map(|a| a.version_label()),
                loaded_model: loaded.as_ref().map(|l| l.label.clone()),
                candidates_precomputed: loaded.as_ref().map(|l| l.precomputed_fraction()),
            });
        }
        dto::Readiness { ready, loading: None, catalogs: out }
    }

    /// The loaded model version of each catalog and the seconds its load took (for metrics).
    pub fn loaded_models(&self) -> Vec<(String, String, f64)> {
        let catalogs = self.inner.catalogs.read().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<_> = catalogs
            .values()
            .filter_map(|s| {
                s.model.load_full().map(|m| (s.name.clone(), m.label.clone(), m.load_seconds))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

impl DefaultCatalog {
    /// Forgets the cached answer; called after a catalog is created or deleted.
    fn invalidate(&self) {
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
    fn build_catalog_state(self: &Arc<Self>, name: &str) -> Result<Arc<CatalogState>> {
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
            model_files: Mutex::new(()),
            erased: Mutex::new(Vec::new()),
            erase_ticks: std::sync::atomic::AtomicU64::new(0),
        });
        // Another thread may have built it meanwhile: keep the first one.
        let state = {
            let mut map = self.catalogs.write().unwrap_or_else(|p| p.into_inner());
            map.entry(name.to_string()).or_insert(state).clone()
        };
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
        if let Some(old) = state.model.swap(Some(loaded.clone())) {
            old.retire();
        }
        tracing::info!(catalog = %state.name, model = %loaded.label, seconds = loaded.load_seconds, "model activated");
        if let Some(pool) = &self.precompute_pool {
            pool.spawn(move || loaded.precompute_all());
        }
        Ok(())
    }

    /// Loads a model file and maps its items to the catalog's.
    pub fn load_model(&self, state: &CatalogState, record: &ModelRecord) -> Result<LoadedModel> {
        let started = Instant::now();
        let path = self.config.data_dir.join(&record.file_path);
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
            self.config.candidates_per_user,
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
