//! PLACEHOLDER — being implemented (see the models module docs for the contract).

use super::{Contribution, FitOptions, Params, Query, Recommender};
use crate::buffer::{ArrayRef, ArraySet};
use crate::matrix::InteractionMatrix;
use crate::topk::ScoredItem;

/// Hyperparameters.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ItemKnnConfig {}

impl ItemKnnConfig {
    /// Takes this model's parameters from `p`.
    pub fn from_params(_p: &mut Params) -> crate::Result<Self> {
        Ok(Self {})
    }
}

/// A trained model.
#[derive(Debug, Clone)]
pub struct ItemKnnModel {
    config: ItemKnnConfig,
}

impl ItemKnnModel {
    /// Trains.
    pub fn fit(
        config: &ItemKnnConfig,
        _m: &InteractionMatrix,
        _o: &FitOptions<'_>,
    ) -> crate::Result<Self> {
        Ok(Self { config: config.clone() })
    }
    /// The hyperparameters.
    pub fn config(&self) -> &ItemKnnConfig {
        &self.config
    }
    /// Arrays for the model file.
    pub fn arrays(&self) -> Vec<(&'static str, ArrayRef<'_>)> {
        vec![]
    }
    /// Rebuilds from arrays.
    pub fn from_arrays(config: ItemKnnConfig, _a: &mut ArraySet) -> crate::Result<Self> {
        Ok(Self { config })
    }
    /// Removes user row `user` (factor models only; later rows move up).
    pub fn remove_user(&mut self, _user: u32) {}
}

impl Recommender for ItemKnnModel {
    fn n_items(&self) -> usize {
        unimplemented!()
    }
    fn score(&self, _q: &Query<'_>, _out: &mut [f32]) {
        unimplemented!()
    }
    fn explain(&self, _q: &Query<'_>, _item: u32) -> Vec<Contribution> {
        unimplemented!()
    }
    fn similar_items(&self, _item: u32, _n: usize) -> Vec<ScoredItem> {
        unimplemented!()
    }
}
