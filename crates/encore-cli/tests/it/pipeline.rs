//! The user journey: data → model file → recommendations, similar items, explanations.

use crate::common::{arg, clustered_tsv, encore, encore_ok, json};

#[test]
fn generate_train_recommend_similar_explain() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("synthetic.tsv");
    let items = dir.path().join("items.csv");
    let model = dir.path().join("model.enc");
    encore_ok(&[
        "generate",
        "--users",
        "300",
        "--items",
        "200",
        "--rows",
        "6000",
        "--seed",
        "7",
        "--output",
        arg(&data),
        "--items-output",
        arg(&items),
    ]);
    let text = std::fs::read_to_string(&data).unwrap();
    assert!(text.lines().count() >= 1000, "generated {} lines", text.lines().count());
    let metadata = std::fs::read_to_string(&items).unwrap();
    assert!(metadata.starts_with("item_id,title,kind,tags"), "{}", &metadata[..80]);

    let summary = json(&encore_ok(&[
        "train",
        "--input",
        arg(&data),
        "--model",
        "ials:factors=16,iterations=5",
        "--output",
        arg(&model),
        "--json",
    ]));
    assert_eq!(summary["algorithm"], "ials");
    assert!(summary["model_size_bytes"].as_u64().unwrap() > 0);

    // The first user of the generated file, and one of its items.
    let first = text.lines().next().unwrap();
    let mut fields = first.split('\t');
    let (user, item) = (fields.next().unwrap(), fields.next().unwrap());

    let recs = json(&encore_ok(&["recommend", "--model", arg(&model), "--user", user, "--json"]));
    let list = recs["recommendations"].as_array().unwrap();
    assert_eq!(list.len(), 10);
    let user_items: Vec<&str> = text
        .lines()
        .filter(|l| l.split('\t').next() == Some(user))
        .map(|l| l.split('\t').nth(1).unwrap())
        .collect();
    for r in list {
        assert!(!user_items.contains(&r["item"].as_str().unwrap()), "recommended a played item");
    }

    let similar =
        json(&encore_ok(&["similar", "--model", arg(&model), "--item", item, "-n", "5", "--json"]));
    let similar = similar["similar"].as_array().unwrap();
    assert_eq!(similar.len(), 5);
    assert!(similar.iter().all(|s| s["item"] != item));

    let top = list[0]["item"].as_str().unwrap();
    let why = json(&encore_ok(&[
        "explain",
        "--model",
        arg(&model),
        "--user",
        user,
        "--item",
        top,
        "--json",
    ]));
    assert_eq!(why["rank"], 1);
    assert_eq!(why["in_history"], false);
    assert!(!why["contributions"].as_array().unwrap().is_empty());
    // The text forms work too.
    assert!(encore_ok(&["recommend", "--model", arg(&model), "--user", user]).contains("rank"));
    assert!(
        encore_ok(&["explain", "--model", arg(&model), "--user", user, "--item", top])
            .contains("score of")
    );
}

#[test]
fn personalised_models_recommend_the_users_own_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let data = clustered_tsv(dir.path());
    for spec in ["ease", "itemknn", "ials:factors=8,iterations=10", "bpr"] {
        let model = dir.path().join("m.enc");
        encore_ok(&["train", "--input", arg(&data), "--model", spec, "--output", arg(&model)]);
        // u0..u14 belong to group 0, whose pool is items i0..i11; each has 4 unplayed pool items
        // and one random extra item that may pull in another group. Popularity would put about a
        // quarter of its picks in the pool.
        let mut in_pool = 0;
        for user in 0..15 {
            let user = format!("u{user}");
            let out = encore_ok(&[
                "recommend",
                "--model",
                arg(&model),
                "--user",
                &user,
                "-n",
                "3",
                "--json",
            ]);
            for r in json(&out)["recommendations"].as_array().unwrap() {
                let item: u32 = r["item"].as_str().unwrap()[1..].parse().unwrap();
                in_pool += usize::from(item < 12);
            }
        }
        assert!(in_pool >= 36, "{spec}: only {in_pool} of 45 recommendations in the user's group");
    }
}

