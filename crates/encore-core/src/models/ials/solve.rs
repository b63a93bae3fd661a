//! The per-row least-squares problem of iALS and its two solvers.
//!
//! With the other side's factors `Y` fixed, the factor `x` of one row (a user, or an item in the
//! item half-step) minimises
//!
//! ```text
//! Σ_j c_j (p_j − xᵀy_j)²  +  λ_row ‖x‖²        (p_j = 1 on observed entries, 0 elsewhere)
//! ```
//!
//! whose normal equations are `A x = b` with
//!
//! ```text
//! A = YᵀY + Σ_{j observed} (c_j − 1) y_j y_jᵀ + λ_row I,     b = Σ_{j observed} c_j y_j.
//! ```
//!
//! `YᵀY` is shared by every row, so a row only pays for its own observations (Hu et al. 2008 §4).
//! Throughout, the confidence of an observation is passed as `e_j = c_j − 1 ≥ 0`.
//!
//! * [`solve_cg`] runs a few conjugate-gradient steps warm-started from the previous `x`, using
//!   only matrix–vector products: `O(|obs|·k + k²)` per step, as `implicit`'s `_solve_cg`.
//! * [`CholeskySystem`] builds `A` explicitly (`O(|obs|·k²)`) and factors it with faer's in-place
//!   `LLᵀ` — exact, and used for fold-in and explanations whatever the training solver.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt;

use crate::linalg::{axpy, axpy4, dot, dot4, symmetric_matvec};

/// Below this squared residual norm a CG solve is considered converged (as in `implicit`).
const CG_CONVERGED: f32 = 1e-20;

/// The fixed side of a half-step: its factors (row-major `rows × k`) and their Gram matrix.
#[derive(Clone, Copy)]
pub(crate) struct FixedSide<'a> {
    /// Row-major factors of the other side.
    pub factors: &'a [f32],
    /// `YᵀY`, `k × k` row-major, without regularisation.
    pub gram: &'a [f32],
    /// Number of latent factors.
    pub k: usize,
}

impl<'a> FixedSide<'a> {
    #[inline(always)]
    fn row(&self, i: u32) -> &'a [f32] {
        let s = i as usize * self.k;
        &self.factors[s..s + self.k]
    }
}

/// One row's observations: indices into the fixed side and their extra confidence `c − 1`.
#[derive(Clone, Copy)]
pub(crate) struct Observations<'a> {
    /// Indices of observed entries (rows of the fixed side).
    pub indices: &'a [u32],
    /// `c_j − 1` for each observed entry.
    pub extra: &'a [f32],
}

/// The part of the iALS loss that depends on this row's observed entries, given their final
/// predictions `s_j`: `Σ_j c_j (1 − s_j)² − s_j²`. (The `s_j²` of the observed entries is also
/// counted in the all-pairs term `tr(XᵀX·YᵀY)`, hence the subtraction.)
#[inline(always)]
fn observed_loss(extra: &[f32], predictions: &[f32]) -> f64 {
    extra
        .iter()
        .zip(predictions)
        .map(|(&e, &s)| {
            let (c, s) = (1.0 + f64::from(e), f64::from(s));
            c * (1.0 - s) * (1.0 - s) - s * s
        })
        .sum()
}

/// Work vectors of [`solve_cg`], reused across rows.
#[derive(Default)]
pub(crate) struct CgScratch {
    r: Vec<f32>,
    p: Vec<f32>,
    ap: Vec<f32>,
    /// `y_jᵀx` for each observation, kept up to date along the CG steps.
    predictions: Vec<f32>,
    /// `y_jᵀp` for each observation in the current step.
    along_p: Vec<f32>,
    /// The observed rows of the fixed side copied contiguously, for long rows (see
    /// [`GATHER_MIN_VALUES`]).
    gathered: Vec<f32>,
}

/// Rows whose observed factors exceed this many values (256 KiB, a quarter of a core's L2) are
/// copied into a contiguous buffer before the first pass. Such rows (popular items: thousands of
/// users) do not stay in cache between CG steps, and re-reading them scattered over a large
/// factor matrix is latency-bound; the copy is read back sequentially, which the hardware
/// prefetcher streams. Shorter rows stay in cache, where the copy would be pure cost. Measured
/// with `bench/train_speed.sh`: with a threshold of 16K values the default benchmark was 4 %
/// slower (copies of rows that fit in cache anyway); with no copy at all the `--large` one was
/// 30 % slower.
const GATHER_MIN_VALUES: usize = 64 * 1024;

