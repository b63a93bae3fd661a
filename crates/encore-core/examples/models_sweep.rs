//! Hyperparameter sweep over the shared evaluation splits (exact full ranking, NDCG@10).
//!
//! ```text
//! cargo run --release -p encore-core --example models_sweep -- \
//!     ../shared/eval/splits lastfm-2k,ml-100k,ml-latest-small  ease  ease:lambda=100  itemknn
//! ```
//!
//! For every dataset and every spec it trains on `train.tsv` and measures the model with
//! `encore_core::eval` — the exact full-ranking protocol of `../shared/eval/PROTOCOL.md` that
//! `encore evaluate` uses (test users unknown to training are skipped) — and prints NDCG@10 and
//! P@10. With `--recs DIR` it also writes
//! `DIR/<dataset>__<spec>.tsv` (`user<TAB>rank<TAB>item`) so that the figures can be checked with
//! `python3 ../shared/eval/eval.py test.tsv recs.tsv --train train.tsv`.
//!
//! The split files are read with `encore_core::data` as TSV. `ENCORE_SEED` overrides the training seed (default 42);
//! `ENCORE_FOLDIN=1` scores every user from the training history alone (`Query::user = None`),
//! which measures the fold-in path that new users and sessions take.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use encore_core::data::{Dataset, Format, ReadOptions, read_interactions};
use encore_core::eval::{Metrics, TestSet, evaluate_test_set};
use encore_core::models::{Contribution, FitOptions, ModelConfig, ModelSpec, Query, Recommender};
use encore_core::topk::ScoredItem;

const K: usize = 10;

/// A shared split: the training data and the test set in its index space.
struct Split {
    train: Dataset,
    test: TestSet,
}

/// Reads `DIR/train.tsv` and `DIR/test.tsv` with the engine's reader and maps the test file into
/// the training index space (test items unknown to training count in |T| but can never be
/// recommended; see [`TestSet::from_pairs`]).
fn load(dir: &Path) -> Result<Split, String> {
    let options = ReadOptions { format: Format::Tsv, skip_bad_lines: false };
    let read = |name: &str| read_interactions(&dir.join(name), &options).map_err(|e| e.to_string());
    let train = read("train.tsv")?.into_dataset().map_err(|e| e.to_string())?;
    let test = read("test.tsv")?;
    let pairs = test
        .user_idx
        .iter()
        .zip(&test.item_idx)
        .map(|(&u, &i)| (test.users.id(u), test.items.id(i)));
    let test = TestSet::from_pairs(&train.users, &train.items, pairs);
    Ok(Split { train, test })
}

/// A model scored from the training history alone (`Query::user = None`): the fold-in path that
/// new users and sessions take (`ENCORE_FOLDIN=1`).
struct FoldIn<'a>(&'a dyn Recommender);

impl Recommender for FoldIn<'_> {
    fn n_items(&self) -> usize {
        self.0.n_items()
    }
    fn score(&self, query: &Query<'_>, out: &mut [f32]) {
        self.0.score(&Query { user: None, ..*query }, out);
    }
    fn explain(&self, query: &Query<'_>, item: u32) -> Vec<Contribution> {
        self.0.explain(&Query { user: None, ..*query }, item)
    }
    fn similar_items_where(
        &self,
        item: u32,
        n: usize,
        keep: &dyn Fn(u32) -> bool,
    ) -> Vec<ScoredItem> {
        self.0.similar_items_where(item, n, keep)
    }
}

/// The protocol's metrics at K through the public evaluation API, with each evaluated user's
/// top-K as `user<TAB>rank<TAB>item` lines.
fn evaluate(
    split: &Split,
    model: &dyn Recommender,
    fold_in: bool,
) -> Result<(Metrics, Vec<String>), String> {
    let fold = FoldIn(model);
    let model: &dyn Recommender = if fold_in { &fold } else { model };
    let evaluation = evaluate_test_set(model, &split.train.matrix, &split.test, K, &|| {})
        .map_err(|e| e.to_string())?;
    let recs = split
        .test
        .lists
        .iter()
        .zip(&evaluation.recommendations)
        .map(|((user, _), top)| {
            let uid = split.train.users.id(*user);
            top.iter()
                .enumerate()
                .map(|(rank, &item)| {
                    format!("{uid}\t{}\t{}\n", rank + 1, split.train.items.id(item))
                })
                .collect()
        })
        .collect();
    Ok((evaluation.metrics, recs))
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut recs_dir: Option<PathBuf> = None;
    if let Some(p) = args.iter().position(|a| a == "--recs") {
        recs_dir = args.get(p + 1).map(PathBuf::from);
        args.drain(p..(p + 2).min(args.len()));
    }
    if args.len() < 3 {
        eprintln!("usage: models_sweep SPLITS_DIR DATASET[,DATASET…] SPEC… [--recs DIR]");
        std::process::exit(2);
    }
    let seed = std::env::var("ENCORE_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(42);
    let fold_in = std::env::var("ENCORE_FOLDIN").is_ok_and(|v| v == "1");
    let root = PathBuf::from(&args[0]);
    for dataset in args[1].split(',') {
        let split = match load(&root.join(dataset)) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{dataset}: {e}");
                std::process::exit(1);
            }
        };
        for spec_text in &args[2..] {
            let cfg = match ModelSpec::parse(spec_text).and_then(|s| ModelConfig::from_spec(&s)) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    std::process::exit(2);
                }
            };
            let opts = FitOptions { seed, ..FitOptions::default() };
            let t = Instant::now();
            let model = match cfg.fit(&split.train.matrix, &opts) {
                Ok(m) => m,
                Err(e) => {
                    println!("{dataset}\t{spec_text}\tERROR {e}");
                    continue;
                }
            };
            let train_s = t.elapsed().as_secs_f64();
            let (m, recs) = match evaluate(&split, model.recommender(), fold_in) {
                Ok(result) => result,
                Err(e) => {
                    println!("{dataset}\t{spec_text}\tERROR {e}");
                    continue;
                }
            };
            println!(
                "{dataset}\t{spec_text}\tndcg@10={:.4}\tp@10={:.4}\ttrain_s={train_s:.2}",
                m.ndcg, m.precision
            );
            if let Some(dir) = &recs_dir {
                let path =
                    dir.join(format!("{dataset}__{}.tsv", spec_text.replace([':', ','], "_")));
                let mut f = std::fs::File::create(&path).expect("create recs file");
                for r in recs {
                    f.write_all(r.as_bytes()).expect("write recs");
                }
            }
        }
    }
}
