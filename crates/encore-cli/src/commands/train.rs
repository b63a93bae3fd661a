//! `encore train`: train one model on an interaction file and save it as a model file.
//!
//! With `--holdout` the spec is first trained on a per-user holdout split and evaluated; those
//! metrics are recorded in the model file's header, and the saved model is then trained on ALL
//! the data (the metrics estimate how well this configuration generalises; the saved model
//! should not lose a fifth of the history).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use encore_core::data::{Format, ReadOptions};
use encore_core::eval::{TestSet, evaluate_test_set, holdout_split};
use encore_core::matrix::InteractionMatrix;
use encore_core::model_file::ModelArtifact;
use encore_core::models::{FitOptions, Model};

use super::specs::{self, CheckedSpec};
use crate::input::{self, FORMAT_HELP, parse_format};
use crate::progress::{EpochBar, Ui};
use crate::size::{format_bytes, parse_size};

/// Options of `encore train`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  encore train --input plays.tsv --model ials:factors=128 \
                        --output plays.enc --holdout 0.2")]
pub struct Args {
    /// The interaction file to train on.
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,

    #[arg(long, value_name = "FORMAT", default_value = "auto", value_parser = parse_format,
          help = FORMAT_HELP)]
    /// Input file format.
    pub format: Format,

    #[arg(long = "model", value_name = "SPEC", default_value = "ials", help = specs::SPEC_HELP)]
    /// The model to train.
    pub model: String,

    /// Where to write the model file (written atomically: a temporary file renamed into place).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: PathBuf,

    /// Also evaluate the spec on a per-user holdout of this share of each user's items and
    /// record the metrics in the model file's header; the saved model is trained on all data.
    #[arg(long, value_name = "FRACTION", value_parser = input::parse_fraction)]
    pub holdout: Option<f64>,

    /// Cut-off K of the metrics recorded with --holdout.
    #[arg(short = 'k', value_name = "K", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub k: u32,

    /// Seed of the holdout split and of the model's random initialisation and sampling.
    #[arg(long, value_name = "SEED", default_value_t = 42)]
    pub seed: u64,

    /// Refuse to train when the model's dense structures would exceed this size, e.g. 8GiB.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_limit: Option<u64>,

    /// Skip (and count) malformed input lines instead of stopping at the first one.
    #[arg(long)]
    pub skip_bad_lines: bool,

    /// Print a JSON summary (path, algorithm, sizes, metrics) on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `encore train`.
pub fn run(args: Args, ui: &Ui) -> anyhow::Result<()> {
    let checked = specs::check(&args.model)?;
    let options = ReadOptions { format: args.format, skip_bad_lines: args.skip_bad_lines };
    let data = input::read_dataset(&args.input, &options, ui)?;

    let mut metrics = None;
    if let Some(fraction) = args.holdout {
        let (train, test) = holdout_split(&data.matrix, fraction, args.seed)
            .with_context(|| format!("cannot split {}", args.input.display()))?;
        let test = TestSet::from_matrix(&test);
        if test.lists.is_empty() {
            anyhow::bail!("no user has 5 or more distinct items, so nothing can be held out");
        }
        let model = fit(&checked, &train, &args, ui, "on the holdout split")?;
        let k = args.k as usize;
        let progress = ui.counter(test.lists.len() as u64, "evaluating", "users");
        let evaluation =
            evaluate_test_set(model.recommender(), &train, &test, k, &|| progress.inc(1))?;
        progress.finish_and_clear();
        ui.note(format!(
            "holdout {fraction}: ndcg@{k} {:.4}, precision@{k} {:.4}, recall@{k} {:.4} over {} users",
            evaluation.metrics.ndcg,
            evaluation.metrics.precision,
            evaluation.metrics.recall,
            evaluation.metrics.users
        ));
        metrics = Some(evaluation.metrics);
    }

    let model = fit(&checked, &data.matrix, &args, ui, "on all data")?;
    let mut artifact = ModelArtifact::new(
        model,
        data.users,
        data.items,
        data.matrix,
        Some(args.input.display().to_string()),
    );
    if let Some(m) = &metrics {
        artifact.header.metrics = m.named().into_iter().collect();
    }
    let bytes = artifact
        .save(&args.output)
        .with_context(|| format!("cannot write the model file {}", args.output.display()))?;
    let h = &artifact.header;
    if args.json {
        let summary = serde_json::json!({
            "output": args.output.display().to_string(),
            "model": checked.spec.text(),
            "algorithm": h.algorithm,
            "params": h.params,
            "users": h.n_users,
            "items": h.n_items,
            "interactions": h.nnz,
            "model_size_bytes": bytes,
            "metrics": h.metrics,
        });
        println!("{summary}");
    } else {
        println!(
            "wrote {} ({}): {} on {} users, {} items, {} interactions",
            args.output.display(),
            format_bytes(bytes),
            checked.spec.text(),
            h.n_users,
            h.n_items,
            h.nnz
        );
    }
    Ok(())
}

fn fit(
    checked: &CheckedSpec,
    matrix: &InteractionMatrix,
    args: &Args,
    ui: &Ui,
    what: &str,
) -> anyhow::Result<Model> {
    let name = checked.spec.text();
    let bar = EpochBar::new(ui, name);
    let options =
        FitOptions { seed: args.seed, observer: &bar, memory_limit_bytes: args.memory_limit };
    let start = Instant::now();
    let model = checked.config.fit(matrix, &options);
    bar.finish();
    let model = model.with_context(|| format!("training {name}"))?;
    ui.note(format!("trained {name} {what} in {:.2} s", start.elapsed().as_secs_f64()));
    Ok(model)
}
