//! `"model": "auto"` training jobs: the search of `encore tune` ([`encore_core::tune`]) on the
//! catalog's snapshot, reported into the job while it runs; the job then trains the pick on all
//! the events like any other spec ([`crate::jobs`]).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use encore_core::matrix::InteractionMatrix;
use encore_core::models::{Algorithm, ModelConfig, ModelSpec};
use encore_core::tune::{self, MemoryAccounting, Trial, TuneObserver, TuneOptions};
use encore_store::JobUpdate;

use crate::dto::{self, TuningProgress};
use crate::error::{Error, Result};
use crate::job_registry::LiveJob;
use crate::state::Inner;

/// The `model` value that asks for a search.
pub const AUTO: &str = "auto";
/// Budget of a search when the request gives none.
pub const DEFAULT_BUDGET_SECONDS: u64 = 60;
/// Longest budget a request may ask for (a day).
pub const MAX_BUDGET_SECONDS: u64 = 86_400;
/// Share of the job's progress the search takes (the final fit and activation follow).
const SEARCH_PROGRESS: f64 = 0.8;

/// Checks the search fields of a request: `auto` takes no `params`, known model names and a
/// budget in range; other models take no search fields.
pub(crate) fn check_request(req: &dto::TrainRequest) -> Result<()> {
    let has_search_fields = req.budget_seconds.is_some()
        || req.models.is_some()
        || req.max_train_seconds.is_some()
        || req.max_memory_bytes.is_some();
    if req.model != AUTO {
        if has_search_fields {
            return Err(Error::invalid(
                "model",
                "budget_seconds, models, max_train_seconds and max_memory_bytes go with \
                 \"model\": \"auto\"",
            ));
        }
        return Ok(());
    }
    if !req.params.is_empty() {
        return Err(Error::invalid("params", "\"auto\" chooses the parameters; give none"));
    }
    options(req, None).map(|_| ())
}

/// The search's options from a request.
fn options(req: &dto::TrainRequest, memory_limit: Option<u64>) -> Result<TuneOptions> {
    let budget = req.budget_seconds.unwrap_or(DEFAULT_BUDGET_SECONDS);
    if !(1..=MAX_BUDGET_SECONDS).contains(&budget) {
        return Err(Error::invalid(
            "budget_seconds",
            format!("must be between 1 and {MAX_BUDGET_SECONDS}, got {budget}"),
        ));
    }
    let mut options = TuneOptions::new(Duration::from_secs(budget));
    if let Some(models) = &req.models {
        if models.is_empty() {
            return Err(Error::invalid("models", "name at least one model"));
        }
        options.algorithms = models
            .iter()
            .map(|m| {
                m.parse::<Algorithm>().map_err(|_| {
                    Error::invalid(
                        "models",
                        format!(
                            "unknown model `{m}`; expected ials, bpr, ease, itemknn or popularity"
                        ),
                    )
                })
            })
            .collect::<Result<_>>()?;
    }
    if let Some(s) = req.max_train_seconds
        && !(s.is_finite() && s > 0.0)
    {
        return Err(Error::invalid("max_train_seconds", "must be a positive number"));
    }
    options.max_train_seconds = req.max_train_seconds;
    // The document gives the field as an int64 (JSON clients and the registry's JSON see signed
    // 64-bit integers), so larger values are refused rather than taken as "no limit".
    if let Some(bytes) = req.max_memory_bytes
        && bytes > i64::MAX as u64
    {
        return Err(Error::invalid("max_memory_bytes", format!("must be at most {}", i64::MAX)));
    }
    // The server's own memory limit caps what a request may allow.
    options.max_memory_bytes = match (req.max_memory_bytes, memory_limit) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    // The server's resident set is mostly the models it serves, so estimate instead.
    options.memory = MemoryAccounting::Estimate;
    Ok(options)
}

/// Follows the search into the job: progress over the search's share, trials done, best so far.
struct JobSearch<'a> {
    inner: &'a Inner,
    job: &'a LiveJob,
    started: Instant,
    budget: f64,
}

impl TuneObserver for JobSearch<'_> {
    fn on_trial(&self, _trial: &Trial, done: usize, best: Option<&Trial>) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let status = TuningProgress {
            trials_done: done,
            best_model: best.map(|b| b.model.clone()),
            best_ndcg_at_10: best.and_then(|b| b.validation).map(|m| m.ndcg),
            seconds_left: (self.budget - elapsed).max(0.0),
        };
        *self.job.tuning.lock().unwrap_or_else(|p| p.into_inner()) = Some(status);
        let progress = 0.05 + SEARCH_PROGRESS * (elapsed / self.budget).min(1.0);
        let update = JobUpdate { progress: Some(progress), ..Default::default() };
        if let Err(e) = self.inner.store.update_job(self.job.id, &update) {
            tracing::warn!(job = self.job.id, error = %e, "could not record search progress");
        }
    }

    fn is_cancelled(&self) -> bool {
        self.job.cancel.load(Ordering::Relaxed)
    }
}

/// Runs the search on `matrix`; returns the pick's configuration and the search's record
/// (`{"best", "trials", …}`, stored with the version it produces).
pub(crate) fn search(
    inner: &Inner,
    job: &LiveJob,
    req: &dto::TrainRequest,
    matrix: &InteractionMatrix,
) -> Result<(ModelConfig, serde_json::Value)> {
    let mut options = options(req, inner.config.memory_limit_bytes)?;
    options.seed = inner.config.seed;
    let observer =
        JobSearch { inner, job, started: Instant::now(), budget: options.budget.as_secs_f64() };
    let report = tune::tune(matrix, &options, &observer).map_err(|e| match e {
        encore_core::Error::Cancelled => Error::Engine(e),
        other => Error::Unprocessable(format!("cannot search models: {other}")),
    })?;
    if job.cancel.load(Ordering::Relaxed) {
        return Err(Error::Engine(encore_core::Error::Cancelled));
    }
    if let Some(status) = job.tuning.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
        status.seconds_left = 0.0;
    }
    let best = report.best_trial().ok_or_else(|| {
        Error::Unprocessable("no trial of the search met the cost limits".to_string())
    })?;
    let config = ModelConfig::from_spec(&ModelSpec::parse(&best.model)?)?;
    tracing::info!(job = job.id, model = %best.model, trials = report.trials.len(), "search picked a model");
    Ok((config, report.to_json()))
}
