//! The OpenAPI 3.1 document, generated from the code.
//!
//! Each handler carries a `#[utoipa::path]` with its own success and domain error responses
//! (404 unknown catalog, 409, 422, 503 …); the router in [`crate::routes`] collects them with
//! `utoipa-axum`. [`CommonErrors`] then adds to every operation the errors that the framework
//! layers can produce on any route, so the document is complete without repeating them in every
//! handler: 400/413/415 for operations with a JSON body, 408 timeout and 500 everywhere.

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
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                item.get.as_mut(),
                item.put.as_mut(),
                item.post.as_mut(),
                item.delete.as_mut(),
                item.patch.as_mut(),
            ];
            for operation in operations.into_iter().flatten() {
                add_common_errors(operation);
            }
        }
    }
}

fn add_common_errors(operation: &mut Operation) {
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
            "Malformed JSON (`malformed_json`) or an invalid field (`invalid_field`, named in `errors`)",
        );
        add("413", "Request body larger than the server's limit (`body_too_large`)");
        add("415", "Body not sent as `Content-Type: application/json` (`unsupported_media_type`)");
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
