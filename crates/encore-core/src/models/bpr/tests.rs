use super::train::sgd_step;
use super::*;
use crate::models::{ModelConfig, ModelSpec};
use crate::progress::TrainingObserver;
use crate::topk::top_n;

/// Users in `clusters` groups; each user has most items of its group's item range.
fn clustered(users: usize, items: usize, clusters: usize, seed: u64) -> InteractionMatrix {
    let mut next = crate::models::test_support::xorshift(seed);
    let per = items / clusters;
    let (mut r, mut c) = (vec![], vec![]);
    for u in 0..users {
        let g = u % clusters;
        for i in g * per..(g + 1) * per {
            if next() % 10 < 6 {
                r.push(u as u32);
                c.push(i as u32);
            }
        }
    }
    let v = vec![1.0; r.len()];
    InteractionMatrix::from_triplets(users, items, &r, &c, &v).unwrap()
}

/// The per-triple objective that `sgd_step` ascends, in f64.
fn objective(u: &[f64], vi: &[f64], vj: &[f64], bi: f64, bj: f64, reg: f64) -> f64 {
    let x: f64 = bi - bj + u.iter().zip(vi).zip(vj).map(|((a, b), c)| a * (b - c)).sum::<f64>();
    let sq = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>();
    -(1.0 + (-x).exp()).ln() - reg / 2.0 * (sq(u) + sq(vi) + sq(vj) + bi * bi + bj * bj)
}

#[test]
fn sgd_step_follows_the_numeric_gradient() {
    let k = 5;
    let u0: Vec<f32> = (0..k).map(|f| 0.3 - 0.1 * f as f32).collect();
    let vi0: Vec<f32> = (0..k).map(|f| 0.05 * f as f32 - 0.1).collect();
    let vj0: Vec<f32> = (0..k).map(|f| 0.2 - 0.07 * f as f32).collect();
    let (bi0, bj0, lr, reg) = (0.1f32, -0.2f32, 0.01f32, 0.05f32);
    let (mut u, mut vi, mut vj, mut bi, mut bj) = (u0.clone(), vi0.clone(), vj0.clone(), bi0, bj0);
    let loss = sgd_step(&mut u, &mut vi, &mut vj, &mut bi, &mut bj, lr, reg);

    // θ = (u, v_i, v_j, b_i, b_j) flattened.
    let mut theta: Vec<f64> = u0.iter().chain(&vi0).chain(&vj0).map(|&x| x as f64).collect();
    theta.push(bi0 as f64);
    theta.push(bj0 as f64);
    let f = |t: &[f64]| {
        objective(&t[..k], &t[k..2 * k], &t[2 * k..3 * k], t[3 * k], t[3 * k + 1], reg as f64)
    };
    let x = f64::from(bi0 - bj0)
        + (0..k).map(|q| f64::from(u0[q]) * f64::from(vi0[q] - vj0[q])).sum::<f64>();
    assert!((f64::from(loss) - (1.0 + (-x).exp()).ln()).abs() < 1e-5, "loss {loss}");
    let mut after: Vec<f64> = u.iter().chain(&vi).chain(&vj).map(|&x| x as f64).collect();
    after.push(bi as f64);
    after.push(bj as f64);
    let h = 1e-6;
    for p in 0..theta.len() {
        let (mut plus, mut minus) = (theta.clone(), theta.clone());
        plus[p] += h;
        minus[p] -= h;
        let grad = (f(&plus) - f(&minus)) / (2.0 * h);
        let step = after[p] - theta[p];
        assert!(
            (step - lr as f64 * grad).abs() < 1e-6,
            "parameter {p}: step {step}, lr × numeric gradient {}",
            lr as f64 * grad
        );
    }
}

fn fit(m: &InteractionMatrix, cfg: &BprConfig) -> BprModel {
    BprModel::fit(cfg, m, &FitOptions::default()).unwrap()
}

fn small_config() -> BprConfig {
    BprConfig { factors: 8, learning_rate: 0.05, regularization: 0.01, iterations: 60 }
}

#[test]
fn learns_clusters_for_known_and_folded_in_users() {
    let m = clustered(160, 96, 4, 3);
    let model = fit(&m, &BprConfig { learning_rate: 0.1, iterations: 100, ..small_config() });
    let mut scores = vec![0f32; 96];
    for u in 0..160u32 {
        let g = u as usize % 4;
        let row = m.row(u as usize);
        for q in [
            Query { user: Some(u), items: row.indices, weights: row.values },
            Query::from_history(row.indices, row.values),
        ] {
            model.score(&q, &mut scores);
            let top = top_n(&scores, 3, row.indices);
            for s in top {
                assert_eq!(s.item as usize / 24, g, "user {u} ({:?}) got item {}", q.user, s.item);
            }
        }
    }
    // Similar items come from the same cluster.
    for s in model.similar_items(0, 5) {
        assert!(s.item < 24, "{s:?}");
    }
}

#[test]
fn fold_in_explanations_sum_to_score_minus_bias() {
    let m = clustered(40, 30, 3, 5);
    let model = fit(&m, &small_config());
    let items = [1u32, 4, 7, 12];
    let q = Query::from_history(&items, &[1.0, 5.0, 2.0, 1.0]);
    let mut s = vec![0f32; 30];
    model.score(&q, &mut s);
    for i in 0..30u32 {
        let e = model.explain(&q, i);
        assert_eq!(e.len(), 4);
        assert!(e.windows(2).all(|w| w[0].contribution >= w[1].contribution));
        let total: f32 = e.iter().map(|c| c.contribution).sum();
        let expected = s[i as usize] - model.item_bias[i as usize];
        assert!((total - expected).abs() < 1e-4, "item {i}: {total} vs {expected}");
    }
    // An empty history folds in to the zero vector: scores are the biases.
    model.score(&Query::from_history(&[], &[]), &mut s);
    assert_eq!(s, model.item_bias.to_vec());
}

