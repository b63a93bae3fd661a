//! BPR: Bayesian personalised ranking (Rendle et al. 2009) with matrix factorisation.
//!
//! BPR learns user vectors `u`, item vectors `v` and item biases `b` so that a user's items rank
//! above the items she does not have: for sampled triples (user `u`, positive `i`, negative `j`)
//! it maximises `ln σ(x_uij) − reg/2 · (‖u‖² + ‖v_i‖² + ‖v_j‖² + b_i² + b_j²)` with
//! `x_uij = u·(v_i − v_j) + b_i − b_j`, by stochastic gradient ascent. Interactions are binary:
//! the weight of an interaction does not matter, only that it exists (as in `implicit`).
//!
//! # Parallel and deterministic training (stratified SGD)
//! Plain parallel SGD ("Hogwild") races on shared item vectors, so its result depends on thread
//! timing. Here every epoch follows the DSGD scheme of Gemulla et al. (2011): users are cut into
//! `S` blocks of about equal interaction counts, and items — after a fresh random permutation
//! each epoch — into `S` blocks of equal size (`S` = [`STRATA`], or fewer when the data have
//! fewer than [`MIN_BLOCK`] users or items per block; it depends on the data only). Sub-epoch
//! `s` trains the strata (user block `b`, item block `(b + s) mod S)` for all `b` in parallel;
//! they touch disjoint user and item rows, so no update is ever lost or reordered. Within a
//! stratum, as many SGD steps as it holds interactions draw a random positive from the stratum
//! and a uniform negative from its item block (a negative the user has is skipped, as in
//! `implicit`), with a random generator seeded from (seed, epoch, sub-epoch, stratum). Nothing
//! depends on the number of threads, so the model is bit-identical for any pool size.
//!
//! Restricting negatives to the positive's item block would bias the sampling if blocks were
//! fixed; the per-epoch permutation makes every pair of items share a block in `1/S` of the
//! epochs, so over training the negatives are uniform.
//!
//! # Users not in the model (fold-in) and explanations
//! A history without a trained vector (new user, session) is folded in by a ridge least-squares
//! fit, `u = (V_HᵀV_H + λI)⁻¹ Σ_{j∈H} t·v_j` (`bpr/foldin.rs`). It is linear in the history
//! items, so the score minus the item's bias splits exactly into one term per history item.

mod foldin;
mod train;

use super::{Contribution, FitOptions, Params, Query, Recommender};
use crate::buffer::{ArrayRef, ArraySet, Buffer};
use std::borrow::Cow;

use crate::batch::FactorScoring;
use crate::linalg::dot;
use crate::matrix::InteractionMatrix;
use crate::topk::{ScoredItem, top_n_filtered};
use crate::{Error, Result};

pub use train::{MIN_BLOCK, STRATA};

/// BPR hyperparameters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BprConfig {
    /// Dimension of the user and item vectors.
    pub factors: usize,
    /// SGD step size.
    pub learning_rate: f64,
    /// L2 penalty on the vectors and biases touched by each step.
    pub regularization: f64,
    /// Number of epochs (each draws as many triples as there are interactions).
    pub iterations: usize,
}

impl Default for BprConfig {
    fn default() -> Self {
        Self { factors: 64, learning_rate: 0.05, regularization: 0.01, iterations: 100 }
    }
}

impl BprConfig {
    /// Takes `factors`, `learning_rate`, `regularization` and `iterations` from `p`.
    pub fn from_params(p: &mut Params) -> Result<Self> {
        let d = Self::default();
        Ok(Self {
            factors: p.usize("factors", d.factors, 1, 1024)?,
            learning_rate: p.f64("learning_rate", d.learning_rate, 1e-6, 10.0)?,
            regularization: p.f64("regularization", d.regularization, 0.0, 100.0)?,
            iterations: p.usize("iterations", d.iterations, 1, 100_000)?,
        })
    }
}

/// A trained BPR model: user and item vectors (row-major, `factors` wide) and item biases.
#[derive(Debug, Clone)]
pub struct BprModel {
    config: BprConfig,
    user_factors: Buffer<f32>,
    item_factors: Buffer<f32>,
    item_bias: Buffer<f32>,
}

impl BprModel {
    /// Trains on `matrix` (users × items; only which entries exist matters).
    pub fn fit(
        config: &BprConfig,
        matrix: &InteractionMatrix,
        opts: &FitOptions<'_>,
    ) -> Result<Self> {
        let p = train::train(config, matrix, opts)?;
        Ok(Self {
            config: config.clone(),
            user_factors: p.users.into(),
            item_factors: p.items.into(),
            item_bias: p.bias.into(),
        })
    }

    /// The hyperparameters.
    pub fn config(&self) -> &BprConfig {
        &self.config
    }

