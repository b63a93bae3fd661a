//! Integration tests of `encore-store`, in one binary (each extra test binary re-links the whole
//! dependency graph).
//!
//! The contract tests ([`contract_test!`]) run against both back ends: each body gets a
//! [`Fixture`] and becomes two tests, `NAME::sqlite` and `NAME::postgres`. The PostgreSQL
//! fixture creates a database of its own on the server named by `ENCORE_TEST_DATABASE_URL`
//! (default `postgres://root@127.0.0.1:5432/postgres`) and drops it afterwards
//! ([`encore_store::test_support`], shared with the service's tests), so tests run in
//! parallel without sharing state. Tests of one back end's own behaviour (SQLite file durability,
//! PostgreSQL migrations and connection errors) are plain `#[test]`s.

/// Defines a test that runs once per back end: `contract_test! { fn name(fx) { … } }`.
macro_rules! contract_test {
    (fn $name:ident($fx:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn body($fx: &$crate::Fixture) $body

            #[test]
            fn sqlite() {
                body(&$crate::Fixture::sqlite())
            }

            #[test]
            fn postgres() {
                body(&$crate::Fixture::postgres())
            }
        }
    };
}

mod catalogs_items;
mod durability;
mod events;
mod import;
mod postgres_only;
mod registry;
mod replica_feed;
mod security;
mod stats;

use std::path::Path;

use encore_store::{NewEvent, PostgresStore, SqliteStore, Store};

pub use encore_store::test_support::TestDatabase;

/// One back end's fresh, empty store and a temporary directory for the files a test writes.
pub struct Fixture {
    dir: tempfile::TempDir,
    database: Option<TestDatabase>,
}

impl Fixture {
    /// An SQLite store in a temporary directory.
    pub fn sqlite() -> Fixture {
        Fixture { dir: tempfile::tempdir().expect("temp dir"), database: None }
    }

    /// A PostgreSQL store on a database of its own.
    pub fn postgres() -> Fixture {
        Fixture {
            dir: tempfile::tempdir().expect("temp dir"),
            database: Some(TestDatabase::create()),
        }
    }

    /// Opens the store (again: a second call sees what the first one stored, as after a restart).
    pub fn open(&self) -> Box<dyn Store> {
        match &self.database {
            None => Box::new(SqliteStore::open(self.dir.path()).expect("open SQLite store")),
            Some(db) => {
                Box::new(PostgresStore::connect(&db.url).expect("connect PostgreSQL store"))
            }
        }
    }

    /// A temporary directory for the test's files (the SQLite store's data directory).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// A store in a fresh temporary directory (kept alive by the returned guard), for the tests of
/// SQLite's own behaviour.
pub fn temp_store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path()).expect("open store");
    (dir, store)
}

/// An event with weight 1 and no timestamp.
pub fn event(user: &str, item: &str) -> NewEvent {
    NewEvent { user_id: user.into(), item_id: item.into(), weight: 1.0, timestamp: None }
}
