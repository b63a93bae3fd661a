//! The model registry and training jobs.

use serde_json::json;

use crate::common::TestApp;

#[tokio::test]
async fn train_list_activate_and_roll_back() {
    let app = TestApp::new();
    app.seed("music").await;
    let first = app.train("music", "ials", json!({"factors": 8, "iterations": 4})).await;
    assert_eq!(first["state"], "succeeded", "{first}");
    assert_eq!(first["activated"], true, "{first}");
    let v1 = first["model_version"].as_str().unwrap().to_string();
    let second = app.train("music", "popularity", json!({})).await;
    let v2 = second["model_version"].as_str().unwrap().to_string();
    assert_ne!(v1, v2);

    let list = app.get("/v1/catalogs/music/models").await;
    let models = list.ok(200)["models"].as_array().unwrap().clone();
    assert_eq!(models.len(), 2);
    let active: Vec<&str> = models
        .iter()
        .filter(|m| m["active"] == true)
        .map(|m| m["version"].as_str().unwrap())
        .collect();
    assert_eq!(active, vec![v2.as_str()]);
    for model in &models {
        assert!(model["size_bytes"].as_u64().unwrap() > 0, "{model}");
        assert!(model["algorithm"].is_string() && model["created_unix_ms"].is_i64());
    }
    let reply = app.post("/recommend", json!({"user_id": "r1"})).await;
    assert_eq!(reply.ok(200)["model_version"], v2.as_str());

    // Rollback.
    let activated = app
        .call(axum::http::Method::POST, &format!("/v1/catalogs/music/models/{v1}/activate"), None)
        .await;
    assert_eq!(activated.ok(200)["active"], true);
    let reply = app.post("/recommend", json!({"user_id": "r1"})).await;
    assert_eq!(reply.ok(200)["model_version"], v1.as_str());

    app.call(axum::http::Method::POST, "/v1/catalogs/music/models/v999/activate", None)
        .await
        .assert_problem(404, "model_not_found");
}

#[tokio::test]
async fn job_reports_progress_and_metrics_with_holdout() {
    let app = TestApp::new();
    app.seed("music").await;
    let reply = app
        .post(
            "/v1/catalogs/music/models",
            json!({"model": "ials", "params": {"factors": 8, "iterations": 3}, "holdout": 0.2, "activate": "never"}),
        )
        .await;
    let id = reply.ok(202)["job_id"].as_u64().unwrap();
    let service = app.service.clone();
    let info = tokio::task::spawn_blocking(move || {
        service.wait_for_job(id, std::time::Duration::from_secs(120)).unwrap()
    })
    .await
    .unwrap();
    assert!(info.state.is_terminal());
    let job = app.get(&format!("/v1/jobs/{id}")).await;
    let body = job.ok(200);
    assert_eq!(body["state"], "succeeded", "{body}");
    assert_eq!(body["progress"], 1.0, "{body}");
    assert!(body["metrics"].as_object().is_some_and(|m| !m.is_empty()), "{body}");
    assert_eq!(body["activated"], false, "{body}");
    // `never`: still no active model, so the popular items answer.
    let reply = app.post("/recommend", json!({"user_id": "r1"})).await;
    let body = reply.ok(200);
    assert_eq!((body["source"].as_str(), &body["model_version"]), (Some("popular"), &json!(null)));
    // A finished job cannot be cancelled.
    app.delete(&format!("/v1/jobs/{id}")).await.assert_problem(409, "conflict");
}

#[tokio::test]
async fn bad_training_requests_are_400() {
    let app = TestApp::new();
    app.seed("music").await;
    let reply = app.post("/v1/catalogs/music/models", json!({"model": "deep-magic"})).await;
    let body = reply.assert_problem(400, "invalid_field");
    assert_eq!(body["errors"][0]["field"], "model");
    let reply = app
        .post("/v1/catalogs/music/models", json!({"model": "ials", "params": {"factors": "many"}}))
        .await;
    assert_eq!(reply.status.as_u16(), 400, "{}", reply.body);
    let reply =
        app.post("/v1/catalogs/music/models", json!({"model": "ials", "holdout": 1.5})).await;
    reply.assert_problem(400, "invalid_field");
    app.post("/v1/catalogs/nope/models", json!({"model": "ials"}))
        .await
        .assert_problem(404, "catalog_not_found");
}

#[tokio::test]
async fn a_running_job_can_be_cancelled() {
    let app = TestApp::new();
    app.seed("music").await;
    let reply = app
        .post(
            "/v1/catalogs/music/models",
            json!({"model": "ials", "params": {"factors": 64, "iterations": 1000}, "activate": "always"}),
        )
        .await;
    let id = reply.ok(202)["job_id"].as_u64().unwrap();
    let cancelled = app.delete(&format!("/v1/jobs/{id}")).await;
    cancelled.ok(200);
    let service = app.service.clone();
    let info = tokio::task::spawn_blocking(move || {
        service.wait_for_job(id, std::time::Duration::from_secs(120)).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(info.state, encore_service::dto::JobState::Cancelled, "{info:?}");
    app.delete("/v1/jobs/424242").await.assert_problem(404, "job_not_found");
}
