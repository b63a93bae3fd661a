//! A model loaded for serving, with its id mappings and its table of precomputed candidates.
//!
//! # Why candidates are precomputed
//!
//! Scoring one user against 50,000 items with 64 factors reads the whole item matrix (12.8 MB)
//! and costs a few hundred microseconds, which caps one core at a few thousand requests per
//! second. But for a user the model knows and who has no event newer than the model, the answer
//! depends only on the model: the scores come from the stored user factors and the seen items are
//! the training row. So every such user's best `candidates_len` items (seen items already
//! excluded) are computed once, for all users together with the blocked kernel of
//! [`encore_core::batch`] (a GEMM over tiles with the selection fused, ~10× the one-user path per
//! core), and an unfiltered request with `n` up to that length is answered by slicing the table.
//! Top-`n` of the exact top-`N` list is the exact top-`n` (the kernel gives the one-user path's
//! scores and ties), so the results are exactly the model's. A user with newer events is scored
//! from the full history instead (see [`crate::recommend`]), so the table never goes stale; a new
//! model gets a new table.
//!
//! # When it is computed
//!
//! An activation computes the table *before* the new model is put in front of requests
//! ([`crate::state::Inner::prepare_and_serve`]), while the old model keeps serving, so requests
//! are never slowed by a cold model. At start-up there is no old model: the model serves at once,
//! scoring on demand, and the table is installed when ready. The table is bounded by
//! [`crate::ServiceConfig::candidate_memory_bytes`]: its width shrinks to fit, and below
//! [`MIN_WIDTH`] no table is kept (every request is then scored on demand).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use encore_core::batch::{ScoringBounds, TopNTable, top_n_all_users};
use encore_core::model_file::ModelArtifact;
use encore_core::topk::ScoredItem;
use rustc_hash::FxHashMap;

use crate::batcher::RequestBatcher;

/// A fold-in candidate list with the stamp (`UserHistory::stamp`) of the history it was
/// computed from.
type FreshList = ((u64, u64), Arc<[ScoredItem]>);

/// Most users whose fold-in candidates are cached at once.
const MAX_FRESH: usize = 100_000;

/// Narrowest candidate table worth keeping: a request for the usual 10 items must fit it.
pub(crate) const MIN_WIDTH: usize = 10;

/// Marks a catalog item the model does not know.
pub(crate) const ABSENT: u32 = u32::MAX;

/// How large a candidate table may be: `per_user` columns, fewer if that does not fit
/// `memory_bytes` (from [`crate::ServiceConfig`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CandidateBudget {
    pub per_user: usize,
    pub memory_bytes: u64,
}

/// The active model of a catalog, ready to serve.
pub(crate) struct LoadedModel {
    /// Registry version number.
    pub version: u32,
    /// Version label (`v3`).
    pub label: String,
    /// Every event with a sequence number up to this was seen by training.
    pub watermark: u64,
    /// The model with its id maps and training matrix.
    pub artifact: ModelArtifact,
    /// Model item index → catalog item index.
    pub to_catalog: Vec<u32>,
    /// Catalog item index → model item index or [`ABSENT`]; covers the catalog items known at
    /// load (items first seen later are unknown to the model anyway).
    pub from_catalog: Vec<u32>,
    /// Every known user's best items (model indices) with seen items excluded, once computed.
    candidates: OnceLock<TopNTable>,
    /// Width of the candidate table (0: no table is kept).
    pub candidates_len: usize,
    /// Candidate lists of users with events newer than the model (scored by fold-in over their
    /// full history), keyed by user and valid for the stamp of the history they were made from:
    /// any new event changes the stamp, so a list is never served for another history.
    fresh: Mutex<FxHashMap<Box<str>, FreshList>>,
    /// Set when the model is swapped out, to stop its background precomputation.
    retired: AtomicBool,
    /// Users whose candidates the running precomputation has finished.
    computed: AtomicUsize,
    /// Seconds it took to load the file.
    pub load_seconds: f64,
    /// For factor models: the norms the GEMM error bound needs, and the queue that scores
    /// concurrent on-demand requests together ([`crate::batcher`]).
    pub on_demand: Option<(ScoringBounds, RequestBatcher)>,
    /// Seconds from the activation request to this model answering (0 when loaded at
    /// start-up), as `f64` bits: set once the model is prepared, after it is shared.
    activation_seconds: AtomicU64,
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel").field("label", &self.label).finish_non_exhaustive()
    }
}

