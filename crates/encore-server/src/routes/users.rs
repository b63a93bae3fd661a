//! `/v1/catalogs/{catalog}/users/{user_id}`: a user's stored data (access) and its erasure.

use axum::Json;
use axum::extract::State;
use encore_service::dto::{EraseReceipt, UserData};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Policy;
use crate::error::{ApiResult, Problem};
use crate::extract::ApiPath;
use crate::routes::guarded;
use crate::state::AppState;
use encore_service::access::Role::Admin;

/// The user routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .merge(guarded(routes!(get_user), Policy::catalog(Admin).audited("user.read")))
        .merge(guarded(routes!(erase_user), Policy::catalog(Admin).audited("user.erase")))
}

/// Path of one user.
#[derive(Debug, serde::Deserialize)]
struct UserPath {
    catalog: String,
    user_id: String,
}

/// Everything stored about a user (for data access requests): the user's events.
#[utoipa::path(get, path = "/v1/catalogs/{catalog}/users/{user_id}", tag = "users",
    params(("catalog" = String, Path, description = "Catalog name"), ("user_id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "The user's stored events", body = UserData),
        (status = 400, description = "The user id is not a valid id, e.g. it holds control characters (`invalid_field`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such catalog or user (`catalog_not_found`, `user_not_found`)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_user(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<UserPath>,
) -> ApiResult<Json<UserData>> {
    state.run(move |service| service.user_data(&path.catalog, &path.user_id)).await.map(Json)
}

/// Erases a user: the events, the user's factors in every loaded and stored model file, and any
/// cached results. Afterwards the user id gets non-personalised (popular) recommendations.
#[utoipa::path(delete, path = "/v1/catalogs/{catalog}/users/{user_id}", tag = "users",
    params(("catalog" = String, Path, description = "Catalog name"), ("user_id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "Erased; the receipt says what was removed (all zeros for an unknown or already erased user: erasure is safe to repeat)", body = EraseReceipt),
        (status = 400, description = "The user id is not a valid id, e.g. it holds control characters (`invalid_field`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such catalog (`catalog_not_found`)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn erase_user(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<UserPath>,
) -> ApiResult<Json<EraseReceipt>> {
    state.run(move |service| service.erase_user(&path.catalog, &path.user_id)).await.map(Json)
}
