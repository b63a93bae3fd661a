//! Access control of the real `encore serve` over HTTP: every route × every kind of caller (no key,
//! a wrong key, a revoked key, each role, keys scoped to one catalog) against the expected status;
//! the audit entries of each admin act; per-key rate limits; secrets never in the logs; the
//! first-start key; HTTPS with a certificate made here; plain HTTP refused off loopback.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::reliability_common::{Node, reply};

/// A caller of the matrix.
struct Caller {
    who: &'static str,
    /// The `Authorization` secret; `None` sends no header.
    secret: Option<String>,
    /// `None` for callers without a valid key (401 everywhere but the open routes).
    role: Option<u8>,
    /// Catalog scope of the key.
    scope: Option<&'static str>,
}

const READER: u8 = 0;
const WRITER: u8 = 1;
const ADMIN: u8 = 2;

/// One route of the matrix. `{who}` in the path or body is replaced by the caller's name, so acts
/// that can succeed only once (create, delete) have a target of their own per caller.
struct Route {
    method: Method,
    path: &'static str,
    body: Option<Value>,
    /// Lowest role; `None` for the open routes.
    need: Option<u8>,
    /// The catalog the route acts on; `None` for routes that span catalogs.
    catalog: Option<&'static str>,
    /// Status when the caller is allowed.
    allowed: u16,
}

fn route(
    method: Method,
    path: &'static str,
    body: Option<Value>,
    need: Option<u8>,
    catalog: Option<&'static str>,
    allowed: u16,
) -> Route {
    Route { method, path, body, need, catalog, allowed }
}

fn expected(route: &Route, caller: &Caller) -> u16 {
    let Some(need) = route.need else { return route.allowed };
    let Some(role) = caller.role else { return 401 };
    if role < need {
        return 403;
    }
    match (caller.scope, route.catalog) {
        (None, _) => route.allowed,
        (Some(scope), Some(catalog)) if scope == catalog => route.allowed,
        _ => 403,
    }
}

fn substitute(text: &str, who: &str) -> String {
    text.replace("{who}", who)
}

fn create_key(node: &Node, role: &str, catalog: Option<&str>, name: &str) -> (u64, String) {
    let mut body = json!({"name": name, "role": role});
    if let Some(c) = catalog {
        body["catalog"] = json!(c);
    }
    let r = node.post("/v1/keys", body);
    assert_eq!(r.status, 201, "{}", r.body);
    (r.body["id"].as_u64().unwrap(), r.body["secret"].as_str().unwrap().to_string())
}

