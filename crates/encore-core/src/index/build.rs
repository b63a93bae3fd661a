//! Building an [`IvfIndex`]: spherical k-means over the augmented item vectors, then the probe
//! count measured against exact search.
//!
//! # The augmentation
//!
//! Inner products rank items, but k-means groups by angle. Appending to each item vector
//! `y_i` (with its bias `b_i` as one more coordinate, for models that have one) the coordinate
//! `sqrt(M² − ‖y_i‖² − b_i²)`, where `M` is the largest such norm, gives every item the norm `M`;
//! a query `[v, 1, 0]` then has `qᵀx_i = vᵀy_i + b_i`, the model's score, and ranking by angle to
//! the augmented items is ranking by score (Bachrach et al., *Speeding up the Xbox recommender
//! system using a Euclidean transformation for inner-product spaces*, RecSys 2014). Spherical
//! k-means on these unit vectors puts an item in the cluster whose centroid direction it scores
//! best against; a query probes the clusters whose centroids it scores best against.
//!
//! # Determinism
//!
//! The seed picks the training sample and the initial centroids; assignments are computed per
//! tile of items (in parallel, but each tile's product has a fixed shape, so the same bits on any
//! number of threads) and centroids summed sequentially in item order. Equal inputs and seed give
//! the same index.

use std::borrow::Cow;
use std::time::Instant;

use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

use super::{IndexInfo, IvfIndex};
use crate::batch::{BatchQuery, FactorScoring, top_n_batch};
use crate::buffer::Buffer;
use crate::matrix::InteractionMatrix;
use crate::models::{Query, Recommender};
use crate::topk::ScoredItem;

/// How to build an index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IndexConfig {
    /// Number of clusters; `None`: `√items` (each probe then scans about `√items` items).
    pub clusters: Option<usize>,
    /// Recall@10 the probe count must reach on the sampled users.
    pub target_recall: f64,
    /// Users the recall is measured on (all of them when there are fewer).
    pub sampled_users: usize,
    /// Seed of the sample and of the clustering.
    pub seed: u64,
    /// Rounds of k-means.
    pub iterations: usize,
}

impl Default for IndexConfig {
    fn default() -> Self {
        Self { clusters: None, target_recall: 0.95, sampled_users: 500, seed: 42, iterations: 10 }
    }
}

/// Items k-means is trained on per cluster: more changes the centroids little and costs time
/// (Faiss's default bound is the same).
const TRAINING_POINTS_PER_CLUSTER: usize = 256;

/// Items per assignment product: 1,024 items × 1,000 centroids of scores is 4 MB.
const ASSIGN_TILE: usize = 1024;

/// The recall cut-off the probe count is chosen for.
const RECALL_AT: usize = 10;

/// Builds the index of `rec`'s items and measures it on users of `train` (their training rows
/// excluded, as when serving); `None` for a model without factors or items.
pub fn build(
    rec: &dyn Recommender,
    train: &InteractionMatrix,
    cfg: &IndexConfig,
) -> Option<IvfIndex> {
    let started = Instant::now();
    let f = rec.factor_scoring()?;
    let n_items = f.n_items();
    if n_items == 0 {
        return None;
    }
    let rows = sample_rows(train.n_rows(), cfg.sampled_users, cfg.seed);
    let queries: Vec<BatchQuery<'_>> = rows
        .iter()
        .map(|&u| {
            let r = train.row(u as usize);
            BatchQuery {
                query: Query { user: Some(u), items: r.indices, weights: r.values },
                exclude: r.indices,
            }
        })
        .collect();
    let exact = top_n_batch(rec, &queries, RECALL_AT, &|_| true);
    let vectors: Vec<Cow<'_, [f32]>> = queries
        .iter()
        .map(|q| rec.query_vector(&q.query).expect("factor models give query vectors"))
        .collect();
    let vectors: Vec<&[f32]> = vectors.iter().map(|v| &**v).collect();
    let clusters = cfg.clusters.unwrap_or_else(|| default_clusters(n_items));
    let mut index = IvfIndex::train(f, clusters, cfg.seed, cfg.iterations);
    let excluded: Vec<&[u32]> = queries.iter().map(|q| q.exclude).collect();
    index.calibrate(&vectors, &excluded, &exact, cfg.target_recall);
    index.info.seed = cfg.seed;
    index.info.build_seconds = started.elapsed().as_secs_f64();
    Some(index)
}

/// `√n` clusters, at least one, at most `n`.
fn default_clusters(n: usize) -> usize {
    ((n as f64).sqrt().round() as usize).clamp(1, n.max(1))
}

/// `want` distinct rows of `n` drawn with `seed`, ascending (every row when `want ≥ n`): the
/// users an index's recall is measured on.
pub fn sample_rows(n: usize, want: usize, seed: u64) -> Vec<u32> {
    let mut rows: Vec<u32> = (0..n as u32).collect();
    if want < n {
        partial_shuffle(&mut rows, want, seed);
        rows.truncate(want);
        rows.sort_unstable();
    }
    rows
}

