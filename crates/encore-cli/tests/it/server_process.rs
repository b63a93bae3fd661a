//! The real `encore serve` process over TCP: every route and error status through the network,
//! the model swap under concurrent requests, durability across `kill -9`, graceful shutdown on
//! SIGTERM, erasure, JSON logs. Each test starts its own server on a free loopback port with a
//! temporary data directory. (Route-by-route behaviour is tested in-process in encore-server.)

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::server_harness::{Server, reply};

#[test]
fn every_route_and_error_status_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    assert_eq!(server.get("/healthz").0, 200);
    server.seed("music");
    // Before any model is active: the popular items, with no model version.
    let (status, body) = server.post("/recommend", json!({"user_id": "u1"}));
    assert_eq!((status, body["source"].as_str()), (200, Some("popular")), "{body}");
    let version = server.train("music", "ials", json!({"factors": 8, "iterations": 4}), "always");
    assert_eq!(server.get("/readyz").0, 200);

    let (status, body) = server.post("/recommend", json!({"user_id": "u1", "n": 3}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model_version"], version.as_str());
    assert_eq!(body["recommendations"].as_array().unwrap().len(), 3);
    let (status, body) = server.post(
        "/v1/catalogs/music/recommend",
        json!({"history": [{"item_id": "i1"}, {"item_id": "i2"}], "n": 2, "explain": true}),
    );
    assert_eq!((status, body["source"].as_str()), (200, Some("history")), "{body}");
    assert_eq!(server.get("/v1/catalogs/music/items/i1/similar?n=4").0, 200);
    let (status, _) = server
        .post("/v1/catalogs/music/items", json!({"items": [{"item_id": "i1", "title": "One"}]}));
    assert_eq!(status, 200);
    let put = server
        .client
        .put(server.url("/v1/catalogs/music/items/i2"))
        .json(&json!({"title": "Two", "kind": "track"}))
        .send()
        .unwrap();
    assert_eq!(reply(put).0, 200);
    assert_eq!(server.get("/v1/catalogs/music/items/i1").1["title"], "One");
    assert_eq!(server.delete("/v1/catalogs/music/items/i2").0, 204);
    assert_eq!(server.get("/v1/catalogs").0, 200);
    assert_eq!(server.get("/v1/catalogs/music").1["active_model"], version.as_str());
    assert_eq!(server.get("/v1/catalogs/music/users/u3").0, 200);
    assert_eq!(server.get("/v1/catalogs/music/models").0, 200);
    let (status, _) =
        server.post(&format!("/v1/catalogs/music/models/{version}/activate"), json!({}));
    assert_eq!(status, 200);
    let (status, metrics) = server.get("/metrics");
    assert_eq!(status, 200);
    assert!(metrics.as_str().unwrap().contains("encore_http_requests_total"));
    assert_eq!(server.get("/openapi.json").1["openapi"].as_str().map(|v| &v[..3]), Some("3.1"));
    assert_eq!(server.client.get(server.url("/docs/")).send().unwrap().status(), 200);

    // Error statuses through the network.
    let raw = |body: &str, content_type: &str| {
        let r = server
            .client
            .post(server.url("/v1/catalogs"))
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
            .unwrap();
        reply(r)
    };
    assert_eq!(raw("{\"name\": ", "application/json").1["code"], "malformed_json");
    assert_eq!(raw("{\"name\": 5}", "application/json").1["code"], "invalid_field");
    assert_eq!(raw("{\"name\": \"x\"}", "text/plain").0, 415);
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(2_000_000));
    let (status, body) = raw(&big, "application/json");
    assert_eq!(status, 413, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("1000000"), "{body}");
    assert_eq!(server.get("/v1/catalogs/films").0, 404);
    assert_eq!(server.get("/v1/catalogs/music/items/nope").0, 404);
    assert_eq!(server.get("/v1/jobs/12345").0, 404);
    assert_eq!(server.get("/nowhere").0, 404);
    assert_eq!(reply(server.client.patch(server.url("/v1/catalogs")).send().unwrap()).0, 405);
    assert_eq!(server.post("/v1/catalogs", json!({"name": "music"})).0, 409);
    // An item with metadata but no events cannot have similar items yet: 422.
    server.post("/v1/catalogs/music/items", json!({"items": [{"item_id": "brand-new"}]}));
    assert_eq!(server.get("/v1/catalogs/music/items/brand-new/similar").0, 422);
    let (status, body) = server
        .post("/v1/catalogs/music/events", json!({"events": [{"user_id": "", "item_id": "x"}]}));
    assert_eq!((status, body["errors"][0]["index"].as_u64()), (400, Some(0)), "{body}");
    assert_eq!(server.delete("/v1/catalogs/music").0, 204);
}

