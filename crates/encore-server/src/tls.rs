//! HTTPS: the same application served over TLS with rustls (the `ring` provider: no C build of
//! aws-lc), through `axum-server`. The certificate chain and private key are PEM files given with
//! `--tls-cert`/`--tls-key`; they are read once at start.

use std::future::Future;

use axum_server::tls_rustls::RustlsConfig;

use crate::config::TlsFiles;
use crate::state::AppState;

/// Loads the PEM certificate chain and key, with an error naming the files.
pub async fn load_config(files: &TlsFiles) -> std::io::Result<RustlsConfig> {
    RustlsConfig::from_pem_file(&files.cert, &files.key).await.map_err(|error| {
        std::io::Error::new(
            error.kind(),
            format!(
                "cannot use the TLS certificate {} with the key {}: {error}",
                files.cert.display(),
                files.key.display()
            ),
        )
    })
}

/// Serves [`crate::app`] over TLS on an already-bound listener until `shutdown` completes, then
/// lets in-flight requests finish within the configured grace period.
pub async fn serve_tls_on(
    state: AppState,
    listener: std::net::TcpListener,
    config: RustlsConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let address = listener.local_addr()?;
    let grace = state.config().shutdown_grace;
    tracing::info!(%address, "encore is listening on https://{address}");
    let background = crate::server::BackgroundTasks::start(&state);
    let handle = axum_server::Handle::new();
    let on_signal = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutdown requested: no new connections; finishing in-flight requests");
        on_signal.graceful_shutdown(Some(grace));
    });
    let result = axum_server::from_tcp_rustls(listener, config)?
        .handle(handle)
        .serve(crate::app(state).into_make_service())
        .await;
    drop(background);
    tracing::info!("server stopped");
    result
}
