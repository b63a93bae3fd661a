//! The search space: how candidate settings of each algorithm are drawn, and how a good one is
//! perturbed to explore around it.
//!
//! Ranges follow the literature and Encore's own sweeps (`docs/tuning-ials.md`,
//! `docs/tuning-models.md`), never one data set: iALS after Rendle et al. 2021 ("Revisiting the
//! performance of iALS"): large embeddings, frequency-scaled regularisation whose strength is
//! drawn on the scale of a typical row (so good values of λ do not move with the exponent ν),
//! a small unobserved weight; EASE's λ log-uniform over 100–5000 (Steck 2019 reports the optimum
//! in that band on MovieLens, Netflix and MSD) with EDLAE dropout; item-kNN's neighbours
//! log-uniform over 10–1000 with each weighting; BPR's learning rate and regularisation
//! log-uniform. Iteration counts are not drawn: iALS's is chosen by watching validation quality
//! during training, BPR's by the rung of successive halving the candidate reached.

use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::matrix::InteractionMatrix;
use crate::models::Algorithm;
use crate::models::ease::EaseConfig;

/// Factor counts iALS may use, smallest first; the largest ones are dropped when the memory
/// limit does not allow them.
pub const IALS_FACTORS: [usize; 5] = [32, 64, 128, 192, 256];
/// BPR factor counts.
const BPR_FACTORS: [usize; 3] = [32, 64, 128];

/// Facts about the training matrix the space depends on.
#[derive(Debug, Clone, Copy)]
pub struct DataShape {
    /// Users × items.
    pub n_users: usize,
    /// Items.
    pub n_items: usize,
    /// Stored interactions.
    pub nnz: usize,
    /// Median interactions per user with at least one.
    pub median_user_items: usize,
}

impl DataShape {
    /// Measures `matrix`.
    pub fn of(matrix: &InteractionMatrix) -> Self {
        let mut lens: Vec<usize> =
            (0..matrix.n_rows()).map(|u| matrix.row_nnz(u)).filter(|&n| n > 0).collect();
        lens.sort_unstable();
        Self {
            n_users: matrix.n_rows(),
            n_items: matrix.n_cols(),
            nnz: matrix.nnz(),
            median_user_items: lens.get(lens.len() / 2).copied().unwrap_or(1),
        }
    }

    /// Bytes iALS with `factors` factors needs (the estimate its own memory check uses).
    pub fn ials_bytes(&self, factors: usize) -> u64 {
        ((self.n_users + self.n_items) * factors * 4 + self.nnz * 16) as u64
    }
}

/// A candidate setting: the spec's `key=value` pairs, without iterations for iALS.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// `key=value` pairs in spec order.
    pub params: Vec<(&'static str, String)>,
}

impl Candidate {
    /// The default setting of `algorithm` (no parameters).
    pub fn default_of(algorithm: Algorithm) -> Self {
        Self { algorithm, params: Vec::new() }
    }

    /// The spec text with extra pairs appended (e.g. the iteration count).
    pub fn spec_with(&self, extra: &[(&'static str, String)]) -> String {
        let pairs: Vec<String> =
            self.params.iter().chain(extra).map(|(k, v)| format!("{k}={v}")).collect();
        if pairs.is_empty() {
            self.algorithm.name().to_string()
        } else {
            format!("{}:{}", self.algorithm.name(), pairs.join(","))
        }
    }

    /// The value of `key`, when set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str())
    }
}

/// Draws candidates from a seeded stream: the same seed and calls give the same candidates.
pub struct Sampler {
    rng: Xoshiro256PlusPlus,
    shape: DataShape,
    memory_limit: Option<u64>,
}

impl Sampler {
    /// A sampler for data of `shape` under an optional memory limit.
    pub fn new(seed: u64, shape: DataShape, memory_limit: Option<u64>) -> Self {
        Self { rng: Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x7475_6e65), shape, memory_limit }
    }

    /// Whether EASE fits under the memory limit on this catalogue.
    pub fn ease_fits(&self) -> bool {
        self.memory_limit.is_none_or(|l| EaseConfig::training_bytes(self.shape.n_items) <= l)
    }

    fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        (self.rng.random_range(lo.ln()..hi.ln())).exp()
    }

    fn pick<T: Copy>(&mut self, options: &[T]) -> T {
        options[self.rng.random_range(0..options.len())]
    }

    /// A fresh draw for `algorithm`.
    pub fn sample(&mut self, algorithm: Algorithm) -> Candidate {
        let params = match algorithm {
            Algorithm::Ials => self.ials(None),
            Algorithm::Ease => self.ease(None),
            Algorithm::ItemKnn => self.itemknn(None),
            Algorithm::Bpr => self.bpr(None),
            Algorithm::Popularity => Vec::new(),
        };
        Candidate { algorithm, params }
    }

    /// A draw near `around`: each numeric parameter moves by a factor of up to ±1.6 on its log
    /// scale, each choice is kept with probability 3/4 (so the search also exploits what it found).
    /// A default candidate (no parameters) is perturbed around the defaults written out.
    pub fn perturb(&mut self, around: &Candidate) -> Candidate {
        let explicit;
        let around = if around.params.is_empty() {
            explicit =
                Candidate { algorithm: around.algorithm, params: defaults(around.algorithm) };
            &explicit
        } else {
            around
        };
        let params = match around.algorithm {
            Algorithm::Ials => self.ials(Some(around)),
            Algorithm::Ease => self.ease(Some(around)),
            Algorithm::ItemKnn => self.itemknn(Some(around)),
            Algorithm::Bpr => self.bpr(Some(around)),
            Algorithm::Popularity => Vec::new(),
        };
        Candidate { algorithm: around.algorithm, params }
    }

    /// A float near `around`'s `key` (log scale, clamped to the range) or a fresh log-uniform draw.
    fn number(&mut self, around: Option<&Candidate>, key: &str, lo: f64, hi: f64) -> f64 {
        match around.and_then(|c| c.get(key)).and_then(|v| v.parse::<f64>().ok()) {
            Some(v) if v > 0.0 => {
                let step: f64 = self.rng.random_range(-0.47..0.47);
                (v * step.exp()).clamp(lo, hi)
            }
            _ => self.log_uniform(lo, hi),
        }
    }

    fn choice<T: Copy + std::fmt::Display>(
        &mut self,
        around: Option<&Candidate>,
        key: &str,
        options: &[T],
    ) -> T {
        if let Some(current) = around.and_then(|c| c.get(key)) {
            let keep = self.rng.random_range(0..4) != 0;
            if let Some(&o) = options.iter().find(|o| o.to_string() == current)
                && keep
            {
                return o;
            }
        }
        self.pick(options)
    }

    fn ials(&mut self, around: Option<&Candidate>) -> Vec<(&'static str, String)> {
        let allowed: Vec<usize> = IALS_FACTORS
            .iter()
            .copied()
            .filter(|&f| self.memory_limit.is_none_or(|l| self.shape.ials_bytes(f) <= l))
            .collect();
        let factors =
            self.choice(around, "factors", if allowed.is_empty() { &[16] } else { &allowed });
        let confidence = self.choice(around, "confidence", &["binary", "log1p", "identity"]);
        // Identity confidence multiplies raw weights (play counts can be in the thousands), so
        // its alpha lives lower.
        let alpha = match confidence {
            "identity" => self.number(around, "alpha", 0.01, 3.0),
            _ => self.number(around, "alpha", 0.1, 30.0),
        };
        let reg_exponent = match around.and_then(|c| c.get("reg_exponent")) {
            Some(v) => {
                let v: f64 = v.parse().unwrap_or(0.75);
                (v + self.rng.random_range(-0.15..0.15)).clamp(0.0, 1.0)
            }
            None => self.rng.random_range(0.0..1.0),
        };
        let unobserved_weight = self.number(around, "unobserved_weight", 0.001, 0.1);
        // Rendle et al.: draw the strength on a reference scale (ν = 0) and divide by a typical
        // row's frequency term, so the same strength means the same thing at every exponent.
        let typical =
            self.shape.median_user_items as f64 + unobserved_weight * self.shape.n_items as f64;
        let strength = match around.and_then(|c| c.get("regularization")) {
            Some(v) => {
                let prev_exp: f64 = around
                    .and_then(|c| c.get("reg_exponent"))
                    .and_then(|e| e.parse().ok())
                    .unwrap_or(0.0);
                let prev: f64 = v.parse().unwrap_or(1.0) * typical.powf(prev_exp);
                let step: f64 = self.rng.random_range(-0.47..0.47);
                (prev * step.exp()).clamp(1.0, 300.0)
            }
            None => self.log_uniform(1.0, 300.0),
        };
        let regularization = strength / typical.powf(reg_exponent);
        vec![
            ("factors", factors.to_string()),
            ("confidence", confidence.to_string()),
            ("alpha", round3(alpha)),
            ("regularization", round3(regularization)),
            ("reg_exponent", format!("{reg_exponent:.2}")),
            ("unobserved_weight", round3(unobserved_weight)),
        ]
    }

    fn ease(&mut self, around: Option<&Candidate>) -> Vec<(&'static str, String)> {
        let lambda = self.number(around, "lambda", 100.0, 5000.0);
        let dropout =
            match around.and_then(|c| c.get("dropout")).and_then(|d| d.parse::<f64>().ok()) {
                Some(d) => (d + self.rng.random_range(-0.15..0.15)).clamp(0.0, 0.8),
                None => self.rng.random_range(0.0..0.8),
            };
        let weighting = self.choice(around, "weighting", &["log", "binary"]);
        vec![
            ("lambda", format!("{lambda:.0}")),
            ("dropout", format!("{dropout:.2}")),
            ("weighting", weighting.to_string()),
        ]
    }

    fn itemknn(&mut self, around: Option<&Candidate>) -> Vec<(&'static str, String)> {
        let neighbours = self.number(around, "neighbours", 10.0, 1000.0).round() as usize;
        let weighting = self.choice(around, "weighting", &["bm25", "tfidf", "binary", "none"]);
        let shrink = self.number(around, "shrink", 0.1, 100.0);
        let mut params = vec![
            ("neighbours", neighbours.to_string()),
            ("weighting", weighting.to_string()),
            ("shrink", round3(shrink)),
        ];
        if weighting == "bm25" {
            let k1 = self.number(around, "k1", 0.2, 5.0);
            let b = match around.and_then(|c| c.get("b")).and_then(|b| b.parse::<f64>().ok()) {
                Some(b) => (b + self.rng.random_range(-0.15..0.15)).clamp(0.0, 1.0),
                None => self.rng.random_range(0.0..1.0),
            };
            params.push(("k1", round3(k1)));
            params.push(("b", format!("{b:.2}")));
        }
        params
    }

    fn bpr(&mut self, around: Option<&Candidate>) -> Vec<(&'static str, String)> {
        let factors = self.choice(around, "factors", &BPR_FACTORS);
        let learning_rate = self.number(around, "learning_rate", 0.005, 0.2);
        let regularization = self.number(around, "regularization", 0.0001, 0.1);
        vec![
            ("factors", factors.to_string()),
            ("learning_rate", round3(learning_rate)),
            ("regularization", round3(regularization)),
        ]
    }
}