#[test]
fn anonymous_history_is_scored_without_its_own_items() {
    let dir = tempfile::tempdir().unwrap();
    let data = clustered_tsv(dir.path());
    let model = dir.path().join("m.enc");
    encore_ok(&["train", "--input", arg(&data), "--model", "itemknn", "--output", arg(&model)]);
    let run = encore(&[
        "recommend",
        "--model",
        arg(&model),
        "--history",
        "i13,i14,i15,nope",
        "-n",
        "4",
        "--json",
    ]);
    assert!(run.success(), "{}", run.stderr);
    assert!(run.stderr.contains("nope"), "unknown history items are reported: {}", run.stderr);
    let recs = json(&run.stdout);
    assert_eq!(recs["history_size"], 3);
    for r in recs["recommendations"].as_array().unwrap() {
        let item: u32 = r["item"].as_str().unwrap()[1..].parse().unwrap();
        assert!(![13, 14, 15].contains(&item));
        assert!((12..24).contains(&item), "a group-1 history gets group-1 items: {recs}");
    }
}

#[test]
fn train_with_holdout_records_metrics_in_the_model_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = clustered_tsv(dir.path());
    let model = dir.path().join("m.enc");
    let summary = json(&encore_ok(&[
        "train",
        "--input",
        arg(&data),
        "--model",
        "ease",
        "--output",
        arg(&model),
        "--holdout",
        "0.2",
        "--json",
    ]));
    let ndcg = summary["metrics"]["ndcg@10"].as_f64().expect("metrics recorded");
    assert!(ndcg > 0.2 && ndcg <= 1.0, "{summary}");
    // The saved model is trained on all the data: every user is known.
    assert_eq!(summary["users"], 60);
}

#[test]
fn recommend_all_writes_every_users_list_as_the_single_user_command_does() {
    let dir = tempfile::tempdir().unwrap();
    let data = clustered_tsv(dir.path());
    let train: std::collections::BTreeSet<(String, String)> = std::fs::read_to_string(&data)
        .unwrap()
        .lines()
        .map(|l| {
            let mut f = l.split('\t');
            (f.next().unwrap().to_string(), f.next().unwrap().to_string())
        })
        .collect();
    for spec in ["ials:factors=8,iterations=5", "bpr", "itemknn"] {
        let model = dir.path().join("m.enc");
        let recs = dir.path().join("recs.tsv");
        encore_ok(&["train", "--input", arg(&data), "--model", spec, "--output", arg(&model)]);
        let run = encore(&[
            "recommend",
            "--model",
            arg(&model),
            "--all",
            "-n",
            "5",
            "--output",
            arg(&recs),
        ]);
        assert!(run.success(), "{spec}: {}", run.stderr);
        let text = std::fs::read_to_string(&recs).unwrap();
        let mut lists: std::collections::BTreeMap<String, Vec<(u32, String)>> = Default::default();
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 3, "{spec}: {line}");
            assert!(!train.contains(&(f[0].to_string(), f[2].to_string())), "{spec}: seen {line}");
            lists.entry(f[0].to_string()).or_default().push((f[1].parse().unwrap(), f[2].into()));
        }
        assert_eq!(lists.len(), 60, "{spec}: every user of the model");
        for (user, list) in &lists {
            let ranks: Vec<u32> = list.iter().map(|r| r.0).collect();
            assert_eq!(ranks, vec![1, 2, 3, 4, 5], "{spec}: {user}");
        }
        // The same lists, in the same order, as one user at a time.
        for user in ["u0", "u17", "u59"] {
            let one = json(&encore_ok(&[
                "recommend",
                "--model",
                arg(&model),
                "--user",
                user,
                "-n",
                "5",
                "--json",
            ]));
            let want: Vec<String> = one["recommendations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["item"].as_str().unwrap().to_string())
                .collect();
            let got: Vec<String> = lists[user].iter().map(|r| r.1.clone()).collect();
            assert_eq!(got, want, "{spec}: {user}");
        }
    }
    // --all needs a file to write; an unwritable one fails before any scoring.
    let model = dir.path().join("m.enc");
    let run = encore(&["recommend", "--model", arg(&model), "--all"]);
    assert!(!run.success() && run.stderr.contains("--output"), "{}", run.stderr);
    let run = encore(&[
        "recommend",
        "--model",
        arg(&model),
        "--all",
        "--output",
        "/nonexistent-dir/recs.tsv",
    ]);
    assert!(!run.success() && run.stderr.contains("cannot create"), "{}", run.stderr);
}

