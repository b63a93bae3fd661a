//! Crash durability of the real server: SIGKILL at seeded random moments while clients stream
//! event batches, while a model trains, and while models are being activated. After each kill the
//! store must pass SQLite's integrity and foreign-key checks, every acknowledged event must be
//! there exactly once (and every unacknowledged batch wholly or not at all), and a catalog that
//! had an active model must still serve one.
//!
//! (`server_process::acknowledged_events_survive_kill_9` covers one writer and one kill; these
//! rounds add concurrent writers, exact counts, repeated kills over the same directory, and kills
//! in the model registry's critical sections.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::reliability_common::{Node, Rng, authed, integrity_problems};

/// Events per batch; every batch has its own user, so a user's event count is its batch's fate.
const BATCH: usize = 20;
const WRITERS: u64 = 3;

/// What one writer thread saw: acknowledged batches and the one in flight when the server died.
struct WriterLog {
    acknowledged: Vec<String>,
    in_flight: Option<String>,
}

fn batch_events(user: &str) -> Value {
    let events: Vec<Value> = (0..BATCH)
        .map(|k| {
            json!({"user_id": user, "item_id": format!("i{k}"), "weight": 1 + k % 3,
                        "timestamp": 1_700_000_000 + k as i64})
        })
        .collect();
    json!({ "events": events })
}

fn stream_batches(url: String, key: Option<String>, prefix: String) -> WriterLog {
    let client = Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let mut log = WriterLog { acknowledged: Vec::new(), in_flight: None };
    for batch in 0u32.. {
        let user = format!("{prefix}b{batch}");
        log.in_flight = Some(user.clone());
        match authed(client.post(&url), key.as_deref()).json(&batch_events(&user)).send() {
            Ok(r) if r.status() == 200 => {
                let body: Value = r.json().expect("an acknowledgement is JSON");
                assert_eq!(body["accepted"], BATCH, "{body}");
                log.acknowledged.push(user);
                log.in_flight = None;
            }
            Ok(r) => {
                panic!("batch {user} refused: {} {}", r.status(), r.text().unwrap_or_default())
            }
            Err(_) => return log, // the server died during the request: not acknowledged
        }
    }
    unreachable!()
}

/// Events stored for a user (0 when the user is unknown).
fn stored_events(node: &Node, user: &str) -> usize {
    let r = node.get(&format!("/v1/catalogs/music/users/{user}"));
    match r.status {
        200 => r.body["events"].as_array().unwrap().len(),
        404 => 0,
        other => panic!("GET user {user}: {other} {}", r.body),
    }
}

#[test]
fn acknowledged_events_survive_seeded_kill_rounds_exactly_once() {
    const ROUNDS: u64 = 4;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut node = Node::first_start(&data, &[]);
    assert_eq!(node.post("/v1/catalogs", json!({"name": "music"})).status, 201);
    let mut expected_events = 0u64;
    let mut survived = 0;
    for round in 0..ROUNDS {
        let mut rng = Rng::new(0xC0FFEE + round);
        let kill_after = Duration::from_millis(200 + rng.below(1200));
        let url = node.url("/v1/catalogs/music/events");
        let writers: Vec<_> = (0..WRITERS)
            .map(|t| {
                let (url, key) = (url.clone(), node.key.clone());
                std::thread::spawn(move || stream_batches(url, key, format!("r{round}t{t}")))
            })
            .collect();
        std::thread::sleep(kill_after);
        node.kill9();
        let logs: Vec<WriterLog> = writers.into_iter().map(|w| w.join().unwrap()).collect();
        let problems = integrity_problems(&data);
        assert!(problems.is_empty(), "round {round}: store inconsistent: {problems:?}");

        node = node.kill_and_restart(&[]);
        let acknowledged: usize = logs.iter().map(|l| l.acknowledged.len()).sum();
        assert!(acknowledged >= WRITERS as usize, "round {round}: too few batches: {acknowledged}");
        for user in logs.iter().flat_map(|l| &l.acknowledged) {
            assert_eq!(stored_events(&node, user), BATCH, "round {round}: batch {user}");
        }
        expected_events += (acknowledged * BATCH) as u64;
        // A batch in flight at the kill is all-or-nothing, and counts if it landed.
        for user in logs.iter().filter_map(|l| l.in_flight.as_deref()) {
            let stored = stored_events(&node, user);
            assert!(stored == 0 || stored == BATCH, "round {round}: {user} partial: {stored}");
            expected_events += stored as u64;
        }
        // Exactly once: the total is the sum of the batches, no duplicate replayed anywhere.
        assert_eq!(node.event_count("music"), expected_events, "round {round}");
        println!(
            "kill round {round}: killed after {kill_after:?}, {acknowledged} acknowledged batches \
             of {BATCH}, all present exactly once"
        );
        survived += 1;
    }
    assert_eq!(survived, ROUNDS);
}