#[test]
fn model_swap_under_concurrent_requests_fails_none() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    server.seed("music");
    let v1 = server.train("music", "ials", json!({"factors": 8, "iterations": 3}), "always");
    let v2 = server.train("music", "itemknn", json!({}), "always");

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let url = server.url("/recommend");
    let auth = server.auth.clone();
    let workers: Vec<_> = (0..4)
        .map(|t| {
            let (stop, ok, url, auth) = (stop.clone(), ok.clone(), url.clone(), auth.clone());
            std::thread::spawn(move || {
                let client = Client::builder()
                    .timeout(Duration::from_secs(30))
                    .default_headers(auth)
                    .build()
                    .unwrap();
                let mut versions = std::collections::BTreeSet::new();
                let mut failures = Vec::new();
                let mut i = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let user = format!("u{}", (t * 13 + i) % 60);
                    i += 1;
                    match client.post(&url).json(&json!({"user_id": user})).send() {
                        Ok(r) if r.status() == 200 => {
                            let body: Value = r.json().unwrap();
                            assert_eq!(body["recommendations"].as_array().unwrap().len(), 10);
                            versions.insert(body["model_version"].as_str().unwrap().to_string());
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(r) => failures.push(format!(
                            "{} {}",
                            r.status(),
                            r.text().unwrap_or_default()
                        )),
                        Err(e) => failures.push(e.to_string()),
                    }
                }
                (versions, failures)
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(4);
    let mut activations = 0;
    while Instant::now() < deadline {
        for version in [&v1, &v2] {
            let (status, body) =
                server.post(&format!("/v1/catalogs/music/models/{version}/activate"), json!({}));
            assert_eq!(status, 200, "{body}");
            activations += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut seen = std::collections::BTreeSet::new();
    for worker in workers {
        let (versions, failures) = worker.join().unwrap();
        assert!(failures.is_empty(), "failed requests during swaps: {failures:?}");
        seen.extend(versions);
    }
    assert!(ok.load(Ordering::Relaxed) > 100, "too few requests: {}", ok.load(Ordering::Relaxed));
    assert!(activations >= 20);
    assert!(seen.contains(&v1) && seen.contains(&v2), "both versions answered: {seen:?}");
}

#[test]
fn acknowledged_events_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data);
    assert_eq!(server.post("/v1/catalogs", json!({"name": "music"})).0, 201);

    // One writer posts batches as fast as it can; every acknowledged batch is remembered.
    let url = server.url("/v1/catalogs/music/events");
    let auth = server.auth.clone();
    let progress = Arc::new(AtomicU64::new(0));
    let writer_progress = progress.clone();
    let writer = std::thread::spawn(move || {
        let client = Client::builder()
            .timeout(Duration::from_secs(10))
            .default_headers(auth)
            .build()
            .unwrap();
        let mut acknowledged = Vec::new();
        for batch in 0u32.. {
            let events: Vec<Value> = (0..50)
                .map(|k| json!({"user_id": format!("w{batch}"), "item_id": format!("i{k}")}))
                .collect();
            match client.post(&url).json(&json!({"events": events})).send() {
                Ok(r) if r.status() == 200 => {
                    acknowledged.push(batch);
                    writer_progress.fetch_add(1, Ordering::Relaxed);
                }
                _ => return acknowledged, // the server died mid-request: not acknowledged
            }
        }
        unreachable!()
    });
    // Kill once a few batches are in (however slow the machine), while more are in flight.
    let deadline = Instant::now() + Duration::from_secs(60);
    while progress.load(Ordering::Relaxed) < 5 {
        assert!(Instant::now() < deadline, "no events acknowledged: {}", server.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    let acknowledged = writer.join().unwrap();
    assert!(acknowledged.len() >= 3, "too few batches before the kill: {}", acknowledged.len());
    drop(server);

    let server = Server::start(&data);
    let (status, catalog) = server.get("/v1/catalogs/music");
    assert_eq!(status, 200);
    assert!(catalog["events"].as_u64().unwrap() >= 50 * acknowledged.len() as u64, "{catalog}");
    for batch in &acknowledged {
        let (status, user) = server.get(&format!("/v1/catalogs/music/users/w{batch}"));
        assert_eq!(status, 200, "acknowledged batch {batch} lost: {user}");
        assert_eq!(user["events"].as_array().unwrap().len(), 50, "batch {batch} partial");
    }
    assert_eq!(server.get("/readyz").0, 200);
}

#[test]
fn sigterm_lets_in_flight_requests_finish() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&dir.path().join("data"));
    assert_eq!(server.post("/v1/catalogs", json!({"name": "music"})).0, 201);
    // A request is in flight when SIGTERM arrives: its headers and half its body are sent, the
    // rest comes after the signal. Graceful shutdown must still answer it.
    let events: Vec<Value> = (0..2_000)
        .map(|k| json!({"user_id": format!("s{}", k % 50), "item_id": format!("i{}", k % 97)}))
        .collect();
    let body = json!({"events": events}).to_string();
    let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "POST /v1/catalogs/music/events HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
         authorization: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        server.addr,
        server.auth[reqwest::header::AUTHORIZATION].to_str().unwrap(),
        body.len()
    );
    let (first, rest) = body.as_bytes().split_at(body.len() / 2);
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(first).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let killed = Command::new("kill").args(["-TERM", &server.pid()]).status().unwrap();
    assert!(killed.success());
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(rest).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "in-flight request was not answered: {response}");
    assert!(response.contains("\"accepted\":2000"), "{response}");
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "exit status after SIGTERM: {exit:?}\n{}", server.log());
    // JSON logs: every line is an object, and the shutdown was logged.
    let log = server.log();
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let value: Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(value["level"].is_string() && value["timestamp"].is_string(), "{line}");
    }
    assert!(log.contains("listening") && log.contains("shutdown requested"), "{log}");
}

