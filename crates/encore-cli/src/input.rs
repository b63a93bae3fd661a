//! Reading interaction files for the commands: a spinner while reading, a one-line summary after,
//! and the `--format` argument.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use encore_core::data::{Dataset, Format, Interactions, ReadOptions, read_interactions};
use encore_core::eval::TestSet;
use encore_core::ids::IdMap;

use crate::progress::Ui;

/// Help text shared by every `--format` option.
pub const FORMAT_HELP: &str = "Input file format: auto (detect), tsv, csv, ml-100k, ml-latest, \
    ml-1m or lastfm. tsv/csv are `user, item[, weight[, timestamp]]` with an optional header";

/// clap value parser for `--format`.
pub fn parse_format(text: &str) -> Result<Format, String> {
    text.parse::<Format>().map_err(|e| e.to_string())
}

/// clap value parser for `--catalog`: the API's rule for a catalog name
/// ([`encore_service::validate::catalog_name`]), checked before anything touches the store, so
/// the command line never creates a catalog that `POST /v1/catalogs` would refuse. clap reports a
/// refusal as bad usage (exit code 2).
pub fn parse_catalog(text: &str) -> Result<String, String> {
    match encore_service::validate::catalog_name("--catalog", text) {
        Ok(()) => Ok(text.to_string()),
        Err(encore_service::Error::Invalid { message, .. }) => Err(message),
        Err(other) => Err(other.to_string()),
    }
}

/// clap value parser for `--holdout`: a number strictly between 0 and 1.
pub fn parse_fraction(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(f) if f > 0.0 && f < 1.0 => Ok(f),
        _ => Err(format!("`{text}` is not a fraction strictly between 0 and 1 (e.g. 0.2)")),
    }
}

/// Reads a whole interaction file, with a spinner and a summary note.
pub fn read_file(path: &Path, options: &ReadOptions, ui: &Ui) -> anyhow::Result<Interactions> {
    let start = Instant::now();
    let spinner = ui.spinner(format!("reading {}", path.display()));
    let result = read_interactions(path, options);
    spinner.finish_and_clear();
    let data =
        result.with_context(|| format!("cannot read interactions from {}", path.display()))?;
    let s = &data.summary;
    ui.note(format!(
        "read {} rows ({} users, {} items) from {} as {}{} in {:.2} s",
        s.rows,
        data.users.len(),
        data.items.len(),
        path.display(),
        s.format,
        if s.detected { " (detected)" } else { "" },
        start.elapsed().as_secs_f64()
    ));
    if s.skipped_bad_lines > 0 {
        ui.warn(format!("skipped {} malformed lines of {}", s.skipped_bad_lines, path.display()));
    }
    Ok(data)
}

/// Reads an interaction file into id maps and a users × items matrix.
pub fn read_dataset(path: &Path, options: &ReadOptions, ui: &Ui) -> anyhow::Result<Dataset> {
    let data = read_file(path, options, ui)?;
    data.into_dataset().with_context(|| format!("cannot build the matrix of {}", path.display()))
}

/// Reads a test file and maps it into the index space of the training data; warns about test
/// users and items that training never saw.
pub fn read_test_set(
    path: &Path,
    options: &ReadOptions,
    users: &IdMap,
    items: &IdMap,
    ui: &Ui,
) -> anyhow::Result<TestSet> {
    let data = read_file(path, options, ui)?;
    let pairs = data
        .user_idx
        .iter()
        .zip(&data.item_idx)
        .map(|(&u, &i)| (data.users.id(u), data.items.id(i)));
    let test = TestSet::from_pairs(users, items, pairs);
    if test.unseen_users > 0 {
        ui.warn(format!(
            "{} test users ({} rows) of {} are not in the training data and are not evaluated",
            test.unseen_users,
            test.unseen_user_rows,
            path.display()
        ));
    }
    if test.unseen_items > 0 {
        ui.note(format!(
            "{} test items ({} rows) are not in the training data: they count as relevant but \
             can never be recommended",
            test.unseen_items, test.unseen_item_rows
        ));
    }
    if test.lists.is_empty() {
        anyhow::bail!(
            "{}: no test user is in the training data; nothing to evaluate",
            path.display()
        );
    }
    Ok(test)
}
