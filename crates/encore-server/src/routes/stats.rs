//! Read-only views for the dashboard: the server's request metrics over the last hour, a
//! catalog's events over time, popularity long tail and recommendation coverage, item search,
//! the list of training jobs, and who the calling key is. Each route's policy is attached here,
//! as everywhere.

use axum::Extension;
use axum::Json;
use axum::extract::State;
use encore_service::dto::JobList;
use encore_service::limits::MAX_AUDIT_PAGE;
use encore_service::stats::{Bucket, Coverage, EventTimeline, ItemSearch, Popularity};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Policy, Principal};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiPath, ApiQuery};
use crate::metrics_history::MetricsHistory;
use crate::routes::guarded;
use crate::state::AppState;
use encore_service::access::Role::{Admin, Reader};

/// The statistics routes.
pub fn router() -> OpenApiRouter<AppState> {
    let catalog = Policy::catalog(Reader);
    OpenApiRouter::default()
        .merge(guarded(routes!(metrics_history), Policy::global(Reader)))
        .merge(guarded(routes!(event_timeline), catalog))
        .merge(guarded(routes!(popularity), catalog))
        .merge(guarded(routes!(coverage), catalog))
        .merge(guarded(routes!(search_items), catalog))
        .merge(guarded(routes!(list_jobs), Policy::global(Admin).audited("job.list")))
        // Any valid key may ask about itself, whatever its scope: nothing of a catalog is read.
        .merge(guarded(routes!(whoami), Policy::handler(Reader)))
}

/// The calling key, without its secret.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct WhoAmI {
    /// Key id.
    pub key_id: u64,
    /// Key name.
    pub name: String,
    /// `reader`, `writer` or `admin`.
    pub role: String,
    /// The one catalog the key may use; `null` for every catalog.
    pub catalog: Option<String>,
    /// Public prefix of the secret.
    pub prefix: String,
}

/// Who the calling key is: its role and catalog scope (what the dashboard shows and offers;
/// the server decides every request on its own).
#[utoipa::path(get, path = "/v1/whoami", tag = "access",
    responses((status = 200, description = "The calling key", body = WhoAmI)))]
async fn whoami(Extension(Principal(caller)): Extension<Principal>) -> Json<WhoAmI> {
    Json(WhoAmI {
        key_id: caller.key_id,
        name: caller.name.clone(),
        role: caller.role.as_str().to_string(),
        catalog: caller.catalog.clone(),
        prefix: caller.prefix.clone(),
    })
}

/// This process's requests over the last hour, per minute: count, 4xx, 5xx and latency
/// percentiles (kept in memory; a restart starts a new hour).
#[utoipa::path(get, path = "/v1/metrics/history", tag = "operations",
    responses((status = 200, description = "The last 60 minutes, oldest first", body = MetricsHistory)))]
async fn metrics_history() -> Json<MetricsHistory> {
    Json(crate::metrics_history::history().snapshot())
}

/// Query of the event timeline.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TimelineQuery {
    /// Bucket width, `hour` (default) or `day`.
    pub bucket: Option<Bucket>,
    /// Number of buckets, 1–1000 (default 168), ending with the newest event's.
    pub limit: Option<usize>,
}

