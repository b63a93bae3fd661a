//! Implicit-feedback alternating least squares (iALS; Hu, Koren & Volinsky 2008).
//!
//! Every user `u` gets a factor `x_u` and every item `i` a factor `y_i` (`k` numbers each), and the
//! score of an item is `x_uᵀy_i`. Training minimises, over **all** user × item pairs,
//!
//! ```text
//! Σ_{u,i} c_ui (p_ui − x_uᵀy_i)²  +  Σ_u λ_u‖x_u‖²  +  Σ_i λ_i‖y_i‖²
//! ```
//!
//! with preference `p_ui = 1` where the user interacted and 0 elsewhere, and confidence
//! `c_ui = 1 + alpha·f(w_ui)` on interactions (1 elsewhere; [`Confidence`] defines `f`). With one
//! side fixed the loss is a set of independent least-squares problems, one per row; ALS alternates
//! solving all users, then all items (the private `solve` module has the per-row algebra). The
//! regularisation is frequency-scaled as in Rendle et al. (2021), "Revisiting the Performance of
//! iALS on Item Recommendation Benchmarks": `λ_u = λ·(|I_u| + α₀·|I|)^ν`, which is what makes one
//! setting of `λ` work across data sets of different density.
//!
//! **Determinism.** Initial factors are drawn from per-block random streams derived from the seed;
//! each row's solve reads only the fixed other side and its own previous factor; Gram matrices
//! and loss sums are reduced over fixed blocks in a fixed order. A model is therefore
//! bit-identical for a given seed whatever the number of rayon threads.
//!
//! **Serving.** A known user is scored from the stored factor. A history alone (a new user, an
//! anonymous session, or a user with events newer than the model) is *folded in*: its factor is
//! solved exactly against the stored item factors with the training confidence and
//! regularisation, using the stored `YᵀY`. Explanations follow Hu et al. §5 (see
//! [`IalsModel::explain`](Recommender::explain)); similar items are by cosine of item factors.

mod config;
mod solve;
#[cfg(test)]
mod tests;

pub use config::{Confidence, IalsConfig, Solver};

use rand::{RngExt, SeedableRng};
use rayon::prelude::*;

use self::solve::{CgScratch, CholeskySystem, FixedSide, Observations};
use std::borrow::Cow;

use super::{Contribution, FitOptions, Query, Recommender};
use crate::batch::FactorScoring;
use crate::buffer::{AlignedVec, ArrayRef, ArraySet, Buffer};
use crate::linalg::{SimdKernel, dot, dot_rows, gram};
use crate::matrix::InteractionMatrix;
use crate::topk::{ScoredItem, top_n_filtered};

/// Rows per parallel task in a half-step: small enough for rayon to balance rows of very
/// different lengths, large enough that scheduling costs nothing. Fixed, so that the per-block
/// loss partial sums are the same whatever the thread count.
const ROWS_PER_TASK: usize = 64;

/// A trained iALS model.
#[derive(Debug, Clone)]
pub struct IalsModel {
    config: IalsConfig,
    n_users: usize,
    n_items: usize,
    /// `n_users × k`, row-major.
    user_factors: Buffer<f32>,
    /// `n_items × k`, row-major (item-contiguous, so scoring streams through it).
    item_factors: Buffer<f32>,
    /// `YᵀY` of the item factors (`k × k`), needed by every fold-in.
    item_gram: Buffer<f32>,
    /// Euclidean norm of every item factor, for cosine similarity (derived, not stored).
    item_norms: Vec<f32>,
}

/// What a half-step adds to the loss.
#[derive(Default, Clone, Copy)]
struct HalfStepLoss {
    /// `Σ c (1 − s)² − s²` over the observed entries.
    observed: f64,
    /// `Σ λ_row ‖x_row‖²`.
    regularization: f64,
}

/// Per-thread scratch of a half-step.
struct RowScratch {
    cg: CgScratch,
    cholesky: Option<CholeskySystem>,
}

