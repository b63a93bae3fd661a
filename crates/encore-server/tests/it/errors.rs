//! Every error is problem+json with the right status and code, and never a 500 for bad input.

use axum::http::{Method, header};
use encore_server::ServerConfig;
use serde_json::json;

use crate::common::TestApp;

#[tokio::test]
async fn malformed_json_is_400_with_position() {
    let app = TestApp::new();
    let reply = app.post_raw("/v1/catalogs", Some("application/json"), "{\"name\": ").await;
    let body = reply.assert_problem(400, "malformed_json");
    assert!(body["detail"].as_str().unwrap().contains("line 1"), "{body}");
}

#[tokio::test]
async fn wrong_type_names_the_field() {
    let app = TestApp::new();
    app.seed("music").await;
    let reply = app
        .post(
            "/v1/catalogs/music/events",
            json!({"events": [{"user_id": "u", "item_id": "a"}, {"user_id": "u", "item_id": 7}]}),
        )
        .await;
    let body = reply.assert_problem(400, "invalid_field");
    assert_eq!(body["errors"][0]["field"], "events[1].item_id", "{body}");
}

#[tokio::test]
async fn missing_and_unknown_fields_are_named() {
    let app = TestApp::new();
    let reply = app.post("/v1/catalogs", json!({})).await;
    let body = reply.assert_problem(400, "invalid_field");
    assert!(body["detail"].as_str().unwrap().contains("name"), "{body}");
    let reply = app.post("/v1/catalogs", json!({"name": "x", "colour": "red"})).await;
    let body = reply.assert_problem(400, "invalid_field");
    assert!(body["detail"].as_str().unwrap().contains("colour"), "{body}");
}

#[tokio::test]
async fn semantic_field_errors_name_the_field() {
    let app = TestApp::seeded_with_model("music").await;
    let reply = app.post("/v1/catalogs/music/recommend", json!({"user_id": "r1", "n": 0})).await;
    let body = reply.assert_problem(400, "invalid_field");
    assert_eq!(body["errors"][0]["field"], "n", "{body}");
    let reply = app.post("/v1/catalogs", json!({"name": "Not A Name!"})).await;
    reply.assert_problem(400, "invalid_field");
}

#[tokio::test]
async fn wrong_or_missing_content_type_is_415() {
    let app = TestApp::new();
    app.post_raw("/v1/catalogs", Some("text/plain"), "{\"name\":\"x\"}")
        .await
        .assert_problem(415, "unsupported_media_type");
    app.post_raw("/v1/catalogs", None, "{\"name\":\"x\"}")
        .await
        .assert_problem(415, "unsupported_media_type");
}

#[tokio::test]
async fn body_over_the_limit_is_413_and_names_the_limit() {
    let app =
        TestApp::with_config(ServerConfig { max_body_bytes: 1024, ..ServerConfig::default() });
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(4096));
    let reply = app.post_raw("/v1/catalogs", Some("application/json"), &big).await;
    let body = reply.assert_problem(413, "body_too_large");
    assert!(body["detail"].as_str().unwrap().contains("1024"), "{body}");
    // The unread rest of the body makes the connection unusable: the client must not reuse it.
    assert_eq!(reply.headers.get(header::CONNECTION).map(|v| v.as_bytes()), Some(&b"close"[..]));
}

#[tokio::test]
async fn unknown_route_is_404_problem() {
    let app = TestApp::new();
    app.get("/v1/nothing-here").await.assert_problem(404, "unknown_route");
}

#[tokio::test]
async fn wrong_method_is_405_problem_with_allow() {
    let app = TestApp::new();
    let reply = app.call(Method::PATCH, "/v1/catalogs", None).await;
    reply.assert_problem(405, "method_not_allowed");
    let allow = reply.headers.get("allow").expect("Allow header").to_str().unwrap();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
}

#[tokio::test]
async fn unknown_catalog_item_and_job_are_404() {
    let app = TestApp::new();
    app.seed("music").await;
    app.get("/v1/catalogs/films").await.assert_problem(404, "catalog_not_found");
    app.get("/v1/catalogs/films/items/x").await.assert_problem(404, "catalog_not_found");
    app.get("/v1/catalogs/music/items/nope").await.assert_problem(404, "item_not_found");
    app.get("/v1/jobs/999999").await.assert_problem(404, "job_not_found");
    app.get("/v1/jobs/not-a-number").await.assert_problem(404, "job_not_found");
    app.post("/recommend", json!({"user_id": "r1", "catalog": "films"}))
        .await
        .assert_problem(404, "catalog_not_found");
}

#[tokio::test]
async fn duplicate_catalog_is_409() {
    let app = TestApp::new();
    app.post("/v1/catalogs", json!({"name": "music"})).await.ok(201);
    app.post("/v1/catalogs", json!({"name": "music"})).await.assert_problem(409, "conflict");
}

