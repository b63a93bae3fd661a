//! Many `encore serve` replicas on one PostgreSQL database, acting as one service (issue 10, "One
//! service, many processes"): real `encore serve --database … --replica-name rN` processes on
//! loopback, each over a data directory of its own (they share nothing but the database), and
//! every point checked with a polling deadline. The deadlines are the documented ones plus slack
//! for a loaded 2-core machine: 2 s for what must propagate within 1 s (events, items and
//! takedowns, catalogs, keys and revocations, erasure), 7 s for activation's 5 s, 20 s for an
//! abandoned job's ~15 s. Each measured latency is printed (`replicas: …` on stderr; run with
//! `--no-capture` to see them).
//!
//! The database outage. The PostgreSQL server of this machine is shared by tests running in
//! parallel, so the test does **not** restart it (`pg_ctlcluster … restart` would break every
//! other test's connections). It cuts off its own database instead, from an admin connection to
//! the `postgres` database: `ALTER DATABASE <db> ALLOW_CONNECTIONS false`, then
//! `pg_terminate_backend` of every backend on `<db>`. To the replicas that is what a restart
//! looks like — every connection drops and new ones are refused — until
//! `ALLOW_CONNECTIONS true` ends it. A guard re-allows connections when the test ends, a panic
//! included, before the test database is dropped.

use std::ops::Deref;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::sleep;
use std::time::{Duration, Instant};

use encore_store::test_support::{TestDatabase, test_database_url};
use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{Value, json};

use crate::common::{arg, clustered_tsv, encore_ok, json as parse_json};
use crate::reliability_common::{Node, Rng, authed, reply};

/// What must reach every replica within 1 s, with slack.
const ONE_SECOND: Duration = Duration::from_secs(2);
/// Activation's 5 s, with slack.
const FIVE_SECONDS: Duration = Duration::from_secs(7);
/// An abandoned job's ~15 s (10 s without heartbeat, then the next check), with slack.
const FIFTEEN_SECONDS: Duration = Duration::from_secs(20);

/// One `encore serve` of the service and the name it was given.
struct Replica {
    name: String,
    node: Node,
}

/// When the test fails, each replica's last log lines and whether it is still running.
impl Drop for Replica {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let exited = self.node.child.try_wait().ok().flatten();
            eprintln!(
                "--- replica {} ({}; exited: {exited:?}), last log lines:\n{}",
                self.name,
                self.node.addr,
                log_tail(self, 60)
            );
        }
    }
}

impl Deref for Replica {
    type Target = Node;
    fn deref(&self) -> &Node {
        &self.node
    }
}

/// Imports the clustered set into catalog `music` of the database and makes an admin key, both
/// with the CLI, as an operator would before starting the replicas; returns the key's secret.
fn prepare_database(url: &str, dir: &Path) -> String {
    let tool_dir = dir.join("tool");
    let file = clustered_tsv(dir);
    let imported = parse_json(&encore_ok(&[
        "import",
        "--data-dir",
        arg(&tool_dir),
        "--database",
        url,
        "--catalog",
        "music",
        "--json",
        arg(&file),
    ]));
    assert!(imported["rows"].as_u64().is_some_and(|rows| rows > 500), "{imported}");
    let key = parse_json(&encore_ok(&[
        "keys",
        "create",
        "--data-dir",
        arg(&tool_dir),
        "--database",
        url,
        "--role",
        "admin",
        "--json",
    ]));
    key["secret"].as_str().expect("the key's secret").to_owned()
}

/// Starts replica `name` over an empty data directory of its own, `dir/name`.
fn start_replica(url: &str, dir: &Path, key: &str, name: &str) -> Replica {
    let data_dir = dir.join(name);
    std::fs::create_dir_all(&data_dir).unwrap();
    let node =
        Node::start(&data_dir, Some(key.to_owned()), &["--database", url, "--replica-name", name]);
    Replica { name: name.to_owned(), node }
}

