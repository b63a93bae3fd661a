//! An approximate maximum-inner-product index over a factor model's items: an inverted file
//! (IVF) of item clusters, for catalogues where scoring every item per request costs too much.
//!
//! # Shape
//!
//! The items are clustered by direction ([`build`]: spherical k-means after the usual
//! inner-product-to-cosine augmentation, so that an item's cluster is the one its *score* for a
//! query pointing at the centroid would be highest in). The index keeps, per cluster, the unit
//! centroid and the cluster's items (ascending item indices, the clusters one after another:
//! `offsets[c]..offsets[c+1]` of `items`). A query scores every centroid, *probes* the
//! [`IndexInfo::probes`] best clusters and scores their items exactly, with the model's own
//! arithmetic ([`crate::linalg::dot`] plus the bias: the one-user path's scores, bit for bit).
//!
//! # Filters during the scan
//!
//! Excluded items (the history) and items the caller's `keep` refuses (kinds, tags,
//! availability, deletions) are skipped while the probed clusters are scanned, exactly as
//! [`crate::topk::top_n_filtered`] skips them over a full score vector: the result is the best
//! `n` *eligible* items among the probed clusters, never a list shortened by filtering an
//! over-fetched one. With every cluster probed it is the exact filtered list.
//!
//! # Probes chosen by measurement
//!
//! At build time the exact top 10 of sampled users (seen items excluded) is computed with the
//! blocked kernel ([`crate::batch::top_n_batch`]) and the smallest probe count whose recall@10
//! reaches the target is kept ([`IvfIndex::calibrate`]); the measured recall is recorded in
//! [`IndexInfo`]. An exact top-10 item is in the index's top 10 exactly when its cluster is
//! scanned (fewer than 10 items beat it anywhere, so fewer beat it among the scanned ones), and
//! the scanned clusters are the probed ones, or more for a user whose probed clusters hold fewer
//! than 10 eligible items (the widening of [`IvfIndex::top_n`], which the calibration replays
//! from each user's history); so the recall of every probe count comes from one ranking of the
//! centroids per sampled user, and is the recall `top_n` reaches.

mod build;

#[cfg(test)]
mod tests;

pub use build::{IndexConfig, build, sample_rows};

use serde::{Deserialize, Serialize};

use crate::batch::FactorScoring;
use crate::buffer::Buffer;
use crate::linalg::{SimdKernel, dot, run_simd};
use crate::topk::{ScoredItem, TopN};

/// What an index is and what it was measured to do, as recorded in the model file's header and
/// the model registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexInfo {
    /// Kind of index: `ivf`.
    pub kind: String,
    /// Number of item clusters.
    pub clusters: usize,
    /// Clusters scanned per query.
    pub probes: usize,
    /// Recall@10 against exact search at [`IndexInfo::probes`], over the sampled users.
    pub recall_at_10: f64,
    /// Users the recall was measured on.
    pub sampled_users: usize,
    /// The recall the probe count was chosen to reach.
    pub target_recall: f64,
    /// Seed of the clustering and of the user sample.
    pub seed: u64,
    /// Wall-clock seconds the build took (clustering and measurement).
    pub build_seconds: f64,
}

/// An inverted-file index over a factor model's items (see the module docs).
#[derive(Debug, Clone)]
pub struct IvfIndex {
    /// Length of a centroid: the model's factors, plus one for the bias of a model with biases.
    dim: usize,
    /// Unit centroid directions, row-major `clusters × dim`.
    centroids: Buffer<f32>,
    /// `clusters + 1` boundaries of the clusters in `items`.
    offsets: Buffer<u64>,
    /// Every item index once, grouped by cluster, ascending within a cluster.
    items: Buffer<u32>,
    /// Measured properties; `probes` is what [`IvfIndex::top_n`] scans by default.
    pub info: IndexInfo,
}

impl IvfIndex {
    /// Assembles an index from its arrays, checking them against a model with `n_items` items and
    /// `k` factors (`bias`: whether it has per-item biases). The error says what is wrong.
    pub fn from_parts(
        centroids: Buffer<f32>,
        offsets: Buffer<u64>,
        items: Buffer<u32>,
        info: IndexInfo,
        n_items: usize,
        k: usize,
        bias: bool,
    ) -> Result<Self, String> {
        let dim = k + usize::from(bias);
        if info.kind != "ivf" {
            return Err(format!("unknown index kind `{}`", info.kind));
        }
        let clusters = info.clusters;
        if clusters == 0 || info.probes == 0 || info.probes > clusters {
            return Err(format!("{} probes of {clusters} clusters", info.probes));
        }
        if centroids.len() != clusters * dim || offsets.len() != clusters + 1 {
            return Err(format!(
                "{} centroid values and {} offsets do not fit {clusters} clusters of {dim}",
                centroids.len(),
                offsets.len()
            ));
        }
        if centroids.iter().any(|x| !x.is_finite()) {
            return Err("a centroid is not finite".into());
        }
        if offsets[0] != 0
            || offsets[clusters] != items.len() as u64
            || offsets.windows(2).any(|w| w[0] > w[1])
        {
            return Err("cluster offsets do not span the items".into());
        }
        if items.len() != n_items {
            return Err(format!("{} indexed items, the model has {n_items}", items.len()));
        }
        let mut seen = vec![false; n_items];
        for c in 0..clusters {
            let members = &items[offsets[c] as usize..offsets[c + 1] as usize];
            if members.windows(2).any(|w| w[0] >= w[1]) {
                return Err(format!("cluster {c} is not sorted"));
            }
            for &i in members {
                match seen.get_mut(i as usize) {
                    Some(s) if !*s => *s = true,
                    _ => return Err(format!("item {i} is out of range or indexed twice")),
                }
            }
        }
        Ok(Self { dim, centroids, offsets, items, info })
    }

