//! API-key authentication, authorization, rate limiting and auditing of every protected request.
//!
//! [`authenticate`] runs after routing (so it knows the route template) for every `/v1` route and
//! `POST /recommend`, in this order:
//!
//! 1. **401** `unauthenticated` unless `Authorization: Bearer <secret>` names a valid, unrevoked
//!    key (one SHA-256 and one in-memory lookup, see [`encore_service::access`]);
//! 2. **429** `rate_limited` with `Retry-After` when the key's token bucket is empty
//!    ([`crate::ratelimit`]);
//! 3. **403** `forbidden` when the key's role or catalog scope does not allow the route
//!    ([`policy_for`]). The decision uses only the key and the request's path, *before*
//!    anything is looked up, so neither 401 nor 403 reveals whether a catalog, user or item
//!    exists. `POST /recommend` names its catalog in the body: the middleware checks the role
//!    and the handler, which picks the catalog, checks the scope the same way;
//! 4. the handler, with the [`Principal`] in the request extensions;
//! 5. for admin routes and user-data routes, an audit-log entry (key, action, target = the path,
//!    outcome, status, request id) — refused attempts included — written before the response is
//!    sent.
//!
//! `/healthz`, `/readyz`, `/openapi.json` and `/docs` are open; `/metrics` needs a key unless
//! [`SecurityConfig::metrics_public`]. Secrets never reach logs: the trace layer records only the
//! method, route and request id, and the `Authorization` header is marked sensitive.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use encore_service::access::{Caller, Role, authorize};

use crate::error::ApiError;
use crate::middleware::Principal;
use crate::ratelimit::Quota;
use crate::state::AppState;

/// Access-control settings of the server.
#[derive(Debug, Clone, Default)]
pub struct SecurityConfig {
    /// Serve `/metrics` without a key (for a scraper on a trusted network).
    pub metrics_public: bool,
    /// Default per-key rate limit; `None` for no limit.
    pub rate_limit: Option<Quota>,
    /// Per-key overrides of [`SecurityConfig::rate_limit`], by key id.
    pub key_rate_limits: HashMap<u64, Quota>,
}

/// Where the catalog a request acts on comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogFrom {
    /// The `{catalog}` path segment.
    Path,
    /// The request spans catalogs (or is not about one): only all-catalog keys may do it.
    Global,
    /// The handler picks the catalog (`POST /recommend`: the body's, else the key's scope) and
    /// checks the scope itself; the middleware checks the role only.
    Handler,
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Lowest role allowed.
    pub need: Role,
    /// Where the catalog comes from.
    pub catalog: CatalogFrom,
    /// Audit action name, for routes that are recorded in the audit log.
    pub audit: Option<&'static str>,
}

const fn policy(need: Role, catalog: CatalogFrom, audit: Option<&'static str>) -> Policy {
    Policy { need, catalog, audit }
}

/// The policy of every protected route, by method and route template; `None` for a route that is
/// not listed (the middleware then requires an all-catalog admin: unknown means most protected).
pub fn policy_for(method: &Method, route: &str) -> Option<Policy> {
    use CatalogFrom::{Global, Handler, Path};
    use Role::{Admin, Reader, Writer};
    let m = method.as_str();
    Some(match (m, route) {
        ("POST", "/recommend") => policy(Reader, Handler, None),
        ("GET", "/v1/catalogs") => policy(Reader, Global, None),
        ("POST", "/v1/catalogs") => policy(Admin, Global, Some("catalog.create")),
        ("GET", "/v1/catalogs/{catalog}") => policy(Reader, Path, None),
        ("DELETE", "/v1/catalogs/{catalog}") => policy(Admin, Path, Some("catalog.delete")),
        ("POST", "/v1/catalogs/{catalog}/items") => policy(Writer, Path, None),
        ("GET", "/v1/catalogs/{catalog}/items/{item_id}") => policy(Reader, Path, None),
        ("PUT" | "DELETE", "/v1/catalogs/{catalog}/items/{item_id}") => policy(Writer, Path, None),
        ("GET", "/v1/catalogs/{catalog}/items/{item_id}/similar") => policy(Reader, Path, None),
        ("POST", "/v1/catalogs/{catalog}/events") => policy(Writer, Path, None),
        ("POST", "/v1/catalogs/{catalog}/recommend") => policy(Reader, Path, None),
        ("GET", "/v1/catalogs/{catalog}/users/{user_id}") => policy(Admin, Path, Some("user.read")),
        ("DELETE", "/v1/catalogs/{catalog}/users/{user_id}") => {
            policy(Admin, Path, Some("user.erase"))
        }
        ("GET", "/v1/catalogs/{catalog}/models") => policy(Admin, Path, Some("model.list")),
        ("POST", "/v1/catalogs/{catalog}/models") => policy(Admin, Path, Some("model.train")),
        ("POST", "/v1/catalogs/{catalog}/models/{version}/activate") => {
            policy(Admin, Path, Some("model.activate"))
        }
        ("GET", "/v1/jobs/{job_id}") => policy(Admin, Global, Some("job.read")),
        ("DELETE", "/v1/jobs/{job_id}") => policy(Admin, Global, Some("job.cancel")),
        ("POST", "/v1/keys") => policy(Admin, Global, Some("key.create")),
        ("GET", "/v1/keys") => policy(Admin, Global, Some("key.list")),
        ("DELETE", "/v1/keys/{key_id}") => policy(Admin, Global, Some("key.revoke")),
        ("GET", "/v1/audit") => policy(Admin, Global, Some("audit.read")),
        ("GET", "/metrics") => policy(Reader, Global, None),
        _ => return None,
    })
}

