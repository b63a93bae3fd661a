//! `encore export-edge`: a compact edge model file for on-device scoring (the `encore-edge`
//! crate and its C interface), and optionally what its precision costs in NDCG.
//!
//! The file holds item ids, the item side of the model, what fold-in needs, the popularity
//! fallback and optional item kinds/availability — no user data (`docs/EDGE.md`). With
//! `--evaluate-test` the command opens the written file with `encore-edge`, scores each test
//! user's *training history* through it, and computes the protocol's metrics with
//! `encore_core::eval::metrics_from_lists`, next to the same metrics for the model file (with its
//! stored user factors, and with fold-in from the history as the edge does).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use encore_core::data::ReadOptions;
use encore_core::edge_export::{
    DEFAULT_EASE_NEIGHBOURS, DEFAULT_FALLBACK_ITEMS, EdgeItemMeta, EdgeOptions, EdgePrecision,
    save_edge,
};
use encore_core::eval::{Metrics, TestSet, evaluate_test_set, metrics_from_lists};
use encore_core::matrix::InteractionMatrix;
use encore_core::model_file::ModelArtifact;
use encore_core::models::Query;
use encore_core::topk::top_n_filtered;
use encore_store::item_files::{ItemFormat, read_item_file};
use rayon::prelude::*;
use serde_json::json;

use super::query;
use crate::input;
use crate::progress::Ui;
use crate::size::format_bytes;

/// Options of `encore export-edge`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  encore export-edge --model plays.enc --output plays.edge\n  \
                  encore export-edge --model plays.enc --output plays.edge --precision f16 \
                  --items items.csv --evaluate-test test.tsv")]
pub struct Args {
    /// The model file (from `encore train`).
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,

    /// Where to write the edge model file (atomically).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: PathBuf,

    /// Precision of the factors and neighbour weights: f32 (the server's ranking), f16 (half the
    /// size) or int8 (a quarter, one scale per row).
    #[arg(long, value_name = "PRECISION", default_value = "int8", value_parser = parse_precision)]
    pub precision: EdgePrecision,

    /// Item metadata (the formats of `encore import-items`): kinds and availability go into the
    /// file, and unavailable items are never recommended on the device.
    #[arg(long, value_name = "FILE")]
    pub items: Option<PathBuf>,

    /// Format of --items: auto, lastfm-artists, ml-100k-items, ml-movies or csv.
    #[arg(long, value_name = "FORMAT", default_value = "auto", value_parser = parse_item_format)]
    pub items_format: ItemFormat,

    /// EASE only: weights kept per item, the largest in magnitude (exact when at least the
    /// number of items minus one).
    #[arg(long, value_name = "K", default_value_t = DEFAULT_EASE_NEIGHBOURS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub ease_neighbours: usize,

    /// Length of the popularity fallback (for histories with no known item).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_FALLBACK_ITEMS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000_000))]
    pub fallback_items: usize,

    /// A test file of the model's training data (e.g. the shared splits' test.tsv): report
    /// NDCG and the other metrics at -k of the model file and of the edge file.
    #[arg(long, value_name = "FILE")]
    pub evaluate_test: Option<PathBuf>,