#[test]
fn every_route_for_every_caller() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let node = Node::first_start(&data, &["--log-format", "json", "--access-log"]);
    let admin_secret = node.key.clone().expect("encore keys create made an admin key");

    // World: `music` with events, items and an active model; a finished job; per-caller targets.
    node.seed("music");
    let items: Vec<Value> = (0..48)
        .map(
            |i| json!({"item_id": format!("i{i}"), "title": format!("Track {i}"), "kind": "track"}),
        )
        .collect();
    assert_eq!(node.post("/v1/catalogs/music/items", json!({"items": items})).status, 200);
    let job =
        node.start_training("music", "ials", json!({"factors": 8, "iterations": 2}), "always");
    let version = node.wait_job(job);

    let (_, reader) = create_key(&node, "reader", None, "reader-all");
    let (_, writer) = create_key(&node, "writer", None, "writer-all");
    let (_, music_writer) = create_key(&node, "writer", Some("music"), "writer-music");
    let (_, films_admin) = create_key(&node, "admin", Some("films"), "admin-films");
    let (revoked_id, revoked) = create_key(&node, "admin", None, "revoked");
    assert_eq!(node.delete(&format!("/v1/keys/{revoked_id}")).status, 200);
    // A well-formed secret that was never issued, sharing the admin key's public prefix.
    let wrong = format!("{}{}", &admin_secret[..11], "A".repeat(35));

    let callers = vec![
        Caller { who: "nokey", secret: None, role: None, scope: None },
        Caller { who: "wrong", secret: Some(wrong), role: None, scope: None },
        Caller { who: "revoked", secret: Some(revoked.clone()), role: None, scope: None },
        Caller { who: "reader", secret: Some(reader.clone()), role: Some(READER), scope: None },
        Caller { who: "writer", secret: Some(writer.clone()), role: Some(WRITER), scope: None },
        Caller {
            who: "musicwriter",
            secret: Some(music_writer.clone()),
            role: Some(WRITER),
            scope: Some("music"),
        },
        Caller {
            who: "filmsadmin",
            secret: Some(films_admin.clone()),
            role: Some(ADMIN),
            scope: Some("films"),
        },
        // Last, so the acts that succeed once (create, delete) are tried by everyone else first.
        Caller { who: "admin", secret: Some(admin_secret.clone()), role: Some(ADMIN), scope: None },
    ];
    // Targets of the acts that succeed once: a catalog, an item, a user and a key per caller.
    let mut throwaway_keys = Vec::new();
    for caller in &callers {
        let who = caller.who;
        assert_eq!(
            node.post("/v1/catalogs", json!({"name": format!("scratch-{who}")})).status,
            201
        );
        let events = json!({"events": [{"user_id": format!("erase-{who}"), "item_id": "i1"}]});
        assert_eq!(node.post("/v1/catalogs/music/events", events).status, 200);
        let item =
            json!({"items": [{"item_id": format!("del-{who}"), "title": "x", "kind": "track"}]});
        assert_eq!(node.post("/v1/catalogs/music/items", item).status, 200);
        throwaway_keys.push(create_key(&node, "reader", None, &format!("throwaway-{who}")).0);
    }

    use Method as M;
    let r = |m, p, b, n, c, a| route(m, p, b, n, c, a);
    let music = Some("music");
    let routes = vec![
        r(M::GET, "/healthz", None, None, None, 200),
        r(M::GET, "/readyz", None, None, None, 200),
        r(M::GET, "/openapi.json", None, None, None, 200),
        r(M::GET, "/docs/", None, None, None, 200),
        r(M::GET, "/metrics", None, Some(READER), None, 200),
        r(
            M::POST,
            "/recommend",
            Some(json!({"user_id": "u1", "catalog": "music"})),
            Some(READER),
            music,
            200,
        ),
        r(M::GET, "/v1/catalogs", None, Some(READER), None, 200),
        r(M::POST, "/v1/catalogs", Some(json!({"name": "new-{who}"})), Some(ADMIN), None, 201),
        r(M::GET, "/v1/catalogs/music", None, Some(READER), music, 200),
        // A catalog that does not exist: a scoped key gets 403, as for one that exists.
        r(M::GET, "/v1/catalogs/ghost", None, Some(READER), Some("ghost"), 404),
        r(M::DELETE, "/v1/catalogs/scratch-{who}", None, Some(ADMIN), Some("scratch"), 204),
        r(
            M::POST,
            "/v1/catalogs/music/items",
            Some(json!({"items": [{"item_id": "w-{who}", "title": "t", "kind": "track"}]})),
            Some(WRITER),
            music,
            200,
        ),
        r(M::GET, "/v1/catalogs/music/items/i1", None, Some(READER), music, 200),
        r(
            M::PUT,
            "/v1/catalogs/music/items/i2",
            Some(json!({"title": "Two", "kind": "track"})),
            Some(WRITER),
            music,
            200,
        ),
        r(M::DELETE, "/v1/catalogs/music/items/del-{who}", None, Some(WRITER), music, 204),
        r(M::GET, "/v1/catalogs/music/items/i1/similar?n=3", None, Some(READER), music, 200),
        r(
            M::POST,
            "/v1/catalogs/music/events",
            Some(json!({"events": [{"user_id": "u1", "item_id": "i3"}]})),
            Some(WRITER),
            music,
            200,
        ),
        r(
            M::POST,
            "/v1/catalogs/music/recommend",
            Some(json!({"user_id": "u2", "n": 3})),
            Some(READER),
            music,
            200,
        ),
        r(M::GET, "/v1/catalogs/music/users/u1", None, Some(ADMIN), music, 200),
        r(M::DELETE, "/v1/catalogs/music/users/erase-{who}", None, Some(ADMIN), music, 200),
        r(M::GET, "/v1/catalogs/music/models", None, Some(ADMIN), music, 200),
        r(
            M::POST,
            "/v1/catalogs/music/models",
            Some(
                json!({"model": "ials", "params": {"factors": 4, "iterations": 1}, "activate": "never"}),
            ),
            Some(ADMIN),
            music,
            202,
        ),
        r(M::POST, "/v1/catalogs/music/models/VERSION/activate", None, Some(ADMIN), music, 200),
        r(M::GET, "/v1/jobs/JOB", None, Some(ADMIN), None, 200),
        // The job has finished: cancelling it is a conflict, once the caller may ask.
        r(M::DELETE, "/v1/jobs/JOB", None, Some(ADMIN), None, 409),
        r(
            M::POST,
            "/v1/keys",
            Some(json!({"name": "made-by-{who}", "role": "reader"})),
            Some(ADMIN),
            None,
            201,
        ),
        r(M::GET, "/v1/keys", None, Some(ADMIN), None, 200),
        r(M::DELETE, "/v1/keys/THROWAWAY", None, Some(ADMIN), None, 200),
        r(M::GET, "/v1/audit?limit=5", None, Some(ADMIN), None, 200),
    ];

    let mut failures = Vec::new();
    let mut checked = 0;
    for route in &routes {
        for (index, caller) in callers.iter().enumerate() {
            let path = substitute(route.path, caller.who)
                .replace("VERSION", &version)
                .replace("JOB", &job.to_string())
                .replace("THROWAWAY", &throwaway_keys[index].to_string());
            let mut request = node.client.request(route.method.clone(), node.url(&path));
            if let Some(secret) = &caller.secret {
                request = request.bearer_auth(secret);
            }
            if let Some(body) = &route.body {
                let body: Value =
                    serde_json::from_str(&substitute(&body.to_string(), caller.who)).unwrap();
                request = request.json(&body);
            }
            let response = request.send().expect("request");
            let www_authenticate = response.headers().contains_key("www-authenticate");
            let got = reply(response);
            let want = expected(route, caller);
            checked += 1;
            if got.status != want {
                failures.push(format!(
                    "{} {path} as {}: got {}, want {want}: {}",
                    route.method, caller.who, got.status, got.body
                ));
            }
            if got.status == 401 && !www_authenticate {
                failures.push(format!(
                    "{} {path} as {}: 401 without WWW-Authenticate",
                    route.method, caller.who
                ));
            }
            if got.status == 401 || got.status == 403 {
                // Neither answer says anything about the target.
                let detail = got.body["detail"].as_str().unwrap_or("");
                for leak in ["not found", "does not exist", "ghost", "erase-", "del-"] {
                    if detail.contains(leak) {
                        failures.push(format!(
                            "{} {path} as {}: detail leaks `{leak}`: {detail}",
                            route.method, caller.who
                        ));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(checked, routes.len() * callers.len());

    // --- audit: every admin act left an entry with the key's id and name and the outcome.
    let mut entries = Vec::new();
    let mut after = 0u64;
    loop {
        let page = node.get(&format!("/v1/audit?after={after}&limit=1000"));
        assert_eq!(page.status, 200, "{}", page.body);
        entries.extend(page.body["entries"].as_array().unwrap().iter().cloned());
        match page.body["next_after"].as_u64() {
            Some(next) => after = next,
            None => break,
        }
    }
    // `Node::first_start` made the admin key with `encore keys create`, whose default name is `cli`.
    let by_admin: BTreeSet<&str> = entries
        .iter()
        .filter(|e| e["key_name"] == "cli")
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in [
        "catalog.create",
        "catalog.delete",
        "user.read",
        "user.erase",
        "model.list",
        "model.train",
        "model.activate",
        "job.read",
        "job.cancel",
        "key.create",
        "key.list",
        "key.revoke",
        "audit.read",
    ] {
        assert!(
            by_admin.contains(action),
            "no audit entry for {action} by the admin key; acts seen: {by_admin:?}"
        );
    }
    // The erasure by the admin key, with its target and outcome; the refused one by films-admin.
    let erase = entries
        .iter()
        .find(|e| {
            e["action"] == "user.erase" && e["target"] == "/v1/catalogs/music/users/erase-admin"
        })
        .expect("erasure audited");
    assert_eq!(erase["outcome"], "ok");
    assert!(erase["key_id"].as_u64().is_some() && erase["time_ms"].as_i64().unwrap() > 0);
    assert!(entries.iter().any(|e| e["action"] == "user.erase"
        && e["key_name"] == "admin-films"
        && e["outcome"] == "denied"));
    // A filtered page.
    let filtered = node.get("/v1/audit?action=key.revoke");
    assert!(
        filtered.body["entries"].as_array().unwrap().iter().all(|e| e["action"] == "key.revoke")
    );
    assert!(!filtered.body["entries"].as_array().unwrap().is_empty());

    // --- secrets never reach the logs (JSON logs with one line per request).
    let log = node.log();
    assert!(log.contains("\"route\""), "access log expected: {log}");
    for secret in [&admin_secret, &reader, &writer, &music_writer, &films_admin, &revoked] {
        assert!(!log.contains(secret.as_str()), "a secret is in the server log");
        assert!(!log.contains(&secret[11..]), "part of a secret is in the server log");
    }
    assert!(!log.contains("Bearer"), "an Authorization header is in the server log");
    assert!(
        !log.to_lowercase().contains("authorization"),
        "an Authorization header is in the server log"
    );
    // Nor in the metrics.
    let metrics = node.get("/metrics");
    assert!(!metrics.body.to_string().contains(&admin_secret));
}

#[test]
fn revocation_from_the_command_line_reaches_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let node = Node::first_start(&data, &[]);
    let (id, secret) = create_key(&node, "reader", None, "to-revoke");
    let status = |s: &str| {
        reply(node.client.get(node.url("/v1/catalogs")).bearer_auth(s).send().unwrap()).status
    };
    assert_eq!(status(&secret), 200);
    let out = Command::new(env!("CARGO_BIN_EXE_encore"))
        .args(["keys", "revoke", "--data-dir", data.to_str().unwrap(), &id.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The server reloads keys every second; poll rather than sleep a fixed time, so that a
    // loaded machine does not fail the test (a key that stays valid fails it after 10 s).
    let revoked_at = std::time::Instant::now();
    while status(&secret) != 401 {
        assert!(revoked_at.elapsed() < Duration::from_secs(10), "the revoked key still works");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The list shows it revoked, without secrets.
    let list = Command::new(env!("CARGO_BIN_EXE_encore"))
        .args(["keys", "list", "--data-dir", data.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let text = String::from_utf8(list.stdout).unwrap();
    assert!(!text.contains(&secret) && !text.contains("hash"), "{text}");
    let keys: Value = serde_json::from_str(&text).unwrap();
    let listed = keys["keys"].as_array().unwrap().iter().find(|k| k["id"] == id).unwrap().clone();
    assert!(listed["revoked_ms"].as_i64().is_some(), "{listed}");
}

/// A bare `encore serve` child (the shared harness always passes `--rate-limit off`), killed on
/// drop.
struct Bare(std::process::Child);

impl Drop for Bare {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn keys_create(data: &std::path::Path, role: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_encore"))
        .args(["keys", "create", "--data-dir", data.to_str().unwrap(), "--role", role])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn rate_limit_answers_429_with_retry_after_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let fast = keys_create(&data, "admin"); // key 1: its own, larger quota
    let limited = keys_create(&data, "reader"); // key 2: the default quota
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let _server = Bare(
        Command::new(env!("CARGO_BIN_EXE_encore"))
            .args(["serve", "--data-dir", data.to_str().unwrap()])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--rate-limit", "1/s:3", "--key-rate-limit", "1=1000/s"])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = reqwest::blocking::Client::new();
    let url = format!("http://127.0.0.1:{port}/v1/catalogs");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while client.get(format!("http://127.0.0.1:{port}/healthz")).send().is_err() {
        assert!(std::time::Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(25));
    }
    let get = |s: &str| client.get(&url).bearer_auth(s).send().unwrap();
    for _ in 0..3 {
        assert_eq!(get(&limited).status(), 200);
    }
    let refused = get(&limited);
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    let body = reply(refused);
    assert_eq!(body.body["code"], "rate_limited");
    // Another key is not affected, and its override lets it go far beyond the default.
    for _ in 0..20 {
        assert_eq!(get(&fast).status(), 200);
    }
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(get(&limited).status(), 200, "a token is back after a second");
}

#[test]
fn first_start_prints_one_admin_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let node = Node::start(&data, None, &["--log-format", "json"]);
    let secret = node.key.clone().expect("the first start prints an admin key");
    assert_eq!(node.log().matches(&secret).count(), 1, "printed exactly once");
    assert_eq!(node.get("/v1/keys").status, 200, "it is an admin key");
    let node = node.kill_and_restart(&["--log-format", "json"]);
    assert!(!node.log().contains("ek_"), "a restart prints no key: {}", node.log());
    assert_eq!(node.get("/v1/keys").status, 200, "the key survives the restart");
}

#[test]
fn plain_http_off_loopback_needs_insecure_listen() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_encore"))
        .args(["serve", "--data-dir", dir.path().to_str().unwrap(), "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refusing to serve plain HTTP") && stderr.contains("--insecure-listen"),
        "{stderr}"
    );
}

#[test]
fn https_with_a_generated_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, certified.cert.pem()).unwrap();
    std::fs::write(&key_path, certified.signing_key.serialize_pem()).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log_path = dir.path().join("tls.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_encore"))
        .args([
            "serve",
            "--data-dir",
            data.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("--tls-cert")
        .arg(&cert_path)
        .arg("--tls-key")
        .arg(&key_path)
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let secret = {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            if log.contains("https://") {
                let at = log.find("ek_").expect("first-start key printed");
                break log[at..at + 46].to_string();
            }
            assert!(std::time::Instant::now() < deadline, "no TLS start: {log}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let result = runtime.block_on(async {
        let healthz = https_get(port, certified.cert.der().to_vec(), "/healthz", None).await;
        let keyless = https_get(port, certified.cert.der().to_vec(), "/v1/catalogs", None).await;
        let keyed =
            https_get(port, certified.cert.der().to_vec(), "/v1/catalogs", Some(&secret)).await;
        (healthz, keyless, keyed)
    });
    let _ = child.kill();
    let _ = child.wait();
    let (healthz, keyless, keyed) = result;
    assert!(healthz.starts_with("HTTP/1.1 200"), "{healthz}");
    assert!(keyless.starts_with("HTTP/1.1 401"), "{keyless}");
    assert!(keyed.starts_with("HTTP/1.1 200") && keyed.contains("catalogs"), "{keyed}");
    // Plain HTTP on the TLS port gets no answer.
    let plain = reqwest::blocking::get(format!("http://127.0.0.1:{port}/healthz"));
    assert!(plain.is_err() || plain.unwrap().status() != 200);
}

/// A GET over TLS with rustls (ring), trusting only `root_der`; returns the raw response.
async fn https_get(port: u16, root_der: Vec<u8>, path: &str, key: Option<&str>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from(root_der)).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.expect("TLS handshake");
    let auth = key.map(|k| format!("Authorization: Bearer {k}\r\n")).unwrap_or_default();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response).await;
    String::from_utf8_lossy(&response).into_owned()
}
