//! String ids ↔ dense indices.
//!
//! Users and items arrive with string ids that the app owns (`"u42"`, `"spotify:track:…"`). The
//! models work on dense `u32` indices, so every data set carries one [`IdMap`] for users and one for
//! items. Indices are assigned in order of first appearance, which makes them deterministic for a
//! given input.

use rustc_hash::FxHashMap;

/// A bijection between string ids and dense indices `0..len()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdMap {
    ids: Vec<Box<str>>,
    index: FxHashMap<Box<str>, u32>,
}

impl IdMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a map from ids in index order; fails on a duplicate.
    pub fn from_ids<I, S>(ids: I) -> crate::Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let ids = ids.into_iter();
        let mut map = IdMap::new();
        // Sizing both containers up front saves the rehashing of a growing map, which
        // dominates building a large map (loading a model file with a million item ids).
        map.ids.reserve(ids.size_hint().0);
        map.index.reserve(ids.size_hint().0);
        for id in ids {
            let id = id.as_ref();
            let before = map.len();
            if map.get_or_insert(id) as usize != before {
                return Err(crate::Error::InvalidInput(format!("duplicate id `{id}`")));
            }
        }
        Ok(map)
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when the map holds no id.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The index of `id`, if known.
    pub fn get(&self, id: &str) -> Option<u32> {
        self.index.get(id).copied()
    }

    /// The index of `id`, assigning the next free index when it is new.
    pub fn get_or_insert(&mut self, id: &str) -> u32 {
        if let Some(&i) = self.index.get(id) {
            return i;
        }
        let i = u32::try_from(self.ids.len()).expect("more than 2^32 ids");
        let boxed: Box<str> = id.into();
        self.ids.push(boxed.clone());
        self.index.insert(boxed, i);
        i
    }

    /// The string id of index `i`. Panics when `i >= len()`.
    pub fn id(&self, i: u32) -> &str {
        &self.ids[i as usize]
    }

    /// Removes `id`, shifting every later index down by one (the same shift as
    /// [`crate::matrix::InteractionMatrix::remove_row`]); returns the index it had.
    pub fn remove(&mut self, id: &str) -> Option<u32> {
        let i = self.index.remove(id)?;
        self.ids.remove(i as usize);
        for later in &self.ids[i as usize..] {
            *self.index.get_mut(later).expect("ids and index agree") -= 1;
        }
        Some(i)
    }

    /// All ids in index order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.ids.iter().map(|s| &**s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assigns_indices_in_first_appearance_order() {
        let mut m = IdMap::new();
        assert_eq!(m.get_or_insert("b"), 0);
        assert_eq!(m.get_or_insert("a"), 1);
        assert_eq!(m.get_or_insert("b"), 0);
        assert_eq!(m.len(), 2);
        assert_eq!(m.id(1), "a");
        assert_eq!(m.get("a"), Some(1));
        assert_eq!(m.get("c"), None);
        assert_eq!(m.iter().collect::<Vec<_>>(), vec!["b", "a"]);
    }

    #[test]
    fn remove_shifts_later_indices() {
        let mut m = IdMap::from_ids(["a", "b", "c"]).unwrap();
        assert_eq!(m.remove("b"), Some(1));
        assert_eq!(m.remove("b"), None);
        assert_eq!(m.get("c"), Some(1));
        assert_eq!(m.id(1), "c");
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn from_ids_rejects_duplicates() {
        assert!(IdMap::from_ids(["x", "y"]).is_ok());
        assert!(IdMap::from_ids(["x", "x"]).is_err());
    }
}