impl LoadedModel {
    /// Wraps a loaded artifact; `to_catalog` maps its items to catalog indices. The candidate
    /// table is sized by `budget`.
    pub fn new(
        version: u32,
        watermark: u64,
        artifact: ModelArtifact,
        to_catalog: Vec<u32>,
        catalog_items: usize,
        budget: CandidateBudget,
        load_seconds: f64,
    ) -> Self {
        let CandidateBudget { per_user: candidates_per_user, memory_bytes } = budget;
        let mut from_catalog = vec![ABSENT; catalog_items];
        for (m, &c) in to_catalog.iter().enumerate() {
            from_catalog[c as usize] = m as u32;
        }
        let users = artifact.users.len().max(1) as u64;
        let fits =
            (memory_bytes / users).saturating_sub(4) / std::mem::size_of::<ScoredItem>() as u64;
        let mut candidates_len = candidates_per_user.min(fits.min(usize::MAX as u64) as usize);
        if candidates_len < MIN_WIDTH.min(candidates_per_user) {
            candidates_len = 0;
        }
        let on_demand = on_demand_batching(&artifact);
        Self {
            version,
            label: encore_store::ModelVersion(version).to_string(),
            watermark,
            artifact,
            to_catalog,
            from_catalog,
            candidates: OnceLock::new(),
            candidates_len,
            fresh: Mutex::new(FxHashMap::default()),
            retired: AtomicBool::new(false),
            computed: AtomicUsize::new(0),
            load_seconds,
            on_demand,
            activation_seconds: AtomicU64::new(0),
        }
    }

    /// The same model without the user at `removed_row` (erasure): the candidate lists of the
    /// other users are kept, since removing a user changes no other user's scores.
    pub fn without_user(&self, artifact: ModelArtifact, removed_row: u32) -> Self {
        let on_demand = on_demand_batching(&artifact);
        let next = Self {
            version: self.version,
            label: self.label.clone(),
            watermark: self.watermark,
            artifact,
            to_catalog: self.to_catalog.clone(),
            from_catalog: self.from_catalog.clone(),
            candidates: OnceLock::new(),
            candidates_len: self.candidates_len,
            fresh: Mutex::new(FxHashMap::default()),
            retired: AtomicBool::new(false),
            computed: AtomicUsize::new(0),
            load_seconds: self.load_seconds,
            on_demand,
            activation_seconds: AtomicU64::new(self.activation_seconds.load(Ordering::Relaxed)),
        };
        if let Some(table) = self.candidates.get() {
            let _ = next.candidates.set(table.without_row(removed_row as usize));
        }
        next
    }

    /// This model without `user_id` (in memory only), or `None` when it does not know the user.
    pub fn without_user_id(&self, user_id: &str) -> Option<Self> {
        let row = self.artifact.users.get(user_id)?;
        let mut artifact = self.artifact.clone();
        artifact.remove_user(user_id);
        Some(self.without_user(artifact, row))
    }

    /// The model item index of catalog item `c`, if the model knows it.
    pub fn model_item(&self, c: u32) -> Option<u32> {
        self.from_catalog.get(c as usize).copied().filter(|&m| m != ABSENT)
    }

    /// Maps a catalog history to a model history (sorted by model index), dropping unknown items.
    pub fn map_history(&self, items: &[u32], weights: &[f32]) -> (Vec<u32>, Vec<f32>) {
        // Two catalog ids never map to one model item, but their weights would be summed.
        sorted_history(
            items.iter().zip(weights).filter_map(|(&c, &w)| self.model_item(c).map(|m| (m, w))),
        )
    }

    /// The precomputed candidates of model user `row`, once the table is in place.
    pub fn candidates(&self, row: u32) -> Option<&[ScoredItem]> {
        self.candidates.get().map(|t| t.row(row as usize))
    }

    /// Whether the candidate table is in place (or none is kept), i.e. nothing is left to
    /// compute before this model serves at full speed.
    pub fn is_prepared(&self) -> bool {
        self.candidates_len == 0 || self.candidates.get().is_some()
    }