/// `encore recommend --all` over a model file with an index: the default scans the index when
/// it probes few clusters, `--exact` scores every item; both write every user's list without
/// seen items, and the index's lists have the recall the build measured.
#[test]
fn recommend_all_uses_the_models_index_unless_exact() {
    let dir = tempfile::tempdir().unwrap();
    // Enough items for a few dozen clusters (the small clustered set makes only a handful).
    let data = dir.path().join("plays.tsv");
    encore_ok(
        &["generate", "--users", "2000", "--items", "3000", "--rows", "40000"]
            .into_iter()
            .chain(["--output", arg(&data)])
            .collect::<Vec<_>>(),
    );
    let spec = "ials:factors=8,iterations=5";
    let train = |name: &str, recall: Option<&str>| {
        let model = dir.path().join(name);
        let mut args = vec!["train", "--input", arg(&data), "--model", spec];
        args.extend_from_slice(&["--output", arg(&model)]);
        if let Some(recall) = recall {
            args.extend_from_slice(&["--index-recall", recall]);
        }
        encore_ok(&args);
        model
    };
    let export = |model: &std::path::Path, extra: &[&str]| {
        let out = dir.path().join("recs.tsv");
        let mut args = vec!["recommend", "--model", arg(model), "--all", "-n", "10"];
        args.extend_from_slice(&["--output", arg(&out)]);
        args.extend_from_slice(extra);
        let run = encore(&args);
        assert!(run.success(), "{}", run.stderr);
        let mut lists: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for line in std::fs::read_to_string(&out).unwrap().lines() {
            let f: Vec<&str> = line.split('\t').collect();
            lists.entry(f[0].to_string()).or_default().push(f[2].to_string());
        }
        (run.stderr, lists)
    };
    // A low target recall makes the build probe few clusters: the case where the index pays.
    let coarse = train("coarse.enc", Some("0.5"));
    let plain = train("plain.enc", None);
    let (note, indexed) = export(&coarse, &[]);
    assert!(note.contains("through the index"), "{note}");
    let recorded: f64 = note
        .split("recall@10 ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("the note names the recall: {note}"));
    let (note, exact) = export(&coarse, &["--exact"]);
    assert!(note.contains("(exact;"), "{note}");
    // The same training (same seed) without an index: --exact gives the same lists.
    assert_eq!(exact, export(&plain, &[]).1, "--exact ignores the index");
    assert_eq!(indexed.len(), exact.len(), "every user");
    let mut found = 0usize;
    for (user, list) in &indexed {
        assert_eq!(list.len(), 10, "{user}");
        found += list.iter().filter(|i| exact[user].contains(i)).count();
    }
    // The build chose the probes for recall@10 ≥ 0.5 on 500 sampled users of the 2,000 and
    // recorded what `top_n` reaches with them, its widening included (a user whose probed
    // clusters hold fewer than 10 unseen items is scanned with more): over all users the export
    // measures the same, up to the sample's error.
    let recall = found as f64 / (10 * indexed.len()) as f64;
    assert!(recorded >= 0.5, "{note}");
    assert!((recall - recorded).abs() < 0.05, "recorded {recorded}, measured {recall}: {note}");

    // An index that probes most clusters would be slower than the kernel: the export is exact.
    let fine = train("fine.enc", Some("0.999"));
    let (note, lists) = export(&fine, &[]);
    if note.contains("exact: the index probes") {
        assert_eq!(lists, exact, "{note}");
    } else {
        assert!(note.contains("through the index"), "{note}");
    }
}
