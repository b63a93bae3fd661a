use std::time::{Duration, Instant};

use super::*;
use crate::models::test_support::xorshift;

/// Users in 4 taste groups, each mostly interacting with its own quarter of the items, so that
/// models have something to learn and settings rank differently.
fn clustered(users: usize, items: usize, per_user: usize, seed: u64) -> InteractionMatrix {
    let mut next = xorshift(seed);
    let (mut r, mut c, mut v) = (vec![], vec![], vec![]);
    let block = items / 4;
    for u in 0..users {
        let group = u % 4;
        for _ in 0..per_user {
            let item = if next().is_multiple_of(5) {
                next() as usize % items
            } else {
                group * block + (next() as usize % block)
            };
            r.push(u as u32);
            c.push(item as u32);
            v.push((next() % 9 + 1) as f32);
        }
    }
    InteractionMatrix::from_triplets(users, items, &r, &c, &v).unwrap()
}

fn options(trials: usize) -> TuneOptions {
    TuneOptions { max_trials: Some(trials), ..TuneOptions::new(Duration::from_secs(600)) }
}

#[test]
fn validation_split_holds_out_rows_the_fitting_part_never_sees() {
    let m = clustered(200, 120, 20, 1);
    let (fit, validation) = validation_split(&m, 42).unwrap();
    let mut held = 0;
    for (user, items) in &validation.lists {
        let row = fit.row(*user as usize);
        for item in items {
            assert!(!row.indices.contains(item), "user {user} item {item} in both parts");
            assert!(m.row(*user as usize).indices.contains(item));
        }
        held += items.len();
    }
    assert!(held > 0);
    assert_eq!(fit.nnz() + held, m.nnz());
}

#[test]
fn too_small_a_file_is_refused_with_the_reason() {
    // Every user has 3 items: nobody reaches the 5 the protocol needs to hold anything out.
    let m = clustered(50, 40, 3, 2);
    let m = InteractionMatrix::from_triplets(
        m.n_rows(),
        m.n_cols(),
        &(0..50u32).flat_map(|u| [u; 3]).collect::<Vec<_>>(),
        &(0..50u32).flat_map(|u| [u % 40, (u + 1) % 40, (u + 2) % 40]).collect::<Vec<_>>(),
        &[1.0; 150],
    )
    .unwrap();
    let err = tune(&m, &options(3), &NoTuneProgress).unwrap_err().to_string();
    assert!(err.contains("too little data") && err.contains("at least 5"), "{err}");
}

#[test]
fn a_budget_below_one_trial_per_model_names_the_minimum() {
    let m = clustered(400, 300, 30, 3);
    let opts = TuneOptions::new(Duration::from_millis(1));
    let err = tune(&m, &opts, &NoTuneProgress).unwrap_err().to_string();
    let (fit, _) = validation_split(&m, 42).unwrap();
    let minimum = minimum_budget_seconds(&opts.algorithms, &DataShape::of(&fit));
    assert!(err.contains(&format!("at least {minimum} s")), "{err}");
}

#[test]
fn is_deterministic_for_a_seed() {
    let m = clustered(300, 200, 25, 4);
    let a = tune(&m, &options(14), &NoTuneProgress).unwrap();
    let b = tune(&m, &options(14), &NoTuneProgress).unwrap();
    let key = |r: &TuneReport| -> Vec<(String, Option<f64>)> {
        r.trials.iter().map(|t| (t.model.clone(), t.score)).collect()
    };
    assert_eq!(a.trials.len(), 14);
    assert_eq!(key(&a), key(&b));
    assert_eq!(a.best, b.best);
    let c = tune(&m, &TuneOptions { seed: 7, ..options(14) }, &NoTuneProgress).unwrap();
    assert_ne!(key(&a), key(&c));
}

