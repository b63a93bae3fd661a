//! `/v1/catalogs/{c}/users/{user_id}`: access and erasure.

use serde_json::json;

use crate::common::TestApp;

#[tokio::test]
async fn user_data_lists_the_stored_events() {
    let app = TestApp::new();
    app.seed("music").await;
    let reply = app.get("/v1/catalogs/music/users/r3").await;
    let body = reply.ok(200);
    assert_eq!(body["user_id"], "r3");
    assert_eq!(body["events"].as_array().unwrap().len(), 6, "{body}");
    app.get("/v1/catalogs/music/users/nobody").await.assert_problem(404, "user_not_found");
}

#[tokio::test]
async fn erasure_removes_the_user_everywhere() {
    let app = TestApp::seeded_with_model("music").await;
    let before = app.post("/recommend", json!({"user_id": "r3"})).await;
    assert_ne!(before.ok(200)["source"], "popular");

    let receipt = app.delete("/v1/catalogs/music/users/r3").await;
    let body = receipt.ok(200);
    assert_eq!(body["events_removed"], 6, "{body}");
    assert!(body["models_rewritten"].as_u64().unwrap() >= 1, "{body}");

    app.get("/v1/catalogs/music/users/r3").await.assert_problem(404, "user_not_found");
    let after = app.post("/recommend", json!({"user_id": "r3"})).await;
    assert_eq!(after.ok(200)["source"], "popular", "{}", after.body);
    // Erasure is idempotent: repeating it finds nothing more to remove.
    let again = app.delete("/v1/catalogs/music/users/r3").await;
    assert_eq!(again.ok(200)["events_removed"], 0);
}

/// Every file under `dir` (recursively) whose bytes contain `needle`.
fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if std::fs::read(&path).unwrap().windows(needle.len()).any(|w| w == needle) {
            found.push(path);
        }
    }
    found
}

#[tokio::test]
async fn erased_user_id_is_in_no_model_file_and_no_response() {
    const USER: &str = "erase-me-7f3a";
    let app = TestApp::new();
    app.seed("music").await;
    let events: Vec<serde_json::Value> = ["rock-1", "rock-2", "jazz-3"]
        .iter()
        .map(|item| json!({"user_id": USER, "item_id": item}))
        .collect();
    app.post("/v1/catalogs/music/events", json!({ "events": events })).await.ok(200);
    // Two versions, so erasure has to rewrite a model that is not active, too.
    app.train("music", "ials", json!({"factors": 8, "iterations": 3})).await;
    app.train("music", "itemknn", json!({})).await;
    let models_dir = app.data_dir().join("models");
    assert!(!files_containing(&models_dir, USER.as_bytes()).is_empty(), "precondition");

    app.delete(&format!("/v1/catalogs/music/users/{USER}")).await.ok(200);

    let leaking = files_containing(&models_dir, USER.as_bytes());
    assert!(leaking.is_empty(), "model files still hold the erased id: {leaking:?}");
    let reply = app.post("/recommend", json!({"user_id": USER})).await;
    assert_eq!(reply.ok(200)["source"], "popular");
    for uri in ["/v1/catalogs/music/models", "/v1/catalogs/music", "/metrics"] {
        let body = app.get(uri).await.body.to_string();
        assert!(!body.contains(USER), "{uri} mentions the erased user");
    }
}
