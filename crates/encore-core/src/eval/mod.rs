//! Offline evaluation: holdout splits and exact full-ranking top-K metrics.
//!
//! This module implements protocol v1 of `../shared/eval/PROTOCOL.md` and agrees with its reference
//! implementation `eval.py` to at least four decimal places on the same recommendations:
//!
//! 1. [`holdout_split`] moves 20 % of each active user's items to a test matrix (the rule the
//!    shared splits were made with); or a separate test file is mapped into the training index
//!    space with [`TestSet::from_pairs`].
//! 2. [`rank_users`] ranks the whole training catalogue for each test user, excluding the user's
//!    training items.
//! 3. [`metrics_from_lists`] turns the top-K lists into [`Metrics`]: precision, recall, NDCG, MAP,
//!    hit rate and coverage at K.
//!
//! [`evaluate`] chains 2 and 3 for tuning loops; [`evaluate_test_set`] also returns the lists.

mod metrics;
mod ranking;
mod split;
mod testset;

pub use metrics::{Metrics, metrics_from_lists};
pub use ranking::{Evaluation, evaluate, evaluate_test_set, rank_users};
pub use split::{MIN_ITEMS_FOR_HOLDOUT, holdout_count, holdout_split};
pub use testset::TestSet;