/// One CG matrix–vector product restricted to the observations: `ap += Σ_j e_j (y_jᵀp) y_j`,
/// recording `y_jᵀp` in `along_p`. `row(j)` is the fixed side's factor of observation `j`.
///
/// Observations go four at a time through [`dot4`], so that the reductions of four dot
/// products overlap instead of each one delaying its `axpy`; the results are bit-identical to
/// one [`dot`] at a time. (Written out here and in [`add_observed_residual`] rather than shared
/// through a callback: LLVM compiled the callback version to half the speed.)
#[inline(always)]
fn add_observed_products<'y>(
    row: impl Fn(usize) -> &'y [f32],
    extra: &[f32],
    p: &[f32],
    ap: &mut [f32],
    along_p: &mut [f32],
) {
    let quads = extra.len() / 4;
    for q in 0..quads {
        let j = 4 * q;
        let rows = [row(j), row(j + 1), row(j + 2), row(j + 3)];
        let t = dot4(rows, p);
        along_p[j..j + 4].copy_from_slice(&t);
        let e = &extra[j..j + 4];
        axpy4([e[0] * t[0], e[1] * t[1], e[2] * t[2], e[3] * t[3]], rows, ap);
    }
    for j in 4 * quads..extra.len() {
        let y = row(j);
        along_p[j] = dot(y, p);
        axpy(extra[j] * along_p[j], y, ap);
    }
}

/// The first pass of a solve: records `s_j = y_jᵀx` in `predictions` and adds
/// `Σ_j (c_j − e_j s_j) y_j` to `r` (the observed part of `b − A x`), four observations at a time
/// as in [`add_observed_products`].
#[inline(always)]
fn add_observed_residual<'y>(
    row: impl Fn(usize) -> &'y [f32],
    extra: &[f32],
    x: &[f32],
    r: &mut [f32],
    predictions: &mut Vec<f32>,
) {
    let quads = extra.len() / 4;
    for q in 0..quads {
        let j = 4 * q;
        let rows = [row(j), row(j + 1), row(j + 2), row(j + 3)];
        let s = dot4(rows, x);
        predictions.extend_from_slice(&s);
        let coefficient = |l: usize| 1.0 + extra[j + l] - extra[j + l] * s[l];
        axpy4([coefficient(0), coefficient(1), coefficient(2), coefficient(3)], rows, r);
    }
    for (j, &e) in extra.iter().enumerate().skip(4 * quads) {
        let y = row(j);
        let s = dot(y, x);
        predictions.push(s);
        axpy(1.0 + e - e * s, y, r);
    }
}

/// Improves `x` with `steps` conjugate-gradient steps on `A x = b` (see the module docs),
/// starting from the current `x`. Returns the row's observed-loss term for the final `x`.
///
/// The predictions `y_jᵀx` are tracked through the steps from the products the algorithm
/// computes anyway (`y_jᵀx₀` for the residual, `y_jᵀp` for `A p`), so the loss costs no
/// extra pass over the observations.
#[inline(always)] // into the caller's `with_simd` loop, to be compiled with AVX2
pub(crate) fn solve_cg(
    fixed: &FixedSide<'_>,
    obs: Observations<'_>,
    reg: f32,
    steps: usize,
    x: &mut [f32],
    scratch: &mut CgScratch,
) -> f64 {
    let k = fixed.k;
    let n = obs.indices.len();
    let CgScratch { r, p, ap, predictions, along_p, gathered } = scratch;
    let gather = n * k >= GATHER_MIN_VALUES;
    gathered.clear();
    r.resize(k, 0.0);
    p.resize(k, 0.0);
    ap.resize(k, 0.0);
    predictions.clear();
    along_p.clear();
    along_p.resize(n, 0.0);

    // r = b − A x = −(YᵀY + λI)x + Σ_j (c_j − (c_j − 1)·y_jᵀx) y_j
    symmetric_matvec(fixed.gram, x, r);
    for (ri, &xi) in r.iter_mut().zip(x.iter()) {
        *ri = -*ri - reg * xi;
    }
    if gather {
        // Copied first, so that this pass already reads the rows sequentially.
        for &j in obs.indices {
            gathered.extend_from_slice(fixed.row(j));
        }
        add_observed_residual(|j| &gathered[j * k..(j + 1) * k], obs.extra, x, r, predictions);
    } else {
        add_observed_residual(|j| fixed.row(obs.indices[j]), obs.extra, x, r, predictions);
    }
    p.copy_from_slice(r);
    let mut rs_old = dot(r, r);
    if rs_old >= CG_CONVERGED {
        for _ in 0..steps {
            // A p without forming A.
            symmetric_matvec(fixed.gram, p, ap);
            axpy(reg, p, ap);
            if gather {
                let row = |j: usize| &gathered[j * k..(j + 1) * k];
                add_observed_products(row, obs.extra, p, ap, along_p);
            } else {
                add_observed_products(|j| fixed.row(obs.indices[j]), obs.extra, p, ap, along_p);
            }
            let p_ap = dot(p, ap);
            if p_ap <= 0.0 || !p_ap.is_finite() {
                break;
            }
            let step = rs_old / p_ap;
            axpy(step, p, x);
            axpy(-step, ap, r);
            for (s, t) in predictions.iter_mut().zip(along_p.iter()) {
                *s += step * t;
            }
            let rs_new = dot(r, r);
            if rs_new < CG_CONVERGED {
                break;
            }
            let beta = rs_new / rs_old;
            for (pi, ri) in p.iter_mut().zip(r.iter()) {
                *pi = ri + beta * *pi;
            }
            rs_old = rs_new;
        }
    }
    observed_loss(obs.extra, predictions)
}

