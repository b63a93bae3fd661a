//! `encore tune`: choose a model and its settings for one training file within a time budget
//! (`encore_core::tune`), and print every trial and the pick.
//!
//! Only `--train` is read. The search carves its own validation split from it, so the test file
//! of an evaluation stays unseen; `best.model` is a spec that `encore train --model` and
//! `encore evaluate --model` take as is.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use encore_core::data::{Format, ReadOptions};
use encore_core::models::Algorithm;
use encore_core::tune::{self, MemoryAccounting, Objective, Trial, TuneObserver, TuneOptions};
use indicatif::ProgressBar;

use crate::input::{self, FORMAT_HELP, parse_format};
use crate::progress::Ui;
use crate::size::parse_size;

/// Options of `encore tune`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  encore tune --train train.tsv --budget-seconds 240\n  \
                  encore tune --train plays.csv --models ials,itemknn --max-memory 2GiB --json")]
pub struct Args {
    /// Training interactions (the only file read).
    #[arg(long, value_name = "FILE")]
    pub train: PathBuf,

    #[arg(long, value_name = "FORMAT", default_value = "auto", value_parser = parse_format,
          help = FORMAT_HELP)]
    /// Input file format.
    pub format: Format,

    /// Wall-clock budget of the search in seconds.
    #[arg(long, value_name = "N", default_value_t = 240,
          value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub budget_seconds: u64,

    /// Models to search, comma separated.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_algorithm,
          default_value = "ials,ease,itemknn,bpr,popularity")]
    pub models: Vec<Algorithm>,

    /// Validation metric that picks the model: ndcg@K, precision@K, recall@K, map@K or hr@K.
    #[arg(long, value_name = "METRIC", default_value = "ndcg@10", value_parser = parse_objective)]
    pub metric: Objective,

    /// Only trials that train within this many seconds qualify for the pick.
    #[arg(long, value_name = "S")]
    pub max_train_seconds: Option<f64>,

    /// Only trials whose peak memory stays within this qualify, and models that would exceed it
    /// are not trained (e.g. 2GiB, 512MiB).
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub max_memory: Option<u64>,

    /// Seed of the validation split, the search and every fit.
    #[arg(long, value_name = "SEED", default_value_t = 42)]
    pub seed: u64,

    /// Print one JSON object on stdout ({"best": {"model", "validation", "train_seconds",
    /// "peak_memory_bytes", …}, "trials": […]}) and no progress.
    #[arg(long)]
    pub json: bool,

    /// Skip (and count) malformed input lines instead of stopping at the first one.
    #[arg(long)]
    pub skip_bad_lines: bool,
}

/// Input the search cannot work with (exit code 2).
#[derive(Debug)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

fn parse_algorithm(text: &str) -> Result<Algorithm, String> {
    text.trim().parse::<Algorithm>().map_err(|e| e.to_string())
}

fn parse_objective(text: &str) -> Result<Objective, String> {
    Objective::parse(text).map_err(|e| e.to_string())
}

/// Runs `encore tune`.
pub fn run(args: Args, ui: &Ui) -> anyhow::Result<()> {
    let options = ReadOptions { format: args.format, skip_bad_lines: args.skip_bad_lines };
    let dataset = input::read_dataset(&args.train, &options, ui)?;
    let mut algorithms = args.models.clone();
    algorithms.dedup();
    let tune_options = TuneOptions {
        budget: Duration::from_secs(args.budget_seconds),
        algorithms,
        objective: args.metric,
        max_train_seconds: args.max_train_seconds,
        max_memory_bytes: args.max_memory,
        seed: args.seed,
        max_trials: None,
        memory: MemoryAccounting::ProcessPeak,
    };
    let progress = TrialBar::new(ui, args.budget_seconds);
    let report = tune::tune(&dataset.matrix, &tune_options, &progress)
        .map_err(|e| BadInput(format!("{}: {e}", args.train.display())))?;
    progress.bar.lock().expect("bar").finish_and_clear();
    for note in &report.notes {
        ui.note(note);
    }
    if args.json {
        println!("{}", serde_json::to_string(&report.to_json())?);
        return Ok(());
    }
    print!("{}", table(&report.trials, args.metric, report.best));
    match report.best_trial() {
        Some(best) => println!(
            "pick: {} ({} {:.4} on validation, {} users; {:.0} s searched)",
            best.model,
            args.metric,
            best.score.unwrap_or(0.0),
            report.validation_users,
            report.elapsed_seconds
        ),
        None => println!("pick: none — no trial met the cost limits"),
    }
    Ok(())
}

/// The trial table: one row per trial, the pick marked with `*`.
fn table(trials: &[Trial], metric: Objective, best: Option<usize>) -> String {
    let k = metric.k;
    let mut out = format!(
        "{:>3} {:<70} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>8} {:>9} {:>9} {:>8}\n",
        "#",
        "model",
        format!("ndcg@{k}"),
        format!("prec@{k}"),
        format!("rec@{k}"),
        format!("map@{k}"),
        format!("hr@{k}"),
        format!("cov@{k}"),
        "train s",
        "peak MiB",
        "size MiB",
        "µs/req"
    );
    for (i, t) in trials.iter().enumerate() {
        let mark = if best == Some(i) { "*" } else { " " };
        let metrics = match &t.validation {
            Some(m) => format!(
                "{:>7.4} {:>7.4} {:>7.4} {:>7.4} {:>7.4} {:>7.4}",
                m.ndcg, m.precision, m.recall, m.map, m.hit_rate, m.coverage
            ),
            None => format!("{:>47}", t.note.as_deref().unwrap_or("-")),
        };
        out.push_str(&format!(
            "{:>2}{mark} {:<70} {metrics} {:>8.2} {:>9.1} {:>9.2} {:>8.0}{}\n",
            t.id,
            t.model,
            t.train_seconds,
            t.peak_memory_bytes as f64 / 1048576.0,
            t.model_size_bytes as f64 / 1048576.0,
            t.serving_micros_per_request,
            if t.score.is_some() && !t.meets_limits { "  (over a cost limit)" } else { "" }
        ));
    }
    out
}

/// A bar over the budget's seconds with the trial count and best score so far.
struct TrialBar {
    bar: Mutex<ProgressBar>,
    started: std::time::Instant,
}

impl TrialBar {
    fn new(ui: &Ui, budget: u64) -> Self {
        let bar = ui.counter(budget, "tuning", "s");
        Self { bar: Mutex::new(bar), started: std::time::Instant::now() }
    }
}

impl TuneObserver for TrialBar {
    fn on_trial(&self, _trial: &Trial, done: usize, best: Option<&Trial>) {
        let bar = self.bar.lock().expect("bar");
        bar.set_position(self.started.elapsed().as_secs());
        let best =
            best.map_or("-".to_string(), |b| format!("{:.4} {}", b.score.unwrap_or(0.0), b.model));
        bar.set_message(format!("{done} trials, best {best}"));
    }
}
