//! Harness of the reliability tests: a real `encore serve` process that can be SIGKILLed and
//! restarted over the same data directory, with an admin API key sent on every request.
//!
//! Access control may or may not be enforced by the binary under test. The harness makes an admin
//! key with `encore keys create` when the binary has that command, otherwise takes the key the
//! server prints at its first start; with neither, requests go without `Authorization` (harmless
//! while access control is off). The key is kept across restarts, since only the first start of a
//! data directory prints one.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use encore_store::{SqliteStore, Store};
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{Value, json};

/// A running `encore serve`; killed (SIGKILL) when dropped.
pub struct Node {
    pub child: Child,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub log_path: PathBuf,
    pub client: Client,
    /// The admin secret sent as `Authorization: Bearer`, when the server has access control.
    pub key: Option<String>,
}

/// A status, the parsed body (a JSON string when the body is not JSON) and the content type.
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub content_type: String,
}

impl Reply {
    /// True for an `application/problem+json` answer.
    pub fn is_problem(&self) -> bool {
        self.content_type.starts_with("application/problem+json")
    }
}

/// The first `ek_…` secret (46 characters) in `text`.
fn find_secret(text: &str) -> Option<String> {
    text.match_indices("ek_").find_map(|(at, _)| {
        let candidate: String = text[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect();
        (candidate.len() == 46).then_some(candidate)
    })
}

/// An admin key made with `encore keys create`, when the binary has that command.
fn cli_admin_key(data_dir: &Path) -> Option<String> {
    let bin = env!("CARGO_BIN_EXE_encore");
    let help = Command::new(bin).args(["keys", "--help"]).output().ok()?;
    if !help.status.success() {
        return None;
    }
    let out = Command::new(bin)
        .args(["keys", "create", "--data-dir", data_dir.to_str()?, "--role", "admin"])
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "encore keys create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    find_secret(&text)
}

impl Node {
    /// Starts a server over a fresh `data_dir` (makes an admin key first when possible).
    pub fn first_start(data_dir: &Path, extra_args: &[&str]) -> Node {
        std::fs::create_dir_all(data_dir).unwrap();
        let key = cli_admin_key(data_dir);
        Node::start(data_dir, key, extra_args)
    }

    /// Starts `encore serve` over `data_dir` on a free loopback port and waits until it answers.
    pub fn start(data_dir: &Path, key: Option<String>, extra_args: &[&str]) -> Node {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let log_path = data_dir.with_extension(format!("{port}.log"));
        let log = std::fs::File::create(&log_path).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_encore"))
            .args(["serve", "--data-dir", data_dir.to_str().unwrap(), "--listen"])
            .arg(addr.to_string())
            .args(extra_args)
            // The per-key rate limit is tested with access control; here it would only turn the
            // load of these tests into 429s.
            .args(["--rate-limit", "off"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("encore serve starts");
        let client = Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let mut node =
            Node { child, addr, data_dir: data_dir.to_path_buf(), log_path, client, key };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = node.client.get(node.url("/healthz")).send()
                && r.status() == 200
            {
                break;
            }
            if let Ok(Some(status)) = node.child.try_wait() {
                panic!("server exited at start ({status}): {}", node.log());
            }
            assert!(Instant::now() < deadline, "server did not start: {}", node.log());
            std::thread::sleep(Duration::from_millis(25));
        }
        if node.key.is_none() {
            node.key = find_secret(&node.log());
        }
        // The catalogs load in the background after the listener is up; wait for that load
        // (a 503 for another reason, such as a model that cannot be loaded, is left to the test).
        loop {
            let r = node.get("/readyz");
            let starting = r.body["detail"].as_str().is_some_and(|d| d.contains("starting"));
            if r.status == 200 || !starting {
                break;
            }
            assert!(Instant::now() < deadline, "catalogs did not load: {}", node.log());
            std::thread::sleep(Duration::from_millis(25));
        }
        node
    }

    /// SIGKILLs the server and starts a new one over the same directory with the same key.
    pub fn kill_and_restart(mut self, extra_args: &[&str]) -> Node {
        self.kill9();
        let key = self.key.take();
        let data_dir = self.data_dir.clone();
        drop(self);
        Node::start(&data_dir, key, extra_args)
    }

    /// SIGTERM (a graceful stop), then waits up to 30 s for the exit and returns its status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success(), "kill -TERM {pid}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit 30 s after SIGTERM: {}", self.log());
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// SIGKILL, then reap the process.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Adds the admin key, if any, to a request.
    pub fn authed(&self, request: RequestBuilder) -> RequestBuilder {
        authed(request, self.key.as_deref())
    }

    pub fn get(&self, path: &str) -> Reply {
        reply(self.authed(self.client.get(self.url(path))).send().expect("GET"))
    }

    pub fn post(&self, path: &str, body: Value) -> Reply {
        reply(self.authed(self.client.post(self.url(path))).json(&body).send().expect("POST"))
    }

    pub fn delete(&self, path: &str) -> Reply {
        reply(self.authed(self.client.delete(self.url(path))).send().expect("DELETE"))
    }

    /// Creates `catalog` and stores clustered events: 60 users `u0..u59`, 48 items `i0..i47`.
    pub fn seed(&self, catalog: &str) {
        let created = self.post("/v1/catalogs", json!({"name": catalog}));
        assert_eq!(created.status, 201, "{}", created.body);
        let stored =
            self.post(&format!("/v1/catalogs/{catalog}/events"), crate::common::seed_events());
        assert_eq!(stored.status, 200, "{}", stored.body);
    }

    /// Starts a training job; returns its id.
    pub fn start_training(&self, catalog: &str, model: &str, params: Value, activate: &str) -> u64 {
        let r = self.post(
            &format!("/v1/catalogs/{catalog}/models"),
            json!({"model": model, "params": params, "activate": activate}),
        );
        assert_eq!(r.status, 202, "{}", r.body);
        r.body["job_id"].as_u64().unwrap()
    }

    /// Waits for a job to succeed; returns the model version it made.
    pub fn wait_job(&self, job: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let info = self.get(&format!("/v1/jobs/{job}")).body;
            match info["state"].as_str().unwrap_or("") {
                "succeeded" => return info["model_version"].as_str().unwrap().to_string(),
                "failed" | "cancelled" => panic!("training failed: {info}"),
                _ => {}
            }
            assert!(Instant::now() < deadline, "training did not finish: {info}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Trains through the API and waits; returns the version.
    pub fn train(&self, catalog: &str, model: &str, params: Value, activate: &str) -> String {
        let job = self.start_training(catalog, model, params, activate);
        self.wait_job(job)
    }

    /// Number of events the catalog holds.
    pub fn event_count(&self, catalog: &str) -> u64 {
        let r = self.get(&format!("/v1/catalogs/{catalog}"));
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["events"].as_u64().expect("catalog info has an event count")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Adds `Authorization: Bearer KEY` when there is a key.
pub fn authed(request: RequestBuilder, key: Option<&str>) -> RequestBuilder {
    match key {
        Some(key) => request.bearer_auth(key),
        None => request,
    }
}

/// Reads a response; an error status must be `application/problem+json`.
pub fn reply(response: Response) -> Reply {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = response.text().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    let reply = Reply { status, body, content_type };
    if status >= 400 {
        assert!(reply.is_problem(), "error {status} is not problem+json: {}", reply.body);
    }
    reply
}

/// Problems `PRAGMA integrity_check` and `foreign_key_check` find in a stopped server's store.
pub fn integrity_problems(data_dir: &Path) -> Vec<String> {
    let store = SqliteStore::open(data_dir).expect("the store opens after a crash");
    store.integrity_check().expect("integrity check runs")
}

/// A small seeded generator (xorshift64*), so failing rounds can be replayed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}
