//! Small dense kernels over `f32` slices: dot products, `axpy`, symmetric matrix–vector products
//! and the Gram matrix of a row-major factor matrix.
//!
//! The factor matrices of every model are row-major `&[f32]` (`rows × k`, one row per user or
//! item), so the hot loops work on plain slices. [`dot`] and [`axpy`] are written over
//! `chunks_exact` with independent accumulators so that LLVM vectorises them without
//! `target-cpu` flags (see `../shared/docs/STACK.md` §3(b)); their summation order depends only on
//! the length, so results are bit-identical whatever the thread count.
//!
//! [`gram`] (`YᵀY`) goes through faer's matrix product, which is 5–10× faster than hand-written
//! loops, and sums fixed-size row blocks in a fixed order so that it, too, is deterministic.

use rayon::prelude::*;

/// Number of independent accumulators in [`dot`]: enough to hide the add latency and to fill
/// two 256-bit or one 512-bit register per step.
const LANES: usize = 16;

/// `Σ a[i]·b[i]` over the common length of `a` and `b`.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    let mut tail = 0f32;
    for (x, y) in ar.iter().zip(br) {
        tail += x * y;
    }
    // Pairwise reduction of the lanes: fixed order, so deterministic.
    let mut width = LANES / 2;
    while width > 0 {
        for l in 0..width {
            acc[l] += acc[l + width];
        }
        width /= 2;
    }
    acc[0] + tail
}

/// `y ← y + alpha·x` over the common length.
#[inline]
pub fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

/// `Σ x[i]²`.
#[inline]
pub fn squared_norm(x: &[f32]) -> f32 {
    dot(x, x)
}

/// `out ← A·x` for a `k × k` row-major matrix `a` (`k = x.len()`).
#[inline]
pub fn matvec(a: &[f32], x: &[f32], out: &mut [f32]) {
    let k = x.len();
    for (o, row) in out.iter_mut().zip(a.chunks_exact(k)) {
        *o = dot(row, x);
    }
}

/// Rows per block of [`gram`]: fixed (not derived from the thread count) so that the blocks, and
/// therefore the rounding of the sum, are the same on every machine configuration.
const GRAM_BLOCK_ROWS: usize = 8192;

/// The Gram matrix `YᵀY` (`k × k`, row-major, symmetric) of the row-major `rows × k` matrix `y`.
///
/// Blocks of [`GRAM_BLOCK_ROWS`] rows are multiplied in parallel with faer, and the block
/// products are added in block order in `f64`, so the result does not depend on the number of
/// rayon threads. Panics when `y.len()` is not a multiple of `k` (a programming error).
pub fn gram(y: &[f32], k: usize) -> Vec<f32> {
    assert!(k > 0 && y.len().is_multiple_of(k), "gram: {} values are not rows of {k}", y.len());
    let partials: Vec<faer::Mat<f32>> = y
        .par_chunks(GRAM_BLOCK_ROWS * k)
        .map(|block| {
            let rows = block.len() / k;
            // Viewed column-major as k × rows, the block is Yᵀ; Yᵀ·(Yᵀ)ᵀ is the block's Gram.
            let yt = faer::MatRef::from_column_major_slice(block, k, rows);
            let mut g = faer::Mat::<f32>::zeros(k, k);
            faer::linalg::matmul::matmul(
                g.as_mut(),
                faer::Accum::Replace,
                yt,
                yt.transpose(),
                1.0f32,
                faer::Par::Seq,
            );
            g
        })
        .collect();
    let mut sum = vec![0f64; k * k];
    for g in &partials {
        for r in 0..k {
            for c in 0..k {
                sum[r * k + c] += f64::from(g[(r, c)]);
            }
        }
    }
    // Average the two triangles so the result is exactly symmetric.
    let mut out = vec![0f32; k * k];
    for r in 0..k {
        for c in 0..k {
            out[r * k + c] = (0.5 * (sum[r * k + c] + sum[c * k + r])) as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo_random(n: usize, seed: u64) -> Vec<f32> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ((x >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect()
    }

    #[test]
    fn dot_and_axpy_match_naive_loops() {
        for n in [0, 1, 7, 16, 33, 64, 129] {
            let a = pseudo_random(n, 1);
            let b = pseudo_random(n, 2);
            let naive: f64 = a.iter().zip(&b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
            assert!((f64::from(dot(&a, &b)) - naive).abs() < 1e-5, "n = {n}");
            let mut y = b.clone();
            axpy(0.5, &a, &mut y);
            for i in 0..n {
                assert_eq!(y[i], b[i] + 0.5 * a[i]);
            }
        }
    }

    #[test]
    fn gram_matches_naive_product_across_blocks() {
        let k = 5;
        let rows = GRAM_BLOCK_ROWS + 37; // two blocks, the second partial
        let y = pseudo_random(rows * k, 3);
        let g = gram(&y, k);
        for a in 0..k {
            for b in 0..k {
                let naive: f64 =
                    (0..rows).map(|r| f64::from(y[r * k + a]) * f64::from(y[r * k + b])).sum();
                assert!((f64::from(g[a * k + b]) - naive).abs() < 1e-2, "({a},{b})");
                assert_eq!(g[a * k + b], g[b * k + a]);
            }
        }
        let mut out = vec![0.0; k];
        let x = pseudo_random(k, 4);
        matvec(&g, &x, &mut out);
        for a in 0..k {
            let naive: f32 = (0..k).map(|b| g[a * k + b] * x[b]).sum();
            assert!((out[a] - naive).abs() < 1e-3);
        }
    }
}
