//! A real `encore serve` process for the tests that cross the network: a free loopback port,
//! a temporary data directory, an admin key, and helpers that send JSON and check that every
//! error is problem+json.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

/// A running `encore serve`; killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub stderr_log: PathBuf,
    pub client: Client,
    /// `Authorization: Bearer <admin key>`, for clients made in worker threads.
    pub auth: reqwest::header::HeaderMap,
}

impl Server {
    /// Starts `encore serve` on a free port over `data_dir` and waits until it answers and has
    /// loaded its catalogs.
    pub fn start(data_dir: &Path) -> Server {
        let server = Server::spawn(data_dir);
        server.wait_until_live(Duration::from_secs(60));
        server.wait_until_loaded();
        server
    }

    /// Starts `encore serve` on a free port over `data_dir` without waiting for anything.
    pub fn spawn(data_dir: &Path) -> Server {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let stderr_log = data_dir.with_extension(format!("{port}.log"));
        let log = std::fs::File::create(&stderr_log).unwrap();
        // Every request carries an admin key, made before the first start (so the server has no
        // first-start key to print) and sent as a default header of the client.
        std::fs::create_dir_all(data_dir).unwrap();
        let created = Command::new(env!("CARGO_BIN_EXE_encore"))
            .args(["keys", "create", "--data-dir", data_dir.to_str().unwrap(), "--role", "admin"])
            .output()
            .expect("encore keys create runs");
        assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
        let secret = String::from_utf8(created.stdout).unwrap().trim().to_string();
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {secret}").parse().unwrap());
        let child = Command::new(env!("CARGO_BIN_EXE_encore"))
            .args([
                "serve",
                "--data-dir",
                data_dir.to_str().unwrap(),
                "--listen",
                &addr.to_string(),
            ])
            .args(["--log-format", "json", "--max-body-bytes", "1000000"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("encore serve starts");
        let client = Client::builder()
            .timeout(Duration::from_secs(60))
            .default_headers(headers.clone())
            .build()
            .unwrap();
        Server { child, addr, data_dir: data_dir.to_path_buf(), stderr_log, client, auth: headers }
    }

    /// Polls `/healthz` until it answers 200; returns how long that took.
    pub fn wait_until_live(&self, limit: Duration) -> Duration {
        let started = Instant::now();
        loop {
            if let Ok(r) = self.client.get(self.url("/healthz")).send()
                && r.status() == 200
            {
                return started.elapsed();
            }
            assert!(started.elapsed() < limit, "server did not start: {}", self.log());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until the catalogs are loaded: `/readyz` is 200, or 503 for another reason than
    /// the start-up load (an active model that cannot be loaded, say).
    pub fn wait_until_loaded(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (status, body) = self.get("/readyz");
            let starting = body["detail"].as_str().is_some_and(|d| d.contains("starting"));
            if status == 200 || !starting {
                return;
            }
            assert!(Instant::now() < deadline, "catalogs did not load: {body}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        reply(self.client.get(self.url(path)).send().expect("GET"))
    }

    pub fn post(&self, path: &str, body: Value) -> (u16, Value) {
        reply(self.client.post(self.url(path)).json(&body).send().expect("POST"))
    }

    pub fn delete(&self, path: &str) -> (u16, Value) {
        reply(self.client.delete(self.url(path)).send().expect("DELETE"))
    }

    /// Creates `catalog` with clustered events (60 users `u0..u59`, 48 items `i0..i47`).
    pub fn seed(&self, catalog: &str) {
        assert_eq!(self.post("/v1/catalogs", json!({"name": catalog})).0, 201);
        let (status, body) =
            self.post(&format!("/v1/catalogs/{catalog}/events"), crate::common::seed_events());
        assert_eq!(status, 200, "{body}");
    }

    /// Trains through the API and waits; returns the version.
    pub fn train(&self, catalog: &str, model: &str, params: Value, activate: &str) -> String {
        let (status, body) = self.post(
            &format!("/v1/catalogs/{catalog}/models"),
            json!({"model": model, "params": params, "activate": activate}),
        );
        assert_eq!(status, 202, "{body}");
        let job = body["job_id"].as_u64().unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (_, info) = self.get(&format!("/v1/jobs/{job}"));
            match info["state"].as_str().unwrap() {
                "succeeded" => return info["model_version"].as_str().unwrap().to_string(),
                "failed" | "cancelled" => panic!("training failed: {info}"),
                _ => {}
            }
            assert!(Instant::now() < deadline, "training did not finish: {info}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn reply(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let problem = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap_or("").starts_with("application/problem+json"));
    let text = response.text().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if status >= 400 {
        assert!(problem, "error {status} is not problem+json: {body}");
    }
    (status, body)
}