/// The dense system `A` of one row, factored in place by faer's `LLᵀ`, with its scratch memory.
/// One is kept per thread so that no row allocates.
pub(crate) struct CholeskySystem {
    k: usize,
    /// `A`, then its Cholesky factor (lower triangle), column-major `k × k`.
    a: Vec<f32>,
    /// Right-hand sides, column-major `k × cols`.
    rhs: Vec<f32>,
    stack: MemBuffer,
    predictions: Vec<f32>,
}

impl CholeskySystem {
    /// Scratch for `k` factors and up to two right-hand sides.
    pub fn new(k: usize) -> Self {
        let par = faer::Par::Seq;
        let req = llt::factor::cholesky_in_place_scratch::<f32>(k, par, Default::default())
            .or(llt::solve::solve_in_place_scratch::<f32>(k, 2, par));
        Self {
            k,
            a: vec![0.0; k * k],
            rhs: vec![0.0; 2 * k],
            stack: MemBuffer::new(req),
            predictions: Vec::new(),
        }
    }

    /// Builds `A` and `b` for `obs` and factors `A`; `b` is left as the first right-hand side.
    /// Returns false when `A` is not numerically positive definite (the caller keeps the old
    /// factor; with `λ > 0` this needs absurd inputs).
    pub fn factor(&mut self, fixed: &FixedSide<'_>, obs: Observations<'_>, reg: f32) -> bool {
        let k = self.k;
        self.a.copy_from_slice(fixed.gram);
        for d in 0..k {
            self.a[d * k + d] += reg;
        }
        let b = &mut self.rhs[..k];
        b.fill(0.0);
        for (&j, &e) in obs.indices.iter().zip(obs.extra) {
            let y = fixed.row(j);
            axpy(1.0 + e, y, b);
            if e != 0.0 {
                // Only the lower triangle is read by the factorisation: column c from row c on.
                for c in 0..k {
                    let w = e * y[c];
                    axpy(w, &y[c..], &mut self.a[c * k + c..(c + 1) * k]);
                }
            }
        }
        let a = faer::MatMut::from_column_major_slice_mut(&mut self.a, k, k);
        llt::factor::cholesky_in_place(
            a,
            Default::default(),
            faer::Par::Seq,
            MemStack::new(&mut self.stack),
            Default::default(),
        )
        .is_ok()
    }

    /// Solves `A z = v` in place for the first `cols` right-hand sides (after [`Self::factor`]).
    fn solve(&mut self, cols: usize) {
        let k = self.k;
        let l = faer::MatRef::from_column_major_slice(&self.a, k, k);
        let rhs = faer::MatMut::from_column_major_slice_mut(&mut self.rhs[..k * cols], k, cols);
        llt::solve::solve_in_place(l, rhs, faer::Par::Seq, MemStack::new(&mut self.stack));
    }

    /// Solves the row exactly into `x`; returns its observed-loss term, or `None` (and leaves
    /// `x` alone) when the system could not be factored.
    pub fn solve_row(
        &mut self,
        fixed: &FixedSide<'_>,
        obs: Observations<'_>,
        reg: f32,
        x: &mut [f32],
    ) -> Option<f64> {
        if !self.factor(fixed, obs, reg) {
            return None;
        }
        self.solve(1);
        x.copy_from_slice(&self.rhs[..self.k]);
        self.predictions.clear();
        self.predictions.extend(obs.indices.iter().map(|&j| dot(fixed.row(j), x)));
        Some(observed_loss(obs.extra, &self.predictions))
    }

    /// Solves for `x = A⁻¹b` and `v = A⁻¹y_target` at once (after [`Self::factor`], which left
    /// `b` in place): `v` is what the explanation of a score needs (see the parent module).
    pub fn solve_with_target(&mut self, target: &[f32], x: &mut [f32], v: &mut [f32]) {
        let k = self.k;
        self.rhs[k..2 * k].copy_from_slice(target);
        self.solve(2);
        x.copy_from_slice(&self.rhs[..k]);
        v.copy_from_slice(&self.rhs[k..2 * k]);
    }
}
