//! # encore-service — what Encore does, shared by the CLI and the server
//!
//! This crate holds the use cases: create catalogs, store items and events, train models as
//! background jobs, activate and roll back model versions, recommend, list similar items, give a
//! user their data and erase them. It knows nothing of HTTP or async: every method of [`Encore`]
//! is blocking (CPU work and SQLite), and the server calls it from blocking threads. Requests and
//! responses are the [`dto`] types, whose field names are the HTTP API's and which derive
//! `utoipa::ToSchema` so the OpenAPI document is generated from them; failures are one [`Error`]
//! enum whose [`Error::class`] the server maps to a status code in one place.
//!
//! ## What is kept where
//!
//! - Persistence is an `Arc<dyn encore_store::Store>` (SQLite by default).
//! - Per catalog, an in-memory index: every item with its
//!   metadata and filter keys, every user's full history, item popularity. It is built from the
//!   store when the service opens and kept in step by every write, so recommending never reads
//!   the database.
//! - Per catalog, the active model behind an atomic pointer swap: a request clones the `Arc` it
//!   starts with, so activating another version never fails or delays a request in flight.
//! - Training runs on its own bounded thread pool ([`ServiceConfig::training_threads`]); after
//!   activation, a second small pool precomputes every known user's best candidates, which makes
//!   the common request (known user, no filter) a lookup. See [`recommend`] for which source
//!   (`model`, `history`, `popular`) answers a request and [`jobs`] for the training steps.
//!
//! On SQLite one process serves a data directory: events written to the database by another
//! process while the service runs are not seen until it restarts. On a shared PostgreSQL database
//! any number of replicas serve together, each following the others' writes ([`replication`]),
//! with the data directory only a cache of the model files the database holds.
//!
//! ## Who calls what
//!
//! - `encore-server` calls [`Encore`] (and [`access`]) for every route.
//! - The `encore` command line: `serve` and `demo` open an [`Encore`]; `import`, `import-items`
//!   and `keys` use [`offline::DataDir`], which opens only the store, so they work beside a
//!   running server; `train` runs [`training::train`], the pipeline of the training jobs, and
//!   `evaluate` its measuring step [`training::fit_and_evaluate`].
//! - The commands that are engine work on files, with no data directory and no state, call
//!   `encore-core` directly and not this crate: `generate` (synthetic data), `recommend`,
//!   `similar` and `explain` (queries of a model file), `export-edge` (a model file to an edge
//!   file), and the reading of interaction files for `train` and `evaluate`.

pub mod access;
mod batcher;
mod catalog_data;
mod catalogs;
pub mod config;
pub mod dto;
pub mod error;
mod events;
mod items;
mod job_registry;
pub mod jobs;
pub mod limits;
mod loaded;
mod model_cache;
pub mod offline;
pub mod recommend;
pub mod replication;
mod service;
mod state;
pub mod stats;
pub mod training;
pub mod tuning;
pub mod users;
pub mod validate;

pub use config::ServiceConfig;
pub use error::{Error, ErrorClass, Resource, Result, RowError};
pub use replication::Follower;
pub use service::{Encore, ServingModel};
