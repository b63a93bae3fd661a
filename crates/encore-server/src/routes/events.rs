//! `POST /v1/catalogs/{catalog}/events`: event ingestion, acknowledged only once durable.

use axum::Json;
use axum::extract::State;
use encore_service::dto::{IngestEvents, IngestEventsResponse};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Policy;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath};
use crate::metrics as names;
use crate::state::AppState;
use encore_service::access::Role;

/// The event routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(ingest_events))
        .route_layer(Policy::catalog(Role::Writer).layer())
}

/// Stores a batch of events, all or nothing. The 200 is sent only after the batch is durably
/// committed: an acknowledged event survives a crash. The events count for recommendations at
/// once, without retraining.
#[utoipa::path(post, path = "/v1/catalogs/{catalog}/events", tag = "events", request_body = IngestEvents,
    params(("catalog" = String, Path, description = "Catalog name")),
    responses(
        (status = 200, description = "Every event was committed", body = IngestEventsResponse),
        (status = 400, description = "Invalid rows, each listed in `errors` with its `index` and `field` (`invalid_rows`); nothing was stored", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such catalog (`catalog_not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "More rows than the server accepts in one batch (`too_large`)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn ingest_events(
    State(state): State<AppState>,
    ApiPath(catalog): ApiPath<String>,
    ApiJson(request): ApiJson<IngestEvents>,
) -> ApiResult<Json<IngestEventsResponse>> {
    let label = catalog.clone();
    let response = state.run(move |service| service.ingest_events(&catalog, &request)).await?;
    metrics::counter!(names::EVENTS_INGESTED, "catalog" => label)
        .increment(response.accepted as u64);
    Ok(Json(response))
}
