//! Recommendations and similar items.
//!
//! # Which source answers
//!
//! | request | condition | `source` | scored from |
//! |---|---|---|---|
//! | `user_id` | the active model knows the user **and** the user has no event newer than the model's training watermark | `model` | the model's stored parameters for the user; seen = the training row (which is then the full history) |
//! | `user_id` | the user has stored events, but newer than the model or unknown to it, and at least one history item is known to the model | `history` | fold-in over the user's **full** stored history (`Query { user: None, .. }`); seen = the whole history |
//! | `history` | at least one given item is known to the model (unknown ids are ignored) | `history` | fold-in over the given history |
//! | either | no usable history (unknown user, erased user, only unknown items), or the catalog has no active model | `popular` | the catalog's items by number of distinct users, within the filter |
//!
//! A request never fails for an unknown user, nor for a catalog without an active model (its
//! `model_version` is then `null`). Every source leaves out taken-down items, and unavailable
//! ones unless the filter includes them (the service's in-memory catalog index owns both rules).
//!
//! # How it stays fast
//!
//! Scoring one user against 50,000 items with 64 factors reads the whole item matrix and costs a
//! few hundred microseconds, which caps a core at a few thousand requests per second. But for the
//! `model` source the answer depends only on the model (stored user parameters, seen items = the
//! training row), so every known user's best [`crate::ServiceConfig::candidates_per_user`]
//! items, seen items excluded, are computed for all users at once with the blocked kernel and
//! kept with the loaded model — before an activated model is put in front of requests, so the
//! first request after a swap is as fast as the last one before it (see [`crate::loaded`]). A
//! new model gets a new table; a user with newer events moves to the `history` source, so the
//! table never goes stale; erasure drops the user's row. Until a model loaded at start-up has its
//! table, its users are scored on demand. Users scored from a stored history newer than the model
//! get a cache of their own on demand: their fold-in list is kept for the exact history it was
//! made from (keyed by the user's newest event sequence number and event count), so the next
//! event invalidates it and repeated requests between events are lookups.
//!
//! Both lists answer a request whenever they are long enough: without a filter when
//! `n <= candidates_per_user`, and with a filter when at least `n` cached candidates pass it (the
//! first `n` passing entries of the exact sorted top list are the exact filtered top `n`).
//! Everything else scores the whole catalogue once and selects the top `n` with the filter and the
//! seen items applied inside the selection loop.
//!
//! A model of a large catalogue carries an approximate index ([`encore_core::index`], built at
//! training time above [`crate::ServiceConfig::index_min_items`] and stored in the model file):
//! then "everything else" — fold-in histories, filters the lists cannot satisfy, `n` beyond
//! them — scans only the index's best clusters, with the same filter and seen items applied
//! during the scan, at the recall measured when it was built (in the registry). `"exact": true`
//! bypasses the index (and the fold-in cache, whose lists then come from it); the precomputed
//! table is exact and still answers.
//!
//! A request takes the catalog's read lock once and keeps it until its response is built, so
//! the history, the filter and the item metadata it renders all come from one consistent state.
//! Readers never wait for each other; a writer (an event batch, an item upsert) waits for the
//! requests in flight, at most one catalogue scoring (~0.3 ms at 5·10^4 items × 64 factors).

use std::cell::RefCell;
use std::sync::Arc;

use encore_core::batch::top_n_from_gemm;
use encore_core::models::Query;
use encore_core::topk::{ScoredItem, top_n_filtered};

use crate::batcher::Outcome;
use crate::catalog_data::{CatalogData, CompiledFilter};
use crate::dto::{self, Source};
use crate::error::{Error, Resource, Result};
use crate::limits;
use crate::loaded::{LoadedModel, sorted_history};
use crate::service::Encore;
use crate::validate;

/// How many history items `because` lists.
const EXPLAIN_TOP: usize = 5;

