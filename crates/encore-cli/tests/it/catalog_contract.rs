//! The catalog's contract with client apps, against a real `encore serve` over HTTP: a deleted
//! item is gone everywhere at once (and back when put again), unavailable items are left out
//! unless asked for, explanations carry titles, a catalog without a model still answers, and the
//! process is live before a large catalog has loaded.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{arg, encore_ok};
use crate::server_harness::Server;

/// Item ids of a recommendation or similar list.
fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|r| r["item_id"].as_str().unwrap().to_string())
        .collect()
}

/// A seeded catalog (60 users, 48 items with titles and kinds) with an active iALS model.
fn trained_music(server: &Server) {
    server.seed("music");
    let items: Vec<Value> = (0..48)
        .map(|i| json!({"item_id": format!("i{i}"), "title": format!("Song {i}"), "kind": "track"}))
        .collect();
    let (status, body) = server.post("/v1/catalogs/music/items", json!({"items": items}));
    assert_eq!(status, 200, "{body}");
    server.train("music", "ials", json!({"factors": 8, "iterations": 6}), "always");
}

/// Every list a client can get that could contain `item` for user `u1` (whose history is group
/// 0, items i0–i11): the model source (precomputed lists), a fold-in history, popular items for
/// a stranger, both recommendation routes, and the similar items of every other item of the
/// group.
fn every_list(server: &Server, item: &str) -> Vec<(String, Vec<String>)> {
    let mut lists = Vec::new();
    let (s, simple) = server.post("/recommend", json!({"user_id": "u1", "n": 40}));
    assert_eq!(s, 200, "{simple}");
    lists.push(("POST /recommend".to_string(), ids(&simple["recommendations"])));
    let full = "/v1/catalogs/music/recommend";
    for (name, body) in [
        ("model source", json!({"user_id": "u1", "n": 40})),
        (
            "model source, filtered",
            json!({"user_id": "u1", "n": 5, "filter": {"kinds": ["track"]}}),
        ),
        ("history", json!({"history": [{"item_id": "i13"}, {"item_id": "i14"}], "n": 40})),
        ("popular", json!({"user_id": "stranger", "n": 48})),
    ] {
        let (s, r) = server.post(full, body);
        assert_eq!(s, 200, "{name}: {r}");
        lists.push((name.to_string(), ids(&r["recommendations"])));
    }
    for other in (0..12).map(|i| format!("i{i}")).filter(|o| o != item) {
        let (s, r) = server.get(&format!("/v1/catalogs/music/items/{other}/similar?n=47"));
        assert_eq!(s, 200, "{r}");
        lists.push((format!("similar to {other}"), ids(&r["similar"])));
    }
    lists
}

/// The best item recommended to `u1` under the model.
fn top_for_u1(server: &Server) -> String {
    let (_, r) = server.post("/v1/catalogs/music/recommend", json!({"user_id": "u1", "n": 1}));
    ids(&r["recommendations"]).remove(0)
}

#[test]
fn a_deleted_item_is_gone_everywhere_at_once_and_back_when_put_again() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data);
    trained_music(&server);
    let top = top_for_u1(&server);
    assert!(every_list(&server, &top).iter().any(|(_, l)| l.contains(&top)));

    assert_eq!(server.delete(&format!("/v1/catalogs/music/items/{top}")).0, 204);
    let (status, body) = server.get(&format!("/v1/catalogs/music/items/{top}"));
    assert_eq!((status, body["code"].as_str()), (404, Some("item_not_found")), "{body}");
    for (name, list) in every_list(&server, &top) {
        assert!(!list.contains(&top), "{name} still lists the deleted {top}: {list:?}");
    }
    let (status, body) = server.get(&format!("/v1/catalogs/music/items/{top}/similar"));
    assert_eq!((status, body["code"].as_str()), (404, Some("item_not_found")), "{body}");
    // A second delete finds nothing to delete.
    assert_eq!(server.delete(&format!("/v1/catalogs/music/items/{top}")).0, 404);
    // Its events stay: they are history, so the users who played it still have them.
    let (_, user) = server.get("/v1/catalogs/music/users/u1");
    let played: Vec<&str> =
        user["events"].as_array().unwrap().iter().map(|e| e["item_id"].as_str().unwrap()).collect();
    assert!(!played.is_empty());

    // The takedown survives a restart.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    drop(server);
    let server = Server::start(&data);
    assert_eq!(server.get(&format!("/v1/catalogs/music/items/{top}")).0, 404);
    for (name, list) in every_list(&server, &top) {
        assert!(!list.contains(&top), "after a restart, {name} lists the deleted {top}");
    }

    // PUT brings it back, at once and where it was.
    let (status, body) = server
        .client
        .put(server.url(&format!("/v1/catalogs/music/items/{top}")))
        .json(&json!({"title": "Back again", "kind": "track"}))
        .send()
        .map(crate::server_harness::reply)
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.get(&format!("/v1/catalogs/music/items/{top}")).1["title"], "Back again");
    assert_eq!(top_for_u1(&server), top);
}