/// Starts the named replicas one after the other, each checked to be the server answering on
/// its port.
fn start_replicas(url: &str, dir: &Path, key: &str, names: &[&str]) -> Vec<Replica> {
    let replicas: Vec<Replica> = names
        .iter()
        .map(|name| {
            let replica = start_replica(url, dir, key, name);
            assert_identity(&replica);
            replica
        })
        .collect();
    for (i, r) in replicas.iter().enumerate() {
        assert!(replicas[..i].iter().all(|other| other.addr != r.addr), "two on {}", r.addr);
    }
    replicas
}

/// Checks that the server answering on the replica's port is the replica itself, by the name
/// in the audit entry of an audited call: a server that lost its port to another process
/// (picked free, then taken before it bound) would otherwise go unnoticed while the harness
/// talked to the other one.
fn assert_identity(replica: &Replica) {
    let listed = replica.get("/v1/keys");
    assert_eq!(listed.status, 200, "{}", listed.body);
    let entries = audit_entries(replica, "key.list");
    let last = entries.last().expect("the key listing is audited");
    assert_eq!(
        last["replica"],
        replica.name.as_str(),
        "the server on {} is not {}: {last}\n{}",
        replica.addr,
        replica.name,
        replica.log()
    );
}

/// The last `lines` lines of a replica's log, for failure messages.
fn log_tail(replica: &Replica, lines: usize) -> String {
    let log = replica.log();
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Fails when a replica's log shows a panic.
fn assert_no_panic(replicas: &[&Replica]) {
    for replica in replicas {
        let log = replica.log();
        assert!(!log.contains("panicked"), "replica {} panicked:\n{log}", replica.name);
    }
}

/// Polls `probe` on each replica every 10 ms until it holds on all of them, and returns the
/// slowest replica's latency. Fails when that is more than `limit` (after waiting up to three
/// times `limit`, at least 10 s, to report how long it did take), with the laggards' logs.
fn everywhere(
    what: &str,
    limit: Duration,
    replicas: &[&Replica],
    probe: impl Fn(&Replica) -> bool,
) -> Duration {
    let started = Instant::now();
    let give_up = (limit * 3).max(Duration::from_secs(10));
    let mut seen: Vec<Option<Duration>> = vec![None; replicas.len()];
    while seen.iter().any(Option::is_none) {
        for (replica, at) in replicas.iter().zip(seen.iter_mut()) {
            if at.is_none() && probe(replica) {
                *at = Some(started.elapsed());
            }
        }
        if started.elapsed() > give_up {
            let laggards: Vec<String> = replicas
                .iter()
                .zip(&seen)
                .filter(|(_, at)| at.is_none())
                .map(|(r, _)| format!("--- {} (last log lines):\n{}", r.name, log_tail(r, 40)))
                .collect();
            panic!("{what}: not on every replica after {give_up:?}\n{}", laggards.join("\n"));
        }
        sleep(Duration::from_millis(10));
    }
    let worst = seen.iter().flatten().max().copied().unwrap_or_default();
    let each: Vec<String> = replicas
        .iter()
        .zip(&seen)
        .map(|(r, at)| format!("{} {:.3} s", r.name, at.unwrap_or_default().as_secs_f64()))
        .collect();
    eprintln!(
        "replicas: {what}: {:.3} s ({}; limit {:.0} s)",
        worst.as_secs_f64(),
        each.join(", "),
        limit.as_secs_f64()
    );
    assert!(worst <= limit, "{what} took {worst:?} (limit {limit:?}): {}", each.join(", "));
    worst
}

/// Polls `probe` every 10 ms until it gives a value; fails when that took more than `limit`
/// (after waiting up to three times `limit` to say how long it did take). Prints the latency.
fn within<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    let give_up = (limit * 3).max(Duration::from_secs(10));
    loop {
        if let Some(value) = probe() {
            let took = started.elapsed();
            eprintln!(
                "replicas: {what}: {:.3} s (limit {:.0} s)",
                took.as_secs_f64(),
                limit.as_secs_f64()
            );
            assert!(took <= limit, "{what} took {took:?} (limit {limit:?})");
            return value;
        }
        assert!(started.elapsed() < give_up, "{what}: not within {give_up:?}");
        sleep(Duration::from_millis(10));
    }
}

