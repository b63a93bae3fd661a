//! The routes, one module per resource. Each module returns an `OpenApiRouter` so the OpenAPI
//! document is collected from the handlers' `#[utoipa::path]` attributes as the router is built.

pub mod catalogs;
pub mod events;
pub mod items;
pub mod keys;
pub mod models;
pub mod ops;
pub mod recommend;
pub mod stats;
pub mod users;

use utoipa_axum::router::OpenApiRouter;

use crate::auth::Policy;
use crate::state::AppState;

/// Routes behind one access policy, attached where the routes are built.
pub(crate) fn guarded(
    routes: utoipa_axum::router::UtoipaMethodRouter<AppState>,
    policy: Policy,
) -> OpenApiRouter<AppState> {
    OpenApiRouter::default().routes(routes).route_layer(policy.layer())
}

/// The product API: `/recommend` and everything under `/v1`. Each module attaches its routes'
/// access policies where it builds them ([`crate::auth::Policy::layer`]): the role, where the
/// catalog comes from, and the audit action, next to the handlers they guard.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .merge(recommend::router())
        .merge(catalogs::router())
        .merge(items::router())
        .merge(events::router())
        .merge(users::router())
        .merge(models::router())
        .merge(keys::router())
        .merge(stats::router())
}

/// Health, readiness and metrics, never versioned: liveness and readiness are open to
/// orchestrators, `/metrics` needs a reader key unless `metrics_public`.
pub fn ops(metrics_public: bool) -> OpenApiRouter<AppState> {
    ops::router(metrics_public)
}
