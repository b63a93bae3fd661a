//! Test support (feature `test-support`): a PostgreSQL database of its own for each test, so
//! that tests of this crate and of the crates above it run in parallel against one server
//! without sharing state. The one owner of how test databases are named, reached and dropped.
//!
//! The server is named by `ENCORE_TEST_DATABASE_URL` (default
//! [`DEFAULT_TEST_DATABASE_URL`]); each [`TestDatabase`] is `encore_test_<pid>_<n>` on it,
//! dropped `WITH (FORCE)` (connections and all) when the value is dropped.

use std::sync::atomic::{AtomicU32, Ordering};

/// Where the PostgreSQL tests create their databases unless `ENCORE_TEST_DATABASE_URL` says
/// otherwise.
pub const DEFAULT_TEST_DATABASE_URL: &str = "postgres://root@127.0.0.1:5432/postgres";

/// The server URL the PostgreSQL tests use.
pub fn test_database_url() -> String {
    std::env::var("ENCORE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.to_owned())
}

/// A database of its own on the test server, dropped (connections and all) when this is.
#[derive(Debug)]
pub struct TestDatabase {
    admin_url: String,
    name: String,
    /// The URL of the new database.
    pub url: String,
}

impl TestDatabase {
    /// Creates `encore_test_<pid>_<counter>`; panics when the server cannot be reached.
    pub fn create() -> TestDatabase {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let admin_url = test_database_url();
        let name = format!(
            "encore_test_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin =
            postgres::Client::connect(&admin_url, postgres::NoTls).unwrap_or_else(|e| {
                panic!("cannot reach PostgreSQL at {admin_url} (set ENCORE_TEST_DATABASE_URL): {e}")
            });
        admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("create test database");
        let url = match admin_url.split_once('?') {
            Some((base, query)) => format!("{}?{query}", with_dbname(base, &name)),
            None => with_dbname(&admin_url, &name),
        };
        TestDatabase { admin_url, name, url }
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Brings the PostgreSQL database at `url` to schema `version` and no further, as an earlier
/// release left it, so a migration test can fill it and then open it with
/// [`crate::PostgresStore::connect`]; panics on failure.
pub fn migrate_postgres_to(url: &str, version: u32) {
    let mut client = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    crate::postgres::schema::migrate_to(&mut client, version).expect("migrate");
}

/// `postgres://…/OLD` with the database name replaced.
fn with_dbname(url: &str, name: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("the test URL names a database");
    format!("{base}/{name}")
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // WITH (FORCE) terminates the connections still open (a pool the test did not drop).
        if let Ok(mut admin) = postgres::Client::connect(&self.admin_url, postgres::NoTls) {
            let _ =
                admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}
