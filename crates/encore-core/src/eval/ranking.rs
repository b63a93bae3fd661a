//! Exact full-catalogue ranking of test users and the metrics of the resulting lists.
//!
//! For every evaluated user the model scores **every** item; the top K is taken over the training
//! catalogue — the items with at least one training interaction — minus the user's own training
//! items. No sampled negatives: sampled metrics rank differently from what users would see.
//! Users are ranked in parallel with rayon, one score buffer per worker.

use rayon::prelude::*;

use super::metrics::{Metrics, metrics_from_lists};
use super::testset::TestSet;
use crate::matrix::InteractionMatrix;
use crate::models::{Query, Recommender};
use crate::topk::top_n_filtered;

/// The metrics of one evaluation together with the lists they were computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The averaged metrics.
    pub metrics: Metrics,
    /// The top-K item indices of each evaluated user, best first, parallel to the test set's
    /// `lists` (what `--write-recs` writes).
    pub recommendations: Vec<Vec<u32>>,
}

/// Ranks the training catalogue for `users` and returns each user's top `k` item indices.
///
/// The catalogue is the items with at least one interaction in `train`, and each user's training
/// items are excluded. `on_user` is called once per ranked user (for progress bars); it is called
/// from rayon workers. Fails when the model and the matrix disagree on the number of items or a
/// user is out of range.
pub fn rank_users(
    model: &dyn Recommender,
    train: &InteractionMatrix,
    users: &[u32],
    k: usize,
    on_user: &(dyn Fn() + Sync),
) -> crate::Result<Vec<Vec<u32>>> {
    let n_items = train.n_cols();
    if model.n_items() != n_items {
        return Err(crate::Error::InvalidInput(format!(
            "the model scores {} items but the training matrix has {n_items}",
            model.n_items()
        )));
    }
    if let Some(&u) = users.iter().find(|&&u| u as usize >= train.n_rows()) {
        return Err(crate::Error::InvalidInput(format!(
            "user index {u} is out of range of the training matrix ({} users)",
            train.n_rows()
        )));
    }
    let in_catalogue: Vec<bool> = train.col_counts().iter().map(|&c| c > 0).collect();
    let lists = users
        .par_iter()
        .map_init(
            || vec![0f32; n_items],
            |scores, &user| {
                let row = train.row(user as usize);
                let query = Query { user: Some(user), items: row.indices, weights: row.values };
                model.score(&query, scores);
                let top = top_n_filtered(scores, k, row.indices, |i| in_catalogue[i as usize]);
                on_user();
                top.into_iter().map(|s| s.item).collect()
            },
        )
        .collect();
    Ok(lists)
}

/// Ranks every user of `test` and computes the protocol's metrics at `k`.
///
/// Coverage is relative to the training catalogue (items with a training interaction). Relevant
/// items at or beyond `train.n_cols()` (unseen in training, see [`TestSet`]) count in |T| only.
pub fn evaluate_test_set(
    model: &dyn Recommender,
    train: &InteractionMatrix,
    test: &TestSet,
    k: usize,
    on_user: &(dyn Fn() + Sync),
) -> crate::Result<Evaluation> {
    let users: Vec<u32> = test.lists.iter().map(|(u, _)| *u).collect();
    let recommendations = rank_users(model, train, &users, k, on_user)?;
    let catalogue = train.col_counts().iter().filter(|&&c| c > 0).count();
    // `lists` is in the same order as `users`, so look lists up by position, not by user id.
    let position: rustc_hash::FxHashMap<u32, usize> =
        users.iter().enumerate().map(|(p, &u)| (u, p)).collect();
    let metrics =
        metrics_from_lists(&test.lists, |u| recommendations[position[&u]].as_slice(), k, catalogue);
    Ok(Evaluation { metrics, recommendations })
}

