//! `encore evaluate`: the JSON report, the table, holdout splits and `--write-recs`.

use crate::common::{arg, clustered_tsv, encore, encore_ok, json};

const METRICS: [&str; 6] = ["ndcg@5", "precision@5", "recall@5", "map@5", "hr@5", "coverage@5"];

#[test]
fn json_report_has_one_result_per_model() {
    let dir = tempfile::tempdir().unwrap();
    let data = clustered_tsv(dir.path());
    let run = encore(&[
        "evaluate",
        "--input",
        arg(&data),
        "--model",
        "popularity",
        "--model",
        "itemknn",
        "-k",
        "5",
        "--json",
    ]);
    assert!(run.success(), "{}", run.stderr);
    assert!(run.stderr.is_empty(), "--json is quiet on stderr: {}", run.stderr);
    let report = json(&run.stdout);
    assert_eq!(report["k"], 5);
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["model"], "popularity");
    assert_eq!(results[1]["model"], "itemknn");
    for r in results {
        for m in METRICS {
            let v = r["metrics"][m].as_f64().unwrap_or_else(|| panic!("{m} missing: {r}"));
            assert!((0.0..=1.0).contains(&v), "{m} = {v}");
        }
        assert!(r["train_seconds"].as_f64().unwrap() >= 0.0);
        assert!(r["model_size_bytes"].as_u64().unwrap() > 0);
        assert!(r["peak_memory_bytes"].as_u64().unwrap() > 0);
        // 60 users with 9 items each, all of them with ≥ 5 items: all are evaluated.
        assert_eq!(r["evaluated_users"], 60);
    }
    // Clustered data: item-kNN must beat popularity clearly.
    let ndcg = |i: usize| results[i]["metrics"]["ndcg@5"].as_f64().unwrap();
    assert!(ndcg(1) > ndcg(0) + 0.1, "itemknn {} vs popularity {}", ndcg(1), ndcg(0));
}

#[test]
fn the_same_seed_gives_the_same_figures() {
    let dir = tempfile::tempdir().unwrap();
    let data = clustered_tsv(dir.path());
    let metrics = |seed: &str| {
        let out = encore_ok(&[
            "evaluate",
            "--input",
            arg(&data),
            "--model",
            "ials:factors=8",
            "--seed",
            seed,
            "--json",
        ]);
        json(&out)["results"][0]["metrics"].clone()
    };
    assert_eq!(metrics("1"), metrics("1"));
    assert_ne!(metrics("1"), metrics("2"));
}

#[test]
fn table_lists_every_default_model() {
    let dir = tempfile::tempdir().unwrap();
    let data = clustered_tsv(dir.path());
    let table = encore_ok(&["evaluate", "--input", arg(&data)]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("model") && lines[0].contains("ndcg@10"), "{table}");
    for (line, model) in lines[1..6].iter().zip(["ials", "bpr", "ease", "itemknn", "popularity"]) {
        assert!(line.starts_with(model), "{table}");
    }
}

#[test]
fn write_recs_writes_one_file_per_model_in_eval_py_format() {
    let dir = tempfile::tempdir().unwrap();
    let data = clustered_tsv(dir.path());
    let base = dir.path().join("recs.tsv");
    encore_ok(&[
        "evaluate",
        "--input",
        arg(&data),
        "--model",
        "popularity",
        "--model",
        "ease:lambda=50",
        "-k",
        "3",
        "--write-recs",
        arg(&base),
    ]);
    for name in ["recs.popularity.tsv", "recs.ease_lambda_50.tsv"] {
        let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
        let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
        assert_eq!(rows.len(), 60 * 3, "{name}");
        assert_eq!(rows[0].len(), 3);
        assert_eq!(rows[0][1], "1");
        assert_eq!(rows[2][1], "3");
        assert!(rows[0][0].starts_with('u') && rows[0][2].starts_with('i'));
    }
    assert!(!base.exists(), "with several models the base name itself is not written");
}

#[test]
fn the_thread_count_does_not_change_the_figures() {
    let dir = tempfile::tempdir().unwrap();
    let data = clustered_tsv(dir.path());
    let metrics = |threads: &str| {
        let out = encore_ok(&[
            "--threads",
            threads,
            "evaluate",
            "--input",
            arg(&data),
            "--model",
            "ials:factors=8",
            "--model",
            "bpr",
            "--json",
        ]);
        let report = json(&out);
        [report["results"][0]["metrics"].clone(), report["results"][1]["metrics"].clone()]
    };
    assert_eq!(metrics("1"), metrics("2"));
}
