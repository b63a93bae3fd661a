//! Running the router on a socket: bind, serve, shut down gracefully.

use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::state::AppState;

/// Binds `state.config().listen`, logs the address, and serves [`crate::app`] until SIGTERM or
/// ctrl-c; then stops accepting, lets in-flight requests finish (up to the configured grace
/// period) and returns.
/// With [`crate::ServerConfig::tls`] set, it serves HTTPS ([`crate::tls`]).
pub async fn serve(state: AppState) -> std::io::Result<()> {
    let listen = state.config().listen;
    if let Some(files) = state.config().tls.clone() {
        let config = crate::tls::load_config(&files).await?;
        let listener = std::net::TcpListener::bind(listen).map_err(|error| {
            std::io::Error::new(error.kind(), format!("cannot listen on {listen}: {error}"))
        })?;
        return crate::tls::serve_tls_on(state, listener, config, shutdown_signal()).await;
    }
    let listener = TcpListener::bind(listen).await.map_err(|error| {
        std::io::Error::new(error.kind(), format!("cannot listen on {listen}: {error}"))
    })?;
    serve_on(state, listener, shutdown_signal()).await
}

/// Serves on an already-bound listener until `shutdown` completes (tests pass their own signal).
pub async fn serve_on(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let address = listener.local_addr()?;
    let grace = state.config().shutdown_grace;
    tracing::info!(%address, "encore is listening on http://{address}");

    let background = BackgroundTasks::start(&state);

    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutdown requested: no new connections; finishing in-flight requests");
        let _ = stopping_tx.send(());
    };
    let server = axum::serve(listener, crate::app(state)).with_graceful_shutdown(signal);
    let server = std::pin::pin!(server.into_future());

    // Graceful shutdown waits for every open connection; a client that keeps a connection busy
    // must not hold the process forever, so the grace period starts when the signal arrives.
    let outcome = tokio::select! {
        result = server => result,
        () = async {
            let _ = stopping_rx.await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace_s = grace.as_secs_f64(), "in-flight requests did not finish within the grace period; exiting");
            Ok(())
        }
    };
    drop(background);
    tracing::info!("server stopped");
    outcome
}

/// The periodic tasks that run beside a server (plain or TLS), stopped when dropped.
pub(crate) struct BackgroundTasks {
    tasks: [tokio::task::JoinHandle<()>; 2],
}

impl BackgroundTasks {
    /// Starts metrics upkeep (histograms accumulate samples until drained; upkeep keeps memory
    /// flat between scrapes) and the periodic reload of API keys revoked by another process.
    pub(crate) fn start(state: &AppState) -> Self {
        let metrics = state.metrics();
        let upkeep = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                metrics.run_upkeep();
            }
        });
        BackgroundTasks { tasks: [upkeep, crate::auth::spawn_key_reload(state)] }
    }
}

impl Drop for BackgroundTasks {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Completes on ctrl-c or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
