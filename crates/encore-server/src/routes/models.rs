//! The model registry (`/v1/catalogs/{catalog}/models`) and training jobs (`/v1/jobs/{id}`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use encore_service::dto::{JobAccepted, JobInfo, ModelInfo, ModelList, TrainRequest};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Policy;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath};
use crate::metrics as names;
use crate::routes::guarded;
use crate::state::AppState;
use encore_service::access::Role::Admin;

/// The model and job routes.
pub fn router() -> OpenApiRouter<AppState> {
    let catalog = |action| Policy::catalog(Admin).audited(action);
    let global = |action| Policy::global(Admin).audited(action);
    OpenApiRouter::default()
        .merge(guarded(routes!(list_models), catalog("model.list")))
        .merge(guarded(routes!(train_model), catalog("model.train")))
        .merge(guarded(routes!(activate_model), catalog("model.activate")))
        .merge(guarded(routes!(get_job), global("job.read")))
        .merge(guarded(routes!(cancel_job), global("job.cancel")))
}

/// Every registered model version of a catalog, newest first.
#[utoipa::path(get, path = "/v1/catalogs/{catalog}/models", tag = "models",
    params(("catalog" = String, Path, description = "Catalog name")),
    responses(
        (status = 200, description = "Versions with algorithm, params, metrics, size, creation time and active flag", body = ModelList),
        (status = 404, description = "No such catalog (`catalog_not_found`)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_models(
    State(state): State<AppState>,
    ApiPath(catalog): ApiPath<String>,
) -> ApiResult<Json<ModelList>> {
    state.run(move |service| service.list_models(&catalog)).await.map(Json)
}

/// Starts a background training job on the bounded training pool; serving is not slowed.
#[utoipa::path(post, path = "/v1/catalogs/{catalog}/models", tag = "models", request_body = TrainRequest,
    params(("catalog" = String, Path, description = "Catalog name")),
    responses(
        (status = 202, description = "Training started; follow it at `GET /v1/jobs/{job_id}`", body = JobAccepted),
        (status = 400, description = "Unknown model or parameter, or a value out of range (`invalid_field`, `invalid_model_spec`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such catalog (`catalog_not_found`)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn train_model(
    State(state): State<AppState>,
    ApiPath(catalog): ApiPath<String>,
    ApiJson(request): ApiJson<TrainRequest>,
) -> ApiResult<(StatusCode, Json<JobAccepted>)> {
    let label = catalog.clone();
    let accepted = state.run(move |service| service.start_training(&catalog, &request)).await?;
    metrics::counter!(names::TRAINING_JOBS_STARTED, "catalog" => label).increment(1);
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// Path of one model version.
#[derive(Debug, serde::Deserialize)]
struct ModelPath {
    catalog: String,
    version: String,
}

/// Makes a version the active one (also the rollback). The swap is atomic: requests in flight
/// finish on the model they started with, the next ones use the new one, none fails.
#[utoipa::path(post, path = "/v1/catalogs/{catalog}/models/{version}/activate", tag = "models",
    params(("catalog" = String, Path, description = "Catalog name"), ("version" = String, Path, description = "Model version")),
    responses(
        (status = 200, description = "The version is active", body = ModelInfo),
        (status = 400, description = "The version is not a version such as `v3` (`invalid_field`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such catalog or version (`catalog_not_found`, `model_not_found`)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn activate_model(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<ModelPath>,
) -> ApiResult<Json<ModelInfo>> {
    state.run(move |service| service.activate_model(&path.catalog, &path.version)).await.map(Json)
}

/// State, progress, epoch, loss and, when done, metrics of a training job.
#[utoipa::path(get, path = "/v1/jobs/{job_id}", tag = "models",
    params(("job_id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job", body = JobInfo),
        (status = 404, description = "No such job (`job_not_found`)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_job(
    State(state): State<AppState>,
    ApiPath(job_id): ApiPath<String>,
) -> ApiResult<Json<JobInfo>> {
    let job_id = parse_job_id(&job_id)?;
    state.run(move |service| service.job(job_id)).await.map(Json)
}

/// Cancels a queued or running job; it ends in state `cancelled` and registers no model.
#[utoipa::path(delete, path = "/v1/jobs/{job_id}", tag = "models",
    params(("job_id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job, cancelled (or cancelling)", body = JobInfo),
        (status = 404, description = "No such job (`job_not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job already finished (`conflict`)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn cancel_job(
    State(state): State<AppState>,
    ApiPath(job_id): ApiPath<String>,
) -> ApiResult<Json<JobInfo>> {
    let job_id = parse_job_id(&job_id)?;
    state.run(move |service| service.cancel_job(job_id)).await.map(Json)
}

/// Job ids are numbers; any other text names no job, which is a 404 like an unknown number.
fn parse_job_id(text: &str) -> ApiResult<u64> {
    text.parse().map_err(|_| {
        ApiError::from(encore_service::Error::not_found(encore_service::Resource::Job, text))
    })
}
