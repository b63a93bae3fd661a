//! Item-based k-nearest neighbours: cosine similarity between item columns.
//!
//! Two items are similar when the same users have them. Each column of the users × items matrix
//! is an item's vector over users; the similarity of items `i` and `j` is their cosine
//!
//! ```text
//! sim(i, j) = Σ_u w_ui · w_uj / (‖w_i‖ · ‖w_j‖ + shrink)
//! ```
//!
//! after the raw weights `x_ui` are turned into `w_ui` by the `weighting`:
//! - `none`: `w = x` (the raw weight: listen counts, ratings);
//! - `binary`: `w = 1` for every interaction;
//! - `bm25`: Okapi BM25 with items as documents and users as terms, as in `implicit`'s
//!   `bm25_weight`: `w = x (k1 + 1) / (k1 · (1 − b + b · len_i / avg_len) + x) · idf_u` with
//!   `idf_u = ln(n_items / (1 + n_u))` (clamped at 0) and `len_i` the item's total weight. Heavy
//!   users (who have everything) count less, and huge counts saturate;
//! - `tfidf`: `w = √x · idf_u`.
//!
//! `shrink` (default 0) pulls similarities resting on few common users towards 0.
//!
//! Only the `neighbours` most similar items of each item are kept, as a CSR matrix (`indptr`,
//! `indices`, `values`), each row sorted by similarity, best first. The score of item `i` for a
//! history with weights `h_j` is `Σ_j h_j · sim(j, i)` over the history items `j` that have `i`
//! among their neighbours, so the explanation (term `h_j · sim(j, i)` per history item) is exact.
//! History weights are the raw weights for `weighting=none` and 1 otherwise.
//!
//! # Cost
//! For each item, the rows of its users are gathered into a dense accumulator (time `Σ_u n_u²`
//! overall), in parallel over items; each item's list is built by one thread in a fixed order,
//! so the model does not depend on the number of threads.

use rayon::prelude::*;

use super::ease::sort_contributions;
use super::{Contribution, FitOptions, Params, Query, Recommender};
use crate::buffer::{ArrayRef, ArraySet, Buffer};
use crate::matrix::InteractionMatrix;
use crate::topk::ScoredItem;
use crate::{Error, Result};

/// Default number of neighbours kept per item.
pub const DEFAULT_NEIGHBOURS: usize = 100;

/// How raw interaction weights become the vectors whose cosine is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weighting {
    /// Raw weights.
    None,
    /// 1 for every interaction.
    Binary,
    /// Okapi BM25 (items as documents, users as terms).
    Bm25,
    /// √weight × inverse user frequency.
    Tfidf,
}

impl Weighting {
    fn parse(s: &str) -> Self {
        match s {
            "none" => Weighting::None,
            "binary" => Weighting::Binary,
            "bm25" => Weighting::Bm25,
            _ => Weighting::Tfidf,
        }
    }
}

/// Item-kNN hyperparameters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemKnnConfig {
    /// Neighbours kept per item (`K`).
    pub neighbours: usize,
    /// Added to the cosine's denominator.
    pub shrink: f64,
    /// Transformation of the raw weights.
    pub weighting: Weighting,
    /// BM25 saturation `k1`.
    pub k1: f64,
    /// BM25 length normalisation `b`.
    pub b: f64,
}

impl Default for ItemKnnConfig {
    fn default() -> Self {
        Self {
            neighbours: DEFAULT_NEIGHBOURS,
            shrink: 0.0,
            weighting: Weighting::Bm25,
            k1: 1.2,
            b: 0.75,
        }
    }
}

impl ItemKnnConfig {
    /// Takes `neighbours`, `shrink`, `weighting`, `k1` and `b` from `p`, checking ranges.
    /// `k1` and `b` are accepted only with `weighting=bm25`.
    pub fn from_params(p: &mut Params) -> Result<Self> {
        let d = Self::default();
        let weighting = Weighting::parse(&p.choice(
            "weighting",
            "bm25",
            &["none", "binary", "bm25", "tfidf"],
        )?);
        let neighbours = p.usize("neighbours", d.neighbours, 1, 100_000)?;
        let shrink = p.f64("shrink", d.shrink, 0.0, 1e9)?;
        let (k1, b) = if weighting == Weighting::Bm25 {
            (p.f64("k1", d.k1, 0.0, 1e6)?, p.f64("b", d.b, 0.0, 1.0)?)
        } else {
            (d.k1, d.b)
        };
        Ok(Self { neighbours, shrink, weighting, k1, b })
    }

    /// The weight a history item gets at scoring time.
    fn history_weight(&self, raw: f32) -> f32 {
        if self.weighting == Weighting::None { raw } else { 1.0 }
    }
}

/// A trained item-kNN model: each item's neighbour list in CSR form.
#[derive(Debug, Clone)]
pub struct ItemKnnModel {
    config: ItemKnnConfig,
    indptr: Buffer<u64>,
    indices: Buffer<u32>,
    values: Buffer<f32>,
}

