//! API-key authentication, authorization, rate limiting and auditing of every protected request.
//!
//! Each protected route states its [`Policy`] where the route is built (see [`crate::routes`]:
//! `guarded(routes!(erase_user), Policy::catalog(Admin).audited("user.erase"))`), and the
//! policy's route layer ([`Policy::layer`]) runs after routing, in this order:
//!
//! 1. **401** `unauthenticated` unless `Authorization: Bearer <secret>` names a valid, unrevoked
//!    key (one SHA-256 and one in-memory lookup, see [`encore_service::access`]);
//! 2. **429** `rate_limited` with `Retry-After` when the key's token bucket is empty
//!    ([`crate::ratelimit`]);
//! 3. **403** `forbidden` when the key's role or catalog scope does not allow the route. The
//!    decision uses only the key and the request's path, *before* anything is looked up, so
//!    neither 401 nor 403 reveals whether a catalog, user or item exists. `POST /recommend`
//!    names its catalog in the body: the layer checks the role and the handler, which picks the
//!    catalog, checks the scope the same way;
//! 4. the handler, with the [`Principal`] in the request extensions;
//! 5. for admin routes and user-data routes, an audit-log entry (key, action, target = the path,
//!    outcome, status, request id) — refused attempts included — written before the response is
//!    sent.
//!
//! A route without a policy is open: `/healthz`, `/readyz`, `/openapi.json`, `/docs`, the
//! dashboard's static files (`/dashboard/…`, no data) and `/metrics` with
//! [`crate::config::SecurityConfig::metrics_public`]; a test sends every documented operation
//! without a key to keep it that way. Secrets never reach logs: the trace
//! layer records only the method, route and request id, and the `Authorization` header is
//! marked sensitive.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::Route;
use encore_service::access::{Caller, Role, authorize};
use tower::{Layer, Service};

use crate::error::ApiError;
use crate::state::AppState;

/// Who is calling: the verified, unrevoked key that [`Policy::layer`] put in the request
/// extensions of a protected route, already authorized for it, for handlers that need to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal(pub Arc<Caller>);

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

impl Policy {
    /// Any key of at least `need`, for routes of the catalog in the `{catalog}` path segment.
    pub const fn catalog(need: Role) -> Self {
        Policy { need, catalog: CatalogFrom::Path, audit: None }
    }

    /// An all-catalog key of at least `need`, for routes that span catalogs.
    pub const fn global(need: Role) -> Self {
        Policy { need, catalog: CatalogFrom::Global, audit: None }
    }

    /// A key of at least `need` whose scope the handler checks against the catalog it picks.
    pub const fn handler(need: Role) -> Self {
        Policy { need, catalog: CatalogFrom::Handler, audit: None }
    }

    /// The same policy, with every request recorded in the audit log as `action`.
    pub const fn audited(self, action: &'static str) -> Self {
        Policy { audit: Some(action), ..self }
    }

    /// The route layer that enforces this policy: put it on the routes where they are built
    /// (`.route_layer(Policy::catalog(Role::Reader).layer())`). A route without one is open.
    pub fn layer(
        self,
    ) -> impl Layer<
        Route,
        Service: Service<
            Request,
            Response = Response,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
                     + Send
                     + Sync
                     + 'static,
    > + Clone
    + Send
    + Sync
    + 'static {
        axum::middleware::from_fn_with_state(self, authenticate)
    }
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

/// The middleware of every protected route (see the module docs), with the route's policy as
/// its state and the application state from the request extensions ([`crate::app`] puts it
/// there before routing).
async fn authenticate(
    State(policy): State<Policy>,
    Extension(state): Extension<AppState>,
    request: Request,
    next: Next,
) -> Response {
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
    request.extensions_mut().insert(Principal(Arc::clone(&caller)));
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

#[cfg(test)]
mod tests {
    use super::*;

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
