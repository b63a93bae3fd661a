//! `"model": "auto"`: the search runs as a job on the catalog's events, the pick is trained and
//! activated, and the registry keeps the search's table with the version.

use serde_json::json;

use crate::common::TestApp;

#[tokio::test]
async fn auto_searches_trains_the_pick_and_records_the_search() {
    let app = TestApp::new();
    app.seed("music").await;
    let reply = app
        .post(
            "/v1/catalogs/music/models",
            json!({
                "model": "auto",
                "budget_seconds": 3,
                "models": ["ials", "itemknn", "popularity"],
                "activate": "always"
            }),
        )
        .await;
    let id = reply.ok(202)["job_id"].as_u64().unwrap();
    let service = app.service.clone();
    let started = std::time::Instant::now();
    let info = tokio::task::spawn_blocking(move || {
        service.wait_for_job(id, std::time::Duration::from_secs(120)).unwrap()
    })
    .await
    .unwrap();
    // The search stops at its budget; the final fit on this catalog takes well under a second.
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "{:?}", started.elapsed());
    let job = app.get(&format!("/v1/jobs/{id}")).await;
    let body = job.ok(200);
    assert_eq!(body["state"], "succeeded", "{body} {info:?}");
    assert_eq!(body["activated"], true, "{body}");
    assert_eq!(body["progress"], 1.0, "{body}");
    let tuning = &body["tuning"];
    assert!(tuning["trials_done"].as_u64().unwrap() >= 3, "{body}");
    assert_eq!(tuning["seconds_left"], 0.0, "{body}");
    let best = tuning["best_model"].as_str().unwrap().to_string();
    assert!(["ials", "itemknn", "popularity"].iter().any(|m| best.starts_with(m)), "{best}");

    let list = app.get("/v1/catalogs/music/models").await;
    let model = list.ok(200)["models"][0].clone();
    let version = body["model_version"].as_str().unwrap();
    assert_eq!(model["version"], version, "{model}");
    assert_eq!(model["active"], true);
    assert_eq!(model["tuning"]["best"]["model"], best.as_str(), "{model}");
    assert_eq!(model["algorithm"], best.split(':').next().unwrap());
    let trials = model["tuning"]["trials"].as_array().unwrap();
    assert_eq!(trials.len() as u64, tuning["trials_done"].as_u64().unwrap());
    for t in trials {
        assert!(t["model"].is_string() && t["train_seconds"].is_number(), "{t}");
    }
    let reply = app.post("/recommend", json!({"user_id": "r1"})).await;
    assert_eq!(reply.ok(200)["model_version"], version);
}

#[tokio::test]
async fn auto_rejects_bad_search_requests() {
    let app = TestApp::new();
    app.seed("music").await;
    let bad = [
        json!({"model": "auto", "models": ["svd"]}),
        json!({"model": "auto", "budget_seconds": 0}),
        json!({"model": "auto", "params": {"factors": 8}}),
        json!({"model": "ials", "budget_seconds": 10}),
        json!({"model": "auto", "models": []}),
        json!({"model": "auto", "max_train_seconds": 0}),
        // Past int64, the document's format for it.
        json!({"model": "auto", "max_memory_bytes": 9_223_372_036_854_775_808u64}),
    ];
    for body in bad {
        app.post("/v1/catalogs/music/models", body.clone())
            .await
            .assert_problem(400, "invalid_field");
    }
}
