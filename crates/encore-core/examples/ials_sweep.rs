//! Hyperparameter sweep for iALS on the shared evaluation splits.
//!
//! ```text
//! cargo run --release -p encore-core --example ials_sweep -- \
//!     [--recs OUT.tsv] [--seeds N] [--epochs] [--train-only] DATA_DIR... -- SPEC...
//! ```
//!
//! Each `DATA_DIR` holds `train.tsv` and `test.tsv` (`user<TAB>item<TAB>weight`, as in
//! `../shared/eval/splits/*`). For every spec and data set, the model is trained on `train.tsv`
//! and every user with a test item gets a full ranking of the training catalogue without their
//! training items; NDCG@10 and P@10 follow `../shared/eval/PROTOCOL.md`. Output is one
//! tab-separated line per (data set, spec) with the median over seeds. `--recs` also writes the
//! top 10 of the last run as `user<TAB>rank<TAB>item` for `eval.py`, to cross-check this harness;
//! `--epochs` prints each epoch's time and loss to stderr; `--train-only` skips the evaluation.

use std::collections::HashMap;
use std::io::Write;
use std::time::Instant;

use encore_core::ids::IdMap;
use encore_core::matrix::InteractionMatrix;
use encore_core::models::{FitOptions, ModelConfig, ModelSpec, Query};
use encore_core::progress::TrainingObserver;
use encore_core::topk::top_n;

struct Split {
    users: IdMap,
    items: IdMap,
    train: InteractionMatrix,
    /// Test items per user row (items unknown to the catalogue are kept as `None` so that they
    /// still count in the ideal DCG, as the protocol says).
    test: Vec<(u32, Vec<Option<u32>>)>,
}

fn read_tsv(path: &str) -> Result<Vec<(String, String, f32)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, line)| {
            let mut f = line.split('\t');
            match (f.next(), f.next(), f.next().map(str::parse::<f32>)) {
                (Some(u), Some(i), Some(Ok(w))) => Ok((u.to_string(), i.to_string(), w)),
                _ => Err(format!("{path}:{}: expected user<TAB>item<TAB>weight", n + 1)),
            }
        })
        .collect()
}

fn load(dir: &str) -> Result<Split, String> {
    let train_rows = read_tsv(&format!("{dir}/train.tsv"))?;
    let (mut users, mut items) = (IdMap::new(), IdMap::new());
    let (mut r, mut c, mut v) = (vec![], vec![], vec![]);
    for (u, i, w) in &train_rows {
        r.push(users.get_or_insert(u));
        c.push(items.get_or_insert(i));
        v.push(*w);
    }
    let train = InteractionMatrix::from_triplets(users.len(), items.len(), &r, &c, &v)
        .map_err(|e| e.to_string())?;
    let mut test: HashMap<u32, Vec<Option<u32>>> = HashMap::new();
    for (u, i, _) in read_tsv(&format!("{dir}/test.tsv"))? {
        // A test user absent from train has no row; the protocol scores such a user 0.
        let row = users.get_or_insert(&u);
        test.entry(row).or_default().push(items.get(&i));
    }
    let mut test: Vec<_> = test.into_iter().collect();
    test.sort_by_key(|(u, _)| *u);
    Ok(Split { users, items, train, test })
}

struct Metrics {
    ndcg: f64,
    precision: f64,
}

fn evaluate(
    split: &Split,
    model: &encore_core::models::Model,
    recs: Option<&mut dyn Write>,
) -> Metrics {
    let rec = model.recommender();
    let mut scores = vec![0f32; rec.n_items()];
    let (mut ndcg, mut precision) = (0.0, 0.0);
    let mut lines = String::new();
    for (u, truth) in &split.test {
        let ideal: f64 = (0..truth.len().min(10)).map(|r| 1.0 / ((r + 2) as f64).log2()).sum();
        if (*u as usize) >= split.train.n_rows() {
            continue;
        }
        let row = split.train.row(*u as usize);
        let q = Query { user: Some(*u), items: row.indices, weights: row.values };
        rec.score(&q, &mut scores);
        let top = top_n(&scores, 10, row.indices);
        let mut dcg = 0.0;
        let mut hits = 0;
        for (rank, s) in top.iter().enumerate() {
            if truth.contains(&Some(s.item)) {
                dcg += 1.0 / ((rank + 2) as f64).log2();
                hits += 1;
            }
            lines.push_str(&format!(
                "{}\t{}\t{}\n",
                split.users.id(*u),
                rank + 1,
                split.items.id(s.item)
            ));
        }
        ndcg += dcg / ideal;
        precision += hits as f64 / 10.0;
    }
    if let Some(w) = recs {
        w.write_all(lines.as_bytes()).expect("write recs");
    }
    let n = split.test.len() as f64;
    Metrics { ndcg: ndcg / n, precision: precision / n }
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
                let model = cfg.fit(&split.train, &opts).map_err(|e| e.to_string())?;
                secs.push(t.elapsed().as_secs_f64());
                let mut file = match (&recs_path, seed + 1 == seeds) {
                    (Some(p), true) => Some(std::fs::File::create(p).map_err(|e| e.to_string())?),
                    _ => None,
                };
                if train_only {
                    continue;
                }
                let m = evaluate(&split, &model, file.as_mut().map(|f| f as &mut dyn Write));
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
