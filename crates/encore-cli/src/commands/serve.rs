//! `encore serve`: the HTTP API over a data directory.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use encore_server::config::SecurityConfig;
use encore_server::ratelimit::Quota;
use encore_server::{AppState, LogFormat, ServerConfig, TlsFiles};
use encore_service::{Encore, ServiceConfig};

/// Serve the recommendation API over HTTP (JSON; `/docs` for the API reference).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory holding the database and the model files (created when absent); with
    /// `--database`, only the model files.
    #[arg(long, value_name = "DIR", env = "ENCORE_DATA_DIR")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub database: crate::input::DatabaseArg,
    /// This server's name among the replicas of one --database (in the audit log, on the jobs
    /// it runs, in its logs); unique among live replicas. Default: `<hostname>-<pid>`. Ignored
    /// without --database.
    #[arg(long, value_name = "NAME", env = "ENCORE_REPLICA_NAME", value_parser = parse_replica_name)]
    pub replica_name: Option<String>,
    /// Address to listen on. The default is loopback only. A non-loopback address needs TLS
    /// (`--tls-cert`, `--tls-key`) or an explicit `--insecure-listen`.
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
    /// Threads that build a model's candidate table before it serves (at the lowest CPU
    /// priority, so requests go first); 0 scores every request on demand. Default: one per core.
    #[arg(long, value_name = "N")]
    pub precompute_threads: Option<u16>,
    /// Candidates precomputed per known user; requests for up to this many items are answered
    /// from the table.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub candidates_per_user: u16,
    /// Most memory one model's candidate table may take (e.g. 512M, 2G); the table is narrowed
    /// to fit, and not kept below 10 candidates per user.
    #[arg(long, value_name = "SIZE", default_value = "2G", value_parser = crate::size::parse_size)]
    pub candidate_memory: u64,
    /// Factor models of at least this many items get an approximate index (IVF) when a training
    /// job trains them, for requests scored on demand; `"exact": true` bypasses it.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub index_min_items: usize,
    /// Threads answering HTTP (the async runtime); default: one per core.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub http_threads: Option<u16>,
    /// Largest accepted request body, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Requests taking longer are answered 408, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub request_timeout: u64,
    /// Serve HTTPS with this PEM certificate chain (with `--tls-key`).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of `--tls-cert`.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Allow plain HTTP on a non-loopback address (API keys then cross the network in clear
    /// text: only behind a TLS-terminating proxy on a trusted network).
    #[arg(long)]
    pub insecure_listen: bool,
    /// Serve `/metrics` without an API key.
    #[arg(long)]
    pub metrics_public: bool,
    /// Default per-key rate limit: `N/s` or `N/s:BURST` (burst default 2×N), or `off` (the
    /// default: the serving benchmark drives one key at ~18k req/s). Given twice, the last wins.
    #[arg(long, value_name = "RATE", default_value = "off", value_parser = parse_rate,
          overrides_with = "rate_limit")]
    pub rate_limit: RateLimit,
    /// Rate limit of one key, overriding the default: `ID=N/s[:BURST]` (repeatable).
    #[arg(long, value_name = "ID=RATE", value_parser = parse_key_rate)]
    pub key_rate_limit: Vec<(u64, Quota)>,
}

/// `--rate-limit`: a quota or no limit.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit(pub Option<Quota>);

fn parse_rate(text: &str) -> Result<RateLimit, String> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(RateLimit(None));
    }
    text.parse::<Quota>().map(|q| RateLimit(Some(q)))
}

fn parse_key_rate(text: &str) -> Result<(u64, Quota), String> {
    let (id, rate) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not ID=RATE (for example 3=50/s)"))?;
    let id = id.trim().parse::<u64>().map_err(|_| format!("`{id}` is not a key id"))?;
    Ok((id, rate.parse::<Quota>()?))
}

/// Most characters of a replica name.
const MAX_REPLICA_NAME: usize = 100;

fn parse_replica_name(text: &str) -> Result<String, String> {
    let name = text.trim();
    if name.is_empty()
        || name.chars().count() > MAX_REPLICA_NAME
        || name.chars().any(char::is_control)
    {
        return Err(format!(
            "a replica name has 1-{MAX_REPLICA_NAME} characters, no control characters"
        ));
    }
    Ok(name.to_owned())
}