    /// The fold-in candidates of `user` cached for the history with `stamp`.
    pub fn fresh_candidates(&self, user: &str, stamp: (u64, u64)) -> Option<Arc<[ScoredItem]>> {
        let fresh = self.fresh.lock().unwrap_or_else(|p| p.into_inner());
        fresh.get(user).filter(|(s, _)| *s == stamp).map(|(_, list)| list.clone())
    }

    /// Keeps the fold-in candidates of `user` for the history with `stamp`. The cache is
    /// bounded: when full it is emptied (entries are cheap to recompute).
    pub fn keep_fresh(&self, user: &str, stamp: (u64, u64), list: Arc<[ScoredItem]>) {
        let mut fresh = self.fresh.lock().unwrap_or_else(|p| p.into_inner());
        if fresh.len() >= MAX_FRESH && !fresh.contains_key(user) {
            fresh.clear();
        }
        fresh.insert(user.into(), (stamp, list));
    }

    /// Drops `user`'s fold-in candidates (erasure).
    pub fn forget_fresh(&self, user: &str) {
        self.fresh.lock().unwrap_or_else(|p| p.into_inner()).remove(user);
    }

    /// Computes the candidate table on the caller's rayon pool and puts it in place, unless the
    /// model is retired meanwhile. Returns whether the table is in place.
    pub fn precompute(&self) -> bool {
        if self.is_prepared() {
            return true;
        }
        let started = std::time::Instant::now();
        let rec = self.artifact.recommender();
        let progress = |users: usize| {
            self.computed.fetch_add(users, Ordering::Relaxed);
            !self.retired.load(Ordering::Relaxed)
        };
        // Taken-down and unavailable items are left out when a list is read, not here: the
        // table stays valid when items change.
        let table =
            top_n_all_users(rec, &self.artifact.train, self.candidates_len, &|_| true, &progress);
        let done = table.is_some_and(|t| {
            tracing::info!(
                model = %self.label,
                users = t.n_rows(),
                width = t.width(),
                bytes = t.heap_bytes(),
                seconds = started.elapsed().as_secs_f64(),
                "candidate table computed"
            );
            let _ = self.candidates.set(t);
            true
        });
        done || self.is_prepared()
    }

    /// Stops background work on this model (it has been swapped out).
    pub fn retire(&self) {
        self.retired.store(true, Ordering::Relaxed);
    }

    /// Fraction of known users whose candidates are precomputed (1 once the table is in place,
    /// or when no table is kept).
    pub fn precomputed_fraction(&self) -> f64 {
        let n = self.artifact.users.len();
        if self.is_prepared() || n == 0 {
            1.0
        } else {
            (self.computed.load(Ordering::Relaxed) as f64 / n as f64).min(0.999)
        }
    }

    /// Seconds from the activation request to this model answering (0 when loaded at start-up).
    pub fn activation_seconds(&self) -> f64 {
        f64::from_bits(self.activation_seconds.load(Ordering::Relaxed))
    }

    /// Records how long the activation took.
    pub fn set_activation_seconds(&self, seconds: f64) {
        self.activation_seconds.store(seconds.to_bits(), Ordering::Relaxed);
    }

    /// On-demand queries of this model answered from a shared batch.
    pub fn batched_requests(&self) -> u64 {
        self.on_demand.as_ref().map_or(0, |(_, b)| b.batched())
    }

    /// Bytes of the candidate table.
    pub fn candidate_bytes(&self) -> usize {
        self.candidates.get().map_or(0, TopNTable::heap_bytes)
    }
}

/// The batching state of a factor model (none for the others, whose scoring is not a GEMM).
fn on_demand_batching(artifact: &ModelArtifact) -> Option<(ScoringBounds, RequestBatcher)> {
    let f = artifact.recommender().factor_scoring()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Some((ScoringBounds::of(f), RequestBatcher::new(cores)))
}

/// A history as items sorted ascending without duplicates (the weights of a repeated item
/// summed) and the parallel weights: the shape [`Query`] takes.
pub(crate) fn sorted_history(pairs: impl Iterator<Item = (u32, f32)>) -> (Vec<u32>, Vec<f32>) {
    let mut pairs: Vec<(u32, f32)> = pairs.collect();
    pairs.sort_unstable_by_key(|p| p.0);
    pairs.dedup_by(|b, a| {
        if a.0 == b.0 {
            a.1 += b.1;
            true
        } else {
            false
        }
    });
    pairs.into_iter().unzip()
}

