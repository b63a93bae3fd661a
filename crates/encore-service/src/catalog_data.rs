//! The in-memory index of one catalog: every item id with its metadata and filter keys, every
//! user's full history, and item popularity.
//!
//! It is built once from the store when the catalog is first used and then kept in step by the
//! use cases that write (ingest, item upserts, erasure), so that a recommendation never reads
//! SQLite on the hot path. Items get dense *catalog indices* in order of first appearance; they
//! are never reassigned (taking an item down keeps its index, since its events stay), which
//! lets a loaded model map its own item indices to catalog indices once, at load.
//!
//! # What clients may see
//!
//! A *taken-down* item (deleted through the API) is hidden everywhere: `GET` answers 404 and no
//! recommendation or similar list contains it, whatever the source, until it is put back. An
//! *unavailable* item (`available: false`) is left out of recommendations and similar lists
//! unless a request opts in with `include_unavailable`. Both rules live in
//! [`CompiledFilter::keep`], which every source applies while selecting; [`CatalogData::hidden`]
//! counts the items they can hide, so a catalog with none pays nothing on the hot path.

use std::sync::{Arc, Mutex};

use encore_core::ids::IdMap;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::dto;

/// Per-item data used for filtering and for responses.
#[derive(Debug, Clone)]
pub(crate) struct ItemEntry {
    pub title: Box<str>,
    /// Index into [`CatalogData::kinds`]; `None` for an empty kind.
    pub kind: Option<u32>,
    /// Indices into [`CatalogData::tags`], sorted, unique.
    pub tags: Box<[u32]>,
    pub available: bool,
    pub released: Option<Box<str>>,
    /// Deleted through the API: hidden from clients until put back.
    pub taken_down: bool,
}

impl ItemEntry {
    fn bare() -> Self {
        Self {
            title: "".into(),
            kind: None,
            tags: Box::new([]),
            available: true,
            released: None,
            taken_down: false,
        }
    }

    /// Whether the default rules may hide this item (taken down, or unavailable).
    fn hideable(&self) -> bool {
        self.taken_down || !self.available
    }
}

/// A user's full stored history, merged per item.
#[derive(Debug, Clone, Default)]
pub(crate) struct UserHistory {
    /// Catalog item indices, sorted ascending, unique.
    pub items: Vec<u32>,
    /// Summed weights, parallel to `items`.
    pub weights: Vec<f32>,
    /// Sequence number of the user's newest event.
    pub last_seq: u64,
    /// Number of events applied. With `last_seq` it identifies the history exactly, even when
    /// concurrent batches are applied out of sequence order.
    pub revision: u64,
}

impl UserHistory {
    /// What identifies this exact history: `(last_seq, revision)`.
    pub fn stamp(&self) -> (u64, u64) {
        (self.last_seq, self.revision)
    }
}

impl UserHistory {
    /// Adds `weight` to `item`; returns true when the item is new to the history.
    fn add(&mut self, item: u32, weight: f32, seq: u64) -> bool {
        self.last_seq = self.last_seq.max(seq);
        self.revision += 1;
        match self.items.binary_search(&item) {
            Ok(p) => {
                self.weights[p] += weight;
                false
            }
            Err(p) => {
                self.items.insert(p, item);
                self.weights.insert(p, weight);
                true
            }
        }
    }
}

/// The index of one catalog (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct CatalogData {
    /// Item ids ↔ catalog indices.
    pub items: IdMap,
    /// Parallel to `items`.
    pub entries: Vec<ItemEntry>,
    /// Interned kinds.
    pub kinds: IdMap,
    /// Interned tags.
    pub tags: IdMap,
    /// Histories by user id.
    pub users: FxHashMap<Box<str>, UserHistory>,
    /// Distinct users per catalog item, parallel to `items`.
    pub popularity: Vec<u32>,
    /// Catalog items sorted by popularity (most popular first, ties by index), rebuilt lazily
    /// by the first reader after a change (behind its own lock, so a request holding the read
    /// guard can fill it).
    popular_order: Mutex<Option<Arc<[u32]>>>,
    /// Items that are taken down or unavailable (see the module docs).
    pub hidden: usize,
    /// Number of events applied.
    pub events: u64,
    /// Sequence number of the newest event applied.
    pub last_seq: u64,
}

