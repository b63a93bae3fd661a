//! Top-N selection over a score vector, without sorting the catalogue.
//!
//! A bounded min-heap of the best N seen so far, with a threshold check so that most scores cost
//! one comparison. Items to exclude (what the user already has, filtered-out items) are skipped
//! inside the loop with a merge against a sorted list, never by re-sorting scores.
//! Ties are broken by the smaller item index, so results are deterministic.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// An item index with its score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredItem {
    /// Dense item index.
    pub item: u32,
    /// Score (higher is better).
    pub score: f32,
}

/// Heap entry ordered so that the *worst* candidate is at the top of a max-heap.
#[derive(Clone, Copy, PartialEq)]
struct Worst(ScoredItem);

impl Eq for Worst {}
impl PartialOrd for Worst {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Worst {
    fn cmp(&self, other: &Self) -> Ordering {
        // Lower score is "greater" (worse); among equal scores the larger index is worse.
        other.0.score.total_cmp(&self.0.score).then(self.0.item.cmp(&other.0.item))
    }
}

fn better(a: ScoredItem, b: ScoredItem) -> bool {
    match a.score.total_cmp(&b.score) {
        Ordering::Greater => true,
        Ordering::Less => false,
        Ordering::Equal => a.item < b.item,
    }
}

/// The best `n` candidates offered so far: a bounded heap with its worst entry at the top.
///
/// This is the one place that decides which of two scored items is better (higher score, then the
/// smaller index), so every selection — one user's scores, a block of users scored together
/// ([`crate::batch`]) — ranks ties the same way.
#[derive(Clone)]
pub struct TopN {
    n: usize,
    heap: BinaryHeap<Worst>,
    /// The worst kept score once the heap is full (`-inf` before): any lower score cannot enter,
    /// which is the one comparison most candidates cost.
    floor: f32,
}

impl TopN {
    /// An empty selection of at most `n` items.
    pub fn new(n: usize) -> Self {
        Self { n, heap: BinaryHeap::with_capacity(n + 1), floor: f32::NEG_INFINITY }
    }

    /// Whether `cand` would be kept if offered now (`false` for NaN scores).
    #[inline(always)]
    pub fn would_keep(&self, cand: ScoredItem) -> bool {
        if cand.score < self.floor || cand.score.is_nan() || self.n == 0 {
            return false;
        }
        match self.heap.peek() {
            Some(worst) if self.heap.len() == self.n => better(cand, worst.0),
            _ => true,
        }
    }

    /// The worst kept score once `n` items are kept, `-inf` before.
    #[inline(always)]
    pub fn floor(&self) -> f32 {
        self.floor
    }

    /// Keeps `cand`, dropping the worst entry when full. Call only after [`TopN::would_keep`].
    #[inline]
    pub fn push(&mut self, cand: ScoredItem) {
        self.heap.push(Worst(cand));
        if self.heap.len() > self.n {
            self.heap.pop();
        }
        if self.heap.len() == self.n {
            self.floor = self.heap.peek().map_or(f32::NEG_INFINITY, |w| w.0.score);
        }
    }

    /// The kept items, best first.
    pub fn into_sorted(self) -> Vec<ScoredItem> {
        let mut out: Vec<ScoredItem> = self.heap.into_iter().map(|w| w.0).collect();
        out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.item.cmp(&b.item)));
        out
    }
}

/// The `n` best items of `scores`, best first, skipping the items in `exclude_sorted` (which must
/// be sorted ascending) and any item for which `keep` returns false. NaN scores are skipped.
pub fn top_n_filtered(
    scores: &[f32],
    n: usize,
    exclude_sorted: &[u32],
    mut keep: impl FnMut(u32) -> bool,
) -> Vec<ScoredItem> {
    if n == 0 {
        return Vec::new();
    }
    let mut top = TopN::new(n);
    let mut excl = exclude_sorted.iter().copied().peekable();
    for (i, &s) in scores.iter().enumerate() {
        let item = i as u32;
        while excl.peek().is_some_and(|&e| e < item) {
            excl.next();
        }
        if excl.peek() == Some(&item) {
            continue;
        }
        let cand = ScoredItem { item, score: s };
        if top.would_keep(cand) && keep(item) {
            top.push(cand);
        }
    }
    top.into_sorted()
}

/// The `n` best items of `scores`, best first, skipping `exclude_sorted` (sorted ascending).
pub fn top_n(scores: &[f32], n: usize, exclude_sorted: &[u32]) -> Vec<ScoredItem> {
    top_n_filtered(scores, n, exclude_sorted, |_| true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(scores: &[f32], n: usize, excl: &[u32]) -> Vec<u32> {
        let mut idx: Vec<u32> = (0..scores.len() as u32)
            .filter(|i| !excl.contains(i) && !scores[*i as usize].is_nan())
            .collect();
        idx.sort_by(|&a, &b| scores[b as usize].total_cmp(&scores[a as usize]).then(a.cmp(&b)));
        idx.truncate(n);
        idx
    }

    #[test]
    fn matches_full_sort_on_pseudo_random_scores() {
        let mut x = 12345u64;
        let scores: Vec<f32> = (0..5000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 1000) as f32 / 7.0 // many ties on purpose
            })
            .collect();
        let excl: Vec<u32> = (0..5000).step_by(3).collect();
        for n in [1, 10, 100, 4000] {
            let got: Vec<u32> = top_n(&scores, n, &excl).iter().map(|s| s.item).collect();
            assert_eq!(got, brute(&scores, n, &excl), "n = {n}");
        }
    }

    #[test]
    fn handles_edge_cases() {
        assert!(top_n(&[1.0, 2.0], 0, &[]).is_empty());
        let r = top_n(&[1.0, f32::NAN, 3.0], 5, &[]);
        assert_eq!(r.iter().map(|s| s.item).collect::<Vec<_>>(), vec![2, 0]);
        let r = top_n(&[1.0, 2.0, 3.0], 2, &[2]);
        assert_eq!(r.iter().map(|s| s.item).collect::<Vec<_>>(), vec![1, 0]);
    }

    #[test]
    fn keep_filter_is_applied() {
        let r = top_n_filtered(&[5.0, 4.0, 3.0, 2.0], 2, &[], |i| i % 2 == 1);
        assert_eq!(r.iter().map(|s| s.item).collect::<Vec<_>>(), vec![1, 3]);
    }
}
