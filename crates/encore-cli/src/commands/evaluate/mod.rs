//! `encore evaluate`: train each requested model and measure it with the exact full-ranking
//! protocol of `encore_core::eval` (precision, recall, NDCG, MAP, hit rate and coverage at K),
//! plus training time, peak memory and model-file size.
//!
//! The data is either a train file and a test file (the shared splits), or one file split with
//! the protocol's per-user holdout rule. Each model is fitted and measured by the service's
//! training pipeline ([`encore_service::training::fit_and_evaluate`]), so `encore evaluate`,
//! `encore train --holdout` and a training job measure a spec the same way.

mod report;

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use encore_core::data::{Format, ReadOptions};
use encore_core::eval::{Evaluation, TestSet, holdout_split};
use encore_core::ids::IdMap;
use encore_core::matrix::InteractionMatrix;
use encore_core::model_file::ModelArtifact;
use encore_core::models::Model;
use encore_core::progress::TrainingObserver;
use encore_service::training;

use self::report::{ModelResult, Report};
use super::specs::{self, CheckedSpec};
use crate::input::{self, FORMAT_HELP, parse_format};
use crate::memory;
use crate::progress::{EpochBar, Ui};
use crate::size::parse_size;

/// Options of `encore evaluate`.
#[derive(Debug, clap::Args)]
#[command(
    group(clap::ArgGroup::new("data").required(true).args(["train", "input"])),
    after_help = "Examples:\n  encore evaluate --train train.tsv --test test.tsv --model ials --model ease\n  \
                  encore evaluate --input ratings.csv --holdout 0.2 --seed 42 --json"
)]
pub struct Args {
    /// Training interactions; the models are evaluated on --test.
    #[arg(long, value_name = "FILE", requires = "test")]
    pub train: Option<PathBuf>,

    /// Held-out interactions (same format as --train). Users unseen in training are skipped and
    /// reported; items unseen in training count as relevant but can never be hit.
    #[arg(long, value_name = "FILE", requires = "train")]
    pub test: Option<PathBuf>,

    /// One interaction file to split with --holdout instead of --train/--test.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["train", "test"])]
    pub input: Option<PathBuf>,

    /// With --input: the share of each user's items held out for testing (users with at least 5
    /// distinct items hold out this share, rounded half up, at least 1; others stay in train).
    #[arg(long, value_name = "FRACTION", default_value_t = 0.2, conflicts_with = "train",
          value_parser = input::parse_fraction)]
    pub holdout: f64,

    #[arg(long = "model", value_name = "SPEC", long_help = format!(
        "{}. Repeat to compare several models. Default: all five algorithms at their defaults",
        specs::SPEC_HELP
    ))]
    /// Model spec to evaluate (repeatable; default: all five algorithms).
    pub models: Vec<String>,

    /// Length of the recommendation lists the metrics are computed on.
    #[arg(short = 'k', value_name = "K", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub k: u32,

    /// Print exactly one JSON object on stdout instead of a table (and no progress bars):
    /// {"k":K,"results":[{"model":SPEC,"metrics":{"ndcg@K":…,…},"train_seconds":…,
    /// "eval_seconds":…,"peak_memory_bytes":…,"model_size_bytes":…,"evaluated_users":…}]}.
    #[arg(long)]
    pub json: bool,

    #[arg(long, value_name = "FORMAT", default_value = "auto", value_parser = parse_format,
          help = FORMAT_HELP)]
    /// Input file format.
    pub format: Format,

    /// Seed of the holdout split and of every model's random initialisation and sampling.
    #[arg(long, value_name = "SEED", default_value_t = 42)]
    pub seed: u64,

    /// Refuse to train a model whose dense structures would exceed this size (e.g. EASE's
    /// item × item matrix), e.g. 8GiB, 512MiB, 2GB.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_limit: Option<u64>,

    /// Write each evaluated user's top-K list as `user_id<TAB>rank<TAB>item_id` (rank 1 = best;
    /// the input format of ../shared/eval/eval.py). With several models, one file per model: the
    /// spec (characters other than letters, digits, `-` and `.` replaced by `_`) is inserted
    /// before the extension, e.g. recs.tsv → recs.ials.tsv, recs.ease_lambda_300.tsv.
    #[arg(long, value_name = "FILE")]
    pub write_recs: Option<PathBuf>,

    /// Skip (and count) malformed input lines instead of stopping at the first one.
    #[arg(long)]
    pub skip_bad_lines: bool,
}

/// Training data: id maps and the users × items matrix the models are trained on.
struct TrainData {
    users: IdMap,
    items: IdMap,
    train: InteractionMatrix,
}

/// Runs `encore evaluate`.
pub fn run(args: Args, ui: &Ui) -> anyhow::Result<()> {
    let specs = specs::check_all(&args.models)?;
    let options = ReadOptions { format: args.format, skip_bad_lines: args.skip_bad_lines };
    let data = load(&args, &options, ui)?;
    let k = args.k as usize;
    let recs_paths = args.write_recs.as_ref().map(|base| report::recs_paths(base, &specs));
    let size_dir = tempfile::tempdir().context("cannot create a temporary directory")?;

    let mut results = Vec::with_capacity(specs.len());
    let (mut data, test) = data;
    for (index, checked) in specs.iter().enumerate() {
        let (result, recommendations) =
            evaluate_one(checked, &mut data, &test, k, &args, size_dir.path(), ui)?;
        if let Some(paths) = &recs_paths {
            report::write_recs(&paths[index], &test, &recommendations, &data.users, &data.items)?;
            ui.note(format!("wrote {}", paths[index].display()));
        }
        results.push(result);
    }
    let report = Report { k, results };
    if args.json {
        println!("{}", serde_json::to_string(&report.to_json())?);
    } else {
        print!("{}", report.to_table());
    }
    Ok(())
}

