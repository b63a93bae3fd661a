//! `encore export-edge` and the `encore-edge` scorer against the model file it came from:
//! export → open → the same recommendations (f32: the same ranking; int8/f16: overlap), no user
//! data in the file, item metadata, and the size and quality figures on a shared split.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use encore_core::model_file::ModelArtifact;
use encore_core::models::Query;
use encore_core::topk::top_n;
use encore_edge::EdgeModel;

use crate::common::{arg, clustered_tsv, encore, encore_ok, json, shared_split};

fn train(dir: &Path, input: &Path, spec: &str) -> PathBuf {
    let out = dir.join(format!("{}.enc", spec.replace([':', ',', '='], "_")));
    encore_ok(&["train", "--input", arg(input), "--model", spec, "--output", arg(&out)]);
    out
}

fn export(model: &Path, precision: &str, extra: &[&str]) -> PathBuf {
    let out = model.with_extension(format!("{precision}.edge"));
    let mut args = vec!["export-edge", "--model", arg(model), "--output", arg(&out)];
    args.extend(["--precision", precision]);
    args.extend_from_slice(extra);
    encore_ok(&args);
    out
}

/// The model file's top `n` for a history given at request time (fold-in), as `recommend`
/// computes it: every item scored, the history excluded.
fn server_top(
    artifact: &ModelArtifact,
    items: &[u32],
    weights: &[f32],
    n: usize,
) -> Vec<(u32, f32)> {
    let model = artifact.recommender();
    let mut scores = vec![0f32; model.n_items()];
    model.score(&Query::from_history(items, weights), &mut scores);
    top_n(&scores, n, items).into_iter().map(|s| (s.item, s.score)).collect()
}

fn edge_top(edge: &EdgeModel, items: &[u32], weights: &[f32], n: usize) -> Vec<(u32, f32)> {
    let mut scratch = edge.new_scratch();
    edge.recommend(&mut scratch, items, Some(weights), n)
        .iter()
        .map(|s| (s.item, s.score))
        .collect()
}

/// Asserts identical rankings and scores equal up to the f32 rounding of the solves.
fn assert_same(what: &str, server: &[(u32, f32)], edge: &[(u32, f32)]) {
    let items = |v: &[(u32, f32)]| v.iter().map(|p| p.0).collect::<Vec<_>>();
    assert_eq!(
        items(server),
        items(edge),
        "{what}: rankings differ\nserver {server:?}\nedge   {edge:?}"
    );
    for ((_, a), (_, b)) in server.iter().zip(edge) {
        assert!((a - b).abs() <= 1e-4 * a.abs().max(1.0), "{what}: score {a} vs {b}");
    }
}

#[test]
fn f32_edge_files_rank_exactly_as_the_model_file_for_every_algorithm() {
    let dir = tempfile::tempdir().unwrap();
    let input = clustered_tsv(dir.path());
    for spec in [
        "ials",
        "ials:confidence=identity,reg_exponent=0",
        "bpr",
        "itemknn",
        "itemknn:weighting=none",
        "ease",
        "popularity",
    ] {
        let model = train(dir.path(), &input, spec);
        // 48 items: keeping 100 weights per item keeps EASE's whole matrix.
        let edge_path = export(&model, "f32", &["--ease-neighbours", "100"]);
        let artifact = ModelArtifact::load(&model).unwrap();
        let edge = EdgeModel::open(&edge_path).unwrap();
        assert_eq!(edge.n_items(), artifact.items.len());
        for u in 0..artifact.users.len() {
            let row = artifact.train.row(u);
            let what = format!("{spec}, history of user {u}");
            assert_same(
                &what,
                &server_top(&artifact, row.indices, row.values, 10),
                &edge_top(&edge, row.indices, row.values, 10),
            );
        }
        for i in 0..artifact.items.len() as u32 {
            assert_eq!(edge.item_id(i), Some(artifact.items.id(i)));
        }
    }
}

