//! The training pipeline, one for every door: `encore train` (a file), the service's training
//! jobs (a catalog snapshot, see [`crate::jobs`]) and, for its measuring step, `encore evaluate`.
//!
//! ```text
//! interactions ──► id maps + InteractionMatrix (DatasetBuilder, or encore_core::data for a file)
//!              ──► [holdout split ──► fit ──► exact full-ranking evaluation]   (Plan::holdout)
//!              ──► fit on all the data ──► ModelArtifact (holdout metrics in its header)
//! ```
//!
//! The model that is saved is always trained on **all** the data: the holdout metrics estimate
//! how this configuration generalises, and the served model should not lose a fifth of the
//! history. The caller says how progress is shown through [`Progress`] (a terminal bar for the
//! command line, the job's progress field for the service), and does what comes after the
//! artifact itself: saving it to a path, or registering and activating a version.

use std::collections::BTreeMap;

use encore_core::data::Dataset;
use encore_core::eval::{Evaluation, Metrics, TestSet, evaluate_test_set, holdout_split};
use encore_core::ids::IdMap;
use encore_core::matrix::InteractionMatrix;
use encore_core::model_file::ModelArtifact;
use encore_core::models::{FitOptions, Model, ModelConfig};
use encore_core::progress::{NoProgress, TrainingObserver};

use crate::error::Result;

/// What to train and how.
#[derive(Debug, Clone, Copy)]
pub struct Plan<'a> {
    /// The checked model configuration.
    pub config: &'a ModelConfig,
    /// Seed of the holdout split and of the model's initialisation and sampling.
    pub seed: u64,
    /// Refuse to fit a model whose dense structures would exceed this many bytes.
    pub memory_limit_bytes: Option<u64>,
    /// Measure the configuration on a per-user holdout split first.
    pub holdout: Option<Holdout>,
}

/// The holdout measurement of [`Plan::holdout`].
#[derive(Debug, Clone, Copy)]
pub struct Holdout {
    /// Share of each user's items held out (see `encore_core::eval::holdout_split`).
    pub fraction: f64,
    /// Cut-off K of the metrics.
    pub k: usize,
}

/// Which fit [`Progress::fit`] is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// A fit that is measured on test data and then dropped (the holdout, `encore evaluate`).
    Measure,
    /// The fit on all the data that becomes the model artifact.
    Final,
}

/// How the caller follows the pipeline. Every method has a silent default.
pub trait Progress {
    /// Runs one fit: call `run` with the observer that should receive its epochs (and that is
    /// polled for cancellation) and return what it returns.
    fn fit(
        &self,
        stage: Stage,
        run: &mut dyn FnMut(&dyn TrainingObserver) -> Result<Model>,
    ) -> Result<Model> {
        let _ = stage;
        run(&NoProgress)
    }

    /// The holdout split is made (before anything is fitted on it); an error stops the pipeline.
    fn holdout_made(&self, test: &TestSet) -> Result<()> {
        let _ = test;
        Ok(())
    }

    /// Runs the evaluation of `users` test users: call `run` with a function to be called once
    /// per ranked user (from rayon workers).
    fn evaluate(
        &self,
        users: usize,
        run: &mut dyn FnMut(&(dyn Fn() + Sync)) -> Result<Evaluation>,
    ) -> Result<Evaluation> {
        let _ = users;
        run(&|| {})
    }

    /// The holdout metrics are known; an error stops the pipeline.
    fn evaluated(&self, metrics: &Metrics) -> Result<()> {
        let _ = metrics;
        Ok(())
    }
}

/// The silent [`Progress`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Progress for Quiet {}

/// What [`train`] produces.
#[derive(Debug)]
pub struct Trained {
    /// The model trained on all the data, with its id maps and training matrix; the holdout
    /// metrics are in its header.
    pub artifact: ModelArtifact,
    /// The holdout metrics by name (`ndcg@10`, …), finite values only; empty without holdout.
    pub metrics: BTreeMap<String, f64>,
}

/// Builds the id maps and the matrix from interactions streamed one at a time (a store
/// snapshot). Ids are interned in first-appearance order, so the result is deterministic;
/// duplicate (user, item) pairs are summed.
#[derive(Debug, Default)]
pub struct DatasetBuilder {
    users: IdMap,
    items: IdMap,
    rows: Vec<u32>,
    cols: Vec<u32>,
    weights: Vec<f32>,
}

impl DatasetBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one interaction.
    pub fn push(&mut self, user: &str, item: &str, weight: f32) {
        self.rows.push(self.users.get_or_insert(user));
        self.cols.push(self.items.get_or_insert(item));
        self.weights.push(weight);
    }

    /// The id maps and the users × items matrix.
    pub fn finish(self) -> Result<Dataset> {
        let matrix = InteractionMatrix::from_triplets(
            self.users.len(),
            self.items.len(),
            &self.rows,
            &self.cols,
            &self.weights,
        )?;
        Ok(Dataset { users: self.users, items: self.items, matrix })
    }
}

/// Runs the pipeline: with [`Plan::holdout`], split, fit and measure; then fit on all of `data`
/// and wrap the model in an artifact (`trained_on` is recorded in its header).
pub fn train(
    data: Dataset,
    plan: &Plan<'_>,
    trained_on: Option<String>,
    progress: &dyn Progress,
) -> Result<Trained> {
    let mut metrics = BTreeMap::new();
    if let Some(holdout) = plan.holdout {
        let (train, test) = holdout_split(&data.matrix, holdout.fraction, plan.seed)?;
        let test = TestSet::from_matrix(&test);
        progress.holdout_made(&test)?;
        let (_, evaluation) = fit_and_evaluate(plan, &train, &test, holdout.k, progress)?;
        progress.evaluated(&evaluation.metrics)?;
        metrics = named_metrics(&evaluation.metrics);
    }
    let model = fit(plan, &data.matrix, Stage::Final, progress)?;
    let mut artifact = ModelArtifact::new(model, data.users, data.items, data.matrix, trained_on);
    artifact.header.metrics = metrics.clone();
    Ok(Trained { artifact, metrics })
}