thread_local! {
    /// One score buffer per thread, so serving allocates nothing per request for scores.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// A recommendation list with only ids and scores: what `POST /recommend` answers, without
/// copying item metadata it would throw away.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredIds {
    /// The catalog that answered.
    pub catalog: String,
    /// The model version that scored, `None` without an active model.
    pub model_version: Option<String>,
    /// How the list was produced.
    pub source: Source,
    /// `(item_id, score)`, best first.
    pub items: Vec<(String, f32)>,
}

/// The scored list of a request, before rendering.
enum Scored {
    /// Model indices with scores, plus the query that produced them (model indices), kept to
    /// explain them.
    Model { items: Vec<ScoredItem>, user: Option<u32>, hist: (Vec<u32>, Vec<f32>), source: Source },
    /// Catalog indices with popularity scores.
    Popular(Vec<ScoredItem>),
}

/// What a validated request asks for.
enum Subject {
    User(String),
    History(Vec<(String, f32)>),
}

/// A validated request.
struct Ask<'a> {
    subject: Subject,
    n: usize,
    exclude_seen: bool,
    explain: bool,
    /// Score exactly even when the model has an approximate index (`"exact": true`).
    exact: bool,
    filter: Option<&'a dto::RecommendFilter>,
}

impl Encore {
    /// Recommends items (see the module docs for which source answers).
    pub fn recommend(
        &self,
        catalog: &str,
        req: &dto::RecommendRequest,
    ) -> Result<dto::RecommendResponse> {
        let (model_version, source, recommendations) =
            self.answer(catalog, req, |data, item, score, because| {
                let mut r = data.recommendation(item, score);
                r.because = because;
                r
            })?;
        Ok(dto::RecommendResponse {
            user_id: req.user_id.clone(),
            catalog: catalog.to_string(),
            model_version,
            source,
            recommendations,
        })
    }

    /// The same list as [`Encore::recommend`] with ids and scores only (the hot path of
    /// `POST /recommend`).
    pub fn recommend_ids(&self, catalog: &str, req: &dto::RecommendRequest) -> Result<ScoredIds> {
        let (model_version, source, items) =
            self.answer(catalog, req, |data, item, score, _| {
                (data.items.id(item).to_string(), score)
            })?;
        Ok(ScoredIds { catalog: catalog.to_string(), model_version, source, items })
    }

    /// Validates, scores and renders one request under one read lock of the catalog.
    fn answer<R>(
        &self,
        catalog: &str,
        req: &dto::RecommendRequest,
        render: impl Fn(&CatalogData, u32, f32, Option<Vec<dto::Because>>) -> R,
    ) -> Result<(Option<String>, Source, Vec<R>)> {
        let ask = validate_request(req)?;
        let state = self.inner.catalog_state(catalog)?;
        let model = state.model.load_full();
        let data = state.read();
        let filter = data.compile_filter(ask.filter);
        let scored = match (&model, &ask.subject) {
            (None, subject) => {
                let seen = match subject {
                    _ if !ask.exclude_seen => Vec::new(),
                    Subject::User(user) => {
                        data.users.get(user.as_str()).map(|h| h.items.clone()).unwrap_or_default()
                    }
                    Subject::History(history) => catalog_history(&data, history).0,
                };
                popular(&data, &filter, ask.n, &seen)
            }
            (Some(model), Subject::User(user)) => score_user(&data, model, user, &ask, &filter),
            (Some(model), Subject::History(history)) => {
                score_history(&data, model, history, &ask, &filter)
            }
        };
        let version = model.as_ref().map(|m| m.label.clone());
        Ok(match scored {
            Scored::Popular(items) => {
                let out = items
                    .iter()
                    .map(|s| render(&data, s.item, s.score, ask.explain.then(Vec::new)))
                    .collect();
                (version, Source::Popular, out)
            }
            Scored::Model { items, user, hist, source } => {
                let model = model.as_ref().expect("model results come from a model");
                let query = Query { user, items: &hist.0, weights: &hist.1 };
                let out = items
                    .iter()
                    .map(|s| {
                        let because = ask.explain.then(|| because(&data, model, &query, s.item));
                        render(&data, model.to_catalog[s.item as usize], s.score, because)
                    })
                    .collect();
                (version, source, out)
            }
        })
    }

