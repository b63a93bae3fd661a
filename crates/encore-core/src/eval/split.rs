//! The per-user random holdout split of the evaluation protocol.
//!
//! The rule is the one the shared splits were made with (`../shared/eval/PROTOCOL.md`): duplicate
//! (user, item) pairs are merged (an [`InteractionMatrix`] already sums them); each user with at
//! least [`MIN_ITEMS_FOR_HOLDOUT`] distinct items has `fraction` of them — rounded half up, at least
//! one — moved to the test matrix at random; users with fewer items stay wholly in train.
//!
//! The random choice of each user is drawn from its own generator seeded from `(seed, user)`, so the
//! split depends only on the matrix and the seed, never on thread scheduling.

use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::matrix::InteractionMatrix;

/// Users with fewer distinct items than this keep all of them in train.
pub const MIN_ITEMS_FOR_HOLDOUT: usize = 5;

/// How many of `n` items a user holds out: `fraction · n` rounded half up, at least 1, and at
/// most `n - 1` so that every split user keeps a training history. The tiny epsilon keeps values
/// such as 0.3 · 5 = 1.4999999999999998 on the "half up" side they mean.
pub fn holdout_count(n: usize, fraction: f64) -> usize {
    let rounded = (n as f64 * fraction + 0.5 + 1e-9).floor() as usize;
    rounded.max(1).min(n.saturating_sub(1))
}

/// Splits `matrix` (users × items) into a train and a test matrix of the same shape.
///
/// Every stored entry goes to exactly one of them, with its weight. Fails when `fraction` is not
/// strictly between 0 and 1.
pub fn holdout_split(
    matrix: &InteractionMatrix,
    fraction: f64,
    seed: u64,
) -> crate::Result<(InteractionMatrix, InteractionMatrix)> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(crate::Error::InvalidInput(format!(
            "holdout fraction must be strictly between 0 and 1, got {fraction}"
        )));
    }
    let nnz = matrix.nnz();
    let (mut tr_rows, mut tr_cols, mut tr_vals) =
        (Vec::with_capacity(nnz), Vec::with_capacity(nnz), Vec::with_capacity(nnz));
    let (mut te_rows, mut te_cols, mut te_vals) = (Vec::new(), Vec::new(), Vec::new());
    let mut in_test: Vec<bool> = Vec::new();
    for (user, row) in matrix.rows().enumerate() {
        let n = row.len();
        in_test.clear();
        in_test.resize(n, false);
        if n >= MIN_ITEMS_FOR_HOLDOUT {
            let n_test = holdout_count(n, fraction);
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(user_seed(seed, user as u64));
            // Partial Fisher–Yates: the first n_test positions of a shuffled index list.
            let mut positions: Vec<usize> = (0..n).collect();
            for i in 0..n_test {
                let j = rng.random_range(i..n);
                positions.swap(i, j);
                in_test[positions[i]] = true;
            }
        }
        for ((item, weight), &test) in row.iter().zip(&in_test) {
            let (rows, cols, vals) = if test {
                (&mut te_rows, &mut te_cols, &mut te_vals)
            } else {
                (&mut tr_rows, &mut tr_cols, &mut tr_vals)
            };
            rows.push(user as u32);
            cols.push(item);
            vals.push(weight);
        }
    }
    let (n_rows, n_cols) = (matrix.n_rows(), matrix.n_cols());
    let train = InteractionMatrix::from_triplets(n_rows, n_cols, &tr_rows, &tr_cols, &tr_vals)?;
    let test = InteractionMatrix::from_triplets(n_rows, n_cols, &te_rows, &te_cols, &te_vals)?;
    Ok((train, test))
}