/// `POST /v1/catalogs/{catalog}/recommend` for a stored user; must answer 200.
fn recommend_in(replica: &Replica, catalog: &str, user: &str) -> Value {
    let r = replica
        .post(&format!("/v1/catalogs/{catalog}/recommend"), json!({"user_id": user, "n": 10}));
    assert_eq!(r.status, 200, "recommend {user} on {}: {}", replica.name, r.body);
    r.body
}

/// Recommendations of catalog `music` for a stored user.
fn recommend(replica: &Replica, user: &str) -> Value {
    recommend_in(replica, "music", user)
}

/// The item ids of a recommendation answer.
fn items_of(answer: &Value) -> Vec<String> {
    answer["recommendations"]
        .as_array()
        .expect("a list of recommendations")
        .iter()
        .map(|r| r["item_id"].as_str().expect("an item id").to_owned())
        .collect()
}

/// True when the replica reports `version` loaded for `music` in `/readyz` and scores with it.
fn serves(replica: &Replica, version: &str) -> bool {
    let ready = replica.get("/readyz");
    let loaded = ready.status == 200
        && ready.body["catalogs"].as_array().is_some_and(|catalogs| {
            catalogs.iter().any(|c| c["catalog"] == "music" && c["loaded_model"] == version)
        });
    // No request fails while a replica swaps models.
    loaded && recommend(replica, "u3")["model_version"] == version
}

/// A response with the headers the outage checks need.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    problem: bool,
    body: Value,
}

fn send(request: RequestBuilder) -> Answer {
    let response = request.send().expect("the replica answers");
    let header =
        |name| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let retry_after = header(reqwest::header::RETRY_AFTER);
    let problem = header(reqwest::header::CONTENT_TYPE)
        .is_some_and(|t| t.starts_with("application/problem+json"));
    let status = response.status().as_u16();
    let text = response.text().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer { status, retry_after, problem, body }
}

/// `POST path` with the admin key, headers kept.
fn post_answer(replica: &Replica, path: &str, body: Value) -> Answer {
    send(replica.authed(replica.client.post(replica.url(path))).json(&body))
}

/// One event for `user` on catalog `music`.
fn one_event(user: &str, item: &str) -> Value {
    json!({"events": [{"user_id": user, "item_id": item, "weight": 3}]})
}

/// The audit entries of one action, as any replica reads them.
fn audit_entries(replica: &Replica, action: &str) -> Vec<Value> {
    let page = replica.get(&format!("/v1/audit?action={action}&limit=100"));
    assert_eq!(page.status, 200, "{}", page.body);
    page.body["entries"].as_array().expect("audit entries").clone()
}

