//! `encore` — the command-line face of Encore.
//!
//! Each subcommand lives in its own module under [`commands`]: an `Args` struct (clap derive, whose
//! doc comments are the `--help` text) and a `run(args, &Ui)` function. Adding a subcommand is one
//! variant of [`Command`] plus one module. Errors are `anyhow` here and only here; they are printed
//! as `error: …` with their causes, and the process exits non-zero (2 for an unknown user or item,
//! the same code clap uses for bad usage; 1 for everything else).
//!
//! ## Which layer a command calls
//!
//! A command that performs one of Encore's use cases goes through `encore-service`, so the
//! command line and the HTTP API share one implementation and one set of input rules:
//!
//! - `serve` and `demo` open the service (`encore_service::Encore`) and serve it with
//!   `encore-server`; `demo` trains its model as a service training job.
//! - `import`, `import-items` and `keys` run `encore_service::offline::DataDir`, which opens only
//!   the store, so they also work while `encore serve` runs on the same directory.
//! - `train` runs the service's training pipeline (`encore_service::training::train`, the one
//!   `POST /v1/catalogs/{c}/models` jobs run) and saves the artifact to `--output`; `evaluate`
//!   runs its measuring step (`encore_service::training::fit_and_evaluate`) per model.
//!
//! The commands that are engine work on files — no data directory, nothing to keep — call
//! `encore-core` directly: `generate` (`encore_core::synth`), `recommend`, `similar` and
//! `explain` (`encore_core::model_file` and the model's `Recommender`), `export-edge`
//! (`encore_core::edge_export`), and reading interaction files for `train` and `evaluate`
//! (`input.rs`, `encore_core::data`'s parallel reader) and their `--holdout`/`--test` sets
//! (`encore_core::eval`).

mod commands;
mod input;
mod memory;
mod progress;
mod size;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::progress::Ui;

/// Encore: train, evaluate and query recommendation models for music, film and game apps.
#[derive(Debug, Parser)]
#[command(name = "encore", version, propagate_version = true)]
struct Cli {
    /// Number of worker threads for parsing, training and evaluation (default: one per core).
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,

    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a synthetic interaction file (and optionally item metadata).
    Generate(commands::generate::Args),
    /// Train models and measure them with exact full-ranking top-K metrics.
    Evaluate(commands::evaluate::Args),
    /// Train one model on an interaction file and save it as a model file.
    Train(commands::train::Args),
    /// Search models and settings for a training file within a time budget; print every trial
    /// and the pick.
    Tune(commands::tune::Args),
    /// Recommend items for a user of a model file, or for an anonymous history.
    Recommend(commands::recommend::Args),
    /// List the items most similar to an item.
    Similar(commands::similar::Args),
    /// Explain why a model scores an item for a user: the contribution of each history item.
    Explain(commands::explain::Args),
    /// Write a compact edge model file for on-device scoring (encore-edge, C interface).
    ExportEdge(commands::export_edge::Args),
    /// Bulk-load an interaction file into a catalog of a data directory.
    Import(commands::import::Args),
    /// Load item metadata (titles, kinds, tags) into a catalog of a data directory.
    ImportItems(commands::import_items::Args),
    /// Serve the HTTP API over a data directory.
    Serve(commands::serve::Args),
    /// Quick start: generate a synthetic music catalog, train a model and serve it.
    Demo(commands::demo::Args),
    /// Create, list and revoke API keys.
    Keys(commands::keys::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(exit_code(&err))
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(n) = cli.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(usize::from(n))
            .build_global()
            .map_err(|e| anyhow::anyhow!("cannot start {n} worker threads: {e}"))?;
    }
    match cli.command {
        Command::Generate(args) => commands::generate::run(args, &Ui::for_terminal(false)),
        Command::Evaluate(args) => {
            let ui = Ui::for_terminal(args.json);
            commands::evaluate::run(args, &ui)
        }
        Command::Train(args) => {
            let ui = Ui::for_terminal(args.json);
            commands::train::run(args, &ui)
        }
        Command::Tune(args) => {
            let ui = Ui::for_terminal(args.json);
            commands::tune::run(args, &ui)
        }
        Command::Recommend(args) => commands::recommend::run(args),
        Command::Similar(args) => commands::similar::run(args),
        Command::Explain(args) => commands::explain::run(args),
        Command::ExportEdge(args) => {
            let ui = Ui::for_terminal(args.json);
            commands::export_edge::run(args, &ui)
        }
        Command::Import(args) => {
            let ui = Ui::for_terminal(args.json);
            commands::import::run(args, &ui)
        }
        Command::ImportItems(args) => commands::import_items::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::Demo(args) => commands::demo::run(args),
        Command::Keys(args) => commands::keys::run(args),
    }
}

/// 2 when the request named a user or item the model does not know (the caller asked for
/// something that is not there) or gave `encore tune` input it cannot search (too little data, too
/// short a budget), 1 for every other failure.
fn exit_code(err: &anyhow::Error) -> u8 {
    let unknown_id = err.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<encore_core::Error>(),
            Some(encore_core::Error::UnknownUser(_) | encore_core::Error::UnknownItem(_))
        ) || cause.downcast_ref::<commands::tune::BadInput>().is_some()
    });
    if unknown_id { 2 } else { 1 }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
