//! Recall@10 and queries/s of two HNSW crates against exact search on a model's item factors,
//! with each user's training items excluded (the serving case).
//!
//! Inner product is turned into cosine with one extra dimension (Bachrach et al. 2014): items
//! become `[y/M, sqrt(1 - ‖y‖²/M²)]` with `M = max ‖y‖`, queries `[x/‖x‖, 0]`, so the nearest
//! items by cosine are the best by `xᵀy`. Both indexes use M = 16 links per node and
//! efConstruction = 200; queries run on one thread.

use std::time::Instant;

use anndists::dist::DistDot;
use encore_core::batch::{BatchQuery, top_n_batch};
use encore_core::model_file::ModelArtifact;
use encore_core::models::Query;
use hnsw_rs::prelude::*;

const N: usize = 10;

#[derive(Clone)]
struct Unit(Vec<f32>);

impl instant_distance::Point for Unit {
    fn distance(&self, other: &Self) -> f32 {
        1.0 - self.0.iter().zip(&other.0).map(|(a, b)| a * b).sum::<f32>()
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let model = ModelArtifact::load(std::path::Path::new(&args[0])).expect("a model file");
    let sample: usize = args.get(1).map_or(1000, |a| a.parse().unwrap());
    let rec = model.recommender();
    let f = rec.factor_scoring().expect("a factor model (ials or bpr)");
    let (k, n_items) = (f.k, f.n_items());
    let users = model.train.n_rows();
    println!("{n_items} items × {k} factors, {users} users, {sample} sampled, top {N}");

    // Sampled users (a fixed stride), their vectors and seen items.
    let picked: Vec<usize> = (0..sample).map(|i| (i * 7919) % users).collect();
    let rows: Vec<_> = picked.iter().map(|&u| model.train.row(u)).collect();
    let queries: Vec<BatchQuery<'_>> = picked
        .iter()
        .zip(&rows)
        .map(|(&u, r)| BatchQuery {
            query: Query { user: Some(u as u32), items: r.indices, weights: r.values },
            exclude: r.indices,
        })
        .collect();
    let t = Instant::now();
    let exact = top_n_batch(rec, &queries, N, &|_| true);
    println!("exact (blocked kernel): {:.0} queries/s", sample as f64 / t.elapsed().as_secs_f64());

    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let max_norm = (0..n_items).map(|i| norm(&f.items[i * k..(i + 1) * k])).fold(0.0, f32::max);
    let items: Vec<Vec<f32>> = (0..n_items)
        .map(|i| {
            let y = &f.items[i * k..(i + 1) * k];
            let mut v: Vec<f32> = y.iter().map(|x| x / max_norm).collect();
            v.push((1.0 - (norm(y) / max_norm).powi(2)).max(0.0).sqrt());
            v
        })
        .collect();
    let qs: Vec<Vec<f32>> = queries
        .iter()
        .map(|q| {
            let x = rec.query_vector(&q.query).unwrap();
            let nx = norm(&x).max(f32::MIN_POSITIVE);
            let mut v: Vec<f32> = x.iter().map(|a| a / nx).collect();
            v.push(0.0);
            v
        })
        .collect();
    let recall = |got: &[Vec<u32>]| {
        let hits: usize = got
            .iter()
            .zip(&exact)
            .map(|(g, e)| g.iter().filter(|i| e.iter().any(|s| s.item == **i)).count())
            .sum();
        hits as f64 / (exact.iter().map(Vec::len).sum::<usize>()).max(1) as f64
    };

    // hnsw_rs: the filter runs during the search.
    let t = Instant::now();
    let layers = 16.min((n_items as f32).ln().trunc() as usize);
    let hnsw = Hnsw::<f32, DistDot>::new(16, n_items, layers, 200, DistDot {});
    let data: Vec<(&Vec<f32>, usize)> = items.iter().zip(0..).collect();
    hnsw.parallel_insert(&data);
    println!("hnsw_rs: built in {:.1} s (2 threads)", t.elapsed().as_secs_f64());
    for ef in [32, 64, 128, 256] {
        let t = Instant::now();
        let got: Vec<Vec<u32>> = qs
            .iter()
            .zip(&queries)
            .map(|(q, bq)| {
                let keep = |id: &usize| bq.exclude.binary_search(&(*id as u32)).is_err();
                hnsw.search_filter(q, N, ef, Some(&keep)).iter().map(|nb| nb.d_id as u32).collect()
            })
            .collect();
        let qps = sample as f64 / t.elapsed().as_secs_f64();
        println!("  hnsw_rs ef={ef:<4} recall@{N} {:.4}  {qps:>8.0} queries/s", recall(&got));
    }

    // instant-distance: no filter; seen items are skipped in the ranked output.
    for ef in [64, 256] {
        let t = Instant::now();
        let points: Vec<Unit> = items.iter().cloned().map(Unit).collect();
        let values: Vec<u32> = (0..n_items as u32).collect();
        let map = instant_distance::Builder::default()
            .ef_construction(200)
            .ef_search(ef)
            .build(points, values);
        let built = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let got: Vec<Vec<u32>> = qs
            .iter()
            .zip(&queries)
            .map(|(q, bq)| {
                let mut search = instant_distance::Search::default();
                map.search(&Unit(q.clone()), &mut search)
                    .map(|item| *item.value)
                    .filter(|i| bq.exclude.binary_search(i).is_err())
                    .take(N)
                    .collect()
            })
            .collect();
        let qps = sample as f64 / t.elapsed().as_secs_f64();
        println!(
            "  instant-distance ef={ef:<4} built in {built:.1} s: recall@{N} {:.4}  {qps:>8.0} queries/s",
            recall(&got)
        );
    }
}
