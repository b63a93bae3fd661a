//! Recommendations and similar items.
//!
//! # Which source answers
//!
//! | request | condition | `source` | scored from |
//! |---|---|---|---|
//! | `user_id` | the active model knows the user **and** the user has no event newer than the model's training watermark | `model` | the model's stored parameters for the user; seen = the training row (which is then the full history) |
//! | `user_id` | the user has stored events, but newer than the model or unknown to it, and at least one history item is known to the model | `history` | fold-in over the user's **full** stored history (`Query { user: None, .. }`); seen = the whole history |
//! | `history` | at least one given item is known to the model (unknown ids are ignored) | `history` | fold-in over the given history |
//! | either | no usable history (unknown user, erased user, only unknown items) | `popular` | the catalog's items by number of distinct users, within the filter |
//!
//! A request never fails for an unknown user; it fails with `NoActiveModel` only when the
//! catalog has no active model at all.
//!
//! # How it stays fast
//!
//! Scoring one user against 50,000 items with 64 factors reads the whole item matrix and costs a
//! few hundred microseconds, which caps a core at a few thousand requests per second. But for the
//! `model` source the answer depends only on the model (stored user parameters, seen items = the
//! training row), so after activation a background pool computes every known user's best
//! [`crate::ServiceConfig::candidates_per_user`] items, seen items excluded, and keeps them with
//! the loaded model (a new model gets a new cache; a user with newer events moves to the
//! `history` source, so the cache never goes stale; erasure drops the user's entry). A user the
//! pass has not reached yet is computed on first request and kept. Users scored from a stored
//! history newer than the model get the same treatment on demand: their fold-in list is kept
//! for the exact history it was made from (keyed by the user's newest event sequence number and
//! event count), so the next event invalidates it and repeated requests between events are
//! lookups.
//!
//! Both lists answer a request whenever they are long enough: without a filter when
//! `n <= candidates_per_user`, and with a filter when at least `n` cached candidates pass it (the
//! first `n` passing entries of the exact sorted top list are the exact filtered top `n`).
//! Everything else scores the whole catalogue once and selects the top `n` with the filter and the
//! seen items applied inside the selection loop. The catalog's read lock is never held while
//! scoring.

use std::cell::RefCell;
use std::sync::Arc;

use encore_core::models::Query;
use encore_core::topk::{ScoredItem, top_n_filtered};

use crate::catalog_data::{CatalogData, CompiledFilter};
use crate::dto::{self, Source};
use crate::error::{Error, Result};
use crate::loaded::LoadedModel;
use crate::service::{CatalogState, Encore};
use crate::validate;

/// Most entries accepted in a request's `history`.
pub const MAX_HISTORY: usize = 10_000;

/// How many history items `because` lists.
const EXPLAIN_TOP: usize = 5;

