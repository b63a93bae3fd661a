//! Choosing a model and its settings for the data at hand, within a time budget.
//!
//! [`tune`] reads only training interactions. It carves a validation split from them with the
//! evaluation protocol's per-user rule ([`validation_split`]), then searches:
//!
//! 1. **Anchors**: every requested algorithm at its defaults, so the pick is never worse on
//!    validation than what `encore train` does without options, and each algorithm's cost is
//!    known before it is searched.
//! 2. **Successive halving** brackets (Jamieson & Talwalkar 2016, the inner loop of Hyperband)
//!    until the budget is spent: [`BRACKET`] candidates are drawn ([`space`]; after the first
//!    bracket half of them perturb the best setting found so far), run at the lowest fidelity, and
//!    the best third of those with a fidelity (iALS's most epochs, BPR's iterations) is run again
//!    at three times it, twice. Algorithms are drawn in proportion to how close their best score is
//!    to the overall best, so a weak algorithm costs little. iALS's iteration count is chosen by
//!    scoring the model every few epochs while it trains and keeping the best epoch.
//!
//! Every fit polls the deadline and stops when it passes (the trial is recorded as stopped); a
//! trial is not started when the same algorithm's earlier trials say it would take more than
//! a quarter of the time left (so one slow algorithm cannot spend the budget). The very first trial always finishes, so there is always a pick. The search
//! is deterministic for a seed: the sequence of trials depends only on the data, the seed and
//! the scores, and the clock only decides where the sequence is cut (a longer budget extends the
//! same list of trials). With [`TuneOptions::max_trials`] instead of a tight budget it is exactly
//! reproducible.

mod space;
mod trial;

#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

pub use space::{Candidate, DataShape};

use crate::eval::{MIN_ITEMS_FOR_HOLDOUT, Metrics, TestSet, holdout_split};
use crate::matrix::InteractionMatrix;
use crate::models::Algorithm;
use trial::Bench;

/// Candidates drawn per successive-halving bracket.
pub const BRACKET: usize = 9;
/// Share of each user's items held out for validation (the protocol's 20 %).
pub const VALIDATION_FRACTION: f64 = 0.2;
/// Fewest validation users a split must give for its scores to mean anything.
pub const MIN_VALIDATION_USERS: usize = 10;
/// iALS's most epochs at rung 0, 1, 2 (monitored, so it usually stops earlier).
const IALS_EPOCHS: [usize; 3] = [8, 24, 48];
/// BPR's iterations at rung 0, 1, 2.
const BPR_ITERATIONS: [usize; 3] = [30, 90, 270];

/// Which validation metric picks the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Objective {
    /// The metric.
    pub metric: MetricName,
    /// Its cut-off K.
    pub k: usize,
}

/// The metrics a search can optimise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricName {
    /// NDCG@K.
    Ndcg,
    /// Precision@K.
    Precision,
    /// Recall@K.
    Recall,
    /// MAP@K.
    Map,
    /// HR@K.
    HitRate,
}

impl Objective {
    /// Parses `ndcg@10`, `precision@20`, `recall@K`, `map@K`, `hr@K` (`@K` defaults to 10).
    pub fn parse(text: &str) -> crate::Result<Self> {
        let (name, k) = match text.trim().split_once('@') {
            Some((n, k)) => (n, k.parse::<usize>().ok().filter(|&k| (1..=1000).contains(&k))),
            None => (text.trim(), Some(10)),
        };
        let bad = || {
            crate::Error::InvalidInput(format!(
                "unknown metric `{text}`; expected ndcg@K, precision@K, recall@K, map@K or hr@K \
                 with K from 1 to 1000"
            ))
        };
        let metric = match name.to_ascii_lowercase().as_str() {
            "ndcg" => MetricName::Ndcg,
            "precision" => MetricName::Precision,
            "recall" => MetricName::Recall,
            "map" => MetricName::Map,
            "hr" | "hit_rate" => MetricName::HitRate,
            _ => return Err(bad()),
        };
        Ok(Self { metric, k: k.ok_or_else(bad)? })
    }

    /// The objective's value in `m`.
    pub fn of(&self, m: &Metrics) -> f64 {
        match self.metric {
            MetricName::Ndcg => m.ndcg,
            MetricName::Precision => m.precision,
            MetricName::Recall => m.recall,
            MetricName::Map => m.map,
            MetricName::HitRate => m.hit_rate,
        }
    }
}

impl std::fmt::Display for Objective {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.metric {
            MetricName::Ndcg => "ndcg",
            MetricName::Precision => "precision",
            MetricName::Recall => "recall",
            MetricName::Map => "map",
            MetricName::HitRate => "hr",
        };
        write!(f, "{name}@{}", self.k)
    }
}

/// How a trial's peak memory is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryAccounting {
    /// The process's resident high-water mark, reset before each trial (a command-line run,
    /// where the process does nothing else).
    ProcessPeak,
    /// The dense structures each model allocates, estimated (a server, whose resident set is
    /// mostly the models it serves).
    Estimate,
}

