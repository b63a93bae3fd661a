//! Recommendations: the simple contract `POST /recommend` and the full
//! `POST /v1/catalogs/{catalog}/recommend`.
//!
//! `POST /recommend` is the hot path (the serving benchmark drives it): a small body parsed
//! straight from the bytes, one call into the service on the blocking pool, a lean response of
//! ids and scores. Everything else about a request (logging, metrics) is kept allocation-light in
//! [`crate::middleware`] and [`crate::metrics`].

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use encore_service::access::{Role, authorize};
use encore_service::dto::{RecommendRequest, RecommendResponse, Source};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Policy, Principal};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

/// The recommendation routes: readers; `POST /recommend` checks the catalog scope itself once it
/// has picked the catalog.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .merge(
            OpenApiRouter::default()
                .routes(routes!(recommend_simple))
                .route_layer(Policy::handler(Role::Reader).layer()),
        )
        .merge(
            OpenApiRouter::default()
                .routes(routes!(recommend))
                .route_layer(Policy::catalog(Role::Reader).layer()),
        )
}

/// `POST /recommend` body: the simple contract.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimpleRecommendRequest {
    /// A user id.
    #[schema(example = "u1")]
    pub user_id: String,
    /// Number of recommendations, 1–1000 (default 10).
    #[serde(default)]
    pub n: Option<usize>,
    /// The catalog; may be left out when the server hosts exactly one.
    #[serde(default)]
    pub catalog: Option<String>,
}

/// One recommended item of the simple contract.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct ScoredItem {
    /// Item id.
    pub item_id: String,
    /// Score; higher is better, comparable within one response.
    pub score: f32,
}

/// `POST /recommend` response.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[schema(example = json!({"user_id": "u1", "catalog": "music", "model_version": "20261128-190000-ials",
    "source": "model", "recommendations": [{"item_id": "track-42", "score": 0.93}]}))]
pub struct SimpleRecommendResponse {
    /// The user asked about.
    pub user_id: String,
    /// The catalog that answered.
    pub catalog: String,
    /// Version of the model that scored; `null` when the catalog has no active model yet.
    pub model_version: Option<String>,
    /// `model`, `history` (scored from the user's stored events, including ones newer than the
    /// model) or `popular` (a user without history).
    pub source: Source,
    /// Best first; items the user has played are left out.
    pub recommendations: Vec<ScoredItem>,
}

/// Top-N for a user: the simple contract. Seen items are excluded; an unknown user gets the
/// catalog's popular items (`source: popular`), not an error.
#[utoipa::path(post, path = "/recommend", tag = "recommend", request_body = SimpleRecommendRequest,
    responses(
        (status = 200, description = "Recommendations, best first", body = SimpleRecommendResponse),
        (status = 400, description = "Invalid field such as `n` out of 1–1000 (`invalid_field`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such catalog, or no catalog at all (`catalog_not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`catalog` left out while the server hosts several catalogs (`conflict`)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn recommend_simple(
    State(state): State<AppState>,
    Extension(Principal(caller)): Extension<Principal>,
    ApiJson(request): ApiJson<SimpleRecommendRequest>,
) -> ApiResult<Json<SimpleRecommendResponse>> {
    // The catalog is picked once, here: the body's, else the key's scope, else the server's
    // only catalog. A scoped key is refused before anything is looked up, so the answer does
    // not reveal whether another catalog exists.
    let named = request.catalog.or_else(|| caller.catalog.clone());
    if let Some(catalog) = &named {
        authorize(&caller, Role::Reader, Some(catalog)).map_err(|denied| {
            ApiError::new(StatusCode::FORBIDDEN, "forbidden", denied.to_string())
        })?;
    }
    let user_id = request.user_id;
    let response = state
        .run(move |service| {
            let catalog = match named {
                Some(catalog) => catalog,
                None => service.default_catalog()?,
            };
            let full = RecommendRequest {
                user_id: Some(user_id.clone()),
                n: request.n,
                ..RecommendRequest::default()
            };
            service.recommend_ids(&catalog, &full).map(|ids| (user_id, ids))
        })
        .await?;
    let (user_id, ids) = response;
    Ok(Json(SimpleRecommendResponse {
        user_id,
        catalog: ids.catalog,
        model_version: ids.model_version,
        source: ids.source,
        recommendations: ids
            .items
            .into_iter()
            .map(|(item_id, score)| ScoredItem { item_id, score })
            .collect(),
    }))
}

/// Top-N for a stored user or for a history given in the request, with filters and explanations.
/// Events stored after the model was trained count at once (fold-in), and every played item is
/// excluded as seen unless `exclude_seen` is false.
#[utoipa::path(post, path = "/v1/catalogs/{catalog}/recommend", tag = "recommend", request_body = RecommendRequest,
    params(("catalog" = String, Path, description = "Catalog name")),
    responses(
        (status = 200, description = "Recommendations with item metadata, best first; `source` says how they were made", body = RecommendResponse),
        (status = 400, description = "Invalid field: neither or both of `user_id` and `history`, `n` out of 1–1000, a bad id or weight, a filter list too long (`invalid_field`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such catalog (`catalog_not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "A `history` longer than 10,000 entries (`too_large`)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn recommend(
    State(state): State<AppState>,
    ApiPath(catalog): ApiPath<String>,
    ApiJson(request): ApiJson<RecommendRequest>,
) -> ApiResult<Json<RecommendResponse>> {
    state.run(move |service| service.recommend(&catalog, &request)).await.map(Json)
}