thread_local! {
    /// One score buffer per thread, so serving allocates nothing per request for scores.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// The query that produced model-source results, kept to explain them.
enum Scored {
    /// Model indices with scores, plus the query (items/weights in model indices).
    Model { items: Vec<ScoredItem>, user: Option<u32>, hist: (Vec<u32>, Vec<f32>), source: Source },
    /// Catalog indices with popularity scores.
    Popular(Vec<ScoredItem>),
}

impl Encore {
    /// Recommends items (see the module docs for which source answers).
    pub fn recommend(
        &self,
        catalog: &str,
        req: &dto::RecommendRequest,
    ) -> Result<dto::RecommendResponse> {
        let cfg = &self.inner.config;
        let state = self.inner.catalog_state(catalog)?;
        let n = validate::n(req.n, cfg.max_n)?;
        if let Some(f) = &req.filter {
            validate::string_list("filter.kinds", &f.kinds)?;
            validate::string_list("filter.tags_any", &f.tags_any)?;
            validate::string_list("filter.tags_all", &f.tags_all)?;
            validate::string_list("filter.exclude_items", &f.exclude_items)?;
        }
        let exclude_seen = req.exclude_seen.unwrap_or(true);
        let explain = req.explain.unwrap_or(false);
        let given = match (&req.user_id, &req.history) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    "history",
                    "give either `user_id` or `history`, not both",
                ));
            }
            (None, None) => {
                return Err(Error::invalid("user_id", "required (or give a `history`)"));
            }
            (Some(user), None) => {
                validate::id("user_id", user, cfg.max_id_len)?;
                None
            }
            (None, Some(history)) => Some(check_history(history, cfg.max_id_len)?),
        };
        let model = state
            .model
            .load_full()
            .ok_or_else(|| Error::NoActiveModel { catalog: catalog.to_string() })?;

        let scored = match (&req.user_id, given) {
            (Some(user), _) => self.score_user(&state, &model, user, req, n, exclude_seen),
            (None, Some(history)) => {
                self.score_history(&state, &model, &history, req, n, exclude_seen)
            }
            (None, None) => unreachable!("checked above"),
        };
        let data = state.read();
        let (source, recommendations) = match scored {
            Scored::Popular(items) => {
                let recs = items
                    .iter()
                    .map(|s| {
                        let mut r = data.recommendation(s.item, s.score);
                        if explain {
                            r.because = Some(Vec::new());
                        }
                        r
                    })
                    .collect();
                (Source::Popular, recs)
            }
            Scored::Model { items, user, hist, source } => {
                let query = Query { user, items: &hist.0, weights: &hist.1 };
                let recs = items
                    .iter()
                    .map(|s| {
                        let mut r = data.recommendation(model.to_catalog[s.item as usize], s.score);
                        if explain {
                            r.because = Some(because(&model, &query, s.item));
                        }
                        r
                    })
                    .collect();
                (source, recs)
            }
        };
        Ok(dto::RecommendResponse {
            user_id: req.user_id.clone(),
            catalog: catalog.to_string(),
            model_version: model.label.clone(),
            source,
            recommendations,
        })
    }

    fn score_user(
        &self,
        state: &CatalogState,
        model: &Arc<LoadedModel>,
        user: &str,
        req: &dto::RecommendRequest,
        n: usize,
        exclude_seen: bool,
    ) -> Scored {
        // Decide the source and copy what scoring needs out of the lock.
        let (row, fresh) = {
            let data = state.read();
            let Some(h) = data.users.get(user) else {
                drop(data);
                return popular(state, req.filter.as_ref(), n, &[]);
            };
            match model.artifact.users.get(user).filter(|_| h.last_seq <= model.watermark) {
                Some(row) => (Some(row), None),
                None => {
                    let seen = if exclude_seen { h.items.clone() } else { Vec::new() };
                    let hist = model.map_history(&h.items, &h.weights);
                    (None, Some((hist, seen, h.stamp())))
                }
            }
        };
        if let Some(row) = row {
            let train = model.artifact.train.row(row as usize);
            // The query is kept only to explain; the hot path (no explain) copies nothing.
            let hist = if req.explain.unwrap_or(false) {
                (train.indices.to_vec(), train.values.to_vec())
            } else {
                (Vec::new(), Vec::new())
            };
            let items =
                self.model_user_top(state, model, row, req.filter.as_ref(), n, exclude_seen);
            return Scored::Model { items, user: Some(row), hist, source: Source::Model };
        }
        let (hist, seen_catalog, stamp) = fresh.expect("set when no row");
        if hist.0.is_empty() {
            return popular(state, req.filter.as_ref(), n, &seen_catalog);
        }
        let query = Query::from_history(&hist.0, &hist.1);
        let filter = req.filter.as_ref();
        let cached = if exclude_seen && n <= model.candidates_len {
            // Same policy as the model source: unfiltered requests compute and keep the list,
            // filtered ones use it only when it exists.
            let list = match (model.fresh_candidates(user, stamp), filter) {
                (Some(list), _) => Some(list.to_vec()),
                (None, None) => {
                    let list = score_top(state, model, &query, None, model.candidates_len, &hist.0);
                    model.keep_fresh(user, stamp, list.clone().into());
                    Some(list)
                }
                (None, Some(_)) => None,
            };
            list.and_then(|l| answer_from_list(state, model, l, filter, n))
        } else {
            None
        };
        let items = cached.unwrap_or_else(|| {
            let exclude: &[u32] = if exclude_seen { &hist.0 } else { &[] };
            score_top(state, model, &query, filter, n, exclude)
        });
        Scored::Model { items, user: None, hist, source: Source::History }
    }

    fn score_history(
        &self,
        state: &CatalogState,
        model: &Arc<LoadedModel>,
        history: &[(String, f32)],
        req: &dto::RecommendRequest,
        n: usize,
        exclude_seen: bool,
    ) -> Scored {
        let (catalog_items, catalog_weights): (Vec<u32>, Vec<f32>) = {
            let data = state.read();
            history.iter().filter_map(|(id, w)| data.items.get(id).map(|c| (c, *w))).unzip()
        };
        let hist = model.map_history(&catalog_items, &catalog_weights);
        if hist.0.is_empty() {
            let mut seen = if exclude_seen { catalog_items } else { Vec::new() };
            seen.sort_unstable();
            seen.dedup();
            return popular(state, req.filter.as_ref(), n, &seen);
        }
        let exclude: &[u32] = if exclude_seen { &hist.0 } else { &[] };
        let items = score_top(
            state,
            model,
            &Query::from_history(&hist.0, &hist.1),
            req.filter.as_ref(),
            n,
            exclude,
        );
        Scored::Model { items, user: None, hist, source: Source::History }
    }

    /// Top `n` of a known user with the model's parameters, from the cache when it suffices.
    fn model_user_top(
        &self,
        state: &CatalogState,
        model: &LoadedModel,
        row: u32,
        filter: Option<&dto::RecommendFilter>,
        n: usize,
        exclude_seen: bool,
    ) -> Vec<ScoredItem> {
        if exclude_seen && n <= model.candidates_len {
            // Unfiltered: compute and keep the user's list if the background pass has not yet.
            // Filtered: use the list only if it exists, since it may not hold `n` passing items.
            let list = match filter {
                None => Some(SCRATCH.with(|s| model.candidates(row, &mut s.borrow_mut()).to_vec())),
                Some(_) => model.cached_candidates(row).map(<[ScoredItem]>::to_vec),
            };
            if let Some(items) = list.and_then(|l| answer_from_list(state, model, l, filter, n)) {
                return items;
            }
        }
        let train = model.artifact.train.row(row as usize);
        let query = Query { user: Some(row), items: train.indices, weights: train.values };
        let exclude: &[u32] = if exclude_seen { train.indices } else { &[] };
        score_top(state, model, &query, filter, n, exclude)
    }

    /// Items most similar to `item_id` under the active model (`n` default 10).
    pub fn similar_items(
        &self,
        catalog: &str,
        item_id: &str,
        n: Option<usize>,
    ) -> Result<dto::SimilarItemsResponse> {
        let state = self.inner.catalog_state(catalog)?;
        let n = validate::n(n, self.inner.config.max_n)?;
        validate::id("item_id", item_id, self.inner.config.max_id_len)?;
        let model = state
            .model
            .load_full()
            .ok_or_else(|| Error::NoActiveModel { catalog: catalog.to_string() })?;
        let known_to_catalog = state.read().items.get(item_id).is_some();
        let Some(m) = model.artifact.items.get(item_id) else {
            return Err(if known_to_catalog {
                Error::Unprocessable(format!(
                    "item `{item_id}` has no events in the active model {} yet; it gets similar \
                     items after the next training",
                    model.label
                ))
            } else {
                Error::not_found("item", item_id)
            });
        };
        let similar = model.artifact.recommender().similar_items(m, n);
        let data = state.read();
        Ok(dto::SimilarItemsResponse {
            item_id: item_id.to_string(),
            catalog: catalog.to_string(),
            model_version: model.label.clone(),
            similar: similar
                .iter()
                .map(|s| data.recommendation(model.to_catalog[s.item as usize], s.score))
                .collect(),
        })
    }
}

