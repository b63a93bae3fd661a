use super::solve::{CgScratch, CholeskySystem, FixedSide, Observations, solve_cg};
use super::*;
use crate::models::{ModelConfig, ModelSpec, Params};
use crate::progress::TrainingObserver;
use crate::topk::top_n;
use std::sync::Mutex;

fn lcg(seed: u64) -> impl FnMut() -> f64 {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    move || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Two taste clusters: users of cluster c mostly interact with items of cluster c, with weights
/// 1..=5, plus some noise across clusters.
fn clustered(n_users: usize, n_items: usize, seed: u64) -> InteractionMatrix {
    let mut rnd = lcg(seed);
    let (mut r, mut c, mut v) = (vec![], vec![], vec![]);
    for u in 0..n_users {
        for i in 0..n_items {
            let same = (u % 2) == (i % 2);
            if rnd() < if same { 0.35 } else { 0.04 } {
                r.push(u as u32);
                c.push(i as u32);
                v.push(1.0 + (rnd() * 5.0).floor() as f32);
            }
        }
    }
    InteractionMatrix::from_triplets(n_users, n_items, &r, &c, &v).unwrap()
}

fn config(spec: &str) -> IalsConfig {
    match ModelConfig::from_spec(&ModelSpec::parse(spec).unwrap()).unwrap() {
        ModelConfig::Ials(c) => c,
        _ => unreachable!(),
    }
}

/// Solves a dense system in f64 by Gaussian elimination with partial pivoting.
fn dense_solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for col in 0..n {
        let piv = (col..n).max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs())).unwrap();
        a.swap(col, piv);
        b.swap(col, piv);
        for row in col + 1..n {
            let f = a[row][col] / a[col][col];
            let pivot_row = a[col].clone();
            for (target, source) in a[row][col..].iter_mut().zip(&pivot_row[col..]) {
                *target -= f * source;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|c| a[row][c] * x[c]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    x
}

/// The full iALS objective by brute force over every user × item pair.
fn naive_loss(cfg: &IalsConfig, m: &InteractionMatrix, x: &[f32], y: &[f32]) -> f64 {
    let k = cfg.factors;
    let (nu, ni) = (m.n_rows(), m.n_cols());
    let t = m.transpose();
    let mut loss = 0.0;
    for u in 0..nu {
        let row = m.row(u);
        for i in 0..ni {
            let s: f64 = (0..k).map(|f| f64::from(x[u * k + f]) * f64::from(y[i * k + f])).sum();
            let (c, p) = match row.indices.binary_search(&(i as u32)) {
                Ok(pos) => (1.0 + f64::from(cfg.extra_confidence(row.values[pos])), 1.0),
                Err(_) => (1.0, 0.0),
            };
            loss += c * (p - s) * (p - s);
        }
        let n2: f64 = x[u * k..(u + 1) * k].iter().map(|v| f64::from(*v).powi(2)).sum();
        loss += f64::from(cfg.row_regularization(row.len(), ni)) * n2;
    }
    for i in 0..ni {
        let n2: f64 = y[i * k..(i + 1) * k].iter().map(|v| f64::from(*v).powi(2)).sum();
        loss += f64::from(cfg.row_regularization(t.row_nnz(i), nu)) * n2;
    }
    loss
}

#[test]
fn cg_and_cholesky_solves_match_a_dense_reference() {
    let (k, n_other) = (6, 15);
    let mut rnd = lcg(7);
    let factors: Vec<f32> = (0..n_other * k).map(|_| (rnd() - 0.5) as f32).collect();
    let g = crate::linalg::gram(&factors, k);
    let fixed = FixedSide { factors: &factors, gram: &g, k };
    let indices = [1u32, 4, 5, 9, 14];
    let extra = [0.5f32, 3.0, 0.0, 1.5, 7.0];
    let reg = 0.3f32;
    // Dense A = Σ_all y yᵀ + Σ_obs e y yᵀ + λI, b = Σ_obs (1+e) y, built entry by entry.
    let mut a = vec![vec![0.0f64; k]; k];
    let mut b = vec![0.0f64; k];
    for j in 0..n_other {
        let e = indices.iter().position(|&i| i as usize == j).map_or(0.0, |p| extra[p] as f64);
        let is_obs = indices.contains(&(j as u32));
        for r in 0..k {
            let yr = factors[j * k + r] as f64;
            for c in 0..k {
                a[r][c] += (1.0 + e) * yr * factors[j * k + c] as f64;
            }
            if is_obs {
                b[r] += (1.0 + e) * yr;
            }
        }
    }
    for (d, row) in a.iter_mut().enumerate() {
        row[d] += reg as f64;
    }
    let want = dense_solve(a, b);
    let obs = Observations { indices: &indices, extra: &extra };

    let mut x_cg = vec![0.1f32; k];
    solve_cg(&fixed, obs, reg, 50, &mut x_cg, &mut CgScratch::default());
    let mut x_chol = vec![0.0f32; k];
    CholeskySystem::new(k).solve_row(&fixed, obs, reg, &mut x_chol).unwrap();
    for f in 0..k {
        assert!((x_cg[f] as f64 - want[f]).abs() < 1e-4, "cg {f}: {} vs {}", x_cg[f], want[f]);
        assert!(
            (x_chol[f] as f64 - want[f]).abs() < 1e-4,
            "chol {f}: {} vs {}",
            x_chol[f],
            want[f]
        );
    }
    // Three warm-started steps already get most of the way from a poor start.
    let mut x3 = vec![0.0f32; k];
    solve_cg(&fixed, obs, reg, 3, &mut x3, &mut CgScratch::default());
    let err3: f64 = (0..k).map(|f| (x3[f] as f64 - want[f]).powi(2)).sum();
    let err0: f64 = want.iter().map(|w| w * w).sum();
    assert!(err3 < 0.5 * err0, "{err3} vs {err0}");
}

struct Losses(Mutex<Vec<f64>>);
impl TrainingObserver for Losses {
    fn on_epoch(&self, _epoch: usize, loss: Option<f64>) {
        self.0.lock().unwrap().push(loss.unwrap());
    }
}

#[test]
fn epochs_lower_the_loss_and_the_reported_loss_is_the_objective() {
    let m = clustered(30, 24, 1);
    for solver in ["cg", "cholesky"] {
        let cfg = config(&format!(
            "ials:factors=5,iterations=4,solver={solver},reg_exponent=0.5,unobserved_weight=0.1"
        ));
        let seed = 11;
        let std = (cfg.init_std / (cfg.factors as f64).sqrt()) as f32;
        let x0 = random_factors(30, 5, std, seed, 0);
        let y0 = random_factors(24, 5, std, seed, 1);
        let before = naive_loss(&cfg, &m, x0.as_slice(), y0.as_slice());
        let obs = Losses(Mutex::new(vec![]));
        let opts = FitOptions { seed, observer: &obs, memory_limit_bytes: None };
        let model = IalsModel::fit(&cfg, &m, &opts).unwrap();
        let losses = obs.0.into_inner().unwrap();
        assert_eq!(losses.len(), 4);
        let after = naive_loss(&cfg, &m, &model.user_factors, &model.item_factors);
        // Trained factors stay in the cache-aligned buffers the solver used (no copy).
        assert!(model.user_factors.is_cache_aligned() && model.item_factors.is_cache_aligned());
        let reported = losses[3] * m.nnz() as f64;
        assert!(
            (reported - after).abs() < 1e-3 * after,
            "{solver}: reported {reported}, naive {after}"
        );
        assert!(losses[0] * (m.nnz() as f64) < before, "{solver}: epoch 1 did not lower the loss");
        if solver == "cholesky" {
            // Exact ALS never increases the objective.
            assert!(losses.windows(2).all(|w| w[1] <= w[0] * (1.0 + 1e-5)), "{losses:?}");
        }
    }
}

#[test]
fn learns_the_planted_clusters() {
    let m = clustered(40, 30, 2);
    let model = IalsModel::fit(&config("ials:factors=4,iterations=10"), &m, &FitOptions::default())
        .unwrap();
    let mut scores = vec![0.0; 30];
    let mut in_cluster = 0;
    for u in 0..40u32 {
        model.score(&Query { user: Some(u), items: &[], weights: &[] }, &mut scores);
        let row = m.row(u as usize);
        let best = top_n(&scores, 3, row.indices);
        in_cluster += best.iter().filter(|s| s.item % 2 == u % 2).count();
    }
    // About 42 % of the unseen items are in the cluster; chance would put ~50 of 120 there.
    assert!(in_cluster >= 84, "{in_cluster} of 120 recommendations in the user's cluster");
    let similar = model.similar_items(0, 5);
    assert!(similar.iter().filter(|s| s.item % 2 == 0).count() >= 4, "{similar:?}");
    assert!(similar.iter().all(|s| s.item != 0 && s.score <= 1.0 + 1e-5));
}

#[test]
fn explanation_contributions_sum_to_the_fold_in_score() {
    let m = clustered(20, 16, 3);
    let model =
        IalsModel::fit(&config("ials:factors=6,iterations=5"), &m, &FitOptions::default()).unwrap();
    let items = [0u32, 2, 5, 8, 11];
    let weights = [3.0f32, 1.0, 5.0, 2.0, 1.0];
    let q = Query::from_history(&items, &weights);
    let mut scores = vec![0.0; 16];
    model.score(&q, &mut scores);
    for target in [4u32, 7, 2] {
        let parts = model.explain(&q, target);
        assert_eq!(parts.len(), items.len());
        assert!(parts.windows(2).all(|w| w[0].contribution >= w[1].contribution));
        let sum: f32 = parts.iter().map(|c| c.contribution).sum();
        assert!(
            (sum - scores[target as usize]).abs() < 1e-4,
            "{sum} vs {}",
            scores[target as usize]
        );
    }
    assert!(model.explain(&q, 99).is_empty());
    assert!(model.explain(&Query::from_history(&[], &[]), 3).is_empty());
}

#[test]
fn fold_in_of_a_training_user_matches_a_final_exact_user_half_step() {
    let m = clustered(25, 20, 4);
    let cfg =
        config("ials:factors=5,iterations=6,solver=cholesky,reg_exponent=1,unobserved_weight=0.05");
    let model = IalsModel::fit(&cfg, &m, &FitOptions::default()).unwrap();
    let by_user = m.map_values(|w| cfg.extra_confidence(w));
    let regs: Vec<f32> = (0..25).map(|u| cfg.row_regularization(by_user.row_nnz(u), 20)).collect();
    let mut x = model.user_factors.to_vec();
    let fixed = model.fixed_items();
    half_step(&cfg, &by_user, &regs, &fixed, &mut x);
    for u in [0usize, 7, 24] {
        let row = m.row(u);
        let folded = model.fold_in(row.indices, row.values);
        for f in 0..5 {
            assert!((folded[f] - x[u * 5 + f]).abs() < 1e-4, "user {u} factor {f}");
        }
        // …and the stored factor, one item half-step older, is already close.
        let stored = model.user_factor(u as u32).unwrap();
        let diff: f32 = stored.iter().zip(&folded).map(|(a, b)| (a - b).abs()).sum();
        let size: f32 = folded.iter().map(|a| a.abs()).sum();
        assert!(diff < 0.2 * size, "user {u}: {diff} vs {size}");
    }
    assert_eq!(model.fold_in(&[], &[]), vec![0.0; 5]);
    // Items outside the catalogue are ignored rather than indexed.
    assert_eq!(model.fold_in(&[1000], &[1.0]), vec![0.0; 5]);
}

#[test]
fn training_is_identical_with_one_or_two_threads() {
    let m = clustered(300, 90, 5);
    for solver in ["cg", "cholesky"] {
        let cfg = config(&format!("ials:factors=8,iterations=3,solver={solver}"));
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(|| {
                let obs = Losses(Mutex::new(vec![]));
                let opts = FitOptions { seed: 9, observer: &obs, memory_limit_bytes: None };
                let model = IalsModel::fit(&cfg, &m, &opts).unwrap();
                (model, obs.0.into_inner().unwrap())
            })
        };
        let (a, la) = run(1);
        let (b, lb) = run(2);
        assert_eq!(&*a.user_factors, &*b.user_factors, "{solver}");
        assert_eq!(&*a.item_factors, &*b.item_factors, "{solver}");
        assert_eq!(&*a.item_gram, &*b.item_gram, "{solver}");
        assert_eq!(la, lb, "{solver}");
        let (c, _) = run(2);
        assert_eq!(&*a.item_factors, &*c.item_factors);
    }
}

