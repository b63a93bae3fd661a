//! Stored values at one of three precisions, and the kernels that read them.
//!
//! * **f32** — the server's numbers, unchanged. [`dot`] sums in exactly the order of
//!   `encore_core::linalg::dot` (two blocks of eight lanes, then a fixed pairwise reduction), so
//!   an f32 edge file reproduces the server's scores, not just its ranking, wherever the inputs
//!   are the same.
//! * **f16** — IEEE binary16 bit patterns, widened to f32 on the fly ([`f16_to_f32`]) into a
//!   row buffer before the same [`dot`].
//! * **int8** — symmetric linear quantisation with one f32 scale per row: the value is
//!   `scale · q` with `q ∈ [−127, 127]` and `scale = max|row| / 127`, chosen by the exporter. A
//!   score is `scale · Σ q_j x_j` ([`dot_widened`]), one multiplication per row.

use alloc::vec::Vec;

/// Values of a row-structured array at the file's precision.
#[derive(Debug, Clone)]
pub enum Values {
    /// Full precision.
    F32(Vec<f32>),
    /// Half precision (bit patterns).
    F16(Vec<u16>),
    /// int8 with one scale per row.
    I8 {
        /// Quantised values.
        q: Vec<i8>,
        /// Scale of each row.
        scales: Vec<f32>,
    },
}

impl Values {
    /// Bytes held in memory.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Values::F32(v) => v.len() * 4,
            Values::F16(v) => v.len() * 2,
            Values::I8 { q, scales } => q.len() + scales.len() * 4,
        }
    }

    /// Writes the values `start..start + out.len()` of row `row` as f32 into `out`.
    #[inline]
    pub fn decode(&self, row: usize, start: usize, out: &mut [f32]) {
        let end = start + out.len();
        match self {
            Values::F32(v) => out.copy_from_slice(&v[start..end]),
            Values::F16(v) => {
                for (o, &h) in out.iter_mut().zip(&v[start..end]) {
                    *o = f16_to_f32(h);
                }
            }
            Values::I8 { q, scales } => {
                let s = scales[row];
                for (o, &x) in out.iter_mut().zip(&q[start..end]) {
                    *o = s * f32::from(x);
                }
            }
        }
    }

    /// The single value at `at` in row `row`, as f32.
    #[inline]
    pub fn get(&self, row: usize, at: usize) -> f32 {
        match self {
            Values::F32(v) => v[at],
            Values::F16(v) => f16_to_f32(v[at]),
            Values::I8 { q, scales } => scales[row] * f32::from(q[at]),
        }
    }

    /// `rowᵀx` for every row of this `rows × x.len()` matrix, into `out`; `buf` is scratch of
    /// `x.len()` values (f16 rows are decoded into it: measured faster than decoding inside the
    /// sum, unlike int8, whose widening is one instruction).
    pub fn dot_rows(&self, x: &[f32], buf: &mut [f32], out: &mut [f32]) {
        let k = x.len();
        match self {
            Values::F32(v) => {
                for (o, row) in out.iter_mut().zip(v.chunks_exact(k)) {
                    *o = dot(row, x);
                }
            }
            Values::F16(v) => {
                for (o, row) in out.iter_mut().zip(v.chunks_exact(k)) {
                    for (b, &h) in buf.iter_mut().zip(row) {
                        *b = f16_to_f32(h);
                    }
                    *o = dot(buf, x);
                }
            }
            Values::I8 { q, scales } => {
                for ((o, row), &s) in out.iter_mut().zip(q.chunks_exact(k)).zip(scales) {
                    *o = s * dot_widened(row, x, f32::from);
                }
            }
        }
    }
}

/// Width of one accumulator block in [`dot`].
const LANES: usize = 8;

/// `Σ a[i]·b[i]` over the common length, summed in the order of `encore_core::linalg::dot`.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut even = [0f32; LANES];
    let mut odd = [0f32; LANES];
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
    // The optimisation barrier of the server's kernel (it keeps LLVM from reshaping the loop).
    let mut even = core::hint::black_box(even);
    let mut tail = 0f32;
    for (x, y) in ar.iter().zip(br) {
        tail += x * y;
    }
    let mut width = LANES / 2;
    while width > 0 {
        for l in 0..width {
            even[l] += even[l + width];
        }
        width /= 2;
    }
    even[0] + tail
}

