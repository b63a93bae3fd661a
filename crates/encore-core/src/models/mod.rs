//! Recommendation models: training, scoring, explanation, similar items.
//!
//! A model is chosen and configured by a [`ModelSpec`] such as `ials:factors=128,alpha=2` or
//! `ease:lambda=300`; [`ModelConfig::fit`] trains it on an [`InteractionMatrix`] (users × items,
//! raw weights) into a [`Model`]. Every trained model implements [`Recommender`]: it scores the
//! whole catalogue for a [`Query`] — a known user and/or a history given at request time, so new
//! users and anonymous sessions need no retraining — explains a recommendation as per-history-item
//! contributions, and lists similar items.
//!
//! Training is deterministic: the same matrix, spec and seed give the same model whatever the
//! number of rayon threads.

pub mod bpr;
pub mod ease;
pub mod ials;
pub mod itemknn;
pub mod popularity;
mod spec;
#[cfg(test)]
pub(crate) mod test_support;

pub use spec::{ModelSpec, Params};

use crate::buffer::{ArrayRef, ArraySet};
use crate::matrix::InteractionMatrix;
use crate::progress::TrainingObserver;
use crate::topk::ScoredItem;

/// The algorithms Encore knows, by their spec names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// Implicit-feedback ALS (Hu, Koren & Volinsky 2008).
    Ials,
    /// Bayesian personalised ranking (Rendle et al. 2009).
    Bpr,
    /// Embarrassingly shallow autoencoder (Steck 2019).
    Ease,
    /// Item-based k-nearest neighbours (cosine, optionally BM25-weighted).
    #[serde(rename = "itemknn")]
    ItemKnn,
    /// Most popular items.
    Popularity,
}

impl Algorithm {
    /// Every algorithm, in the order the CLI lists them.
    pub const ALL: [Algorithm; 5] = [
        Algorithm::Ials,
        Algorithm::Bpr,
        Algorithm::Ease,
        Algorithm::ItemKnn,
        Algorithm::Popularity,
    ];

    /// The name used in specs and model files.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Ials => "ials",
            Algorithm::Bpr => "bpr",
            Algorithm::Ease => "ease",
            Algorithm::ItemKnn => "itemknn",
            Algorithm::Popularity => "popularity",
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Algorithm {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        Algorithm::ALL.into_iter().find(|a| a.name() == s).ok_or_else(|| {
            crate::Error::InvalidSpec {
                spec: s.to_string(),
                message: "unknown model; expected one of ials, bpr, ease, itemknn, popularity"
                    .into(),
            }
        })
    }
}

/// What to score: a known user (training row index) and/or the user's history.
///
/// `items` is sorted ascending without duplicates and `weights` is parallel to it (raw weights,
/// as in the training data). For a user known to the model with an unchanged history, `user` is
/// `Some` and factor models use the stored factors; with `user: None` every model scores from the
/// history alone (fold-in for factor models), which serves new users, anonymous sessions and users
/// with events newer than the model.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    /// Row of the user in the training matrix, when the stored parameters may be used.
    pub user: Option<u32>,
    /// History item indices, sorted ascending, unique.
    pub items: &'a [u32],
    /// Raw weights parallel to `items`.
    pub weights: &'a [f32],
}

impl<'a> Query<'a> {
    /// A query from a history alone.
    pub fn from_history(items: &'a [u32], weights: &'a [f32]) -> Self {
        Self { user: None, items, weights }
    }
}

/// How much one history item contributed to an item's score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Contribution {
    /// The history item.
    pub item: u32,
    /// Its share of the score (the shares of all history items sum to the score, where the model
    /// allows an exact decomposition).
    pub contribution: f32,
}

