use super::*;
use crate::models::test_support::random_matrix;
use crate::models::{Model, ModelConfig, ModelSpec};
use crate::progress::TrainingObserver;

/// Inverse by naive Gauss-Jordan elimination with partial pivoting (the test's oracle).
fn gauss_jordan_inverse(a: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let n = a.len();
    let mut m: Vec<Vec<f64>> = a
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let mut r = row.clone();
            r.extend((0..n).map(|j| if i == j { 1.0 } else { 0.0 }));
            r
        })
        .collect();
    for col in 0..n {
        let piv = (col..n).max_by(|&x, &y| m[x][col].abs().total_cmp(&m[y][col].abs())).unwrap();
        m.swap(col, piv);
        let d = m[col][col];
        for v in m[col].iter_mut() {
            *v /= d;
        }
        for r in 0..n {
            if r != col {
                let f = m[r][col];
                let pivot_row = m[col].clone();
                for (v, p) in m[r].iter_mut().zip(pivot_row) {
                    *v -= f * p;
                }
            }
        }
    }
    m.into_iter().map(|r| r[n..].to_vec()).collect()
}

fn brute_force_b(
    x: &InteractionMatrix,
    lambda: f64,
    dropout: f64,
    weighting: EaseWeighting,
) -> Vec<Vec<f64>> {
    let f = |v: f32| match weighting {
        EaseWeighting::Binary => 1.0,
        EaseWeighting::Raw => v as f64,
        EaseWeighting::Log => (1.0 + v as f64).ln(),
    };
    let n = x.n_cols();
    let mut g = vec![vec![0f64; n]; n];
    for row in x.rows() {
        for (i, vi) in row.iter() {
            for (j, vj) in row.iter() {
                let (vi, vj) = (f(vi), f(vj));
                g[i as usize][j as usize] += vi * vj;
            }
        }
    }
    for (i, r) in g.iter_mut().enumerate() {
        r[i] += lambda + dropout / (1.0 - dropout) * r[i];
    }
    let p = gauss_jordan_inverse(&g);
    (0..n)
        .map(|j| (0..n).map(|i| if i == j { 0.0 } else { -p[j][i] / p[i][i] }).collect())
        .collect()
}

fn fit(x: &InteractionMatrix, lambda: f64, weighting: EaseWeighting) -> EaseModel {
    let cfg = EaseConfig { lambda, dropout: 0.0, weighting };
    EaseModel::fit(&cfg, x, &FitOptions::default()).unwrap()
}

#[test]
fn matches_gauss_jordan_solution_and_has_zero_diagonal() {
    let x = random_matrix(40, 12, 0.3, 7);
    for (lambda, dropout, weighting) in [
        (2.0, 0.0, EaseWeighting::Binary),
        (5.0, 0.0, EaseWeighting::Raw),
        (0.5, 0.0, EaseWeighting::Log),
        (1.0, 0.3, EaseWeighting::Log),
    ] {
        let cfg = EaseConfig { lambda, dropout, weighting };
        let model = EaseModel::fit(&cfg, &x, &FitOptions::default()).unwrap();
        let want = brute_force_b(&x, lambda, dropout, weighting);
        for j in 0..12u32 {
            assert_eq!(model.weight(j, j), 0.0);
            for i in 0..12u32 {
                let (got, exp) = (model.weight(j, i) as f64, want[j as usize][i as usize]);
                assert!((got - exp).abs() < 1e-4, "B[{j}][{i}] = {got}, expected {exp}");
            }
        }
    }
}

#[test]
fn scores_are_history_weighted_rows_and_explanations_sum_to_them() {
    let x = random_matrix(30, 10, 0.35, 3);
    let model = fit(&x, 1.0, EaseWeighting::Raw);
    let items = [1u32, 4, 7];
    let weights = [2.0f32, 1.0, 3.0];
    let q = Query::from_history(&items, &weights);
    let mut s = vec![0f32; 10];
    model.score(&q, &mut s);
    for i in 0..10u32 {
        let expected: f32 = items.iter().zip(weights).map(|(&j, w)| w * model.weight(j, i)).sum();
        assert!((s[i as usize] - expected).abs() < 1e-5);
        let e = model.explain(&q, i);
        assert_eq!(e.len(), 3);
        assert!(e.windows(2).all(|w| w[0].contribution >= w[1].contribution));
        let total: f32 = e.iter().map(|c| c.contribution).sum();
        assert!((total - s[i as usize]).abs() < 1e-5, "item {i}: {total} vs {}", s[i as usize]);
    }
    // Binary scoring ignores the weights.
    let bin = fit(&x, 1.0, EaseWeighting::Binary);
    let (mut a, mut b) = (vec![0f32; 10], vec![0f32; 10]);
    bin.score(&q, &mut a);
    bin.score(&Query::from_history(&items, &[1.0; 3]), &mut b);
    assert_eq!(a, b);
}