impl IalsModel {
    /// Trains on `matrix` (users × items, raw weights).
    ///
    /// After each epoch the observer receives the full objective (module docs) divided by the
    /// number of interactions. It costs nothing extra: the all-pairs term is `tr(XᵀX·YᵀY)` from
    /// the two Gram matrices ALS needs anyway, and the CG solver tracks the predictions of the
    /// observed entries through its steps. Cancellation is polled before each half-epoch.
    pub fn fit(
        config: &IalsConfig,
        matrix: &InteractionMatrix,
        opts: &FitOptions<'_>,
    ) -> crate::Result<Self> {
        Self::fit_with_checkpoints(config, matrix, opts, &[], &mut |_| true)
    }

    /// [`IalsModel::fit`] that also hands a copy of the model after each epoch listed in
    /// `checkpoints` to `at_checkpoint` (its config says `iterations = epoch`, so it is exactly
    /// the model `fit` would give with that many iterations). Returning false stops training
    /// there: the tuner picks the iteration count by watching validation quality this way.
    /// The model returned is the one after the last epoch run.
    pub fn fit_with_checkpoints(
        config: &IalsConfig,
        matrix: &InteractionMatrix,
        opts: &FitOptions<'_>,
        checkpoints: &[usize],
        at_checkpoint: &mut dyn FnMut(IalsModel) -> bool,
    ) -> crate::Result<Self> {
        let k = config.factors;
        let (n_users, n_items) = (matrix.n_rows(), matrix.n_cols());
        if let Some(limit) = opts.memory_limit_bytes {
            // Factors, the confidence matrix in both orientations, and a little per-thread scratch.
            let need = ((n_users + n_items) * k * 4 + matrix.nnz() * 16) as u64;
            if need > limit {
                return Err(crate::Error::ResourceLimit(format!(
                    "iALS with {k} factors on {n_users} users × {n_items} items needs about \
                     {need} bytes, more than the limit of {limit}"
                )));
            }
        }
        let observer = opts.observer;
        let by_user = matrix.map_values(|w| config.extra_confidence(w));
        let by_item = by_user.transpose();
        let user_reg: Vec<f32> =
            (0..n_users).map(|u| config.row_regularization(by_user.row_nnz(u), n_items)).collect();
        let item_reg: Vec<f32> =
            (0..n_items).map(|i| config.row_regularization(by_item.row_nnz(i), n_users)).collect();

        let std = (config.init_std / (k as f64).sqrt()) as f32;
        // Cache-line aligned, so that each factor row of the other side costs as few cache
        // lines as possible when a half-step reads it (see `AlignedVec`).
        let mut x = random_factors(n_users, k, std, opts.seed, 0);
        let mut y = random_factors(n_items, k, std, opts.seed, 1);
        let mut y_gram = gram(y.as_slice(), k);

        observer.on_start(config.iterations);
        for epoch in 1..=config.iterations {
            if observer.is_cancelled() {
                return Err(crate::Error::Cancelled);
            }
            let fixed = FixedSide { factors: y.as_slice(), gram: &y_gram, k };
            let users = half_step(config, &by_user, &user_reg, &fixed, x.as_mut_slice());
            if observer.is_cancelled() {
                return Err(crate::Error::Cancelled);
            }
            let x_gram = gram(x.as_slice(), k);
            let fixed = FixedSide { factors: x.as_slice(), gram: &x_gram, k };
            let items = half_step(config, &by_item, &item_reg, &fixed, y.as_mut_slice());
            y_gram = gram(y.as_slice(), k);
            // Σ over all pairs of (x_uᵀy_i)² = tr(XᵀX·YᵀY), both symmetric.
            let all_pairs: f64 =
                x_gram.iter().zip(&y_gram).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum();
            let loss = all_pairs + items.observed + users.regularization + items.regularization;
            observer.on_epoch(epoch, Some(loss / matrix.nnz().max(1) as f64));
            if checkpoints.contains(&epoch) && epoch < config.iterations {
                let so_far = IalsConfig { iterations: epoch, ..config.clone() };
                let (xs, ys) = (x.clone().into(), y.clone().into());
                let copy = Self::from_factors(so_far, n_users, n_items, xs, ys, y_gram.clone());
                if !at_checkpoint(copy) {
                    let so_far = IalsConfig { iterations: epoch, ..config.clone() };
                    return Ok(Self::from_factors(
                        so_far,
                        n_users,
                        n_items,
                        x.into(),
                        y.into(),
                        y_gram,
                    ));
                }
            }
        }
        Ok(Self::from_factors(config.clone(), n_users, n_items, x.into(), y.into(), y_gram))
    }

