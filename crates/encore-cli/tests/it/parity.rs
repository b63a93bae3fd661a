//! Encore's evaluator against the reference `eval.py` on the shared ml-100k split: the lists
//! written by `--write-recs`, scored by eval.py, must give Encore's own figures to 4 decimals.

use std::process::Command;

use crate::common::{arg, encore_ok, eval_py, json, shared_split};

fn python3_available() -> bool {
    Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success())
}

#[test]
fn write_recs_agree_with_eval_py_on_ml_100k() {
    if !python3_available() {
        eprintln!("SKIPPED write_recs_agree_with_eval_py_on_ml_100k: python3 is not installed");
        return;
    }
    let split = shared_split("ml-100k");
    let (train, test) = (split.join("train.tsv"), split.join("test.tsv"));
    assert!(train.exists(), "the shared split {} is missing", train.display());
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("recs.tsv");
    let report = json(&encore_ok(&[
        "evaluate",
        "--train",
        arg(&train),
        "--test",
        arg(&test),
        "--model",
        "itemknn",
        "--model",
        "popularity",
        "--json",
        "--write-recs",
        arg(&base),
    ]));
    let pairs = [
        ("precision@10", "P@10"),
        ("recall@10", "R@10"),
        ("ndcg@10", "NDCG@10"),
        ("map@10", "MAP@10"),
        ("hr@10", "HR@10"),
        ("coverage@10", "coverage@10"),
    ];
    for (i, model) in ["itemknn", "popularity"].iter().enumerate() {
        let recs = dir.path().join(format!("recs.{model}.tsv"));
        let out = Command::new("python3")
            .arg(eval_py())
            .args([arg(&test), arg(&recs), "--train", arg(&train), "--json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "eval.py failed: {}", String::from_utf8_lossy(&out.stderr));
        let reference = json(&String::from_utf8(out.stdout).unwrap());
        let ours = &report["results"][i];
        assert_eq!(ours["model"], *model);
        assert_eq!(reference["train_items_in_recs"], 0);
        assert_eq!(ours["evaluated_users"], reference["eval_users"]);
        assert_eq!(reference["eval_users"], 943);
        for (encore_name, eval_py_name) in pairs {
            let a = ours["metrics"][encore_name].as_f64().unwrap();
            let b = reference[eval_py_name].as_f64().unwrap();
            assert!((a - b).abs() < 5e-5, "{model} {encore_name}: encore {a} vs eval.py {b}");
        }
    }
}
