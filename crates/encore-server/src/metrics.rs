//! Prometheus metrics: the process-wide recorder, the per-request middleware and the names.
//!
//! The `metrics` facade needs one global recorder per process, so [`recorder`] installs it on
//! first use and every [`crate::app`] built in the same process (the in-process tests build
//! many) shares it. `GET /metrics` renders it as Prometheus text.
//!
//! What is recorded, and where:
//! - `encore_http_requests_total{method,route,status}` and
//!   `encore_http_request_duration_seconds{method,route,status}` (a histogram with fixed buckets):
//!   [`track`], with `route` the matched route *template* (`/v1/catalogs/{catalog}/items/{item_id}`),
//!   never the raw path, so the label set stays bounded whatever clients send.
//! - `encore_events_ingested_total{catalog}`: the events route, after the batch is committed.
//! - `encore_training_jobs_started_total{catalog}` and `encore_training_jobs{state}`: the models
//!   and jobs routes and the scrape.
//! - `encore_active_model_info{catalog,version}` (value 1) and `encore_model_load_seconds`: set from
//!   the service's state at scrape time, so they can never go stale.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Request counter name.
pub const HTTP_REQUESTS: &str = "encore_http_requests_total";
/// Request latency histogram name.
pub const HTTP_DURATION: &str = "encore_http_request_duration_seconds";
/// Events committed through the API.
pub const EVENTS_INGESTED: &str = "encore_events_ingested_total";
/// Training jobs started through the API.
pub const TRAINING_JOBS_STARTED: &str = "encore_training_jobs_started_total";
/// Training jobs by state, refreshed at scrape time.
pub const TRAINING_JOBS: &str = "encore_training_jobs";
/// One series per catalog with an active model; the version is a label.
pub const ACTIVE_MODEL: &str = "encore_active_model_info";
/// Seconds it took to load each active model.
pub const MODEL_LOAD_SECONDS: &str = "encore_model_load_seconds";
/// Seconds from each active model's activation request to it answering.
pub const MODEL_ACTIVATION_SECONDS: &str = "encore_model_activation_seconds";
/// Bytes of each active model's precomputed candidate table.
pub const CANDIDATE_BYTES: &str = "encore_candidate_table_bytes";
/// On-demand requests of each active model scored in a batch shared with concurrent ones.
pub const BATCHED_REQUESTS: &str = "encore_recommend_batched_requests";
/// Recall@10 of each loaded version's approximate index, measured when it was built.
pub const INDEX_RECALL: &str = "encore_index_recall_at_10";

/// Latency buckets in seconds: fine below 10 ms, where the recommend route lives.
const LATENCY_BUCKETS: [f64; 16] = [
    0.000_25, 0.000_5, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 10.0,
];

/// The process-wide Prometheus recorder, installed on first call.
///
/// If another recorder was installed before (by an embedding program), metrics go there and the
/// handle returned here renders an empty page rather than failing the server.
pub fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_string()), &LATENCY_BUCKETS)
            .expect("the bucket list is a non-empty constant");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
        } else {
            describe();
        }
        handle
    })
}

fn describe() {
    metrics::describe_counter!(HTTP_REQUESTS, "HTTP requests by method, route template and status");
    metrics::describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "HTTP request latency by method, route template and status"
    );
    metrics::describe_counter!(EVENTS_INGESTED, "events committed through the API, by catalog");
    metrics::describe_counter!(TRAINING_JOBS_STARTED, "training jobs started, by catalog");
    metrics::describe_gauge!(TRAINING_JOBS, "training jobs known to this process, by state");
    metrics::describe_gauge!(ACTIVE_MODEL, "1 for the active model version of each catalog");
    metrics::describe_gauge!(
        MODEL_LOAD_SECONDS,
        metrics::Unit::Seconds,
        "time taken to load the active model of each catalog"
    );
    metrics::describe_gauge!(
        MODEL_ACTIVATION_SECONDS,
        metrics::Unit::Seconds,
        "time from the activation request of each catalog's active model to it answering (its \
         candidate table is built first, while the previous model serves)"
    );
    metrics::describe_gauge!(
        CANDIDATE_BYTES,
        metrics::Unit::Bytes,
        "memory of the precomputed candidate table of each catalog's active model"
    );
    metrics::describe_gauge!(
        BATCHED_REQUESTS,
        "on-demand recommend requests of each catalog's active model that were scored together \
         with concurrent ones (one pass over the item factors for the batch)"
    );
    metrics::describe_gauge!(
        INDEX_RECALL,
        "recall@10 against exact scoring of the approximate index of each catalog's loaded          version, measured on sampled users when it was built (absent: no index, exact scoring)"
    );
}

/// Middleware: counts and times every request by method, route template and status.
pub async fn track(request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = method_label(request.method());
    // Unmatched requests (404 from the fallback) share one label so scanners cannot blow up the
    // number of series.
    let route = match request.extensions().get::<MatchedPath>() {
        Some(path) => metrics::SharedString::from(path.as_str().to_owned()),
        None => metrics::SharedString::const_str("unmatched"),
    };
    let response = next.run(request).await;
    let status = status_label(response.status().as_u16());
    let labels = [
        metrics::Label::from_static_parts("method", method),
        metrics::Label::new("route", route),
        metrics::Label::new("status", status),
    ];
    metrics::counter!(HTTP_REQUESTS, labels.iter()).increment(1);
    let elapsed = start.elapsed();
    metrics::histogram!(HTTP_DURATION, labels.iter()).record(elapsed.as_secs_f64());
    crate::metrics_history::record(response.status().as_u16(), elapsed);
    response
}

fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// The status as a label without allocating for the statuses this API returns.
fn status_label(status: u16) -> metrics::SharedString {
    let fixed = match status {
        200 => "200",
        201 => "201",
        202 => "202",
        204 => "204",
        400 => "400",
        404 => "404",
        405 => "405",
        408 => "408",
        409 => "409",
        413 => "413",
        415 => "415",
        422 => "422",
        500 => "500",
        503 => "503",
        _ => return metrics::SharedString::from(status.to_string()),
    };
    metrics::SharedString::const_str(fixed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_labels_match_the_number() {
        for status in [200u16, 204, 404, 418, 503] {
            assert_eq!(status_label(status).as_ref(), status.to_string());
        }
    }
}
