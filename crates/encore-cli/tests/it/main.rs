//! Integration tests of the `encore` binary: every test runs the built executable on real files,
//! as a user would. One test binary with modules (each extra binary re-links everything).

mod auth_matrix;
mod catalog_contract;
mod common;
mod edge;
mod errors;
mod evaluate;
mod parity;
mod pipeline;
mod postgres_backend;
mod reliability_bad_input;
mod reliability_common;
mod reliability_crash;
mod reliability_load;
mod replicas;
mod server_harness;
mod server_process;
mod tune;
