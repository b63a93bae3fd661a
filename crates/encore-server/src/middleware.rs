//! Cross-cutting request handling: request ids, problem+json for the
//! framework's own errors, and the panic handler. [`crate::app`] stacks them in this order
//! (outermost first):
//!
//! 1. request id: take `x-request-id` from the client or make one, put it on the response;
//! 2. trace: one span per request carrying the request id, method and route;
//! 3. panic → 500 problem;
//! 4. metrics ([`crate::metrics::track`]);
//! 5. problems: bare error responses (404 of an unknown route, 405, 408 timeout, 413 from the
//!    length-limit layer) become problem+json;
//! 6. timeout, body limit;
//! 7. after routing, on every route: API keys, rate limits, roles and the audit log
//!    (`authenticate` in [`crate::auth`]).

use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::request_id::{MakeRequestId, RequestId};

use crate::error::{ApiError, PROBLEM_JSON};
use crate::state::AppState;

/// Makes request ids `<process prefix>-<counter>`: unique within the process, distinct across
/// restarts (the prefix comes from the start time and pid), and far cheaper than a UUID.
#[derive(Debug, Clone)]
pub struct SequentialRequestId {
    prefix: &'static str,
}

impl SequentialRequestId {
    /// The generator of this process.
    pub fn new() -> Self {
        static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let prefix = PREFIX.get_or_init(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            format!("{:x}", (nanos ^ (u64::from(std::process::id()) << 40)) & 0xffff_ffff_ffff)
        });
        SequentialRequestId { prefix }
    }
}

impl Default for SequentialRequestId {
    fn default() -> Self {
        Self::new()
    }
}

impl MakeRequestId for SequentialRequestId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        static COUNTER: AtomicU64 = AtomicU64::new(1);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n}", self.prefix)).ok().map(RequestId::new)
    }
}

/// Rewrites the framework's bare error responses (empty or plain-text bodies) as problem+json, so
/// every error a client sees has one shape. Responses that are already problems pass untouched.
pub async fn problems(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = problem_response(&state, request, next).await;
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        // A 413 is sent before the body is read, so the server cannot reuse the connection (the
        // rest of the body is still on it). Saying so stops a pooling client from sending its
        // next request down a connection that is about to close (it would see a truncated reply).
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

async fn problem_response(state: &AppState, request: Request, next: Next) -> Response {
    // Cheap clones (a standard method is a tag, a URI shares its bytes): this runs on every
    // request, and the path is only needed when the response turns out to be an error.
    let method = request.method().clone();
    let uri = request.uri().clone();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_problem(&response) {
        return response;
    }
    let path = uri.path();
    let error = match status {
        StatusCode::NOT_FOUND => ApiError::not_found(
            "unknown_route",
            format!("no route for {method} {path}; the routes are listed at /openapi.json"),
        ),
        // axum adds the `Allow` header to the final response itself (after this layer), so the
        // detail points to it rather than repeating it.
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            status,
            "method_not_allowed",
            format!(
                "{method} is not allowed on {path}; the Allow header lists the methods that are"
            ),
        ),
        StatusCode::REQUEST_TIMEOUT => ApiError::new(
            status,
            "timeout",
            format!(
                "the request took longer than the server's limit of {} s",
                state.config().request_timeout.as_secs_f64()
            ),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::body_too_large(state.config().max_body_bytes),
        _ => ApiError::new(
            status,
            "http_error",
            status.canonical_reason().unwrap_or("request failed").to_string(),
        ),
    };
    error.into_response()
}

fn is_problem(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()))
}

/// The response for a handler that panicked: a 500 problem. The panic message is logged, not
/// sent, because it may contain internals.
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("non-string panic payload");
    ApiError::internal(format_args!("handler panicked: {message}")).into_response()
}
