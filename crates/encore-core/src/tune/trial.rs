//! One trial: fit a candidate on the validation split's training part, measure it on the held-out
//! part, and record what it cost.

use std::cell::Cell;
use std::time::Instant;

use super::space::Candidate;
use super::{MemoryAccounting, Objective, Trial};
use crate::eval::{Metrics, TestSet, evaluate_test_set};
use crate::matrix::InteractionMatrix;
use crate::models::ials::IalsModel;
use crate::models::{FitOptions, Model, ModelConfig, ModelSpec};
use crate::progress::TrainingObserver;

/// Epochs after which a monitored iALS fit is scored; the last one up to the fidelity is the end.
const IALS_CHECKPOINTS: [usize; 9] = [4, 8, 12, 16, 20, 24, 32, 40, 48];
/// A monitored fit stops after this many checkpoints without improvement.
const IALS_PATIENCE: usize = 2;

/// Everything a trial needs besides its candidate.
pub(crate) struct Bench<'a> {
    pub train: &'a InteractionMatrix,
    pub validation: &'a TestSet,
    pub objective: Objective,
    pub memory_limit: Option<u64>,
    pub memory: MemoryAccounting,
    pub seed: u64,
    /// Polled during fits: true once the budget is spent (or the caller cancelled).
    pub stop: &'a (dyn Fn() -> bool + Sync),
}

struct StopObserver<'a>(&'a (dyn Fn() -> bool + Sync));

impl TrainingObserver for StopObserver<'_> {
    fn is_cancelled(&self) -> bool {
        (self.0)()
    }
}

/// How a fit ended, before it is turned into a [`Trial`].
struct Measured {
    spec: String,
    model: Model,
    metrics: Metrics,
    train_seconds: f64,
    eval_seconds: f64,
}

