//! How the HTTP layer is configured: listening, limits, TLS files and access control. The
//! service's own settings (data directory, training threads) are given to the service when it
//! is opened, not here.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::ratelimit::Quota;

/// How the HTTP layer behaves. The service's own settings (data directory, training threads) are
/// given to the service when it is opened, not here.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on. The default is loopback: exposing the API is an explicit choice.
    pub listen: SocketAddr,
    /// Largest accepted request body, in bytes (413 above it).
    pub max_body_bytes: usize,
    /// A request that takes longer is answered 408 and its handler dropped.
    pub request_timeout: Duration,
    /// On SIGTERM/ctrl-c, how long in-flight requests may take to finish before the process
    /// exits anyway.
    pub shutdown_grace: Duration,
    /// Log one line per request at INFO (otherwise at DEBUG, so the hot path pays nothing when
    /// the log level is INFO).
    pub access_log: bool,
    /// API keys, rate limits, `/metrics` access ([`crate::auth`]).
    pub security: SecurityConfig,
    /// Serve HTTPS with this certificate and key; `None` for plain HTTP.
    pub tls: Option<TlsFiles>,
}

/// PEM files of the server's TLS certificate chain and private key.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain, PEM.
    pub cert: std::path::PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1), PEM.
    pub key: std::path::PathBuf,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 16 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
            access_log: false,
            security: SecurityConfig::default(),
            tls: None,
        }
    }
}

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
