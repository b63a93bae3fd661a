//! Integration tests of the service on a temporary data directory (one test binary).

mod common;
mod models;
mod serving;
mod writes;