/// The defaults of each algorithm as spec pairs (those of `ModelConfig::from_spec` without
/// parameters), so that the search can explore around them.
fn defaults(algorithm: Algorithm) -> Vec<(&'static str, String)> {
    let pairs: &[(&'static str, &str)] = match algorithm {
        Algorithm::Ials => &[
            ("factors", "64"),
            ("confidence", "log1p"),
            ("alpha", "1.5"),
            ("regularization", "1"),
            ("reg_exponent", "0.75"),
            ("unobserved_weight", "0.01"),
        ],
        Algorithm::Ease => &[("lambda", "1000"), ("dropout", "0.5"), ("weighting", "log")],
        Algorithm::ItemKnn => {
            &[("neighbours", "100"), ("weighting", "bm25"), ("k1", "1.2"), ("b", "0.75")]
        }
        Algorithm::Bpr => {
            &[("factors", "64"), ("learning_rate", "0.05"), ("regularization", "0.01")]
        }
        Algorithm::Popularity => &[],
    };
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

/// Three significant digits, written without exponent so specs stay readable.
fn round3(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let digits = (2 - v.abs().log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{ModelConfig, ModelSpec};

    fn shape() -> DataShape {
        DataShape { n_users: 1000, n_items: 5000, nnz: 50_000, median_user_items: 30 }
    }

    #[test]
    fn every_draw_and_perturbation_is_a_valid_spec() {
        let mut s = Sampler::new(1, shape(), None);
        for alg in Algorithm::ALL {
            for _ in 0..50 {
                let c = s.sample(alg);
                let p = s.perturb(&c);
                for cand in [c, p] {
                    let spec = ModelSpec::parse(&cand.spec_with(&[])).unwrap();
                    ModelConfig::from_spec(&spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
                }
            }
        }
    }

    #[test]
    fn memory_limit_caps_ials_factors_and_excludes_ease() {
        let limit = shape().ials_bytes(64);
        let mut s = Sampler::new(3, shape(), Some(limit));
        assert!(!s.ease_fits());
        for _ in 0..100 {
            let f: usize = s.sample(Algorithm::Ials).get("factors").unwrap().parse().unwrap();
            assert!(f <= 64, "{f}");
        }
    }

    #[test]
    fn written_out_defaults_are_the_defaults() {
        for alg in Algorithm::ALL {
            let bare = ModelConfig::from_spec(&ModelSpec::parse(alg.name()).unwrap()).unwrap();
            let text = Candidate { algorithm: alg, params: defaults(alg) }.spec_with(&[]);
            let written = ModelConfig::from_spec(&ModelSpec::parse(&text).unwrap()).unwrap();
            assert_eq!(bare, written, "{text}");
        }
    }

    #[test]
    fn rounds_to_three_significant_digits() {
        assert_eq!(round3(0.012345), "0.0123");
        assert_eq!(round3(123.456), "123");
        assert_eq!(round3(1.5), "1.5");
    }
}