#[test]
fn recommend_by_ids_agrees_with_encore_recommend_history() {
    let dir = tempfile::tempdir().unwrap();
    let input = clustered_tsv(dir.path());
    let model = train(dir.path(), &input, "ials");
    let edge = EdgeModel::open(&export(&model, "f32", &[])).unwrap();
    let out = encore_ok(&[
        "recommend",
        "--model",
        arg(&model),
        "--history",
        "i1,i3,i5,nope",
        "-n",
        "5",
        "--json",
    ]);
    let expected: Vec<String> = json(&out)["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["item"].as_str().unwrap().to_string())
        .collect();
    let mut s = edge.new_scratch();
    let history = ["i1", "i3", "i5", "nope"].map(|id| (id.as_bytes(), 1.0));
    let got: Vec<String> = edge
        .recommend_ids(&mut s, history, 5)
        .iter()
        .map(|r| edge.item_id(r.item).unwrap().to_string())
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn quantised_files_keep_most_of_the_ranking_on_a_shared_split() {
    let dir = tempfile::tempdir().unwrap();
    let model = train(dir.path(), &shared_split("ml-100k").join("train.tsv"), "ials");
    let artifact = ModelArtifact::load(&model).unwrap();
    let f32e = EdgeModel::open(&export(&model, "f32", &[])).unwrap();
    let f16e = EdgeModel::open(&export(&model, "f16", &[])).unwrap();
    let int8e = EdgeModel::open(&export(&model, "int8", &[])).unwrap();
    let (mut f16_overlap, mut int8_overlap, mut total) = (0usize, 0usize, 0usize);
    for u in (0..artifact.users.len()).step_by(3) {
        let row = artifact.train.row(u);
        let server = server_top(&artifact, row.indices, row.values, 10);
        assert_same(
            &format!("ml-100k user {u}"),
            &server,
            &edge_top(&f32e, row.indices, row.values, 10),
        );
        let overlap = |e: &EdgeModel| {
            let top = edge_top(e, row.indices, row.values, 10);
            server.iter().filter(|(i, _)| top.iter().any(|(j, _)| j == i)).count()
        };
        f16_overlap += overlap(&f16e);
        int8_overlap += overlap(&int8e);
        total += server.len();
    }
    let (f16_share, int8_share) =
        (f16_overlap as f64 / total as f64, int8_overlap as f64 / total as f64);
    assert!(f16_share >= 0.97, "f16 top-10 overlap {f16_share:.3}");
    assert!(int8_share >= 0.90, "int8 top-10 overlap {int8_share:.3}");
}

#[test]
fn export_reports_size_and_quality_against_the_model_file() {
    let dir = tempfile::tempdir().unwrap();
    let split = shared_split("ml-100k");
    let model = train(dir.path(), &split.join("train.tsv"), "ials");
    let out = dir.path().join("m.edge");
    let test = split.join("test.tsv");
    let stdout = encore_ok(&[
        "export-edge",
        "--model",
        arg(&model),
        "--output",
        arg(&out),
        "--precision",
        "int8",
        "--evaluate-test",
        arg(&test),
        "--json",
    ]);
    let report = json(&stdout);
    let ratio = report["ratio"].as_f64().unwrap();
    assert!(ratio <= 0.25, "int8 edge file is {ratio:.3} of the model file");
    assert_eq!(report["bytes"].as_u64().unwrap(), std::fs::metadata(&out).unwrap().len());
    let e = &report["evaluation"];
    assert_eq!(e["users"].as_u64(), Some(943));
    let (edge, model_ndcg) = (e["edge_ndcg"].as_f64().unwrap(), e["model_ndcg"].as_f64().unwrap());
    assert!(edge >= 0.99 * model_ndcg, "edge NDCG@10 {edge} vs model file {model_ndcg}");
    assert!(model_ndcg > 0.40, "model NDCG@10 {model_ndcg}");
    let text = encore_ok(&[
        "export-edge",
        "--model",
        arg(&model),
        "--output",
        arg(&out),
        "--precision",
        "f16",
    ]);
    assert!(text.contains("ials f16") && text.contains("% of the model file"), "{text}");
}

#[test]
fn the_edge_file_holds_no_user_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut tsv = String::new();
    for u in 0..40 {
        for j in 0..6 {
            writeln!(tsv, "listener-{u:04}\tsong-{}\t{}", (u * 7 + j * 3) % 30, 1 + j).unwrap();
        }
    }
    let input = dir.path().join("plays.tsv");
    std::fs::write(&input, tsv).unwrap();
    for spec in ["ials", "bpr", "itemknn", "ease", "popularity"] {
        let model = train(dir.path(), &input, spec);
        assert!(
            contains(&std::fs::read(&model).unwrap(), b"listener-"),
            "the model file has user ids"
        );
        for precision in ["f32", "int8"] {
            let bytes = std::fs::read(export(&model, precision, &[])).unwrap();
            assert!(
                !contains(&bytes, b"listener-"),
                "{spec} {precision}: a user id in the edge file"
            );
            assert!(contains(&bytes, b"song-1\0"));
            assert!(contains(&bytes, b"Contains no user data"));
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn item_metadata_marks_kinds_and_hides_unavailable_items() {
    let dir = tempfile::tempdir().unwrap();
    let input = clustered_tsv(dir.path());
    let model = train(dir.path(), &input, "itemknn");
    let items = dir.path().join("items.csv");
    let mut csv = String::from("item_id,title,kind,tags,available\n");
    for i in 0..48 {
        let kind = if i % 2 == 0 { "track" } else { "album" };
        writeln!(csv, "i{i},Item {i},{kind},,{}", i != 5).unwrap();
    }
    std::fs::write(&items, csv).unwrap();
    let edge = EdgeModel::open(&export(&model, "int8", &["--items", arg(&items)])).unwrap();
    let i5 = edge.item_index(b"i5").unwrap();
    assert!(!edge.is_available(i5));
    assert_eq!(edge.item_kind(i5), Some("album"));
    let mut s = edge.new_scratch();
    for start in 0..48u32 {
        // i5 is in group 0 (i0..i11): histories from that group would recommend it.
        let top = edge.recommend(&mut s, &[start, (start + 1) % 48], None, 20).to_vec();
        assert!(top.iter().all(|t| t.item != i5));
    }
}

#[test]
fn export_edge_refuses_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.edge");
    let run = encore(&["export-edge", "--model", "/nonexistent.enc", "--output", arg(&out)]);
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("cannot load the model"), "{}", run.stderr);
    let run =
        encore(&["export-edge", "--model", "m.enc", "--output", arg(&out), "--precision", "f8"]);
    assert_eq!(run.code, Some(2));
    assert!(run.stderr.contains("f32, f16 or int8"), "{}", run.stderr);
    assert!(!out.exists());
}