fn load(args: &Args, options: &ReadOptions, ui: &Ui) -> anyhow::Result<(TrainData, TestSet)> {
    if let (Some(train_path), Some(test_path)) = (&args.train, &args.test) {
        let dataset = input::read_dataset(train_path, options, ui)?;
        let test = input::read_test_set(test_path, options, &dataset.users, &dataset.items, ui)?;
        let data = TrainData { users: dataset.users, items: dataset.items, train: dataset.matrix };
        return Ok((data, test));
    }
    let path = args.input.as_ref().expect("clap requires --train/--test or --input");
    let dataset = input::read_dataset(path, options, ui)?;
    let (train, test) = holdout_split(&dataset.matrix, args.holdout, args.seed)
        .with_context(|| format!("cannot split {}", path.display()))?;
    let test = TestSet::from_matrix(&test);
    ui.note(format!(
        "held out {} interactions of {} users (fraction {}, seed {})",
        test.lists.iter().map(|(_, l)| l.len()).sum::<usize>(),
        test.lists.len(),
        args.holdout,
        args.seed
    ));
    if test.lists.is_empty() {
        anyhow::bail!(
            "{}: no user has 5 or more distinct items, so nothing can be held out",
            path.display()
        );
    }
    Ok((TrainData { users: dataset.users, items: dataset.items, train }, test))
}

/// Trains and evaluates one model with the service's measuring step
/// ([`training::fit_and_evaluate`], the holdout step of `encore train` and of training jobs);
/// returns its results and its top-K lists.
fn evaluate_one(
    checked: &CheckedSpec,
    data: &mut TrainData,
    test: &TestSet,
    k: usize,
    args: &Args,
    size_dir: &Path,
    ui: &Ui,
) -> anyhow::Result<(ModelResult, Vec<Vec<u32>>)> {
    let name = checked.spec.text();
    let peak_is_per_model = memory::reset_peak();

    let plan = training::Plan {
        config: &checked.config,
        seed: args.seed,
        memory_limit_bytes: args.memory_limit,
        holdout: None,
    };
    let progress =
        EvaluateProgress { ui, name, train_seconds: Cell::new(0.0), eval_seconds: Cell::new(0.0) };
    let (model, evaluation) = training::fit_and_evaluate(&plan, &data.train, test, k, &progress)
        .with_context(|| format!("training and evaluating {name}"))?;
    let (train_seconds, eval_seconds) = (progress.train_seconds.get(), progress.eval_seconds.get());
    let peak_memory_bytes = memory::peak_bytes();

    let model_size_bytes = saved_size(model, data, &size_dir.join("model.enc"))
        .with_context(|| format!("saving {name} to measure its size"))?;

    ui.note(format!(
        "{name}: ndcg@{k} {:.4}, trained in {train_seconds:.2} s, evaluated in {eval_seconds:.2} s",
        evaluation.metrics.ndcg
    ));
    let result = ModelResult {
        model: name.to_string(),
        metrics: evaluation.metrics,
        train_seconds,
        eval_seconds,
        peak_memory_bytes,
        peak_is_per_model,
        model_size_bytes,
    };
    Ok((result, evaluation.recommendations))
}

/// The terminal's view of one model's fit and evaluation, timing each.
struct EvaluateProgress<'a> {
    ui: &'a Ui,
    name: &'a str,
    train_seconds: Cell<f64>,
    eval_seconds: Cell<f64>,
}

impl training::Progress for EvaluateProgress<'_> {
    fn fit(
        &self,
        _stage: training::Stage,
        run: &mut dyn FnMut(&dyn TrainingObserver) -> encore_service::Result<Model>,
    ) -> encore_service::Result<Model> {
        let bar = EpochBar::new(self.ui, self.name);
        let start = Instant::now();
        let model = run(&bar);
        self.train_seconds.set(start.elapsed().as_secs_f64());
        bar.finish();
        model
    }

    fn evaluate(
        &self,
        users: usize,
        run: &mut dyn FnMut(&(dyn Fn() + Sync)) -> encore_service::Result<Evaluation>,
    ) -> encore_service::Result<Evaluation> {
        let progress = self.ui.counter(users as u64, format!("evaluating {}", self.name), "users");
        let start = Instant::now();
        let evaluation = run(&|| progress.inc(1));
        self.eval_seconds.set(start.elapsed().as_secs_f64());
        progress.finish_and_clear();
        evaluation
    }
}

/// The size of the model file `model` would be saved as. The training data is moved into the
/// artifact (not copied: it can be large) and always moved back, whether saving worked or not.
fn saved_size(model: Model, data: &mut TrainData, path: &Path) -> anyhow::Result<u64> {
    let placeholder = InteractionMatrix::from_triplets(0, 0, &[], &[], &[])?;
    let artifact = ModelArtifact::new(
        model,
        std::mem::take(&mut data.users),
        std::mem::take(&mut data.items),
        std::mem::replace(&mut data.train, placeholder),
        None,
    );
    let saved = artifact.save(path);
    let ModelArtifact { users, items, train, .. } = artifact;
    *data = TrainData { users, items, train };
    Ok(saved?)
}
