//! How a service instance is configured.

use std::path::PathBuf;

/// Configuration of an [`crate::Encore`] instance.
///
/// The defaults suit a small machine: training gets one thread so that serving keeps a core. The
/// limits on what one request may ask for are not configuration: they are part of the API's
/// contract, defined once in [`crate::limits`].
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Directory holding the database and the model files (`DIR/models/<catalog>/<version>.enc`).
    pub data_dir: PathBuf,
    /// Threads of the training pool. Training never uses more, so requests keep being served.
    pub training_threads: usize,
    /// Threads used to precompute every known user's candidates before a model is put in front
    /// of requests. They run at the lowest CPU priority, so requests on the same cores go first.
    /// Zero disables the precomputation (every request is then scored on demand).
    pub precompute_threads: usize,
    /// Memory a model may allocate for dense structures (EASE); `None` = no limit.
    pub memory_limit_bytes: Option<u64>,
    /// How many candidates are precomputed and cached per known user. Requests without a filter
    /// and with `n` up to this are answered from the cache.
    pub candidates_per_user: usize,
    /// Most memory one model's candidate table may take (8 bytes per candidate and 4 per user);
    /// a wider table is narrowed to fit (see `loaded`). Default 2 GiB: 10^6 users × 100
    /// candidates take 0.8 GB.
    pub candidate_memory_bytes: u64,
    /// Seed of training (initialisation, sampling, holdout split).
    pub seed: u64,
    /// Factor models of at least this many items get an approximate index at training time
    /// (`encore_core::index`), used for requests scored on demand; smaller ones are scored
    /// exactly. Default 100,000: measured in `bench/README.md` ("IVF index").
    pub index_min_items: usize,
    /// Recall@10 against exact search that the index's probe count is chosen to reach.
    pub index_target_recall: f64,
    /// This process's name among the replicas of one shared database (`encore serve --database
    /// … --replica-name`): with a store that has a replica feed, it makes the service follow the
    /// others ([`crate::replication`]) and fail only its own and dead replicas' jobs at start.
    /// `None`: the one process of its store.
    pub replica_name: Option<String>,
}

impl ServiceConfig {
    /// A configuration with the defaults for `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            training_threads: 1,
            precompute_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_limit_bytes: None,
            candidates_per_user: 100,
            candidate_memory_bytes: 2 << 30,
            seed: 42,
            index_min_items: 100_000,
            index_target_recall: 0.95,
            replica_name: None,
        }
    }

    /// The directory of a catalog's model files.
    pub fn models_dir(&self, catalog: &str) -> PathBuf {
        self.data_dir.join("models").join(catalog)
    }
}