/// What every trained model can do at serving time.
pub trait Recommender: Send + Sync {
    /// Number of items the model scores.
    fn n_items(&self) -> usize;
    /// Writes a score for every item into `out` (`out.len() == n_items()`); higher is better.
    /// Excluding seen items is the caller's job (see [`crate::topk`]).
    fn score(&self, query: &Query<'_>, out: &mut [f32]);
    /// For a model whose scores are `vᵀy_i (+ b_i)`: the item side, which lets many queries be
    /// scored together ([`crate::batch`]). `None` for other models.
    fn factor_scoring(&self) -> Option<crate::batch::FactorScoring<'_>> {
        None
    }
    /// For a model with [`Recommender::factor_scoring`]: the vector `v` that [`Recommender::score`]
    /// scores `query` with (the stored user factor, or the folded-in history).
    fn query_vector(&self, _query: &Query<'_>) -> Option<std::borrow::Cow<'_, [f32]>> {
        None
    }
    /// The contributions of the history items to `item`'s score, largest first.
    fn explain(&self, query: &Query<'_>, item: u32) -> Vec<Contribution>;
    /// The `n` items most similar to `item` (excluding itself), best first.
    fn similar_items(&self, item: u32, n: usize) -> Vec<ScoredItem> {
        self.similar_items_where(item, n, &|_| true)
    }
    /// The `n` items most similar to `item` (excluding itself) for which `keep` is true, best
    /// first. The condition is applied while selecting, so `n` passing items are returned
    /// whenever that many exist (a server hides taken-down and unavailable items this way).
    fn similar_items_where(
        &self,
        item: u32,
        n: usize,
        keep: &dyn Fn(u32) -> bool,
    ) -> Vec<ScoredItem>;
}

/// Options for training that are not hyperparameters.
#[derive(Clone, Copy)]
pub struct FitOptions<'a> {
    /// Seed of every random choice (initialisation, sampling).
    pub seed: u64,
    /// Receives progress and may cancel.
    pub observer: &'a dyn TrainingObserver,
    /// Upper bound on memory a model may allocate for dense structures (EASE's item × item
    /// matrix); `None` means no limit.
    pub memory_limit_bytes: Option<u64>,
}

impl Default for FitOptions<'_> {
    fn default() -> Self {
        Self { seed: 42, observer: &crate::progress::NoProgress, memory_limit_bytes: None }
    }
}

/// A validated configuration of one algorithm, ready to train.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelConfig {
    /// iALS.
    Ials(ials::IalsConfig),
    /// BPR.
    Bpr(bpr::BprConfig),
    /// EASE.
    Ease(ease::EaseConfig),
    /// Item-kNN.
    ItemKnn(itemknn::ItemKnnConfig),
    /// Popularity.
    Popularity(popularity::PopularityConfig),
}

impl ModelConfig {
    /// Builds the configuration from a parsed spec, checking names and ranges of every parameter.
    pub fn from_spec(spec: &ModelSpec) -> crate::Result<Self> {
        let mut p = spec.params().clone();
        let cfg = match spec.algorithm() {
            Algorithm::Ials => ModelConfig::Ials(ials::IalsConfig::from_params(&mut p)?),
            Algorithm::Bpr => ModelConfig::Bpr(bpr::BprConfig::from_params(&mut p)?),
            Algorithm::Ease => ModelConfig::Ease(ease::EaseConfig::from_params(&mut p)?),
            Algorithm::ItemKnn => {
                ModelConfig::ItemKnn(itemknn::ItemKnnConfig::from_params(&mut p)?)
            }
            Algorithm::Popularity => {
                ModelConfig::Popularity(popularity::PopularityConfig::from_params(&mut p)?)
            }
        };
        p.finish(spec.text())?;
        Ok(cfg)
    }

    /// The algorithm this configures.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            ModelConfig::Ials(_) => Algorithm::Ials,
            ModelConfig::Bpr(_) => Algorithm::Bpr,
            ModelConfig::Ease(_) => Algorithm::Ease,
            ModelConfig::ItemKnn(_) => Algorithm::ItemKnn,
            ModelConfig::Popularity(_) => Algorithm::Popularity,
        }
    }

    /// Every hyperparameter with its effective value, as stored in model files and registries.
    pub fn params_json(&self) -> serde_json::Value {
        match self {
            ModelConfig::Ials(c) => serde_json::to_value(c),
            ModelConfig::Bpr(c) => serde_json::to_value(c),
            ModelConfig::Ease(c) => serde_json::to_value(c),
            ModelConfig::ItemKnn(c) => serde_json::to_value(c),
            ModelConfig::Popularity(c) => serde_json::to_value(c),
        }
        .expect("configs serialise")
    }

    /// Trains the model on `matrix` (users × items, raw weights).
    pub fn fit(&self, matrix: &InteractionMatrix, opts: &FitOptions<'_>) -> crate::Result<Model> {
        if matrix.nnz() == 0 {
            return Err(crate::Error::InvalidInput(
                "cannot train on an empty interaction matrix".into(),
            ));
        }
        Ok(match self {
            ModelConfig::Ials(c) => Model::Ials(ials::IalsModel::fit(c, matrix, opts)?),
            ModelConfig::Bpr(c) => Model::Bpr(bpr::BprModel::fit(c, matrix, opts)?),
            ModelConfig::Ease(c) => Model::Ease(ease::EaseModel::fit(c, matrix, opts)?),
            ModelConfig::ItemKnn(c) => Model::ItemKnn(itemknn::ItemKnnModel::fit(c, matrix, opts)?),
            ModelConfig::Popularity(c) => {
                Model::Popularity(popularity::PopularityModel::fit(c, matrix, opts)?)
            }
        })
    }
}