#[test]
fn unavailable_items_are_left_out_unless_the_request_includes_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    trained_music(&server);
    let top = top_for_u1(&server);
    let (status, body) = server
        .client
        .put(server.url(&format!("/v1/catalogs/music/items/{top}")))
        .json(&json!({"title": "Licence expired", "kind": "track", "available": false}))
        .send()
        .map(crate::server_harness::reply)
        .unwrap();
    assert_eq!(status, 200, "{body}");
    for (name, list) in every_list(&server, &top) {
        assert!(!list.contains(&top), "{name} lists the unavailable {top}: {list:?}");
    }
    // Still an item of the catalog, and a request may opt in.
    assert_eq!(server.get(&format!("/v1/catalogs/music/items/{top}")).0, 200);
    let (status, body) = server.post(
        "/v1/catalogs/music/recommend",
        json!({"user_id": "u1", "n": 1, "filter": {"include_unavailable": true}}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(ids(&body["recommendations"]), std::slice::from_ref(&top));
    assert_eq!(body["recommendations"][0]["available"], false);
}

#[test]
fn explanations_name_the_history_items_title_and_kind() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    trained_music(&server);
    let (status, body) = server
        .post("/v1/catalogs/music/recommend", json!({"user_id": "u1", "n": 3, "explain": true}));
    assert_eq!(status, 200, "{body}");
    let mut entries = 0;
    for rec in body["recommendations"].as_array().unwrap() {
        for because in rec["because"].as_array().unwrap() {
            let id = because["item_id"].as_str().unwrap();
            let number = id.trim_start_matches('i');
            assert_eq!(because["title"], format!("Song {number}"), "{because}");
            assert_eq!(because["kind"], "track", "{because}");
            entries += 1;
        }
    }
    assert!(entries > 0, "no explanation at all: {body}");
    // An item without metadata has neither field, rather than empty strings.
    let (_, bare) = server.post(
        "/v1/catalogs/music/recommend",
        json!({"history": [{"item_id": "i1"}], "n": 1, "explain": true}),
    );
    assert_eq!(bare["recommendations"][0]["because"][0]["title"], "Song 1", "{bare}");
}

#[test]
fn a_catalog_without_an_active_model_answers_popular_and_similar_is_409() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    server.seed("music");
    for (path, body) in [
        ("/recommend", json!({"user_id": "u1", "n": 5})),
        ("/v1/catalogs/music/recommend", json!({"user_id": "u1", "n": 5})),
        ("/v1/catalogs/music/recommend", json!({"history": [{"item_id": "i1"}], "n": 5})),
    ] {
        let (status, r) = server.post(path, body);
        assert_eq!(status, 200, "{path}: {r}");
        assert_eq!(r["source"], "popular", "{r}");
        assert_eq!(r["model_version"], Value::Null, "{r}");
        assert_eq!(r["recommendations"].as_array().unwrap().len(), 5, "{r}");
    }
    // u1 played items of group 0 (i0–i11): popular items exclude them.
    let (_, r) = server.post("/v1/catalogs/music/recommend", json!({"user_id": "u1", "n": 20}));
    let (_, user) = server.get("/v1/catalogs/music/users/u1");
    for event in user["events"].as_array().unwrap() {
        assert!(!ids(&r["recommendations"]).contains(&event["item_id"].as_str().unwrap().into()));
    }
    let (status, body) = server.get("/v1/catalogs/music/items/i1/similar");
    assert_eq!((status, body["code"].as_str()), (409, Some("no_active_model")), "{body}");
    assert_eq!(server.get("/readyz").0, 200, "a catalog without a model is ready");
}

#[test]
fn the_process_is_live_before_a_large_catalog_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let plays = dir.path().join("plays.tsv");
    encore_ok(&[
        "generate",
        "--rows",
        "1500000",
        "--users",
        "30000",
        "--items",
        "5000",
        "--output",
        arg(&plays),
    ]);
    encore_ok(&["import", "--data-dir", arg(&data), "--catalog", "music", arg(&plays)]);

    let server = Server::spawn(&data);
    let live_after = server.wait_until_live(Duration::from_secs(60));
    // Live while still loading: /readyz says so (503 with the loading state), and a catalog
    // request is 503 `not_ready` with Retry-After rather than a long wait.
    let (ready, body) = server.get("/readyz");
    let loading_seen = ready == 503;
    if loading_seen {
        assert_eq!(body["code"], "not_ready", "{body}");
        assert!(body["detail"].as_str().unwrap().contains("loading catalogs"), "{body}");
    }
    let response = server.client.post(server.url("/recommend")).json(&json!({"user_id": "u1"}));
    let response = response.send().unwrap();
    let retry_after = response.headers().get("retry-after").cloned();
    let (status, recommend) = crate::server_harness::reply(response);
    assert!(status == 200 || status == 503, "{status}: {recommend}");
    if status == 503 {
        assert_eq!(recommend["code"], "not_ready", "{recommend}");
        assert_eq!(retry_after.unwrap(), "1");
    }
    server.wait_until_loaded();
    assert_eq!(server.get("/readyz").0, 200);
    assert_eq!(server.post("/recommend", json!({"user_id": "u1"})).0, 200);
    eprintln!("live after {live_after:?}; loading observed: {loading_seen}");
    assert!(
        loading_seen,
        "/readyz never reported the load in progress (live after {live_after:?}): the listener \
         must answer before the catalogs are loaded"
    );
}