/// Moves a uniform random choice of `m` elements to the front of `v` (Fisher–Yates, stopped
/// after `m` steps).
fn partial_shuffle(v: &mut [u32], m: usize, seed: u64) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    for i in 0..m.min(v.len()) {
        let j = rng.random_range(i..v.len());
        v.swap(i, j);
    }
}

impl IvfIndex {
    /// Clusters `f`'s items into `clusters` groups (at most one per item) with `iterations`
    /// rounds of spherical k-means; probes are set to every cluster until
    /// [`IvfIndex::calibrate`] measures fewer.
    pub fn train(f: FactorScoring<'_>, clusters: usize, seed: u64, iterations: usize) -> Self {
        let n = f.n_items();
        let clusters = clusters.clamp(1, n.max(1));
        let dim = f.k + usize::from(f.bias.is_some());
        let points = augmented_units(f);
        let da = dim + 1;

        // Train on a seeded sample; its first `clusters` points are the initial centroids.
        let mut order: Vec<u32> = (0..n as u32).collect();
        let sample = (clusters * TRAINING_POINTS_PER_CLUSTER).min(n);
        partial_shuffle(&mut order, sample, seed);
        let training: Vec<f32> = order[..sample]
            .iter()
            .flat_map(|&i| points[i as usize * da..(i as usize + 1) * da].iter().copied())
            .collect();
        let mut centroids = training[..clusters * da].to_vec();
        for _ in 0..iterations {
            let assigned = assign(&training, &centroids, da);
            centroids = recentre(&training, &assigned, centroids, da);
        }

        let assigned = assign(&points, &centroids, da);
        let mut offsets = vec![0u64; clusters + 1];
        for &c in &assigned {
            offsets[c as usize + 1] += 1;
        }
        for c in 0..clusters {
            offsets[c + 1] += offsets[c];
        }
        let mut next: Vec<u64> = offsets[..clusters].to_vec();
        let mut items = vec![0u32; n];
        for (i, &c) in assigned.iter().enumerate() {
            items[next[c as usize] as usize] = i as u32;
            next[c as usize] += 1;
        }
        // The last (augmentation) coordinate meets a query's 0: only the first `dim` are kept.
        let centroids: Vec<f32> =
            centroids.chunks_exact(da).flat_map(|c| c[..dim].to_vec()).collect();
        let info = IndexInfo {
            kind: "ivf".into(),
            clusters,
            probes: clusters,
            recall_at_10: 1.0,
            sampled_users: 0,
            target_recall: 1.0,
            seed,
            build_seconds: 0.0,
        };
        Self {
            dim,
            centroids: Buffer::owned(centroids),
            offsets: Buffer::owned(offsets),
            items: Buffer::owned(items),
            info,
        }
    }

    /// Sets the probe count to the smallest whose recall@10 reaches `target` for the query
    /// `vectors`, given the items each must not be recommended (`excluded`, sorted ascending) and
    /// their exact top-10 lists `exact` (those items excluded); records the recall it reaches and
    /// the number of users. Without any exact item to find (no users), every cluster is probed.
    ///
    /// The recall of a probe count is that of [`IvfIndex::top_n`] asked for 10 items, widening
    /// included: a user whose probed clusters hold fewer than 10 eligible items is scanned with
    /// the doubled probe count, as `top_n` does, until they hold 10 or every cluster is scanned.
    /// An exact item is found exactly when its cluster is among the scanned ones. (So the recall
    /// need not grow with the probe count: 3 probes that suffice may miss what the 4 that 2
    /// widen to find; the smallest count reaching the target is kept.)
    pub fn calibrate(
        &mut self,
        vectors: &[&[f32]],
        excluded: &[&[u32]],
        exact: &[Vec<ScoredItem>],
        target: f64,
    ) {
        assert_eq!(vectors.len(), excluded.len(), "one exclusion list per query vector");
        assert_eq!(vectors.len(), exact.len(), "one exact list per query vector");
        let clusters = self.clusters();
        let mut cluster_of = vec![0u32; self.items.len()];
        for c in 0..clusters {
            for &i in self.cluster(c) {
                cluster_of[i as usize] = c as u32;
            }
        }
        // hits[p - 1]: exact items found with `p` probes requested.
        let hits = vectors
            .par_iter()
            .zip(excluded)
            .zip(exact)
            .map(|((v, excluded), list)| {
                let order = self.ranked_clusters(v);
                let mut rank = vec![0u32; clusters];
                for (p, &c) in order.iter().enumerate() {
                    rank[c as usize] = p as u32;
                }
                // Per rank: the exact items and the eligible items of the cluster probed there,
                // then both summed over the first `p` ranks.
                let mut found = vec![0u64; clusters];
                for s in list.iter().take(RECALL_AT) {
                    found[rank[cluster_of[s.item as usize] as usize] as usize] += 1;
                }
                let mut eligible: Vec<u64> =
                    order.iter().map(|&c| self.cluster(c as usize).len() as u64).collect();
                for &i in *excluded {
                    if let Some(&c) = cluster_of.get(i as usize) {
                        eligible[rank[c as usize] as usize] -= 1;
                    }
                }
                for p in 1..clusters {
                    found[p] += found[p - 1];
                    eligible[p] += eligible[p - 1];
                }
                (1..=clusters)
                    .map(|requested| {
                        let mut scanned = requested;
                        while scanned < clusters && eligible[scanned - 1] < RECALL_AT as u64 {
                            scanned = (scanned * 2).min(clusters);
                        }
                        found[scanned - 1]
                    })
                    .collect::<Vec<u64>>()
            })
            .reduce(
                || vec![0u64; clusters],
                |mut a, b| {
                    a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                    a
                },
            );
        let total = hits.last().copied().unwrap_or(0);
        let (mut probes, mut reached) = (clusters, total);
        if total > 0
            && let Some(p) = hits.iter().position(|&h| h as f64 / total as f64 >= target)
        {
            (probes, reached) = (p + 1, hits[p]);
        }
        self.info.probes = probes;
        self.info.recall_at_10 = if total == 0 { 1.0 } else { reached as f64 / total as f64 };
        self.info.sampled_users = vectors.len();
        self.info.target_recall = target;
    }
}

