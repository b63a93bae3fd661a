//! EASE: an embarrassingly shallow autoencoder (Steck 2019), solved in closed form.
//!
//! EASE learns one items × items weight matrix `B` that reconstructs each user's row from the
//! other items of the same row: minimise `‖X − XB‖² + λ‖B‖²` subject to `diag(B) = 0`. The
//! constraint stops the trivial solution `B = I`. The optimum is closed-form:
//!
//! ```text
//! P = (XᵀX + Λ)⁻¹,   B_ji = −P_ji / P_ii  (j ≠ i),   B_ii = 0
//! ```
//!
//! with `Λ = λI` in Steck's original. Encore adds the dropout-derived penalty of EDLAE (Steck
//! 2020, "Autoencoders that don't overfit towards the identity"): `Λ_ii = λ + p/(1−p)·(XᵀX)_ii`,
//! the closed form of training the same model on inputs with a fraction `p` of interactions
//! dropped. It grows with the item's own squared weight, so it adapts to the scale of the
//! weights and to item popularity, and one setting works on data sets where the best plain λ
//! differs by an order of magnitude (docs/tuning-models.md).
//!
//! A user with history weights `x` scores item `i` as `(xB)_i = Σ_j x_j B_ji`: the sum of the rows
//! of `B` of the history items, weighted. That needs no per-user parameters, so new users and
//! anonymous sessions score exactly like training users, and the explanation is exact: history
//! item `j` contributes `x_j B_ji` to item `i`.
//!
//! # Cost
//! Training builds the Gram matrix `XᵀX` densely (time `Σ_u n_u²`), factors it with a Cholesky
//! decomposition and inverts it (time ~`n³` for `n` items, in `f64` because the inverse of a
//! badly conditioned Gram matrix loses digits in `f32`). Memory peaks at two `n × n` `f64`
//! matrices (`16 n²` bytes: 0.5 GB at 5,600 items, 5 GB at 17,600), which is checked against
//! [`FitOptions::memory_limit_bytes`] *before* anything is allocated. The stored model is `B` in
//! `f32` (`4 n²` bytes), row-major so that the row of a history item is contiguous.
//!
//! # Hyperparameters (spec `ease:lambda=…,weighting=…`)
//! - `lambda` (default 1000): the L2 penalty λ added to every diagonal entry.
//! - `dropout` (default 0.5): the EDLAE dropout rate `p` in `[0, 0.95]`; 0 is plain EASE.
//! - `weighting` (default `log`): how a raw weight `x` enters `X` — `binary` (1 for every
//!   interaction), `raw` (`x` itself) or `log` (`ln(1 + x)`). Listen counts span five orders of
//!   magnitude, which a squared loss cannot fit as they are; ratings carry some signal that
//!   `binary` throws away. The same transformation applies to histories at scoring time.
//!
//! Defaults are chosen in `docs/tuning-models.md`.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::matmul::triangular::BlockStructure;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

use super::{Contribution, FitOptions, Params, Query, Recommender};
use crate::buffer::{ArrayRef, ArraySet, Buffer};
use crate::matrix::InteractionMatrix;
use crate::topk::{ScoredItem, top_n_filtered};
use crate::{Error, Result};

/// Default of `lambda`, chosen on the shared evaluation splits (docs/tuning-models.md).
pub const DEFAULT_LAMBDA: f64 = 1000.0;
/// Default of `dropout`.
pub const DEFAULT_DROPOUT: f64 = 0.5;
/// Default of `weighting`.
pub const DEFAULT_WEIGHTING: EaseWeighting = EaseWeighting::Log;

/// How raw interaction weights enter the matrix `X` (and the history at scoring time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EaseWeighting {
    /// 1 for every interaction.
    Binary,
    /// The raw weight.
    Raw,
    /// `ln(1 + weight)` (negative weights count as 0).
    Log,
}

/// EASE hyperparameters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EaseConfig {
    /// L2 penalty λ added to the diagonal of the Gram matrix.
    pub lambda: f64,
    /// EDLAE dropout rate `p`: adds `p/(1−p)·(XᵀX)_ii` to diagonal entry `i`.
    pub dropout: f64,
    /// Transformation of raw weights (training and scoring).
    pub weighting: EaseWeighting,
}

impl Default for EaseConfig {
    fn default() -> Self {
        Self { lambda: DEFAULT_LAMBDA, dropout: DEFAULT_DROPOUT, weighting: DEFAULT_WEIGHTING }
    }
}

impl EaseConfig {
    /// Takes `lambda`, `dropout` and `weighting` from `p`, checking ranges.
    pub fn from_params(p: &mut Params) -> Result<Self> {
        let lambda = p.f64("lambda", DEFAULT_LAMBDA, 0.0, 1e12)?;
        let dropout = p.f64("dropout", DEFAULT_DROPOUT, 0.0, 0.95)?;
        let weighting = match p.choice("weighting", "log", &["binary", "raw", "log"])?.as_str() {
            "binary" => EaseWeighting::Binary,
            "raw" => EaseWeighting::Raw,
            _ => EaseWeighting::Log,
        };
        Ok(Self { lambda, dropout, weighting })
    }

