//! `POST /v1/catalogs/{c}/events`.

use serde_json::json;

use crate::common::TestApp;

#[tokio::test]
async fn accepted_events_are_stored() {
    let app = TestApp::new();
    app.post("/v1/catalogs", json!({"name": "music"})).await.ok(201);
    let reply = app
        .post(
            "/v1/catalogs/music/events",
            json!({"events": [
                {"user_id": "u1", "item_id": "a", "weight": 2.0, "timestamp": 1_700_000_000},
                {"user_id": "u1", "item_id": "b"},
            ]}),
        )
        .await;
    assert_eq!(reply.ok(200)["accepted"], 2);
    let user = app.get("/v1/catalogs/music/users/u1").await;
    let events = user.ok(200)["events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["item_id"], "a");
    assert_eq!(events[0]["weight"], 2.0);
    assert_eq!(events[0]["timestamp"], 1_700_000_000);
}

#[tokio::test]
async fn a_bad_row_rejects_the_whole_batch_with_a_row_list() {
    let app = TestApp::new();
    app.post("/v1/catalogs", json!({"name": "music"})).await.ok(201);
    let reply = app
        .post(
            "/v1/catalogs/music/events",
            json!({"events": [
                {"user_id": "u1", "item_id": "a"},
                {"user_id": "", "item_id": "b"},
                {"user_id": "u2", "item_id": "c", "weight": -1.0},
            ]}),
        )
        .await;
    let body = reply.assert_problem(400, "invalid_rows");
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{body}");
    assert_eq!(errors[0]["index"], 1);
    assert_eq!(errors[0]["field"], "user_id");
    assert_eq!(errors[1]["index"], 2);
    assert_eq!(errors[1]["field"], "weight");
    // All or nothing: the good first row was not stored either.
    app.get("/v1/catalogs/music/users/u1").await.assert_problem(404, "user_not_found");
}

#[tokio::test]
async fn events_to_an_unknown_catalog_are_404() {
    let app = TestApp::new();
    app.post("/v1/catalogs/nope/events", json!({"events": [{"user_id": "u", "item_id": "i"}]}))
        .await
        .assert_problem(404, "catalog_not_found");
}
