//! Top-N for many users at once: scoring shaped like a matrix product, with the selection fused.
//!
//! Scoring one user reads every item's factors; for a catalogue that does not fit the CPU caches
//! (5·10^4 items × 64 factors is 12.8 MB) that read, not the arithmetic, is the cost. Scoring a
//! *block* of 64 users together reads each tile of 1,024 items' factors once for the whole block:
//! a GEMM `users × k · k × items` over tiles, whose 256 KB of scores per tile are scanned while in
//! cache, each user keeping only the few items that can still be in its top N — never a full score
//! matrix (which for 10^6 users × 2·10^5 items would be 800 GB). Servers use it for the candidate
//! table of every known user ([`top_n_all_users`]) and for requests that arrive together
//! ([`gemm_scores`], [`top_n_from_gemm`]); `encore recommend --all` for batch export.
//!
//! # Same scores, bit for bit
//!
//! A GEMM (faer's, which reaches ~160 GFLOP/s per core here against ~20 for a kernel that keeps
//! [`crate::linalg::dot`]'s summation order; `bench/README.md`) sums each score in another order
//! than the one-user path ([`Recommender::score`] through [`FactorScoring::score_into`]), so its
//! scores differ in the last bits and near-ties could swap places. So the GEMM only *selects*:
//! floating-point summation in any order is within `γ_k·Σ|v_j·y_ij| ≤ γ_k·‖v‖·‖y_i‖` of the real
//! dot product (`γ_k = k·u/(1-k·u)`, `u = 2⁻²⁴`; Higham, *Accuracy and Stability of Numerical
//! Algorithms*, §3.1), so the GEMM score and the exact score of an item differ by at most
//! `ε = 2γ_{k+1}·(‖v‖·max‖y‖ + max|b|)`. Every item of the exact top `n` has a GEMM score within
//! `2ε` of the `n`-th best GEMM score; those few candidates are rescored with [`crate::linalg::dot`]
//! and the exact top `n` is selected from them. The lists are therefore the one-user path's, score
//! bits and tie order included (ties broken by item index by [`TopN`]). A user whose vector is not
//! finite takes the one-user path.
//!
//! Models without factors (EASE, item-kNN, popularity) are scored one user at a time through
//! [`Recommender::score`], on the same threads.

use std::borrow::Cow;

use rayon::prelude::*;

use crate::linalg::{SimdKernel, dot, run_simd};
use crate::matrix::InteractionMatrix;
use crate::models::{Query, Recommender};
use crate::topk::{ScoredItem, TopN, top_n_filtered};

/// Users scored together: one GEMM of an item tile against 64 user vectors.
pub const USER_BLOCK: usize = 64;

/// How a factor model scores: `score(i) = vᵀ·items[i] (+ bias[i])` for the query's vector `v`
/// ([`Recommender::query_vector`]).
#[derive(Debug, Clone, Copy)]
pub struct FactorScoring<'a> {
    /// Item factors, row-major `items × k`.
    pub items: &'a [f32],
    /// Number of factors.
    pub k: usize,
    /// Per-item bias added to the dot product (BPR), if the model has one.
    pub bias: Option<&'a [f32]>,
}

impl FactorScoring<'_> {
    /// Number of items.
    pub fn n_items(&self) -> usize {
        self.items.len().checked_div(self.k).unwrap_or(0)
    }

    /// Writes every item's score for vector `v` into `out`: the one-user path. Models call this
    /// from [`Recommender::score`], so both paths share one definition of a score.
    pub fn score_into(&self, v: &[f32], out: &mut [f32]) {
        crate::linalg::dot_rows(self.items, v, out);
        if let Some(bias) = self.bias {
            for (o, b) in out.iter_mut().zip(bias) {
                *o += b;
            }
        }
    }
}

/// One query of a batch and the items it must not be recommended (sorted ascending).
#[derive(Debug, Clone, Copy)]
pub struct BatchQuery<'a> {
    /// What to score.
    pub query: Query<'a>,
    /// Items left out (usually the history: `query.items`).
    pub exclude: &'a [u32],
}

