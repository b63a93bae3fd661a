//! In-process HTTP tests of `encore-server`: each test builds `app(state)` over a fresh temporary
//! data directory and drives it with `tower::ServiceExt::oneshot`, no socket involved. One test
//! binary with a module per resource, so the dependency graph is linked once.
//!
//! What needs a real process and a socket (kill -9 durability, SIGTERM, the swap under concurrent
//! load over TCP) is tested against the `encore` binary in the CLI crate's tests.

mod catalogs;
mod common;
mod dashboard;
mod errors;
mod events;
mod index;
mod items;
mod models;
mod ops;
mod recommend;
mod tune;
mod users;
