//! Stratified parallel SGD for BPR (the scheme is described in the parent module).

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

use super::BprConfig;
use crate::linalg::dot;
use crate::matrix::InteractionMatrix;
use crate::models::FitOptions;
use crate::{Error, Result};

/// Largest number of user blocks and of item blocks (`S`). Fixed — not derived from the thread count —
/// so that the strata, and therefore the model, are the same on every machine; 16 strata per
/// sub-epoch keep up to about 8 threads busy despite uneven stratum sizes.
pub const STRATA: usize = 16;

/// Fewest users and items per block; smaller data sets use fewer blocks (see `train`).
pub const MIN_BLOCK: usize = 64;

/// Trained parameters, row-major.
pub(super) struct Trained {
    pub users: Vec<f32>,
    pub items: Vec<f32>,
    pub bias: Vec<f32>,
}

/// Domain-separation tags for the seeds derived from the user's seed.
const TAG_INIT: u64 = 1;
const TAG_PERMUTE: u64 = 2;
const TAG_STRATUM: u64 = 3;

/// A well-mixed seed from several parts (SplitMix64 finaliser over a running hash).
fn mix(parts: &[u64]) -> u64 {
    let mut h = 0x9E37_79B9_7F4A_7C15u64;
    for &p in parts {
        h ^= p;
        h = h.wrapping_add(0x9E37_79B9_7F4A_7C15);
        h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        h ^= h >> 31;
    }
    h
}

/// A uniform index below `n` (`n < 2³²`) by Lemire's multiply-shift: one random draw, no
/// division. The bias (< n / 2³²) is irrelevant for sampling.
#[inline]
fn below(rng: &mut Xoshiro256PlusPlus, n: usize) -> usize {
    (((rng.next_u64() >> 32) * n as u64) >> 32) as usize
}

/// A uniform float in `[0, 1)`.
fn unit(rng: &mut Xoshiro256PlusPlus) -> f32 {
    (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32
}

/// One SGD ascent step on `ln σ(x) − reg/2·(‖u‖² + ‖v_i‖² + ‖v_j‖² + b_i² + b_j²)` with
/// `x = u·(v_i − v_j) + b_i − b_j`. Every update uses the values from before the step. Returns
/// the loss `−ln σ(x)` before the step.
#[inline]
pub(super) fn sgd_step(
    u: &mut [f32],
    vi: &mut [f32],
    vj: &mut [f32],
    bi: &mut f32,
    bj: &mut f32,
    lr: f32,
    reg: f32,
) -> f32 {
    let x = *bi - *bj + dot(u, vi) - dot(u, vj);
    let e = x.exp();
    // dL/dx = σ(−x) = 1 / (1 + eˣ).
    let z = 1.0 / (1.0 + e);
    for ((uf, a), c) in u.iter_mut().zip(vi.iter_mut()).zip(vj.iter_mut()) {
        let (u0, a0, c0) = (*uf, *a, *c);
        *uf += lr * (z * (a0 - c0) - reg * u0);
        *a += lr * (z * u0 - reg * a0);
        *c += lr * (-z * u0 - reg * c0);
    }
    let (b_i, b_j) = (*bi, *bj);
    *bi += lr * (z - reg * b_i);
    *bj += lr * (-z - reg * b_j);
    // −ln σ(x) = ln(1 + e⁻ˣ) = ln(1 + eˣ) − x; for large x it is below f32 resolution.
    if x > 30.0 { 0.0 } else { e.ln_1p() - x }
}

/// Rows `a` and `b` (distinct) of a row-major chunk, both mutable.
#[inline]
fn two_rows(chunk: &mut [f32], a: usize, b: usize, k: usize) -> (&mut [f32], &mut [f32]) {
    if a < b {
        let (lo, hi) = chunk.split_at_mut(b * k);
        (&mut lo[a * k..(a + 1) * k], &mut hi[..k])
    } else {
        let (lo, hi) = chunk.split_at_mut(a * k);
        let (rb, ra) = (&mut lo[b * k..(b + 1) * k], &mut hi[..k]);
        (ra, rb)
    }
}

#[inline]
fn two_values(v: &mut [f32], a: usize, b: usize) -> (&mut f32, &mut f32) {
    let (x, y) = two_rows(v, a, b, 1);
    (&mut x[0], &mut y[0])
}

/// Splits `v` at the given row boundaries (`bounds[0] = 0`, last = rows) into mutable chunks.
fn split_rows<'a>(v: &'a mut [f32], bounds: &[usize], k: usize) -> Vec<&'a mut [f32]> {
    let scaled: Vec<usize> = bounds.iter().map(|&b| b * k).collect();
    split_mut(v, &scaled)
}

