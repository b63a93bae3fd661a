//! Popularity: every user gets the items most users interacted with.
//!
//! The sanity baseline every personalised model must beat, and the cold-start fallback the service
//! uses for unknown users. The score of an item is the number of distinct users who have it.

use super::{Contribution, FitOptions, Params, Query, Recommender};
use crate::buffer::{ArrayRef, ArraySet, Buffer};
use crate::matrix::InteractionMatrix;
use crate::topk::{ScoredItem, top_n_filtered};

/// Popularity has no hyperparameters; the struct exists so every algorithm is configured alike.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PopularityConfig {}

impl PopularityConfig {
    /// Takes this model's parameters (none) from `p`.
    pub fn from_params(_p: &mut Params) -> crate::Result<Self> {
        Ok(Self {})
    }
}

/// A trained popularity model: one count per item.
#[derive(Debug, Clone)]
pub struct PopularityModel {
    config: PopularityConfig,
    counts: Buffer<f32>,
}

impl PopularityModel {
    /// Counts the distinct users of each item.
    pub fn fit(
        config: &PopularityConfig,
        matrix: &InteractionMatrix,
        _opts: &FitOptions<'_>,
    ) -> crate::Result<Self> {
        let counts = matrix.col_counts().into_iter().map(|c| c as f32).collect::<Vec<_>>();
        Ok(Self { config: config.clone(), counts: counts.into() })
    }

    /// The hyperparameters.
    pub fn config(&self) -> &PopularityConfig {
        &self.config
    }

    /// Arrays for the model file.
    pub fn arrays(&self) -> Vec<(&'static str, ArrayRef<'_>)> {
        vec![("counts", ArrayRef::F32(&self.counts))]
    }

    /// Rebuilds the model from a model file's arrays.
    pub fn from_arrays(config: PopularityConfig, arrays: &mut ArraySet) -> crate::Result<Self> {
        Ok(Self { config, counts: arrays.take_f32("counts")? })
    }
}

impl Recommender for PopularityModel {
    fn n_items(&self) -> usize {
        self.counts.len()
    }

    fn score(&self, _query: &Query<'_>, out: &mut [f32]) {
        out.copy_from_slice(&self.counts);
    }

    /// Popularity does not depend on the history, so no history item contributes.
    fn explain(&self, _query: &Query<'_>, _item: u32) -> Vec<Contribution> {
        Vec::new()
    }

    /// Without any notion of similarity, the best guess is the most popular other items.
    fn similar_items_where(
        &self,
        item: u32,
        n: usize,
        keep: &dyn Fn(u32) -> bool,
    ) -> Vec<ScoredItem> {
        top_n_filtered(&self.counts, n, &[item], keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_distinct_user_counts() {
        let m =
            InteractionMatrix::from_triplets(3, 3, &[0, 1, 2, 0, 0], &[1, 1, 1, 2, 2], &[5.0; 5])
                .unwrap();
        let model = PopularityModel::fit(&PopularityConfig {}, &m, &FitOptions::default()).unwrap();
        let mut s = vec![0.0; 3];
        model.score(&Query::from_history(&[], &[]), &mut s);
        assert_eq!(s, vec![0.0, 3.0, 1.0]);
        assert_eq!(
            model.similar_items(1, 5).iter().map(|x| x.item).collect::<Vec<_>>(),
            vec![2, 0]
        );
    }
}
