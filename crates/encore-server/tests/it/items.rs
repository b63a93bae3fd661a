//! `/v1/catalogs/{c}/items` and similar items.

use serde_json::json;

use crate::common::TestApp;

#[tokio::test]
async fn upsert_get_put_delete() {
    let app = TestApp::new();
    app.post("/v1/catalogs", json!({"name": "films"})).await.ok(201);
    let reply = app
        .post(
            "/v1/catalogs/films/items",
            json!({"items": [
                {"item_id": "f1", "title": "Alien", "kind": "film", "tags": ["sci-fi", "horror"], "released": "1979-05-25"},
                {"item_id": "f2", "title": "Heat", "kind": "film", "tags": ["crime"]},
            ]}),
        )
        .await;
    assert_eq!(reply.ok(200)["upserted"], 2);

    let item = app.get("/v1/catalogs/films/items/f1").await;
    let body = item.ok(200);
    assert_eq!(body["title"], "Alien");
    assert_eq!(body["tags"], json!(["sci-fi", "horror"]));
    assert_eq!(body["available"], true);
    assert_eq!(body["released"], "1979-05-25");

    let put = app
        .put(
            "/v1/catalogs/films/items/f2",
            json!({"title": "Heat (1995)", "kind": "film", "tags": ["crime"], "available": false}),
        )
        .await;
    assert_eq!(put.ok(200)["item_id"], "f2");
    let item = app.get("/v1/catalogs/films/items/f2").await;
    assert_eq!(item.ok(200)["title"], "Heat (1995)");
    assert_eq!(item.body["available"], false);

    assert_eq!(app.delete("/v1/catalogs/films/items/f1").await.status, 204);
    app.delete("/v1/catalogs/films/items/f1").await.assert_problem(404, "item_not_found");
}

#[tokio::test]
async fn invalid_item_rows_are_listed() {
    let app = TestApp::new();
    app.post("/v1/catalogs", json!({"name": "films"})).await.ok(201);
    let reply = app
        .post("/v1/catalogs/films/items", json!({"items": [{"item_id": "ok"}, {"item_id": ""}]}))
        .await;
    let body = reply.assert_problem(400, "invalid_rows");
    assert_eq!(body["errors"][0]["index"], 1, "{body}");
    assert_eq!(body["errors"][0]["field"], "item_id", "{body}");
}

#[tokio::test]
async fn similar_items_come_from_the_same_taste_group() {
    let app = TestApp::seeded_with_model("music").await;
    let reply = app.get("/v1/catalogs/music/items/rock-1/similar?n=5").await;
    let body = reply.ok(200);
    assert_eq!(body["item_id"], "rock-1");
    let similar = body["similar"].as_array().unwrap();
    assert_eq!(similar.len(), 5, "{body}");
    assert!(similar.iter().all(|s| s["item_id"] != "rock-1"), "{body}");
    let rock =
        similar.iter().filter(|s| s["item_id"].as_str().unwrap().starts_with("rock")).count();
    assert!(rock >= 3, "similar items of a rock track should be mostly rock: {body}");
    app.get("/v1/catalogs/music/items/unknown/similar").await.assert_problem(404, "item_not_found");
    app.get("/v1/catalogs/music/items/rock-1/similar?n=5000")
        .await
        .assert_problem(400, "invalid_field");
}
