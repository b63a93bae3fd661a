use super::*;
use crate::models::test_support::random_matrix;
use crate::models::{ModelConfig, ModelSpec};

/// Dense brute-force cosine between the columns of the weighted matrix.
fn brute_cosine(w: &InteractionMatrix, shrink: f64) -> Vec<Vec<f64>> {
    let n = w.n_cols();
    let mut d = vec![vec![0f64; n]; w.n_rows()];
    for (u, row) in w.rows().enumerate() {
        for (i, v) in row.iter() {
            d[u][i as usize] = v as f64;
        }
    }
    let col = |i: usize| d.iter().map(|r| r[i]).collect::<Vec<_>>();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    (0..n)
        .map(|i| {
            (0..n)
                .map(|j| {
                    let (a, b) = (col(i), col(j));
                    let den = dot(&a, &a).sqrt() * dot(&b, &b).sqrt() + shrink;
                    if den > 0.0 { dot(&a, &b) / den } else { 0.0 }
                })
                .collect()
        })
        .collect()
}

fn cfg(weighting: Weighting, neighbours: usize, shrink: f64) -> ItemKnnConfig {
    ItemKnnConfig { neighbours, shrink, weighting, ..ItemKnnConfig::default() }
}

fn fit(x: &InteractionMatrix, c: &ItemKnnConfig) -> ItemKnnModel {
    ItemKnnModel::fit(c, x, &FitOptions::default()).unwrap()
}

#[test]
fn similarities_match_brute_force_cosine_for_every_weighting() {
    let x = random_matrix(30, 12, 0.3, 2);
    for weighting in [Weighting::None, Weighting::Binary, Weighting::Bm25, Weighting::Tfidf] {
        for shrink in [0.0, 3.0] {
            let c = cfg(weighting, 100, shrink);
            let model = fit(&x, &c);
            let want = brute_cosine(&weight_matrix(&c, &x), shrink);
            for i in 0..12u32 {
                let (idx, vals) = model.neighbours(i);
                assert!(!idx.contains(&i), "an item is not its own neighbour");
                // Every non-zero similarity is kept when K exceeds the catalogue.
                let nonzero = (0..12).filter(|&j| j != i as usize && want[i as usize][j] != 0.0);
                assert_eq!(idx.len(), nonzero.count(), "{weighting:?} item {i}");
                for (&j, &s) in idx.iter().zip(vals) {
                    let e = want[i as usize][j as usize];
                    assert!((s as f64 - e).abs() < 1e-5, "{weighting:?} sim({i},{j}) {s} vs {e}");
                }
                assert!(vals.windows(2).all(|w| w[0] >= w[1]), "sorted best first");
            }
        }
    }
}

#[test]
fn bm25_weights_follow_the_formula() {
    // 2 users, 3 items: user 0 has items 0 and 1, user 1 has item 0.
    let x =
        InteractionMatrix::from_triplets(2, 3, &[0, 0, 1], &[0, 1, 0], &[2.0, 1.0, 4.0]).unwrap();
    let c = ItemKnnConfig { k1: 1.5, b: 0.5, ..cfg(Weighting::Bm25, 10, 0.0) };
    let w = weight_matrix(&c, &x);
    let avg = 7.0 / 3.0; // item totals 6, 1, 0
    let idf0 = (3.0f64 / 3.0).ln().max(0.0); // user 0 has 2 items
    let idf1 = (3.0f64 / 2.0).ln();
    let bm = |v: f64, len: f64, idf: f64| v * 2.5 / (1.5 * (0.5 + 0.5 * len / avg) + v) * idf;
    let expect = [bm(2.0, 6.0, idf0), bm(1.0, 1.0, idf0), bm(4.0, 6.0, idf1)];
    for (got, want) in w.values().iter().zip(expect) {
        assert!((*got as f64 - want).abs() < 1e-6, "{got} vs {want}");
    }
}