/// The best `n` items of every query, best first: the same lists as scoring each query with
/// [`Recommender::score`] and selecting with [`top_n_filtered`] (same scores, same ties), leaving
/// out each query's `exclude` items and the items `keep` refuses.
pub fn top_n_batch(
    rec: &dyn Recommender,
    queries: &[BatchQuery<'_>],
    n: usize,
    keep: &dyn Fn(u32) -> bool,
) -> Vec<Vec<ScoredItem>> {
    let scorer = rec.factor_scoring().map(BlockScorer::new);
    batch_with(rec, scorer.as_ref(), queries, n, keep)
}

/// [`top_n_batch`] with the model's [`BlockScorer`] built once by the caller.
fn batch_with(
    rec: &dyn Recommender,
    scorer: Option<&BlockScorer<'_>>,
    queries: &[BatchQuery<'_>],
    n: usize,
    keep: &dyn Fn(u32) -> bool,
) -> Vec<Vec<ScoredItem>> {
    match scorer {
        Some(scorer) => {
            let vectors: Vec<Cow<'_, [f32]>> = queries
                .iter()
                .map(|q| rec.query_vector(&q.query).expect("factor models give query vectors"))
                .collect();
            let mut out = Vec::with_capacity(queries.len());
            for (vs, qs) in vectors.chunks(USER_BLOCK).zip(queries.chunks(USER_BLOCK)) {
                let block: Vec<(&[f32], &[u32])> =
                    vs.iter().zip(qs).map(|(v, q)| (&**v, q.exclude)).collect();
                out.extend(scorer.top_n(&block, n, keep));
            }
            out
        }
        None => {
            let mut scores = vec![0.0; rec.n_items()];
            queries
                .iter()
                .map(|q| {
                    rec.score(&q.query, &mut scores);
                    top_n_filtered(&scores, n, q.exclude, keep)
                })
                .collect()
        }
    }
}

/// Items per GEMM tile: 1024 items × 64 users of `f32` scores is 256 KB, which stays in L2 while
/// each user's column is scanned.
const ITEM_TILE: usize = 1024;

/// Scores tested together for "any above the threshold" in the scan of a GEMM tile.
const SCAN_CHUNK: usize = 16;

/// Offers one user's GEMM scores of one item tile to the user's [`Pruner`].
struct ScanColumn<'a> {
    col: &'a [f32],
    bias: Option<&'a [f32]>,
    first_item: usize,
    exclude: &'a [u32],
    keep: &'a dyn Fn(u32) -> bool,
    pruner: &'a mut Pruner,
}

impl SimdKernel for ScanColumn<'_> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let ScanColumn { col, bias, first_item, exclude, keep, pruner } = self;
        let (chunks, rest) = col.as_chunks::<SCAN_CHUNK>();
        let score = |i: usize| bias.map_or(col[i], |b| col[i] + b[i]);
        let offer = |pruner: &mut Pruner, i: usize| {
            let g = score(i);
            // NaN is refused too, as the exact path skips it.
            if g.is_nan() || g < pruner.threshold {
                return;
            }
            let item = (first_item + i) as u32;
            if exclude.binary_search(&item).is_ok() || !keep(item) {
                return;
            }
            pruner.push(item, g);
        };
        for (c, chunk) in chunks.iter().enumerate() {
            let first = c * SCAN_CHUNK;
            let t = pruner.threshold;
            // A bit per score at or above the threshold: one vector compare per chunk, and a
            // loop over the set bits (most chunks have none) instead of a branch per score.
            let mut mask = 0u32;
            match bias {
                Some(b) => {
                    let b = &b[first..first + SCAN_CHUNK];
                    for l in 0..SCAN_CHUNK {
                        mask |= u32::from(chunk[l] + b[l] >= t) << l;
                    }
                }
                None => {
                    for (l, &g) in chunk.iter().enumerate() {
                        mask |= u32::from(g >= t) << l;
                    }
                }
            }
            while mask != 0 {
                let l = mask.trailing_zeros() as usize;
                mask &= mask - 1;
                offer(pruner, first + l);
            }
        }
        for i in col.len() - rest.len()..col.len() {
            offer(pruner, i);
        }
    }
}

/// One user's candidates by GEMM score: every eligible item within `2ε` of the `n`-th best GEMM
/// score seen so far. The buffer is compacted (the `n`-th best found with a selection, items
/// below its slack dropped) whenever it grows past a limit, so each kept item costs O(1).
struct Pruner {
    n: usize,
    eps: f32,
    candidates: Vec<(u32, f32)>,
    threshold: f32,
    limit: usize,
    scratch: Vec<f32>,
}

impl Pruner {
    fn new(n: usize, eps: f32) -> Self {
        let limit = 4 * n.max(16);
        Self {
            n,
            eps,
            candidates: Vec::with_capacity(limit),
            threshold: f32::NEG_INFINITY,
            limit,
            scratch: Vec::new(),
        }
    }

