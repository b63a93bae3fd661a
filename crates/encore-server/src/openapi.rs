//! The OpenAPI 3.1 document, generated from the code.
//!
//! Each handler carries a `#[utoipa::path]` with its own success and domain error responses
//! (404 unknown catalog, 409, 422 …); the router in [`crate::routes`] collects them with
//! `utoipa-axum`. [`CommonErrors`] then adds to every operation the errors that the framework
//! layers can produce on any route, so the document is complete without repeating them in every
//! handler: 400/413/415 for operations with a JSON body, 503 while a starting server loads its
//! catalogs (for the operations that need them), 408 timeout and 500 everywhere. [`Constraints`]
//! states the rules of every field and parameter from [`encore_service::limits`]. Nothing else
//! is documented: every status listed can occur (the tests hold the list per operation).

use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response};

use crate::error::{FieldProblem, PROBLEM_JSON, Problem};

/// Tag of the simple contract and the catalog-scoped recommendation routes.
pub const TAG_RECOMMEND: &str = "recommend";
/// Tag of the catalog routes.
pub const TAG_CATALOGS: &str = "catalogs";
/// Tag of the item routes.
pub const TAG_ITEMS: &str = "items";
/// Tag of the event ingestion route.
pub const TAG_EVENTS: &str = "events";
/// Tag of the user data routes.
pub const TAG_USERS: &str = "users";
/// Tag of the model registry and training job routes.
pub const TAG_MODELS: &str = "models";
/// Tag of the operational routes.
pub const TAG_OPS: &str = "operations";

/// The document's fixed parts: info, tags, shared components.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Encore",
        description = "Recommendations as a service for music, film and game catalogs: ingest \
            play/view events, train and activate collaborative-filtering models, and get \
            personalised recommendations.\n\nEvery error is `application/problem+json` \
            (RFC 9457) with a stable `code`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    tags(
        (name = "recommend", description = "Personalised recommendations and similar items"),
        (name = "catalogs", description = "Catalogs: independent sets of items, users, events and models"),
        (name = "items", description = "Item metadata"),
        (name = "events", description = "Interaction events (plays, views, purchases)"),
        (name = "users", description = "A user's stored data: access and erasure"),
        (name = "models", description = "Model registry and background training jobs"),
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "access", description = "API keys and the audit log (admin keys for all catalogs)"),
    ),
    components(schemas(Problem, FieldProblem))
)]
pub struct ApiDoc;

/// Adds the framework-level error responses to every operation (see the module docs).
pub struct CommonErrors;

impl utoipa::Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                ("get", item.get.as_mut()),
                ("put", item.put.as_mut()),
                ("post", item.post.as_mut()),
                ("delete", item.delete.as_mut()),
                ("patch", item.patch.as_mut()),
            ];
            for (method, operation) in operations {
                if let Some(operation) = operation {
                    add_common_errors(operation, needs_loaded_catalogs(method, path));
                }
            }
        }
    }
}

/// Whether an operation works on a catalog's in-memory state, which a starting server is still
/// loading (`503 not_ready` until `/readyz` answers 200). Listing and inspecting catalogs read
/// only the store, and the key and audit routes have no catalog state.
fn needs_loaded_catalogs(method: &str, path: &str) -> bool {
    path == "/recommend"
        || path.starts_with("/v1/catalogs/{catalog}/")
        || (method == "post" && path == "/v1/catalogs")
        || (method == "delete" && path == "/v1/catalogs/{catalog}")
}

fn add_common_errors(operation: &mut Operation, needs_loaded_catalogs: bool) {
    let has_body = operation.request_body.is_some();
    let mut add = |status: &str, description: &str| {
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| problem_response(description));
    };
    if has_body {
        add(
            "400",
            "Malformed JSON (`malformed_json`) or an invalid field, named in `errors` (`invalid_field`)",
        );
        add("413", "Request body larger than the server's limit (`body_too_large`)");
        add("415", "Body not sent as `Content-Type: application/json` (`unsupported_media_type`)");
    }
    if needs_loaded_catalogs {
        add(
            "503",
            "The server is starting and still loading its catalogs and models (`not_ready`); \
             retry when `/readyz` answers 200",
        );
    }
    add("408", "The request took longer than the server's timeout (`timeout`)");
    add("500", "Server fault (`internal`); the details are in the server log");
}