/// `Σ widen(a[i])·b[i]`: [`dot`] over values widened to f32 on the fly (int8), with the
/// same operations in the same order as widening into a buffer first, so the result is the
/// same bit for bit, without the second pass over memory.
#[inline(always)]
pub fn dot_widened<T: Copy>(a: &[T], b: &[f32], widen: impl Fn(T) -> f32) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut even = [0f32; LANES];
    let mut odd = [0f32; LANES];
    let (ac, ar) = a.as_chunks::<{ 2 * LANES }>();
    let (bc, br) = b.as_chunks::<{ 2 * LANES }>();
    for (x, y) in ac.iter().zip(bc) {
        for l in 0..LANES {
            even[l] += widen(x[l]) * y[l];
            odd[l] += widen(x[LANES + l]) * y[LANES + l];
        }
    }
    for l in 0..LANES {
        even[l] += odd[l];
    }
    // The optimisation barrier of the server's kernel (it keeps LLVM from reshaping the loop).
    let mut even = core::hint::black_box(even);
    let mut tail = 0f32;
    for (x, y) in ar.iter().zip(br) {
        tail += widen(*x) * y;
    }
    let mut width = LANES / 2;
    while width > 0 {
        for l in 0..width {
            even[l] += even[l + width];
        }
        width /= 2;
    }
    even[0] + tail
}

/// IEEE binary16 bits to f32, exactly (every half-precision value is an f32).
///
/// Written without branches (the three cases are computed and one is selected), so that the
/// decoding loop of a factor row vectorises: a branchy version made f16 files 3.7× slower to
/// score than f32 ones (`bench/README.md`).
#[inline(always)]
pub fn f16_to_f32(h: u16) -> f32 {
    const SUBNORMAL_BIAS: u32 = 113 << 23;
    let o = u32::from(h & 0x7FFF) << 13;
    let exp = o & 0x0F80_0000;
    // Normal numbers: rebias the exponent from 15 to 127.
    let normal = o + (112 << 23);
    // Infinity and NaN: exponent all ones in both formats.
    let special = o + (224 << 23);
    // Zero and subnormals: m·2⁻²⁴, computed exactly as (2⁻¹⁴ + m·2⁻²⁴) − 2⁻¹⁴.
    let subnormal = (f32::from_bits(o + SUBNORMAL_BIAS) - f32::from_bits(SUBNORMAL_BIAS)).to_bits();
    let bits = if exp == 0x0F80_0000 {
        special
    } else if exp == 0 {
        subnormal
    } else {
        normal
    };
    f32::from_bits(bits | (u32::from(h & 0x8000) << 16))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_conversion_of_known_values() {
        assert_eq!(f16_to_f32(0x3C00), 1.0);
        assert_eq!(f16_to_f32(0xC000), -2.0);
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert_eq!(f16_to_f32(0x7BFF), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 5.960_464_5e-8);
        assert_eq!(f16_to_f32(0x8000).to_bits(), (-0.0f32).to_bits());
        assert!(f16_to_f32(0x7C00).is_infinite());
        assert!(f16_to_f32(0x7E00).is_nan());
        assert_eq!(f16_to_f32(0x03FF), 1023.0 * 5.960_464_5e-8);
        assert_eq!(f16_to_f32(0x8001), -5.960_464_5e-8);
        assert_eq!(f16_to_f32(0x0400), 6.103_515_6e-5);
    }

    #[test]
    fn f16_conversion_of_every_value_matches_the_definition() {
        for h in 0..=u16::MAX {
            let (sign, exp, man) = (h >> 15, i32::from((h >> 10) & 0x1F), f64::from(h & 0x3FF));
            if exp == 0x1F {
                continue;
            }
            let magnitude = if exp == 0 {
                man * 2f64.powi(-24)
            } else {
                (1.0 + man / 1024.0) * 2f64.powi(exp - 15)
            };
            let expected = if sign == 1 { -magnitude } else { magnitude } as f32;
            assert_eq!(f16_to_f32(h).to_bits(), expected.to_bits(), "half {h:#06x}");
        }
    }

    #[test]
    fn dot_matches_a_naive_sum() {
        for n in [0usize, 1, 15, 16, 17, 64, 100] {
            let a: alloc::vec::Vec<f32> = (0..n).map(|i| (i % 7) as f32 * 0.25 - 0.5).collect();
            let b: alloc::vec::Vec<f32> = (0..n).map(|i| (i % 5) as f32 * 0.5 - 1.0).collect();
            let naive: f64 = a.iter().zip(&b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
            assert!((f64::from(dot(&a, &b)) - naive).abs() < 1e-4, "n {n}");
        }
    }

    #[test]
    fn int8_rows_score_with_their_scale() {
        let v = Values::I8 { q: alloc::vec![127, -127, 64, 0], scales: alloc::vec![0.5, 2.0] };
        let mut out = [0.0; 2];
        v.dot_rows(&[1.0, 1.0], &mut [0.0; 2], &mut out);
        assert_eq!(out, [0.0, 128.0]);
        assert_eq!(v.get(1, 2), 128.0);
    }
}