    #[inline]
    fn push(&mut self, item: u32, g: f32) {
        self.candidates.push((item, g));
        if self.candidates.len() >= self.limit {
            self.compact();
        }
    }

    /// Drops the candidates that can no longer be in the exact top `n`.
    fn compact(&mut self) {
        if self.candidates.len() > self.n {
            self.scratch.clear();
            self.scratch.extend(self.candidates.iter().map(|c| c.1));
            let (_, &mut nth, _) =
                self.scratch.select_nth_unstable_by(self.n - 1, |a, b| b.total_cmp(a));
            // The slack covers both scores' errors and the rounding of this subtraction.
            let threshold = nth - (2.0 * self.eps + nth.abs() * 4.0 * f32::EPSILON);
            self.threshold = self.threshold.max(threshold);
            let t = self.threshold;
            self.candidates.retain(|c| c.1 >= t);
        }
        // Many equal scores can keep the buffer full: grow the limit rather than compact again
        // at every push.
        self.limit = self.limit.max(2 * self.candidates.len());
    }
}

/// The norms of a model's item side that the GEMM error bound needs: computed once per model
/// (a pass over the item factors), then kept by whoever scores with it repeatedly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoringBounds {
    max_item_norm: f64,
    max_abs_bias: f64,
}

impl ScoringBounds {
    /// The bounds of `f`'s items.
    pub fn of(f: FactorScoring<'_>) -> Self {
        let max_item_norm = f
            .items
            .chunks_exact(f.k.max(1))
            .map(|y| y.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>())
            .fold(0.0, f64::max)
            .sqrt();
        let max_abs_bias =
            f.bias.map_or(0.0, |b| b.iter().map(|&x| f64::from(x).abs()).fold(0.0, f64::max));
        Self { max_item_norm, max_abs_bias }
    }
}

/// The item side of a blocked scoring, with the norms its error bound needs.
struct BlockScorer<'a> {
    f: FactorScoring<'a>,
    max_item_norm: f64,
    max_abs_bias: f64,
}

impl<'a> BlockScorer<'a> {
    fn new(f: FactorScoring<'a>) -> Self {
        Self::with_bounds(f, ScoringBounds::of(f))
    }

    fn with_bounds(f: FactorScoring<'a>, b: ScoringBounds) -> Self {
        Self { f, max_item_norm: b.max_item_norm, max_abs_bias: b.max_abs_bias }
    }

    /// The largest difference between a GEMM score and the exact score of `v` for any item, or
    /// `None` when it cannot be bounded (a non-finite vector or model).
    fn error_bound(&self, v: &[f32]) -> Option<f32> {
        let norm = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
        let u = f64::from(f32::EPSILON) / 2.0;
        let ku = (self.f.k + 1) as f64 * u;
        let gamma = ku / (1.0 - ku);
        // 1 % and an absolute floor cover the rounding of this computation and of underflow.
        let eps = 2.0 * gamma * (norm * self.max_item_norm + self.max_abs_bias) * 1.01 + 1e-30;
        (eps.is_finite() && eps < f64::from(f32::MAX) / 4.0).then_some(eps as f32)
    }

    /// The exact score of `item` for `v`: [`FactorScoring::score_into`]'s arithmetic.
    fn exact(&self, v: &[f32], item: usize) -> f32 {
        let k = self.f.k;
        let s = dot(&self.f.items[item * k..(item + 1) * k], v);
        match self.f.bias {
            Some(b) => s + b[item],
            None => s,
        }
    }

    /// The exact top `n` of `v` among the candidates `pruner` kept.
    fn exact_top(&self, pruner: &mut Pruner, v: &[f32], n: usize) -> Vec<ScoredItem> {
        pruner.compact();
        let mut exact = TopN::new(n);
        for &(item, _) in &pruner.candidates {
            let cand = ScoredItem { item, score: self.exact(v, item as usize) };
            if exact.would_keep(cand) {
                exact.push(cand);
            }
        }
        exact.into_sorted()
    }

