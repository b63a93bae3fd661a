//! `encore import`: bulk-load an interaction file into a catalog of a data directory.
//!
//! All of the file is stored in one transaction, or none of it: the first malformed line stops
//! the import with `file:line` and leaves the store as it was (unless `--skip-bad-lines`). The
//! catalog is created if absent. A running `encore serve` on the same data directory keeps
//! answering reads; its writes wait for the import to commit.

use std::path::PathBuf;

use anyhow::Context;
use encore_core::data::{Format, ReadOptions};
use encore_service::offline::DataDir;

use crate::input::{DatabaseArg, FORMAT_HELP, parse_catalog, parse_format};
use crate::progress::Ui;

/// Options of `encore import`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  encore import --data-dir ./data --catalog music plays.tsv")]
pub struct Args {
    /// The data directory (created if needed); the database is DIR/encore.db unless
    /// `--database` names one.
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,

    #[command(flatten)]
    pub database: DatabaseArg,

    /// The catalog to import into (created if absent): 1-64 of a-z, 0-9, '_', '-', starting
    /// with a letter or digit.
    #[arg(long, value_name = "NAME", value_parser = parse_catalog)]
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

/// Runs `encore import` through the service's [`DataDir::import_events`].
pub fn run(args: Args, ui: &Ui) -> anyhow::Result<()> {
    let dir = DataDir::with_store(&args.data_dir, args.database.open_store(&args.data_dir)?);
    let options = ReadOptions { format: args.format, skip_bad_lines: args.skip_bad_lines };
    let spinner = ui.spinner(format!("importing {}", args.file.display()));
    let result = dir.import_events(&args.catalog, &args.file, &options, &mut |rows| {
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

#[cfg(test)]
mod tests {
    use encore_store::{SqliteStore, Store};

    use super::*;

    fn args(data_dir: &std::path::Path, file: &str, skip_bad_lines: bool) -> Args {
        Args {
            data_dir: data_dir.to_path_buf(),
            database: crate::input::DatabaseArg { url: None },
            catalog: "films".into(),
            format: Format::Auto,
            skip_bad_lines,
            json: true,
            file: file.into(),
        }
    }

    #[test]
    fn imports_a_real_file_and_refuses_a_bad_one_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let ui = Ui::for_terminal(true);
        run(args(dir.path(), "../../../shared/data/ml-100k/u.data", false), &ui).unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(store.count_events("films").unwrap(), 100_000);

        let bad = dir.path().join("bad.tsv");
        std::fs::write(&bad, "u1\ti1\t1\nu2\ti2\n").unwrap();
        let err = run(args(dir.path(), bad.to_str().unwrap(), false), &ui).unwrap_err();
        assert!(format!("{err:#}").contains("bad.tsv:2"), "{err:#}");
        assert_eq!(store.count_events("films").unwrap(), 100_000);
        run(args(dir.path(), bad.to_str().unwrap(), true), &ui).unwrap();
        assert_eq!(store.count_events("films").unwrap(), 100_001);
    }
}