#[test]
fn keeps_only_the_top_k_neighbours() {
    let x = random_matrix(60, 20, 0.3, 4);
    let full = fit(&x, &cfg(Weighting::Binary, 1000, 0.0));
    let top3 = fit(&x, &cfg(Weighting::Binary, 3, 0.0));
    for i in 0..20u32 {
        let (fi, fv) = full.neighbours(i);
        let (ti, tv) = top3.neighbours(i);
        assert_eq!(ti.len(), fi.len().min(3));
        assert_eq!(ti, &fi[..ti.len()]);
        assert_eq!(tv, &fv[..tv.len()]);
    }
    let sim = top3.similar_items(0, 2);
    assert_eq!(sim.iter().map(|s| s.item).collect::<Vec<_>>(), top3.neighbours(0).0[..2].to_vec());
}

#[test]
fn explanations_sum_to_scores() {
    let x = random_matrix(40, 15, 0.3, 6);
    for weighting in [Weighting::None, Weighting::Bm25] {
        let model = fit(&x, &cfg(weighting, 4, 1.0));
        let items = [0u32, 3, 8, 11];
        let weights = [2.0f32, 1.0, 5.0, 3.0];
        let q = Query::from_history(&items, &weights);
        let mut s = vec![0f32; 15];
        model.score(&q, &mut s);
        assert!(s.iter().any(|&v| v > 0.0));
        for i in 0..15u32 {
            let e = model.explain(&q, i);
            assert_eq!(e.len(), 4);
            assert!(e.windows(2).all(|w| w[0].contribution >= w[1].contribution));
            let total: f32 = e.iter().map(|c| c.contribution).sum();
            assert!((total - s[i as usize]).abs() < 1e-5, "{weighting:?} item {i}");
        }
    }
}

#[test]
fn arrays_round_trip_and_corrupt_arrays_are_rejected() {
    let x = random_matrix(30, 10, 0.3, 8);
    let model = fit(&x, &cfg(Weighting::Bm25, 5, 0.0));
    let set_of = |m: &ItemKnnModel| {
        let mut set = ArraySet::new();
        for (name, a) in m.arrays() {
            match a {
                ArrayRef::F32(v) => set.insert_f32(name, v.to_vec().into()),
                ArrayRef::U32(v) => set.insert_u32(name, v.to_vec().into()),
                ArrayRef::U64(v) => set.insert_u64(name, v.to_vec().into()),
            }
        }
        set
    };
    let back = ItemKnnModel::from_arrays(model.config().clone(), &mut set_of(&model)).unwrap();
    let q = Query::from_history(&[1, 2], &[1.0, 1.0]);
    let (mut a, mut b) = (vec![0f32; 10], vec![0f32; 10]);
    model.score(&q, &mut a);
    back.score(&q, &mut b);
    assert_eq!(a, b);
    assert_eq!(back.n_items(), 10);

    let mut set = set_of(&model);
    let mut idx = set.take_u32("indices").unwrap().to_vec();
    idx[0] = 10;
    set.insert_u32("indices", idx.into());
    assert!(ItemKnnModel::from_arrays(model.config().clone(), &mut set).is_err());
}

#[test]
fn training_is_identical_with_one_or_two_threads() {
    let x = random_matrix(200, 700, 0.05, 12);
    let run = |threads| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let m = pool.install(|| fit(&x, &cfg(Weighting::Bm25, 20, 2.0)));
        (m.indptr.to_vec(), m.indices.to_vec(), m.values.to_vec())
    };
    assert!(run(1) == run(2));
}

#[test]
fn spec_validation() {
    let parse = |s: &str| ModelConfig::from_spec(&ModelSpec::parse(s).unwrap());
    assert_eq!(
        parse("itemknn:neighbours=50,weighting=binary,shrink=10").unwrap(),
        ModelConfig::ItemKnn(ItemKnnConfig {
            neighbours: 50,
            shrink: 10.0,
            weighting: Weighting::Binary,
            ..ItemKnnConfig::default()
        })
    );
    assert_eq!(parse("itemknn").unwrap(), ModelConfig::ItemKnn(ItemKnnConfig::default()));
    assert!(parse("itemknn:k1=2,b=0.5").is_ok());
    assert!(parse("itemknn:weighting=binary,k1=2").is_err(), "k1 only applies to bm25");
    assert!(parse("itemknn:weighting=cosine").is_err());
    assert!(parse("itemknn:neighbours=0").is_err());
    assert!(parse("itemknn:b=1.5").is_err());
    assert!(parse("itemknn:shrink=-1").is_err());
    assert!(parse("itemknn:k=10").is_err());
}
