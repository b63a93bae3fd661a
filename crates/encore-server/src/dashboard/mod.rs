//! The dashboard: a web application served at `/dashboard`, every file embedded in the binary
//! (no CDN, no network: it works on a closed network).
//!
//! The files (`crates/encore-server/dashboard/`: one HTML page, a style sheet and plain ES
//! modules, no build step) contain no data. They are public like `/docs`; everything the pages
//! show comes from the authenticated JSON API, called by the browser with the API key the user
//! signs in with (kept in the tab's `sessionStorage`, sent as `Authorization: Bearer`), so what a
//! key sees and does is decided by the server's policies exactly as for any other client.
//!
//! Every answer carries a strict `Content-Security-Policy` (`default-src 'self'`, no inline
//! script or style, no frames): the browser refuses to load or send anything to another origin.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::error::ApiError;

/// The policy of every dashboard answer.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
    object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

macro_rules! assets {
    ($(($path:literal, $type:expr)),* $(,)?) => {
        &[$(Asset {
            path: $path,
            content_type: $type,
            body: include_str!(concat!("../../dashboard/", $path)),
        }),*]
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the dashboard, by its path under `/dashboard/`.
const ASSETS: &[Asset] = assets![
    ("index.html", "text/html; charset=utf-8"),
    ("style.css", "text/css; charset=utf-8"),
    ("favicon.svg", "image/svg+xml"),
    ("app.js", JS),
    ("api.js", JS),
    ("ui.js", JS),
    ("charts.js", JS),
    ("pages/overview.js", JS),
    ("pages/models.js", JS),
    ("pages/jobs.js", JS),
    ("pages/catalog.js", JS),
    ("pages/inspector.js", JS),
    ("pages/access.js", JS),
];

/// The dashboard's routes: `/dashboard` (redirects to `/dashboard/`), `/dashboard/` (the page)
/// and `/dashboard/{file}`.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/dashboard", get(|| async { Redirect::permanent("/dashboard/") }))
        .route("/dashboard/", get(|headers: HeaderMap| async move { asset("index.html", &headers) }))
        .route(
            "/dashboard/{*path}",
            get(|Path(path): Path<String>, headers: HeaderMap| async move { asset(&path, &headers) }),
        )
}

/// A strong validator of a file's content (FNV-1a, 64 bits), so a browser revalidating gets 304.
fn etag(body: &str) -> String {
    let hash = body.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("\"{hash:016x}\"")
}

fn asset(path: &str, request: &HeaderMap) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.path == path) else {
        let mut response = ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("the dashboard has no file `{path}`"),
        )
        .into_response();
        secure(response.headers_mut());
        return response;
    };
    let tag = etag(asset.body);
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let mut response =
        if fresh { StatusCode::NOT_MODIFIED.into_response() } else { asset.body.into_response() };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    if let Ok(value) = HeaderValue::from_str(&tag) {
        headers.insert(header::ETAG, value);
    }
    // The files change only with the binary; revalidating (304 by the ETag) is cheap and never
    // shows a stale page.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    secure(headers);
    response
}

fn secure(headers: &mut HeaderMap) {
    headers
        .insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_pages_import_is_embedded() {
        // Each `import … from './x.js'` of an embedded module names an embedded file.
        for asset in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            let dir = asset.path.rsplit_once('/').map_or("", |(d, _)| d);
            for line in asset.body.lines().filter(|l| l.trim_start().starts_with("import ")) {
                let Some(spec) = line.split(['\'', '"']).nth(1) else { continue };
                let mut parts: Vec<&str> = if dir.is_empty() { vec![] } else { vec![dir] };
                for part in spec.split('/') {
                    match part {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        p => parts.push(p),
                    }
                }
                let target = parts.join("/");
                assert!(
                    ASSETS.iter().any(|a| a.path == target),
                    "{} imports {spec} ({target}), which is not embedded",
                    asset.path
                );
            }
        }
    }

    #[test]
    fn no_inline_script_or_style_and_nothing_from_elsewhere() {
        let html = ASSETS.iter().find(|a| a.path == "index.html").unwrap().body;
        assert!(
            !html.contains("<script>") && !html.contains("style="),
            "inline code in index.html"
        );
        for asset in ASSETS {
            for marker in ["http://", "https://", "//cdn", "fonts.googleapis"] {
                let allowed = |line: &str| line.contains("http://www.w3.org/2000/svg");
                assert!(
                    asset.body.lines().all(|l| !l.contains(marker) || allowed(l)),
                    "{} refers to another origin ({marker})",
                    asset.path
                );
            }
        }
    }
}
