//! `/v1/keys` (create, list, revoke API keys) and `/v1/audit` (page through the audit log): the
//! admin side of access control. [`crate::auth`] lets only all-catalog admin keys in and records
//! each call in the audit log.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use encore_service::access::{AuditPage, AuditQuery, CreateKey, CreatedKey, KeyInfo, KeyList};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{AuditNote, Policy};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::routes::guarded;
use crate::state::AppState;
use encore_service::access::Role::Admin;

/// Tag of the key and audit routes.
pub const TAG_ACCESS: &str = "access";

/// The key and audit routes.
pub fn router() -> OpenApiRouter<AppState> {
    let admin = |action| Policy::global(Admin).audited(action);
    OpenApiRouter::default()
        .merge(guarded(routes!(create_key), admin("key.create")))
        .merge(guarded(routes!(list_keys), admin("key.list")))
        .merge(guarded(routes!(revoke_key), admin("key.revoke")))
        .merge(guarded(routes!(audit_log), admin("audit.read")))
}

/// Creates an API key. The answer holds the secret: it is shown this once (only its hash is
/// stored).
#[utoipa::path(post, path = "/v1/keys", tag = "access", request_body = CreateKey,
    responses(
        (status = 201, description = "Created; `secret` is shown only now", body = CreatedKey),
    ))]
async fn create_key(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<CreateKey>,
) -> ApiResult<Response> {
    let access = std::sync::Arc::clone(state.access());
    let created = run(move || access.create_key(&request)).await?;
    let note = serde_json::json!({"key_id": created.key.id, "role": created.key.role.as_str(),
        "catalog": created.key.catalog, "prefix": created.key.prefix});
    let mut response = (StatusCode::CREATED, Json(created)).into_response();
    response.extensions_mut().insert(AuditNote(note));
    Ok(response)
}

/// Every API key, revoked ones included, without secrets.
#[utoipa::path(get, path = "/v1/keys", tag = "access",
    responses((status = 200, description = "Every key", body = KeyList)))]
async fn list_keys(State(state): State<AppState>) -> ApiResult<Json<KeyList>> {
    let access = std::sync::Arc::clone(state.access());
    run(move || access.list_keys()).await.map(Json)
}

/// Revokes an API key (idempotent): it is refused from the next request on.
#[utoipa::path(delete, path = "/v1/keys/{key_id}", tag = "access",
    params(("key_id" = u64, Path, description = "Key id")),
    responses(
        (status = 200, description = "The revoked key", body = KeyInfo),
        (status = 400, description = "The key id is beyond the largest id a key can have (`invalid_field`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such key (`not_found`)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn revoke_key(
    State(state): State<AppState>,
    ApiPath(key_id): ApiPath<u64>,
) -> ApiResult<Json<KeyInfo>> {
    let access = std::sync::Arc::clone(state.access());
    run(move || access.revoke_key(key_id)).await.map(Json)
}

/// Pages through the audit log, oldest first, with filters.
#[utoipa::path(get, path = "/v1/audit", tag = "access", params(AuditQuery),
    responses(
        (status = 200, description = "A page of entries; `next_after` continues", body = AuditPage),
        (status = 400, description = "An invalid filter (`invalid_field`)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn audit_log(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    let access = std::sync::Arc::clone(state.access());
    run(move || access.audit_page(&query)).await.map(Json)
}

/// Runs a blocking access call (SQLite) on the blocking pool.
async fn run<T: Send + 'static>(
    call: impl FnOnce() -> encore_service::Result<T> + Send + 'static,
) -> ApiResult<T> {
    match tokio::task::spawn_blocking(call).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(e) => Err(ApiError::internal(format_args!("access call failed: {e}"))),
    }
}
