//! The ranking metrics of the evaluation protocol, computed from finished top-K lists.
//!
//! This is a pure function of (relevant sets, recommendation lists), written to agree with the
//! reference `eval.py` of the shared protocol to the last decimal: sums are accumulated in `f64` in
//! the same order, and the per-user normaliser is `min(K, |T|)` for recall, NDCG and MAP.

/// Averages of the protocol's top-K metrics over the evaluated users.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Metrics {
    /// The cut-off K.
    pub k: usize,
    /// Precision@K = |L∩T| / K.
    pub precision: f64,
    /// Recall@K = |L∩T| / min(K, |T|).
    pub recall: f64,
    /// NDCG@K with binary relevance; the ideal DCG sums over min(K, |T|) ranks.
    pub ndcg: f64,
    /// MAP@K = (Σ over hits at rank r of hits_so_far / r) / min(K, |T|).
    pub map: f64,
    /// HR@K: share of users with at least one hit.
    pub hit_rate: f64,
    /// Coverage@K: distinct recommended items over the training catalogue size.
    pub coverage: f64,
    /// Number of evaluated users (users with at least one relevant item).
    pub users: usize,
}

impl Metrics {
    /// The metrics as `(name, value)` pairs named `ndcg@K`, `precision@K`, … in the order the CLI
    /// prints them.
    pub fn named(&self) -> [(String, f64); 6] {
        let k = self.k;
        [
            (format!("ndcg@{k}"), self.ndcg),
            (format!("precision@{k}"), self.precision),
            (format!("recall@{k}"), self.recall),
            (format!("map@{k}"), self.map),
            (format!("hr@{k}"), self.hit_rate),
            (format!("coverage@{k}"), self.coverage),
        ]
    }
}