#[test]
fn erased_user_is_in_no_model_file_and_no_response() {
    const USER: &str = "erase-me-c0ffee";
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    server.seed("music");
    let events: Vec<Value> =
        ["i1", "i2", "i3", "i4"].iter().map(|i| json!({"user_id": USER, "item_id": i})).collect();
    assert_eq!(server.post("/v1/catalogs/music/events", json!({"events": events})).0, 200);
    server.train("music", "ials", json!({"factors": 8, "iterations": 3}), "always");
    server.train("music", "ease", json!({}), "never");
    let model_files = files_under(&server.data_dir.join("models"));
    assert!(model_files.iter().any(|f| contains(f, USER)), "precondition: the id is in a model");

    let (status, receipt) = server.delete(&format!("/v1/catalogs/music/users/{USER}"));
    assert_eq!(status, 200, "{receipt}");

    for file in files_under(&server.data_dir.join("models")) {
        assert!(!contains(&file, USER), "{} still holds the erased id", file.display());
    }
    let (_, rec) = server.post("/recommend", json!({"user_id": USER}));
    assert_eq!(rec["source"], "popular");
    for path in ["/v1/catalogs/music", "/v1/catalogs/music/models", "/metrics"] {
        let (_, body) = server.get(path);
        assert!(!body.to_string().contains(USER), "{path} mentions the erased user");
    }
    assert_eq!(server.get(&format!("/v1/catalogs/music/users/{USER}")).0, 404);
    // The server's log never printed the id either (ids are not logged at INFO).
    let log_lines = std::io::BufReader::new(std::fs::File::open(&server.stderr_log).unwrap());
    for line in log_lines.lines() {
        assert!(!line.unwrap().contains(USER), "the log mentions the erased user");
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            out.push(path);
        }
    }
    out
}

fn contains(file: &Path, needle: &str) -> bool {
    std::fs::read(file).unwrap().windows(needle.len()).any(|w| w == needle.as_bytes())
}