#[tokio::test]
async fn similar_items_of_an_item_without_events_is_422() {
    // `rock-11` has metadata but no events, so the model cannot place it: a semantic error.
    let app = TestApp::seeded_with_model("music").await;
    let reply = app.get("/v1/catalogs/music/items/rock-11/similar").await;
    let body = reply.assert_problem(422, "unprocessable");
    assert!(body["detail"].as_str().unwrap().contains("rock-11"), "{body}");
}

#[tokio::test]
async fn training_an_empty_catalog_fails_the_job_with_a_reason() {
    let app = TestApp::new();
    app.post("/v1/catalogs", json!({"name": "music"})).await.ok(201);
    let reply = app.post("/v1/catalogs/music/models", json!({"model": "ials"})).await;
    let id = reply.ok(202)["job_id"].as_u64().unwrap();
    let service = app.service.clone();
    tokio::task::spawn_blocking(move || {
        service.wait_for_job(id, std::time::Duration::from_secs(60)).unwrap()
    })
    .await
    .unwrap();
    let job = app.get(&format!("/v1/jobs/{id}")).await;
    let body = job.ok(200);
    assert_eq!(body["state"], "failed", "{body}");
    assert!(body["error"].as_str().unwrap().contains("no events"), "{body}");
}

#[tokio::test]
async fn without_an_active_model_recommend_is_popular_and_similar_is_409() {
    let app = TestApp::new();
    app.seed("music").await;
    let reply = app.post("/recommend", json!({"user_id": "r1"})).await;
    let body = reply.ok(200);
    assert_eq!(body["source"], "popular", "{body}");
    assert_eq!(body["model_version"], json!(null), "{body}");
    assert!(!body["recommendations"].as_array().unwrap().is_empty(), "{body}");
    let reply = app.post("/v1/catalogs/music/recommend", json!({"user_id": "r1"})).await;
    let full = reply.ok(200);
    assert_eq!(full["source"], "popular", "{full}");
    app.get("/v1/catalogs/music/items/rock-1/similar").await.assert_problem(409, "no_active_model");
}

#[tokio::test]
async fn bad_query_parameter_is_400() {
    let app = TestApp::seeded_with_model("music").await;
    app.get("/v1/catalogs/music/items/rock-1/similar?n=lots")
        .await
        .assert_problem(400, "invalid_query");
}

#[tokio::test]
async fn responses_carry_a_request_id_and_propagate_the_clients() {
    let app = TestApp::new();
    let reply = app.get("/healthz").await;
    assert!(reply.headers.get("x-request-id").is_some());
    let request = axum::http::Request::builder()
        .uri("/healthz")
        .header("x-request-id", "client-chosen-42")
        .body(axum::body::Body::empty())
        .unwrap();
    let reply = app.send(request).await;
    assert_eq!(reply.headers["x-request-id"], "client-chosen-42");
}

#[tokio::test]
async fn a_panicking_handler_becomes_a_500_problem_without_internals() {
    use axum::routing::get;
    use tower::ServiceExt;
    async fn boom() -> &'static str {
        panic!("secret internal detail")
    }
    // The same panic handler `app` installs, around a handler that panics.
    let router = axum::Router::new().route("/boom", get(boom)).layer(
        tower_http::catch_panic::CatchPanicLayer::custom(encore_server::middleware::panic_response),
    );
    let request = axum::http::Request::builder().uri("/boom").body(axum::body::Body::empty());
    let response = router.oneshot(request.unwrap()).await.unwrap();
    assert_eq!(response.status().as_u16(), 500);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["code"], "internal");
    assert!(!body.to_string().contains("secret"), "the panic message leaked: {body}");
}

#[tokio::test]
async fn a_body_of_the_wrong_shape_is_named_in_json_terms_never_rust_types() {
    let app = TestApp::seeded_with_model("music").await;
    let cases: &[(&str, &str, &str)] = &[
        ("/recommend", "[]", "body"),
        ("/recommend", r#"["u1", 5, null]"#, "body"),
        ("/recommend", r#"{"user_id": "u1", "n": -1}"#, "n"),
        ("/v1/catalogs/music/recommend", r#"{"user_id": "u1", "filter": []}"#, "filter"),
        ("/v1/catalogs/music/events", r#"{"events": [["u1", "i1"]]}"#, "events[0]"),
        ("/v1/catalogs/music/events", r#"{"events": {}}"#, "events"),
        ("/v1/catalogs", r#"["music"]"#, "body"),
    ];
    for (uri, body, field) in cases {
        let reply = app.post_raw(uri, Some("application/json"), body).await;
        let problem = reply.assert_problem(400, "invalid_field");
        assert_eq!(problem["errors"][0]["field"], *field, "{uri} {body}: {problem}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains("expected a"), "{uri} {body}: {detail}");
        for rust in ["struct", "Request", "sequence", "usize", "Vec<", "map,"] {
            assert!(!detail.contains(rust), "{uri} {body}: names `{rust}`: {detail}");
        }
    }
}
