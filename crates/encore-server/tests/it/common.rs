//! The test harness: a fresh service + router per test, request helpers, a small music catalog.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use encore_server::{AppState, ServerConfig, app};
use encore_service::dto::JobState;
use encore_service::{Encore, ServiceConfig};
use serde_json::{Value, json};
use tower::ServiceExt;

/// A router over its own data directory.
pub struct TestApp {
    pub router: Router,
    pub service: Arc<Encore>,
    /// `Bearer <secret>` of an all-catalog admin key, sent with every request that has no
    /// `Authorization` header of its own.
    pub admin_auth: String,
    _dir: tempfile::TempDir,
}

/// A response, with the body parsed as JSON when it is JSON (else `Value::String` of the text).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// Asserts the reply is a problem+json with this status and code, and returns the body.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.body);
        assert_eq!(
            self.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "not a problem: {}",
            self.body
        );
        assert_eq!(self.body["status"], status, "{}", self.body);
        assert_eq!(self.body["code"], code, "{}", self.body);
        assert_eq!(self.body["type"], format!("urn:encore:problem:{code}"));
        assert!(self.body["title"].is_string() && self.body["detail"].is_string());
        &self.body
    }

    /// Asserts the status is `status` and returns the body.
    #[track_caller]
    pub fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.body);
        &self.body
    }
}

impl TestApp {
    /// A fresh service with default server settings.
    pub fn new() -> Self {
        Self::with_config(ServerConfig::default())
    }

    /// A fresh service with the given server settings.
    pub fn with_config(config: ServerConfig) -> Self {
        Self::with_service_config(config, |_| {})
    }

    /// A fresh service with the given server settings and service settings changed by `edit`.
    pub fn with_service_config(
        config: ServerConfig,
        edit: impl FnOnce(&mut ServiceConfig),
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut service_config = ServiceConfig::new(dir.path());
        service_config.training_threads = 1;
        edit(&mut service_config);
        let service = Arc::new(Encore::open(service_config).expect("open service"));
        let admin = encore_service::access::Access::open(Arc::clone(service.store()))
            .expect("key table")
            .bootstrap()
            .expect("admin key")
            .expect("a fresh store has no key");
        let router = app(AppState::new(Arc::clone(&service), config));
        TestApp { router, service, admin_auth: format!("Bearer {}", admin.secret), _dir: dir }
    }

    /// The data directory of the service.
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// Sends a request and collects the reply.
    pub async fn send(&self, mut request: Request<Body>) -> Reply {
        if !request.headers().contains_key(header::AUTHORIZATION) {
            let value = self.admin_auth.parse().expect("header value");
            request.headers_mut().insert(header::AUTHORIZATION, value);
        }
        let response = self.router.clone().oneshot(request).await.expect("infallible router");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Reply { status, headers, body }
    }

    /// `method uri` with an optional JSON body.
    pub async fn call(&self, method: Method, uri: &str, body: Option<Value>) -> Reply {
        let builder = Request::builder().method(method).uri(uri);
        let request = match body {
            Some(body) => builder
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => builder.body(Body::empty()),
        };
        self.send(request.expect("request")).await
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.call(Method::GET, uri, None).await
    }

    pub async fn post(&self, uri: &str, body: Value) -> Reply {
        self.call(Method::POST, uri, Some(body)).await
    }

    pub async fn put(&self, uri: &str, body: Value) -> Reply {
        self.call(Method::PUT, uri, Some(body)).await
    }

    pub async fn delete(&self, uri: &str) -> Reply {
        self.call(Method::DELETE, uri, None).await
    }

    /// A raw body with a content type.
    pub async fn post_raw(&self, uri: &str, content_type: Option<&str>, body: &str) -> Reply {
        let mut builder = Request::builder().method(Method::POST).uri(uri);
        if let Some(content_type) = content_type {
            builder = builder.header(header::CONTENT_TYPE, content_type);
        }
        self.send(builder.body(Body::from(body.to_owned())).expect("request")).await
    }

    /// Creates `catalog` with [`music_items`] and [`music_events`].
    pub async fn seed(&self, catalog: &str) {
        self.post("/v1/catalogs", json!({ "name": catalog })).await.ok(201);
        self.post(&format!("/v1/catalogs/{catalog}/items"), json!({ "items": music_items() }))
            .await
            .ok(200);
        self.post(&format!("/v1/catalogs/{catalog}/events"), json!({ "events": music_events() }))
            .await
            .ok(200);
    }

    /// Trains `model` with `params` on `catalog`, activation `always`, waits for the job, and
    /// returns the job's final state.
    pub async fn train(&self, catalog: &str, model: &str, params: Value) -> Value {
        let reply = self
            .post(
                &format!("/v1/catalogs/{catalog}/models"),
                json!({ "model": model, "params": params, "activate": "always" }),
            )
            .await;
        let job_id = reply.ok(202)["job_id"].clone();
        let id = job_id.as_u64().expect("numeric job id");
        let service = Arc::clone(&self.service);
        let info = tokio::task::spawn_blocking(move || {
            service.wait_for_job(id, Duration::from_secs(120)).expect("job")
        })
        .await
        .expect("join");
        assert_eq!(info.state, JobState::Succeeded, "{info:?}");
        self.get(&format!("/v1/jobs/{id}")).await.ok(200).clone()
    }

    /// A seeded catalog with an active iALS model.
    pub async fn seeded_with_model(catalog: &str) -> Self {
        let app = Self::new();
        app.seed(catalog).await;
        app.train(catalog, "ials", json!({ "factors": 8, "iterations": 6 })).await;
        app
    }
}

/// 24 items: tracks `rock-0..11` tagged rock, `jazz-0..11` tagged jazz; every third is an album.
pub fn music_items() -> Vec<Value> {
    let mut items = Vec::new();
    for genre in ["rock", "jazz"] {
        for i in 0..12 {
            items.push(json!({
                "item_id": format!("{genre}-{i}"),
                "title": format!("{genre} song {i}"),
                "kind": if i % 3 == 0 { "album" } else { "track" },
                "tags": [genre, if i % 2 == 0 { "live" } else { "studio" }],
                "available": i != 11,
            }));
        }
    }
    items
}

/// 40 users: `r0..r19` play mostly rock, `j0..j19` mostly jazz, each 6 distinct items.
pub fn music_events() -> Vec<Value> {
    let mut events = Vec::new();
    for (prefix, genre, other) in [("r", "rock", "jazz"), ("j", "jazz", "rock")] {
        for u in 0..20 {
            for k in 0..5 {
                let item = (u + 3 * k) % 11;
                events.push(json!({
                    "user_id": format!("{prefix}{u}"),
                    "item_id": format!("{genre}-{item}"),
                    "weight": 1.0 + (k as f64),
                    "timestamp": 1_700_000_000 + (u * 10 + k) as i64,
                }));
            }
            events.push(json!({
                "user_id": format!("{prefix}{u}"),
                "item_id": format!("{other}-{}", u % 4),
            }));
        }
    }
    events
}
