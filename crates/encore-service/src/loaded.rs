//! A model loaded for serving, with its id mappings and its cache of precomputed candidates.
//!
//! # Why candidates are precomputed
//!
//! Scoring one user against 50,000 items with 64 factors reads the whole item matrix (12.8 MB)
//! and costs a few hundred microseconds, which caps one core at a few thousand requests per
//! second. But for a user the model knows and who has no event newer than the model, the answer
//! depends only on the model: the scores come from the stored user factors and the seen items are
//! the training row. So after activation every such user's best `candidates_per_user` items
//! (seen items already excluded) are computed once in the background, and an unfiltered request
//! with `n` up to that length is answered by slicing the cached list. Top-`n` of the exact
//! top-`N` list is the exact top-`n` (ties are broken by item index in both), so the results are
//! exactly the model's. A user with newer events is scored from the full history instead (see
//! [`crate::recommend`]), so the cache never goes stale; a new model gets a new cache.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use encore_core::model_file::ModelArtifact;
use encore_core::models::Query;
use encore_core::topk::{ScoredItem, top_n};
use rayon::prelude::*;
use rustc_hash::FxHashMap;

/// A fold-in candidate list with the stamp (`UserHistory::stamp`) of the history it was
/// computed from.
type FreshList = ((u64, u64), Arc<[ScoredItem]>);

/// Most users whose fold-in candidates are cached at once.
const MAX_FRESH: usize = 100_000;

/// Marks a catalog item the model does not know.
pub(crate) const ABSENT: u32 = u32::MAX;

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
    /// Per model user row: the best items (model indices) with seen items excluded.
    candidates: Vec<OnceLock<Box<[ScoredItem]>>>,
    /// Length of each candidate list.
    pub candidates_len: usize,
    /// Candidate lists of users with events newer than the model (scored by fold-in over their
    /// full history), keyed by user and valid for the stamp of the history they were made from:
    /// any new event changes the stamp, so a list is never served for another history.
    fresh: Mutex<FxHashMap<Box<str>, FreshList>>,
    /// Set when the model is swapped out, to stop its background precomputation.
    retired: AtomicBool,
    /// Candidate lists computed so far.
    computed: AtomicUsize,
    /// Seconds it took to load the file.
    pub load_seconds: f64,
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel").field("label", &self.label).finish_non_exhaustive()
    }
}

impl LoadedModel {
    /// Wraps a loaded artifact; `to_catalog` maps its items to catalog indices.
    pub fn new(
        version: u32,
        watermark: u64,
        artifact: ModelArtifact,
        to_catalog: Vec<u32>,
        catalog_items: usize,
        candidates_len: usize,
        load_seconds: f64,
    ) -> Self {
        let mut from_catalog = vec![ABSENT; catalog_items];
        for (m, &c) in to_catalog.iter().enumerate() {
            from_catalog[c as usize] = m as u32;
        }
        let candidates = (0..artifact.users.len()).map(|_| OnceLock::new()).collect();
        Self {
            version,
            label: encore_store::ModelVersion(version).to_string(),
            watermark,
            artifact,
            to_catalog,
            from_catalog,
            candidates,
            candidates_len,
            fresh: Mutex::new(FxHashMap::default()),
            retired: AtomicBool::new(false),
            computed: AtomicUsize::new(0),
            load_seconds,
        }
    }

    /// The same model without user `user_id` (erasure): candidate lists of the other users are
    /// kept, since removing a user changes no other user's scores.
    pub fn without_user(&self, artifact: ModelArtifact, removed_row: u32) -> Self {
        let next = Self::new(
            self.version,
            self.watermark,
            artifact,
            self.to_catalog.clone(),
            self.from_catalog.len(),
            self.candidates_len,
            self.load_seconds,
        );
        let mut computed = 0;
        for (row, cell) in self.candidates.iter().enumerate() {
            if row as u32 == removed_row {
                continue;
            }
            let new_row = if (row as u32) > removed_row { row - 1 } else { row };
            if let Some(list) = cell.get()
                && let Some(slot) = next.candidates.get(new_row)
            {
                let _ = slot.set(list.clone());
                computed += 1;
            }
        }
        next.computed.store(computed, Ordering::Relaxed);
        next
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

    /// The cached candidates of model user `row`, computing them now if the background pass has
    /// not reached the user yet.
    pub fn candidates(&self, row: u32, scratch: &mut Vec<f32>) -> &[ScoredItem] {
        self.candidates[row as usize].get_or_init(|| {
            self.computed.fetch_add(1, Ordering::Relaxed);
            self.compute_candidates(row, scratch)
        })
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

    /// The cached candidates of model user `row`, if already computed.
    pub fn cached_candidates(&self, row: u32) -> Option<&[ScoredItem]> {
        self.candidates[row as usize].get().map(|b| &**b)
    }

    fn compute_candidates(&self, row: u32, scratch: &mut Vec<f32>) -> Box<[ScoredItem]> {
        let train = self.artifact.train.row(row as usize);
        let query = Query { user: Some(row), items: train.indices, weights: train.values };
        let rec = self.artifact.recommender();
        scratch.resize(rec.n_items(), 0.0);
        rec.score(&query, scratch);
        top_n(scratch, self.candidates_len, train.indices).into_boxed_slice()
    }

    /// Computes every user's candidates that is not cached yet, stopping early when the model is
    /// retired. Runs on the caller's rayon pool.
    pub fn precompute_all(&self) {
        let n = self.candidates.len();
        let started = std::time::Instant::now();
        (0..n as u32).into_par_iter().with_min_len(64).for_each_init(Vec::new, |scratch, row| {
            if self.retired.load(Ordering::Relaxed) {
                return;
            }
            self.candidates(row, scratch);
        });
        tracing::info!(
            model = %self.label,
            users = n,
            seconds = started.elapsed().as_secs_f64(),
            retired = self.retired.load(Ordering::Relaxed),
            "candidate precomputation finished"
        );
    }

    /// Stops background work on this model (it has been swapped out).
    pub fn retire(&self) {
        self.retired.store(true, Ordering::Relaxed);
    }

    /// Fraction of known users whose candidates are cached.
    pub fn precomputed_fraction(&self) -> f64 {
        let n = self.candidates.len();
        if n == 0 { 1.0 } else { self.computed.load(Ordering::Relaxed) as f64 / n as f64 }
    }
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
        LoadedModel::new(1, 10, artifact, vec![3, 2, 1, 0], 5, candidates_len, 0.0)
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
        let mut scratch = Vec::new();
        // Popularity: y (3 users) > z (2) > x = w (1); user a has x and y.
        let a: Vec<u32> = l.candidates(0, &mut scratch).iter().map(|s| s.item).collect();
        assert_eq!(a, vec![2, 3]);
        l.precompute_all();
        assert_eq!(l.precomputed_fraction(), 1.0);
        let c_before = l.cached_candidates(2).unwrap().to_vec();
        let mut artifact = l.artifact.clone();
        assert!(artifact.remove_user("b"));
        let next = l.without_user(artifact, 1);
        assert_eq!(next.artifact.users.len(), 2);
        assert_eq!(next.cached_candidates(0).unwrap(), l.cached_candidates(0).unwrap());
        assert_eq!(next.cached_candidates(1).unwrap(), &c_before[..], "row 2 moved to row 1");
        assert_eq!(next.precomputed_fraction(), 1.0);
    }
}
