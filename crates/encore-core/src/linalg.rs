//! Small dense kernels over `f32` slices: dot products, `axpy`, symmetric matrix–vector products
//! and the Gram matrix of a row-major factor matrix.
//!
//! The factor matrices of every model are row-major `&[f32]` (`rows × k`, one row per user or
//! item), so the hot loops work on plain slices. [`dot`] and [`axpy`] are written over
//! `chunks_exact` with independent accumulators so that LLVM vectorises them without
//! `target-cpu` flags (see `../shared/docs/STACK.md` §3(b)); their summation order depends only on
//! the length, so results are bit-identical whatever the thread count.
//!
//! Compiled for the baseline x86-64 target, those loops only get 128-bit SSE. [`run_simd`] runs a
//! kernel inside a function compiled for AVX2 (when the CPU has it, detected at run time through
//! `pulp`, which faer already uses): the kernels here are `#[inline(always)]`, so a hot loop that
//! calls them from inside a [`SimdKernel`] is vectorised 256 bits wide. Multiplications and additions
//! are never fused or reordered (no fast-math), so the results are the same on both paths.
//!
//! [`gram`] (`YᵀY`) goes through faer's matrix product, which is 5–10× faster than hand-written
//! loops, and sums fixed-size row blocks in a fixed order so that it, too, is deterministic.

use rayon::prelude::*;

/// A unit of work that [`run_simd`] compiles for the best instruction set of the CPU.
///
/// Implementations must mark [`SimdKernel::run`] `#[inline(always)]`: only code inlined into the
/// dispatching function is compiled with the wider instruction set (a closure would not be
/// inlined reliably, which is why this is a trait).
pub trait SimdKernel {
    /// What the work returns.
    type Output;
    /// Does the work.
    fn run(self) -> Self::Output;
}

struct Dispatch<K>(K);

impl<K: SimdKernel> pulp::WithSimd for Dispatch<K> {
    type Output = K::Output;
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> K::Output {
        self.0.run()
    }
}

/// Runs `kernel` compiled with AVX2 when the CPU has it (else the baseline). Call it around a
/// whole loop, not around each small kernel: the dispatch costs a feature check and a call.
#[inline]
pub fn run_simd<K: SimdKernel>(kernel: K) -> K::Output {
    pulp::Arch::new().dispatch(Dispatch(kernel))
}

/// `out[i] = rows[i]ᵀ x` for every row of the row-major matrix `rows` (`k = x.len()` columns).
pub fn dot_rows(rows: &[f32], x: &[f32], out: &mut [f32]) {
    struct DotRows<'a> {
        rows: &'a [f32],
        x: &'a [f32],
        out: &'a mut [f32],
    }
    impl SimdKernel for DotRows<'_> {
        type Output = ();
        #[inline(always)]
        fn run(self) {
            for (o, row) in self.out.iter_mut().zip(self.rows.chunks_exact(self.x.len())) {
                *o = dot(row, self.x);
            }
        }
    }
    if x.is_empty() {
        out.fill(0.0);
        return;
    }
    run_simd(DotRows { rows, x, out });
}

/// Width of one accumulator block in [`dot`]: one 256-bit register of `f32`.
const LANES: usize = 8;

/// `Σ a[i]·b[i]` over the common length of `a` and `b`.
///
/// Two independent blocks of 8 accumulators (16 values per step) hide the addition latency; the
/// blocks and lanes are summed in a fixed order, so the result depends only on the inputs.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut even = [0f32; LANES];
    let mut odd = [0f32; LANES];
    // Fixed-size chunks: the compiler sees whole registers, without bounds checks.
    let (ac, ar) = a.as_chunks::<{ 2 * LANES }>();
    let (bc, br) = b.as_chunks::<{ 2 * LANES }>();
    for (x, y) in ac.iter().zip(bc) {
        for l in 0..LANES {
            even[l] += x[l] * y[l];
            odd[l] += x[LANES + l] * y[LANES + l];
        }
    }
    for l in 0..LANES {
        even[l] += odd[l];
    }
    // Without this barrier LLVM's SLP vectoriser matches the loop to the shape of the final
    // reduction below and keeps the accumulators in 64-bit pairs, halving throughput.
    let mut even = std::hint::black_box(even);
    let mut tail = 0f32;
    for (x, y) in ar.iter().zip(br) {
        tail += x * y;
    }
    // Pairwise reduction of the lanes: fixed order, so deterministic.
    let mut width = LANES / 2;
    while width > 0 {
        for l in 0..width {
            even[l] += even[l + width];
        }
        width /= 2;
    }
    even[0] + tail
}

