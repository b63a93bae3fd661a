//! Bad input gives a clear message and a non-zero exit code, never a panic.

use crate::common::{Run, arg, clustered_tsv, encore, encore_ok};

fn assert_clean_failure(run: &Run, expected: &[&str]) {
    assert!(!run.success(), "should fail; stdout:\n{}", run.stdout);
    // Informational notes may come first; the error is one line starting with `error: `.
    assert!(run.stderr.lines().any(|l| l.starts_with("error: ")), "stderr: {}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "stderr: {}", run.stderr);
    for e in expected {
        assert!(run.stderr.contains(e), "stderr lacks `{e}`: {}", run.stderr);
    }
}

#[test]
fn a_malformed_line_is_reported_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.tsv");
    std::fs::write(&path, "u1\ti1\t1\nu1\ti2\t2\nu2\ti1\tlots\nu2\ti3\t1\n").unwrap();
    let out = dir.path().join("m.enc");
    let run = encore(&["train", "--input", arg(&path), "--output", arg(&out)]);
    assert_clean_failure(&run, &["bad.tsv:3"]);
    assert_eq!(run.code, Some(1));
    assert!(!out.exists());
}

#[test]
fn a_negative_weight_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("neg.tsv");
    std::fs::write(&path, "u1\ti1\t1\nu1\ti2\t-2\n").unwrap();
    let run = encore(&["evaluate", "--input", arg(&path), "--model", "popularity"]);
    assert_clean_failure(&run, &["neg.tsv:2", "negative"]);
}

#[test]
fn an_unknown_model_spec_fails_before_reading_data() {
    for spec in ["svd", "ials:factros=3", "ials:factors=0", "ease:lambda"] {
        let run = encore(&[
            "evaluate",
            "--input",
            "/nonexistent/file.tsv",
            "--model",
            "popularity",
            "--model",
            spec,
        ]);
        assert_clean_failure(&run, &[spec.split(':').next().unwrap()]);
        assert!(!run.stderr.contains("nonexistent"), "the spec is checked first: {}", run.stderr);
    }
}

#[test]
fn a_truncated_or_corrupted_model_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = clustered_tsv(dir.path());
    let model = dir.path().join("m.enc");
    encore_ok(&["train", "--input", arg(&data), "--model", "itemknn", "--output", arg(&model)]);
    let bytes = std::fs::read(&model).unwrap();

    let truncated = dir.path().join("truncated.enc");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let run = encore(&["recommend", "--model", arg(&truncated), "--user", "u1"]);
    assert_clean_failure(&run, &["truncated.enc"]);

    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    let corrupted = dir.path().join("corrupted.enc");
    std::fs::write(&corrupted, &flipped).unwrap();
    let run = encore(&["similar", "--model", arg(&corrupted), "--item", "i1"]);
    assert_clean_failure(&run, &["corrupted.enc"]);

    let not_a_model = dir.path().join("plays.tsv");
    let run = encore(&["similar", "--model", arg(&not_a_model), "--item", "i1"]);
    assert_clean_failure(&run, &["plays.tsv"]);
}

#[test]
fn unknown_users_and_items_exit_with_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let data = clustered_tsv(dir.path());
    let model = dir.path().join("m.enc");
    encore_ok(&["train", "--input", arg(&data), "--model", "popularity", "--output", arg(&model)]);
    let run = encore(&["recommend", "--model", arg(&model), "--user", "stranger"]);
    assert_clean_failure(&run, &["unknown user `stranger`"]);
    assert_eq!(run.code, Some(2));
    let run = encore(&["similar", "--model", arg(&model), "--item", "i999"]);
    assert_clean_failure(&run, &["unknown item `i999`"]);
    assert_eq!(run.code, Some(2));
    let run = encore(&["recommend", "--model", arg(&model), "--history", "x,y"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
}

#[test]
fn missing_files_and_bad_options_fail_clearly() {
    let run =
        encore(&["evaluate", "--train", "/nonexistent/train.tsv", "--test", "/nonexistent/t"]);
    assert_clean_failure(&run, &["/nonexistent/train.tsv"]);
    // Usage errors come from clap (exit code 2).
    let run = encore(&["evaluate", "--train", "a.tsv"]);
    assert_eq!(run.code, Some(2));
    let run = encore(&["evaluate", "--input", "a.tsv", "--memory-limit", "lots"]);
    assert_eq!(run.code, Some(2));
    let dir = tempfile::tempdir().unwrap();
    let data = clustered_tsv(dir.path());
    for fraction in ["1.5", "0", "abc"] {
        let run = encore(&["evaluate", "--input", arg(&data), "--holdout", fraction]);
        assert_eq!(run.code, Some(2), "{}", run.stderr);
        assert!(run.stderr.contains("--holdout"), "{}", run.stderr);
    }
}

#[test]
fn a_catalog_name_the_api_refuses_is_refused_before_anything_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let data = clustered_tsv(dir.path());
    let items = dir.path().join("items.csv");
    std::fs::write(&items, "item_id,title,kind,tags\ni1,One,track,rock\n").unwrap();
    let data_dir = dir.path().join("data");
    // `POST /v1/catalogs` refuses upper case and '.', so every command taking a catalog does too,
    // as bad usage (exit code 2), without creating the data directory.
    for bad in ["Music.v2", "music.v2", "Music", "-music", ""] {
        let catalog = format!("--catalog={bad}");
        let dir = arg(&data_dir);
        let runs = [
            encore(&["import", "--data-dir", dir, &catalog, arg(&data)]),
            encore(&["import-items", "--data-dir", dir, &catalog, arg(&items)]),
            encore(&["keys", "create", "--data-dir", dir, "--role", "reader", &catalog]),
        ];
        for run in &runs {
            assert_clean_failure(run, &["--catalog", "a-z, 0-9, '_' and '-'"]);
            assert_eq!(run.code, Some(2), "{bad}: {}", run.stderr);
            assert!(!data_dir.exists(), "{bad}: the data directory was created");
        }
    }
    // The name the API accepts works on the command line.
    encore_ok(&["import", "--data-dir", arg(&data_dir), "--catalog", "music-v2", arg(&data)]);
    encore_ok(&[
        "import-items",
        "--data-dir",
        arg(&data_dir),
        "--catalog",
        "music-v2",
        arg(&items),
    ]);
}

#[test]
fn a_bad_replica_name_is_refused_before_anything_opens() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["", "   ", "web\u{7}1", &"x".repeat(101)] {
        let run = encore(&[
            "serve",
            "--data-dir",
            arg(dir.path()),
            "--database",
            "postgres://root@127.0.0.1:9/never",
            "--replica-name",
            name,
        ]);
        assert_clean_failure(&run, &["--replica-name", "1-100 characters"]);
        assert_eq!(run.code, Some(2), "a usage error: {}", run.stderr);
    }
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "nothing created");
}