    fn from_factors(
        config: IalsConfig,
        n_users: usize,
        n_items: usize,
        user_factors: Buffer<f32>,
        item_factors: Buffer<f32>,
        item_gram: Vec<f32>,
    ) -> Self {
        let mut model = Self {
            config,
            n_users,
            n_items,
            user_factors,
            item_factors,
            item_gram: item_gram.into(),
            item_norms: Vec::new(),
        };
        model.item_norms = model.compute_item_norms();
        model
    }

    fn compute_item_norms(&self) -> Vec<f32> {
        self.item_factors.chunks_exact(self.k()).map(|y| dot(y, y).sqrt()).collect()
    }

    /// The hyperparameters.
    pub fn config(&self) -> &IalsConfig {
        &self.config
    }

    /// Number of latent factors.
    pub fn k(&self) -> usize {
        self.config.factors
    }

    /// Number of users with a stored factor.
    pub fn n_users(&self) -> usize {
        self.n_users
    }

    /// The factor of user row `u`, if stored.
    pub fn user_factor(&self, u: u32) -> Option<&[f32]> {
        let k = self.k();
        let s = (u as usize).checked_mul(k)?;
        self.user_factors.get(s..s + k)
    }

    /// The factor of item `i`, if known.
    pub fn item_factor(&self, i: u32) -> Option<&[f32]> {
        let k = self.k();
        let s = (i as usize).checked_mul(k)?;
        self.item_factors.get(s..s + k)
    }

    /// Arrays for the model file: `user_factors` (`users × k`), `item_factors` (`items × k`),
    /// both row-major, and `item_gram` (`k × k`).
    pub fn arrays(&self) -> Vec<(&'static str, ArrayRef<'_>)> {
        vec![
            ("user_factors", ArrayRef::F32(&self.user_factors)),
            ("item_factors", ArrayRef::F32(&self.item_factors)),
            ("item_gram", ArrayRef::F32(&self.item_gram)),
        ]
    }

    /// Rebuilds the model from a model file's arrays, checking their shapes against `factors`.
    pub fn from_arrays(config: IalsConfig, arrays: &mut ArraySet) -> crate::Result<Self> {
        let k = config.factors;
        let bad = |m: String| Err(crate::Error::InvalidInput(format!("iALS model data: {m}")));
        if k == 0 {
            return bad("0 factors".into());
        }
        let user_factors = arrays.take_f32("user_factors")?;
        let item_factors = arrays.take_f32("item_factors")?;
        let item_gram = arrays.take_f32("item_gram")?;
        if !user_factors.len().is_multiple_of(k) || !item_factors.len().is_multiple_of(k) {
            return bad(format!("factor arrays are not whole rows of {k} factors"));
        }
        if item_gram.len() != k * k {
            return bad(format!("item_gram has {} values, expected {}", item_gram.len(), k * k));
        }
        let mut model = Self {
            n_users: user_factors.len() / k,
            n_items: item_factors.len() / k,
            config,
            user_factors,
            item_factors,
            item_gram,
            item_norms: Vec::new(),
        };
        model.item_norms = model.compute_item_norms();
        Ok(model)
    }

    /// Removes user row `user`: its factor row is dropped and later rows move up by one.
    /// Does nothing when the row does not exist.
    pub fn remove_user(&mut self, user: u32) {
        let (k, u) = (self.k(), user as usize);
        if u >= self.n_users {
            return;
        }
        let mut v = Vec::with_capacity((self.n_users - 1) * k);
        v.extend_from_slice(&self.user_factors[..u * k]);
        v.extend_from_slice(&self.user_factors[(u + 1) * k..]);
        self.user_factors = v.into();
        self.n_users -= 1;
    }

    /// The history of a query as observations (items out of range are ignored).
    fn history(&self, query: &Query<'_>) -> (Vec<u32>, Vec<f32>) {
        query
            .items
            .iter()
            .zip(query.weights)
            .filter(|(i, _)| (**i as usize) < self.n_items)
            .map(|(&i, &w)| (i, self.config.extra_confidence(w)))
            .unzip()
    }