#[cfg(test)]
mod tests {
    use super::*;
    use encore_core::ids::IdMap;
    use encore_core::matrix::InteractionMatrix;
    use encore_core::models::{FitOptions, Model, popularity};

    /// Three users, four items; model items are in a different order than catalog items.
    fn loaded(candidates_len: usize) -> LoadedModel {
        let users = IdMap::from_ids(["a", "b", "c"]).unwrap();
        let items = IdMap::from_ids(["x", "y", "z", "w"]).unwrap();
        let m = InteractionMatrix::from_triplets(
            3,
            4,
            &[0, 0, 1, 1, 2, 2, 2],
            &[0, 1, 1, 2, 1, 2, 3],
            &[1.0; 7],
        )
        .unwrap();
        let cfg = popularity::PopularityConfig::default();
        let model = popularity::PopularityModel::fit(&cfg, &m, &FitOptions::default()).unwrap();
        let artifact = ModelArtifact::new(Model::Popularity(model), users, items, m, None);
        // Catalog order: w, z, y, x, then an item the model does not know.
        let budget = CandidateBudget { per_user: candidates_len, memory_bytes: u64::MAX };
        LoadedModel::new(1, 10, artifact, vec![3, 2, 1, 0], 5, budget, 0.0)
    }

    #[test]
    fn maps_catalog_histories_to_sorted_model_indices() {
        let l = loaded(2);
        assert_eq!(l.model_item(0), Some(3));
        assert_eq!(l.model_item(4), None);
        let (items, weights) = l.map_history(&[0, 1, 3, 4], &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(items, vec![0, 2, 3]);
        assert_eq!(weights, vec![3.0, 2.0, 1.0]);
    }

    #[test]
    fn candidates_exclude_seen_items_and_survive_erasure_of_others() {
        let l = loaded(2);
        assert!(l.candidates(0).is_none(), "nothing before the precomputation");
        assert!(!l.is_prepared());
        assert!(l.precompute());
        assert_eq!(l.precomputed_fraction(), 1.0);
        // Popularity: y (3 users) > z (2) > x = w (1); user a has x and y.
        let a: Vec<u32> = l.candidates(0).unwrap().iter().map(|s| s.item).collect();
        assert_eq!(a, vec![2, 3]);
        let c_before = l.candidates(2).unwrap().to_vec();
        let next = l.without_user_id("b").unwrap();
        assert_eq!(next.artifact.users.len(), 2);
        assert_eq!(next.candidates(0).unwrap(), l.candidates(0).unwrap());
        assert_eq!(next.candidates(1).unwrap(), &c_before[..], "row 2 moved to row 1");
        assert!(next.is_prepared());
        assert!(next.without_user_id("b").is_none());
    }

    #[test]
    fn a_retired_model_stops_and_the_table_is_bounded_by_memory() {
        let l = loaded(2);
        l.retire();
        assert!(!l.precompute(), "a retired model is not precomputed");
        assert!(l.candidates(0).is_none());
        // 3 users × (2 × 8 + 4) bytes fit in 60 bytes; 59 bytes fit one column, below the
        // minimum width, so no table is kept at all.
        let users = IdMap::from_ids(["a", "b", "c"]).unwrap();
        let items = IdMap::from_ids(["x", "y"]).unwrap();
        let m = InteractionMatrix::from_triplets(3, 2, &[0, 1, 2], &[0, 1, 0], &[1.0; 3]).unwrap();
        let cfg = popularity::PopularityConfig::default();
        let model = popularity::PopularityModel::fit(&cfg, &m, &FitOptions::default()).unwrap();
        let artifact = ModelArtifact::new(Model::Popularity(model), users, items, m, None);
        let budget = |memory_bytes| CandidateBudget { per_user: 20, memory_bytes };
        let wide = LoadedModel::new(1, 0, artifact.clone(), vec![0, 1], 2, budget(3 * 20 * 8), 0.0);
        assert_eq!(wide.candidates_len, 19, "the width shrinks to fit the memory");
        let none = LoadedModel::new(1, 0, artifact, vec![0, 1], 2, budget(59), 0.0);
        assert_eq!(none.candidates_len, 0);
        assert!(none.is_prepared(), "no table to wait for");
    }
}