/// `<hostname>-<pid>`: unique among the processes of a cluster without configuration, and a
/// restart is a new replica (its predecessor's jobs are failed as abandoned).
fn default_replica_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "encore".to_owned());
    format!("{host}-{}", std::process::id())
}

/// Refuses plain HTTP on a non-loopback address unless explicitly allowed.
fn check_transport(args: &Args) -> anyhow::Result<()> {
    if args.tls_cert.is_none() && !args.listen.ip().is_loopback() && !args.insecure_listen {
        anyhow::bail!(
            "refusing to serve plain HTTP on {}: API keys would cross the network unencrypted; \
             give --tls-cert FILE --tls-key FILE, or --insecure-listen if a TLS proxy in front \
             of Encore encrypts the traffic",
            args.listen
        );
    }
    Ok(())
}

/// On first start (no key exists yet), creates an admin key and prints it once to stderr. It is
/// printed, not logged, so it reaches no log collector's JSON stream under `--log-format json`.
pub fn bootstrap_admin_key(state: &AppState) -> anyhow::Result<()> {
    if let Some(created) = state.access().bootstrap().context("cannot create the first API key")? {
        eprintln!(
            "\nfirst start: created admin key {} (all catalogs). It is shown only now:\n\n    {}\n\n\
             send it as `Authorization: Bearer <key>`; create more with `encore keys create`.\n",
            created.key.id, created.secret
        );
    }
    Ok(())
}

/// Opens the service and serves until SIGTERM or ctrl-c.
pub fn run(args: Args) -> anyhow::Result<()> {
    encore_server::init_logging(args.log_format, "info");
    check_transport(&args)?;
    let state = open(&args)?;
    // With replicas: follow the others from here on (before the load, so nothing committed in
    // between is missed). Stopped after the runtime, as the synchronous client needs.
    let access = Arc::clone(state.access());
    let _follower = state
        .service()
        .start_following(Arc::new(move || {
            if let Err(error) = access.reload() {
                tracing::warn!(%error, "cannot reload the API keys changed by another replica");
            }
        }))
        .context("cannot follow the other replicas")?;
    bootstrap_admin_key(&state)?;
    // The catalogs load in the background: liveness answers at once whatever their size, and
    // readiness (and catalog requests) answer 503 `not_ready` until the load is done.
    let service = Arc::clone(state.service());
    std::thread::Builder::new()
        .name("encore-load".into())
        .spawn(move || {
            if let Err(error) = service.load_catalogs() {
                tracing::error!(%error, "cannot load the catalogs");
            }
        })
        .context("cannot start the catalog loader")?;
    if state.config().tls.is_none() {
        tracing::info!(
            listen = %args.listen,
            "serving plain HTTP{}; give --tls-cert/--tls-key for HTTPS",
            if args.listen.ip().is_loopback() { " on loopback only" } else { " (--insecure-listen)" }
        );
    }
    serve_blocking(state, args.http_threads)
}

/// Opens the data directory and builds the server state from the arguments; on PostgreSQL as
/// one of the database's replicas.
fn open(args: &Args) -> anyhow::Result<AppState> {
    let mut service_config = ServiceConfig::new(&args.data_dir);
    service_config.training_threads = usize::from(args.training_threads);
    if let Some(threads) = args.precompute_threads {
        service_config.precompute_threads = usize::from(threads);
    }
    service_config.candidates_per_user = usize::from(args.candidates_per_user);
    service_config.candidate_memory_bytes = args.candidate_memory;
    service_config.index_min_items = args.index_min_items;
    let store = if args.database.is_shared() {
        let replica = args.replica_name.clone().unwrap_or_else(default_replica_name);
        tracing::info!(replica, "serving as a replica of the shared database");
        let store = args.database.open_server_store(&args.data_dir, &replica)?;
        service_config.replica_name = Some(replica);
        store
    } else {
        args.database.open_store(&args.data_dir)?
    };
    let service = Encore::with_store_unloaded(service_config, store)
        .with_context(|| format!("cannot open the data directory {}", args.data_dir.display()))?;
    let config = ServerConfig {
        listen: args.listen,
        max_body_bytes: args.max_body_bytes,
        request_timeout: Duration::from_secs(args.request_timeout.max(1)),
        access_log: args.access_log,
        security: SecurityConfig {
            metrics_public: args.metrics_public,
            rate_limit: args.rate_limit.0,
            key_rate_limits: args.key_rate_limit.iter().copied().collect(),
        },
        tls: match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert: cert.clone(), key: key.clone() }),
            _ => None,
        },
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
