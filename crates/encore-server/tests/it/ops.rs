//! Health, readiness, metrics, the OpenAPI document and the docs page.

use serde_json::{Value, json};

use crate::common::TestApp;

#[tokio::test]
async fn healthz_is_always_ok() {
    let app = TestApp::new();
    assert_eq!(app.get("/healthz").await.ok(200)["status"], "ok");
}

#[tokio::test]
async fn readyz_is_ready_when_active_models_are_loaded() {
    let app = TestApp::seeded_with_model("music").await;
    let body = app.get("/readyz").await.ok(200).clone();
    assert_eq!(body["ready"], true, "{body}");
    assert_eq!(body["catalogs"][0]["catalog"], "music");
    assert_eq!(body["catalogs"][0]["active_model"], body["catalogs"][0]["loaded_model"]);
}

#[tokio::test]
async fn metrics_expose_requests_models_and_events() {
    let app = TestApp::seeded_with_model("music").await;
    app.post("/recommend", json!({"user_id": "r1"})).await.ok(200);
    app.get("/v1/catalogs/nope").await.assert_problem(404, "catalog_not_found");
    let reply = app.get("/metrics").await;
    assert_eq!(reply.status.as_u16(), 200);
    assert!(reply.headers["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = reply.body.as_str().expect("text body");
    for needle in [
        r#"encore_http_requests_total{method="POST",route="/recommend",status="200"}"#,
        r#"route="/v1/catalogs/{catalog}",status="404""#,
        "encore_http_request_duration_seconds_bucket{",
        r#"encore_active_model_info{catalog="music",version="#,
        r#"encore_model_load_seconds{catalog="music"}"#,
        "encore_events_ingested_total",
        "encore_training_jobs_started_total",
    ] {
        assert!(text.contains(needle), "missing `{needle}` in:\n{text}");
    }
}

#[tokio::test]
async fn openapi_document_is_3_1_and_complete() {
    let app = TestApp::new();
    let doc = app.get("/openapi.json").await.ok(200).clone();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    let paths = doc["paths"].as_object().unwrap();
    let expected: &[(&str, &[&str])] = &[
        ("/recommend", &["post"]),
        ("/v1/catalogs", &["get", "post"]),
        ("/v1/catalogs/{catalog}", &["get", "delete"]),
        ("/v1/catalogs/{catalog}/items", &["get", "post"]),
        ("/v1/catalogs/{catalog}/items/{item_id}", &["get", "put", "delete"]),
        ("/v1/catalogs/{catalog}/items/{item_id}/similar", &["get"]),
        ("/v1/catalogs/{catalog}/events", &["post"]),
        ("/v1/catalogs/{catalog}/recommend", &["post"]),
        ("/v1/catalogs/{catalog}/users/{user_id}", &["get", "delete"]),
        ("/v1/catalogs/{catalog}/models", &["get", "post"]),
        ("/v1/catalogs/{catalog}/models/{version}/activate", &["post"]),
        ("/v1/jobs/{job_id}", &["get", "delete"]),
        ("/healthz", &["get"]),
        ("/readyz", &["get"]),
        ("/metrics", &["get"]),
        ("/v1/keys", &["get", "post"]),
        ("/v1/keys/{key_id}", &["delete"]),
        ("/v1/audit", &["get"]),
        ("/v1/metrics/history", &["get"]),
        ("/v1/catalogs/{catalog}/stats/events", &["get"]),
        ("/v1/catalogs/{catalog}/stats/popularity", &["get"]),
        ("/v1/catalogs/{catalog}/stats/coverage", &["get"]),
        ("/v1/jobs", &["get"]),
        ("/v1/whoami", &["get"]),
    ];
    for (path, methods) in expected {
        let item = paths.get(*path).unwrap_or_else(|| panic!("missing path {path}"));
        for method in *methods {
            let op = &item[*method];
            assert!(op.is_object(), "missing {method} {path}");
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.contains_key("500"), "{method} {path}: no 500");
            // Every route but health and readiness needs a key, and documents it.
            let protected = !matches!(*path, "/healthz" | "/readyz");
            assert_eq!(op.get("security").is_some(), protected, "{method} {path}: security");
            for status in ["401", "403", "429"] {
                assert_eq!(responses.contains_key(status), protected, "{method} {path}: {status}");
            }
            assert!(
                responses.keys().any(|k| k.starts_with('2')),
                "{method} {path}: no success response"
            );
            if op.get("requestBody").is_some() {
                for status in ["400", "413", "415"] {
                    assert!(responses.contains_key(status), "{method} {path}: no {status}");
                }
                assert_eq!(
                    responses["415"]["content"]["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem"
                );
            }
        }
    }
    // Every route served is documented, and nothing documented is missing from the expectations.
    assert_eq!(paths.len(), expected.len(), "{:?}", paths.keys().collect::<Vec<_>>());
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "Problem",
        "RecommendRequest",
        "RecommendResponse",
        "IngestEvents",
        "TrainRequest",
        "JobInfo",
    ] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
    // Domain errors are documented where they occur.
    let not_found = &doc["paths"]["/v1/jobs/{job_id}"]["get"]["responses"]["404"];
    assert!(not_found != &Value::Null);
    let unavailable = &doc["paths"]["/recommend"]["post"]["responses"]["503"];
    assert!(unavailable != &Value::Null);
}

#[tokio::test]
async fn docs_page_is_served_without_internet() {
    let app = TestApp::new();
    let reply = app.get("/docs/").await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.body);
    let html = reply.body.as_str().unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    // Every script and stylesheet is served by the server itself, not by a CDN.
    assert!(!html.contains("https://"), "the docs page loads something from the internet");
    let init = app.get("/docs/swagger-initializer.js").await;
    assert_eq!(init.status.as_u16(), 200);
    assert!(init.body.as_str().unwrap().contains("/openapi.json"));
}

/// Policies are attached where routes are built, so a route built without one would be open:
/// every documented operation but liveness and readiness must refuse a request without a key.
#[tokio::test]
async fn every_documented_operation_but_health_refuses_a_request_without_a_key() {
    let app = TestApp::seeded_with_model("music").await;
    let doc = serde_json::to_value(encore_server::openapi_document()).unwrap();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let uri = path
            .replace("{catalog}", "music")
            .replace("{item_id}", "rock-1")
            .replace("{user_id}", "r1")
            .replace("{version}", "v1")
            .replace("{job_id}", "1")
            .replace("{key_id}", "1");
        for method in ["get", "put", "post", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let mut request = axum::http::Request::builder()
                .method(method.to_uppercase().as_str())
                .uri(&uri)
                .header("content-type", "application/json")
                // A key-shaped but unknown secret: the send helper adds the admin key otherwise.
                .header("authorization", "Bearer ek_unknown")
                .body(axum::body::Body::from("{}"))
                .unwrap();
            if matches!(path.as_str(), "/healthz" | "/readyz") {
                request.headers_mut().remove("authorization");
                let reply = app.send(request).await;
                assert!(reply.status.as_u16() < 400, "{method} {path}: {}", reply.status);
                continue;
            }
            let reply = app.send(request).await;
            assert_eq!(reply.status.as_u16(), 401, "{method} {path} is not protected");
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} operations checked");
}
