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
///
/// The body is read into a JSON value first (syntax errors carry the line and column), checked
/// for arrays where the API expects objects, then converted to `T` with the path of any bad field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // `from_slice` also rejects trailing garbage such as `{"user_id":"u1"} x`.
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|error| json_error(error, "."))?;
    arrays_only_where_lists_belong(&value, "")?;
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        json_error(error.into_inner(), &path)
    })
}

/// serde's derived structs also accept their fields as a JSON array (`["u1", 5]` for
/// `{"user_id": "u1", "n": 5}`), which the API document does not allow. Every request body is an
/// object, every list holds objects or strings (never lists), and `filter` is an object, so an
/// array anywhere else is refused here, before serde can read it as a struct.
fn arrays_only_where_lists_belong(value: &serde_json::Value, path: &str) -> Result<(), ApiError> {
    use serde_json::Value;
    let refuse = |field: &str| {
        let field = if field.is_empty() { "body" } else { field };
        Err(ApiError::invalid_field(field, "invalid type: array, expected a JSON object"))
    };
    match value {
        Value::Array(_) if path.is_empty() => refuse(path),
        Value::Array(entries) => {
            for (i, entry) in entries.iter().enumerate() {
                if entry.is_array() {
                    return refuse(&format!("{path}[{i}]"));
                }
                arrays_only_where_lists_belong(entry, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        Value::Object(members) => {
            for (key, member) in members {
                let field = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                if key == "filter" && member.is_array() {
                    return refuse(&field);
                }
                arrays_only_where_lists_belong(member, &field)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
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
            ApiError::invalid_field(field, in_json_terms(&error.to_string()))
        }
        Category::Io => ApiError::internal(error),
    }
}

/// Rewrites serde's wording of a type mismatch in the terms of JSON and the API document, so a
/// problem never names a Rust type: `invalid type: sequence, expected struct RecommendRequest`
/// becomes `invalid type: array, expected a JSON object`, `expected usize` becomes `expected a
/// non-negative integer`, and so on. Other messages (missing, unknown or duplicate fields, unknown
/// variants with the accepted values) are already in the API's terms and pass unchanged.
fn in_json_terms(message: &str) -> String {
    const EXPECTED: &str = "expected ";
    const INVALID_TYPE: &str = "invalid type: ";
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    loop {
        let next = [INVALID_TYPE, EXPECTED]
            .into_iter()
            .filter_map(|marker| rest.find(marker).map(|at| (at, marker)))
            .min();
        let Some((at, marker)) = next else { break };
        out.push_str(&rest[..at + marker.len()]);
        rest = &rest[at + marker.len()..];
        let (replacement, consumed) =
            if marker == EXPECTED { expected_phrase(rest) } else { unexpected_phrase(rest) };
        out.push_str(replacement.unwrap_or(""));
        if replacement.is_none() {
            continue;
        }
        rest = &rest[consumed..];
    }
    out.push_str(rest);
    out
}

/// The JSON wording of what serde expected at the start of `text`, and how many bytes it replaces.
fn expected_phrase(text: &str) -> (Option<&'static str>, usize) {
    let word_end = |start: usize| {
        text[start..]
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(text.len(), |end| start + end)
    };
    for (prefix, replacement) in [
        ("struct ", "a JSON object"),
        ("enum ", "a string (one of the documented values)"),
        ("tuple struct ", "a JSON array"),
        ("newtype struct ", "a JSON value"),
    ] {
        if text.starts_with(prefix) {
            return (Some(replacement), word_end(prefix.len()));
        }
    }
    for (phrase, replacement) in [
        ("a sequence", "a JSON array"),
        ("a map", "a JSON object"),
        ("unit", "null"),
        ("variant identifier", "a string (one of the documented values)"),
        ("field identifier", "a field name"),
    ] {
        let after = text.as_bytes().get(phrase.len());
        if text.starts_with(phrase) && after.is_none_or(|b| !b.is_ascii_alphanumeric()) {
            return (Some(replacement), phrase.len());
        }
    }
    let end = word_end(0);
    let replacement = match &text[..end] {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a non-negative integer",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "an integer",
        "f32" | "f64" => "a number",
        "char" => "a single character",
        _ => return (None, 0),
    };
    (Some(replacement), end)
}

/// The JSON wording of the kind of value serde found at the start of `text`.
fn unexpected_phrase(text: &str) -> (Option<&'static str>, usize) {
    for (phrase, replacement) in
        [("sequence", "array"), ("map", "object"), ("unit value", "null"), ("unit", "null")]
    {
        let after = text.as_bytes().get(phrase.len());
        if text.starts_with(phrase) && after.is_none_or(|b| !b.is_ascii_alphanumeric()) {
            return (Some(replacement), phrase.len());
        }
    }
    (None, 0)
}

fn bytes_rejection(rejection: BytesRejection, limit: usize) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::body_too_large(limit)
    } else {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "unreadable_body",
            format!("the request body could not be read: {}", rejection.body_text()),
        )
    }
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
    fn messages_never_name_rust_types() {
        let cases: &[(&[u8], &str)] = &[
            (b"[]", "invalid type: array, expected a JSON object"),
            (br#"["u1", 5, null]"#, "invalid type: array, expected a JSON object"),
            (br#"{"user_id":"u","events":[["a", 1.0]]}"#, "expected a JSON object"),
            (b"\"u1\"", "expected a JSON object"),
            (br#"{"user_id":"u","n":-1}"#, "expected a non-negative integer"),
            (br#"{"user_id":"u","n":1.5}"#, "expected a non-negative integer"),
            (br#"{"user_id":"u","n":"x"}"#, "expected a non-negative integer"),
            (br#"{"user_id":"u","events":{}}"#, "invalid type: object, expected a JSON array"),
            (br#"{"user_id":"u","events":[{"item_id":"a","weight":[]}]}"#, "expected a number"),
            (br#"{"user_id":"u","events":[7]}"#, "expected a JSON object"),
        ];
        for (body, wanted) in cases {
            let error = parse_json::<Body>(body).unwrap_err();
            let text = String::from_utf8_lossy(body);
            assert_eq!(error.code, "invalid_field", "{text}");
            assert!(error.detail.contains(wanted), "{text}: {}", error.detail);
            for rust in ["struct", "Body", "Row", "usize", "u32", "f32", "sequence", "map,"] {
                assert!(!error.detail.contains(rust), "{text}: {}", error.detail);
            }
        }
        // Messages already in the API's terms pass unchanged.
        assert_eq!(in_json_terms("missing field `user_id`"), "missing field `user_id`");
        assert_eq!(
            in_json_terms("unknown variant `x`, expected one of `a`, `b`"),
            "unknown variant `x`, expected one of `a`, `b`"
        );
        assert_eq!(
            in_json_terms("invalid type: null, expected a string"),
            "invalid type: null, expected a string"
        );
        assert_eq!(in_json_terms("expected unit"), "expected null");
    }

    #[test]
    fn an_array_is_never_read_as_an_object() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Filter {
            #[serde(default)]
            kinds: Option<Vec<String>>,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Request {
            #[serde(default)]
            filter: Option<Filter>,
        }
        // serde alone would accept `[]` as a filter with every field defaulted.
        let error = parse_json::<Request>(br#"{"filter": []}"#).unwrap_err();
        assert_eq!(error.errors[0].field, "filter");
        let ok = parse_json::<Request>(br#"{"filter": {"kinds": ["track"]}}"#).unwrap();
        assert_eq!(ok.filter.unwrap().kinds.unwrap(), vec!["track".to_string()]);
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