    /// Scores a block of `(vector, exclude)` pairs against every item, tile by tile.
    fn top_n(
        &self,
        block: &[(&[f32], &[u32])],
        n: usize,
        keep: &dyn Fn(u32) -> bool,
    ) -> Vec<Vec<ScoredItem>> {
        let (f, k) = (self.f, self.f.k);
        let n_items = f.n_items();
        if n == 0 || k == 0 || block.is_empty() {
            return block.iter().map(|_| Vec::new()).collect();
        }
        let bounds: Vec<Option<f32>> = block.iter().map(|(v, _)| self.error_bound(v)).collect();
        // The users of the block with a bound, as the columns of a k × users matrix.
        let gemm_users: Vec<usize> = (0..block.len()).filter(|&j| bounds[j].is_some()).collect();
        let mut vectors = Vec::with_capacity(gemm_users.len() * k);
        for &j in &gemm_users {
            vectors.extend_from_slice(&block[j].0[..k]);
        }
        let users_t = faer::MatRef::from_column_major_slice(&vectors, k, gemm_users.len());
        let mut scores = faer::Mat::<f32>::zeros(ITEM_TILE.min(n_items), gemm_users.len());
        let mut pruners: Vec<Pruner> = gemm_users
            .iter()
            .map(|&j| Pruner::new(n, bounds[j].expect("GEMM users have a bound")))
            .collect();
        if !gemm_users.is_empty() {
            for start in (0..n_items).step_by(ITEM_TILE) {
                let len = ITEM_TILE.min(n_items - start);
                let y = faer::MatRef::from_row_major_slice(
                    &f.items[start * k..(start + len) * k],
                    len,
                    k,
                );
                faer::linalg::matmul::matmul(
                    scores.as_mut().subrows_mut(0, len),
                    faer::Accum::Replace,
                    y,
                    users_t,
                    1.0f32,
                    faer::Par::Seq,
                );
                let bias = f.bias.map(|b| &b[start..start + len]);
                for (c, &j) in gemm_users.iter().enumerate() {
                    let col = &scores.col_as_slice(c)[..len];
                    run_simd(ScanColumn {
                        col,
                        bias,
                        first_item: start,
                        exclude: block[j].1,
                        keep,
                        pruner: &mut pruners[c],
                    });
                }
            }
        }
        let mut out: Vec<Vec<ScoredItem>> = block.iter().map(|_| Vec::new()).collect();
        for (pruner, &j) in pruners.iter_mut().zip(&gemm_users) {
            out[j] = self.exact_top(pruner, block[j].0, n);
        }
        // Users without a bound: the one-user path.
        let mut row = Vec::new();
        for (j, &(v, exclude)) in block.iter().enumerate() {
            if bounds[j].is_none() {
                row.resize(n_items, 0.0);
                f.score_into(v, &mut row);
                out[j] = top_n_filtered(&row, n, exclude, keep);
            }
        }
        out
    }
}

/// GEMM scores of several query vectors against every item, without the bias, into `out`
/// (`n_items × vectors.len()`, column-major: column `j` holds vector `j`'s scores, each within
/// the error bound of [`top_n_from_gemm`] of `vectors[j]ᵀ·y_i`). One pass over the item factors
/// serves every vector, which is what lets a server answer requests that arrive together for the
/// price of about one (see `encore-service`'s request batching).
pub fn gemm_scores(f: FactorScoring<'_>, vectors: &[&[f32]], out: &mut [f32]) {
    let (k, n_items) = (f.k, f.n_items());
    assert_eq!(out.len(), n_items * vectors.len(), "gemm_scores: output of the wrong size");
    let mut columns = Vec::with_capacity(vectors.len() * k);
    for v in vectors {
        columns.extend_from_slice(&v[..k]);
    }
    let users_t = faer::MatRef::from_column_major_slice(&columns, k, vectors.len());
    let mut scores = faer::MatMut::from_column_major_slice_mut(out, n_items, vectors.len());
    // Tile by tile: faer keeps its packing buffers per thread, sized by the product. One
    // product over a whole large catalogue left ~20 MB behind in every request thread that ever
    // led a batch (1 GB more resident under load); tiles keep that to what a tile needs.
    for start in (0..n_items).step_by(GEMM_TILE) {
        let len = GEMM_TILE.min(n_items - start);
        let y = faer::MatRef::from_row_major_slice(&f.items[start * k..(start + len) * k], len, k);
        faer::linalg::matmul::matmul(
            scores.as_mut().subrows_mut(start, len),
            faer::Accum::Replace,
            y,
            users_t,
            1.0f32,
            faer::Par::Seq,
        );
    }
}

/// Items per product in [`gemm_scores`].
const GEMM_TILE: usize = 4 * ITEM_TILE;