/// Every item as a unit vector `[y_i, b_i, sqrt(M² − ‖y_i‖² − b_i²)] / M` (see the module docs),
/// row-major `items × (dim + 1)`.
fn augmented_units(f: FactorScoring<'_>) -> Vec<f32> {
    let (n, k) = (f.n_items(), f.k);
    let dim = k + usize::from(f.bias.is_some());
    let da = dim + 1;
    let norm2 = |i: usize| {
        let y = &f.items[i * k..(i + 1) * k];
        let b = f.bias.map_or(0.0, |b| f64::from(b[i]));
        y.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>() + b * b
    };
    let max2 = (0..n).map(norm2).fold(0.0, f64::max);
    let scale = if max2 > 0.0 { 1.0 / max2.sqrt() } else { 1.0 };
    let mut out = vec![0f32; n * da];
    out.par_chunks_mut(da).enumerate().for_each(|(i, row)| {
        for (o, &y) in row.iter_mut().zip(&f.items[i * k..(i + 1) * k]) {
            *o = (f64::from(y) * scale) as f32;
        }
        if let Some(b) = f.bias {
            row[k] = (f64::from(b[i]) * scale) as f32;
        }
        row[dim] = ((max2 - norm2(i)).max(0.0).sqrt() * scale) as f32;
    });
    out
}

/// The best centroid (ties: the lower index) of each point, by inner product.
fn assign(points: &[f32], centroids: &[f32], da: usize) -> Vec<u32> {
    let clusters = centroids.len() / da;
    let c = faer::MatRef::from_row_major_slice(centroids, clusters, da);
    points
        .par_chunks(ASSIGN_TILE * da)
        .flat_map_iter(|tile| {
            let len = tile.len() / da;
            let x_t = faer::MatRef::from_column_major_slice(tile, da, len);
            let mut scores = vec![0f32; clusters * len];
            let out = faer::MatMut::from_column_major_slice_mut(&mut scores, clusters, len);
            faer::linalg::matmul::matmul(out, faer::Accum::Replace, c, x_t, 1.0f32, faer::Par::Seq);
            let best: Vec<u32> = scores
                .chunks_exact(clusters)
                .map(|col| {
                    let mut best = 0;
                    for (j, &s) in col.iter().enumerate() {
                        if s > col[best] {
                            best = j;
                        }
                    }
                    best as u32
                })
                .collect();
            best
        })
        .collect()
}

/// The unit mean direction of each cluster's points; a cluster left empty keeps its centroid.
fn recentre(points: &[f32], assigned: &[u32], previous: Vec<f32>, da: usize) -> Vec<f32> {
    let mut sums = vec![0f64; previous.len()];
    for (p, &c) in points.chunks_exact(da).zip(assigned) {
        let s = &mut sums[c as usize * da..(c as usize + 1) * da];
        s.iter_mut().zip(p).for_each(|(s, &x)| *s += f64::from(x));
    }
    let mut next = previous;
    for (c, s) in next.chunks_exact_mut(da).zip(sums.chunks_exact(da)) {
        let norm = s.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 0.0 {
            c.iter_mut().zip(s).for_each(|(c, &x)| *c = (x / norm) as f32);
        }
    }
    next
}