/// Fits `plan`'s model on `train` and measures it on `test` with the exact full-ranking protocol
/// at `k` (the measuring step of [`train`], and all of what `encore evaluate` does per model).
pub fn fit_and_evaluate(
    plan: &Plan<'_>,
    train: &InteractionMatrix,
    test: &TestSet,
    k: usize,
    progress: &dyn Progress,
) -> Result<(Model, Evaluation)> {
    let model = fit(plan, train, Stage::Measure, progress)?;
    let evaluation = progress.evaluate(test.lists.len(), &mut |on_user| {
        Ok(evaluate_test_set(model.recommender(), train, test, k, on_user)?)
    })?;
    Ok((model, evaluation))
}

/// Builds the approximate index of `artifact`'s model and stores it in the artifact when the
/// model has factors and at least `min_items` items; returns what was built (`None`: exact
/// scoring only). The probe count is chosen to reach `target_recall` on sampled users.
pub fn build_index(
    artifact: &mut ModelArtifact,
    min_items: usize,
    target_recall: f64,
    seed: u64,
) -> Option<encore_core::index::IndexInfo> {
    if artifact.items.len() < min_items {
        return None;
    }
    let cfg = encore_core::index::IndexConfig {
        target_recall,
        seed,
        ..encore_core::index::IndexConfig::default()
    };
    let index = encore_core::index::build(artifact.recommender(), &artifact.train, &cfg)?;
    let info = index.info.clone();
    artifact.set_index(Some(index));
    Some(info)
}

/// The metrics by name, leaving out values that are not finite (no evaluated user).
pub fn named_metrics(metrics: &Metrics) -> BTreeMap<String, f64> {
    metrics.named().into_iter().filter(|(_, v)| v.is_finite()).collect()
}

fn fit(
    plan: &Plan<'_>,
    matrix: &InteractionMatrix,
    stage: Stage,
    progress: &dyn Progress,
) -> Result<Model> {
    progress.fit(stage, &mut |observer| {
        let options =
            FitOptions { seed: plan.seed, observer, memory_limit_bytes: plan.memory_limit_bytes };
        Ok(plan.config.fit(matrix, &options)?)
    })
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use encore_core::models::ModelSpec;

    use super::*;

    /// 30 users with 8 items each, in two taste groups.
    fn data() -> Dataset {
        let mut b = DatasetBuilder::new();
        for u in 0..30 {
            for j in 0..8 {
                let item = (u % 2) * 10 + (u + j) % 10;
                b.push(&format!("u{u}"), &format!("i{item}"), 1.0);
            }
        }
        b.finish().unwrap()
    }

    #[derive(Default)]
    struct Record(RefCell<Vec<String>>);

    impl Progress for Record {
        fn fit(
            &self,
            stage: Stage,
            run: &mut dyn FnMut(&dyn TrainingObserver) -> Result<Model>,
        ) -> Result<Model> {
            self.0.borrow_mut().push(format!("fit {stage:?}"));
            run(&NoProgress)
        }
        fn holdout_made(&self, test: &TestSet) -> Result<()> {
            self.0.borrow_mut().push(format!("split {}", test.lists.len()));
            Ok(())
        }
        fn evaluated(&self, metrics: &Metrics) -> Result<()> {
            self.0.borrow_mut().push(format!("evaluated {}", metrics.users));
            Ok(())
        }
    }

    #[test]
    fn builder_interns_in_first_appearance_order_and_sums_duplicates() {
        let mut b = DatasetBuilder::new();
        b.push("b", "x", 1.0);
        b.push("a", "y", 2.0);
        b.push("b", "x", 3.0);
        let d = b.finish().unwrap();
        assert_eq!((d.users.id(0), d.users.id(1)), ("b", "a"));
        assert_eq!(d.matrix.nnz(), 2);
        assert_eq!(d.matrix.row(0).values, &[4.0]);
    }

    #[test]
    fn holdout_measures_then_trains_the_saved_model_on_everything() {
        let config = ModelConfig::from_spec(&ModelSpec::parse("itemknn").unwrap()).unwrap();
        let holdout = Some(Holdout { fraction: 0.25, k: 5 });
        let plan = Plan { config: &config, seed: 7, memory_limit_bytes: None, holdout };
        let progress = Record::default();
        let trained = train(data(), &plan, Some("test".into()), &progress).unwrap();
        assert_eq!(
            *progress.0.borrow(),
            ["split 30", "fit Measure", "evaluated 30", "fit Final"].map(String::from)
        );
        assert_eq!(trained.artifact.header.n_users, 30);
        assert_eq!(trained.artifact.train.nnz(), 240);
        assert!(trained.metrics.contains_key("ndcg@5"), "{:?}", trained.metrics);
        assert_eq!(trained.artifact.header.metrics, trained.metrics);

        let plan = Plan { holdout: None, ..plan };
        let trained = train(data(), &plan, None, &Quiet).unwrap();
        assert!(trained.metrics.is_empty() && trained.artifact.header.metrics.is_empty());
    }
}