/// A problem+json response with a description, for `#[utoipa::path]` and the modifier.
pub fn problem_response(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                PROBLEM_JSON,
                ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build(),
            )
            .build(),
    )
}

/// States in the document every constraint the service enforces on what a client sends, taken
/// from the constants of [`encore_service::limits`] (utoipa's `#[schema(maximum = …)]` takes only
/// literals, which would be a second copy of each rule): lengths, patterns, ranges, list sizes and
/// enums of the request bodies, and the rules of the path and query parameters of every
/// operation. A request that satisfies the document is one the service accepts as well formed.
pub struct Constraints;

impl utoipa::Modify for Constraints {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        constraints::apply(openapi);
    }
}

mod constraints;

/// Adds the bearer security scheme to the document, marks every protected operation with it, and
/// documents the 401/403/429 answers on each.
pub struct BearerSecurity {
    /// Whether `/metrics` is open (then it is documented without security).
    pub metrics_public: bool,
}

impl utoipa::Modify for BearerSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key (`ek_…`) created with `encore keys create` or `POST /v1/keys`",
                    ))
                    .build(),
            ),
        );
        for (path, item) in openapi.paths.paths.iter_mut() {
            let open = matches!(path.as_str(), "/healthz" | "/readyz")
                || (path == "/metrics" && self.metrics_public);
            if open {
                continue;
            }
            let operations = [
                item.get.as_mut(),
                item.put.as_mut(),
                item.post.as_mut(),
                item.delete.as_mut(),
                item.patch.as_mut(),
            ];
            for operation in operations.into_iter().flatten() {
                operation
                    .security
                    .get_or_insert_with(Vec::new)
                    .push(SecurityRequirement::new("bearer", Vec::<String>::new()));
                let mut add = |status: &str, description: &str| {
                    operation
                        .responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| problem_response(description));
                };
                add("401", "No API key, or an unknown or revoked one (`unauthenticated`)");
                add(
                    "403",
                    "The key's role or catalog scope does not allow this request (`forbidden`)",
                );
                add(
                    "429",
                    "The key's rate limit is used up (`rate_limited`); `Retry-After` says when to retry",
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// Every status each operation can return, from reading its handler, the service calls it
    /// makes and the layers around it. The document must list exactly these: a status missing
    /// here is undocumented behaviour, one too many is a promise the server never keeps.
    const REACHABLE: &[(&str, &str, &[u16])] = &[
        ("get", "/healthz", &[200]),
        ("get", "/readyz", &[200, 503]),
        ("get", "/metrics", &[200]),
        ("post", "/recommend", &[200, 400, 404, 409, 413, 415, 503]),
        ("get", "/v1/catalogs", &[200]),
        ("post", "/v1/catalogs", &[201, 400, 409, 413, 415, 503]),
        ("get", "/v1/catalogs/{catalog}", &[200, 404]),
        ("delete", "/v1/catalogs/{catalog}", &[204, 404, 503]),
        ("post", "/v1/catalogs/{catalog}/events", &[200, 400, 404, 413, 415, 503]),
        ("post", "/v1/catalogs/{catalog}/items", &[200, 400, 404, 413, 415, 503]),
        ("get", "/v1/catalogs/{catalog}/items/{item_id}", &[200, 404, 503]),
        ("put", "/v1/catalogs/{catalog}/items/{item_id}", &[200, 400, 404, 413, 415, 503]),
        ("delete", "/v1/catalogs/{catalog}/items/{item_id}", &[204, 404, 503]),
        ("get", "/v1/catalogs/{catalog}/items/{item_id}/similar", &[200, 400, 404, 409, 422, 503]),
        ("post", "/v1/catalogs/{catalog}/recommend", &[200, 400, 404, 413, 415, 503]),
        ("get", "/v1/catalogs/{catalog}/users/{user_id}", &[200, 400, 404, 503]),
        ("delete", "/v1/catalogs/{catalog}/users/{user_id}", &[200, 400, 404, 503]),
        ("get", "/v1/catalogs/{catalog}/models", &[200, 404, 503]),
        ("post", "/v1/catalogs/{catalog}/models", &[202, 400, 404, 413, 415, 503]),
        ("post", "/v1/catalogs/{catalog}/models/{version}/activate", &[200, 400, 404, 503]),
        ("get", "/v1/jobs/{job_id}", &[200, 404]),
        ("delete", "/v1/jobs/{job_id}", &[200, 404, 409]),
        ("get", "/v1/keys", &[200]),
        ("post", "/v1/keys", &[201, 400, 413, 415]),
        ("delete", "/v1/keys/{key_id}", &[200, 400, 404]),
        ("get", "/v1/audit", &[200, 400]),
        ("get", "/v1/metrics/history", &[200]),
        ("get", "/v1/catalogs/{catalog}/stats/events", &[200, 400, 404, 503]),
        ("get", "/v1/catalogs/{catalog}/stats/popularity", &[200, 404, 503]),
        ("get", "/v1/catalogs/{catalog}/stats/coverage", &[200, 400, 404, 503]),
        ("get", "/v1/catalogs/{catalog}/items", &[200, 400, 404, 503]),
        ("get", "/v1/jobs", &[200, 400, 404, 503]),
        ("get", "/v1/whoami", &[200]),
    ];

    /// The codes the server sends (`encore_service::Error::code`, the server's own rejections).
    const CODES: &[&str] = &[
        "malformed_json",
        "invalid_field",
        "invalid_rows",
        "invalid_model_spec",
        "invalid_path",
        "invalid_query",
        "unreadable_body",
        "body_too_large",
        "too_large",
        "unsupported_media_type",
        "catalog_not_found",
        "item_not_found",
        "user_not_found",
        "model_not_found",
        "job_not_found",
        "not_found",
        "conflict",
        "no_active_model",
        "unprocessable",
        "not_ready",
        "unauthenticated",
        "forbidden",
        "rate_limited",
        "timeout",
        "internal",
    ];

    fn doc() -> serde_json::Value {
        serde_json::to_value(crate::openapi_document()).unwrap()
    }

    #[test]
    fn every_documented_status_is_reachable_and_every_reachable_one_documented() {
        let doc = doc();
        let mut seen = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let documented: BTreeSet<u16> = op["responses"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(|s| s.parse().unwrap())
                    .collect();
                let (_, _, own) = REACHABLE
                    .iter()
                    .find(|(m, p, _)| m == method && p == path)
                    .unwrap_or_else(|| panic!("{method} {path} is not in REACHABLE"));
                let mut expected: BTreeSet<u16> = own.iter().copied().collect();
                // Every operation can time out or fail inside; protected ones check the key.
                expected.extend([408, 500]);
                if op.get("security").is_some() {
                    expected.extend([401, 403, 429]);
                }
                assert_eq!(documented, expected, "{method} {path}");
                seen += 1;
            }
        }
        assert_eq!(seen, REACHABLE.len());
    }

    #[test]
    fn error_codes_in_the_document_are_real_codes() {
        let text = doc().to_string();
        // Codes are written in backticks in descriptions, and as `urn:encore:problem:<code>`.
        for (i, _) in text.match_indices("urn:encore:problem:") {
            let code: String = text[i + 19..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            // (`urn:encore:problem:<code>` in a description names the form, not a code.)
            assert!(code.is_empty() || CODES.contains(&code.as_str()), "example code `{code}`");
        }
        let doc = doc();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                for (status, response) in op["responses"].as_object().unwrap() {
                    if status.starts_with('2') {
                        continue;
                    }
                    let description = response["description"].as_str().unwrap();
                    // The codes are named in parentheses: "… (`invalid_field`, `not_found`)".
                    let codes: Vec<&str> = description
                        .split("(`")
                        .skip(1)
                        .filter_map(|group| group.split_once(')').map(|(inner, _)| inner))
                        .flat_map(|inner| inner.split('`').step_by(2))
                        .map(|w| w.trim_matches(|c: char| c == ',' || c == ' '))
                        .filter(|w| !w.is_empty())
                        .collect();
                    assert!(
                        !codes.is_empty(),
                        "{method} {path} {status}: no code in {description}"
                    );
                    for code in codes {
                        assert!(
                            CODES.contains(&code),
                            "{method} {path} {status}: `{code}` is not a code the server sends"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn constraints_come_from_the_limits() {
        use encore_service::limits as l;
        let doc = doc();
        let schemas = &doc["components"]["schemas"];
        let name = &schemas["CreateCatalog"]["properties"]["name"];
        assert_eq!(name["pattern"], l::CATALOG_NAME_PATTERN);
        assert_eq!(name["maxLength"], l::MAX_CATALOG_NAME);
        let events = &schemas["IngestEvents"]["properties"]["events"];
        assert_eq!(events["maxItems"], l::MAX_BATCH_ROWS);
        assert_eq!(schemas["EventInput"]["properties"]["item_id"]["maxLength"], l::MAX_ID);
        assert_eq!(schemas["EventInput"]["properties"]["weight"]["minimum"], 0.0);
        let kinds = &schemas["RecommendFilter"]["properties"]["kinds"];
        assert_eq!(kinds["maxItems"], l::MAX_FILTER_ENTRIES);
        assert_eq!(kinds["items"]["maxLength"], l::MAX_FILTER_VALUE);
        assert_eq!(schemas["Item"]["properties"]["tags"]["maxItems"], l::MAX_TAGS);
        assert_eq!(schemas["Item"]["properties"]["released"]["pattern"], l::RELEASE_DATE_PATTERN);
        let variants = schemas["RecommendRequest"]["oneOf"].as_array().unwrap();
        assert_eq!(variants.len(), 2);
        for v in variants {
            assert_eq!(v["properties"]["n"]["maximum"], l::MAX_N);
        }
        assert_eq!(variants[1]["properties"]["history"]["maxItems"], l::MAX_HISTORY);
        assert_eq!(variants[0]["properties"]["history"]["type"], "null");
        assert_eq!(variants[0]["required"], serde_json::json!(["user_id"]));
        assert_eq!(variants[1]["required"], serde_json::json!(["history"]));
        let train = schemas["TrainRequest"]["oneOf"].as_array().unwrap();
        assert_eq!(train.len(), 2);
        let (one_model, search) = (&train[0]["properties"], &train[1]["properties"]);
        assert!(!one_model["model"]["enum"].as_array().unwrap().contains(&"auto".into()));
        assert_eq!(one_model["budget_seconds"]["type"], "null", "search fields only with auto");
        assert_eq!(search["model"]["enum"], serde_json::json!(["auto"]));
        assert_eq!(search["params"]["maxProperties"], 0);
        assert_eq!(search["models"]["minItems"], 1);
        assert_eq!(search["budget_seconds"]["maximum"], 86_400);
        let similar = &doc["paths"]["/v1/catalogs/{catalog}/items/{item_id}/similar"]["get"];
        for p in similar["parameters"].as_array().unwrap() {
            match p["name"].as_str().unwrap() {
                "catalog" => assert_eq!(p["schema"]["pattern"], l::CATALOG_NAME_PATTERN),
                "item_id" => assert_eq!(p["schema"]["maxLength"], l::MAX_ID),
                "n" => assert_eq!(p["schema"]["maximum"], l::MAX_N),
                other => panic!("unexpected parameter {other}"),
            }
        }
    }
}