/// Extra detail a handler attaches to its response for the audit entry (for example the id of a
/// key it created). Removed from the response before it is sent.
#[derive(Debug, Clone)]
pub struct AuditNote(pub serde_json::Value);

/// The secret of an `Authorization: Bearer <secret>` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, secret) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| secret.trim())
}

/// The middleware of every protected route (see the module docs).
pub async fn authenticate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let route = route.as_deref().unwrap_or("");
    let open = matches!(route, "/healthz" | "/readyz")
        || (route == "/metrics" && state.config().security.metrics_public);
    if open {
        return next.run(request).await;
    }
    let policy = policy_for(request.method(), route).unwrap_or(policy(
        Role::Admin,
        CatalogFrom::Global,
        Some("unlisted"),
    ));

    let Some(caller) = bearer(request.headers()).and_then(|s| state.access().verify(s)) else {
        return unauthenticated(request.headers().contains_key(header::AUTHORIZATION));
    };
    if let Err(wait) = state.limiter().check(caller.key_id) {
        return rate_limited(wait);
    }
    let mut request = request;
    let catalog = match policy.catalog {
        CatalogFrom::Global => None,
        CatalogFrom::Path => request.uri().path().split('/').nth(3).map(str::to_owned),
        // Only the role is checked here: a scoped key passes its own scope.
        CatalogFrom::Handler => caller.catalog.clone(),
    };
    let target = request.uri().path().to_owned();
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    if let Err(denied) = authorize(&caller, policy.need, catalog.as_deref()) {
        if let Some(action) = policy.audit {
            let detail = serde_json::json!({"status": 403, "request_id": request_id, "reason": denied.to_string()});
            record(&state, &caller, action, target, "denied", detail).await;
        }
        return ApiError::new(StatusCode::FORBIDDEN, "forbidden", denied.to_string())
            .into_response();
    }
    request.extensions_mut().insert(Principal::Key(Arc::clone(&caller)));
    let mut response = next.run(request).await;
    if let Some(action) = policy.audit {
        let status = response.status();
        let outcome = if status.is_success() { "ok" } else { "error" };
        let mut detail = serde_json::json!({"status": status.as_u16(), "request_id": request_id});
        if let Some(AuditNote(note)) = response.extensions_mut().remove::<AuditNote>() {
            detail["result"] = note;
        }
        record(&state, &caller, action, target, outcome, detail).await;
    }
    response
}

/// Re-reads the key table every second, so keys created or revoked by another process
/// (`encore keys revoke` while the server runs) take effect within a second. Keys created or
/// revoked through the API take effect at once, without waiting for this.
pub fn spawn_key_reload(state: &AppState) -> tokio::task::JoinHandle<()> {
    let access = Arc::clone(state.access());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let access = Arc::clone(&access);
            match tokio::task::spawn_blocking(move || access.reload()).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(%error, "cannot reload the API keys"),
                Err(error) => tracing::warn!(%error, "cannot reload the API keys"),
            }
        }
    })
}

/// Appends an audit entry on the blocking pool. A failure to record is logged loudly; the act
/// itself has already happened, so the response still goes out.
async fn record(
    state: &AppState,
    caller: &Arc<Caller>,
    action: &'static str,
    target: String,
    outcome: &'static str,
    detail: serde_json::Value,
) {
    let access = Arc::clone(state.access());
    let caller = Arc::clone(caller);
    let result = tokio::task::spawn_blocking(move || {
        access.audit(Some(&caller), action, &target, outcome, detail)
    })
    .await;
    match result {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => tracing::error!(action, %error, "cannot write the audit log"),
        Err(error) => tracing::error!(action, %error, "cannot write the audit log"),
    }
}

/// 401 with `WWW-Authenticate: Bearer`. The detail never echoes what was sent.
fn unauthenticated(had_header: bool) -> Response {
    let detail = if had_header {
        "the API key is not valid (unknown, revoked or malformed); send `Authorization: Bearer <key>`"
    } else {
        "this route needs an API key: send `Authorization: Bearer <key>`"
    };
    let mut response =
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", detail).into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// 429 with `Retry-After` in whole seconds (at least 1).
fn rate_limited(wait: Duration) -> Response {
    let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("this API key has used up its request rate; retry in {seconds} s"),
    )
    .into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

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
                        .or_insert_with(|| crate::openapi::problem_response(description));
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
    use super::*;

    #[test]
    fn every_documented_operation_has_a_policy() {
        let doc = crate::openapi_document();
        for (path, item) in &doc.paths.paths {
            if matches!(path.as_str(), "/healthz" | "/readyz") {
                continue;
            }
            for (method, op) in [
                (Method::GET, &item.get),
                (Method::PUT, &item.put),
                (Method::POST, &item.post),
                (Method::DELETE, &item.delete),
            ] {
                if op.is_some() {
                    assert!(policy_for(&method, path).is_some(), "{method} {path} has no policy");
                }
            }
        }
    }

    #[test]
    fn bearer_header_parsing() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer ek_abc"));
        assert_eq!(bearer(&headers), Some("ek_abc"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer  ek_abc "));
        assert_eq!(bearer(&headers), Some("ek_abc"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic dXNlcg=="));
        assert_eq!(bearer(&headers), None);
    }
}
