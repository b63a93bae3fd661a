//! The one error type of the HTTP layer and its wire form, RFC 9457 `application/problem+json`.
//!
//! Every failure a client can see goes through [`ApiError`]: service errors (`From<ServiceError>`),
//! rejected request bodies ([`crate::extract`]), and the framework's own bare responses (unknown
//! route, wrong method, timeout, body over the limit — rewritten by [`crate::middleware::problems`]).
//! So the mapping from "what went wrong" to "which status and which `code`" lives here and nowhere
//! else, and every error body has the same shape:
//!
//! ```json
//! {"type": "urn:encore:problem:catalog_not_found", "title": "Not Found", "status": 404,
//!  "detail": "catalog `films` not found", "code": "catalog_not_found"}
//! ```
//!
//! `code` is the stable, machine-readable part (clients branch on it); `detail` is for humans and may
//! change wording. `errors` lists per-field or per-row problems when there are several.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Prefix of the `type` URI of a problem: `urn:encore:problem:<code>`.
const TYPE_PREFIX: &str = "urn:encore:problem:";

/// An error response body (RFC 9457 problem details, plus Encore's stable `code`).
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:encore:problem:catalog_not_found",
    "title": "Not Found",
    "status": 404,
    "detail": "catalog `films` not found",
    "code": "catalog_not_found"
}))]
pub struct Problem {
    /// A URI naming the kind of problem: `urn:encore:problem:<code>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// The HTTP reason phrase of `status`.
    pub title: String,
    /// The HTTP status code, repeated for clients that only keep the body.
    pub status: u16,
    /// What went wrong, in words, naming the offending field, id or limit.
    pub detail: String,
    /// Stable machine-readable error code (`malformed_json`, `invalid_field`, `catalog_not_found`, …).
    pub code: String,
    /// Per-field or per-row problems, when the request had several.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
}

/// One problem with one field of the request (or one row of a batch).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, ToSchema)]
pub struct FieldProblem {
    /// 0-based position of the offending row in the request's list, for batch requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// Where: a path into the request body such as `events[3].weight` or `filter.kinds`, the
    /// field of row `index` for batches, or `body` for the whole document.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// An error on its way to becoming a problem+json response.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable code (see [`Problem::code`]).
    pub code: &'static str,
    /// Human-readable detail.
    pub detail: String,
    /// Per-field problems.
    pub errors: Vec<FieldProblem>,
}

impl ApiError {
    /// An error with a status, a stable code and a detail message.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError { status, code, detail: detail.into(), errors: Vec::new() }
    }

    /// Adds per-field problems.
    pub fn with_errors(mut self, errors: Vec<FieldProblem>) -> Self {
        self.errors = errors;
        self
    }

    /// 400 `invalid_field`: a field of the request is wrong; names the field.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = message.into();
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_field", format!("`{field}`: {message}"))
            .with_errors(vec![FieldProblem { index: None, field, message }])
    }

    /// 413 `body_too_large`, stating the limit.
    pub fn body_too_large(limit: usize) -> Self {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!(
                "the request body is larger than the limit of {limit} bytes; send smaller batches"
            ),
        )
    }

    /// 404 `not_found` with a detail.
    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, code, detail)
    }

    /// 500 `internal`: a fault of the server, not of the request. The detail is logged, and the
    /// client gets a generic message so no internals (paths, SQL) leak.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed to handle the request; the error was logged",
        )
    }

    /// The problem body of this error.
    pub fn to_problem(&self) -> Problem {
        Problem {
            problem_type: format!("{TYPE_PREFIX}{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_string(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_string(),
            errors: self.errors.clone(),
        }
    }
}

/// The one mapping from service errors to HTTP: the status comes from the error's class, the
/// `code` from the error itself, per-row errors become `errors`. Faults of the server (class
/// `Internal`) are logged in full and answered with a generic detail.
impl From<encore_service::Error> for ApiError {
    fn from(error: encore_service::Error) -> Self {
        use encore_service::ErrorClass;
        let class = error.class();
        if class == ErrorClass::Internal {
            return ApiError::internal(&error);
        }
        let status = status_of(class);
        let errors = match &error {
            encore_service::Error::Invalid { field, message } => {
                vec![FieldProblem { index: None, field: field.clone(), message: message.clone() }]
            }
            _ => error
                .rows()
                .iter()
                .map(|row| FieldProblem {
                    index: Some(row.index),
                    field: row.field.clone(),
                    message: row.message.clone(),
                })
                .collect(),
        };
        ApiError { status, code: error.code(), detail: error.to_string(), errors }
    }
}

/// The HTTP status of each class of service error: the only place status codes meet the
/// service's errors.
pub fn status_of(class: encore_service::ErrorClass) -> StatusCode {
    use encore_service::ErrorClass as C;
    match class {
        C::BadRequest => StatusCode::BAD_REQUEST,
        C::NotFound => StatusCode::NOT_FOUND,
        C::Conflict => StatusCode::CONFLICT,
        C::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        C::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
        C::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        C::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = problem_response(self.status, &self.to_problem());
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // 503 is only answered while the service starts (or its store is away): say when to
            // come back, so clients and load balancers retry instead of giving up.
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// Serialises a problem into a response with the problem+json media type.
pub(crate) fn problem_response(status: StatusCode, problem: &Problem) -> Response {
    // Serialising a struct of strings cannot fail; fall back to an empty object all the same.
    let body = serde_json::to_vec(problem).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_has_rfc9457_fields_and_code() {
        let error = ApiError::invalid_field("n", "must be between 1 and 1000");
        let value = serde_json::to_value(error.to_problem()).unwrap();
        assert_eq!(value["type"], "urn:encore:problem:invalid_field");
        assert_eq!(value["title"], "Bad Request");
        assert_eq!(value["status"], 400);
        assert_eq!(value["code"], "invalid_field");
        assert!(value["detail"].as_str().unwrap().contains("`n`"));
        assert_eq!(value["errors"][0]["field"], "n");
    }

    #[test]
    fn errors_are_omitted_when_empty() {
        let value =
            serde_json::to_value(ApiError::new(StatusCode::CONFLICT, "conflict", "x").to_problem())
                .unwrap();
        assert!(value.get("errors").is_none());
    }

    #[test]
    fn response_has_problem_media_type() {
        let response = ApiError::not_found("unknown_job", "no job 7").into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
    }

    #[test]
    fn a_database_that_is_away_answers_503_with_retry_after() {
        let lost = encore_store::Error::Unavailable("connection refused".into());
        let error = ApiError::from(encore_service::Error::Store(lost));
        assert_eq!(
            (error.status, error.code),
            (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable")
        );
        let response = error.into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
    }
}
