//! [`Encore`]: the service object — opening a data directory, the start-up load of its catalogs,
//! readiness. The use cases are further `impl Encore` blocks, one module each: [`crate::catalogs`],
//! [`crate::items`], [`crate::events`], [`crate::recommend`], [`crate::users`] (access and
//! erasure), [`crate::jobs`] (training and the model registry). What they share in memory is in
//! [`crate::state`].

use std::sync::{Arc, RwLock};
use std::time::Instant;

use encore_store::Store;
use rustc_hash::FxHashMap;

use crate::config::ServiceConfig;
use crate::dto;
use crate::error::{Error, Result};
use crate::job_registry::JobRegistry;
use crate::state::{Counters, DefaultCatalog, Inner, Startup};

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
    /// On SQLite one service process owns a data directory: a second one would mark the first
    /// one's running jobs as failed, and neither would see the other's new events in memory.
    /// Tools that only import (`encore import`) use the store directly and are picked up at the
    /// next start. On a shared database, a service with [`ServiceConfig::replica_name`] fails
    /// only its own name's and dead replicas' jobs, and [`Encore::start_following`] keeps it in
    /// step with the others.
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
        if !(0.0..=1.0).contains(&config.index_target_recall) {
            return Err(Error::invalid("config", "index_target_recall must be within 0-1"));
        }
        match (&config.replica_name, store.replica_feed()) {
            // One of several replicas: only the jobs of this name's earlier process, and of
            // replicas that stopped heartbeating, are known to be dead.
            (Some(replica), Some(feed)) => {
                crate::replication::refuse_a_live_namesake(feed, replica)?;
                feed.heartbeat(replica)?;
                let stale = crate::replication::ABANDONED_AFTER.as_millis() as i64;
                let failed = feed.fail_abandoned_jobs(stale, Some(replica))?;
                if !failed.is_empty() {
                    tracing::warn!(jobs = ?failed, "failed the jobs of replicas that stopped");
                }
            }
            _ => {
                let interrupted = store.fail_unfinished_jobs("interrupted: the service stopped")?;
                if interrupted > 0 {
                    tracing::warn!(
                        jobs = interrupted,
                        "marked training jobs interrupted by a stop as failed"
                    );
                }
            }
        }
        let pool = |threads: usize, name: &'static str, nice: i32| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads.max(1))
                .thread_name(move |i| format!("{name}-{i}"))
                .start_handler(move |_| lower_cpu_priority(nice))
                .build()
                .map_err(|e| Error::Internal(format!("cannot start the {name} pool: {e}")))
        };
        // Background work yields to requests on the same cores. Measured under wrk load with two
        // training threads at the default priority, serving p99 rose from ~5 ms to 600 ms while a
        // job trained (bench/README.md); at nice 10 a busy server still gives training ~10 % of a
        // contended core, and an idle one all of it.
        let training_pool = pool(config.training_threads, "encore-train", TRAINING_NICE)?;
        // The precompute pool may use every core at the lowest priority.
        let precompute_pool = match config.precompute_threads {
            0 => None,
            n => Some(pool(n, "encore-precompute", PRECOMPUTE_NICE)?),
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
                follow: std::sync::OnceLock::new(),
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
    pub(crate) fn ensure_started(&self) -> Result<()> {
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
        // A replica whose database is down keeps serving from memory (writes answer 503): it
        // stays ready with what it holds, so a load balancer does not take every replica out.
        let from_memory = || -> Vec<String> {
            let map = self.inner.catalogs.read().unwrap_or_else(|p| p.into_inner());
            let mut names: Vec<String> = map.keys().cloned().collect();
            names.sort();
            names
        };
        let (catalogs, database_down) = match self.inner.store.list_catalogs() {
            Ok(c) => (c.into_iter().map(|c| c.name).collect::<Vec<_>>(), false),
            Err(e) if self.inner.following().is_some() => {
                tracing::warn!(error = %e, "database unreachable; readiness from memory");
                (from_memory(), true)
            }
            Err(e) => {
                tracing::warn!(error = %e, "store not ready");
                return dto::Readiness { ready: false, loading: None, catalogs: Vec::new() };
            }
        };
        let mut ready = true;
        let mut out = Vec::new();
        for name in catalogs {
            let state =
                self.inner.catalogs.read().unwrap_or_else(|p| p.into_inner()).get(&name).cloned();
            let loaded = state.as_ref().and_then(|s| s.model.load_full());
            let active = if database_down {
                None
            } else {
                self.inner.store.active_model(&name).ok().flatten()
            };
            let preparing = state.as_ref().and_then(|s| s.preparing.load_full());
            let ok = match (&active, &loaded) {
                (None, _) => true,
                (Some(a), Some(l)) => {
                    // A replica converging on a version activated elsewhere serves the previous
                    // one meanwhile (`replication`): ready, as the activating replica is.
                    a.version == l.version || self.inner.following().is_some()
                }
                (Some(_), None) => false,
            };
            ready &= ok;
            out.push(dto::CatalogReadiness {
                catalog: name,
                active_model: match &active {
                    Some(a) => Some(a.version_label()),
                    None if database_down => loaded.as_ref().map(|l| l.label.clone()),
                    None => None,
                },
                loaded_model: loaded.as_ref().map(|l| l.label.clone()),
                candidates_precomputed: loaded.as_ref().map(|l| l.precomputed_fraction()),
                activation_seconds: loaded.as_ref().map(|l| l.activation_seconds()),
                preparing_model: preparing.as_ref().map(|p| p.label.clone()),
                preparing_precomputed: preparing.as_ref().map(|p| p.precomputed_fraction()),
            });
        }
        dto::Readiness { ready, loading: None, catalogs: out }
    }

    /// What each catalog's loaded model costs to put in front of requests (for metrics), by
    /// catalog name.
    pub fn loaded_models(&self) -> Vec<ServingModel> {
        let catalogs = self.inner.catalogs.read().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<_> = catalogs
            .values()
            .filter_map(|s| {
                s.model.load_full().map(|m| ServingModel {
                    catalog: s.name.clone(),
                    version: m.label.clone(),
                    load_seconds: m.load_seconds,
                    activation_seconds: m.activation_seconds(),
                    candidate_bytes: m.candidate_bytes() as u64,
                    batched_requests: m.batched_requests(),
                    index_recall_at_10: m.artifact.index.as_ref().map(|i| i.info.recall_at_10),
                })
            })
            .collect();
        out.sort_by(|a, b| a.catalog.cmp(&b.catalog));
        out
    }
}

