//! Integration tests of the service on a temporary data directory (one test binary).

mod common;
mod index;
mod models;
mod serving;
mod writes;
