//! What every handler shares: the configuration and the service, behind one cheap-to-clone
//! [`AppState`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::ServerConfig;

/// Shared state of the router: cloning it clones one `Arc`.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: ServerConfig,
    service: Arc<encore_service::Encore>,
    metrics: &'static PrometheusHandle,
    /// The (catalog, version) series of `encore_active_model_info` set to 1 at the last scrape,
    /// so a replaced version's series can be set to 0.
    published_models: Mutex<HashMap<String, String>>,
    /// API keys and the audit log.
    access: Arc<encore_service::access::Access>,
    /// Per-key token buckets.
    limiter: crate::ratelimit::RateLimiter,
}

impl AppState {
    /// State over an opened service.
    /// The API keys are loaded from the service's store; if that fails, every request is refused
    /// (fail closed) until the periodic reload succeeds.
    pub fn new(service: Arc<encore_service::Encore>, config: ServerConfig) -> Self {
        let store = Arc::clone(service.store());
        let access = encore_service::access::Access::open(Arc::clone(&store)).unwrap_or_else(|error| {
            tracing::error!(%error, "cannot load the API keys; refusing every request until they load");
            encore_service::access::Access::empty(store)
        });
        let limiter = crate::ratelimit::RateLimiter::new(
            config.security.rate_limit,
            config.security.key_rate_limits.clone(),
        );
        AppState {
            inner: Arc::new(Inner {
                config,
                service,
                metrics: crate::metrics::recorder(),
                published_models: Mutex::new(HashMap::new()),
                access: Arc::new(access),
                limiter,
            }),
        }
    }

    /// The HTTP configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// The service every handler calls (through [`AppState::run`] when it may block).
    pub fn service(&self) -> &Arc<encore_service::Encore> {
        &self.inner.service
    }

    /// API keys and the audit log.
    pub fn access(&self) -> &Arc<encore_service::access::Access> {
        &self.inner.access
    }

    /// The per-key rate limiter.
    pub fn limiter(&self) -> &crate::ratelimit::RateLimiter {
        &self.inner.limiter
    }

    /// The Prometheus handle `/metrics` renders.
    pub fn metrics(&self) -> &'static PrometheusHandle {
        self.inner.metrics
    }

    /// Sets the model gauges from every loaded model: `encore_active_model_info{catalog,version}`
    /// is 1 for the loaded version and 0 for the one it replaced; `encore_model_load_seconds`,
    /// `encore_model_activation_seconds` and `encore_candidate_table_bytes` (by catalog) say
    /// what it cost to put in front of requests; `encore_index_recall_at_10{catalog,version}`
    /// the recall measured for a version's approximate index, when it has one.
    pub fn publish_active_models(&self, loaded: &[encore_service::ServingModel]) {
        use crate::metrics::{
            ACTIVE_MODEL, BATCHED_REQUESTS, CANDIDATE_BYTES, INDEX_RECALL,
            MODEL_ACTIVATION_SECONDS, MODEL_LOAD_SECONDS,
        };
        let mut published = self.inner.published_models.lock().unwrap_or_else(|p| p.into_inner());
        for m in loaded {
            let (catalog, version) = (&m.catalog, &m.version);
            if let Some(previous) = published.get(catalog)
                && previous != version
            {
                metrics::gauge!(ACTIVE_MODEL, "catalog" => catalog.clone(), "version" => previous.clone())
                    .set(0.0);
            }
            metrics::gauge!(ACTIVE_MODEL, "catalog" => catalog.clone(), "version" => version.clone())
                .set(1.0);
            metrics::gauge!(MODEL_LOAD_SECONDS, "catalog" => catalog.clone()).set(m.load_seconds);
            metrics::gauge!(MODEL_ACTIVATION_SECONDS, "catalog" => catalog.clone())
                .set(m.activation_seconds);
            metrics::gauge!(CANDIDATE_BYTES, "catalog" => catalog.clone())
                .set(m.candidate_bytes as f64);
            metrics::gauge!(BATCHED_REQUESTS, "catalog" => catalog.clone())
                .set(m.batched_requests as f64);
            if let Some(recall) = m.index_recall_at_10 {
                metrics::gauge!(INDEX_RECALL, "catalog" => catalog.clone(), "version" => version.clone())
                    .set(recall);
            }
            published.insert(catalog.clone(), version.clone());
        }
    }

    /// Runs a blocking service call on tokio's blocking pool, so the async workers never wait on
    /// SQLite, the disk or a scoring batch. A panic inside becomes a 500 problem.
    pub async fn run<T, F>(&self, call: F) -> crate::error::ApiResult<T>
    where
        F: FnOnce(&encore_service::Encore) -> Result<T, encore_service::Error> + Send + 'static,
        T: Send + 'static,
    {
        let service = Arc::clone(&self.inner.service);
        match tokio::task::spawn_blocking(move || call(&service)).await {
            Ok(result) => result.map_err(crate::error::ApiError::from),
            Err(join_error) => Err(crate::error::ApiError::internal(format_args!(
                "service call failed: {join_error}"
            ))),
        }
    }
}