#[test]
fn spec_validation() {
    let c = config("ials");
    assert_eq!(c, IalsConfig::default());
    let c = config("ials:factors=16,confidence=binary,solver=cholesky,alpha=0,reg_exponent=0");
    assert_eq!((c.factors, c.confidence, c.solver), (16, Confidence::Binary, Solver::Cholesky));
    for bad in [
        "ials:factors=0",
        "ials:factors=5000",
        "ials:iterations=0",
        "ials:regularization=0",
        "ials:regularization=-1",
        "ials:alpha=-1",
        "ials:confidence=square",
        "ials:solver=lu",
        "ials:cg_steps=0",
        "ials:init_std=0",
        "ials:reg_exponent=3",
        "ials:factros=8",
    ] {
        let spec = ModelSpec::parse(bad).unwrap();
        assert!(ModelConfig::from_spec(&spec).is_err(), "{bad} was accepted");
    }
    let mut p = Params::from_pairs([("factors", "x")]);
    assert!(IalsConfig::from_params(&mut p).is_err());
    // The stored form round-trips through JSON.
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(serde_json::from_value::<IalsConfig>(json).unwrap(), c);
}

#[test]
fn confidence_and_regularisation_formulas() {
    let c = config(
        "ials:alpha=2,confidence=log1p,regularization=0.5,reg_exponent=1,unobserved_weight=0.1",
    );
    assert!((c.extra_confidence(3.0) - 2.0 * 4f32.ln()).abs() < 1e-6);
    assert_eq!(c.extra_confidence(-2.0), 0.0);
    assert!((c.row_regularization(10, 100) - 0.5 * 20.0).abs() < 1e-5);
    let c = config("ials:alpha=3,confidence=identity,regularization=2,reg_exponent=0");
    assert_eq!(c.extra_confidence(4.0), 12.0);
    assert_eq!(c.row_regularization(10, 100), 2.0);
    assert_eq!(config("ials:alpha=3,confidence=binary").extra_confidence(9.0), 3.0);
}

