//! `encore import`: bulk-load an interaction file into a catalog of a data directory.
//!
//! All of the file is stored in one transaction, or none of it: the first malformed line stops
//! the import with `file:line` and leaves the store as it was (unless `--skip-bad-lines`). The
//! catalog is created if absent. A running `encore serve` on the same data directory keeps
//! answering reads; its writes wait for the import to commit.

use std::path::PathBuf;

use anyhow::Context;
use encore_core::data::{Format, ReadOptions};
use encore_store::{SqliteStore, Store};

use crate::input::{FORMAT_HELP, parse_format};
use crate::progress::Ui;

/// Options of `encore import`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  encore import --data-dir ./data --catalog music plays.tsv")]
pub struct Args {
    /// The data directory (created if needed); the database is DIR/encore.db.
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,

    /// The catalog to import into (created if absent).
    #[arg(long, value_name = "NAME")]
    pub catalog: String,

    #[arg(long, value_name = "FORMAT", default_value = "auto", value_parser = parse_format,
          help = FORMAT_HELP)]
    /// Input file format.
    pub format: Format,

    /// Skip (and count) malformed lines instead of aborting the import.
    #[arg(long)]
    pub skip_bad_lines: bool,

    /// Print the report as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,

    /// The interaction file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// Runs `encore import`.
pub fn run(args: Args, ui: &Ui) -> anyhow::Result<()> {
    let store = SqliteStore::open(&args.data_dir)
        .with_context(|| format!("cannot open the store in {}", args.data_dir.display()))?;
    let options = ReadOptions { format: args.format, skip_bad_lines: args.skip_bad_lines };
    let spinner = ui.spinner(format!("importing {}", args.file.display()));
    let result = store.import_records(&args.catalog, &args.file, &options, &mut |rows| {
        spinner.set_message(format!("importing {}: {rows} rows", args.file.display()));
    });
    spinner.finish_and_clear();
    let report = result.with_context(|| {
        format!("cannot import {} into catalog `{}`", args.file.display(), args.catalog)
    })?;
    let rate = report.rows as f64 / report.seconds.max(1e-9);
    if args.json {
        let mut value = serde_json::to_value(report)?;
        value["rows_per_second"] = serde_json::json!(rate.round());
        value["catalog"] = serde_json::json!(args.catalog);
        println!("{value}");
    } else {
        println!(
            "imported {} rows into catalog `{}` in {:.2} s ({:.0} rows/s): {} new users, {} new items",
            report.rows, args.catalog, report.seconds, rate, report.users_new, report.items_new
        );
    }
    if report.skipped > 0 {
        ui.warn(format!("skipped {} malformed lines of {}", report.skipped, args.file.display()));
    }
    Ok(())
}
