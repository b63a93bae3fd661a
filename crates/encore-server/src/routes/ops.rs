//! Operational routes: liveness, readiness and Prometheus metrics. They are outside `/v1` and
//! outside the authentication slot, so orchestrators and scrapers need no credentials.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use encore_service::dto::{JobState, Readiness};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Policy;
use crate::error::{ApiError, ApiResult, Problem};
use crate::metrics as names;
use crate::state::AppState;
use encore_service::access::Role::Reader;

/// The operational routes.
pub fn router(metrics_public: bool) -> OpenApiRouter<AppState> {
    let metrics = OpenApiRouter::default().routes(routes!(metrics));
    let metrics =
        if metrics_public { metrics } else { metrics.route_layer(Policy::global(Reader).layer()) };
    OpenApiRouter::default().routes(routes!(healthz)).routes(routes!(readyz)).merge(metrics)
}

/// Liveness body.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
}

/// Liveness: the process is up and answering. Never touches the store.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is alive", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok".to_string() })
}

/// Readiness: the store is open and every catalog's active model is loaded. A load balancer
/// should send traffic only while this answers 200.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = Readiness),
        (status = 503, description = "Not ready (`not_ready`): the store is not open or an active model is still loading; the detail names the catalogs",
            body = Problem, content_type = "application/problem+json"),
    ))]
async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Readiness>> {
    let readiness = state.run(|service| Ok(service.readiness())).await?;
    if readiness.ready {
        return Ok(Json(readiness));
    }
    let waiting: Vec<&str> = readiness
        .catalogs
        .iter()
        .filter(|c| c.active_model.is_some() && c.active_model != c.loaded_model)
        .map(|c| c.catalog.as_str())
        .collect();
    let detail = if let Some(loading) = &readiness.loading {
        format!("the service is starting: {loading}")
    } else if waiting.is_empty() {
        "the store is not open yet".to_string()
    } else {
        format!("active models still loading for catalogs: {}", waiting.join(", "))
    };
    Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", detail))
}

/// Prometheus metrics in the text exposition format (see [`crate::metrics`] for the series).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format", body = String,
        content_type = "text/plain; version=0.0.4")))]
async fn metrics(State(state): State<AppState>) -> ApiResult<Response> {
    // Series describing the service's state are refreshed from the service at each scrape, so a
    // scrape always shows the truth, whoever changed the state.
    let (loaded, events, jobs) = state
        .run(|service| {
            let jobs = service.list_jobs(None, 1000)?;
            Ok((service.loaded_models(), service.events_ingested(), jobs))
        })
        .await?;
    state.publish_active_models(&loaded);
    metrics::counter!(names::EVENTS_INGESTED).absolute(events);
    for job_state in [JobState::Queued, JobState::Running] {
        let count = jobs.iter().filter(|job| job.state == job_state).count();
        let label = if job_state == JobState::Queued { "queued" } else { "running" };
        metrics::gauge!(names::TRAINING_JOBS, "state" => label).set(count as f64);
    }
    let mut response = state.metrics().render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}