/// What to search and within which limits.
#[derive(Debug, Clone)]
pub struct TuneOptions {
    /// Wall-clock budget of the whole search.
    pub budget: Duration,
    /// Algorithms to consider.
    pub algorithms: Vec<Algorithm>,
    /// The validation metric that picks the model.
    pub objective: Objective,
    /// A trial that trains longer than this does not qualify for the pick.
    pub max_train_seconds: Option<f64>,
    /// A trial whose peak memory exceeds this does not qualify; models whose dense structures
    /// would exceed it are not trained at all (EASE on a large catalogue, iALS's larger factors).
    pub max_memory_bytes: Option<u64>,
    /// Seed of the validation split, the sampler and every fit.
    pub seed: u64,
    /// Stop after this many trials (tests, reproducible runs).
    pub max_trials: Option<usize>,
    /// How peak memory is measured.
    pub memory: MemoryAccounting,
}

impl TuneOptions {
    /// Options with the defaults of `encore tune`: every algorithm, NDCG@10, seed 42.
    pub fn new(budget: Duration) -> Self {
        Self {
            budget,
            algorithms: vec![
                Algorithm::Ials,
                Algorithm::Ease,
                Algorithm::ItemKnn,
                Algorithm::Bpr,
                Algorithm::Popularity,
            ],
            objective: Objective { metric: MetricName::Ndcg, k: 10 },
            max_train_seconds: None,
            max_memory_bytes: None,
            seed: 42,
            max_trials: None,
            memory: MemoryAccounting::Estimate,
        }
    }
}

/// One fit and its measurements.
#[derive(Debug, Clone, PartialEq)]
pub struct Trial {
    /// Position in the search, from 0.
    pub id: usize,
    /// Successive-halving rung (0 = lowest fidelity); anchors are rung 1.
    pub rung: usize,
    /// The algorithm.
    pub algorithm: Algorithm,
    /// The spec, as `encore train --model` takes it (iALS with the epoch it kept).
    pub model: String,
    /// Validation metrics; `None` when the trial was skipped or stopped.
    pub validation: Option<Metrics>,
    /// The objective's value.
    pub score: Option<f64>,
    /// Seconds of training (for monitored iALS: up to the epoch kept, scoring excluded).
    pub train_seconds: f64,
    /// Seconds ranking the whole catalogue for every validation user.
    pub eval_seconds: f64,
    /// Peak memory of the trial ([`MemoryAccounting`]).
    pub peak_memory_bytes: u64,
    /// Bytes of the model's parameters.
    pub model_size_bytes: u64,
    /// Measured serving cost: microseconds to score the whole catalogue and take the top K for
    /// one user (validation ranking time ÷ users, all cores).
    pub serving_micros_per_request: f64,
    /// Whether it meets `max_train_seconds` and `max_memory_bytes`.
    pub meets_limits: bool,
    /// Why it has no score, or what else is worth knowing.
    pub note: Option<String>,
}

impl Trial {
    /// The trial as JSON, metrics named as `encore evaluate` names them (`ndcg@10`, …).
    pub fn to_json(&self) -> serde_json::Value {
        let validation = self.validation.map(|m| {
            m.named()
                .into_iter()
                .map(|(k, v)| (k, serde_json::json!(v)))
                .collect::<serde_json::Map<_, _>>()
        });
        serde_json::json!({
            "id": self.id,
            "rung": self.rung,
            "model": self.model,
            "validation": validation,
            "train_seconds": self.train_seconds,
            "eval_seconds": self.eval_seconds,
            "peak_memory_bytes": self.peak_memory_bytes,
            "model_size_bytes": self.model_size_bytes,
            "serving_micros_per_request": self.serving_micros_per_request,
            "meets_limits": self.meets_limits,
            "note": self.note,
        })
    }
}

/// What the search found.
#[derive(Debug, Clone)]
pub struct TuneReport {
    /// Every trial, in the order run.
    pub trials: Vec<Trial>,
    /// Index into `trials` of the pick: the best score among trials meeting the limits.
    pub best: Option<usize>,
    /// Things the caller should tell the user (e.g. EASE skipped).
    pub notes: Vec<String>,
    /// Validation users and held-out interactions.
    pub validation_users: usize,
    /// Held-out interactions.
    pub validation_interactions: usize,
    /// Wall-clock seconds the search took.
    pub elapsed_seconds: f64,
}

impl TuneReport {
    /// The picked trial.
    pub fn best_trial(&self) -> Option<&Trial> {
        self.best.map(|i| &self.trials[i])
    }

    /// `{"best": {...}, "trials": [...], ...}`, the `--json` output and the registry's record.
    pub fn to_json(&self) -> serde_json::Value {
        let best = self.best_trial().map(Trial::to_json);
        serde_json::json!({
            "best": best,
            "trials": self.trials.iter().map(Trial::to_json).collect::<Vec<_>>(),
            "notes": self.notes,
            "validation_users": self.validation_users,
            "validation_interactions": self.validation_interactions,
            "elapsed_seconds": self.elapsed_seconds,
        })
    }
}