    /// Items most similar to `item_id` under the active model (`n` default 10), leaving out
    /// taken-down and unavailable items.
    pub fn similar_items(
        &self,
        catalog: &str,
        item_id: &str,
        n: Option<usize>,
    ) -> Result<dto::SimilarItemsResponse> {
        let n = validate::n(n)?;
        validate::id("item_id", item_id)?;
        let state = self.inner.catalog_state(catalog)?;
        let data = state.read();
        if data.visible_item(item_id).is_none() {
            return Err(Error::not_found(Resource::Item, item_id));
        }
        let model = state
            .model
            .load_full()
            .ok_or_else(|| Error::NoActiveModel { catalog: catalog.to_string() })?;
        let Some(m) = model.artifact.items.get(item_id) else {
            return Err(Error::Unprocessable(format!(
                "item `{item_id}` has no events in the active model {} yet; it gets similar \
                 items after the next training",
                model.label
            )));
        };
        let filter = data.compile_filter(None);
        let keep = |i: u32| !filter.active || filter.keep(&data, model.to_catalog[i as usize]);
        let similar = model.artifact.recommender().similar_items_where(m, n, &keep);
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

/// Checks a request's fields against [`limits`] before anything is looked up.
fn validate_request(req: &dto::RecommendRequest) -> Result<Ask<'_>> {
    let n = validate::n(req.n)?;
    if let Some(f) = &req.filter {
        validate::string_list("filter.kinds", &f.kinds)?;
        validate::string_list("filter.tags_any", &f.tags_any)?;
        validate::string_list("filter.tags_all", &f.tags_all)?;
        validate::string_list("filter.exclude_items", &f.exclude_items)?;
    }
    let subject = match (&req.user_id, &req.history) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid("history", "give either `user_id` or `history`, not both"));
        }
        (None, None) => return Err(Error::invalid("user_id", "required (or give a `history`)")),
        (Some(user), None) => {
            validate::id("user_id", user)?;
            Subject::User(user.clone())
        }
        (None, Some(history)) => Subject::History(check_history(history)?),
    };
    Ok(Ask {
        subject,
        n,
        exclude_seen: req.exclude_seen.unwrap_or(true),
        explain: req.explain.unwrap_or(false),
        exact: req.exact.unwrap_or(false),
        filter: req.filter.as_ref(),
    })
}

/// A stored user: the model's own parameters when the model knows the user and has seen all of
/// their events, otherwise a fold-in over the full stored history.
fn score_user(
    data: &CatalogData,
    model: &Arc<LoadedModel>,
    user: &str,
    ask: &Ask<'_>,
    filter: &CompiledFilter,
) -> Scored {
    let Some(h) = data.users.get(user) else {
        return popular(data, filter, ask.n, &[]);
    };
    if let Some(row) = model.artifact.users.get(user).filter(|_| h.last_seq <= model.watermark) {
        let train = model.artifact.train.row(row as usize);
        // The query is kept only to explain; the hot path (no explain) copies nothing.
        let hist = if ask.explain {
            (train.indices.to_vec(), train.values.to_vec())
        } else {
            (Vec::new(), Vec::new())
        };
        let items = model_user_top(data, model, row, ask, filter);
        return Scored::Model { items, user: Some(row), hist, source: Source::Model };
    }
    let hist = model.map_history(&h.items, &h.weights);
    if hist.0.is_empty() {
        let seen: &[u32] = if ask.exclude_seen { &h.items } else { &[] };
        return popular(data, filter, ask.n, seen);
    }
    let query = Query::from_history(&hist.0, &hist.1);
    let stamp = h.stamp();
    // With an index, cached fold-in lists are the index's: an exact request does without them.
    let cacheable = !(ask.exact && model.artifact.index.is_some());
    let cached = if cacheable && ask.exclude_seen && ask.n <= model.candidates_len {
        // Same policy as the model source: requests without a filter compute and keep the
        // list, filtered ones use it only when it exists.
        let list = match (model.fresh_candidates(user, stamp), ask.filter) {
            (Some(list), _) => Some(list.to_vec()),
            (None, None) => {
                let all = CompiledFilter::default();
                let width = model.candidates_len;
                let list = score_top(data, model, &query, &all, width, &hist.0, ask.exact);
                model.keep_fresh(user, stamp, list.clone().into());
                Some(list)
            }
            (None, Some(_)) => None,
        };
        list.and_then(|l| answer_from_list(data, model, l, filter, ask.n))
    } else {
        None
    };
    let items = cached.unwrap_or_else(|| {
        let exclude: &[u32] = if ask.exclude_seen { &hist.0 } else { &[] };
        score_top(data, model, &query, filter, ask.n, exclude, ask.exact)
    });
    Scored::Model { items, user: None, hist, source: Source::History }
}