impl ItemKnnModel {
    /// Computes the neighbour lists of every item of `matrix` (users × items).
    pub fn fit(
        config: &ItemKnnConfig,
        matrix: &InteractionMatrix,
        opts: &FitOptions<'_>,
    ) -> Result<Self> {
        let observer = opts.observer;
        observer.on_start(1);
        let n = matrix.n_cols();
        let w = weight_matrix(config, matrix);
        let wt = w.transpose(); // items × users
        let norms: Vec<f64> = wt
            .rows()
            .map(|r| r.values.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>().sqrt())
            .collect();
        let k = config.neighbours;
        // Items in chunks so cancellation is polled regularly without a check per item.
        const CHUNK: usize = 256;
        let lists: Vec<Vec<(u32, f32)>> = (0..n.div_ceil(CHUNK))
            .into_par_iter()
            .map_init(
                || (vec![0f64; n], Vec::<u32>::new()),
                |(acc, touched), chunk| {
                    if observer.is_cancelled() {
                        return Err(Error::Cancelled);
                    }
                    let items = chunk * CHUNK..((chunk + 1) * CHUNK).min(n);
                    Ok(items
                        .map(|i| neighbours_of(i, &w, &wt, &norms, config.shrink, k, acc, touched))
                        .collect::<Vec<_>>())
                },
            )
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .collect();
        let mut indptr = Vec::with_capacity(n + 1);
        indptr.push(0u64);
        let total: usize = lists.iter().map(Vec::len).sum();
        let (mut indices, mut values) = (Vec::with_capacity(total), Vec::with_capacity(total));
        for list in lists {
            for (j, s) in list {
                indices.push(j);
                values.push(s);
            }
            indptr.push(indices.len() as u64);
        }
        observer.on_epoch(1, None);
        Ok(Self {
            config: config.clone(),
            indptr: indptr.into(),
            indices: indices.into(),
            values: values.into(),
        })
    }

    /// The hyperparameters.
    pub fn config(&self) -> &ItemKnnConfig {
        &self.config
    }

    /// Arrays for the model file: the neighbour lists as CSR `indptr`, `indices`, `values`.
    pub fn arrays(&self) -> Vec<(&'static str, ArrayRef<'_>)> {
        vec![
            ("indptr", ArrayRef::U64(&self.indptr)),
            ("indices", ArrayRef::U32(&self.indices)),
            ("values", ArrayRef::F32(&self.values)),
        ]
    }

    /// Rebuilds the model from a model file's arrays, checking the CSR invariants so that no
    /// later lookup can go out of bounds.
    pub fn from_arrays(config: ItemKnnConfig, arrays: &mut ArraySet) -> Result<Self> {
        let indptr = arrays.take_u64("indptr")?;
        let indices = arrays.take_u32("indices")?;
        let values = arrays.take_f32("values")?;
        let bad = |m: &str| Err(Error::InvalidInput(format!("item-kNN neighbour lists: {m}")));
        if indptr.first() != Some(&0) {
            return bad("indptr must start at 0");
        }
        if indices.len() != values.len() || indptr.last() != Some(&(indices.len() as u64)) {
            return bad("indptr, indices and values disagree on the number of entries");
        }
        if indptr.windows(2).any(|w| w[0] > w[1]) {
            return bad("indptr decreases");
        }
        let n = indptr.len() - 1;
        if indices.iter().any(|&j| j as usize >= n) {
            return bad("a neighbour index is out of range");
        }
        Ok(Self { config, indptr, indices, values })
    }

    /// The neighbours of item `j` with their similarities, best first.
    pub fn neighbours(&self, j: u32) -> (&[u32], &[f32]) {
        let (s, e) = (self.indptr[j as usize] as usize, self.indptr[j as usize + 1] as usize);
        (&self.indices[s..e], &self.values[s..e])
    }

    fn history<'q>(&'q self, q: &'q Query<'_>) -> impl Iterator<Item = (u32, f32)> + 'q {
        let n = self.n_items();
        q.items
            .iter()
            .zip(q.weights)
            .filter(move |(j, _)| (**j as usize) < n)
            .map(|(&j, &w)| (j, self.config.history_weight(w)))
    }
}