#[test]
fn three_replicas_on_one_database_act_as_one_service() {
    let db = TestDatabase::create();
    let tmp = tempfile::tempdir().unwrap();
    let key = prepare_database(&db.url, tmp.path());
    let replicas = start_replicas(&db.url, tmp.path(), &key, &["r0", "r1", "r2"]);
    let [r0, r1, r2] = [&replicas[0], &replicas[1], &replicas[2]];
    let all = [r0, r1, r2];

    // Training: accepted by one replica, followed from every replica, run by one of them.
    let job = r0.start_training("music", "ials", json!({"factors": 8, "iterations": 3}), "always");
    let v1 = r1.wait_job(job);
    let runners: Vec<Value> = all
        .iter()
        .map(|r| {
            let info = r.get(&format!("/v1/jobs/{job}"));
            assert_eq!(info.status, 200, "GET /v1/jobs/{job} on {}: {}", r.name, info.body);
            assert_eq!(info.body["state"], "succeeded", "{}", info.body);
            info.body["replica"].clone()
        })
        .collect();
    assert!(
        runners.iter().all(|r| *r == runners[0])
            && all.iter().any(|r| runners[0] == r.name.as_str()),
        "every replica names the same runner, one of r0..r2: {runners:?}"
    );
    everywhere("a model trained through r0 is served by every replica", FIVE_SECONDS, &all, |r| {
        serves(r, &v1)
    });

    // Events: acknowledged by r0, counted by the others' recommendations (fold-in).
    for r in [r1, r2] {
        assert_eq!(recommend(r, "fresh")["source"], "popular", "an unknown user to begin with");
    }
    let posted = r0.post(
        "/v1/catalogs/music/events",
        json!({"events": [{"user_id": "fresh", "item_id": "i0", "weight": 3},
                          {"user_id": "fresh", "item_id": "i1", "weight": 2}]}),
    );
    assert_eq!(posted.status, 200, "{}", posted.body);
    everywhere("an event acknowledged by r0 counts on r1 and r2", ONE_SECOND, &[r1, r2], |r| {
        let answer = recommend(r, "fresh");
        let items = items_of(&answer);
        answer["source"] == "history" && !items.iter().any(|i| i == "i0" || i == "i1")
    });

    // Items: an upsert through r1, a takedown through r2.
    let upserted = r1.post(
        "/v1/catalogs/music/items",
        json!({"items": [{"item_id": "i-new", "title": "Brand new", "kind": "track"}]}),
    );
    assert_eq!(upserted.status, 200, "{}", upserted.body);
    everywhere("an item upserted through r1 is on r0 and r2", ONE_SECOND, &[r0, r2], |r| {
        let item = r.get("/v1/catalogs/music/items/i-new");
        item.status == 200 && item.body["title"] == "Brand new"
    });
    let top = items_of(&recommend(r0, "u3"))[0].clone();
    let taken_down = r2.delete(&format!("/v1/catalogs/music/items/{top}"));
    assert_eq!(taken_down.status, 204, "{}", taken_down.body);
    everywhere(
        "an item taken down through r2 is hidden on r0 and r1",
        ONE_SECOND,
        &[r0, r1],
        |r| {
            r.get(&format!("/v1/catalogs/music/items/{top}")).status == 404
                && !items_of(&recommend(r, "u3")).contains(&top)
        },
    );

    // Catalogs: created through r1, deleted through r2 (recommend reads the replica's memory).
    let created = r1.post("/v1/catalogs", json!({"name": "films"}));
    assert_eq!(created.status, 201, "{}", created.body);
    everywhere("a catalog created through r1 exists on r0 and r2", ONE_SECOND, &[r0, r2], |r| {
        r.post("/v1/catalogs/films/recommend", json!({"user_id": "x"})).status == 200
    });
    let deleted = r2.delete("/v1/catalogs/films");
    assert!(deleted.status == 200 || deleted.status == 204, "{}", deleted.body);
    everywhere("a catalog deleted through r2 is gone from r0 and r1", ONE_SECOND, &[r0, r1], |r| {
        r.post("/v1/catalogs/films/recommend", json!({"user_id": "x"})).status == 404
    });

    // API keys: created through r0, accepted by r1 and r2; revoked through r1, refused by all.
    let created = r0.post("/v1/keys", json!({"name": "replica-reader", "role": "reader"}));
    assert_eq!(created.status, 201, "{}", created.body);
    let secret = created.body["secret"].as_str().expect("a secret").to_owned();
    let key_id = created.body["id"].as_u64().expect("a key id");
    let with_reader = |r: &Replica| {
        let request = r.client.get(r.url("/v1/catalogs/music/items/i1"));
        reply(authed(request, Some(&secret)).send().expect("GET")).status
    };
    everywhere("a key created through r0 is accepted by r1 and r2", ONE_SECOND, &[r1, r2], |r| {
        with_reader(r) == 200
    });
    let revoked = r1.delete(&format!("/v1/keys/{key_id}"));
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    everywhere("a key revoked through r1 answers 401 on every replica", ONE_SECOND, &all, |r| {
        with_reader(r) == 401
    });

    // Activation through r2 and rollback through r0: every replica swaps within 5 s.
    let v2 = r1.train("music", "ials", json!({"factors": 8, "iterations": 4}), "never");
    assert_ne!(v1, v2);
    for r in all {
        assert_eq!(recommend(r, "u3")["model_version"], v1.as_str(), "v2 is not active yet");
    }
    let activated = r2.post(&format!("/v1/catalogs/music/models/{v2}/activate"), json!({}));
    assert_eq!(activated.status, 200, "{}", activated.body);
    everywhere(
        "a version activated through r2 is served by every replica",
        FIVE_SECONDS,
        &all,
        |r| serves(r, &v2),
    );
    let rolled_back = r0.post(&format!("/v1/catalogs/music/models/{v1}/activate"), json!({}));
    assert_eq!(rolled_back.status, 200, "{}", rolled_back.body);
    everywhere("a rollback through r0 is served by every replica", FIVE_SECONDS, &all, |r| {
        serves(r, &v1)
    });

    // Erasure through r1: every stored version rewritten, the user gone from every memory.
    let victim = "u7";
    for r in all {
        assert_ne!(recommend(r, victim)["source"], "popular", "{victim} is known to begin with");
    }
    let receipt = r1.delete(&format!("/v1/catalogs/music/users/{victim}"));
    assert_eq!(receipt.status, 200, "{}", receipt.body);
    assert!(receipt.body["events_removed"].as_u64().is_some_and(|n| n > 0), "{}", receipt.body);
    let rewritten: Vec<&str> = receipt.body["versions_rewritten"]
        .as_array()
        .unwrap_or_else(|| panic!("the receipt lists the versions rewritten: {}", receipt.body))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        rewritten.contains(&v1.as_str()) && rewritten.contains(&v2.as_str()),
        "both stored versions held {victim}: {}",
        receipt.body
    );
    everywhere("a user erased through r1 is gone from every replica", ONE_SECOND, &all, |r| {
        r.get(&format!("/v1/catalogs/music/users/{victim}")).status == 404
            && recommend(r, victim)["source"] == "popular"
    });

    // A replica started later, over an empty data directory, loads the active version from the
    // database — the rewritten one, which no longer knows the erased user.
    // It is started without --replica-name: its name is then `<hostname>-<pid>`.
    let late_dir = tmp.path().join("late");
    std::fs::create_dir_all(&late_dir).unwrap();
    let node = Node::start(&late_dir, Some(key.clone()), &["--database", &db.url]);
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let r3 = Replica { name: format!("{}-{}", hostname.trim(), node.child.id()), node };
    assert_identity(&r3);
    within("a replica started later serves the active version", FIVE_SECONDS, || {
        serves(&r3, &v1).then_some(())
    });
    assert_eq!(recommend(&r3, victim)["source"], "popular", "the stored model was rewritten");
    assert_eq!(r3.get(&format!("/v1/catalogs/music/users/{victim}")).status, 404);
    assert_eq!(recommend(&r3, "fresh")["source"], "history", "r3 has the events of r0");
    let created = r3.post("/v1/catalogs", json!({"name": "late"}));
    assert_eq!(created.status, 201, "{}", created.body);

    // The audit log is one log: any replica reads every entry, each naming its writer.
    let wrote = |action: &str, target: &str| -> Vec<String> {
        audit_entries(r2, action)
            .iter()
            .filter(|e| e["target"] == target)
            .map(|e| e["replica"].as_str().unwrap_or("(none)").to_owned())
            .collect()
    };
    assert_eq!(wrote("catalog.create", "/v1/catalogs"), ["r1", r3.name.as_str()]);
    assert_eq!(wrote("key.revoke", &format!("/v1/keys/{key_id}")), ["r1"]);
    assert_eq!(wrote("user.erase", &format!("/v1/catalogs/music/users/{victim}")), ["r1"]);
    let activations = wrote("model.activate", &format!("/v1/catalogs/music/models/{v2}/activate"));
    assert_eq!(activations, ["r2"]);
    let rollbacks = wrote("model.activate", &format!("/v1/catalogs/music/models/{v1}/activate"));
    assert_eq!(rollbacks, ["r0"]);

    // A replica cut off for longer than the change log's retention reloads its state: r2 is
    // stopped (SIGSTOP) while r0 writes two changes, the log is pruned behind its back (the
    // heartbeat's pruning would do it after an hour; here every change row but the newest is
    // deleted), and once resumed r2 finds the gap, reloads, and serves the new state.
    let pid = r2.child.id().to_string();
    let signal = |sig: &str| {
        assert!(std::process::Command::new("kill").args([sig, &pid]).status().unwrap().success())
    };
    signal("-STOP");
    let stopped = Instant::now();
    let upserted = r0.post(
        "/v1/catalogs/music/items",
        json!({"items": [{"item_id": "i-gap", "title": "Written while r2 was away"}]}),
    );
    assert_eq!(upserted.status, 200, "{}", upserted.body);
    let created = r0.post("/v1/catalogs", json!({"name": "gap"}));
    assert_eq!(created.status, 201, "{}", created.body);
    // The replicas still running have read both changes before the log loses them.
    everywhere("both changes reached the running replicas", ONE_SECOND, &[r1, &r3], |r| {
        r.get("/v1/catalogs/music/items/i-gap").status == 200
            && r.post("/v1/catalogs/gap/recommend", json!({"user_id": "x"})).status == 200
    });
    let mut admin = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let pruned = admin
        .execute("DELETE FROM changes WHERE seq < (SELECT max(seq) FROM changes)", &[])
        .unwrap();
    assert!(pruned >= 2, "changes pruned: {pruned}");
    signal("-CONT");
    eprintln!("replicas: r2 stopped for {:.3} s", stopped.elapsed().as_secs_f64());
    everywhere("a replica past the change log's retention reloads", ONE_SECOND, &[r2], |r| {
        let item = r.get("/v1/catalogs/music/items/i-gap");
        item.status == 200
            && r.post("/v1/catalogs/gap/recommend", json!({"user_id": "x"})).status == 200
    });
    assert!(r2.log().contains("missed changes pruned"), "r2 says it reloads:\n{}", r2.log());
    within("the reloaded replica serves the active version", FIVE_SECONDS, || {
        serves(r2, &v1).then_some(())
    });
    assert_eq!(recommend(r2, victim)["source"], "popular", "and still knows no erased user");
    assert_eq!(recommend(r2, "fresh")["source"], "history");

    assert_no_panic(&[r0, r1, r2, &r3]);
}

