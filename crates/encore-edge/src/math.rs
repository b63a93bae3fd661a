//! The three transcendental functions scoring needs. With the `std` feature they are the
//! platform's (the same calls the server makes, so f32 files reproduce its numbers); without it,
//! the pure-Rust `libm` ports.

/// `ln(1 + x)` in f32 (iALS's `log1p` confidence, EASE's `log` weighting).
#[inline]
pub fn ln_1p(x: f32) -> f32 {
    #[cfg(feature = "std")]
    {
        x.ln_1p()
    }
    #[cfg(not(feature = "std"))]
    {
        libm::log1pf(x)
    }
}

/// `x^y` in f64 (iALS's frequency-scaled regularisation).
#[inline]
pub fn powf(x: f64, y: f64) -> f64 {
    #[cfg(feature = "std")]
    {
        x.powf(y)
    }
    #[cfg(not(feature = "std"))]
    {
        libm::pow(x, y)
    }
}

/// `√x` in f64 (the Cholesky factorisations).
#[inline]
pub fn sqrt(x: f64) -> f64 {
    #[cfg(feature = "std")]
    {
        x.sqrt()
    }
    #[cfg(not(feature = "std"))]
    {
        libm::sqrt(x)
    }
}