/// Four dot products `rows[q]ᵀx` at once, each bit-identical to [`dot`]`(rows[q], x)` (the same
/// operations in the same order). Interleaving four independent sums lets the CPU overlap their
/// final reductions, which [`dot`] alone leaves on the critical path of every row. Every row
/// must be at least as long as `x`.
#[inline(always)]
pub fn dot4(rows: [&[f32]; 4], x: &[f32]) -> [f32; 4] {
    let n = x.len();
    // Written out for the four rows (not as a loop over them): LLVM vectorises this shape, the
    // same as `dot`'s, and keeps all sixteen accumulators in registers.
    let (xc, xr) = x.as_chunks::<{ 2 * LANES }>();
    let (c0, r0) = rows[0][..n].as_chunks::<{ 2 * LANES }>();
    let (c1, r1) = rows[1][..n].as_chunks::<{ 2 * LANES }>();
    let (c2, r2) = rows[2][..n].as_chunks::<{ 2 * LANES }>();
    let (c3, r3) = rows[3][..n].as_chunks::<{ 2 * LANES }>();
    let (mut e0, mut e1, mut e2, mut e3) =
        ([0f32; LANES], [0f32; LANES], [0f32; LANES], [0f32; LANES]);
    let (mut o0, mut o1, mut o2, mut o3) =
        ([0f32; LANES], [0f32; LANES], [0f32; LANES], [0f32; LANES]);
    for ((((xb, a), b), c), d) in xc.iter().zip(c0).zip(c1).zip(c2).zip(c3) {
        // One short loop per accumulator: each unrolls to a single vector multiply and add.
        for (acc, row) in [(&mut e0, a), (&mut e1, b), (&mut e2, c), (&mut e3, d)] {
            for l in 0..LANES {
                acc[l] += row[l] * xb[l];
            }
        }
        for (acc, row) in [(&mut o0, a), (&mut o1, b), (&mut o2, c), (&mut o3, d)] {
            for l in 0..LANES {
                acc[l] += row[LANES + l] * xb[LANES + l];
            }
        }
    }
    // `dot`'s reduction, in the same order: even + odd, then halves, quarters and the last pair.
    let tails = [r0, r1, r2, r3];
    let sums = [(e0, o0), (e1, o1), (e2, o2), (e3, o3)];
    let mut out = [0f32; 4];
    for q in 0..4 {
        let (e, o) = sums[q];
        let v: [f32; LANES] = std::array::from_fn(|l| e[l] + o[l]);
        // The barrier of `dot`, for the same reason: without it LLVM reshapes the main loop to
        // fit this reduction, and the accumulators leave the registers.
        let v = std::hint::black_box(v);
        let h = [v[0] + v[4], v[1] + v[5], v[2] + v[6], v[3] + v[7]];
        let pair = [h[0] + h[2], h[1] + h[3]];
        let mut tail = 0f32;
        for (y, xv) in tails[q].iter().zip(xr) {
            tail += y * xv;
        }
        out[q] = (pair[0] + pair[1]) + tail;
    }
    out
}

/// `y ← y + alpha·x` over the common length.
#[inline(always)]
pub fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    let n = x.len().min(y.len());
    let (xc, xr) = x[..n].as_chunks::<LANES>();
    let (yc, yr) = y[..n].as_chunks_mut::<LANES>();
    for (yb, xb) in yc.iter_mut().zip(xc) {
        for l in 0..LANES {
            yb[l] += alpha * xb[l];
        }
    }
    for (yi, xi) in yr.iter_mut().zip(xr) {
        *yi += alpha * xi;
    }
}

/// `y ← y + alpha[0]·x[0] + … + alpha[3]·x[3]`, bit-identical to four [`axpy`] calls in that
/// order (each element receives the same additions in the same order), but `y` is loaded and
/// stored once instead of four times. Every `x[q]` must be at least as long as `y`.
#[inline(always)]
pub fn axpy4(alpha: [f32; 4], x: [&[f32]; 4], y: &mut [f32]) {
    let n = y.len();
    let (yc, yr) = y.as_chunks_mut::<LANES>();
    let (c0, r0) = x[0][..n].as_chunks::<LANES>();
    let (c1, r1) = x[1][..n].as_chunks::<LANES>();
    let (c2, r2) = x[2][..n].as_chunks::<LANES>();
    let (c3, r3) = x[3][..n].as_chunks::<LANES>();
    let [a0, a1, a2, a3] = alpha;
    for ((((yb, x0), x1), x2), x3) in yc.iter_mut().zip(c0).zip(c1).zip(c2).zip(c3) {
        let mut v = *yb;
        for (a, xb) in [(a0, x0), (a1, x1), (a2, x2), (a3, x3)] {
            for l in 0..LANES {
                v[l] += a * xb[l];
            }
        }
        *yb = v;
    }
    for ((((yi, x0), x1), x2), x3) in yr.iter_mut().zip(r0).zip(r1).zip(r2).zip(r3) {
        *yi = (((*yi + a0 * x0) + a1 * x1) + a2 * x2) + a3 * x3;
    }
}