/// Cuts the test's own database off: no new connections, every open one terminated (see the
/// module docs for why not a server restart). Connections are allowed again when this is dropped
/// (or by [`Outage::end`]), so the test database can always be dropped.
struct Outage {
    admin: postgres::Client,
    db: String,
    on: bool,
}

impl Outage {
    fn connect(db: &TestDatabase) -> Outage {
        let admin = postgres::Client::connect(&test_database_url(), postgres::NoTls)
            .expect("an admin connection to the test server");
        Outage { admin, db: db.name().to_owned(), on: false }
    }

    fn begin(&mut self) {
        self.on = true;
        self.admin
            .batch_execute(&format!("ALTER DATABASE {} ALLOW_CONNECTIONS false", self.db))
            .unwrap();
        let terminated = self
            .admin
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&self.db],
            )
            .unwrap();
        eprintln!("replicas: outage: {} connections terminated", terminated.len());
    }

    fn end(&mut self) {
        if self.on {
            self.admin
                .batch_execute(&format!("ALTER DATABASE {} ALLOW_CONNECTIONS true", self.db))
                .unwrap();
            self.on = false;
        }
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        if self.on {
            let _ = self
                .admin
                .batch_execute(&format!("ALTER DATABASE {} ALLOW_CONNECTIONS true", self.db));
        }
    }
}