/// The top `n` passing `filter` from a cached candidate list (best first, seen items already
/// excluded), or `None` when the list cannot tell: with a filter, fewer than `n` entries pass
/// and the list is a truncated one (a list shorter than its nominal length holds every eligible
/// item, so it can always tell).
fn answer_from_list(
    state: &CatalogState,
    model: &LoadedModel,
    list: Vec<ScoredItem>,
    filter: Option<&dto::RecommendFilter>,
    n: usize,
) -> Option<Vec<ScoredItem>> {
    let complete = list.len() < model.candidates_len;
    if filter.is_none() {
        return Some(list.into_iter().take(n).collect());
    }
    let data = state.read();
    let compiled = data.compile_filter(filter);
    let passing: Vec<ScoredItem> = list
        .into_iter()
        .filter(|s| compiled.keep(&data, model.to_catalog[s.item as usize]))
        .take(n)
        .collect();
    (passing.len() == n || complete).then_some(passing)
}

/// Scores the whole catalogue for `query` and selects the top `n` passing `filter`, skipping
/// `exclude` (model indices, sorted).
fn score_top(
    state: &CatalogState,
    model: &LoadedModel,
    query: &Query<'_>,
    filter: Option<&dto::RecommendFilter>,
    n: usize,
    exclude: &[u32],
) -> Vec<ScoredItem> {
    SCRATCH.with(|s| {
        let mut scores = s.borrow_mut();
        let rec = model.artifact.recommender();
        scores.resize(rec.n_items(), 0.0);
        rec.score(query, &mut scores);
        if filter.is_none() {
            return top_n_filtered(&scores, n, exclude, |_| true);
        }
        let data = state.read();
        let compiled = data.compile_filter(filter);
        top_n_filtered(&scores, n, exclude, |m| compiled.keep(&data, model.to_catalog[m as usize]))
    })
}

