//! Hyperparameter sweep over the shared evaluation splits (exact full ranking, NDCG@10).
//!
//! ```text
//! cargo run --release -p encore-core --example models_sweep -- \
//!     ../shared/eval/splits lastfm-2k,ml-100k,ml-latest-small  ease  ease:lambda=100  itemknn
//! ```
//!
//! For every dataset and every spec it trains on `train.tsv`, ranks the whole training catalogue
//! for each user with test items (excluding the user's training items) and prints NDCG@10 and
//! P@10 as defined in `../shared/eval/PROTOCOL.md`. With `--recs DIR` it also writes
//! `DIR/<dataset>__<spec>.tsv` (`user<TAB>rank<TAB>item`) so that the figures can be checked with
//! `python3 ../shared/eval/eval.py test.tsv recs.tsv --train train.tsv`.
//!
//! The parsing here is deliberately minimal (three tab-separated columns, no header): it reads
//! only the protocol's split files. `ENCORE_SEED` overrides the training seed (default 42);
//! `ENCORE_FOLDIN=1` scores every user from the training history alone (`Query::user = None`),
//! which measures the fold-in path that new users and sessions take.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use encore_core::ids::IdMap;
use encore_core::matrix::InteractionMatrix;
use encore_core::models::{FitOptions, ModelConfig, ModelSpec, Query};
use encore_core::topk::top_n;
use rayon::prelude::*;

const K: usize = 10;

struct Split {
    users: IdMap,
    items: IdMap,
    train: InteractionMatrix,
    /// Test items per user id; items unknown to the training catalogue are kept as `None`
    /// (they count in |T| but can never be recommended).
    test: Vec<(String, Vec<Option<u32>>)>,
}

fn read_tsv(path: &Path) -> Result<Vec<(String, String, f32)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            let mut f = l.split('\t');
            match (f.next(), f.next(), f.next().map(str::parse::<f32>)) {
                (Some(u), Some(i), Some(Ok(w))) => Ok((u.to_string(), i.to_string(), w)),
                _ => {
                    Err(format!("{}:{}: expected user<TAB>item<TAB>weight", path.display(), n + 1))
                }
            }
        })
        .collect()
}

fn load(dir: &Path) -> Result<Split, String> {
    let train_rows = read_tsv(&dir.join("train.tsv"))?;
    let (mut users, mut items) = (IdMap::new(), IdMap::new());
    let (mut r, mut c, mut v) = (vec![], vec![], vec![]);
    for (u, i, w) in &train_rows {
        r.push(users.get_or_insert(u));
        c.push(items.get_or_insert(i));
        v.push(*w);
    }
    let train = InteractionMatrix::from_triplets(users.len(), items.len(), &r, &c, &v)
        .map_err(|e| e.to_string())?;
    let mut test: HashMap<String, Vec<Option<u32>>> = HashMap::new();
    for (u, i, _) in read_tsv(&dir.join("test.tsv"))? {
        test.entry(u).or_default().push(items.get(&i));
    }
    let mut test: Vec<_> = test.into_iter().collect();
    test.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Split { users, items, train, test })
}

struct Metrics {
    ndcg: f64,
    precision: f64,
}

fn evaluate(
    split: &Split,
    model: &dyn encore_core::models::Recommender,
    fold_in: bool,
) -> (Metrics, Vec<String>) {
    let per_user: Vec<(f64, f64, String)> = split
        .test
        .par_iter()
        .map_init(
            || vec![0f32; model.n_items()],
            |scores, (uid, truth)| {
                let Some(row) = split.users.get(uid) else {
                    return (0.0, 0.0, String::new());
                };
                let hist = split.train.row(row as usize);
                let user = if fold_in { None } else { Some(row) };
                let q = Query { user, items: hist.indices, weights: hist.values };
                model.score(&q, scores);
                let top = top_n(scores, K, hist.indices);
                let ideal: f64 =
                    (0..K.min(truth.len())).map(|r| 1.0 / ((r + 2) as f64).log2()).sum();
                let mut dcg = 0.0;
                let mut hits = 0usize;
                let mut recs = String::new();
                for (rank, s) in top.iter().enumerate() {
                    if truth.contains(&Some(s.item)) {
                        dcg += 1.0 / ((rank + 2) as f64).log2();
                        hits += 1;
                    }
                    recs.push_str(&format!("{uid}\t{}\t{}\n", rank + 1, split.items.id(s.item)));
                }
                (dcg / ideal, hits as f64 / K as f64, recs)
            },
        )
        .collect();
    let n = per_user.len().max(1) as f64;
    let m = Metrics {
        ndcg: per_user.iter().map(|x| x.0).sum::<f64>() / n,
        precision: per_user.iter().map(|x| x.1).sum::<f64>() / n,
    };
    (m, per_user.into_iter().map(|x| x.2).collect())
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
            let model = match cfg.fit(&split.train, &opts) {
                Ok(m) => m,
                Err(e) => {
                    println!("{dataset}\t{spec_text}\tERROR {e}");
                    continue;
                }
            };
            let train_s = t.elapsed().as_secs_f64();
            let (m, recs) = evaluate(&split, model.recommender(), fold_in);
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