#[test]
fn arrays_round_trip_and_remove_user() {
    let m = clustered(12, 10, 6);
    let cfg = config("ials:factors=3,iterations=2");
    let model = IalsModel::fit(&cfg, &m, &FitOptions::default()).unwrap();
    let mut set = ArraySet::new();
    for (name, a) in model.arrays() {
        match a {
            ArrayRef::F32(v) => set.insert_f32(name, v.to_vec().into()),
            _ => unreachable!(),
        }
    }
    let back = IalsModel::from_arrays(cfg.clone(), &mut set).unwrap();
    assert_eq!((back.n_users(), back.n_items()), (12, 10));
    let (mut s1, mut s2) = (vec![0.0; 10], vec![0.0; 10]);
    for q in [
        Query { user: Some(3), items: &[], weights: &[] },
        Query::from_history(&[1, 4], &[2.0, 1.0]),
    ] {
        model.score(&q, &mut s1);
        back.score(&q, &mut s2);
        assert_eq!(s1, s2);
    }
    assert_eq!(model.similar_items(2, 4), back.similar_items(2, 4));

    let mut bad = ArraySet::new();
    bad.insert_f32("user_factors", vec![0.0; 7].into());
    bad.insert_f32("item_factors", vec![0.0; 9].into());
    bad.insert_f32("item_gram", vec![0.0; 9].into());
    assert!(IalsModel::from_arrays(cfg.clone(), &mut bad).is_err());
    assert!(IalsModel::from_arrays(cfg, &mut ArraySet::new()).is_err());

    let mut erased = model.clone();
    erased.remove_user(4);
    assert_eq!(erased.n_users(), 11);
    assert_eq!(erased.user_factor(3), model.user_factor(3));
    assert_eq!(erased.user_factor(4), model.user_factor(5));
    assert_eq!(erased.user_factor(10), model.user_factor(11));
    assert_eq!(erased.user_factor(11), None);
    erased.remove_user(99);
    assert_eq!(erased.n_users(), 11);
    // A user row that no longer exists is scored from its history instead of panicking.
    erased.score(&Query { user: Some(50), items: &[1], weights: &[1.0] }, &mut s1);
    assert!(s1.iter().all(|s| s.is_finite()));
}

