//! The dashboard's files and the read endpoints it uses: metrics history, events over time,
//! popularity, coverage, item search, job list and `whoami`.

use axum::body::Body;
use axum::http::{Method, Request, header};
use serde_json::{Value, json};

use crate::common::TestApp;

#[tokio::test]
async fn dashboard_files_are_public_and_locked_down_by_csp() {
    let app = TestApp::new();
    let request = |uri: &str| Request::builder().uri(uri).body(Body::empty()).unwrap();
    // No key: the files hold no data.
    let reply = app.send(request("/dashboard/").map(|b| b)).await;
    assert_eq!(reply.status, 200);
    let csp = reply.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    assert!(reply.body.as_str().unwrap().contains("<script type=\"module\" src=\"app.js\">"));
    let js = app.send(request("/dashboard/pages/overview.js")).await;
    assert_eq!(js.status, 200);
    assert!(js.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/javascript"));
    let redirect = app.send(request("/dashboard")).await;
    assert_eq!(redirect.status, 308);
    assert_eq!(redirect.headers[header::LOCATION], "/dashboard/");
    // Revalidation: the same ETag answers 304 without a body.
    let tag = js.headers[header::ETAG].to_str().unwrap().to_string();
    let again = Request::builder()
        .uri("/dashboard/pages/overview.js")
        .header(header::IF_NONE_MATCH, &tag)
        .body(Body::empty())
        .unwrap();
    let again = app.send(again).await;
    assert_eq!(again.status, 304);
    assert_eq!(again.body, Value::String(String::new()));
    assert_ne!(reply.headers[header::ETAG], tag, "each file has its own tag");
    app.send(request("/dashboard/nope.js")).await.assert_problem(404, "not_found");
    app.send(request("/dashboard/../Cargo.toml")).await.assert_problem(404, "not_found");
}

#[tokio::test]
async fn metrics_history_counts_this_processes_requests_per_minute() {
    let app = TestApp::new();
    let before = app.get("/v1/metrics/history").await.ok(200).clone();
    let total = |h: &Value| -> u64 {
        h["minutes"].as_array().unwrap().iter().map(|m| m["requests"].as_u64().unwrap()).sum()
    };
    for _ in 0..5 {
        app.get("/v1/catalogs/none").await.assert_problem(404, "catalog_not_found");
    }
    let after = app.get("/v1/metrics/history").await.ok(200).clone();
    assert_eq!(after["minutes"].as_array().unwrap().len(), 60);
    assert_eq!(after["resolution_seconds"], 60);
    // The history is process-wide and other tests run in parallel: at least our six requests.
    assert!(total(&after) >= total(&before) + 6, "{before} → {after}");
    // The five 404s fall in the last two minutes (a minute may have begun meanwhile).
    let minutes = after["minutes"].as_array().unwrap();
    let recent_4xx: u64 = minutes[58..].iter().map(|m| m["client_errors"].as_u64().unwrap()).sum();
    assert!(recent_4xx >= 5, "{after}");
    let busy = minutes.iter().rev().find(|m| m["requests"].as_u64().unwrap() > 0).unwrap();
    assert!(busy["p99_ms"].as_f64().unwrap() >= busy["p50_ms"].as_f64().unwrap());
}

#[tokio::test]
async fn events_over_time_bucket_by_timestamp_else_ingestion() {
    let app = TestApp::new();
    app.seed("music").await;
    // 200 events at 1_700_000_000 + 0..=195 s, 40 without a timestamp (ingested now).
    let day =
        app.get("/v1/catalogs/music/stats/events?bucket=day&limit=1000").await.ok(200).clone();
    let buckets = day["buckets"].as_array().unwrap();
    assert_eq!(day["bucket"], "day");
    assert_eq!(buckets.last().unwrap()["events"], 40);
    let shown: u64 = buckets.iter().map(|b| b["events"].as_u64().unwrap()).sum();
    assert_eq!(shown + day["earlier_events"].as_u64().unwrap(), 240);
    assert!(
        buckets
            .windows(2)
            .all(|w| w[1]["start"].as_i64() == w[0]["start"].as_i64().map(|s| s + 86_400))
    );
    // Only timestamped events: the buckets run from the first event's day to the last one's.
    app.post("/v1/catalogs", json!({"name": "old"})).await.ok(201);
    let events: Vec<Value> = [0i64, 10, 86_400 * 2 + 5]
        .iter()
        .map(|dt| json!({"user_id": "u", "item_id": format!("i{dt}"), "timestamp": 1_700_000_000 + dt}))
        .collect();
    app.post("/v1/catalogs/old/events", json!({ "events": events })).await.ok(200);
    let old = app.get("/v1/catalogs/old/stats/events?bucket=day").await.ok(200).clone();
    let first = 1_700_000_000 - 1_700_000_000 % 86_400;
    assert_eq!(
        old["buckets"],
        json!([{"start": first, "events": 2}, {"start": first + 86_400, "events": 0}, {"start": first + 2 * 86_400, "events": 1}])
    );
    assert_eq!(old["earlier_events"], 0);
    let last_two =
        app.get("/v1/catalogs/old/stats/events?bucket=day&limit=2").await.ok(200).clone();
    assert_eq!(last_two["buckets"].as_array().unwrap().len(), 2);
    assert_eq!(last_two["earlier_events"], 2);
    // The last 168 hours hold only the events ingested now; the old ones are counted before.
    let hours = app.get("/v1/catalogs/music/stats/events").await.ok(200).clone();
    assert_eq!(hours["bucket"], "hour");
    assert_eq!(hours["buckets"].as_array().unwrap().len(), 168);
    assert_eq!(hours["earlier_events"], 200);
    app.get("/v1/catalogs/music/stats/events?limit=0").await.assert_problem(400, "invalid_field");
    app.get("/v1/catalogs/music/stats/events?bucket=week")
        .await
        .assert_problem(400, "invalid_query");
    app.get("/v1/catalogs/none/stats/events").await.assert_problem(404, "catalog_not_found");
}

#[tokio::test]
async fn popularity_and_coverage_describe_the_long_tail_and_the_lists() {
    let app = TestApp::seeded_with_model("music").await;
    let p = app.get("/v1/catalogs/music/stats/popularity").await.ok(200).clone();
    assert_eq!(p["events"], 240);
    let items = p["items_with_events"].as_u64().unwrap();
    assert_eq!(p["head_items"], (items as f64 * 0.2).ceil() as u64);
    let curve = p["curve"].as_array().unwrap();
    assert_eq!(curve.len() as u64, items, "few items: every rank is a point");
    assert!(curve.windows(2).all(|w| w[0]["events"].as_u64() >= w[1]["events"].as_u64()));
    assert!((curve.last().unwrap()["cumulative_share"].as_f64().unwrap() - 1.0).abs() < 1e-9);
    let head = p["head_share"].as_f64().unwrap();
    let at_head =
        curve[p["head_items"].as_u64().unwrap() as usize - 1]["cumulative_share"].as_f64().unwrap();
    assert!((head - at_head).abs() < 1e-9 && head > 0.2, "{p}");
    assert_eq!(p["top"].as_array().unwrap().len(), 10);
    assert!(p["top"][0]["title"].as_str().unwrap().contains("song"));

    let c = app.get("/v1/catalogs/music/stats/coverage?k=5&users=10").await.ok(200).clone();
    assert_eq!(
        (c["k"].clone(), c["users_sampled"].clone(), c["users"].clone()),
        (json!(5), json!(10), json!(40))
    );
    assert_eq!(c["model_version"], "v1");
    let recommended = c["items_recommended"].as_u64().unwrap();
    assert!((5..=24).contains(&recommended), "{c}");
    assert!((c["coverage"].as_f64().unwrap() - recommended as f64 / 24.0).abs() < 1e-9);
    app.get("/v1/catalogs/music/stats/coverage?k=101").await.assert_problem(400, "invalid_field");
    app.get("/v1/catalogs/music/stats/coverage?users=0").await.assert_problem(400, "invalid_field");
}

#[tokio::test]
async fn item_search_matches_id_prefix_or_title_a_page_at_a_time() {
    let app = TestApp::new();
    app.seed("music").await;
    let page = app.get("/v1/catalogs/music/items?q=JAZZ-1&limit=2").await.ok(200).clone();
    // jazz-1, jazz-10, jazz-11 by id prefix ("jazz song 1…" titles match too).
    let ids = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["item_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&page), ["jazz-1", "jazz-10"]);
    let after = page["next_after"].as_u64().unwrap();
    let next = app
        .get(&format!("/v1/catalogs/music/items?q=JAZZ-1&limit=2&after={after}"))
        .await
        .ok(200)
        .clone();
    assert_eq!(ids(&next), ["jazz-11"]);
    assert!(next["next_after"].is_null());
    let titled = app.get("/v1/catalogs/music/items?q=rock%20song%207").await.ok(200).clone();
    assert_eq!(ids(&titled), ["rock-7"]);
    assert_eq!(titled["items"][0]["title"], "rock song 7");
    // Taken down: not found by the search either.
    app.delete("/v1/catalogs/music/items/rock-7").await.ok(204);
    assert!(ids(&app.get("/v1/catalogs/music/items?q=rock-7").await.ok(200).clone()).is_empty());
    let all = app.get("/v1/catalogs/music/items?limit=1000").await.ok(200).clone();
    assert_eq!(all["items"].as_array().unwrap().len(), 23);
    let far =
        app.get(&format!("/v1/catalogs/music/items?after={}", i64::MAX)).await.ok(200).clone();
    assert!(ids(&far).is_empty());
    app.get("/v1/catalogs/music/items?after=9223372036854775808")
        .await
        .assert_problem(400, "invalid_field");
    let long = "x".repeat(257);
    app.get(&format!("/v1/catalogs/music/items?q={long}"))
        .await
        .assert_problem(400, "invalid_field");
    app.get("/v1/catalogs/music/items?limit=1001").await.assert_problem(400, "invalid_field");
}

#[tokio::test]
async fn job_list_shows_loss_curves_and_models_their_watermark() {
    let app = TestApp::seeded_with_model("music").await;
    let jobs = app.get("/v1/jobs?catalog=music").await.ok(200).clone();
    let job = &jobs["jobs"][0];
    assert_eq!(job["state"], "succeeded");
    let losses = job["loss_history"].as_array().unwrap();
    assert_eq!(losses.len(), 6, "one loss per iALS iteration: {job}");
    assert_eq!(losses.last().unwrap().as_f64(), job["loss"].as_f64());
    app.get("/v1/jobs?limit=0").await.assert_problem(400, "invalid_field");
    app.get("/v1/jobs?catalog=none").await.assert_problem(404, "catalog_not_found");
    let models = app.get("/v1/catalogs/music/models").await.ok(200).clone();
    assert_eq!(models["models"][0]["watermark"], 240);
}

#[tokio::test]
async fn whoami_names_any_key_and_the_stats_follow_the_catalog_scope() {
    let app = TestApp::new();
    app.seed("music").await;
    app.seed("films").await;
    let created = app
        .post("/v1/keys", json!({"name": "films-reader", "role": "reader", "catalog": "films"}))
        .await
        .ok(201)
        .clone();
    let auth = format!("Bearer {}", created["secret"].as_str().unwrap());
    let as_reader = |uri: &str| {
        Request::builder()
            .method(Method::GET)
            .uri(uri)
            .header(header::AUTHORIZATION, auth.clone())
            .body(Body::empty())
            .unwrap()
    };
    let me = app.send(as_reader("/v1/whoami")).await;
    assert_eq!(me.ok(200)["role"], "reader");
    assert_eq!(me.body["catalog"], "films");
    assert_eq!(me.body["name"], "films-reader");
    assert!(me.body.get("secret").is_none());
    app.send(as_reader("/v1/catalogs/films/stats/popularity")).await.ok(200);
    app.send(as_reader("/v1/catalogs/music/stats/popularity"))
        .await
        .assert_problem(403, "forbidden");
    app.send(as_reader("/v1/catalogs/music/items")).await.assert_problem(403, "forbidden");
    app.send(as_reader("/v1/metrics/history")).await.assert_problem(403, "forbidden");
    app.send(as_reader("/v1/jobs")).await.assert_problem(403, "forbidden");
    let anonymous = Request::builder()
        .uri("/v1/whoami")
        .header(header::AUTHORIZATION, "Bearer nope")
        .body(Body::empty())
        .unwrap();
    app.send(anonymous).await.assert_problem(401, "unauthenticated");
}

#[tokio::test]
async fn user_data_names_each_item_by_its_title() {
    let app = TestApp::new();
    app.seed("music").await;
    // A bare item, created by an event, has no title.
    app.post(
        "/v1/catalogs/music/events",
        json!({"events": [{"user_id": "r0", "item_id": "bare"}]}),
    )
    .await
    .ok(200);
    let user = app.get("/v1/catalogs/music/users/r0").await.ok(200).clone();
    let events = user["events"].as_array().unwrap();
    let title_of = |id: &str| events.iter().find(|e| e["item_id"] == id).unwrap()["title"].clone();
    let rock = events.iter().find(|e| e["item_id"].as_str().unwrap().starts_with("rock-")).unwrap();
    let n = rock["item_id"].as_str().unwrap().trim_start_matches("rock-").to_string();
    assert_eq!(rock["title"], format!("rock song {n}"));
    assert!(title_of("bare").is_null());
    // Taken down: no title either.
    let id = rock["item_id"].as_str().unwrap().to_string();
    app.delete(&format!("/v1/catalogs/music/items/{id}")).await.ok(204);
    let user = app.get("/v1/catalogs/music/users/r0").await.ok(200).clone();
    let after = user["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["item_id"] == id.as_str())
        .unwrap()
        .clone();
    assert!(after["title"].is_null(), "{after}");
}
