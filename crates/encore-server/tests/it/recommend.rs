//! `POST /recommend` and `POST /v1/catalogs/{c}/recommend`.

use serde_json::{Value, json};

use crate::common::TestApp;

fn ids(body: &Value, key: &str) -> Vec<String> {
    body[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["item_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn simple_contract_returns_scored_unseen_items() {
    let app = TestApp::seeded_with_model("music").await;
    let reply = app.post("/recommend", json!({"user_id": "r2", "n": 5})).await;
    let body = reply.ok(200).clone();
    assert_eq!(body["user_id"], "r2");
    assert!(body["model_version"].is_string());
    let recs = body["recommendations"].as_array().unwrap();
    assert_eq!(recs.len(), 5, "{body}");
    let seen = app.get("/v1/catalogs/music/users/r2").await.ok(200).clone();
    let seen = ids(&seen, "events");
    for rec in recs {
        assert!(rec["score"].is_number());
        assert!(
            !seen.contains(&rec["item_id"].as_str().unwrap().to_string()),
            "seen item in {body}"
        );
    }
    let scores: Vec<f64> = recs.iter().map(|r| r["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "not sorted: {scores:?}");
}

#[tokio::test]
async fn unknown_user_gets_popular_items_not_an_error() {
    let app = TestApp::seeded_with_model("music").await;
    let reply = app.post("/recommend", json!({"user_id": "stranger"})).await;
    let body = reply.ok(200);
    assert_eq!(body["source"], "popular");
    assert_eq!(body["recommendations"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn full_request_with_filter_metadata_and_explanations() {
    let app = TestApp::seeded_with_model("music").await;
    let reply = app
        .post(
            "/v1/catalogs/music/recommend",
            json!({"user_id": "r4", "n": 3, "explain": true,
                   "filter": {"kinds": ["track"], "tags_any": ["rock"], "only_available": true}}),
        )
        .await;
    let body = reply.ok(200).clone();
    let recs = body["recommendations"].as_array().unwrap();
    assert!(!recs.is_empty() && recs.len() <= 3, "{body}");
    for rec in recs {
        assert_eq!(rec["kind"], "track", "{body}");
        assert!(rec["tags"].as_array().unwrap().contains(&json!("rock")), "{body}");
        assert_eq!(rec["available"], true);
        assert!(rec["title"].as_str().unwrap().contains("song"));
        assert!(rec["because"].is_array(), "explain asked: {body}");
    }
}

#[tokio::test]
async fn history_request_scores_without_a_stored_user() {
    let app = TestApp::seeded_with_model("music").await;
    let reply = app
        .post(
            "/v1/catalogs/music/recommend",
            json!({"history": [{"item_id": "jazz-1"}, {"item_id": "jazz-2", "weight": 3.0}], "n": 4}),
        )
        .await;
    let body = reply.ok(200).clone();
    assert_eq!(body["source"], "history");
    let recs = ids(&body, "recommendations");
    assert!(!recs.contains(&"jazz-1".to_string()) && !recs.contains(&"jazz-2".to_string()));
    let jazz = recs.iter().filter(|id| id.starts_with("jazz")).count();
    assert!(jazz >= 3, "a jazz history should get jazz: {recs:?}");
    // Neither user nor history, or both: the field is named.
    let reply = app.post("/v1/catalogs/music/recommend", json!({"n": 3})).await;
    assert_eq!(reply.status.as_u16(), 400, "{}", reply.body);
}

#[tokio::test]
async fn new_events_change_recommendations_without_retraining() {
    let app = TestApp::seeded_with_model("music").await;
    let before = app.post("/recommend", json!({"user_id": "r5", "n": 5})).await.ok(200).clone();
    let first = ids(&before, "recommendations");
    let played: Vec<Value> =
        first.iter().take(3).map(|item| json!({"user_id": "r5", "item_id": item})).collect();
    app.post("/v1/catalogs/music/events", json!({"events": played})).await.ok(200);
    let after = app.post("/recommend", json!({"user_id": "r5", "n": 5})).await.ok(200).clone();
    let second = ids(&after, "recommendations");
    assert_ne!(first, second);
    for item in first.iter().take(3) {
        assert!(!second.contains(item), "{item} was just played and must be excluded: {second:?}");
    }
}