/// Splits `v` into the chunks `bounds[b]..bounds[b + 1]` (`bounds[0] = 0`, last = `v.len()`).
fn split_mut<'a, T>(mut v: &'a mut [T], bounds: &[usize]) -> Vec<&'a mut [T]> {
    let mut out = Vec::with_capacity(bounds.len() - 1);
    for w in bounds.windows(2) {
        let (head, tail) = v.split_at_mut(w[1] - w[0]);
        out.push(head);
        v = tail;
    }
    out
}

/// The work of one stratum: its user block and item block (mutable) and its interactions.
struct Stratum<'a> {
    seed: u64,
    user_start: usize,
    users: &'a mut [f32],
    item_start: usize,
    items: &'a mut [f32],
    bias: &'a mut [f32],
    /// Interactions of the stratum: user indices and item *positions* (permuted order).
    pos_users: &'a [u32],
    pos_items: &'a [u32],
}

/// Runs one stratum; returns (summed loss, number of steps taken).
fn run_stratum(
    s: Stratum<'_>,
    matrix: &InteractionMatrix,
    perm: &[u32],
    k: usize,
    lr: f32,
    reg: f32,
) -> (f64, u64) {
    let n = s.pos_users.len();
    let block_len = s.bias.len();
    if n == 0 || block_len < 2 {
        return (0.0, 0);
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(s.seed);
    let (mut loss, mut steps) = (0f64, 0u64);
    for _ in 0..n {
        let r = below(&mut rng, n);
        let (u, ip) = (s.pos_users[r] as usize, s.pos_items[r] as usize);
        let jl = below(&mut rng, block_len);
        let il = ip - s.item_start;
        if jl == il || matrix.row(u).contains(perm[s.item_start + jl]) {
            continue; // the "negative" is one of the user's items: skip, as `implicit` does
        }
        let ul = u - s.user_start;
        let urow = &mut s.users[ul * k..(ul + 1) * k];
        let (vi, vj) = two_rows(s.items, il, jl, k);
        let (bi, bj) = two_values(s.bias, il, jl);
        loss += f64::from(sgd_step(urow, vi, vj, bi, bj, lr, reg));
        steps += 1;
    }
    (loss, steps)
}

pub(super) fn train(
    cfg: &BprConfig,
    m: &InteractionMatrix,
    opts: &FitOptions<'_>,
) -> Result<Trained> {
    let (nu, ni, k) = (m.n_rows(), m.n_cols(), cfg.factors);
    if ni >= u32::MAX as usize || nu >= u32::MAX as usize {
        return Err(Error::InvalidInput("BPR supports fewer than 2^32 users and items".into()));
    }
    let (lr, reg) = (cfg.learning_rate as f32, cfg.regularization as f32);
    let observer = opts.observer;
    let seed = opts.seed;

    // Initialisation as in `implicit`: uniform in (−0.5, 0.5) / factors, biases 0.
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(mix(&[seed, TAG_INIT]));
    let scale = 1.0 / k as f32;
    let mut users: Vec<f32> = (0..nu * k).map(|_| (unit(&mut rng) - 0.5) * scale).collect();
    let mut items: Vec<f32> = (0..ni * k).map(|_| (unit(&mut rng) - 0.5) * scale).collect();
    let mut bias = vec![0f32; ni];

    // The number of blocks depends on the data only (never on the thread count): STRATA, or
    // fewer for a small catalogue or user base, so that every item block holds at least
    // MIN_BLOCK items to draw negatives from (below 2·MIN_BLOCK items training is sequential
    // over the whole catalogue).
    let strata = (ni.min(nu) / MIN_BLOCK).clamp(1, STRATA);
    // User blocks of about equal interaction counts (contiguous user ranges).
    let nnz = m.nnz() as u64;
    let indptr = m.indptr();
    let mut user_bounds: Vec<usize> = (0..=strata)
        .map(|b| indptr[..nu].partition_point(|&p| p < nnz * b as u64 / strata as u64))
        .collect();
    user_bounds[0] = 0;
    user_bounds[strata] = nu;
    // Item blocks: equal-size ranges of positions in the epoch's permutation.
    let item_bounds: Vec<usize> = (0..=strata).map(|b| ni * b / strata).collect();
    let mut pos_block = vec![0u8; ni];
    for b in 0..strata {
        pos_block[item_bounds[b]..item_bounds[b + 1]].fill(b as u8);
    }

    let mut perm: Vec<u32> = (0..ni as u32).collect();
    let mut pos = vec![0u32; ni];
    let mut perm_items = vec![0f32; ni * k];
    let mut perm_bias = vec![0f32; ni];
    let mut bucket_start = vec![0usize; strata * strata + 1];
    let mut bucket_users = vec![0u32; m.nnz()];
    let mut bucket_items = vec![0u32; m.nnz()];

    observer.on_start(cfg.iterations);
    for epoch in 0..cfg.iterations {
        if observer.is_cancelled() {
            return Err(Error::Cancelled);
        }
        // A fresh item permutation (Fisher–Yates), so blocks mix differently every epoch.
        let mut prng = Xoshiro256PlusPlus::seed_from_u64(mix(&[seed, TAG_PERMUTE, epoch as u64]));
        for p in (1..ni).rev() {
            perm.swap(p, below(&mut prng, p + 1));
        }
        for (p, &i) in perm.iter().enumerate() {
            pos[i as usize] = p as u32;
        }
        perm_items.par_chunks_mut(k).zip(perm_bias.par_iter_mut()).enumerate().for_each(
            |(p, (row, b))| {
                let i = perm[p] as usize;
                row.copy_from_slice(&items[i * k..(i + 1) * k]);
                *b = bias[i];
            },
        );
        // Counting sort of the interactions into the S × S strata (bucket `b·S + ib`). The
        // buckets of user block `b` are contiguous, so each user block fills its own region.
        let counts: Vec<Vec<usize>> = (0..strata)
            .into_par_iter()
            .map(|b| {
                let mut c = vec![0usize; strata];
                for u in user_bounds[b]..user_bounds[b + 1] {
                    for &i in m.row(u).indices {
                        c[pos_block[pos[i as usize] as usize] as usize] += 1;
                    }
                }
                c
            })
            .collect();
        bucket_start[0] = 0;
        for (b, c) in counts.iter().enumerate() {
            for (ib, &n) in c.iter().enumerate() {
                bucket_start[b * strata + ib + 1] = bucket_start[b * strata + ib] + n;
            }
        }
        {
            let region_bounds: Vec<usize> =
                (0..=strata).map(|b| bucket_start[b * strata]).collect();
            let user_regions = split_mut(&mut bucket_users, &region_bounds);
            let item_regions = split_mut(&mut bucket_items, &region_bounds);
            user_regions.into_par_iter().zip(item_regions).enumerate().for_each(|(b, (bu, bi))| {
                let base = bucket_start[b * strata];
                let mut next: Vec<usize> =
                    (0..strata).map(|ib| bucket_start[b * strata + ib] - base).collect();
                for u in user_bounds[b]..user_bounds[b + 1] {
                    for &i in m.row(u).indices {
                        let p = pos[i as usize];
                        let slot = &mut next[pos_block[p as usize] as usize];
                        bu[*slot] = u as u32;
                        bi[*slot] = p;
                        *slot += 1;
                    }
                }
            });
        }

        let (mut loss, mut steps) = (0f64, 0u64);
        for sub in 0..strata {
            if observer.is_cancelled() {
                return Err(Error::Cancelled);
            }
            let mut user_chunks = split_rows(&mut users, &user_bounds, k);
            let mut item_chunks = split_rows(&mut perm_items, &item_bounds, k);
            let mut bias_chunks = split_rows(&mut perm_bias, &item_bounds, 1);
            // Stratum b pairs user block b with item block (b + sub) mod S.
            item_chunks.rotate_left(sub);
            bias_chunks.rotate_left(sub);
            let tasks: Vec<Stratum<'_>> = user_chunks
                .drain(..)
                .zip(item_chunks.drain(..))
                .zip(bias_chunks.drain(..))
                .enumerate()
                .map(|(b, ((uc, ic), bc))| {
                    let ib = (b + sub) % strata;
                    let bucket = b * strata + ib;
                    let range = bucket_start[bucket]..bucket_start[bucket + 1];
                    Stratum {
                        seed: mix(&[seed, TAG_STRATUM, epoch as u64, sub as u64, b as u64]),
                        user_start: user_bounds[b],
                        users: uc,
                        item_start: item_bounds[ib],
                        items: ic,
                        bias: bc,
                        pos_users: &bucket_users[range.clone()],
                        pos_items: &bucket_items[range],
                    }
                })
                .collect();
            let results: Vec<(f64, u64)> =
                tasks.into_par_iter().map(|s| run_stratum(s, m, &perm, k, lr, reg)).collect();
            for (l, n) in results {
                loss += l;
                steps += n;
            }
        }
        // Back to item order.
        items.par_chunks_mut(k).zip(bias.par_iter_mut()).enumerate().for_each(|(i, (row, b))| {
            let p = pos[i] as usize;
            row.copy_from_slice(&perm_items[p * k..(p + 1) * k]);
            *b = perm_bias[p];
        });
        observer.on_epoch(epoch + 1, (steps > 0).then(|| loss / steps as f64));
    }
    Ok(Trained { users, items, bias })
}
