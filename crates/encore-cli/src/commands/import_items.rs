//! `encore import-items`: load item metadata (titles, kinds, tags) into a catalog.
//!
//! Formats (detected from the first line unless `--format` says): Last.fm `artists.dat`,
//! MovieLens `u.item` and `movies.csv` (genres become tags), and a generic CSV
//! `item_id,title,kind,tags` with `|`-separated tags. Existing items are replaced; the whole file
//! is stored or, on a malformed line, nothing.

use std::path::PathBuf;

use anyhow::Context;
use encore_service::offline::DataDir;
use encore_store::item_files::ItemFormat;

/// Options of `encore import-items`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  encore import-items --data-dir ./data --catalog films u.item")]
pub struct Args {
    /// The data directory (created if needed); the database is DIR/encore.db unless
    /// `--database` names one.
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,

    #[command(flatten)]
    pub database: crate::input::DatabaseArg,

    /// The catalog to load the items into (created if absent): 1-64 of a-z, 0-9, '_', '-',
    /// starting with a letter or digit.
    #[arg(long, value_name = "NAME", value_parser = crate::input::parse_catalog)]
    pub catalog: String,

    /// File format: auto (detect), lastfm-artists, ml-100k-items, ml-movies or csv
    /// (`item_id,title,kind,tags`, tags separated by `|`).
    #[arg(long, value_name = "FORMAT", default_value = "auto", value_parser = parse_item_format)]
    pub format: ItemFormat,

    /// Print the report as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,

    /// The item metadata file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

fn parse_item_format(text: &str) -> Result<ItemFormat, String> {
    text.parse::<ItemFormat>().map_err(|e| e.to_string())
}

/// Runs `encore import-items` through the service's [`DataDir::import_items`].
pub fn run(args: Args) -> anyhow::Result<()> {
    let dir = DataDir::with_store(&args.data_dir, args.database.open_store(&args.data_dir)?);
    let report = dir.import_items(&args.catalog, &args.file, args.format).with_context(|| {
        format!("cannot import items from {} into catalog `{}`", args.file.display(), args.catalog)
    })?;
    let rate = report.items as f64 / report.seconds.max(1e-9);
    if args.json {
        let mut value = serde_json::to_value(report)?;
        value["format"] = serde_json::json!(report.format.name());
        value["catalog"] = serde_json::json!(args.catalog);
        println!("{value}");
    } else {
        println!(
            "imported {} items ({}) into catalog `{}` in {:.2} s ({:.0} items/s): {} new, {} updated",
            report.items,
            report.format,
            args.catalog,
            report.seconds,
            rate,
            report.inserted,
            report.updated
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use encore_store::{SqliteStore, Store};

    use super::*;

    #[test]
    fn imports_items_with_detected_and_forced_formats() {
        let dir = tempfile::tempdir().unwrap();
        let args = |file: &str, format: ItemFormat| Args {
            data_dir: dir.path().to_path_buf(),
            database: crate::input::DatabaseArg { url: None },
            catalog: "films".into(),
            format,
            json: false,
            file: file.into(),
        };
        run(args("../../../shared/data/ml-latest-small/movies.csv", ItemFormat::Auto)).unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(store.catalog_stats("films").unwrap().items, 9742);
        // Forcing the wrong format fails on the first line and stores nothing more.
        let err = run(args("../../../shared/data/ml-100k/u.item", ItemFormat::LastfmArtists))
            .unwrap_err();
        assert!(format!("{err:#}").contains("u.item:2"), "{err:#}");
        assert_eq!(store.catalog_stats("films").unwrap().items, 9742);
        assert!(parse_item_format("nope").is_err());
        assert_eq!(parse_item_format("ml-100k-items"), Ok(ItemFormat::Ml100kItems));
    }
}