    /// Folds a history in: the user factor that an exact user half-step would give it against
    /// the stored item factors. An empty history gives the zero vector.
    pub fn fold_in(&self, items: &[u32], weights: &[f32]) -> Vec<f32> {
        let (indices, extra) = self.history(&Query::from_history(items, weights));
        let mut x = vec![0.0; self.k()];
        if indices.is_empty() {
            return x;
        }
        let reg = self.config.row_regularization(indices.len(), self.n_items);
        let mut system = CholeskySystem::new(self.k());
        // A failed factorisation (impossible with λ > 0 and finite factors) leaves x at zero.
        system.solve_row(
            &self.fixed_items(),
            Observations { indices: &indices, extra: &extra },
            reg,
            &mut x,
        );
        x
    }

    fn fixed_items(&self) -> FixedSide<'_> {
        FixedSide { factors: &self.item_factors, gram: &self.item_gram, k: self.k() }
    }
}

impl Recommender for IalsModel {
    fn n_items(&self) -> usize {
        self.n_items
    }

    /// `x_uᵀy_i` with the stored `x_u` for a known user, else with the folded-in factor.
    fn score(&self, query: &Query<'_>, out: &mut [f32]) {
        let x = self.query_vector(query).expect("iALS has query vectors");
        self.factor_scoring().expect("iALS has factors").score_into(&x, out);
    }

    fn factor_scoring(&self) -> Option<FactorScoring<'_>> {
        Some(FactorScoring { items: &self.item_factors, k: self.k(), bias: None })
    }

    fn query_vector(&self, query: &Query<'_>) -> Option<Cow<'_, [f32]>> {
        Some(match query.user.and_then(|u| self.user_factor(u)) {
            Some(x) => Cow::Borrowed(x),
            None => Cow::Owned(self.fold_in(query.items, query.weights)),
        })
    }

    /// Hu et al. (2008) §5: with `W = (YᵀC_uY + λ_u I)⁻¹` the folded-in score is
    /// `ŝ_ui = Σ_j s_ij·c_uj` over the history (`p_uj = 1`), where `s_ij = y_iᵀ W y_j` is the
    /// similarity of `i` and `j` as seen by this user. Returns the terms `s_ij·c_uj`, largest
    /// first; they sum to the fold-in score of `item` (not exactly to the stored-factor score of
    /// a known user, which was solved against the previous epoch's item factors).
    fn explain(&self, query: &Query<'_>, item: u32) -> Vec<Contribution> {
        let Some(target) = self.item_factor(item) else {
            return Vec::new();
        };
        let (indices, extra) = self.history(query);
        if indices.is_empty() {
            return Vec::new();
        }
        let k = self.k();
        let reg = self.config.row_regularization(indices.len(), self.n_items);
        let fixed = self.fixed_items();
        let mut system = CholeskySystem::new(k);
        if !system.factor(&fixed, Observations { indices: &indices, extra: &extra }, reg) {
            return Vec::new();
        }
        let (mut x, mut v) = (vec![0.0; k], vec![0.0; k]);
        system.solve_with_target(target, &mut x, &mut v);
        let mut out: Vec<Contribution> = indices
            .iter()
            .zip(&extra)
            .map(|(&j, &e)| {
                let y_j = &self.item_factors[j as usize * k..(j as usize + 1) * k];
                Contribution { item: j, contribution: dot(&v, y_j) * (1.0 + e) }
            })
            .collect();
        out.sort_by(|a, b| b.contribution.total_cmp(&a.contribution).then(a.item.cmp(&b.item)));
        out
    }

    /// Cosine similarity of item factors.
    fn similar_items_where(
        &self,
        item: u32,
        n: usize,
        keep: &dyn Fn(u32) -> bool,
    ) -> Vec<ScoredItem> {
        let Some(y) = self.item_factor(item) else {
            return Vec::new();
        };
        let norm = self.item_norms[item as usize];
        let mut scores = vec![0.0; self.n_items];
        dot_rows(&self.item_factors, y, &mut scores);
        for (s, &m) in scores.iter_mut().zip(&self.item_norms) {
            let d = norm * m;
            *s = if d > 0.0 { *s / d } else { 0.0 };
        }
        top_n_filtered(&scores, n, &[item], keep)
    }
}

