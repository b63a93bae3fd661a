//! `--database postgres://…` end to end: `encore import`, `encore keys create` and `encore serve`
//! on PostgreSQL, training and recommendations through the API, and an event posted to the API
//! still there after a restart (read back from the database, not from a local file).
//!
//! Each test creates a database of its own on the server of `ENCORE_TEST_DATABASE_URL` (default
//! `postgres://root@127.0.0.1:5432/postgres`) and drops it afterwards
//! ([`encore_store::test_support`], the store's and the service's fixture too).

use std::process::Command;

use encore_store::test_support::TestDatabase;
use serde_json::json;

use crate::common::{arg, clustered_tsv, json as parse_json};
use crate::reliability_common::Node;

/// Runs the `encore` binary; panics with its stderr when it fails.
fn encore_ok(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_encore")).args(args).output().unwrap();
    assert!(out.status.success(), "encore {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn import_keys_serve_train_recommend_and_restart_on_postgres() {
    let db = TestDatabase::create();
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    let file = clustered_tsv(tmp.path());
    let dir = arg(&models);

    let imported = parse_json(&encore_ok(&[
        "import",
        "--data-dir",
        dir,
        "--database",
        &db.url,
        "--catalog",
        "music",
        "--json",
        arg(&file),
    ]));
    let rows = imported["rows"].as_u64().expect("rows imported");
    assert!(rows > 500, "{imported}");
    let key = parse_json(&encore_ok(&[
        "keys",
        "create",
        "--data-dir",
        dir,
        "--database",
        &db.url,
        "--role",
        "admin",
        "--json",
    ]));
    let secret = key["secret"].as_str().expect("the key's secret").to_owned();

    let node = Node::start(&models, Some(secret), &["--database", &db.url]);
    assert_eq!(node.event_count("music"), rows);
    node.train("music", "ials", json!({"factors": 8, "iterations": 2}), "always");
    let r = node.post("/v1/catalogs/music/recommend", json!({"user_id": "u3", "n": 5}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["recommendations"].as_array().map(Vec::len), Some(5), "{}", r.body);

    let posted = node.post(
        "/v1/catalogs/music/events",
        json!({"events": [{"user_id": "newcomer", "item_id": "i1", "weight": 2}]}),
    );
    assert_eq!(posted.status, 200, "{}", posted.body);
    // Acknowledged means committed in PostgreSQL, and nothing went to a local SQLite file.
    let stored: i64 = postgres::Client::connect(&db.url, postgres::NoTls)
        .unwrap()
        .query_one(
            "SELECT count(*) FROM events e JOIN users u ON u.key = e.user_key
             WHERE u.user_id = 'newcomer'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(stored, 1);
    assert!(!models.join(encore_store::DB_FILE_NAME).exists(), "no SQLite file with --database");

    // Several servers may share the database (tests/it/replicas.rs); a killed one restarts.
    let node = node.kill_and_restart(&["--database", &db.url]);
    assert_eq!(node.event_count("music"), rows + 1, "the posted event survives a restart");
    let r = node.post("/v1/catalogs/music/recommend", json!({"user_id": "u3", "n": 5}));
    assert_eq!(r.status, 200, "the active model serves after the restart: {}", r.body);
    let history = node.get("/v1/catalogs/music/users/newcomer");
    assert_eq!(history.status, 200, "{}", history.body);

    // A graceful stop exits 0: the store's connections close off the async runtime (closing one
    // inside a task cancelled at shutdown used to abort the process).
    let mut node = node;
    let status = node.terminate();
    assert!(status.success(), "exit after SIGTERM: {status}: {}", node.log());
}

#[test]
fn an_unreachable_database_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_encore"))
        .args(["keys", "list", "--data-dir", arg(tmp.path())])
        .args(["--database", "postgres://root:hunter2@127.0.0.1:9/encore"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("cannot open the database postgres://root:***@127.0.0.1:9/encore"),
        "{stderr}"
    );
    assert!(stderr.contains("unavailable"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "the password never reaches the message: {stderr}");
    let bad = Command::new(env!("CARGO_BIN_EXE_encore"))
        .args(["keys", "list", "--data-dir", arg(tmp.path()), "--database", "mysql://x/y"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("postgres://"),
        "names the form expected"
    );
}