/// A history given in the request, folded in.
fn score_history(
    data: &CatalogData,
    model: &LoadedModel,
    history: &[(String, f32)],
    ask: &Ask<'_>,
    filter: &CompiledFilter,
) -> Scored {
    let (catalog_items, catalog_weights) = catalog_history(data, history);
    let hist = model.map_history(&catalog_items, &catalog_weights);
    if hist.0.is_empty() {
        let seen = if ask.exclude_seen { catalog_items } else { Vec::new() };
        return popular(data, filter, ask.n, &seen);
    }
    let exclude: &[u32] = if ask.exclude_seen { &hist.0 } else { &[] };
    let query = Query::from_history(&hist.0, &hist.1);
    let items = score_top(data, model, &query, filter, ask.n, exclude, ask.exact);
    Scored::Model { items, user: None, hist, source: Source::History }
}

/// A request history in catalog indices (sorted, unique; unknown ids dropped, weights of
/// repeated ids summed), parallel weights.
fn catalog_history(data: &CatalogData, history: &[(String, f32)]) -> (Vec<u32>, Vec<f32>) {
    sorted_history(history.iter().filter_map(|(id, w)| data.items.get(id).map(|c| (c, *w))))
}

/// Top `n` of a known user with the model's parameters, from the cache when it suffices.
fn model_user_top(
    data: &CatalogData,
    model: &LoadedModel,
    row: u32,
    ask: &Ask<'_>,
    filter: &CompiledFilter,
) -> Vec<ScoredItem> {
    if ask.exclude_seen && ask.n <= model.candidates_len {
        // A filtered request uses the list only if enough of it passes the filter.
        let list = model.candidates(row).map(<[ScoredItem]>::to_vec);
        if let Some(items) = list.and_then(|l| answer_from_list(data, model, l, filter, ask.n)) {
            return items;
        }
    }
    let train = model.artifact.train.row(row as usize);
    let query = Query { user: Some(row), items: train.indices, weights: train.values };
    let exclude: &[u32] = if ask.exclude_seen { train.indices } else { &[] };
    score_top(data, model, &query, filter, ask.n, exclude, ask.exact)
}

/// The top `n` passing `filter` from a cached candidate list (best first, seen items already
/// excluded), or `None` when the list cannot tell: fewer than `n` entries pass and the list is
/// a truncated one (a list shorter than its nominal length holds every eligible item, so it can
/// always tell).
fn answer_from_list(
    data: &CatalogData,
    model: &LoadedModel,
    list: Vec<ScoredItem>,
    filter: &CompiledFilter,
    n: usize,
) -> Option<Vec<ScoredItem>> {
    let complete = list.len() < model.candidates_len;
    if !filter.active {
        return Some(list.into_iter().take(n).collect());
    }
    let passing: Vec<ScoredItem> = list
        .into_iter()
        .filter(|s| filter.keep(data, model.to_catalog[s.item as usize]))
        .take(n)
        .collect();
    (passing.len() == n || complete).then_some(passing)
}