/// `Σ x[i]²`.
#[inline(always)]
pub fn squared_norm(x: &[f32]) -> f32 {
    dot(x, x)
}

/// `out ← A·x` for a **symmetric** `k × k` matrix `a` (`k = x.len()`).
///
/// Computed as `Σ_c x[c]·A[c, :]` (row `c` equals column `c`), 32 output values at a time held
/// in registers while the rows stream by: no horizontal sums, and each output is summed over `c`
/// in ascending order whatever the block, so the result does not depend on `k`'s blocking.
#[inline(always)]
pub fn symmetric_matvec(a: &[f32], x: &[f32], out: &mut [f32]) {
    const BLOCK: usize = 32;
    let k = x.len();
    let full = k - k % BLOCK;
    for start in (0..full).step_by(BLOCK) {
        let mut acc = [0f32; BLOCK];
        for (c, &xc) in x.iter().enumerate() {
            if let Some(row) = a[c * k + start..].first_chunk::<BLOCK>() {
                for l in 0..BLOCK {
                    acc[l] += xc * row[l];
                }
            }
        }
        out[start..start + BLOCK].copy_from_slice(&acc);
    }
    for (col, o) in out.iter_mut().enumerate().take(k).skip(full) {
        let mut sum = 0f32;
        for (c, &xc) in x.iter().enumerate() {
            sum += xc * a[c * k + col];
        }
        *o = sum;
    }
}

/// Rows per block of [`gram`]: fixed (not derived from the thread count) so that the blocks, and
/// therefore the rounding of the sum, are the same on every machine configuration.
const GRAM_BLOCK_ROWS: usize = 8192;

/// The Gram matrix `YᵀY` (`k × k`, row-major, symmetric) of the row-major `rows × k` matrix `y`.
///
/// Blocks of 8192 rows are multiplied in parallel with faer, and the block
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
    fn dot4_is_bit_identical_to_dot() {
        for n in [0usize, 1, 7, 16, 17, 33, 64, 100] {
            let rows: Vec<Vec<f32>> = (0..4)
                .map(|q| (0..n).map(|i| ((i * 7 + q * 13) % 11) as f32 * 0.37 - 1.3).collect())
                .collect();
            let x: Vec<f32> = (0..n).map(|i| (i % 5) as f32 * 0.91 - 2.1).collect();
            let got = dot4([&rows[0], &rows[1], &rows[2], &rows[3]], &x);
            for q in 0..4 {
                assert_eq!(got[q].to_bits(), dot(&rows[q], &x).to_bits(), "n {n} row {q}");
            }
        }
    }

    #[test]
    fn axpy4_is_bit_identical_to_four_axpys() {
        for n in [0usize, 1, 7, 8, 9, 33, 64, 100] {
            let x: Vec<Vec<f32>> = (0..4)
                .map(|q| (0..n).map(|i| ((i * 5 + q * 3) % 13) as f32 * 0.29 - 1.7).collect())
                .collect();
            let alpha = [0.31f32, -1.7, 2.3e-3, 5.5];
            let start: Vec<f32> = (0..n).map(|i| (i % 7) as f32 * 0.13 - 0.4).collect();
            let mut expected = start.clone();
            for q in 0..4 {
                axpy(alpha[q], &x[q], &mut expected);
            }
            let mut got = start;
            axpy4(alpha, [&x[0], &x[1], &x[2], &x[3]], &mut got);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&expected), "n {n}");
        }
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
        for k in [5, 32, 64, 70] {
            let y = pseudo_random(50 * k, 5);
            let g = gram(&y, k);
            let x = pseudo_random(k, 4);
            let mut out = vec![0.0; k];
            symmetric_matvec(&g, &x, &mut out);
            for a in 0..k {
                // Same order of summation (ascending column), so exactly equal.
                let naive = (0..k).fold(0f32, |s, b| s + x[b] * g[b * k + a]);
                assert_eq!(out[a], naive, "k = {k}, row {a}");
            }
        }
    }
}