/// The users × items matrix with the configured weighting applied.
fn weight_matrix(config: &ItemKnnConfig, x: &InteractionMatrix) -> InteractionMatrix {
    let n_items = x.n_cols() as f64;
    // Inverse user frequency: a user who has a large part of the catalogue says little about
    // which items go together.
    let idf = |u: usize| (n_items / (1.0 + x.row_nnz(u) as f64)).ln().max(0.0);
    match config.weighting {
        Weighting::None => x.clone(),
        Weighting::Binary => x.map_values(|_| 1.0),
        Weighting::Tfidf => {
            let mut vals = Vec::with_capacity(x.nnz());
            for (u, row) in x.rows().enumerate() {
                let idf = idf(u);
                vals.extend(
                    row.values.iter().map(|&v| (f64::from(v.max(0.0)).sqrt() * idf) as f32),
                );
            }
            with_values(x, vals)
        }
        Weighting::Bm25 => {
            let mut item_len = vec![0f64; x.n_cols()];
            for (&i, &v) in x.indices().iter().zip(x.values()) {
                item_len[i as usize] += f64::from(v);
            }
            let avg = item_len.iter().sum::<f64>() / n_items.max(1.0);
            let (k1, b) = (config.k1, config.b);
            let mut vals = Vec::with_capacity(x.nnz());
            for (u, row) in x.rows().enumerate() {
                let idf = idf(u);
                for (i, v) in row.iter() {
                    let v = f64::from(v);
                    let norm =
                        if avg > 0.0 { 1.0 - b + b * item_len[i as usize] / avg } else { 1.0 };
                    let denom = k1 * norm + v;
                    let w = if denom > 0.0 { v * (k1 + 1.0) / denom * idf } else { 0.0 };
                    vals.push(w as f32);
                }
            }
            with_values(x, vals)
        }
    }
}

fn with_values(x: &InteractionMatrix, values: Vec<f32>) -> InteractionMatrix {
    InteractionMatrix::from_csr(
        x.n_rows(),
        x.n_cols(),
        x.indptr().to_vec(),
        x.indices().to_vec(),
        values,
    )
    .expect("same structure as a valid matrix")
}

/// The `k` most similar items to `i` (ties by smaller index), best first. `acc` is a zeroed
/// dense accumulator of `n_items` and is left zeroed; `touched` is scratch.
#[allow(clippy::too_many_arguments)]
fn neighbours_of(
    i: usize,
    w: &InteractionMatrix,
    wt: &InteractionMatrix,
    norms: &[f64],
    shrink: f64,
    k: usize,
    acc: &mut [f64],
    touched: &mut Vec<u32>,
) -> Vec<(u32, f32)> {
    touched.clear();
    for (u, w_ui) in wt.row(i).iter() {
        let w_ui = f64::from(w_ui);
        for (j, w_uj) in w.row(u as usize).iter() {
            let slot = &mut acc[j as usize];
            if *slot == 0.0 {
                touched.push(j);
            }
            *slot += w_ui * f64::from(w_uj);
        }
    }
    let mut cands: Vec<(u32, f32)> = Vec::with_capacity(touched.len());
    for &j in touched.iter() {
        let dot = std::mem::take(&mut acc[j as usize]);
        let denom = norms[i] * norms[j as usize] + shrink;
        if j as usize != i && dot != 0.0 && denom > 0.0 {
            cands.push((j, (dot / denom) as f32));
        }
    }
    // `touched` may list an item twice if its running sum returned to exactly 0; the sums were
    // taken on the first visit, so later duplicates read 0 and were skipped above.
    let order = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if cands.len() > k {
        cands.select_nth_unstable_by(k - 1, order);
        cands.truncate(k);
    }
    cands.sort_unstable_by(order);
    cands
}

impl Recommender for ItemKnnModel {
    fn n_items(&self) -> usize {
        self.indptr.len() - 1
    }

    /// `out_i = Σ_j h_j · sim(j, i)` over the history items `j` listing `i` as a neighbour.
    fn score(&self, query: &Query<'_>, out: &mut [f32]) {
        out.fill(0.0);
        for (j, h) in self.history(query) {
            let (idx, vals) = self.neighbours(j);
            for (&i, &s) in idx.iter().zip(vals) {
                out[i as usize] += h * s;
            }
        }
    }

    /// Exact: the term `h_j · sim(j, item)` of each history item (0 when `item` is not among
    /// `j`'s neighbours).
    fn explain(&self, query: &Query<'_>, item: u32) -> Vec<Contribution> {
        if item as usize >= self.n_items() {
            return Vec::new();
        }
        let mut c: Vec<Contribution> = self
            .history(query)
            .map(|(j, h)| {
                let (idx, vals) = self.neighbours(j);
                let s = idx.iter().position(|&i| i == item).map_or(0.0, |p| vals[p]);
                Contribution { item: j, contribution: h * s }
            })
            .collect();
        sort_contributions(&mut c);
        c
    }

    /// The stored neighbour list of `item` (already sorted, best first).
    fn similar_items_where(
        &self,
        item: u32,
        n: usize,
        keep: &dyn Fn(u32) -> bool,
    ) -> Vec<ScoredItem> {
        if item as usize >= self.n_items() {
            return Vec::new();
        }
        let (idx, vals) = self.neighbours(item);
        idx.iter()
            .zip(vals)
            .filter(|(i, _)| keep(**i))
            .take(n)
            .map(|(&item, &score)| ScoredItem { item, score })
            .collect()
    }
}

#[cfg(test)]
mod tests;
