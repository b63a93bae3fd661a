//! Reading interaction files for the commands: a spinner while reading, a one-line summary after,
//! the `--format` argument, and the `--database` option of the commands that open a store.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use encore_core::data::{Dataset, Format, Interactions, ReadOptions, read_interactions};
use encore_core::eval::TestSet;
use encore_core::ids::IdMap;
use encore_store::{PostgresStore, SqliteStore, Store};

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

/// `--database URL` of `serve`, `import`, `import-items` and `keys`: which store to open.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArg {
    /// PostgreSQL database to use instead of the SQLite file in --data-dir:
    /// postgres://user[:password]@host[:port]/dbname. With it, --data-dir holds only the model
    /// files.
    #[arg(long = "database", value_name = "URL", env = "ENCORE_DATABASE_URL")]
    pub url: Option<String>,
}

impl DatabaseArg {
    /// Opens the store: PostgreSQL when a URL is given (creating `data_dir` for the model
    /// files), else the SQLite file in `data_dir`, as before `--database` existed.
    pub fn open_store(&self, data_dir: &Path) -> anyhow::Result<Arc<dyn Store>> {
        self.open(data_dir, None)
    }

    /// [`DatabaseArg::open_store`] for `encore serve`: on PostgreSQL the store is opened as the
    /// replica `replica` (the owner of the jobs it creates and the writer of its audit entries;
    /// see [`encore_store::replica`]), one of any number of servers on the database.
    pub fn open_server_store(
        &self,
        data_dir: &Path,
        replica: &str,
    ) -> anyhow::Result<Arc<dyn Store>> {
        self.open(data_dir, Some(replica))
    }

    /// Whether the store is a shared database (PostgreSQL) rather than the SQLite file.
    pub fn is_shared(&self) -> bool {
        self.url.is_some()
    }

    fn open(&self, data_dir: &Path, replica: Option<&str>) -> anyhow::Result<Arc<dyn Store>> {
        match &self.url {
            None => {
                let store = SqliteStore::open(data_dir)
                    .with_context(|| format!("cannot open the store in {}", data_dir.display()))?;
                Ok(Arc::new(store))
            }
            Some(url) => {
                std::fs::create_dir_all(data_dir)
                    .with_context(|| format!("cannot create {}", data_dir.display()))?;
                let store = PostgresStore::connect_as(url, replica).with_context(|| {
                    format!("cannot open the database {} (--database)", redact_password(url))
                })?;
                Ok(Arc::new(store))
            }
        }
    }
}

/// A database URL with its password replaced by `***`, for messages.
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod database_tests {
    use super::redact_password;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact_password("postgres://enc:s3cret@db:5432/encore"),
            "postgres://enc:***@db:5432/encore"
        );
        assert_eq!(redact_password("postgres://root@db/encore"), "postgres://root@db/encore");
        assert_eq!(redact_password("not a url"), "not a url");
    }
}