impl CatalogData {
    /// The catalog index of `item_id`, creating a bare item when it is new.
    pub fn intern_item(&mut self, item_id: &str) -> u32 {
        let i = self.items.get_or_insert(item_id);
        if i as usize == self.entries.len() {
            self.entries.push(ItemEntry::bare());
            self.popularity.push(0);
        }
        i
    }

    /// Applies one stored event.
    pub fn apply_event(&mut self, seq: u64, user_id: &str, item_id: &str, weight: f32) {
        let item = self.intern_item(item_id);
        let history = match self.users.get_mut(user_id) {
            Some(h) => h,
            None => self.users.entry(user_id.into()).or_default(),
        };
        if history.add(item, weight, seq) {
            self.popularity[item as usize] += 1;
            self.invalidate_popular_order();
        }
        self.events += 1;
        self.last_seq = self.last_seq.max(seq);
    }

    /// Forgets a user's history; returns whether it existed.
    pub fn remove_user(&mut self, user_id: &str) -> bool {
        let Some(history) = self.users.remove(user_id) else {
            return false;
        };
        for &item in &history.items {
            let count = &mut self.popularity[item as usize];
            *count = count.saturating_sub(1);
        }
        self.invalidate_popular_order();
        true
    }

    fn invalidate_popular_order(&mut self) {
        *self.popular_order.get_mut().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Replaces item `i`'s entry, keeping [`CatalogData::hidden`] in step.
    fn replace_entry(&mut self, i: usize, entry: ItemEntry) {
        let was = self.entries[i].hideable();
        let now = entry.hideable();
        self.entries[i] = entry;
        match (was, now) {
            (false, true) => self.hidden += 1,
            (true, false) => self.hidden -= 1,
            _ => {}
        }
    }

    /// Stores an item's metadata (interning the item, its kind and tags).
    pub fn set_item(&mut self, item: &dto::Item) {
        let i = self.intern_item(&item.item_id) as usize;
        let kind = (!item.kind.is_empty()).then(|| self.kinds.get_or_insert(&item.kind));
        let mut tags: Vec<u32> = item.tags.iter().map(|t| self.tags.get_or_insert(t)).collect();
        tags.sort_unstable();
        tags.dedup();
        // Storing an item puts it back if it was taken down.
        let entry = ItemEntry {
            title: item.title.as_str().into(),
            kind,
            tags: tags.into(),
            available: item.available,
            released: item.released.as_deref().map(Into::into),
            taken_down: false,
        };
        self.replace_entry(i, entry);
    }

    /// Takes an item down: drops its metadata and hides it, keeping its index (its events stay).
    pub fn take_down(&mut self, item_id: &str) {
        if let Some(i) = self.items.get(item_id) {
            let entry = ItemEntry { taken_down: true, ..ItemEntry::bare() };
            self.replace_entry(i as usize, entry);
        }
    }

    /// The catalog index of `item_id` if clients may see it (known and not taken down).
    pub fn visible_item(&self, item_id: &str) -> Option<u32> {
        self.items.get(item_id).filter(|&i| !self.entries[i as usize].taken_down)
    }

    /// Title and kind of catalog item `i`, each `None` when empty (for `because` entries).
    pub fn title_and_kind(&self, i: u32) -> (Option<String>, Option<String>) {
        let e = &self.entries[i as usize];
        let title = (!e.title.is_empty()).then(|| e.title.to_string());
        let kind = e.kind.map(|k| self.kinds.id(k).to_string());
        (title, kind)
    }

    /// The item at catalog index `i` as a DTO.
    pub fn item_dto(&self, i: u32) -> dto::Item {
        let e = &self.entries[i as usize];
        dto::Item {
            item_id: self.items.id(i).to_string(),
            title: e.title.to_string(),
            kind: e.kind.map(|k| self.kinds.id(k).to_string()).unwrap_or_default(),
            tags: e.tags.iter().map(|&t| self.tags.id(t).to_string()).collect(),
            available: e.available,
            released: e.released.as_deref().map(str::to_string),
        }
    }

    /// A recommendation entry for catalog item `i`.
    pub fn recommendation(&self, i: u32, score: f32) -> dto::Recommendation {
        let e = &self.entries[i as usize];
        dto::Recommendation {
            item_id: self.items.id(i).to_string(),
            score,
            title: e.title.to_string(),
            kind: e.kind.map(|k| self.kinds.id(k).to_string()).unwrap_or_default(),
            tags: e.tags.iter().map(|&t| self.tags.id(t).to_string()).collect(),
            available: e.available,
            because: None,
        }
    }

    /// Catalog items by decreasing popularity, computed when the counts changed.
    pub fn popular_order(&self) -> Arc<[u32]> {
        let mut cached = self.popular_order.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(order) = &*cached {
            return order.clone();
        }
        let mut order: Vec<u32> = (0..self.popularity.len() as u32)
            .filter(|&i| self.popularity[i as usize] > 0)
            .collect();
        order.sort_by(|&a, &b| {
            self.popularity[b as usize].cmp(&self.popularity[a as usize]).then(a.cmp(&b))
        });
        let order: Arc<[u32]> = order.into();
        *cached = Some(order.clone());
        order
    }

    /// Resolves a request filter against this catalog's interned kinds, tags and items, with
    /// the default rules (taken-down items never pass; unavailable ones only when the request
    /// includes them). Without a request filter and with no hidden item, every item passes and
    /// the filter is inactive (free to test).
    pub fn compile_filter(&self, filter: Option<&dto::RecommendFilter>) -> CompiledFilter {
        let Some(f) = filter else {
            return CompiledFilter {
                active: self.hidden > 0,
                hide_taken_down: self.hidden > 0,
                include_unavailable: false,
                ..CompiledFilter::default()
            };
        };
        // A kind or tag the catalog has never seen matches no item: `None` marks it.
        let ids = |map: &IdMap, names: &Option<Vec<String>>| -> Option<Vec<Option<u32>>> {
            names.as_ref().map(|v| v.iter().map(|n| map.get(n)).collect())
        };
        let kinds =
            ids(&self.kinds, &f.kinds).map(|v| v.into_iter().flatten().collect::<FxHashSet<u32>>());
        let tags_any =
            ids(&self.tags, &f.tags_any).map(|v| v.into_iter().flatten().collect::<Vec<u32>>());
        let tags_all = ids(&self.tags, &f.tags_all);
        let (tags_all, tags_all_unsatisfiable) = match tags_all {
            None => (Vec::new(), false),
            Some(v) => {
                let unsat = v.iter().any(Option::is_none);
                (v.into_iter().flatten().collect(), unsat)
            }
        };
        let exclude = f
            .exclude_items
            .iter()
            .flatten()
            .filter_map(|id| self.items.get(id))
            .collect::<FxHashSet<u32>>();
        CompiledFilter {
            active: true,
            hide_taken_down: true,
            include_unavailable: f.include_unavailable.unwrap_or(false),
            kinds,
            tags_any,
            tags_all,
            never: tags_all_unsatisfiable,
            exclude,
        }
    }
}

/// A filter resolved to catalog indices, cheap to test per item.
#[derive(Debug, Default)]
pub(crate) struct CompiledFilter {
    /// False when every item passes (no request filter and nothing hidden).
    pub active: bool,
    /// Taken-down items fail (always, once anything is hidden).
    hide_taken_down: bool,
    /// Unavailable items pass.
    include_unavailable: bool,
    kinds: Option<FxHashSet<u32>>,
    tags_any: Option<Vec<u32>>,
    tags_all: Vec<u32>,
    /// A `tags_all` tag no item has: nothing passes.
    never: bool,
    exclude: FxHashSet<u32>,
}

impl CompiledFilter {
    /// Whether catalog item `i` passes.
    pub fn keep(&self, data: &CatalogData, i: u32) -> bool {
        if !self.active {
            return true;
        }
        let e = &data.entries[i as usize];
        if self.hide_taken_down && e.taken_down {
            return false;
        }
        if !self.include_unavailable && !e.available {
            return false;
        }
        if self.never || self.exclude.contains(&i) {
            return false;
        }
        if let Some(kinds) = &self.kinds
            && !e.kind.is_some_and(|k| kinds.contains(&k))
        {
            return false;
        }
        if let Some(any) = &self.tags_any
            && !any.iter().any(|t| e.tags.binary_search(t).is_ok())
        {
            return false;
        }
        self.tags_all.iter().all(|t| e.tags.binary_search(t).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, kind: &str, tags: &[&str], available: bool) -> dto::Item {
        dto::Item {
            item_id: id.into(),
            title: format!("title {id}"),
            kind: kind.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            available,
            released: None,
        }
    }

    #[test]
    fn histories_merge_and_popularity_counts_distinct_users() {
        let mut d = CatalogData::default();
        d.apply_event(1, "u1", "a", 1.0);
        d.apply_event(2, "u1", "a", 2.0);
        d.apply_event(3, "u2", "a", 1.0);
        d.apply_event(4, "u2", "b", 1.0);
        let h = &d.users["u1"];
        assert_eq!(h.items, vec![0]);
        assert_eq!(h.weights, vec![3.0]);
        assert_eq!(h.last_seq, 2);
        assert_eq!(d.popularity, vec![2, 1]);
        assert_eq!(&*d.popular_order(), &[0, 1]);
        assert!(d.remove_user("u2"));
        assert!(!d.remove_user("u2"));
        assert_eq!(d.popularity, vec![1, 0]);
        assert_eq!(&*d.popular_order(), &[0]);
    }

    #[test]
    fn filters_resolve_kinds_tags_and_exclusions() {
        let mut d = CatalogData::default();
        d.set_item(&item("a", "track", &["rock", "live"], true));
        d.set_item(&item("b", "album", &["rock"], true));
        d.set_item(&item("c", "track", &["jazz"], false));
        d.intern_item("bare");
        fn passing(d: &CatalogData, f: dto::RecommendFilter) -> Vec<String> {
            let c = d.compile_filter(Some(&f));
            (0..d.items.len() as u32)
                .filter(|&i| c.keep(d, i))
                .map(|i| d.items.id(i).to_string())
                .collect()
        }
        let pass = |f: dto::RecommendFilter| passing(&d, f);
        let f = |kinds: Option<&[&str]>, any: Option<&[&str]>, all: Option<&[&str]>| {
            let v = |x: Option<&[&str]>| x.map(|s| s.iter().map(|t| t.to_string()).collect());
            dto::RecommendFilter {
                kinds: v(kinds),
                tags_any: v(any),
                tags_all: v(all),
                ..Default::default()
            }
        };
        // `c` is unavailable: left out unless the request includes unavailable items.
        assert_eq!(pass(f(Some(&["track"]), None, None)), vec!["a"]);
        let with_unavailable =
            |f: dto::RecommendFilter| dto::RecommendFilter { include_unavailable: Some(true), ..f };
        assert_eq!(pass(with_unavailable(f(Some(&["track"]), None, None))), vec!["a", "c"]);
        assert_eq!(pass(with_unavailable(f(None, Some(&["jazz", "live"]), None))), vec!["a", "c"]);
        assert_eq!(pass(f(None, None, Some(&["rock", "live"]))), vec!["a"]);
        assert!(pass(f(None, None, Some(&["rock", "unknown"]))).is_empty());
        assert!(pass(f(Some(&["unknown"]), None, None)).is_empty());
        let only = dto::RecommendFilter {
            only_available: Some(true),
            exclude_items: Some(vec!["a".into()]),
            ..Default::default()
        };
        assert_eq!(pass(only), vec!["b", "bare"]);
        assert_eq!(pass(dto::RecommendFilter::default()), vec!["a", "b", "bare"]);
        let no_filter = |d: &CatalogData| -> Vec<String> {
            let c = d.compile_filter(None);
            (0..d.items.len() as u32)
                .filter(|&i| c.keep(d, i))
                .map(|i| d.items.id(i).to_string())
                .collect()
        };
        assert_eq!(no_filter(&d), ["a", "b", "bare"]);
        assert_eq!(d.hidden, 1);
        d.take_down("a");
        assert_eq!(d.item_dto(0).kind, "");
        assert_eq!(d.visible_item("a"), None);
        assert_eq!(d.hidden, 2);
        assert_eq!(no_filter(&d), ["b", "bare"]);
        // Even a request that includes unavailable items never gets a taken-down one.
        let all = with_unavailable(dto::RecommendFilter::default());
        assert_eq!(passing(&d, all), vec!["b", "c", "bare"]);
        d.set_item(&item("a", "track", &[], true));
        d.set_item(&item("c", "track", &[], true));
        assert_eq!(d.hidden, 0);
        assert!(!d.compile_filter(None).active, "nothing hidden: the default filter is free");
        assert_eq!(no_filter(&d), ["a", "b", "c", "bare"]);
    }
}