/// A catalog with enough events that training takes a noticeable moment.
fn seed_larger(node: &Node) {
    assert_eq!(node.post("/v1/catalogs", json!({"name": "music"})).status, 201);
    let mut rng = Rng::new(7);
    for chunk in 0..4 {
        let events: Vec<Value> = (0..2_500)
            .map(|_| {
                let user = rng.below(400);
                let item = (user % 8) * 40 + rng.below(60);
                json!({"user_id": format!("u{user}"), "item_id": format!("i{item}"),
                       "weight": 1 + rng.below(5)})
            })
            .collect();
        let r = node.post("/v1/catalogs/music/events", json!({ "events": events }));
        assert_eq!(r.status, 200, "chunk {chunk}: {}", r.body);
    }
}

/// After a restart: the catalog's active model is one of `allowed` and serves recommendations.
fn assert_serves_one_of(node: &Node, allowed: &[&str], round: u64) -> String {
    let catalog = node.get("/v1/catalogs/music");
    let active = catalog.body["active_model"].as_str().unwrap_or_default().to_string();
    assert!(allowed.contains(&active.as_str()), "round {round}: active {active} ∉ {allowed:?}");
    let r = node.post("/v1/catalogs/music/recommend", json!({"user_id": "u3", "n": 5}));
    assert_eq!(r.status, 200, "round {round}: {}", r.body);
    assert_eq!(r.body["model_version"], active.as_str(), "round {round}: {}", r.body);
    assert_eq!(r.body["recommendations"].as_array().unwrap().len(), 5);
    assert_eq!(node.get("/readyz").status, 200, "round {round}");
    active
}

#[test]
fn kill_during_training_keeps_the_previous_model_serving() {
    const ROUNDS: u64 = 3;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut node = Node::first_start(&data, &[]);
    seed_larger(&node);
    let mut serving = node.train("music", "ials", json!({"factors": 8, "iterations": 2}), "always");
    for round in 0..ROUNDS {
        let mut rng = Rng::new(0xBEEF + round);
        let params = json!({"factors": 48, "iterations": 30});
        let job = node.start_training("music", "ials", params, "always");
        std::thread::sleep(Duration::from_millis(rng.below(400)));
        let state = node.get(&format!("/v1/jobs/{job}")).body["state"].clone();
        node.kill9();
        let problems = integrity_problems(&data);
        assert!(problems.is_empty(), "round {round}: store inconsistent: {problems:?}");
        node = node.kill_and_restart(&[]);
        // The job's model is active only if the job finished and activated before the kill.
        let versions = node.get("/v1/catalogs/music/models").body;
        let all: Vec<String> = versions["models"]
            .as_array()
            .expect("a model list")
            .iter()
            .map(|m| m["version"].as_str().unwrap().to_string())
            .collect();
        let mut allowed: Vec<&str> = vec![serving.as_str()];
        let newest =
            all.iter().max_by_key(|v| v.trim_start_matches('v').parse::<u64>().unwrap_or(0));
        if let Some(newest) = newest {
            allowed.push(newest);
        }
        serving = assert_serves_one_of(&node, &allowed, round);
        // Nothing stays locked: the catalog can train again after the crash.
        let again = node.train("music", "itemknn", json!({}), "never");
        assert!(all.iter().all(|v| *v != again), "round {round}: version {again} reused");
        println!("training kill round {round}: job was {state} at the kill; {serving} serves");
    }
}

#[test]
fn kill_during_activation_keeps_an_active_model_serving() {
    const ROUNDS: u64 = 3;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut node = Node::first_start(&data, &[]);
    node.seed("music");
    let v1 = node.train("music", "ials", json!({"factors": 8, "iterations": 3}), "always");
    let v2 = node.train("music", "itemknn", json!({}), "always");
    for round in 0..ROUNDS {
        let mut rng = Rng::new(0xAC71 + round);
        let stop = Arc::new(AtomicBool::new(false));
        let activator = {
            let (stop, key, client) = (stop.clone(), node.key.clone(), node.client.clone());
            let urls = [v1.clone(), v2.clone()]
                .map(|v| node.url(&format!("/v1/catalogs/music/models/{v}/activate")));
            std::thread::spawn(move || {
                let mut done = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let url = &urls[(done % 2) as usize];
                    match authed(client.post(url), key.as_deref()).json(&json!({})).send() {
                        Ok(r) if r.status() == 200 => done += 1,
                        Ok(r) => panic!("activation refused: {}", r.status()),
                        Err(_) => break,
                    }
                }
                done
            })
        };
        std::thread::sleep(Duration::from_millis(100 + rng.below(600)));
        node.kill9();
        stop.store(true, Ordering::Relaxed);
        let activations = activator.join().unwrap();
        let problems = integrity_problems(&data);
        assert!(problems.is_empty(), "round {round}: store inconsistent: {problems:?}");
        node = node.kill_and_restart(&[]);
        let active = assert_serves_one_of(&node, &[&v1, &v2], round);
        println!("activation kill round {round}: after {activations} activations, {active} serves");
    }
}