/// Computes the metrics of top-K lists against relevant sets.
///
/// * `test` — one entry per evaluated user: the user and its relevant items. Users with an empty
///   relevant set are ignored (they are not "evaluated users" in the protocol). Relevant items may
///   lie outside the catalogue (items unseen in training): they count in |T| but can never be hit.
///   Duplicates in a relevant list are counted once.
/// * `recs` — the ranked recommendations of a user, best first; only the first `k` are used. A user
///   with no recommendations scores 0 on every metric.
/// * `n_items` — the size of the training catalogue, the denominator of coverage.
///
/// With `k == 0` or no evaluated user every metric is 0.
pub fn metrics_from_lists<R>(
    test: &[(u32, Vec<u32>)],
    recs: impl Fn(u32) -> R,
    k: usize,
    n_items: usize,
) -> Metrics
where
    R: AsRef<[u32]>,
{
    // disc[r] is the gain of a hit at 0-based rank r; idcg[n] the ideal DCG of n hits.
    let disc: Vec<f64> = (0..k).map(|r| 1.0 / ((r + 2) as f64).log2()).collect();
    let mut idcg = vec![0.0f64; k + 1];
    for r in 0..k {
        idcg[r + 1] = idcg[r] + disc[r];
    }
    let mut covered = vec![false; n_items];
    let (mut sp, mut sr, mut sn, mut sm, mut sh) = (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
    let mut users = 0usize;
    let mut relevant: Vec<u32> = Vec::new();
    for (user, items) in test {
        relevant.clear();
        relevant.extend_from_slice(items);
        relevant.sort_unstable();
        relevant.dedup();
        if relevant.is_empty() {
            continue;
        }
        users += 1;
        if k == 0 {
            continue;
        }
        let list = recs(*user);
        let list = &list.as_ref()[..list.as_ref().len().min(k)];
        let (mut hits, mut dcg, mut ap) = (0usize, 0.0f64, 0.0f64);
        for (r, &item) in list.iter().enumerate() {
            if let Some(c) = covered.get_mut(item as usize) {
                *c = true;
            }
            if relevant.binary_search(&item).is_ok() {
                hits += 1;
                dcg += disc[r];
                ap += hits as f64 / (r + 1) as f64;
            }
        }
        let denom = k.min(relevant.len());
        sp += hits as f64 / k as f64;
        sr += hits as f64 / denom as f64;
        sn += dcg / idcg[denom];
        sm += ap / denom as f64;
        sh += if hits > 0 { 1.0 } else { 0.0 };
    }
    let n = users.max(1) as f64;
    let n_covered = covered.iter().filter(|&&c| c).count();
    Metrics {
        k,
        precision: sp / n,
        recall: sr / n,
        ndcg: sn / n,
        map: sm / n,
        hit_rate: sh / n,
        coverage: n_covered as f64 / n_items.max(1) as f64,
        users,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    /// Two users, K = 3, catalogue of 10 items, every figure worked out by hand.
    ///
    /// User 0: T = {1, 2}, L = [1, 5, 2] → hits at ranks 1 and 3.
    ///   P = 2/3; R = 2/min(3,2) = 1; DCG = 1/log2(2) + 1/log2(4) = 1 + 0.5 = 1.5;
    ///   IDCG over min(3,2) = 2 ranks = 1 + 1/log2(3) = 1.6309297535714575; NDCG = 0.9197207891481876;
    ///   AP = (1/1 + 2/3) / 2 = 0.8333…; HR = 1.
    /// User 1: T = {7, 8, 9, 42 (not in the catalogue)}, L = [3, 9] (only two recommendations)
    ///   → hit at rank 2. P = 1/3; R = 1/min(3,4) = 1/3; DCG = 1/log2(3) = 0.6309297535714575;
    ///   IDCG over 3 ranks = 1 + 0.6309297535714575 + 0.5 = 2.1309297535714578;
    ///   NDCG = 0.29608...; AP = (1/2) / 3 = 1/6; HR = 1.
    /// User 2: T = {4}, no recommendations → 0 everywhere, but counted.
    /// User 3: T = {} → not an evaluated user.
    /// Coverage: {1, 5, 2, 3, 9} = 5 of 10 items.
    #[test]
    fn matches_hand_computed_values() {
        let test = vec![(0u32, vec![2u32, 1]), (1, vec![7, 8, 9, 42]), (2, vec![4]), (3, vec![])];
        let recs = |u: u32| -> Vec<u32> {
            match u {
                0 => vec![1, 5, 2, 6], // the 4th is beyond K and must be ignored
                1 => vec![3, 9],
                _ => vec![],
            }
        };
        let m = metrics_from_lists(&test, recs, 3, 10);
        assert_eq!(m.users, 3);
        assert_eq!(m.k, 3);
        let l3 = 1.0 / 3f64.log2();
        close(m.precision, (2.0 / 3.0 + 1.0 / 3.0 + 0.0) / 3.0);
        close(m.recall, (1.0 + 1.0 / 3.0 + 0.0) / 3.0);
        let ndcg0 = 1.5 / (1.0 + l3);
        let ndcg1 = l3 / (1.0 + l3 + 0.5);
        close(ndcg0, 0.9197207891481876);
        close(m.ndcg, (ndcg0 + ndcg1) / 3.0);
        close(m.map, ((1.0 + 2.0 / 3.0) / 2.0 + 0.5 / 3.0 + 0.0) / 3.0);
        close(m.hit_rate, 2.0 / 3.0);
        close(m.coverage, 0.5);
    }

    #[test]
    fn perfect_lists_score_one_and_empty_input_scores_zero() {
        let test = vec![(0u32, vec![0u32, 1, 2, 3, 4]), (1, vec![5])];
        let m =
            metrics_from_lists(&test, |u| if u == 0 { vec![4, 3, 2] } else { vec![5, 0, 1] }, 3, 6);
        close(m.recall, 1.0);
        close(m.ndcg, 1.0);
        close(m.map, 1.0);
        close(m.hit_rate, 1.0);
        close(m.precision, (1.0 + 1.0 / 3.0) / 2.0);
        let empty = metrics_from_lists(&[], |_| Vec::<u32>::new(), 10, 5);
        assert_eq!(empty.users, 0);
        close(empty.ndcg, 0.0);
        close(empty.coverage, 0.0);
    }

    #[test]
    fn duplicate_relevant_items_count_once() {
        let a = metrics_from_lists(&[(0, vec![1, 1, 2])], |_| vec![1u32], 2, 3);
        let b = metrics_from_lists(&[(0, vec![1, 2])], |_| vec![1u32], 2, 3);
        assert_eq!(a, b);
        close(a.recall, 0.5);
    }
}