    /// Bytes training needs at its peak for `n_items` items (two dense `f64` matrices), so that
    /// callers can check a catalogue before training. Saturates instead of overflowing.
    pub fn training_bytes(n_items: usize) -> u64 {
        let n = n_items as u64;
        n.saturating_mul(n).saturating_mul(16)
    }

    fn weight(&self, raw: f32) -> f32 {
        match self.weighting {
            EaseWeighting::Binary => 1.0,
            EaseWeighting::Raw => raw,
            EaseWeighting::Log => raw.max(0.0).ln_1p(),
        }
    }
}

/// A trained EASE model: the `n × n` weight matrix `B`, row-major.
#[derive(Debug, Clone)]
pub struct EaseModel {
    config: EaseConfig,
    n_items: usize,
    /// `b[j * n + i] = B_ji`: how much having item `j` adds to item `i`'s score.
    b: Buffer<f32>,
}

impl EaseModel {
    /// Solves for `B` on `matrix` (users × items). Fails with [`Error::ResourceLimit`] before
    /// allocating when the dense matrices would exceed `opts.memory_limit_bytes`, with
    /// [`Error::Cancelled`] when the observer cancels between stages, and with
    /// [`Error::InvalidInput`] when `XᵀX + λI` is not positive definite (only possible with
    /// `lambda = 0`).
    pub fn fit(
        config: &EaseConfig,
        matrix: &InteractionMatrix,
        opts: &FitOptions<'_>,
    ) -> Result<Self> {
        let n = matrix.n_cols();
        let needed = EaseConfig::training_bytes(n);
        if let Some(limit) = opts.memory_limit_bytes
            && needed > limit
        {
            return Err(Error::ResourceLimit(format!(
                "EASE needs about {needed} bytes ({:.2} GiB) for {n} items but the memory limit \
                 is {limit} bytes ({:.2} GiB); use itemknn or ials for catalogues this large",
                needed as f64 / GIB,
                limit as f64 / GIB
            )));
        }
        let observer = opts.observer;
        // Three stages are reported as epochs: Gram matrix, Cholesky factor, inverse.
        observer.on_start(3);
        let check = || if observer.is_cancelled() { Err(Error::Cancelled) } else { Ok(()) };
        check()?;

        let x = matrix.map_values(|v| config.weight(v));
        let mut gram = gram_plus_penalty(&x, config.lambda, config.dropout);
        drop(x);
        observer.on_epoch(1, None);
        check()?;

        // Fixed parallelism degree rather than the pool size: faer may partition blocks by the
        // degree it is given, and the model must not depend on the number of threads.
        let par = Par::rayon(FAER_PARALLELISM);
        {
            let a = MatMut::from_column_major_slice_mut(&mut gram, n, n);
            let req = faer::linalg::cholesky::llt::factor::cholesky_in_place_scratch::<f64>(
                n,
                par,
                Default::default(),
            );
            let mut mem = MemBuffer::new(req);
            faer::linalg::cholesky::llt::factor::cholesky_in_place(
                a,
                Default::default(),
                par,
                MemStack::new(&mut mem),
                Default::default(),
            )
            .map_err(|e| {
                Error::InvalidInput(format!(
                    "EASE: XᵀX + Λ is not positive definite ({e}); use a larger lambda"
                ))
            })?;
        }
        observer.on_epoch(2, None);
        check()?;

        // P = L⁻ᵀ L⁻¹, computed as in faer's `llt::inverse::inverse` but with the product written
        // over L's storage (which is no longer needed), so only two n × n matrices ever coexist.
        let mut l_inv = vec![0f64; n * n];
        {
            let l = MatRef::from_column_major_slice(&gram, n, n);
            let dst = MatMut::from_column_major_slice_mut(&mut l_inv, n, n);
            faer::linalg::triangular_inverse::invert_lower_triangular(dst, l, par);
        }
        {
            let li = MatRef::from_column_major_slice(&l_inv, n, n);
            let p = MatMut::from_column_major_slice_mut(&mut gram, n, n);
            faer::linalg::matmul::triangular::matmul(
                p,
                BlockStructure::TriangularLower,
                Accum::Replace,
                li.transpose(),
                BlockStructure::TriangularUpper,
                li,
                BlockStructure::TriangularLower,
                1.0,
                par,
            );
        }
        drop(l_inv);
        let p = gram; // lower triangle holds P = (XᵀX + λI)⁻¹, column-major.
        let p_at = |r: usize, c: usize| if r >= c { p[c * n + r] } else { p[r * n + c] };

        let mut b = vec![0f32; n * n];
        b.par_chunks_mut(n.max(1)).enumerate().for_each(|(j, row)| {
            for (i, out) in row.iter_mut().enumerate() {
                *out = if i == j { 0.0 } else { (-p_at(j, i) / p[i * n + i]) as f32 };
            }
        });
        observer.on_epoch(3, None);
        Ok(Self { config: config.clone(), n_items: n, b: b.into() })
    }