/// Requests of the load threads: answered 200, failed (any other status, or no answer), and the
/// first failures.
#[derive(Default)]
struct Load {
    ok: AtomicU64,
    failed: AtomicU64,
    failures: Mutex<Vec<String>>,
}

/// Two threads per target sending `POST /v1/catalogs/music/recommend` for random known users
/// until `stop`, with a 2 ms pause between requests.
fn start_load(
    targets: &[&Replica],
    stop: &Arc<AtomicBool>,
    load: &Arc<Load>,
) -> Vec<std::thread::JoinHandle<()>> {
    let mut threads = Vec::new();
    for (t, target) in targets.iter().flat_map(|r| [*r, *r]).enumerate() {
        let url = target.url("/v1/catalogs/music/recommend");
        let key = target.key.clone();
        let name = target.name.clone();
        let (stop, load) = (Arc::clone(stop), Arc::clone(load));
        threads.push(std::thread::spawn(move || {
            let client = Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
            let mut rng = Rng::new(t as u64 + 1);
            while !stop.load(Ordering::Relaxed) {
                let user = format!("u{}", rng.below(60));
                let sent = authed(client.post(&url), key.as_deref())
                    .json(&json!({"user_id": user, "n": 5}))
                    .send();
                let failure = match sent {
                    Ok(r) if r.status() == 200 => None,
                    Ok(r) => {
                        Some(format!("{name}: {} {}", r.status(), r.text().unwrap_or_default()))
                    }
                    Err(e) => Some(format!("{name}: {e}")),
                };
                match failure {
                    None => load.ok.fetch_add(1, Ordering::Relaxed),
                    Some(f) => {
                        let mut failures = load.failures.lock().unwrap();
                        if failures.len() < 10 {
                            failures.push(f);
                        }
                        load.failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
                sleep(Duration::from_millis(2));
            }
        }));
    }
    threads
}

#[test]
fn a_killed_replica_and_a_database_outage_cost_the_others_no_request() {
    let db = TestDatabase::create();
    let mut outage = Outage::connect(&db);
    let tmp = tempfile::tempdir().unwrap();
    let key = prepare_database(&db.url, tmp.path());
    let mut replicas = start_replicas(&db.url, tmp.path(), &key, &["r0", "r1", "r2"]);
    let v1 = replicas[0].train("music", "ials", json!({"factors": 8, "iterations": 3}), "always");
    {
        let all: Vec<&Replica> = replicas.iter().collect();
        everywhere("the first model is served by every replica", FIVE_SECONDS, &all, |r| {
            serves(r, &v1)
        });
    }

    // A long job (a two-minute search) is running on some replica: that one will be killed.
    let accepted = replicas[0].post(
        "/v1/catalogs/music/models",
        json!({"model": "auto", "models": ["ials"], "budget_seconds": 120}),
    );
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let job = accepted.body["job_id"].as_u64().unwrap();
    let runner = within("the search job runs", Duration::from_secs(10), || {
        let info = replicas[1].get(&format!("/v1/jobs/{job}")).body;
        (info["state"] == "running").then(|| info["replica"].as_str().map(str::to_owned))
    })
    .unwrap_or_else(|| panic!("a running job names its replica"));
    for r in &replicas {
        let info = r.get(&format!("/v1/jobs/{job}"));
        assert_eq!(info.status, 200, "{}", info.body);
        assert_eq!(info.body["replica"], runner.as_str(), "{} sees the job's runner", r.name);
    }
    let at = replicas.iter().position(|r| r.name == runner).expect("the runner is a replica");
    let mut victim = replicas.remove(at);
    let (a, b) = (&replicas[0], &replicas[1]);
    eprintln!("replicas: job {job} runs on {runner}; load on {} and {}", a.name, b.name);

    // Load on the two others from before the kill until after the outage.
    let stop = Arc::new(AtomicBool::new(false));
    let load = Arc::new(Load::default());
    let threads = start_load(&[a, b], &stop, &load);
    sleep(Duration::from_millis(500));
    victim.node.kill9();
    let killed = Instant::now();

    // Its job is failed as abandoned by another replica: not stuck running, not run again.
    let failed =
        within("a SIGKILLed replica's job is failed as abandoned", FIFTEEN_SECONDS, || {
            let info = a.get(&format!("/v1/jobs/{job}")).body;
            (info["state"] != "running" && info["state"] != "queued").then_some(info)
        });
    eprintln!("replicas: (that is {:.3} s after the SIGKILL)", killed.elapsed().as_secs_f64());
    assert_eq!(failed["state"], "failed", "{failed}");
    let error = failed["error"].as_str().unwrap_or("");
    assert!(error.starts_with("abandoned"), "the error says why: {failed}");
    assert_eq!(failed["replica"], runner.as_str(), "the job stays the dead replica's: {failed}");

    // The outage. First an event acknowledged before it, seen by both survivors.
    let before = a.post("/v1/catalogs/music/events", one_event("before-outage", "i2"));
    assert_eq!(before.status, 200, "{}", before.body);
    everywhere("an event acknowledged before the outage counts", ONE_SECOND, &[a, b], |r| {
        recommend(r, "before-outage")["source"] == "history"
    });
    outage.begin();
    let outage_started = Instant::now();
    // Writes answer 503 problem+json with Retry-After (a write racing the cut may still commit:
    // it is then acknowledged, and must be there afterwards).
    let mut acknowledged_during = Vec::new();
    let refused = within("a write answers 503 once the database is cut off", ONE_SECOND, || {
        let user = format!("during-outage-{}", acknowledged_during.len());
        let answer = post_answer(a, "/v1/catalogs/music/events", one_event(&user, "i3"));
        match answer.status {
            503 => Some(answer),
            200 => {
                acknowledged_during.push(user);
                None
            }
            other => panic!("a write during the outage answered {other}: {}", answer.body),
        }
    });
    assert!(refused.problem, "problem+json: {}", refused.body);
    assert!(refused.retry_after.is_some(), "503 with Retry-After: {}", refused.body);
    let item = json!({"items": [{"item_id": "i-outage", "title": "Outage"}]});
    let refused_b = post_answer(b, "/v1/catalogs/music/items", item.clone());
    assert_eq!(refused_b.status, 503, "an item write on {} during the outage", b.name);
    assert!(refused_b.problem && refused_b.retry_after.is_some(), "{}", refused_b.body);
    // Reads are served from memory meanwhile (and the load threads keep going); the replicas
    // stay ready, so a load balancer keeps sending them reads.
    for r in [a, b] {
        let ready = r.get("/readyz");
        assert_eq!(ready.status, 200, "{} ready during the outage: {}", r.name, ready.body);
        assert_eq!(recommend(r, "before-outage")["source"], "history");
        assert_eq!(items_of(&recommend(r, "u3")).len(), 10);
    }
    sleep(Duration::from_secs(3).saturating_sub(outage_started.elapsed()));
    let reads_during = load.ok.load(Ordering::Relaxed);
    outage.end();
    let outage_ended = Instant::now();
    eprintln!("replicas: outage lasted {:.3} s", (outage_ended - outage_started).as_secs_f64());

    // Each replica reconnects by itself: writes succeed again within a few seconds.
    for (r, path, body) in [
        (a, "/v1/catalogs/music/events", one_event("after-outage", "i4")),
        (b, "/v1/catalogs/music/items", item),
    ] {
        within(&format!("a write on {} succeeds after the outage", r.name), FIVE_SECONDS, || {
            let answer = post_answer(r, path, body.clone());
            match answer.status {
                200 => Some(()),
                503 => None,
                other => panic!("a write after the outage answered {other}: {}", answer.body),
            }
        });
    }
    // ... and their feeds follow again; nothing acknowledged was lost.
    everywhere(
        "an event acknowledged after the outage counts on the other",
        ONE_SECOND,
        &[b],
        |r| recommend(r, "after-outage")["source"] == "history",
    );
    everywhere("an item upserted after the outage is on the other", ONE_SECOND, &[a], |r| {
        r.get("/v1/catalogs/music/items/i-outage").status == 200
    });
    for r in [a, b] {
        for user in std::iter::once("before-outage").chain(acknowledged_during.iter().map(|u| &**u))
        {
            let data = r.get(&format!("/v1/catalogs/music/users/{user}"));
            assert_eq!(data.status, 200, "{user} on {}: {}", r.name, data.body);
            assert_eq!(data.body["events"].as_array().map(Vec::len), Some(1), "{}", data.body);
            assert_eq!(recommend(r, user)["source"], "history", "{user} on {}", r.name);
        }
    }

    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread.join().unwrap();
    }
    let (ok, failed_requests) =
        (load.ok.load(Ordering::Relaxed), load.failed.load(Ordering::Relaxed));
    eprintln!(
        "replicas: load on {} and {}: {ok} requests answered ({reads_during} by the outage's end), \
         {failed_requests} failed",
        a.name, b.name
    );
    assert_eq!(failed_requests, 0, "{:?}", load.failures.lock().unwrap());
    assert!(ok > 100, "the load ran: {ok} requests");

    // Never run twice: the abandoned job stays failed and registered no model.
    let info = b.get(&format!("/v1/jobs/{job}")).body;
    assert_eq!(info["state"], "failed", "{info}");
    let models = a.get("/v1/catalogs/music/models");
    let versions: Vec<&str> = models.body["models"]
        .as_array()
        .expect("a model list")
        .iter()
        .filter_map(|m| m["version"].as_str())
        .collect();
    assert_eq!(versions, [v1.as_str()], "only the first job registered a model");
    assert_no_panic(&[a, b]);
}