/// Solves every row of `matrix` (values are `c − 1`) against `fixed`, in parallel, updating
/// `factors` in place; returns the loss terms, summed in block order.
fn half_step(
    config: &IalsConfig,
    matrix: &InteractionMatrix,
    row_reg: &[f32],
    fixed: &FixedSide<'_>,
    factors: &mut [f32],
) -> HalfStepLoss {
    let k = fixed.k;
    let partials: Vec<HalfStepLoss> = factors
        .par_chunks_mut(ROWS_PER_TASK * k)
        .enumerate()
        .map_init(
            || RowScratch {
                cg: CgScratch::default(),
                cholesky: (config.solver == Solver::Cholesky).then(|| CholeskySystem::new(k)),
            },
            |scratch, (block, rows)| {
                crate::linalg::run_simd(SolveBlock {
                    config,
                    matrix,
                    row_reg,
                    fixed,
                    first_row: block * ROWS_PER_TASK,
                    rows,
                    scratch,
                })
            },
        )
        .collect();
    partials.iter().fold(HalfStepLoss::default(), |a, b| HalfStepLoss {
        observed: a.observed + b.observed,
        regularization: a.regularization + b.regularization,
    })
}

/// One parallel task of a half-step: solves a block of consecutive rows.
struct SolveBlock<'a> {
    config: &'a IalsConfig,
    matrix: &'a InteractionMatrix,
    row_reg: &'a [f32],
    fixed: &'a FixedSide<'a>,
    first_row: usize,
    /// The block's factors, `k` values per row, updated in place.
    rows: &'a mut [f32],
    scratch: &'a mut RowScratch,
}

impl SimdKernel for SolveBlock<'_> {
    type Output = HalfStepLoss;

    #[inline(always)] // the whole CG loop is compiled inside `run_simd`'s AVX2 function
    fn run(self) -> HalfStepLoss {
        let k = self.fixed.k;
        let mut loss = HalfStepLoss::default();
        for (offset, x) in self.rows.chunks_exact_mut(k).enumerate() {
            let r = self.first_row + offset;
            let row = self.matrix.row(r);
            if row.is_empty() {
                // No observation: the minimiser is exactly zero.
                x.fill(0.0);
                continue;
            }
            let obs = Observations { indices: row.indices, extra: row.values };
            let reg = self.row_reg[r];
            let observed = match &mut self.scratch.cholesky {
                Some(system) => system.solve_row(self.fixed, obs, reg, x).unwrap_or(0.0),
                None => solve::solve_cg(
                    self.fixed,
                    obs,
                    reg,
                    self.config.cg_steps,
                    x,
                    &mut self.scratch.cg,
                ),
            };
            loss.observed += observed;
            loss.regularization += f64::from(reg) * f64::from(dot(x, x));
        }
        loss
    }
}

/// Rows per independent random stream of the initialisation.
const INIT_BLOCK_ROWS: usize = 1024;

/// `rows × k` factors with independent N(0, std²) entries. Each block of rows draws from its
/// own stream seeded from `(seed, side, block)`, so the result does not depend on threads.
fn random_factors(rows: usize, k: usize, std: f32, seed: u64, side: u64) -> AlignedVec<f32> {
    let mut out = AlignedVec::zeroed(rows * k);
    out.as_mut_slice().par_chunks_mut(INIT_BLOCK_ROWS * k).enumerate().for_each(
        |(block, chunk)| {
            let stream =
                splitmix(splitmix(seed ^ side.wrapping_mul(0xA076_1D64_78BD_642F)) ^ block as u64);
            let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(stream);
            for pair in chunk.chunks_mut(2) {
                // Box–Muller: two independent standard normals from two uniforms in (0, 1].
                let u1: f64 = 1.0 - rng.random::<f64>();
                let u2: f64 = rng.random::<f64>();
                let radius = (-2.0 * u1.ln()).sqrt();
                let angle = std::f64::consts::TAU * u2;
                pair[0] = std * (radius * angle.cos()) as f32;
                if let Some(second) = pair.get_mut(1) {
                    *second = std * (radius * angle.sin()) as f32;
                }
            }
        },
    );
    out
}

/// SplitMix64's finaliser: decorrelates nearby seeds.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