    /// Cut-off K of --evaluate-test.
    #[arg(short = 'k', value_name = "K", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub k: u32,

    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

fn parse_precision(text: &str) -> Result<EdgePrecision, String> {
    text.parse::<EdgePrecision>().map_err(|e| e.to_string())
}

fn parse_item_format(text: &str) -> Result<ItemFormat, String> {
    text.parse::<ItemFormat>().map_err(|e| e.to_string())
}

/// Runs `encore export-edge`.
pub fn run(args: Args, ui: &Ui) -> anyhow::Result<()> {
    let artifact = query::load(&args.model)?;
    let model_bytes = std::fs::metadata(&args.model)
        .with_context(|| format!("cannot stat {}", args.model.display()))?
        .len();
    let items = match &args.items {
        Some(path) => Some(item_metadata(path, args.items_format, &artifact, ui)?),
        None => None,
    };
    let opts = EdgeOptions {
        precision: args.precision,
        ease_neighbours: args.ease_neighbours,
        fallback_items: args.fallback_items,
        items,
    };
    let start = Instant::now();
    let bytes = save_edge(&artifact, &opts, &args.output).with_context(|| {
        format!("cannot export {} to {}", args.model.display(), args.output.display())
    })?;
    let seconds = start.elapsed().as_secs_f64();
    let ratio = bytes as f64 / model_bytes.max(1) as f64;

    let evaluation = match &args.evaluate_test {
        Some(test) => Some(evaluate(&artifact, &args.output, test, args.k as usize, ui)?),
        None => None,
    };
    if args.json {
        let mut out = json!({
            "model": args.model,
            "output": args.output,
            "algorithm": artifact.header.algorithm.name(),
            "precision": args.precision.name(),
            "items": artifact.items.len(),
            "bytes": bytes,
            "model_bytes": model_bytes,
            "ratio": ratio,
            "seconds": seconds,
        });
        if let Some(e) = &evaluation {
            out["evaluation"] = e.json();
        }
        println!("{out}");
    } else {
        println!(
            "wrote {} ({} {}, {} items): {}, {:.1} % of the model file ({}), in {:.2} s",
            args.output.display(),
            artifact.header.algorithm,
            args.precision.name(),
            artifact.items.len(),
            format_bytes(bytes),
            100.0 * ratio,
            format_bytes(model_bytes),
            seconds
        );
        if let Some(e) = &evaluation {
            e.print();
        }
    }
    Ok(())
}

/// Kinds and availability by item id from a metadata file; warns about items it does not cover.
fn item_metadata(
    path: &Path,
    format: ItemFormat,
    artifact: &ModelArtifact,
    ui: &Ui,
) -> anyhow::Result<BTreeMap<String, EdgeItemMeta>> {
    let rows = read_item_file(path, format)
        .with_context(|| format!("cannot read item metadata from {}", path.display()))?;
    let meta: BTreeMap<String, EdgeItemMeta> = rows
        .into_iter()
        .map(|r| (r.item_id, EdgeItemMeta { kind: r.kind, available: r.available }))
        .collect();
    let missing = artifact.items.iter().filter(|id| !meta.contains_key(*id)).count();
    if missing > 0 {
        ui.note(format!(
            "{missing} of the model's {} items have no metadata in {}: no kind, available",
            artifact.items.len(),
            path.display()
        ));
    }
    Ok(meta)
}

/// Metrics of the model file and of the edge file on one test set.
struct Evaluation {
    k: usize,
    model: Metrics,
    model_fold_in: Metrics,
    edge: Metrics,
    edge_seconds: f64,
}

impl Evaluation {
    fn relative(&self, base: &Metrics) -> f64 {
        if base.ndcg > 0.0 { self.edge.ndcg / base.ndcg - 1.0 } else { 0.0 }
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "k": self.k,
            "users": self.edge.users,
            "model_ndcg": self.model.ndcg,
            "model_fold_in_ndcg": self.model_fold_in.ndcg,
            "edge_ndcg": self.edge.ndcg,
            "edge_vs_model": self.relative(&self.model),
            "edge_vs_model_fold_in": self.relative(&self.model_fold_in),
            "edge_recall": self.edge.recall,
            "model_recall": self.model.recall,
            "edge_seconds": self.edge_seconds,
        })
    }

    fn print(&self) {
        let k = self.k;
        println!(
            "NDCG@{k} over {} test users: model file {:.4} (stored user factors), {:.4} (fold-in \
             from the history); edge file {:.4} ({:+.2} % vs the model file, {:+.2} % vs its \
             fold-in), scored in {:.2} s",
            self.edge.users,
            self.model.ndcg,
            self.model_fold_in.ndcg,
            self.edge.ndcg,
            100.0 * self.relative(&self.model),
            100.0 * self.relative(&self.model_fold_in),
            self.edge_seconds
        );
    }
}

/// Ranks every test user by `score` (the whole catalogue, the user's training items excluded,
/// only items with a training interaction, as `encore_core::eval::rank_users` does) and computes
/// the protocol's metrics with `metrics_from_lists`.
fn metrics_of<S, F>(
    train: &InteractionMatrix,
    test: &TestSet,
    k: usize,
    init: impl Fn() -> S + Sync + Send,
    score: F,
) -> Metrics
where
    F: Fn(&mut S, &[u32], &[f32], &mut [f32]) + Sync + Send,
{
    let n = train.n_cols();
    let counts = train.col_counts();
    let in_catalogue: Vec<bool> = counts.iter().map(|&c| c > 0).collect();
    let catalogue = in_catalogue.iter().filter(|&&c| c).count();
    let lists: Vec<(u32, Vec<u32>)> = test
        .lists
        .par_iter()
        .map_init(
            || (init(), vec![0f32; n]),
            |(state, scores), (user, _)| {
                let row = train.row(*user as usize);
                score(state, row.indices, row.values, scores);
                let top = top_n_filtered(scores, k, row.indices, |i| in_catalogue[i as usize]);
                (*user, top.into_iter().map(|s| s.item).collect())
            },
        )
        .collect();
    let by_user: HashMap<u32, &[u32]> = lists.iter().map(|(u, l)| (*u, l.as_slice())).collect();
    metrics_from_lists(&test.lists, |u| by_user.get(&u).copied().unwrap_or(&[]), k, catalogue)
}

fn evaluate(
    artifact: &ModelArtifact,
    edge_path: &Path,
    test_path: &Path,
    k: usize,
    ui: &Ui,
) -> anyhow::Result<Evaluation> {
    let options = ReadOptions::default();
    let test = input::read_test_set(test_path, &options, &artifact.users, &artifact.items, ui)?;
    let train = &artifact.train;
    let model = artifact.recommender();
    let stored = evaluate_test_set(model, train, &test, k, &|| {})
        .context("cannot evaluate the model file")?
        .metrics;
    let model_fold_in = metrics_of(
        train,
        &test,
        k,
        || (),
        |_, items, weights, out| model.score(&Query::from_history(items, weights), out),
    );
    let edge = encore_edge::EdgeModel::open(edge_path)
        .with_context(|| format!("cannot open the edge file {}", edge_path.display()))?;
    if edge.n_items() != train.n_cols() {
        anyhow::bail!(
            "the edge file has {} items, the model file {}",
            edge.n_items(),
            train.n_cols()
        );
    }
    let start = Instant::now();
    let edge_metrics = metrics_of(
        train,
        &test,
        k,
        || edge.new_scratch(),
        |scratch, items, weights, out| edge.score_all(scratch, items, Some(weights), out),
    );
    Ok(Evaluation {
        k,
        model: stored,
        model_fold_in,
        edge: edge_metrics,
        edge_seconds: start.elapsed().as_secs_f64(),
    })
}