/// Follows a search: a progress bar, a job record. Every method has a silent default.
pub trait TuneObserver: Sync {
    /// A trial finished (or was stopped); `best` is the pick so far.
    fn on_trial(&self, _trial: &Trial, _done: usize, _best: Option<&Trial>) {}
    /// Polled during fits; true stops the search (the report has what finished).
    fn is_cancelled(&self) -> bool {
        false
    }
}

/// The silent observer.
pub struct NoTuneProgress;
impl TuneObserver for NoTuneProgress {}

/// The protocol's per-user split of training interactions into a fitting part and a
/// validation part; fails, saying why, when too few users can hold anything out.
pub fn validation_split(
    matrix: &InteractionMatrix,
    seed: u64,
) -> crate::Result<(InteractionMatrix, TestSet)> {
    let (fit, held_out) = holdout_split(matrix, VALIDATION_FRACTION, seed)?;
    let validation = TestSet::from_matrix(&held_out);
    if validation.lists.len() < MIN_VALIDATION_USERS {
        return Err(crate::Error::InvalidInput(format!(
            "too little data to validate on: {} of {} users have at least {MIN_VALIDATION_USERS_ITEMS} \
             distinct items (only those hold items out for validation), and the search needs at \
             least {MIN_VALIDATION_USERS}",
            validation.lists.len(),
            matrix.n_rows(),
            MIN_VALIDATION_USERS_ITEMS = MIN_ITEMS_FOR_HOLDOUT,
        )));
    }
    Ok((fit, validation))
}

/// A rough a-priori estimate of seconds for one default trial of `algorithm` (fit + validation
/// ranking) on 2 cores, from the data's shape; used only to refuse a budget that cannot fit one
/// trial per algorithm, so it errs low.
pub fn estimated_default_seconds(algorithm: Algorithm, shape: &DataShape) -> f64 {
    let (users, items, nnz) = (shape.n_users as f64, shape.n_items as f64, shape.nnz as f64);
    let ranking = users * items * 64.0 * 2.0 / 4e9;
    let fit = match algorithm {
        // 24 epochs at most, each about 2 solves of (users + items) rows of 64² plus the nnz terms.
        Algorithm::Ials => 24.0 * ((users + items) * 64.0 * 64.0 * 6.0 + nnz * 64.0 * 8.0) / 8e9,
        // Gram matrix plus one n³ inverse.
        Algorithm::Ease => items.powi(3) / 6e10 + nnz * 50.0 / 1e9,
        Algorithm::ItemKnn => nnz * (nnz / items.max(1.0)) / 2e8,
        Algorithm::Bpr => 100.0 * nnz * 64.0 * 6.0 / 4e9,
        Algorithm::Popularity => 0.0,
    };
    fit + if algorithm == Algorithm::Popularity { ranking / 64.0 } else { ranking }
}

/// The budget in seconds that one default trial of each of `algorithms` needs, rounded up.
pub fn minimum_budget_seconds(algorithms: &[Algorithm], shape: &DataShape) -> u64 {
    algorithms.iter().map(|&a| estimated_default_seconds(a, shape)).sum::<f64>().ceil().max(1.0)
        as u64
}

/// Searches models and settings for `matrix` (users × items, raw weights); see the module docs.
/// Fails on a split too small to validate on, an empty algorithm list, or a budget below
/// [`minimum_budget_seconds`].
pub fn tune(
    matrix: &InteractionMatrix,
    options: &TuneOptions,
    observer: &dyn TuneObserver,
) -> crate::Result<TuneReport> {
    let started = Instant::now();
    if options.algorithms.is_empty() {
        return Err(crate::Error::InvalidInput("no model to search".into()));
    }
    let (fit, validation) = validation_split(matrix, options.seed)?;
    let shape = DataShape::of(&fit);
    if options.max_trials.is_none() {
        let minimum = minimum_budget_seconds(&options.algorithms, &shape);
        if options.budget.as_secs_f64() < minimum as f64 {
            return Err(crate::Error::InvalidInput(format!(
                "a budget of {:.0} s is too short for one trial of each model on {} users × {} \
                 items; it needs at least {minimum} s (or fewer models)",
                options.budget.as_secs_f64(),
                shape.n_users,
                shape.n_items
            )));
        }
    }
    let mut search = Search::new(&fit, &validation, options, observer, shape, started);
    search.run_all();
    let validation_interactions = validation.lists.iter().map(|(_, l)| l.len()).sum();
    Ok(TuneReport {
        best: search.best,
        notes: search.notes,
        trials: search.trials,
        validation_users: validation.lists.len(),
        validation_interactions,
        elapsed_seconds: started.elapsed().as_secs_f64(),
    })
}

mod search;
use search::Search;
