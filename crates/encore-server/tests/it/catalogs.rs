//! `/v1/catalogs`.

use serde_json::json;

use crate::common::TestApp;

#[tokio::test]
async fn create_list_get_delete() {
    let app = TestApp::new();
    let created = app.post("/v1/catalogs", json!({"name": "music"})).await;
    assert_eq!(created.ok(201)["name"], "music");
    app.post("/v1/catalogs", json!({"name": "films"})).await.ok(201);

    let list = app.get("/v1/catalogs").await;
    let names: Vec<&str> = list.ok(200)["catalogs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"music") && names.contains(&"films"), "{names:?}");

    app.post("/v1/catalogs/music/events", json!({ "events": crate::common::music_events() }))
        .await
        .ok(200);
    let music = app.get("/v1/catalogs/music").await;
    let body = music.ok(200);
    assert_eq!(body["users"], 40, "{body}");
    assert!(body["events"].as_u64().unwrap() >= 200, "{body}");
    assert!(body["active_model"].is_null());

    assert_eq!(app.delete("/v1/catalogs/films").await.status, 204);
    app.get("/v1/catalogs/films").await.assert_problem(404, "catalog_not_found");
    app.delete("/v1/catalogs/films").await.assert_problem(404, "catalog_not_found");
}

#[tokio::test]
async fn a_single_catalog_is_the_default_of_the_simple_contract() {
    let app = TestApp::seeded_with_model("music").await;
    let reply = app.post("/recommend", json!({"user_id": "r1"})).await;
    assert_eq!(reply.ok(200)["catalog"], "music");
    // With two catalogs, `/recommend` must be told which one: the request is well formed (400
    // would contradict the document), the server's state makes it ambiguous (409).
    app.post("/v1/catalogs", json!({"name": "films"})).await.ok(201);
    let reply = app.post("/recommend", json!({"user_id": "r1"})).await;
    assert_eq!(reply.status.as_u16(), 409, "{}", reply.body);
    assert_eq!(reply.body["code"], "conflict", "{}", reply.body);
    let reply = app.post("/recommend", json!({"user_id": "r1", "catalog": "music"})).await;
    reply.ok(200);
    // Back to one catalog: the default applies again at once.
    assert_eq!(app.delete("/v1/catalogs/films").await.status, 204);
    let reply = app.post("/recommend", json!({"user_id": "r1"})).await;
    assert_eq!(reply.ok(200)["catalog"], "music");
}

#[tokio::test]
async fn deleting_a_catalog_revokes_its_keys_before_a_namesake_exists() {
    use axum::body::Body;
    use axum::http::{Request, header};

    let app = TestApp::new();
    app.post("/v1/catalogs", json!({"name": "music"})).await.ok(201);
    let created =
        app.post("/v1/keys", json!({"name": "m", "role": "reader", "catalog": "music"})).await;
    let secret = created.ok(201)["secret"].as_str().unwrap().to_string();
    let get_with_key = |secret: String| {
        let app = &app;
        async move {
            let request = Request::get("/v1/catalogs/music")
                .header(header::AUTHORIZATION, format!("Bearer {secret}"))
                .body(Body::empty())
                .unwrap();
            app.send(request).await
        }
    };
    get_with_key(secret.clone()).await.ok(200);

    assert_eq!(app.delete("/v1/catalogs/music").await.status, 204);
    app.post("/v1/catalogs", json!({"name": "music"})).await.ok(201);
    get_with_key(secret).await.assert_problem(401, "unauthenticated");
}
