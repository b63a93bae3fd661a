//! The approximate index over HTTP: recorded in the models route and `/metrics`, documented,
//! and bypassed by `"exact": true`.

use encore_core::model_file::ModelArtifact;
use encore_core::models::Query;
use encore_core::topk::top_n_filtered;
use encore_server::ServerConfig;
use serde_json::{Value, json};

use crate::common::TestApp;

/// The music catalogue (24 items) with an index built from 10 items up, probing one cluster.
async fn indexed() -> TestApp {
    let app = TestApp::with_service_config(ServerConfig::default(), |c| {
        c.index_min_items = 10;
        c.index_target_recall = 0.0;
    });
    app.seed("music").await;
    app.train("music", "ials", json!({ "factors": 8, "iterations": 6 })).await;
    app
}

fn ids(reply: &Value) -> Vec<String> {
    let list = reply["recommendations"].as_array().expect("recommendations");
    list.iter().map(|r| r["item_id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn the_index_is_shown_in_the_models_route_and_metrics() {
    let app = indexed().await;
    let file = ModelArtifact::load(&app.data_dir().join("models/music/v1.enc")).unwrap();
    let stored = file.index.as_ref().expect("an index in the model file").info.clone();
    let models = app.get("/v1/catalogs/music/models").await.ok(200).clone();
    let index = &models["models"][0]["index"];
    assert_eq!(index["kind"], "ivf", "{models}");
    assert_eq!(index["probes"], 1);
    assert_eq!(index["clusters"], stored.clusters);
    assert_eq!(index["recall_at_10"].as_f64(), Some(stored.recall_at_10));
    assert_eq!(index["sampled_users"], 40);

    let metrics = app.get("/metrics").await;
    let text = metrics.body.as_str().unwrap();
    let line = r#"encore_index_recall_at_10{catalog="music",version="v1"} "#;
    let value = text.lines().find_map(|l| l.strip_prefix(line)).expect(text);
    assert_eq!(value.parse::<f64>().unwrap(), stored.recall_at_10);

    // A catalogue trained without an index says so with null.
    let plain = TestApp::seeded_with_model("music").await;
    let models = plain.get("/v1/catalogs/music/models").await.ok(200).clone();
    assert_eq!(models["models"][0]["index"], Value::Null, "{models}");
}

#[tokio::test]
async fn exact_true_returns_the_exact_list_and_is_validated_and_documented() {
    let app = indexed().await;
    let file = ModelArtifact::load(&app.data_dir().join("models/music/v1.enc")).unwrap();
    let rec = file.recommender();
    let mut differs = 0;
    for first in 0..8 {
        let history: Vec<String> =
            (0..3).map(|k| format!("rock-{}", (first + 3 * k) % 11)).collect();
        let mut model_items: Vec<u32> =
            history.iter().map(|h| file.items.get(h).unwrap()).collect();
        model_items.sort_unstable();
        let weights = vec![1.0; model_items.len()];
        let mut scores = vec![0.0; rec.n_items()];
        rec.score(&Query::from_history(&model_items, &weights), &mut scores);
        // rock-11 and jazz-11 are unavailable.
        let keep = |m: u32| !file.items.id(m).ends_with("-11");
        let want: Vec<String> = top_n_filtered(&scores, 5, &model_items, keep)
            .iter()
            .map(|s| file.items.id(s.item).to_string())
            .collect();
        let body = json!({
            "history": history.iter().map(|h| json!({"item_id": h})).collect::<Vec<_>>(),
            "n": 5,
        });
        let approx = ids(app.post("/v1/catalogs/music/recommend", body.clone()).await.ok(200));
        let mut exact_body = body;
        exact_body["exact"] = json!(true);
        let exact = ids(app.post("/v1/catalogs/music/recommend", exact_body).await.ok(200));
        assert_eq!(exact, want, "history {history:?}");
        differs += usize::from(approx != exact);
    }
    assert!(differs > 0, "one probed cluster of a 24-item catalogue never changed a list");

    let bad =
        app.post("/v1/catalogs/music/recommend", json!({"user_id": "r1", "exact": "yes"})).await;
    assert_eq!(bad.status.as_u16(), 400, "{:?}", bad.body);
    assert!(bad.body.to_string().contains("exact"), "{}", bad.body);

    let doc = serde_json::to_value(encore_server::openapi_document()).unwrap();
    let schemas = &doc["components"]["schemas"];
    // RecommendRequest is `oneOf` a user variant and a history variant; both take `exact`.
    let exact = schemas["RecommendRequest"]["oneOf"][1]["properties"]["exact"].to_string();
    assert!(exact.contains("boolean") && exact.contains("index"), "{exact}");
    assert!(schemas["ModelInfo"]["properties"]["index"].is_object());
    assert!(schemas["IndexSummary"]["properties"]["recall_at_10"].is_object());
}