#[test]
fn memory_limit_and_cancellation_are_honoured() {
    let m = clustered(10, 10, 8);
    let opts = FitOptions {
        seed: 1,
        observer: &crate::progress::NoProgress,
        memory_limit_bytes: Some(100),
    };
    assert!(matches!(
        IalsModel::fit(&IalsConfig::default(), &m, &opts),
        Err(crate::Error::ResourceLimit(_))
    ));
    struct Cancel;
    impl TrainingObserver for Cancel {
        fn is_cancelled(&self) -> bool {
            true
        }
    }
    let opts = FitOptions { seed: 1, observer: &Cancel, memory_limit_bytes: None };
    assert!(matches!(
        IalsModel::fit(&IalsConfig::default(), &m, &opts),
        Err(crate::Error::Cancelled)
    ));
}

#[test]
fn a_checkpoint_is_the_model_of_that_many_epochs_and_can_stop_training() {
    let m = clustered(40, 30, 11);
    let cfg = config("ials:factors=4,iterations=6");
    let opts = FitOptions::default();
    let mut seen = Vec::new();
    let last = IalsModel::fit_with_checkpoints(&cfg, &m, &opts, &[2, 4], &mut |model| {
        seen.push(model);
        true
    })
    .unwrap();
    assert_eq!(seen.iter().map(|s| s.config().iterations).collect::<Vec<_>>(), vec![2, 4]);
    assert_eq!(last.config().iterations, 6);
    let direct = IalsModel::fit(&config("ials:factors=4,iterations=4"), &m, &opts).unwrap();
    assert_eq!(seen[1].item_factor(3), direct.item_factor(3));
    assert_eq!(seen[1].user_factor(5), direct.user_factor(5));
    // Returning false stops there, with that epoch's model.
    let stopped =
        IalsModel::fit_with_checkpoints(&cfg, &m, &opts, &[2, 4], &mut |_| false).unwrap();
    assert_eq!(stopped.config().iterations, 2);
    assert_eq!(stopped.item_factor(0), seen[0].item_factor(0));
}