/// Events per hour or day: the last `limit` buckets up to the newest event.
#[utoipa::path(get, path = "/v1/catalogs/{catalog}/stats/events", tag = "catalogs",
    params(("catalog" = String, Path, description = "Catalog name"), TimelineQuery),
    responses(
        (status = 200, description = "Events per bucket, oldest first", body = EventTimeline),
        (status = 400, description = "`limit` out of range (`invalid_field`), or a query that is not a number or a known bucket (`invalid_query`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such catalog (`catalog_not_found`)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn event_timeline(
    State(state): State<AppState>,
    ApiPath(catalog): ApiPath<String>,
    ApiQuery(query): ApiQuery<TimelineQuery>,
) -> ApiResult<Json<EventTimeline>> {
    state
        .run(move |service| service.event_timeline(&catalog, query.bucket, query.limit))
        .await
        .map(Json)
}

/// The popularity long tail: events per item rank, head (top 20 % of items) and tail shares,
/// and the most played items.
#[utoipa::path(get, path = "/v1/catalogs/{catalog}/stats/popularity", tag = "catalogs",
    params(("catalog" = String, Path, description = "Catalog name")),
    responses(
        (status = 200, description = "The long tail", body = Popularity),
        (status = 404, description = "No such catalog (`catalog_not_found`)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn popularity(
    State(state): State<AppState>,
    ApiPath(catalog): ApiPath<String>,
) -> ApiResult<Json<Popularity>> {
    state.run(move |service| service.popularity(&catalog)).await.map(Json)
}

/// Query of the coverage measurement.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CoverageQuery {
    /// Length of each list, 1–100 (default 10).
    #[param(minimum = 1, maximum = 100)]
    pub k: Option<usize>,
    /// Users to ask for, 1–2000 (default 500), spread evenly over the catalog.
    #[param(minimum = 1, maximum = 2000)]
    pub users: Option<usize>,
}

/// Catalogue coverage of the active model's recommendations: the share of the catalog's items
/// that appear in the top-`k` lists of a sample of users, as `POST …/recommend` answers them.
#[utoipa::path(get, path = "/v1/catalogs/{catalog}/stats/coverage", tag = "catalogs",
    params(("catalog" = String, Path, description = "Catalog name"), CoverageQuery),
    responses(
        (status = 200, description = "Coverage of the sampled lists", body = Coverage),
        (status = 400, description = "`k` or `users` out of range (`invalid_field`) or not a number (`invalid_query`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such catalog (`catalog_not_found`)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn coverage(
    State(state): State<AppState>,
    ApiPath(catalog): ApiPath<String>,
    ApiQuery(query): ApiQuery<CoverageQuery>,
) -> ApiResult<Json<Coverage>> {
    state.run(move |service| service.coverage(&catalog, query.k, query.users)).await.map(Json)
}

/// Query of the item search.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ItemSearchQuery {
    /// Items whose id starts with this or whose title contains it, ignoring ASCII case; every
    /// item when absent or empty. At most 256 characters.
    #[param(max_length = 256)]
    pub q: Option<String>,
    /// The previous page's `next_after` (default: from the start), at most 2^63 − 1.
    pub after: Option<u64>,
    /// Page size, 1–1000 (default 50).
    pub limit: Option<usize>,
}

/// Searches the catalog's items (with metadata, not taken down) by id prefix or title, a page
/// at a time.
#[utoipa::path(get, path = "/v1/catalogs/{catalog}/items", tag = "items",
    params(("catalog" = String, Path, description = "Catalog name"), ItemSearchQuery),
    responses(
        (status = 200, description = "A page of matching items; `next_after` continues", body = ItemSearch),
        (status = 400, description = "`q` too long, `limit` or `after` out of range (`invalid_field`), or a query that is not a number (`invalid_query`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such catalog (`catalog_not_found`)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn search_items(
    State(state): State<AppState>,
    ApiPath(catalog): ApiPath<String>,
    ApiQuery(query): ApiQuery<ItemSearchQuery>,
) -> ApiResult<Json<ItemSearch>> {
    state
        .run(move |service| {
            service.search_items(&catalog, query.q.as_deref(), query.after, query.limit)
        })
        .await
        .map(Json)
}

/// Query of the job list.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct JobListQuery {
    /// Only the jobs of this catalog.
    pub catalog: Option<String>,
    /// Most jobs to list, 1–1000 (default 50).
    pub limit: Option<usize>,
}

/// Recent training jobs, newest first, with their progress and loss curves.
#[utoipa::path(get, path = "/v1/jobs", tag = "models", params(JobListQuery),
    responses(
        (status = 200, description = "Jobs, newest first", body = JobList),
        (status = 400, description = "`limit` out of range (`invalid_field`) or not a number (`invalid_query`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such catalog (`catalog_not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The server is starting and still loading the catalog named by `catalog` (`not_ready`); retry when `/readyz` answers 200", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_jobs(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<JobListQuery>,
) -> ApiResult<Json<JobList>> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_AUDIT_PAGE).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            format!("must be 1–{MAX_AUDIT_PAGE}, got {limit}"),
        ));
    }
    state
        .run(move |service| service.list_jobs(query.catalog.as_deref(), limit))
        .await
        .map(|jobs| Json(JobList { jobs }))
}