    /// The hyperparameters.
    pub fn config(&self) -> &EaseConfig {
        &self.config
    }

    /// Arrays for the model file: `b`, the `n × n` weights, row-major.
    pub fn arrays(&self) -> Vec<(&'static str, ArrayRef<'_>)> {
        vec![("b", ArrayRef::F32(&self.b))]
    }

    /// Rebuilds the model from a model file's arrays; `b` must be a square matrix.
    pub fn from_arrays(config: EaseConfig, arrays: &mut ArraySet) -> Result<Self> {
        let b = arrays.take_f32("b")?;
        let n = b.len().isqrt();
        if n * n != b.len() {
            return Err(Error::InvalidInput(format!(
                "EASE weights have {} values, which is not a square number",
                b.len()
            )));
        }
        Ok(Self { config, n_items: n, b })
    }

    /// The weight `B_ji`: what having item `j` adds to item `i`'s score.
    pub fn weight(&self, j: u32, i: u32) -> f32 {
        self.b[j as usize * self.n_items + i as usize]
    }

    fn row(&self, j: u32) -> &[f32] {
        let n = self.n_items;
        &self.b[j as usize * n..(j as usize + 1) * n]
    }

    /// History pairs that refer to known items, with the weight the model uses.
    fn history<'q>(&'q self, q: &'q Query<'_>) -> impl Iterator<Item = (u32, f32)> + 'q {
        q.items
            .iter()
            .zip(q.weights)
            .filter(|(j, _)| (**j as usize) < self.n_items)
            .map(|(&j, &w)| (j, self.config.weight(w)))
    }
}

const GIB: f64 = (1u64 << 30) as f64;
/// Parallelism degree handed to faer (see the comment where it is used).
const FAER_PARALLELISM: usize = 8;

/// The dense Gram matrix plus the penalty, `XᵀX + Λ` with `Λ_ii = λ + p/(1−p)·(XᵀX)_ii`
/// (column-major, `f64`). Column `i` gathers, over the users of
/// item `i`, their whole rows: time `Σ_u n_u²`, in parallel over columns, each column summed by
/// one thread in a fixed order (deterministic).
fn gram_plus_penalty(x: &InteractionMatrix, lambda: f64, dropout: f64) -> Vec<f64> {
    let drop_ratio = dropout / (1.0 - dropout);
    let n = x.n_cols();
    let xt = x.transpose();
    let mut g = vec![0f64; n * n];
    g.par_chunks_mut(n.max(1)).enumerate().for_each(|(i, col)| {
        for (u, x_ui) in xt.row(i).iter() {
            let x_ui = f64::from(x_ui);
            for (j, x_uj) in x.row(u as usize).iter() {
                col[j as usize] += x_ui * f64::from(x_uj);
            }
        }
        col[i] += lambda + drop_ratio * col[i];
    });
    g
}

impl Recommender for EaseModel {
    fn n_items(&self) -> usize {
        self.n_items
    }

    /// `out = Σ_j w_j · B[j, :]` over the history (the user index is not needed: EASE keeps no
    /// per-user state).
    fn score(&self, query: &Query<'_>, out: &mut [f32]) {
        out.fill(0.0);
        for (j, w) in self.history(query) {
            for (o, &bji) in out.iter_mut().zip(self.row(j)) {
                *o += w * bji;
            }
        }
    }

    /// Exact: history item `j` contributes `w_j · B_ji`, and these sum to the score.
    fn explain(&self, query: &Query<'_>, item: u32) -> Vec<Contribution> {
        if item as usize >= self.n_items {
            return Vec::new();
        }
        let mut c: Vec<Contribution> = self
            .history(query)
            .map(|(j, w)| Contribution { item: j, contribution: w * self.weight(j, item) })
            .collect();
        sort_contributions(&mut c);
        c
    }

    /// Row `item` of `B`: the items whose score rises most for a user who has `item`.
    fn similar_items_where(
        &self,
        item: u32,
        n: usize,
        keep: &dyn Fn(u32) -> bool,
    ) -> Vec<ScoredItem> {
        if item as usize >= self.n_items {
            return Vec::new();
        }
        top_n_filtered(self.row(item), n, &[item], keep)
    }
}

/// Largest contribution first; ties by item index so the order is deterministic.
pub(crate) fn sort_contributions(c: &mut [Contribution]) {
    c.sort_by(|a, b| b.contribution.total_cmp(&a.contribution).then(a.item.cmp(&b.item)));
}

#[cfg(test)]
mod tests;
