//! Request extractors whose rejections are problem+json [`ApiError`]s.
//!
//! axum's own `Json` rejects with a plain-text body and calls a wrong type a 422. Encore's contract is
//! stricter and more helpful: a body that is not JSON is `400 malformed_json` with the line and
//! column; a field of the wrong type, a missing or an unknown field is `400 invalid_field` naming
//! the field by its path (`events[3].weight`, via `serde_path_to_error`); a missing or non-JSON
//! content type is `415`; a body over the limit is `413` stating the limit. 422 is kept for
//! requests that are well-formed but make no sense (decided by the service).

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// A JSON request body of type `T`; see the module docs for how it rejects.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        if !has_json_content_type(request.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the request body must be JSON, sent with `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| bytes_rejection(rejection, state.config().max_body_bytes))?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses a JSON document, naming the offending field or position on failure.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        json_error(error.into_inner(), &path)
    })?;
    // Reject trailing garbage such as `{"user_id":"u1"} x`, as `serde_json::from_slice` does.
    deserializer.end().map_err(|error| json_error(error, "."))?;
    Ok(value)
}

fn json_error(error: serde_json::Error, path: &str) -> ApiError {
    use serde_json::error::Category;
    match error.classify() {
        Category::Syntax | Category::Eof => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the request body is not valid JSON: {error}"),
        ),
        Category::Data => {
            // serde_path_to_error renders the root as `.`; say `body` for a problem with the whole.
            let field = if path == "." || path.is_empty() { "body" } else { path };
            ApiError::invalid_field(field, error.to_string())
        }
        Category::Io => ApiError::internal(error),
    }
}

fn bytes_rejection(rejection: BytesRejection, limit: usize) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        body_too_large(limit)
    } else {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "unreadable_body",
            format!("the request body could not be read: {}", rejection.body_text()),
        )
    }
}

/// 413 `body_too_large`, stating the limit.
pub fn body_too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("the request body is larger than the limit of {limit} bytes; send smaller batches"),
    )
}

/// `application/json` or any `application/*+json`, with optional parameters such as `charset`.
fn has_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json")
            || subtype.len() > 5 && subtype[subtype.len() - 5..].eq_ignore_ascii_case("+json"))
}

/// Path parameters whose rejection is a problem+json 400.
#[derive(Debug, Clone)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| ApiPath(value))
            .map_err(|rejection: PathRejection| {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_path", rejection.body_text())
            })
    }
}

/// Query-string parameters whose rejection is a problem+json 400 naming the parameter.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| ApiQuery(value))
            .map_err(|rejection: QueryRejection| {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", rejection.body_text())
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // fields are only deserialised
    struct Body {
        user_id: String,
        n: Option<u32>,
        events: Option<Vec<Row>>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Row {
        item_id: String,
        weight: Option<f32>,
    }

    #[test]
    fn syntax_error_is_malformed_json_with_position() {
        let error = parse_json::<Body>(b"{\"user_id\": ").unwrap_err();
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert_eq!(error.code, "malformed_json");
        assert!(error.detail.contains("line 1"), "{}", error.detail);
    }

    #[test]
    fn wrong_type_names_the_nested_field() {
        let error = parse_json::<Body>(
            br#"{"user_id":"u","events":[{"item_id":"a"},{"item_id":"b","weight":"x"}]}"#,
        )
        .unwrap_err();
        assert_eq!(error.code, "invalid_field");
        assert_eq!(error.errors[0].field, "events[1].weight");
    }

    #[test]
    fn missing_and_unknown_fields_are_invalid_field() {
        let missing = parse_json::<Body>(b"{}").unwrap_err();
        assert_eq!(missing.code, "invalid_field");
        assert!(missing.detail.contains("user_id"), "{}", missing.detail);
        let unknown = parse_json::<Body>(br#"{"user_id":"u","colour":1}"#).unwrap_err();
        assert!(unknown.detail.contains("colour"), "{}", unknown.detail);
    }

    #[test]
    fn trailing_garbage_is_rejected() {
        let error = parse_json::<Body>(br#"{"user_id":"u"} x"#).unwrap_err();
        assert_eq!(error.code, "malformed_json");
    }

    #[test]
    fn json_content_types() {
        let check = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            has_json_content_type(&headers)
        };
        assert!(check("application/json"));
        assert!(check("application/json; charset=utf-8"));
        assert!(check("Application/JSON"));
        assert!(check("application/merge-patch+json"));
        assert!(!check("text/json"));
        assert!(!check("text/plain"));
        assert!(!check("application/x-www-form-urlencoded"));
        assert!(!has_json_content_type(&HeaderMap::new()));
    }
}