/// Evaluates `model` (trained on `train`) against a held-out matrix of the same shape, as made by
/// [`super::holdout_split`]: the entry point for tuning loops.
///
/// # Panics
/// When `test` and `train` differ in shape or the model was trained on another item set — both
/// are programming errors, not bad input. Use [`evaluate_test_set`] for a `Result`.
pub fn evaluate(
    model: &dyn Recommender,
    train: &InteractionMatrix,
    test: &InteractionMatrix,
    k: usize,
) -> Metrics {
    assert_eq!(
        (train.n_rows(), train.n_cols()),
        (test.n_rows(), test.n_cols()),
        "train and test matrices must have the same shape"
    );
    evaluate_test_set(model, train, &TestSet::from_matrix(test), k, &|| {})
        .expect("model and training matrix agree")
        .metrics
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{Contribution, ModelConfig, ModelSpec};
    use crate::topk::ScoredItem;

    /// Scores item i as i (so higher indices rank first) plus a bonus for user 1 on item 0.
    struct Ladder(usize);
    impl Recommender for Ladder {
        fn n_items(&self) -> usize {
            self.0
        }
        fn score(&self, q: &Query<'_>, out: &mut [f32]) {
            for (i, s) in out.iter_mut().enumerate() {
                *s = i as f32;
            }
            if q.user == Some(1) {
                out[0] = 100.0;
            }
        }
        fn explain(&self, _q: &Query<'_>, _item: u32) -> Vec<Contribution> {
            Vec::new()
        }
        fn similar_items_where(
            &self,
            _item: u32,
            _n: usize,
            _keep: &dyn Fn(u32) -> bool,
        ) -> Vec<ScoredItem> {
            Vec::new()
        }
    }

    /// 3 users × 6 items; item 5 has no training interaction, so it is outside the catalogue even
    /// though it scores highest.
    fn train() -> InteractionMatrix {
        InteractionMatrix::from_triplets(3, 6, &[0, 0, 1, 2, 2], &[4, 1, 2, 3, 0], &[1.0; 5])
            .unwrap()
    }

    #[test]
    fn ranks_the_catalogue_without_training_items() {
        let lists = rank_users(&Ladder(6), &train(), &[0, 1, 2], 3, &|| {}).unwrap();
        assert_eq!(lists, vec![vec![3, 2, 0], vec![0, 4, 3], vec![4, 2, 1]]);
    }

    #[test]
    fn evaluate_matches_metrics_of_the_lists() {
        let test = InteractionMatrix::from_triplets(3, 6, &[0, 1, 1, 2], &[2, 0, 5, 4], &[1.0; 4])
            .unwrap();
        let m = evaluate(&Ladder(6), &train(), &test, 2);
        // Lists at K=2: u0 [3,2] (hit at rank 2), u1 [0,4] (hit at 1; |T|=2 incl. item 5),
        // u2 [4,2] (hit at 1).
        let l3 = 1.0 / 3f64.log2();
        assert_eq!(m.users, 3);
        assert!((m.precision - (0.5 + 0.5 + 0.5) / 3.0).abs() < 1e-12);
        assert!((m.recall - (1.0 + 0.5 + 1.0) / 3.0).abs() < 1e-12);
        assert!((m.ndcg - (l3 + 1.0 / (1.0 + l3) + 1.0) / 3.0).abs() < 1e-12);
        assert!((m.map - (0.5 + 0.5 + 1.0) / 3.0).abs() < 1e-12);
        assert!((m.hit_rate - 1.0).abs() < 1e-12);
        // Covered {3, 2, 0, 4} of a catalogue of 5 items (item 5 has no training interaction).
        assert!((m.coverage - 4.0 / 5.0).abs() < 1e-12);
    }

    #[test]
    fn counts_progress_and_rejects_mismatched_models() {
        let count = std::sync::atomic::AtomicUsize::new(0);
        let tick = || {
            count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        };
        rank_users(&Ladder(6), &train(), &[0, 2], 1, &tick).unwrap();
        assert_eq!(count.into_inner(), 2);
        assert!(rank_users(&Ladder(5), &train(), &[0], 1, &|| {}).is_err());
        assert!(rank_users(&Ladder(6), &train(), &[3], 1, &|| {}).is_err());
    }

    #[test]
    fn popularity_evaluates_end_to_end() {
        let spec = ModelSpec::parse("popularity").unwrap();
        let model =
            ModelConfig::from_spec(&spec).unwrap().fit(&train(), &Default::default()).unwrap();
        let test = TestSet { lists: vec![(1, vec![0, 4])], ..Default::default() };
        let e = evaluate_test_set(model.recommender(), &train(), &test, 1, &|| {}).unwrap();
        // Popularity counts: items 0..4 have one user each; the tie breaks to the smallest index,
        // item 0 (user 1 has item 2).
        assert_eq!(e.recommendations, vec![vec![0]]);
        assert!((e.metrics.ndcg - 1.0).abs() < 1e-12);
    }
}
