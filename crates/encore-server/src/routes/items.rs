//! `/v1/catalogs/{catalog}/items`: item metadata, and similar items.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use encore_service::dto::{
    Item, ItemFields, SimilarItemsResponse, UpsertItems, UpsertItemsResponse,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Policy;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use encore_service::access::Role::{Reader, Writer};

/// The item routes.
pub fn router() -> OpenApiRouter<AppState> {
    let read = OpenApiRouter::default()
        .routes(routes!(get_item))
        .routes(routes!(similar_items))
        .route_layer(Policy::catalog(Reader).layer());
    let write = OpenApiRouter::default()
        .routes(routes!(upsert_items))
        .routes(routes!(put_item, delete_item))
        .route_layer(Policy::catalog(Writer).layer());
    read.merge(write)
}

/// Creates or replaces a batch of items, all or nothing.
#[utoipa::path(post, path = "/v1/catalogs/{catalog}/items", tag = "items", request_body = UpsertItems,
    params(("catalog" = String, Path, description = "Catalog name")),
    responses(
        (status = 200, description = "Every item was written", body = UpsertItemsResponse),
        (status = 400, description = "Invalid rows, listed in `errors` with their `index` (`invalid_rows`); nothing was written", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such catalog (`catalog_not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "More rows than the server accepts in one batch (`too_large`)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn upsert_items(
    State(state): State<AppState>,
    ApiPath(catalog): ApiPath<String>,
    ApiJson(request): ApiJson<UpsertItems>,
) -> ApiResult<Json<UpsertItemsResponse>> {
    state.run(move |service| service.upsert_items(&catalog, &request)).await.map(Json)
}

/// Path of one item.
#[derive(Debug, serde::Deserialize)]
struct ItemPath {
    catalog: String,
    item_id: String,
}

/// One item's metadata.
#[utoipa::path(get, path = "/v1/catalogs/{catalog}/items/{item_id}", tag = "items",
    params(("catalog" = String, Path, description = "Catalog name"), ("item_id" = String, Path, description = "Item id")),
    responses(
        (status = 200, description = "The item", body = Item),
        (status = 404, description = "No such catalog or item (`catalog_not_found`, `item_not_found`)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_item(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<ItemPath>,
) -> ApiResult<Json<Item>> {
    state.run(move |service| service.get_item(&path.catalog, &path.item_id)).await.map(Json)
}

/// Creates or replaces one item's metadata.
#[utoipa::path(put, path = "/v1/catalogs/{catalog}/items/{item_id}", tag = "items", request_body = ItemFields,
    params(("catalog" = String, Path, description = "Catalog name"), ("item_id" = String, Path, description = "Item id")),
    responses(
        (status = 200, description = "The item as stored; a taken-down item is back", body = Item),
        (status = 404, description = "No such catalog (`catalog_not_found`)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn put_item(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<ItemPath>,
    ApiJson(fields): ApiJson<ItemFields>,
) -> ApiResult<Json<Item>> {
    state
        .run(move |service| service.put_item(&path.catalog, &path.item_id, &fields))
        .await
        .map(Json)
}

/// Deletes an item's metadata and marks it unavailable for recommendation; its events stay (they
/// are the users' data, erased per user).
#[utoipa::path(delete, path = "/v1/catalogs/{catalog}/items/{item_id}", tag = "items",
    params(("catalog" = String, Path, description = "Catalog name"), ("item_id" = String, Path, description = "Item id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such catalog or item (`catalog_not_found`, `item_not_found`)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_item(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<ItemPath>,
) -> ApiResult<StatusCode> {
    state.run(move |service| service.delete_item(&path.catalog, &path.item_id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query of the similar-items route.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SimilarQuery {
    /// Number of similar items, 1–1000 (default 10).
    pub n: Option<usize>,
}

/// The items most similar to one item under the active model.
#[utoipa::path(get, path = "/v1/catalogs/{catalog}/items/{item_id}/similar", tag = "recommend",
    params(("catalog" = String, Path, description = "Catalog name"), ("item_id" = String, Path, description = "Item id"), SimilarQuery),
    responses(
        (status = 200, description = "Most similar first", body = SimilarItemsResponse),
        (status = 400, description = "`n` out of range (`invalid_field`) or not a number (`invalid_query`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such catalog, or an item the catalog and the active model do not know or that was taken down (`catalog_not_found`, `item_not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The catalog has no active model yet (`no_active_model`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The item is in the catalog but has no events in the active model yet; it gets similar items after the next training (`unprocessable`)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn similar_items(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<ItemPath>,
    ApiQuery(query): ApiQuery<SimilarQuery>,
) -> ApiResult<Json<SimilarItemsResponse>> {
    state
        .run(move |service| service.similar_items(&path.catalog, &path.item_id, query.n))
        .await
        .map(Json)
}