#[test]
fn stops_in_time_and_returns_the_best_finished_trial() {
    let m = clustered(3000, 1500, 40, 5);
    let budget = Duration::from_secs(3);
    let opts = TuneOptions { max_trials: None, ..TuneOptions::new(budget) };
    let start = Instant::now();
    let report = tune(&m, &opts, &NoTuneProgress).unwrap();
    let took = start.elapsed();
    // A fit polls the deadline between epochs; one epoch and one ranking here take well under a
    // second, so the overrun is bounded by that.
    assert!(took < budget + Duration::from_millis(1500), "took {took:?}");
    let best = report.best_trial().expect("a finished trial");
    let top = report.trials.iter().filter_map(|t| t.score).fold(f64::MIN, f64::max);
    assert_eq!(best.score, Some(top));
    assert!(report.trials.len() >= 2, "only {} trials", report.trials.len());
}

#[test]
fn the_pick_meets_the_cost_limits() {
    let m = clustered(300, 200, 25, 6);
    let (fit, _) = validation_split(&m, 42).unwrap();
    let shape = DataShape::of(&fit);
    // Room for iALS up to 64 factors, not for EASE's item × item matrices.
    let limit = shape.ials_bytes(64).max(shape.nnz as u64 * 16);
    assert!(limit < crate::models::ease::EaseConfig::training_bytes(shape.n_items));
    let opts = TuneOptions { max_memory_bytes: Some(limit), ..options(12) };
    let report = tune(&m, &opts, &NoTuneProgress).unwrap();
    assert!(report.notes.iter().any(|n| n.starts_with("ease skipped")), "{:?}", report.notes);
    assert!(report.trials.iter().all(|t| t.algorithm != Algorithm::Ease));
    let best = report.best_trial().unwrap();
    assert!(best.meets_limits && best.peak_memory_bytes <= limit);
    for t in &report.trials {
        if t.algorithm == Algorithm::Ials {
            let f: usize = ModelSpecFactors::of(&t.model);
            assert!(f <= 64, "{}", t.model);
        }
    }
    // No trial trains in zero seconds, so none qualifies and there is no pick.
    let none = TuneOptions { max_train_seconds: Some(0.0), ..options(4) };
    let report = tune(&m, &none, &NoTuneProgress).unwrap();
    assert!(report.trials.iter().any(|t| t.score.is_some()));
    assert!(report.best.is_none());
}

#[test]
fn best_spec_trains_as_is_and_iterations_come_from_monitoring() {
    let m = clustered(300, 200, 25, 8);
    let opts = TuneOptions { algorithms: vec![Algorithm::Ials], ..options(4) };
    let report = tune(&m, &opts, &NoTuneProgress).unwrap();
    for t in &report.trials {
        let spec = crate::models::ModelSpec::parse(&t.model).unwrap();
        crate::models::ModelConfig::from_spec(&spec).unwrap();
        assert!(t.model.contains("iterations="), "{}", t.model);
    }
    let json = report.to_json();
    assert_eq!(json["best"]["model"], serde_json::json!(report.best_trial().unwrap().model));
    assert!(json["best"]["validation"]["ndcg@10"].is_number());
}

#[test]
fn parses_objectives_and_rejects_unknown_ones() {
    assert_eq!(Objective::parse("ndcg@10").unwrap().to_string(), "ndcg@10");
    assert_eq!(Objective::parse("recall@20").unwrap().k, 20);
    assert_eq!(Objective::parse("map").unwrap().to_string(), "map@10");
    for bad in ["auc", "ndcg@0", "ndcg@x", "coverage@10"] {
        assert!(Objective::parse(bad).is_err(), "{bad}");
    }
}

/// Reads `factors=` of an iALS spec (64, the default, when absent).
struct ModelSpecFactors;
impl ModelSpecFactors {
    fn of(spec: &str) -> usize {
        spec.split([':', ','])
            .find_map(|p| p.strip_prefix("factors="))
            .map_or(64, |f| f.parse().unwrap())
    }
}
