//! # encore-server — Encore's HTTP API
//!
//! This crate only *exposes* the product: every use case lives in `encore-service`, which is
//! synchronous (SQLite, files, CPU-bound scoring). Handlers parse and validate the request, call
//! the service on tokio's blocking pool ([`AppState::run`]) so the async workers never block, and
//! serialise the answer. The request and response types are the service's own DTOs, which derive
//! `utoipa::ToSchema`, so the OpenAPI document cannot drift from what the code accepts.
//!
//! ## Map
//! - [`app`] builds the whole [`axum::Router`] from an [`AppState`] — no socket, so tests drive it
//!   in-process with `tower::ServiceExt::oneshot`; [`serve`] binds it and shuts down gracefully.
//! - [`routes`]: one module per resource (`recommend`, `catalogs`, `items`, `events`, `users`,
//!   `models` with training jobs, `ops` for health, readiness and metrics).
//! - [`error`]: [`ApiError`], the single mapping of every failure to `application/problem+json`.
//! - [`extract`]: JSON/path/query extractors whose rejections are problems naming the field.
//! - [`middleware`]: request ids, problem+json for the framework's bare errors, the panic handler.
//! - [`auth`]: API keys (401), per-key rate limits ([`ratelimit`], 429), roles and catalog scopes
//!   (403), and the audit log of admin acts and user-data access, on every route but `/healthz`,
//!   `/readyz`, `/openapi.json` and `/docs` (and `/metrics` when it is made public).
//! - [`metrics`]: the Prometheus recorder and per-route request metrics.
//! - [`openapi`]: the OpenAPI 3.1 document served at `/openapi.json`, rendered by the vendored
//!   Swagger UI at `/docs` (no internet access needed).
//! - [`dashboard`]: the web dashboard at `/dashboard`, embedded in the binary; its data comes
//!   from the authenticated API.

pub mod auth;
pub mod config;
pub mod dashboard;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod metrics_history;
pub mod middleware;
pub mod openapi;
pub mod ratelimit;
pub mod routes;
mod server;
pub mod state;
pub mod telemetry;
pub mod tls;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::Level;
use utoipa::Modify;

pub use config::{ServerConfig, TlsFiles};
pub use error::{ApiError, ApiResult, Problem};
pub use server::{serve, serve_on, shutdown_signal};
pub use state::AppState;
pub use telemetry::{LogFormat, init_logging};

/// The complete HTTP application: every route, the OpenAPI document and docs page, and the
/// middleware stack described in [`middleware`].
pub fn app(state: AppState) -> Router {
    let config = state.config().clone();
    // Each protected route carries its policy from where it is built (`routes`); the policy's
    // middleware finds the application state in the request extensions.
    let (api, ops, openapi) = api_router_and_doc(config.security.metrics_public);

    let docs = utoipa_swagger_ui::SwaggerUi::new("/docs").url("/openapi.json", openapi);

    let access_level = if config.access_log { Level::INFO } else { Level::DEBUG };
    let trace = TraceLayer::new_for_http()
        .make_span_with(move |request: &axum::http::Request<_>| {
            let request_id =
                request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            let route = request
                .extensions()
                .get::<axum::extract::MatchedPath>()
                .map_or("unmatched", |p| p.as_str());
            // The level is chosen at run time, so the span macro is picked by hand.
            if access_level == Level::INFO {
                tracing::info_span!("request", request_id, method = %request.method(), route)
            } else {
                tracing::debug_span!("request", request_id, method = %request.method(), route)
            }
        })
        .on_request(())
        .on_response(
            tower_http::trace::DefaultOnResponse::new()
                .level(access_level)
                .latency_unit(tower_http::LatencyUnit::Micros),
        )
        .on_failure(tower_http::trace::DefaultOnFailure::new().level(Level::ERROR));

    Router::new()
        .merge(api)
        .merge(ops)
        .merge(docs)
        .merge(dashboard::router())
        .layer(
            // Outermost first; see the `middleware` module docs for why this order.
            ServiceBuilder::new()
                // Keys must never reach a log: mark the header sensitive before anything sees it.
                .layer(tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer::new([
                    axum::http::header::AUTHORIZATION,
                ]))
                .layer(SetRequestIdLayer::x_request_id(middleware::SequentialRequestId::new()))
                .layer(trace)
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(CatchPanicLayer::custom(middleware::panic_response))
                .layer(axum::middleware::from_fn(metrics::track))
                .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::problems))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    config.request_timeout,
                ))
                .layer(RequestBodyLimitLayer::new(config.max_body_bytes))
                .layer(DefaultBodyLimit::max(config.max_body_bytes))
                .layer(axum::Extension(state.clone())),
        )
        .with_state(state)
}

/// The product routes and the operational routes with their OpenAPI document, the
/// framework-level errors and the security requirements added to every operation.
fn api_router_and_doc(
    metrics_public: bool,
) -> (Router<AppState>, Router<AppState>, utoipa::openapi::OpenApi) {
    use utoipa::OpenApi;
    let (api, mut openapi) =
        utoipa_axum::router::OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
            .merge(routes::api())
            .split_for_parts();
    let (ops, ops_doc) = utoipa_axum::router::OpenApiRouter::<AppState>::new()
        .merge(routes::ops(metrics_public))
        .split_for_parts();
    openapi.merge(ops_doc);
    openapi::CommonErrors.modify(&mut openapi);
    openapi::Constraints.modify(&mut openapi);
    openapi::BearerSecurity { metrics_public }.modify(&mut openapi);
    (api, ops, openapi)
}

/// The OpenAPI document of [`app`], without building a router (for `encore serve --openapi`,
/// tests and tooling).
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    api_router_and_doc(false).2
}