#[test]
fn similar_items_are_the_top_of_the_items_row() {
    let x = random_matrix(50, 9, 0.4, 11);
    let model = fit(&x, 1.0, EaseWeighting::Binary);
    let sim = model.similar_items(2, 3);
    assert_eq!(sim.len(), 3);
    assert!(sim.iter().all(|s| s.item != 2));
    let mut row: Vec<(u32, f32)> =
        (0..9).filter(|&i| i != 2).map(|i| (i, model.weight(2, i))).collect();
    row.sort_by(|a, b| b.1.total_cmp(&a.1));
    assert_eq!(sim.iter().map(|s| s.item).collect::<Vec<_>>(), vec![row[0].0, row[1].0, row[2].0]);
    assert!(model.similar_items(99, 3).is_empty());
}

#[test]
fn refuses_before_allocating_when_over_the_memory_limit() {
    // 2,000,000 items would need 64 TB: if the check came after allocation the test would abort.
    let x = InteractionMatrix::from_triplets(1, 2_000_000, &[0], &[5], &[1.0]).unwrap();
    let opts = FitOptions { memory_limit_bytes: Some(1 << 30), ..FitOptions::default() };
    let err = EaseModel::fit(&EaseConfig::default(), &x, &opts).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::ResourceLimit(_)), "{msg}");
    assert!(msg.contains("64000000000000") && msg.contains("1073741824"), "{msg}");
    assert!(msg.contains("itemknn"), "{msg}");
    // A limit that fits lets a small matrix through.
    let small = random_matrix(10, 5, 0.5, 1);
    let opts = FitOptions { memory_limit_bytes: Some(400), ..FitOptions::default() };
    assert!(EaseModel::fit(&EaseConfig::default(), &small, &opts).is_ok());
    let opts = FitOptions { memory_limit_bytes: Some(399), ..FitOptions::default() };
    assert!(EaseModel::fit(&EaseConfig::default(), &small, &opts).is_err());
}

#[test]
fn a_singular_gram_matrix_without_penalty_is_an_error() {
    // Item 2 has no interactions: with λ = 0 its row of XᵀX is zero.
    let x = InteractionMatrix::from_triplets(2, 3, &[0, 1], &[0, 1], &[1.0, 1.0]).unwrap();
    let cfg = EaseConfig { lambda: 0.0, dropout: 0.0, weighting: EaseWeighting::Binary };
    let err = EaseModel::fit(&cfg, &x, &FitOptions::default()).unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)) && err.to_string().contains("lambda"), "{err}");
    assert!(EaseModel::fit(&EaseConfig { lambda: 1.0, ..cfg }, &x, &FitOptions::default()).is_ok());
}

#[test]
fn arrays_round_trip() {
    let x = random_matrix(20, 8, 0.4, 5);
    let model = fit(&x, 3.0, EaseWeighting::Log);
    let mut set = ArraySet::new();
    for (name, a) in model.arrays() {
        match a {
            ArrayRef::F32(v) => set.insert_f32(name, v.to_vec().into()),
            _ => unreachable!("EASE stores f32 only"),
        }
    }
    let back = EaseModel::from_arrays(model.config().clone(), &mut set).unwrap();
    assert_eq!(back.n_items(), 8);
    assert_eq!(&*back.b, &*model.b);
    let mut bad = ArraySet::new();
    bad.insert_f32("b", vec![0.0; 10].into());
    assert!(EaseModel::from_arrays(EaseConfig::default(), &mut bad).is_err());
}

#[test]
fn training_is_identical_with_one_or_two_threads() {
    let x = random_matrix(300, 400, 0.05, 9);
    let run = |threads| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| fit(&x, 10.0, EaseWeighting::Log)).b.to_vec()
    };
    assert!(run(1) == run(2));
}

#[test]
fn spec_validation_and_cancellation() {
    let cfg = |s: &str| ModelConfig::from_spec(&ModelSpec::parse(s).unwrap());
    assert_eq!(
        cfg("ease:lambda=100,weighting=raw,dropout=0.5").unwrap(),
        ModelConfig::Ease(EaseConfig {
            lambda: 100.0,
            dropout: 0.5,
            weighting: EaseWeighting::Raw
        })
    );
    assert_eq!(cfg("ease").unwrap(), ModelConfig::Ease(EaseConfig::default()));
    assert!(cfg("ease:lambda=-1").is_err());
    assert!(cfg("ease:lambda=abc").is_err());
    assert!(cfg("ease:dropout=1").is_err());
    assert!(cfg("ease:weighting=yes").is_err());
    assert!(cfg("ease:binary=true").is_err());
    assert!(cfg("ease:lamda=1").is_err());

    struct Cancel;
    impl TrainingObserver for Cancel {
        fn is_cancelled(&self) -> bool {
            true
        }
    }
    let x = random_matrix(10, 5, 0.5, 1);
    let opts = FitOptions { observer: &Cancel, ..FitOptions::default() };
    assert!(matches!(EaseModel::fit(&EaseConfig::default(), &x, &opts), Err(Error::Cancelled)));
    let m = ModelConfig::Ease(EaseConfig::default()).fit(&x, &FitOptions::default()).unwrap();
    assert!(matches!(m, Model::Ease(_)));
}
