//! One module per subcommand: an `Args` struct (its doc comments are the `--help` text) and a
//! `run` function.

pub mod demo;
pub mod evaluate;
pub mod explain;
pub mod export_edge;
pub mod generate;
pub mod import;
pub mod import_items;
pub mod keys;
mod query;
pub mod recommend;
pub mod serve;
pub mod similar;
mod specs;
pub mod train;
pub mod tune;