    /// The arrays as stored in a model file: centroids, cluster offsets, items.
    pub fn arrays(&self) -> (&[f32], &[u64], &[u32]) {
        (&self.centroids, &self.offsets, &self.items)
    }

    /// Number of clusters.
    pub fn clusters(&self) -> usize {
        self.info.clusters
    }

    /// The items of cluster `c`.
    pub fn cluster(&self, c: usize) -> &[u32] {
        &self.items[self.offsets[c] as usize..self.offsets[c + 1] as usize]
    }

    /// Every cluster ranked for `v`, best first (ties by cluster index): the order of probing.
    pub fn ranked_clusters(&self, v: &[f32]) -> Vec<u32> {
        let scores = self.route_scores(v);
        let mut order: Vec<u32> = (0..self.clusters() as u32).collect();
        order.sort_unstable_by(|&a, &b| {
            scores[b as usize].total_cmp(&scores[a as usize]).then(a.cmp(&b))
        });
        order
    }

    /// The score of each centroid for `v` (with the bias coordinate set to 1).
    fn route_scores(&self, v: &[f32]) -> Vec<f32> {
        let k = v.len().min(self.dim);
        self.centroids
            .chunks_exact(self.dim)
            .map(|c| dot(&c[..k], &v[..k]) + if self.dim > k { c[k] } else { 0.0 })
            .collect()
    }

    /// The best `n` items for query vector `v` among the `probes` best clusters (default
    /// [`IndexInfo::probes`]; clamped to the number of clusters), best first, skipping `exclude`
    /// (sorted ascending) and the items `keep` refuses. Scores are the model's exact ones.
    ///
    /// When the probed clusters hold fewer than `n` eligible items (a narrow filter, or a long
    /// history that covers them), the probe count doubles until `n` are found or every cluster
    /// is scanned: the index never answers a shorter list than exact scoring would.
    pub fn top_n(
        &self,
        f: FactorScoring<'_>,
        v: &[f32],
        n: usize,
        probes: Option<usize>,
        exclude: &[u32],
        keep: &dyn Fn(u32) -> bool,
    ) -> Vec<ScoredItem> {
        if n == 0 {
            return Vec::new();
        }
        let mut probes = probes.unwrap_or(self.info.probes).clamp(1, self.clusters());
        let scores = self.route_scores(v);
        loop {
            let mut best = TopN::new(probes);
            for (c, &s) in scores.iter().enumerate() {
                let cand = ScoredItem { item: c as u32, score: s };
                if best.would_keep(cand) {
                    best.push(cand);
                }
            }
            let clusters: Vec<&[u32]> =
                best.into_sorted().iter().map(|c| self.cluster(c.item as usize)).collect();
            let found = run_simd(Scan { f, v, n, clusters: &clusters, exclude, keep });
            if found.len() >= n || probes == self.clusters() {
                return found;
            }
            probes = (probes * 2).min(self.clusters());
        }
    }
}

/// The scan of the probed clusters, compiled for the machine's SIMD level.
struct Scan<'a> {
    f: FactorScoring<'a>,
    v: &'a [f32],
    n: usize,
    clusters: &'a [&'a [u32]],
    exclude: &'a [u32],
    keep: &'a dyn Fn(u32) -> bool,
}

impl SimdKernel for Scan<'_> {
    type Output = Vec<ScoredItem>;

    #[inline(always)]
    fn run(self) -> Vec<ScoredItem> {
        let Scan { f, v, n, clusters, exclude, keep } = self;
        let k = f.k;
        let mut top = TopN::new(n);
        for members in clusters {
            for &item in *members {
                let i = item as usize;
                let mut score = dot(&f.items[i * k..(i + 1) * k], v);
                if let Some(b) = f.bias {
                    score += b[i];
                }
                let cand = ScoredItem { item, score };
                // The cheap test first, as in `top_n_filtered`: most items cannot enter.
                if top.would_keep(cand) && exclude.binary_search(&item).is_err() && keep(item) {
                    top.push(cand);
                }
            }
        }
        top.into_sorted()
    }
}