/// Scores the whole catalogue for `query` (or, for a model with an approximate index and unless
/// `exact`, the index's probed clusters) and selects the top `n` passing `filter`, skipping
/// `exclude` (model indices, sorted). The filter is applied during the scan either way.
#[allow(clippy::too_many_arguments)]
fn score_top(
    data: &CatalogData,
    model: &LoadedModel,
    query: &Query<'_>,
    filter: &CompiledFilter,
    n: usize,
    exclude: &[u32],
    exact: bool,
) -> Vec<ScoredItem> {
    let keep = |m: u32| !filter.active || filter.keep(data, model.to_catalog[m as usize]);
    let rec = model.artifact.recommender();
    if let (Some(index), Some(f), false) = (&model.artifact.index, rec.factor_scoring(), exact) {
        let v = rec.query_vector(query).expect("factor models give query vectors");
        return index.top_n(f, &v, n, None, exclude, &keep);
    }
    // Factor models: scored together with the requests that arrive at the same time.
    if let (Some((bounds, batcher)), Some(f)) = (&model.on_demand, rec.factor_scoring()) {
        let v = rec.query_vector(query).expect("factor models give query vectors");
        if let Outcome::Gemm(batch, j) = batcher.scores(f, v.to_vec()) {
            return top_n_from_gemm(f, *bounds, &v, batch.column(j), n, exclude, &keep);
        }
    }
    SCRATCH.with(|s| {
        let mut scores = s.borrow_mut();
        scores.resize(rec.n_items(), 0.0);
        rec.score(query, &mut scores);
        top_n_filtered(&scores, n, exclude, keep)
    })
}

/// The catalog's most popular items passing `filter`, skipping `seen` (catalog indices, sorted).
fn popular(data: &CatalogData, filter: &CompiledFilter, n: usize, seen: &[u32]) -> Scored {
    let order = data.popular_order();
    let items = order
        .iter()
        .copied()
        .filter(|c| seen.binary_search(c).is_err() && filter.keep(data, *c))
        .take(n)
        .map(|c| ScoredItem { item: c, score: data.popularity[c as usize] as f32 })
        .collect();
    Scored::Popular(items)
}

/// The history items that contributed most to model item `item`, with their titles and kinds.
fn because(
    data: &CatalogData,
    model: &LoadedModel,
    query: &Query<'_>,
    item: u32,
) -> Vec<dto::Because> {
    let mut contributions = model.artifact.recommender().explain(query, item);
    contributions.truncate(EXPLAIN_TOP);
    contributions
        .into_iter()
        .map(|c| {
            let (title, kind) = data.title_and_kind(model.to_catalog[c.item as usize]);
            dto::Because {
                item_id: model.artifact.items.id(c.item).to_string(),
                contribution: c.contribution,
                title,
                kind,
            }
        })
        .collect()
}

/// Validates a request history: ids and weights, at most [`limits::MAX_HISTORY`] entries.
fn check_history(history: &[dto::HistoryEntry]) -> Result<Vec<(String, f32)>> {
    if history.len() > limits::MAX_HISTORY {
        return Err(Error::TooLarge(format!(
            "history has {} entries; the limit is {}",
            history.len(),
            limits::MAX_HISTORY
        )));
    }
    history
        .iter()
        .enumerate()
        .map(|(i, h)| {
            if let Some(m) = validate::id_problem(&h.item_id) {
                return Err(Error::invalid(format!("history[{i}].item_id"), m));
            }
            let w = validate::weight(h.weight)
                .map_err(|m| Error::invalid(format!("history[{i}].weight"), m))?;
            Ok((h.item_id.clone(), w))
        })
        .collect()
}
