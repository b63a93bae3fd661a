//! The routes, one module per resource. Each module returns an `OpenApiRouter` so the OpenAPI
//! document is collected from the handlers' `#[utoipa::path]` attributes as the router is built.

pub mod catalogs;
pub mod events;
pub mod items;
pub mod keys;
pub mod models;
pub mod ops;
pub mod recommend;
pub mod users;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// The product API: `/recommend` and everything under `/v1`. These routes sit behind the
/// authentication slot ([`crate::middleware::authenticate`]).
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .merge(recommend::router())
        .merge(catalogs::router())
        .merge(items::router())
        .merge(events::router())
        .merge(users::router())
        .merge(models::router())
        .merge(keys::router())
}

/// Health, readiness and metrics: no authentication, never versioned.
pub fn ops() -> OpenApiRouter<AppState> {
    ops::router()
}
