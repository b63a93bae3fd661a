//! Test interactions as relevant-item lists in the index space of a training set.
//!
//! A test file has its own string ids. [`TestSet::from_pairs`] maps them through the training
//! set's [`IdMap`]s:
//!
//! * a test **user** unknown to training cannot be ranked by a collaborative model, so it is
//!   skipped (and counted, so the caller can report it);
//! * a test **item** unknown to training can never be recommended, but it still belongs to the
//!   user's relevant set T: dropping it would shrink `min(K, |T|)` and inflate recall, NDCG and MAP
//!   compared with the reference `eval.py`. Such items get indices at or beyond the catalogue size
//!   (`n_items + j`), which no recommendation list contains.

use crate::ids::IdMap;
use crate::matrix::InteractionMatrix;

/// Relevant items per evaluated user, with counts of what could not be mapped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TestSet {
    /// `(user, relevant items)` in ascending user order; items sorted and unique. Items
    /// `>= n_items` of the training catalogue stand for items unseen in training.
    pub lists: Vec<(u32, Vec<u32>)>,
    /// Distinct test users unknown to training (skipped).
    pub unseen_users: usize,
    /// Test rows of those users (skipped).
    pub unseen_user_rows: usize,
    /// Distinct test items unknown to training (kept as unreachable relevant items).
    pub unseen_items: usize,
    /// Test rows of known users whose item is unknown to training.
    pub unseen_item_rows: usize,
}

impl TestSet {
    /// Maps `(user id, item id)` pairs through the training id maps. Duplicate pairs are merged.
    pub fn from_pairs<U, I>(
        users: &IdMap,
        items: &IdMap,
        pairs: impl IntoIterator<Item = (U, I)>,
    ) -> Self
    where
        U: AsRef<str>,
        I: AsRef<str>,
    {
        let n_items = items.len() as u64;
        let mut unseen_users = IdMap::new();
        let mut unseen_items = IdMap::new();
        let mut set = TestSet::default();
        let mut per_user: Vec<Vec<u32>> = vec![Vec::new(); users.len()];
        for (u, i) in pairs {
            let (u, i) = (u.as_ref(), i.as_ref());
            let Some(user) = users.get(u) else {
                unseen_users.get_or_insert(u);
                set.unseen_user_rows += 1;
                continue;
            };
            let item = match items.get(i) {
                Some(item) => item,
                None => {
                    set.unseen_item_rows += 1;
                    let beyond = n_items + u64::from(unseen_items.get_or_insert(i));
                    // An index space this large cannot be evaluated meaningfully anyway; clamping
                    // would merge distinct unseen items, so saturate only in that absurd case.
                    u32::try_from(beyond).unwrap_or(u32::MAX)
                }
            };
            per_user[user as usize].push(item);
        }
        set.unseen_users = unseen_users.len();
        set.unseen_items = unseen_items.len();
        set.lists = collect_lists(per_user);
        set
    }

    /// The test set of a held-out matrix from [`super::holdout_split`] (same index space as
    /// train, so nothing is unseen).
    pub fn from_matrix(test: &InteractionMatrix) -> Self {
        let lists = test
            .rows()
            .enumerate()
            .filter(|(_, row)| !row.is_empty())
            .map(|(u, row)| (u as u32, row.indices.to_vec()))
            .collect();
        TestSet { lists, ..TestSet::default() }
    }

    /// Number of evaluated users.
    pub fn n_users(&self) -> usize {
        self.lists.len()
    }
}

fn collect_lists(per_user: Vec<Vec<u32>>) -> Vec<(u32, Vec<u32>)> {
    per_user
        .into_iter()
        .enumerate()
        .filter(|(_, items)| !items.is_empty())
        .map(|(u, mut items)| {
            items.sort_unstable();
            items.dedup();
            (u as u32, items)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_ids_and_keeps_unseen_items_out_of_reach() {
        let users = IdMap::from_ids(["u1", "u2"]).unwrap();
        let items = IdMap::from_ids(["a", "b", "c"]).unwrap();
        let pairs = [
            ("u2", "c"),
            ("u2", "a"),
            ("u2", "zz"),
            ("u2", "c"),
            ("u9", "a"),
            ("u9", "b"),
            ("u1", "yy"),
            ("u1", "zz"),
        ];
        let t = TestSet::from_pairs(&users, &items, pairs);
        // "zz" is the first unseen item → 3, "yy" the second → 4.
        assert_eq!(t.lists, vec![(0, vec![3, 4]), (1, vec![0, 2, 3])]);
        assert_eq!(t.unseen_users, 1);
        assert_eq!(t.unseen_user_rows, 2);
        assert_eq!(t.unseen_items, 2);
        assert_eq!(t.unseen_item_rows, 3);
        assert_eq!(t.n_users(), 2);
    }

    #[test]
    fn from_matrix_lists_non_empty_rows() {
        let m = InteractionMatrix::from_triplets(3, 4, &[2, 0, 2], &[1, 3, 0], &[1.0; 3]).unwrap();
        let t = TestSet::from_matrix(&m);
        assert_eq!(t.lists, vec![(0, vec![3]), (2, vec![0, 1])]);
    }
}