/// The exact top `n` of vector `v` (the one-user path's list: same scores, same ties) selected
/// from its [`gemm_scores`]: the items within twice the error bound of the `n`-th best GEMM score
/// are rescored exactly. `bounds` are the model's ([`ScoringBounds::of`]). A vector whose error
/// cannot be bounded is scored exactly.
pub fn top_n_from_gemm(
    f: FactorScoring<'_>,
    bounds: ScoringBounds,
    v: &[f32],
    gemm: &[f32],
    n: usize,
    exclude: &[u32],
    keep: &dyn Fn(u32) -> bool,
) -> Vec<ScoredItem> {
    let scorer = BlockScorer::with_bounds(f, bounds);
    match scorer.error_bound(v) {
        Some(eps) if n > 0 => {
            let mut pruner = Pruner::new(n, eps);
            run_simd(ScanColumn {
                col: gemm,
                bias: f.bias,
                first_item: 0,
                exclude,
                keep,
                pruner: &mut pruner,
            });
            scorer.exact_top(&mut pruner, v, n)
        }
        Some(_) => Vec::new(),
        None => {
            let mut scores = vec![0.0; f.n_items()];
            f.score_into(v, &mut scores);
            top_n_filtered(&scores, n, exclude, keep)
        }
    }
}

/// Every user's best items, stored flat: row `u` holds up to `width` items, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct TopNTable {
    width: usize,
    lens: Vec<u32>,
    items: Vec<ScoredItem>,
}

impl TopNTable {
    /// The best items of user row `u` (shorter than `width` when the catalogue has fewer
    /// candidates left for the user).
    pub fn row(&self, u: usize) -> &[ScoredItem] {
        let start = u * self.width;
        &self.items[start..start + self.lens[u] as usize]
    }

    /// Number of user rows.
    pub fn n_rows(&self) -> usize {
        self.lens.len()
    }

    /// Most items a row holds.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Bytes held (what a server reports as the cache's memory).
    pub fn heap_bytes(&self) -> usize {
        self.items.capacity() * std::mem::size_of::<ScoredItem>()
            + self.lens.capacity() * std::mem::size_of::<u32>()
    }

    /// The table without row `r` (erasure: later rows move up by one, as the model's rows do).
    pub fn without_row(&self, r: usize) -> Self {
        let mut next = self.clone();
        if r < next.lens.len() {
            next.lens.remove(r);
            next.items.drain(r * self.width..(r + 1) * self.width);
        }
        next
    }

    /// Bytes a table of `rows × width` entries takes.
    pub fn bytes_for(rows: usize, width: usize) -> u64 {
        rows as u64 * (width as u64 * std::mem::size_of::<ScoredItem>() as u64 + 4)
    }
}

/// The best `width` items of every user of `train` with the user's training row left out — what
/// a server precomputes after activation and `encore recommend --all` writes. Blocks of
/// [`USER_BLOCK`] users run in parallel on the current rayon pool. `progress` is called with the
/// number of users finished by each block and returns `false` to stop early (`None` is then
/// returned).
pub fn top_n_all_users(
    rec: &dyn Recommender,
    train: &InteractionMatrix,
    width: usize,
    keep: &(dyn Fn(u32) -> bool + Sync),
    progress: &(dyn Fn(usize) -> bool + Sync),
) -> Option<TopNTable> {
    let users = train.n_rows();
    if width == 0 {
        return Some(TopNTable { width, lens: vec![0; users], items: Vec::new() });
    }
    let mut items = vec![ScoredItem { item: 0, score: 0.0 }; users * width];
    let mut lens = vec![0u32; users];
    let block_items = USER_BLOCK * width;
    let stopped = std::sync::atomic::AtomicBool::new(false);
    let scorer = rec.factor_scoring().map(BlockScorer::new);
    items.par_chunks_mut(block_items).zip(lens.par_chunks_mut(USER_BLOCK)).enumerate().for_each(
        |(b, (out, lens))| {
            if stopped.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            let first = b * USER_BLOCK;
            let rows: Vec<_> = (first..first + lens.len()).map(|u| train.row(u)).collect();
            let queries: Vec<BatchQuery<'_>> = rows
                .iter()
                .enumerate()
                .map(|(j, r)| BatchQuery {
                    query: Query {
                        user: Some((first + j) as u32),
                        items: r.indices,
                        weights: r.values,
                    },
                    exclude: r.indices,
                })
                .collect();
            let lists = batch_with(rec, scorer.as_ref(), &queries, width, keep);
            for (j, list) in lists.iter().enumerate() {
                out[j * width..j * width + list.len()].copy_from_slice(list);
                lens[j] = list.len() as u32;
            }
            if !progress(lens.len()) {
                stopped.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        },
    );
    if stopped.into_inner() {
        return None;
    }
    Some(TopNTable { width, lens, items })
}

#[cfg(test)]
mod tests;
