//! Crash durability: a child process appends batches and prints each acknowledged sequence range;
//! it is killed with SIGKILL mid-stream; after reopening, every acknowledged event is there, no
//! batch is half-stored, and the database is consistent.
//!
//! The child is this same test binary, re-run with a filter that selects
//! [`append_worker_child`] and an environment variable that tells it where to write.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use encore_store::{SqliteStore, Store};

use crate::event;

const DIR_VAR: &str = "ENCORE_STORE_APPEND_WORKER_DIR";
const BATCH: usize = 20;

/// The child: appends batches forever (until killed) and prints `ack FIRST LAST` after each
/// commit. Does nothing when run as an ordinary test.
#[test]
fn append_worker_child() {
    let Ok(dir) = std::env::var(DIR_VAR) else { return };
    let store = SqliteStore::open(&dir).unwrap();
    for batch in 0u64.. {
        let events: Vec<_> =
            (0..BATCH).map(|j| event(&format!("w{batch}"), &format!("i{j}"))).collect();
        let report = store.append_events("music", &events).unwrap();
        let (first, last) = report.seq_range.unwrap();
        // println! flushes at the newline: the parent sees the ack as soon as it is printed.
        println!("ack {first} {last}");
    }
}

#[test]
fn acknowledged_appends_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    SqliteStore::open(dir.path()).unwrap().create_catalog("music").unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "durability::append_worker_child", "--nocapture", "--test-threads=1"])
        .env(DIR_VAR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut acked: Vec<(u64, u64)> = Vec::new();
    let started = Instant::now();
    let mut lines = stdout.lines();
    // Wait for enough acknowledged batches, then kill mid-stream.
    while acked.len() < 30 && started.elapsed() < Duration::from_secs(60) {
        let Some(line) = lines.next() else { break };
        if let Some(rest) = line.unwrap().strip_prefix("ack ") {
            let (a, b) = rest.split_once(' ').unwrap();
            acked.push((a.parse().unwrap(), b.parse().unwrap()));
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix
    // Acks printed before the kill but not read yet are acknowledged too.
    for line in lines {
        let Ok(line) = line else { break };
        if let Some(rest) = line.strip_prefix("ack ") {
            let (a, b) = rest.split_once(' ').unwrap();
            acked.push((a.parse().unwrap(), b.parse().unwrap()));
        }
    }
    child.wait().unwrap();
    assert!(acked.len() >= 30, "the worker acknowledged only {} batches", acked.len());

    let store = SqliteStore::open(dir.path()).unwrap();
    assert!(store.integrity_check().unwrap().is_empty());
    let mut stored = BTreeSet::new();
    store
        .for_each_training_event("music", None, &mut |e| {
            stored.insert(e.seq);
        })
        .unwrap();
    for (first, last) in &acked {
        for seq in *first..=*last {
            assert!(stored.contains(&seq), "acknowledged event {seq} was lost");
        }
    }
    assert_eq!(stored.len() % BATCH, 0, "a batch was half-stored");
    assert!(stored.len() >= acked.len() * BATCH);
}