impl Bench<'_> {
    fn evaluate(&self, model: &Model) -> (Metrics, f64) {
        let start = Instant::now();
        let metrics = evaluate_test_set(
            model.recommender(),
            self.train,
            self.validation,
            self.objective.k,
            &|| {},
        )
        .expect("the model was trained on this matrix")
        .metrics;
        (metrics, start.elapsed().as_secs_f64())
    }

    /// Runs `candidate` with `epochs` as its fidelity (iALS's most epochs, BPR's iterations;
    /// ignored by the closed-form and counting models).
    pub fn run(&self, id: usize, rung: usize, candidate: &Candidate, epochs: usize) -> Trial {
        let peak_is_per_trial = self.memory == MemoryAccounting::ProcessPeak && reset_peak();
        let outcome = match candidate.algorithm {
            crate::models::Algorithm::Ials => self.run_ials(candidate, epochs),
            crate::models::Algorithm::Bpr => {
                self.run_plain(&candidate.spec_with(&[("iterations", epochs.to_string())]))
            }
            _ => self.run_plain(&candidate.spec_with(&[])),
        };
        let mut trial = Trial {
            id,
            rung,
            algorithm: candidate.algorithm,
            model: candidate.spec_with(&[]),
            validation: None,
            score: None,
            train_seconds: 0.0,
            eval_seconds: 0.0,
            peak_memory_bytes: 0,
            model_size_bytes: 0,
            serving_micros_per_request: 0.0,
            meets_limits: false,
            note: None,
        };
        match outcome {
            Ok(m) => {
                let users = m.metrics.users.max(1) as f64;
                trial.model = m.spec;
                trial.score = Some(self.objective.of(&m.metrics));
                trial.validation = Some(m.metrics);
                trial.train_seconds = m.train_seconds;
                trial.eval_seconds = m.eval_seconds;
                trial.model_size_bytes = model_bytes(&m.model);
                trial.serving_micros_per_request = m.eval_seconds * 1e6 / users;
                trial.peak_memory_bytes = match (peak_is_per_trial, peak_bytes()) {
                    (true, Some(p)) => p,
                    _ => estimated_training_bytes(&m.model, self.train),
                };
            }
            Err(crate::Error::Cancelled) => trial.note = Some("stopped: the budget ran out".into()),
            Err(e) => trial.note = Some(format!("skipped: {e}")),
        }
        trial
    }

    fn run_plain(&self, spec: &str) -> crate::Result<Measured> {
        let config = ModelConfig::from_spec(&ModelSpec::parse(spec)?)?;
        let observer = StopObserver(self.stop);
        let opts = FitOptions {
            seed: self.seed,
            observer: &observer,
            memory_limit_bytes: self.memory_limit,
        };
        let start = Instant::now();
        let model = config.fit(self.train, &opts)?;
        let train_seconds = start.elapsed().as_secs_f64();
        let (metrics, eval_seconds) = self.evaluate(&model);
        Ok(Measured { spec: spec.to_string(), model, metrics, train_seconds, eval_seconds })
    }

    /// Trains iALS for up to `max_epochs`, scoring the model at each checkpoint, stopping when
    /// the objective has not improved for [`IALS_PATIENCE`] checkpoints; keeps the best epoch.
    fn run_ials(&self, candidate: &Candidate, max_epochs: usize) -> crate::Result<Measured> {
        let spec = candidate.spec_with(&[("iterations", max_epochs.to_string())]);
        let ModelConfig::Ials(config) = ModelConfig::from_spec(&ModelSpec::parse(&spec)?)? else {
            unreachable!("an ials candidate parses to an ials config")
        };
        let observer = StopObserver(self.stop);
        let opts = FitOptions {
            seed: self.seed,
            observer: &observer,
            memory_limit_bytes: self.memory_limit,
        };
        let checkpoints: Vec<usize> =
            IALS_CHECKPOINTS.iter().copied().filter(|&e| e < max_epochs).collect();
        let start = Instant::now();
        let eval_total = Cell::new(0.0);
        let mut best: Option<Measured> = None;
        let mut since_best = 0;
        let consider = |model: Model, best: &mut Option<Measured>, since_best: &mut usize| {
            let train_seconds = start.elapsed().as_secs_f64() - eval_total.get();
            let (metrics, eval_seconds) = self.evaluate(&model);
            eval_total.set(eval_total.get() + eval_seconds);
            let score = self.objective.of(&metrics);
            let improved = best.as_ref().is_none_or(|b| score > self.objective.of(&b.metrics));
            if improved {
                let Model::Ials(m) = &model else { unreachable!() };
                let spec =
                    candidate.spec_with(&[("iterations", m.config().iterations.to_string())]);
                *best = Some(Measured { spec, model, metrics, train_seconds, eval_seconds });
                *since_best = 0;
            } else {
                *since_best += 1;
            }
            *since_best < IALS_PATIENCE
        };
        let last =
            IalsModel::fit_with_checkpoints(&config, self.train, &opts, &checkpoints, &mut |m| {
                consider(Model::Ials(m), &mut best, &mut since_best)
            })?;
        if last.config().iterations == max_epochs {
            consider(Model::Ials(last), &mut best, &mut since_best);
        }
        Ok(best.expect("at least one checkpoint or the final model was scored"))
    }
}

/// Bytes of the model's parameter arrays (what a model file and the server hold).
pub(crate) fn model_bytes(model: &Model) -> u64 {
    use crate::buffer::ArrayRef;
    model
        .arrays()
        .iter()
        .map(|(_, a)| match a {
            ArrayRef::F32(v) => v.len() as u64 * 4,
            ArrayRef::U32(v) => v.len() as u64 * 4,
            ArrayRef::U64(v) => v.len() as u64 * 8,
        })
        .sum()
}

/// Training memory when the process peak is not measured: the dense structures each algorithm
/// allocates (as their own memory checks estimate them) plus the model.
fn estimated_training_bytes(model: &Model, train: &InteractionMatrix) -> u64 {
    let extra = match model {
        Model::Ease(_) => crate::models::ease::EaseConfig::training_bytes(train.n_cols()),
        Model::Ials(_) => train.nnz() as u64 * 16,
        _ => train.nnz() as u64 * 8,
    };
    extra.max(model_bytes(model))
}

/// Resets Linux's resident-set high-water mark (`/proc/self/clear_refs`, Linux ≥ 4.0).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", b"5").is_ok()
}

/// The resident-set high-water mark (`VmHWM`) in bytes, when /proc has it.
fn peak_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line["VmHWM:".len()..].split_whitespace().next()?.parse().ok()?;
    kb.checked_mul(1024)
}