/// The catalog's most popular items passing `filter`, skipping `seen` (catalog indices, sorted).
fn popular(
    state: &CatalogState,
    filter: Option<&dto::RecommendFilter>,
    n: usize,
    seen: &[u32],
) -> Scored {
    let order = {
        let cached = state.read().popular_order.clone();
        match cached {
            Some(o) => o,
            None => state.write().popular_order(),
        }
    };
    let data = state.read();
    let compiled: CompiledFilter = data.compile_filter(filter);
    let items = order
        .iter()
        .copied()
        .filter(|c| seen.binary_search(c).is_err() && compiled.keep(&data, *c))
        .take(n)
        .map(|c| ScoredItem { item: c, score: popularity_score(&data, c) })
        .collect();
    Scored::Popular(items)
}

fn popularity_score(data: &CatalogData, c: u32) -> f32 {
    data.popularity[c as usize] as f32
}

/// The history items that contributed most to model item `item`.
fn because(model: &LoadedModel, query: &Query<'_>, item: u32) -> Vec<dto::Because> {
    let mut contributions = model.artifact.recommender().explain(query, item);
    contributions.truncate(EXPLAIN_TOP);
    contributions
        .into_iter()
        .map(|c| dto::Because {
            item_id: model.artifact.items.id(c.item).to_string(),
            contribution: c.contribution,
        })
        .collect()
}

/// Validates a request history: ids and weights, at most [`MAX_HISTORY`] entries.
fn check_history(history: &[dto::HistoryEntry], max_id_len: usize) -> Result<Vec<(String, f32)>> {
    if history.len() > MAX_HISTORY {
        return Err(Error::TooLarge(format!(
            "history has {} entries; the limit is {MAX_HISTORY}",
            history.len()
        )));
    }
    history
        .iter()
        .enumerate()
        .map(|(i, h)| {
            if let Some(m) = validate::id_problem(&h.item_id, max_id_len) {
                return Err(Error::invalid(format!("history[{i}].item_id"), m));
            }
            let w = validate::weight(h.weight)
                .map_err(|m| Error::invalid(format!("history[{i}].weight"), m))?;
            Ok((h.item_id.clone(), w))
        })
        .collect()
}
