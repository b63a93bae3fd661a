//! Recommendations: the simple contract `POST /recommend` and the full
//! `POST /v1/catalogs/{catalog}/recommend`.
//!
//! `POST /recommend` is the hot path (the serving benchmark drives it): a small body parsed
//! straight from the bytes, one call into the service on the blocking pool, a lean response of
//! ids and scores. Everything else about a request (logging, metrics) is kept allocation-light in
//! [`crate::middleware`] and [`crate::metrics`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use axum::extract::State;
use axum::{Extension, Json};
use encore_service::Encore;
use encore_service::dto::{RecommendRequest, RecommendResponse, Source};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

/// The recommendation routes; `default_catalog` is shared with the catalog routes, which
/// invalidate it.
pub fn router(default_catalog: DefaultCatalog) -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(recommend_simple))
        .routes(routes!(recommend))
        .layer(Extension(default_catalog))
}

/// Which catalog `POST /recommend` uses when the body names none: the only one, remembered.
///
/// Asking the service means listing the catalogs in the store — an SQLite read on every request
/// of the hot path. The answer only changes when a catalog is created or deleted, and those go
/// through the catalog routes, which call [`DefaultCatalog::invalidate`] after the change is
/// committed. An answer is cached with the generation read *before* asking the store, so an
/// answer computed across a concurrent create or delete is never served after it.
#[derive(Debug, Clone, Default)]
pub struct DefaultCatalog {
    inner: Arc<DefaultCatalogInner>,
}

#[derive(Debug, Default)]
struct DefaultCatalogInner {
    generation: AtomicU64,
    cached: RwLock<Option<(u64, String)>>,
}

impl DefaultCatalog {
    /// Forgets the cached answer; call after creating or deleting a catalog.
    pub fn invalidate(&self) {
        self.inner.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The default catalog, from the cache or the service.
    fn get(&self, service: &Encore) -> Result<String, encore_service::Error> {
        let generation = self.inner.generation.load(Ordering::SeqCst);
        if let Some((cached_generation, name)) =
            &*self.inner.cached.read().unwrap_or_else(|p| p.into_inner())
            && *cached_generation == generation
        {
            return Ok(name.clone());
        }
        let name = service.default_catalog()?;
        *self.inner.cached.write().unwrap_or_else(|p| p.into_inner()) =
            Some((generation, name.clone()));
        Ok(name)
    }
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
    /// Version of the model that scored.
    pub model_version: String,
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
        (status = 400, description = "Invalid field such as `n` out of 1–1000 (`invalid_field`), or `catalog` missing while the server hosts several", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such catalog (`catalog_not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The catalog has no active model yet (`no_active_model`)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn recommend_simple(
    State(state): State<AppState>,
    Extension(default_catalog): Extension<DefaultCatalog>,
    ApiJson(request): ApiJson<SimpleRecommendRequest>,
) -> ApiResult<Json<SimpleRecommendResponse>> {
    let response = state
        .run(move |service| {
            let catalog = match request.catalog {
                Some(catalog) => catalog,
                None => default_catalog.get(service)?,
            };
            let full = RecommendRequest {
                user_id: Some(request.user_id),
                n: request.n,
                ..RecommendRequest::default()
            };
            service.recommend(&catalog, &full)
        })
        .await?;
    Ok(Json(SimpleRecommendResponse {
        user_id: response.user_id.unwrap_or_default(),
        catalog: response.catalog,
        model_version: response.model_version,
        source: response.source,
        recommendations: response
            .recommendations
            .into_iter()
            .map(|r| ScoredItem { item_id: r.item_id, score: r.score })
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
        (status = 400, description = "Invalid field: neither or both of `user_id` and `history`, `n` out of 1–1000, a bad weight (`invalid_field`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such catalog (`catalog_not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A history whose items the model does not know at all (`unprocessable`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The catalog has no active model yet (`no_active_model`)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn recommend(
    State(state): State<AppState>,
    ApiPath(catalog): ApiPath<String>,
    ApiJson(request): ApiJson<RecommendRequest>,
) -> ApiResult<Json<RecommendResponse>> {
    state.run(move |service| service.recommend(&catalog, &request)).await.map(Json)
}
