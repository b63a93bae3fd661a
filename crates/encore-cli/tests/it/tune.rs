//! `encore tune`: the JSON report, a pick that `train` and `evaluate` take as is, the table, and
//! bad input with exit code 2.

use crate::common::{arg, clustered_tsv, encore, encore_ok, json, shared_split};

#[test]
fn json_pick_is_a_spec_train_and_evaluate_accept() {
    let dir = tempfile::tempdir().unwrap();
    let data = clustered_tsv(dir.path());
    let run = encore(&[
        "tune",
        "--train",
        arg(&data),
        "--budget-seconds",
        "3",
        "--models",
        "ials,itemknn,popularity",
        "--json",
    ]);
    assert!(run.success(), "{}", run.stderr);
    assert!(run.stderr.is_empty(), "--json is quiet on stderr: {}", run.stderr);
    let report = json(&run.stdout);
    let best = &report["best"];
    let spec = best["model"].as_str().unwrap();
    assert!(best["validation"]["ndcg@10"].as_f64().unwrap() > 0.0, "{best}");
    assert!(best["train_seconds"].as_f64().unwrap() >= 0.0);
    assert!(best["peak_memory_bytes"].as_u64().unwrap() > 0);
    let trials = report["trials"].as_array().unwrap();
    assert!(trials.len() >= 3, "{report}");
    // Every requested algorithm has its defaults tried.
    for name in ["ials", "itemknn", "popularity"] {
        assert!(trials.iter().any(|t| t["model"].as_str().unwrap().starts_with(name)), "{name}");
    }
    let top = trials.iter().filter_map(|t| t["validation"]["ndcg@10"].as_f64()).fold(0.0, f64::max);
    assert_eq!(best["validation"]["ndcg@10"].as_f64().unwrap(), top);

    let model = dir.path().join("model.enc");
    encore_ok(&["train", "--input", arg(&data), "--model", spec, "--output", arg(&model)]);
    let eval = json(&encore_ok(&["evaluate", "--input", arg(&data), "--model", spec, "--json"]));
    assert_eq!(eval["results"][0]["model"], spec);
}

#[test]
fn table_lists_trials_and_the_pick() {
    let dir = tempfile::tempdir().unwrap();
    let data = clustered_tsv(dir.path());
    let out = encore_ok(&[
        "tune",
        "--train",
        arg(&data),
        "--budget-seconds",
        "2",
        "--models",
        "itemknn,popularity",
        "--metric",
        "recall@5",
    ]);
    assert!(out.contains("rec@5") && out.contains("µs/req"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("pick: ")), "{out}");
    assert!(out.contains("popularity") && out.contains("itemknn"), "{out}");
}

#[test]
fn bad_input_fails_with_exit_code_2_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = dir.path().join("tiny.tsv");
    std::fs::write(&tiny, "u1\ti1\t1\nu1\ti2\t1\nu2\ti1\t3\n").unwrap();
    let run = encore(&["tune", "--train", arg(&tiny), "--budget-seconds", "5"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("too little data"), "{}", run.stderr);

    // EASE on Last.fm's 17,632 items needs far more than 2 seconds.
    let lastfm = shared_split("lastfm-2k").join("train.tsv");
    let run =
        encore(&["tune", "--train", arg(&lastfm), "--budget-seconds", "2", "--models", "ease"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("it needs at least"), "{}", run.stderr);

    let data = clustered_tsv(dir.path());
    for bad in [["--models", "ials,svd"], ["--metric", "auc@10"]] {
        let run = encore(&["tune", "--train", arg(&data), bad[0], bad[1]]);
        assert_eq!(run.code, Some(2), "{bad:?}: {}", run.stderr);
        assert!(
            run.stderr.contains(bad[1].split(',').next_back().unwrap().split('@').next().unwrap()),
            "{}",
            run.stderr
        );
    }
}