    /// Arrays for the model file: `user_factors`, `item_factors` (row-major) and `item_bias`.
    pub fn arrays(&self) -> Vec<(&'static str, ArrayRef<'_>)> {
        vec![
            ("user_factors", ArrayRef::F32(&self.user_factors)),
            ("item_factors", ArrayRef::F32(&self.item_factors)),
            ("item_bias", ArrayRef::F32(&self.item_bias)),
        ]
    }

    /// Rebuilds the model from a model file's arrays, checking that their lengths agree.
    pub fn from_arrays(config: BprConfig, arrays: &mut ArraySet) -> Result<Self> {
        let user_factors = arrays.take_f32("user_factors")?;
        let item_factors = arrays.take_f32("item_factors")?;
        let item_bias = arrays.take_f32("item_bias")?;
        let k = config.factors;
        if k == 0 || user_factors.len() % k != 0 || item_factors.len() != item_bias.len() * k {
            return Err(Error::InvalidInput(format!(
                "BPR arrays disagree: {} user values, {} item values, {} biases for {k} factors",
                user_factors.len(),
                item_factors.len(),
                item_bias.len()
            )));
        }
        Ok(Self { config, user_factors, item_factors, item_bias })
    }

    /// Removes user row `user`: later rows move up by one (erasure).
    pub fn remove_user(&mut self, user: u32) {
        let k = self.config.factors;
        let start = user as usize * k;
        if start + k > self.user_factors.len() {
            return;
        }
        let mut v = self.user_factors.to_vec();
        v.drain(start..start + k);
        self.user_factors = v.into();
    }

    /// Number of users with stored vectors.
    pub fn n_users(&self) -> usize {
        self.user_factors.len() / self.config.factors
    }

    fn item(&self, i: u32) -> &[f32] {
        let k = self.config.factors;
        &self.item_factors[i as usize * k..(i as usize + 1) * k]
    }

    fn user(&self, u: u32) -> Option<&[f32]> {
        let k = self.config.factors;
        self.user_factors.get(u as usize * k..(u as usize + 1) * k)
    }

    /// The known history items of a query (out-of-range items are ignored).
    fn history(&self, q: &Query<'_>) -> Vec<u32> {
        q.items.iter().copied().filter(|&j| (j as usize) < self.item_bias.len()).collect()
    }
}

impl Recommender for BprModel {
    fn n_items(&self) -> usize {
        self.item_bias.len()
    }

    /// `v_i · u + b_i`, with the stored `u` for a known user and the fold-in vector otherwise.
    fn score(&self, query: &Query<'_>, out: &mut [f32]) {
        let u = self.query_vector(query).expect("BPR has query vectors");
        self.factor_scoring().expect("BPR has factors").score_into(&u, out);
    }

    fn factor_scoring(&self) -> Option<FactorScoring<'_>> {
        Some(FactorScoring {
            items: &self.item_factors,
            k: self.config.factors,
            bias: Some(&self.item_bias),
        })
    }

    fn query_vector(&self, query: &Query<'_>) -> Option<Cow<'_, [f32]>> {
        Some(match query.user.and_then(|u| self.user(u)) {
            Some(u) => Cow::Borrowed(u),
            None => Cow::Owned(foldin::fold_in(
                &self.item_factors,
                self.config.factors,
                &self.history(query),
            )),
        })
    }

    /// The fold-in decomposition (see `bpr/foldin.rs`): history item `j` contributes
    /// `v_itemᵀ A v_j`, and the contributions sum to the fold-in score minus the item's bias
    /// `b_item` (which no history item causes). Known users are explained through the same
    /// decomposition of their history, since a trained vector has no exact per-item split.
    fn explain(&self, query: &Query<'_>, item: u32) -> Vec<Contribution> {
        if item as usize >= self.n_items() {
            return Vec::new();
        }
        let hist = self.history(query);
        let mut c = foldin::contributions(&self.item_factors, self.config.factors, &hist, item);
        super::ease::sort_contributions(&mut c);
        c
    }

    /// Items whose vectors have the highest cosine with `item`'s vector.
    fn similar_items_where(
        &self,
        item: u32,
        n: usize,
        keep: &dyn Fn(u32) -> bool,
    ) -> Vec<ScoredItem> {
        if item as usize >= self.n_items() {
            return Vec::new();
        }
        let v = self.item(item);
        let nv = dot(v, v).sqrt();
        let sims: Vec<f32> = (0..self.n_items() as u32)
            .map(|j| {
                let w = self.item(j);
                let d = nv * dot(w, w).sqrt();
                if d > 0.0 { dot(v, w) / d } else { 0.0 }
            })
            .collect();
        top_n_filtered(&sims, n, &[item], keep)
    }
}

#[cfg(test)]
mod tests;
