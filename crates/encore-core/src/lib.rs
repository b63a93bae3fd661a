//! # encore-core — Encore's recommendation engine
//!
//! Everything that is *computed* lives here, and nothing that talks to the outside world: no async,
//! no HTTP, no database. The server reaches it through `encore-service`, and so do the CLI's use
//! cases (import, keys, train, evaluate); the CLI's engine work on files (`generate`, `recommend`,
//! `similar`, `explain`, `export-edge`, reading interaction files) calls it directly.
//!
//! The data flows through the modules in this order:
//!
//! 1. [`data`] parses interaction files (generic CSV/TSV, MovieLens, Last.fm) into records with
//!    string ids; [`ids::IdMap`] interns them into dense `u32` indices; [`synth`] generates
//!    realistic synthetic data for benchmarks and the quick start.
//! 2. [`matrix::InteractionMatrix`] holds the users × items matrix in CSR form (and its transpose).
//! 3. [`models`] trains a [`models::Model`] from a [`models::ModelSpec`] (`ials`, `bpr`, `ease`,
//!    `itemknn`, `popularity`). Every model scores a user from a history, explains a
//!    recommendation and lists similar items (the [`models::Recommender`] trait).
//! 4. [`topk`] selects the best N scores without sorting the catalogue; [`batch`] does it for many
//!    users at once (a GEMM over item tiles with the selection fused, exact to the bit), for a
//!    server's candidate table and `encore recommend --all`.
//! 5. [`eval`] splits data and computes exact full-ranking metrics.
//! 6. [`model_file`] writes and memory-maps a trained model with its id maps and training matrix.

pub mod batch;
pub mod buffer;
pub mod data;
pub mod edge_export;
pub mod error;
pub mod eval;
pub mod ids;
pub mod index;
pub mod linalg;
pub mod matrix;
pub mod model_file;
pub mod models;
pub mod progress;
pub mod synth;
pub mod topk;
pub mod tune;

pub use error::{Error, Result};