/// Mixes the user index into the seed (SplitMix64 finaliser) so neighbouring users get unrelated
/// streams.
fn user_seed(seed: u64, user: u64) -> u64 {
    let mut z = seed ^ user.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix_with_row_lengths(lengths: &[usize]) -> InteractionMatrix {
        let (mut r, mut c, mut v) = (vec![], vec![], vec![]);
        for (u, &n) in lengths.iter().enumerate() {
            for i in 0..n {
                r.push(u as u32);
                c.push(i as u32);
                v.push((u * 100 + i) as f32);
            }
        }
        InteractionMatrix::from_triplets(lengths.len(), 40, &r, &c, &v).unwrap()
    }

    #[test]
    fn holdout_count_rounds_half_up_with_at_least_one() {
        assert_eq!(holdout_count(5, 0.2), 1);
        assert_eq!(holdout_count(7, 0.2), 1); // 1.4
        assert_eq!(holdout_count(8, 0.2), 2); // 1.6
        assert_eq!(holdout_count(5, 0.3), 2); // 1.5 → 2
        assert_eq!(holdout_count(6, 0.01), 1);
        assert_eq!(holdout_count(10, 0.99), 9);
    }

    #[test]
    fn splits_users_by_the_protocol_rule() {
        let m = matrix_with_row_lengths(&[4, 5, 7, 8, 33, 0]);
        let (train, test) = holdout_split(&m, 0.2, 42).unwrap();
        let expected_test = [0, 1, 1, 2, 7, 0];
        for (u, &t) in expected_test.iter().enumerate() {
            assert_eq!(test.row_nnz(u), t, "user {u}");
            assert_eq!(train.row_nnz(u) + t, m.row_nnz(u));
            // Disjoint, and together they are the row with its weights.
            let mut merged: Vec<(u32, f32)> =
                train.row(u).iter().chain(test.row(u).iter()).collect();
            merged.sort_by_key(|p| p.0);
            assert_eq!(merged, m.row(u).iter().collect::<Vec<_>>());
        }
        assert_eq!((train.n_rows(), train.n_cols()), (m.n_rows(), m.n_cols()));
    }

    #[test]
    fn is_deterministic_in_the_seed_and_varies_with_it() {
        let m = matrix_with_row_lengths(&[30; 20]);
        let a = holdout_split(&m, 0.2, 7).unwrap();
        let b = holdout_split(&m, 0.2, 7).unwrap();
        let c = holdout_split(&m, 0.2, 8).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.1, c.1);
    }

    #[test]
    fn rejects_fractions_outside_the_open_unit_interval() {
        let m = matrix_with_row_lengths(&[5]);
        for f in [0.0, 1.0, -0.1, f64::NAN] {
            assert!(holdout_split(&m, f, 1).is_err(), "{f}");
        }
    }
}

/// The rule against the shared splits: re-splitting train ∪ test must hold out exactly as many
/// items per user as the shared test file does (the count is deterministic; which items are
/// drawn is not comparable across random generators).
#[cfg(test)]
mod shared_split_tests {
    use super::*;
    use crate::data::{ReadOptions, parse_interactions};

    #[test]
    fn holds_out_as_many_items_per_user_as_the_shared_splits() {
        let root =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/eval/splits");
        for (dataset, test_rows) in
            [("lastfm-2k", 18_562), ("ml-100k", 20_000), ("ml-latest-small", 20_164)]
        {
            let dir = root.join(dataset);
            let train = std::fs::read(dir.join("train.tsv")).expect("shared split present");
            let test = std::fs::read(dir.join("test.tsv")).expect("shared split present");
            let all = [train, test.clone()].concat();
            let data = parse_interactions(&all, dataset, &ReadOptions::default()).unwrap();
            let matrix = data.to_matrix().unwrap();
            let (_, ours) = holdout_split(&matrix, 0.2, 42).unwrap();
            assert_eq!(ours.nnz(), test_rows, "{dataset}");
            // Per user: the shared test file's count for each user.
            let shared = parse_interactions(&test, dataset, &ReadOptions::default()).unwrap();
            let mut expected = vec![0usize; matrix.n_rows()];
            for &u in &shared.user_idx {
                let id = shared.users.id(u);
                expected[data.users.get(id).unwrap() as usize] += 1;
            }
            for (u, &want) in expected.iter().enumerate() {
                assert_eq!(ours.row_nnz(u), want, "{dataset} user {}", data.users.id(u as u32));
            }
        }
    }
}
