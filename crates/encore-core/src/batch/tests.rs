use super::*;
use crate::models::test_support::random_matrix;
use crate::models::{FitOptions, ModelConfig, ModelSpec};

fn fit(spec: &str, m: &InteractionMatrix) -> crate::models::Model {
    let spec = ModelSpec::parse(spec).unwrap();
    ModelConfig::from_spec(&spec).unwrap().fit(m, &FitOptions::default()).unwrap()
}

/// The one-user path: score, then select.
fn one_by_one(
    rec: &dyn Recommender,
    queries: &[BatchQuery<'_>],
    n: usize,
    keep: &dyn Fn(u32) -> bool,
) -> Vec<Vec<ScoredItem>> {
    let mut scores = vec![0.0; rec.n_items()];
    queries
        .iter()
        .map(|q| {
            rec.score(&q.query, &mut scores);
            top_n_filtered(&scores, n, q.exclude, keep)
        })
        .collect()
}

/// Known users (stored factors), fold-in histories and an exclusion list that is not the history.
fn check_model(spec: &str) {
    // 150 users (three blocks, the last partial), 203 items (not a multiple of 4).
    let m = random_matrix(150, 203, 0.05, 7);
    let model = fit(spec, &m);
    let rec = model.recommender();
    let rows: Vec<_> = (0..m.n_rows()).map(|u| m.row(u)).collect();
    let odd: Vec<u32> = (1..203).step_by(2).collect();
    let mut queries = Vec::new();
    for (u, r) in rows.iter().enumerate() {
        let user = (u % 3 != 0).then_some(u as u32);
        let exclude = if u % 5 == 0 { &odd[..] } else { r.indices };
        queries.push(BatchQuery {
            query: Query { user, items: r.indices, weights: r.values },
            exclude,
        });
    }
    let keep = |i: u32| i % 7 != 3;
    for n in [1, 10, 100, 250] {
        let got = top_n_batch(rec, &queries, n, &keep);
        let want = one_by_one(rec, &queries, n, &keep);
        assert_eq!(got.len(), want.len());
        for (u, (g, w)) in got.iter().zip(&want).enumerate() {
            let g_bits: Vec<(u32, u32)> = g.iter().map(|s| (s.item, s.score.to_bits())).collect();
            let w_bits: Vec<(u32, u32)> = w.iter().map(|s| (s.item, s.score.to_bits())).collect();
            assert_eq!(g_bits, w_bits, "{spec}: user {u}, n = {n}");
        }
    }
}

#[test]
fn blocked_ials_scores_are_the_per_pair_scores_bit_for_bit() {
    check_model("ials:factors=16,iterations=3");
    // More factors than one 16-wide chunk, with a remainder.
    check_model("ials:factors=37,iterations=2");
}

#[test]
fn blocked_bpr_scores_are_the_per_pair_scores_bit_for_bit() {
    check_model("bpr:factors=24,iterations=3");
}

#[test]
fn models_without_factors_take_the_one_user_path() {
    check_model("itemknn");
    check_model("popularity");
}

#[test]
fn ties_are_broken_by_item_index_as_in_the_one_user_path() {
    // Items 0, 2, 4, 5 share one row: equal scores, which must come out in index order.
    let k = 3;
    let rows: [[f32; 3]; 7] = [
        [1.0, 0.0, 0.5],
        [0.0, 2.0, 0.0],
        [1.0, 0.0, 0.5],
        [-1.0, 0.0, 0.0],
        [1.0, 0.0, 0.5],
        [1.0, 0.0, 0.5],
        [f32::NAN, 0.0, 0.0],
    ];
    let items: Vec<f32> = rows.iter().flatten().copied().collect();
    let f = FactorScoring { items: &items, k, bias: None };
    let v = [1.0, 0.25, 1.0];
    let lists = BlockScorer::new(f).top_n(&[(&v[..], &[2][..])], 4, &|_| true);
    let order: Vec<u32> = lists[0].iter().map(|s| s.item).collect();
    // Scores: items 0, 4, 5 = 1.5 (item 2 excluded), item 1 = 0.5, item 3 = -1, item 6 NaN.
    assert_eq!(order, vec![0, 4, 5, 1]);
    let mut scores = vec![0.0; 7];
    f.score_into(&v, &mut scores);
    assert_eq!(lists[0], top_n_filtered(&scores, 4, &[2], |_| true));
}

#[test]
fn all_users_table_matches_each_users_list() {
    let m = random_matrix(130, 90, 0.08, 11);
    let model = fit("ials:factors=8,iterations=2", &m);
    let rec = model.recommender();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let table = top_n_all_users(rec, &m, 20, &|_| true, &|users| {
        done.fetch_add(users, std::sync::atomic::Ordering::Relaxed);
        true
    })
    .unwrap();
    assert_eq!(done.into_inner(), 130, "progress counts every user once");
    assert_eq!(table.n_rows(), 130);
    let mut scores = vec![0.0; 90];
    for u in 0..130 {
        let r = m.row(u);
        rec.score(
            &Query { user: Some(u as u32), items: r.indices, weights: r.values },
            &mut scores,
        );
        assert_eq!(table.row(u), &top_n(&scores, 20, r.indices)[..], "user {u}");
    }
    // Erasure moves later rows up.
    let shorter = table.without_row(5);
    assert_eq!(shorter.n_rows(), 129);
    assert_eq!(shorter.row(5), table.row(6));
    assert_eq!(shorter.row(4), table.row(4));
}

#[test]
fn all_users_stops_when_asked_and_handles_width_zero() {
    let m = random_matrix(300, 40, 0.1, 3);
    let model = fit("popularity", &m);
    assert!(top_n_all_users(model.recommender(), &m, 5, &|_| true, &|_| false).is_none());
    let empty = top_n_all_users(model.recommender(), &m, 0, &|_| true, &|_| true).unwrap();
    assert_eq!(empty.n_rows(), 300);
    assert!(empty.row(7).is_empty());
}

use crate::topk::top_n;

#[test]
fn lists_selected_from_gemm_scores_are_the_exact_lists() {
    // 4,500 items: more than one of `gemm_scores`'s tiles.
    for (spec, n_items) in [
        ("ials:factors=16,iterations=3", 203),
        ("bpr:factors=24,iterations=3", 203),
        ("ials:factors=8,iterations=2", 4_500),
    ] {
        let m = random_matrix(40, n_items, 0.01, 5);
        let model = fit(spec, &m);
        let rec = model.recommender();
        let f = rec.factor_scoring().unwrap();
        let bounds = ScoringBounds::of(f);
        let rows: Vec<_> = (0..40).map(|u| m.row(u)).collect();
        let vectors: Vec<_> = rows
            .iter()
            .enumerate()
            .map(|(u, r)| {
                // Half stored factors, half folded-in histories.
                let user = (u % 2 == 0).then_some(u as u32);
                rec.query_vector(&Query { user, items: r.indices, weights: r.values }).unwrap()
            })
            .collect();
        let refs: Vec<&[f32]> = vectors.iter().map(|v| &**v).collect();
        let mut gemm = vec![0.0; n_items * refs.len()];
        gemm_scores(f, &refs, &mut gemm);
        let gemm: Vec<&[f32]> = gemm.chunks(n_items).collect();
        let keep = |i: u32| i % 5 != 1;
        let mut exact = vec![0.0; n_items];
        for (j, v) in refs.iter().enumerate() {
            f.score_into(v, &mut exact);
            for n in [1, 10, 300] {
                let want = top_n_filtered(&exact, n, rows[j].indices, keep);
                let got = top_n_from_gemm(f, bounds, v, gemm[j], n, rows[j].indices, &keep);
                let bits = |l: &[ScoredItem]| -> Vec<(u32, u32)> {
                    l.iter().map(|s| (s.item, s.score.to_bits())).collect()
                };
                assert_eq!(bits(&got), bits(&want), "{spec}: query {j}, n = {n}");
            }
        }
    }
}
