//! `encore train`: train one model on an interaction file and save it as a model file.
//!
//! With `--holdout` the spec is first trained on a per-user holdout split and evaluated; those
//! metrics are recorded in the model file's header, and the saved model is then trained on ALL
//! the data (the metrics estimate how well this configuration generalises; the saved model
//! should not lose a fifth of the history). The pipeline is the service's
//! ([`encore_service::training`]), the same one a `POST /v1/catalogs/{c}/models` job runs.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use encore_core::data::{Format, ReadOptions};
use encore_core::eval::{Evaluation, Metrics, TestSet};
use encore_core::models::Model;
use encore_core::progress::TrainingObserver;
use encore_service::training::{self, Stage};

use super::specs;
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

    /// Also build the approximate index (IVF) a server uses for requests scored on demand,
    /// whatever the catalogue's size (a server's training jobs build it from 100,000 items), with
    /// the probe count measured to reach this recall@10 on 500 sampled users, e.g. 0.95. It is
    /// stored in the model file.
    #[arg(long, value_name = "RECALL", value_parser = input::parse_fraction)]
    pub index_recall: Option<f64>,
}

/// Runs `encore train`: reads the file, then runs the service's training pipeline
/// ([`encore_service::training::train`], the one the server's training jobs run) and saves the
/// artifact.
pub fn run(args: Args, ui: &Ui) -> anyhow::Result<()> {
    let checked = specs::check(&args.model)?;
    let options = ReadOptions { format: args.format, skip_bad_lines: args.skip_bad_lines };
    let data = input::read_dataset(&args.input, &options, ui)?;

    let plan = training::Plan {
        config: &checked.config,
        seed: args.seed,
        memory_limit_bytes: args.memory_limit,
        holdout: args.holdout.map(|fraction| training::Holdout { fraction, k: args.k as usize }),
    };
    let progress = TrainProgress { ui, name: checked.spec.text(), fraction: args.holdout };
    let trained_on = Some(args.input.display().to_string());
    let mut artifact = training::train(data, &plan, trained_on, &progress)
        .with_context(|| {
            format!("cannot train {} on {}", checked.spec.text(), args.input.display())
        })?
        .artifact;
    if let Some(target) = args.index_recall {
        match training::build_index(&mut artifact, 0, target, args.seed) {
            Some(i) => ui.note(format!(
                "index: {} clusters, {} probed per query, recall@10 {:.3} on {} users ({:.1} s)",
                i.clusters, i.probes, i.recall_at_10, i.sampled_users, i.build_seconds
            )),
            None => ui.note(format!(
                "no index: {} models have no factors to index",
                artifact.header.algorithm
            )),
        }
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
            "index": h.index,
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

/// The terminal's view of the pipeline: an epoch bar per fit, a bar while evaluating, notes.
struct TrainProgress<'a> {
    ui: &'a Ui,
    name: &'a str,
    fraction: Option<f64>,
}

impl training::Progress for TrainProgress<'_> {
    fn fit(
        &self,
        stage: Stage,
        run: &mut dyn FnMut(&dyn TrainingObserver) -> encore_service::Result<Model>,
    ) -> encore_service::Result<Model> {
        let bar = EpochBar::new(self.ui, self.name);
        let start = Instant::now();
        let model = run(&bar);
        bar.finish();
        let what = match stage {
            Stage::Measure => "on the holdout split",
            Stage::Final => "on all data",
        };
        let model = model?;
        self.ui.note(format!(
            "trained {} {what} in {:.2} s",
            self.name,
            start.elapsed().as_secs_f64()
        ));
        Ok(model)
    }

    fn holdout_made(&self, test: &TestSet) -> encore_service::Result<()> {
        if test.lists.is_empty() {
            return Err(encore_service::Error::Unprocessable(
                "no user has 5 or more distinct items, so nothing can be held out".into(),
            ));
        }
        Ok(())
    }

    fn evaluate(
        &self,
        users: usize,
        run: &mut dyn FnMut(&(dyn Fn() + Sync)) -> encore_service::Result<Evaluation>,
    ) -> encore_service::Result<Evaluation> {
        let progress = self.ui.counter(users as u64, "evaluating", "users");
        let evaluation = run(&|| progress.inc(1));
        progress.finish_and_clear();
        evaluation
    }

    fn evaluated(&self, m: &Metrics) -> encore_service::Result<()> {
        let k = m.k;
        self.ui.note(format!(
            "holdout {}: ndcg@{k} {:.4}, precision@{k} {:.4}, recall@{k} {:.4} over {} users",
            self.fraction.unwrap_or_default(),
            m.ndcg,
            m.precision,
            m.recall,
            m.users
        ));
        Ok(())
    }
}