#[test]
fn arrays_round_trip_and_remove_user() {
    let m = clustered(12, 12, 3, 7);
    let mut model = fit(&m, &BprConfig { iterations: 3, ..small_config() });
    let mut set = ArraySet::new();
    for (name, a) in model.arrays() {
        match a {
            ArrayRef::F32(v) => set.insert_f32(name, v.to_vec().into()),
            _ => unreachable!("BPR stores f32 only"),
        }
    }
    let back = BprModel::from_arrays(model.config().clone(), &mut set).unwrap();
    let (mut a, mut b) = (vec![0f32; 12], vec![0f32; 12]);
    let q = Query { user: Some(5), items: &[], weights: &[] };
    model.score(&q, &mut a);
    back.score(&q, &mut b);
    assert_eq!(a, b);

    let user6 = model.user(6).unwrap().to_vec();
    model.remove_user(5);
    assert_eq!(model.n_users(), 11);
    assert_eq!(model.user(5).unwrap(), &user6[..]);
    model.remove_user(99); // out of range: nothing happens
    assert_eq!(model.n_users(), 11);

    let mut bad = ArraySet::new();
    bad.insert_f32("user_factors", vec![0.0; 16].into());
    bad.insert_f32("item_factors", vec![0.0; 16].into());
    bad.insert_f32("item_bias", vec![0.0; 3].into());
    assert!(BprModel::from_arrays(small_config(), &mut bad).is_err());
}

#[test]
fn training_is_identical_with_one_or_two_threads() {
    let m = clustered(300, 200, 5, 11);
    let cfg = BprConfig { iterations: 5, ..small_config() };
    let run = |threads| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let model = pool.install(|| fit(&m, &cfg));
        (model.user_factors.to_vec(), model.item_factors.to_vec(), model.item_bias.to_vec())
    };
    let one = run(1);
    assert!(one == run(2));
    let other_seed =
        BprModel::fit(&cfg, &m, &FitOptions { seed: 7, ..FitOptions::default() }).unwrap();
    assert!(other_seed.item_factors.to_vec() != one.1, "the seed matters");
}

#[test]
fn reports_epochs_and_can_be_cancelled() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    struct Count(AtomicUsize, usize);
    impl TrainingObserver for Count {
        fn on_epoch(&self, epoch: usize, loss: Option<f64>) {
            assert!(loss.is_some_and(|l| l.is_finite() && l > 0.0));
            self.0.store(epoch, Ordering::SeqCst);
        }
        fn is_cancelled(&self) -> bool {
            self.0.load(Ordering::SeqCst) >= self.1
        }
    }
    let m = clustered(20, 20, 2, 1);
    let obs = Count(AtomicUsize::new(0), 100);
    let cfg = BprConfig { iterations: 4, ..small_config() };
    BprModel::fit(&cfg, &m, &FitOptions { observer: &obs, ..FitOptions::default() }).unwrap();
    assert_eq!(obs.0.load(Ordering::SeqCst), 4);
    let obs = Count(AtomicUsize::new(0), 2);
    let r = BprModel::fit(&cfg, &m, &FitOptions { observer: &obs, ..FitOptions::default() });
    assert!(matches!(r, Err(Error::Cancelled)));
    assert_eq!(obs.0.load(Ordering::SeqCst), 2);
}

#[test]
fn spec_validation() {
    let parse = |s: &str| ModelConfig::from_spec(&ModelSpec::parse(s).unwrap());
    assert_eq!(
        parse("bpr:factors=32,learning_rate=0.1,regularization=0.001,iterations=10").unwrap(),
        ModelConfig::Bpr(BprConfig {
            factors: 32,
            learning_rate: 0.1,
            regularization: 0.001,
            iterations: 10
        })
    );
    assert_eq!(parse("bpr").unwrap(), ModelConfig::Bpr(BprConfig::default()));
    assert!(parse("bpr:factors=0").is_err());
    assert!(parse("bpr:learning_rate=0").is_err());
    assert!(parse("bpr:regularization=-1").is_err());
    assert!(parse("bpr:iterations=0").is_err());
    assert!(parse("bpr:epochs=3").is_err());
}

#[test]
fn a_catalogue_smaller_than_the_blocks_still_trains() {
    // 8 items < MIN_BLOCK: one stratum, negatives drawn from the whole catalogue.
    // Without training (every block too small to draw a negative) about half would be right.
    let m = clustered(200, 8, 2, 9);
    let model = fit(&m, &BprConfig { learning_rate: 0.1, iterations: 100, ..small_config() });
    let mut scores = vec![0f32; 8];
    let (mut right, mut asked) = (0, 0);
    for u in 0..200u32 {
        let row = m.row(u as usize);
        if row.len() == 4 {
            continue; // nothing of the user's own cluster left to recommend
        }
        model.score(&Query { user: Some(u), items: row.indices, weights: row.values }, &mut scores);
        let best = top_n(&scores, 1, row.indices)[0];
        asked += 1;
        right += usize::from(best.item / 4 == u % 2);
    }
    assert!(right * 100 >= asked * 95, "{right} of {asked} users got their own cluster");
}
