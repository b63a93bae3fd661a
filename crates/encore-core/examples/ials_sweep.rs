//! Hyperparameter sweep for iALS on the shared evaluation splits.
//!
//! ```text
//! cargo run --release -p encore-core --example ials_sweep -- \
//!     [--recs OUT.tsv] [--seeds N] [--epochs] [--train-only] DATA_DIR... -- SPEC...
//! ```
//!
//! Each `DATA_DIR` holds `train.tsv` and `test.tsv` (`user<TAB>item<TAB>weight`, as in
//! `../shared/eval/splits/*`), read with `encore_core::data`. For every spec and data set, the
//! model is trained on `train.tsv` and measured with `encore_core::eval` (the exact full-ranking
//! protocol of `../shared/eval/PROTOCOL.md` that `encore evaluate` uses: test users unknown to
//! training are skipped); NDCG@10 and P@10 are printed. Output is one
//! tab-separated line per (data set, spec) with the median over seeds. `--recs` also writes the
//! top 10 of the last run as `user<TAB>rank<TAB>item` for `eval.py`, to cross-check this harness;
//! `--epochs` prints each epoch's time and loss to stderr; `--train-only` skips the evaluation.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use encore_core::data::{Dataset, Format, ReadOptions, read_interactions};
use encore_core::eval::{Metrics, TestSet, evaluate_test_set};
use encore_core::models::{FitOptions, ModelConfig, ModelSpec};
use encore_core::progress::TrainingObserver;

/// A shared split: the training data and the test set in its index space.
struct Split {
    train: Dataset,
    test: TestSet,
}

/// Reads `DIR/train.tsv` and `DIR/test.tsv` with the engine's reader and maps the test file into
/// the training index space ([`TestSet::from_pairs`]: test items unknown to training still count
/// in the ideal DCG, as the protocol says).
fn load(dir: &str) -> Result<Split, String> {
    let options = ReadOptions { format: Format::Tsv, skip_bad_lines: false };
    let read = |name: &str| {
        read_interactions(&Path::new(dir).join(name), &options).map_err(|e| e.to_string())
    };
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

/// The protocol's metrics at 10 through the public evaluation API, and the top-10 lists as
/// `user<TAB>rank<TAB>item` lines into `recs`.
fn evaluate(
    split: &Split,
    model: &encore_core::models::Model,
    recs: Option<&mut dyn Write>,
) -> Result<Metrics, String> {
    let evaluation =
        evaluate_test_set(model.recommender(), &split.train.matrix, &split.test, 10, &|| {})
            .map_err(|e| e.to_string())?;
    if let Some(w) = recs {
        let mut lines = String::new();
        for ((user, _), top) in split.test.lists.iter().zip(&evaluation.recommendations) {
            for (rank, &item) in top.iter().enumerate() {
                lines.push_str(&format!(
                    "{}\t{}\t{}\n",
                    split.train.users.id(*user),
                    rank + 1,
                    split.train.items.id(item)
                ));
            }
        }
        w.write_all(lines.as_bytes()).map_err(|e| e.to_string())?;
    }
    Ok(evaluation.metrics)
}

/// Prints each epoch's duration and loss to stderr (`--epochs`).
struct EpochLog(std::sync::Mutex<Instant>);

impl TrainingObserver for EpochLog {
    fn on_epoch(&self, epoch: usize, loss: Option<f64>) {
        let mut last = self.0.lock().expect("not poisoned");
        eprintln!("epoch {epoch}: {:.3} s, loss {loss:?}", last.elapsed().as_secs_f64());
        *last = Instant::now();
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut dirs = vec![];
    let mut specs = vec![];
    let mut recs_path = None;
    let mut seeds = 1u64;
    let mut log_epochs = false;
    let mut train_only = false;
    let mut it = args.iter();
    let mut after_sep = false;
    while let Some(a) = it.next() {
        match a.as_str() {
            "--" => after_sep = true,
            "--epochs" => log_epochs = true,
            "--train-only" => train_only = true,
            "--recs" => recs_path = it.next().cloned(),
            "--seeds" => seeds = it.next().and_then(|s| s.parse().ok()).ok_or("--seeds N")?,
            _ if after_sep => specs.push(a.clone()),
            _ => dirs.push(a.clone()),
        }
    }
    if dirs.is_empty() || specs.is_empty() {
        return Err("usage: ials_sweep [--recs OUT] [--seeds N] DATA_DIR... -- SPEC...".into());
    }
    println!("dataset\tspec\tndcg@10\tp@10\ttrain_s");
    for dir in &dirs {
        let split = load(dir)?;
        let name = dir.trim_end_matches('/').rsplit('/').next().unwrap_or(dir);
        for spec in &specs {
            let cfg = ModelConfig::from_spec(&ModelSpec::parse(spec).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
            let (mut nd, mut pr, mut secs) = (vec![], vec![], vec![]);
            for seed in 0..seeds {
                let t = Instant::now();
                let log = EpochLog(std::sync::Mutex::new(Instant::now()));
                let mut opts = FitOptions { seed: 42 + seed, ..FitOptions::default() };
                if log_epochs {
                    opts.observer = &log;
                }
                let model = cfg.fit(&split.train.matrix, &opts).map_err(|e| e.to_string())?;
                secs.push(t.elapsed().as_secs_f64());
                let mut file = match (&recs_path, seed + 1 == seeds) {
                    (Some(p), true) => Some(std::fs::File::create(p).map_err(|e| e.to_string())?),
                    _ => None,
                };
                if train_only {
                    continue;
                }
                let m = evaluate(&split, &model, file.as_mut().map(|f| f as &mut dyn Write))?;
                nd.push(m.ndcg);
                pr.push(m.precision);
            }
            if train_only {
                println!("{name}\t{spec}\t-\t-\t{:.2}", median(secs));
                continue;
            }
            println!("{name}\t{spec}\t{:.4}\t{:.4}\t{:.2}", median(nd), median(pr), median(secs));
        }
    }
    Ok(())
}