/// A catalog's loaded model, as `/metrics` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServingModel {
    /// Catalog.
    pub catalog: String,
    /// Version label (`v3`).
    pub version: String,
    /// Seconds the model file took to load.
    pub load_seconds: f64,
    /// Seconds from the activation request to the version answering (0 when loaded at start-up).
    pub activation_seconds: f64,
    /// Bytes of the precomputed candidate table (0 until it is computed, or when none is kept).
    pub candidate_bytes: u64,
    /// On-demand requests to this model answered from a batch shared with concurrent ones.
    pub batched_requests: u64,
    /// Recall@10 of the model's approximate index measured when it was built (`None`: no
    /// index, every request is scored exactly).
    pub index_recall_at_10: Option<f64>,
}

/// Nice value of the training threads.
const TRAINING_NICE: i32 = 10;
/// Nice value of the candidate-precompute threads.
const PRECOMPUTE_NICE: i32 = 19;

/// Gives the calling thread the CPU priority `nice`, so that on a busy machine the scheduler
/// runs request handlers (nice 0) first: against one of them, a thread of nice 10 gets ~10 % of
/// a core and one of nice 19 ~1.5 %. Linux's nice value is per thread (`setpriority(2)`, NOTES),
/// so this leaves the rest of the process alone. Elsewhere, and if the call fails, the thread
/// keeps its priority.
#[allow(unsafe_code)]
#[cfg_attr(not(target_os = "linux"), allow(unused_variables))]
fn lower_cpu_priority(nice: i32) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid and setpriority take plain integers and touch no memory of ours.
        let failed = unsafe {
            let tid = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice) != 0
        };
        if failed {
            tracing::debug!(nice, "could not lower the priority of a background thread");
        }
    }
}