/// A trained model of any algorithm.
#[derive(Debug, Clone)]
pub enum Model {
    /// iALS.
    Ials(ials::IalsModel),
    /// BPR.
    Bpr(bpr::BprModel),
    /// EASE.
    Ease(ease::EaseModel),
    /// Item-kNN.
    ItemKnn(itemknn::ItemKnnModel),
    /// Popularity.
    Popularity(popularity::PopularityModel),
}

impl Model {
    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Model::Ials(_) => Algorithm::Ials,
            Model::Bpr(_) => Algorithm::Bpr,
            Model::Ease(_) => Algorithm::Ease,
            Model::ItemKnn(_) => Algorithm::ItemKnn,
            Model::Popularity(_) => Algorithm::Popularity,
        }
    }

    /// The model as a [`Recommender`].
    pub fn recommender(&self) -> &dyn Recommender {
        match self {
            Model::Ials(m) => m,
            Model::Bpr(m) => m,
            Model::Ease(m) => m,
            Model::ItemKnn(m) => m,
            Model::Popularity(m) => m,
        }
    }

    /// The hyperparameters the model was trained with.
    pub fn params_json(&self) -> serde_json::Value {
        match self {
            Model::Ials(m) => serde_json::to_value(m.config()),
            Model::Bpr(m) => serde_json::to_value(m.config()),
            Model::Ease(m) => serde_json::to_value(m.config()),
            Model::ItemKnn(m) => serde_json::to_value(m.config()),
            Model::Popularity(m) => serde_json::to_value(m.config()),
        }
        .expect("configs serialise")
    }

    /// The named parameter arrays to store in a model file.
    pub fn arrays(&self) -> Vec<(&'static str, ArrayRef<'_>)> {
        match self {
            Model::Ials(m) => m.arrays(),
            Model::Bpr(m) => m.arrays(),
            Model::Ease(m) => m.arrays(),
            Model::ItemKnn(m) => m.arrays(),
            Model::Popularity(m) => m.arrays(),
        }
    }

    /// Rebuilds a model from its algorithm, stored hyperparameters and arrays (the inverse of
    /// [`Model::params_json`] and [`Model::arrays`]); validates every array length.
    pub fn from_parts(
        algorithm: Algorithm,
        params: &serde_json::Value,
        arrays: &mut ArraySet,
    ) -> crate::Result<Self> {
        fn cfg<T: serde::de::DeserializeOwned>(p: &serde_json::Value) -> crate::Result<T> {
            serde_json::from_value(p.clone())
                .map_err(|e| crate::Error::InvalidInput(format!("bad stored hyperparameters: {e}")))
        }
        Ok(match algorithm {
            Algorithm::Ials => Model::Ials(ials::IalsModel::from_arrays(cfg(params)?, arrays)?),
            Algorithm::Bpr => Model::Bpr(bpr::BprModel::from_arrays(cfg(params)?, arrays)?),
            Algorithm::Ease => Model::Ease(ease::EaseModel::from_arrays(cfg(params)?, arrays)?),
            Algorithm::ItemKnn => {
                Model::ItemKnn(itemknn::ItemKnnModel::from_arrays(cfg(params)?, arrays)?)
            }
            Algorithm::Popularity => {
                Model::Popularity(popularity::PopularityModel::from_arrays(cfg(params)?, arrays)?)
            }
        })
    }

    /// Removes user row `user` from the model (erasure): factor models drop the user's factor
    /// row and later rows move up by one, matching [`InteractionMatrix::remove_row`] and
    /// [`crate::ids::IdMap::remove`]. Item-based models keep no per-user state.
    pub fn remove_user(&mut self, user: u32) {
        match self {
            Model::Ials(m) => m.remove_user(user),
            Model::Bpr(m) => m.remove_user(user),
            Model::Ease(_) | Model::ItemKnn(_) | Model::Popularity(_) => {}
        }
    }
}
