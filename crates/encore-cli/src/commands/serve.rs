//! `encore serve`: the HTTP API over a data directory.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use encore_server::{AppState, LogFormat, ServerConfig};
use encore_service::{Encore, ServiceConfig};

/// Serve the recommendation API over HTTP (JSON; `/docs` for the API reference).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory holding the database and the model files (created when absent).
    #[arg(long, value_name = "DIR", env = "ENCORE_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Address to listen on. The default is loopback only; use 0.0.0.0:8080 to expose the API.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080", env = "ENCORE_LISTEN")]
    pub listen: SocketAddr,
    /// Log format on stderr: `text` or `json` (one JSON object per line).
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    /// Log one line per request at INFO (otherwise at DEBUG; `RUST_LOG` sets the level).
    #[arg(long)]
    pub access_log: bool,
    /// Threads that train models in the background; serving keeps the other cores.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub training_threads: u16,
    /// Threads answering HTTP (the async runtime); default: one per core.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub http_threads: Option<u16>,
    /// Largest accepted request body, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Requests taking longer are answered 408, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub request_timeout: u64,
}

/// Opens the service and serves until SIGTERM or ctrl-c.
pub fn run(args: Args) -> anyhow::Result<()> {
    encore_server::init_logging(args.log_format, "info");
    let state = open(&args)?;
    serve_blocking(state, args.http_threads)
}

/// Opens the data directory and builds the server state from the arguments.
fn open(args: &Args) -> anyhow::Result<AppState> {
    let mut service_config = ServiceConfig::new(&args.data_dir);
    service_config.training_threads = usize::from(args.training_threads);
    let service = Encore::open(service_config)
        .with_context(|| format!("cannot open the data directory {}", args.data_dir.display()))?;
    let config = ServerConfig {
        listen: args.listen,
        max_body_bytes: args.max_body_bytes,
        request_timeout: Duration::from_secs(args.request_timeout.max(1)),
        access_log: args.access_log,
        ..ServerConfig::default()
    };
    Ok(AppState::new(Arc::new(service), config))
}

/// Runs the server on a multi-threaded tokio runtime until shutdown, then stops the training
/// jobs (they are recorded as failed and can be restarted).
pub fn serve_blocking(state: AppState, http_threads: Option<u16>) -> anyhow::Result<()> {
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all().thread_name("encore-http");
    if let Some(threads) = http_threads {
        runtime.worker_threads(usize::from(threads));
    }
    let runtime = runtime.build().context("cannot start the async runtime")?;
    let service = Arc::clone(state.service());
    let listen = state.config().listen;
    let result = runtime.block_on(encore_server::serve(state));
    service.cancel_all_jobs();
    result.with_context(|| format!("server on {listen} failed"))
}
