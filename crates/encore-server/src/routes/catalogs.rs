//! `/v1/catalogs`: create, list, inspect and delete catalogs.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use encore_service::dto::{CatalogInfo, CatalogList, CreateCatalog};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Policy;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use encore_service::access::Role::{Admin, Reader};

/// The catalog routes.
pub fn router() -> OpenApiRouter<AppState> {
    let read = OpenApiRouter::default()
        .routes(routes!(list_catalogs))
        .route_layer(Policy::global(Reader).layer())
        .merge(
            OpenApiRouter::default()
                .routes(routes!(get_catalog))
                .route_layer(Policy::catalog(Reader).layer()),
        );
    let create = OpenApiRouter::default()
        .routes(routes!(create_catalog))
        .route_layer(Policy::global(Admin).audited("catalog.create").layer());
    let delete = OpenApiRouter::default()
        .routes(routes!(delete_catalog))
        .route_layer(Policy::catalog(Admin).audited("catalog.delete").layer());
    read.merge(create).merge(delete)
}

/// Lists every catalog with its counts and active model.
#[utoipa::path(get, path = "/v1/catalogs", tag = "catalogs",
    responses((status = 200, description = "Every catalog", body = CatalogList)))]
async fn list_catalogs(State(state): State<AppState>) -> ApiResult<Json<CatalogList>> {
    state.run(|service| service.list_catalogs()).await.map(Json)
}

/// Creates an empty catalog.
#[utoipa::path(post, path = "/v1/catalogs", tag = "catalogs", request_body = CreateCatalog,
    responses(
        (status = 201, description = "Created", body = CatalogInfo),
        (status = 409, description = "A catalog with this name exists (`conflict`)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_catalog(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<CreateCatalog>,
) -> ApiResult<(StatusCode, Json<CatalogInfo>)> {
    let info = state.run(move |service| service.create_catalog(&request)).await?;
    Ok((StatusCode::CREATED, Json(info)))
}

/// One catalog with its counts and active model.
#[utoipa::path(get, path = "/v1/catalogs/{catalog}", tag = "catalogs",
    params(("catalog" = String, Path, description = "Catalog name")),
    responses(
        (status = 200, description = "The catalog", body = CatalogInfo),
        (status = 404, description = "No such catalog (`catalog_not_found`)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_catalog(
    State(state): State<AppState>,
    ApiPath(catalog): ApiPath<String>,
) -> ApiResult<Json<CatalogInfo>> {
    state.run(move |service| service.catalog(&catalog)).await.map(Json)
}

/// Deletes a catalog with its items, users, events and models.
#[utoipa::path(delete, path = "/v1/catalogs/{catalog}", tag = "catalogs",
    params(("catalog" = String, Path, description = "Catalog name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such catalog (`catalog_not_found`)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_catalog(
    State(state): State<AppState>,
    ApiPath(catalog): ApiPath<String>,
) -> ApiResult<StatusCode> {
    state.run(move |service| service.delete_catalog(&catalog)).await?;
    // The store revoked the keys scoped to the catalog; make that effective on the next request.
    let access = std::sync::Arc::clone(state.access());
    state.run(move |_| access.reload()).await?;
    Ok(StatusCode::NO_CONTENT)
}
