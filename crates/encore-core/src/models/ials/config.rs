//! iALS hyperparameters: parsing from a spec, validation, and the two per-row quantities they
//! define (confidence and regularisation).

use crate::models::Params;

/// How a raw interaction weight `w` becomes the strength `f(w)` in the confidence
/// `c = 1 + alpha·f(w)` of Hu et al. (2008).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// `f(w) = w`: the paper's linear scheme. Heavy listeners dominate, which is rarely best.
    Identity,
    /// `f(w) = ln(1 + w)`: the paper's log scheme with `ε = 1`, robust to play-count tails.
    Log1p,
    /// `f(w) = 1`: every interaction counts the same, whatever its weight.
    Binary,
}

impl Confidence {
    fn parse(s: &str) -> Self {
        match s {
            "identity" => Confidence::Identity,
            "log1p" => Confidence::Log1p,
            _ => Confidence::Binary,
        }
    }
}

/// How each per-row least-squares problem is solved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Solver {
    /// A few conjugate-gradient steps warm-started from the previous factors (`cg_steps`):
    /// `O(nnz·k + k²)` per row, the fast default.
    Cg,
    /// Exact solve through an explicit `k × k` system and its Cholesky factor:
    /// `O(nnz·k² + k³)` per row.
    Cholesky,
}

/// Hyperparameters of iALS. Spec keys have the field names, e.g.
/// `ials:factors=128,regularization=0.05,alpha=2,iterations=15,confidence=log1p,solver=cg`.
///
/// The defaults were chosen by the sweep recorded in `docs/tuning-ials.md`: one setting that holds
/// on Last.fm play counts and on MovieLens ratings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IalsConfig {
    /// Number of latent factors `k` (1..=4096).
    pub factors: usize,
    /// Base regularisation `λ` (> 0); see [`IalsConfig::reg_exponent`] for how it is scaled.
    pub regularization: f64,
    /// Confidence slope `alpha` in `c = 1 + alpha·f(w)` (≥ 0).
    pub alpha: f64,
    /// Number of ALS epochs (each solves every user, then every item).
    pub iterations: usize,
    /// The weight transform `f`.
    pub confidence: Confidence,
    /// The per-row solver used in training.
    pub solver: Solver,
    /// Conjugate-gradient steps per row and half-epoch with `solver=cg` (1..=100).
    pub cg_steps: usize,
    /// Exponent `ν` of the frequency-scaled regularisation of Rendle et al. (2021):
    /// `λ_u = λ·(|I_u| + unobserved_weight·|I|)^ν` for a user with `|I_u|` items among `|I|`, and
    /// the same with users and items swapped. `0` gives the same `λ` to every row.
    pub reg_exponent: f64,
    /// `α₀` of the frequency-scaled regularisation: how much the unobserved entries count next
    /// to the row's own observations.
    pub unobserved_weight: f64,
    /// Standard deviation of the normally distributed initial factors, divided by `√factors`
    /// so that initial scores have the same spread whatever `k`.
    pub init_std: f64,
}

impl Default for IalsConfig {
    /// One setting for every data set, chosen by the sweep in `docs/tuning-ials.md` (median of 3
    /// seeds, NDCG@10 on the shared splits: Last.fm 0.2547, ML-100k 0.4424, ML-latest-small
    /// 0.3554, against 0.2453 / 0.4334 / 0.3454 for `implicit` tuned per data set).
    fn default() -> Self {
        Self {
            factors: 64,
            regularization: 1.0,
            alpha: 1.5,
            iterations: 15,
            confidence: Confidence::Log1p,
            solver: Solver::Cg,
            cg_steps: 3,
            reg_exponent: 0.75,
            unobserved_weight: 0.01,
            init_std: 0.1,
        }
    }
}

impl IalsConfig {
    /// Takes this model's parameters from `p`, applying the defaults and checking ranges.
    pub fn from_params(p: &mut Params) -> crate::Result<Self> {
        let d = Self::default();
        let regularization = p.f64("regularization", d.regularization, 0.0, 1e6)?;
        if regularization <= 0.0 {
            return Err(crate::Error::InvalidSpec {
                spec: format!("regularization={regularization}"),
                message:
                    "`regularization` must be greater than 0 (it keeps every solve well posed)"
                        .into(),
            });
        }
        let init_std = p.f64("init_std", d.init_std, 0.0, 10.0)?;
        if init_std <= 0.0 {
            return Err(crate::Error::InvalidSpec {
                spec: format!("init_std={init_std}"),
                message: "`init_std` must be greater than 0 (all-zero factors stay zero)".into(),
            });
        }
        let name = |c: Confidence| match c {
            Confidence::Identity => "identity",
            Confidence::Log1p => "log1p",
            Confidence::Binary => "binary",
        };
        let confidence = Confidence::parse(&p.choice(
            "confidence",
            name(d.confidence),
            &["identity", "log1p", "binary"],
        )?);
        let solver = match p
            .choice(
                "solver",
                if d.solver == Solver::Cg { "cg" } else { "cholesky" },
                &["cg", "cholesky"],
            )?
            .as_str()
        {
            "cholesky" => Solver::Cholesky,
            _ => Solver::Cg,
        };
        Ok(Self {
            factors: p.usize("factors", d.factors, 1, 4096)?,
            regularization,
            alpha: p.f64("alpha", d.alpha, 0.0, 1e6)?,
            iterations: p.usize("iterations", d.iterations, 1, 1000)?,
            confidence,
            solver,
            cg_steps: p.usize("cg_steps", d.cg_steps, 1, 100)?,
            reg_exponent: p.f64("reg_exponent", d.reg_exponent, 0.0, 2.0)?,
            unobserved_weight: p.f64("unobserved_weight", d.unobserved_weight, 0.0, 1e3)?,
            init_std,
        })
    }

    /// The extra confidence `c − 1 = alpha·f(w)` of an interaction with raw weight `w`.
    /// Negative or NaN weights count as zero strength: the interaction is still a positive, but
    /// carries only the base confidence 1 (a negative confidence would make `A` indefinite).
    pub fn extra_confidence(&self, w: f32) -> f32 {
        let w = if w > 0.0 { w } else { 0.0 };
        let f = match self.confidence {
            Confidence::Identity => w,
            Confidence::Log1p => w.ln_1p(),
            Confidence::Binary => 1.0,
        };
        (self.alpha as f32) * f
    }

    /// `λ_row = λ·(n_observed + α₀·n_other)^ν`, the regularisation of a row with `n_observed`
    /// interactions when the other side has `n_other` rows.
    pub fn row_regularization(&self, n_observed: usize, n_other: usize) -> f32 {
        let base = n_observed as f64 + self.unobserved_weight * n_other as f64;
        let scale = if self.reg_exponent == 0.0 { 1.0 } else { base.powf(self.reg_exponent) };
        // A row with no observation and α₀ = 0 would get λ = 0; its factor is zero anyway, but
        // keep the system well posed for fold-in of an empty history.
        (self.regularization * scale).max(self.regularization * 1e-6) as f32
    }
}
