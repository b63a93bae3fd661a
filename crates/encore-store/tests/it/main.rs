//! Integration tests of `encore-store`, in one binary (each extra test binary re-links the whole
//! dependency graph).

mod catalogs_items;
mod durability;
mod events;
mod import;
mod registry;
mod security;
mod stats;

use encore_store::{NewEvent, SqliteStore};

/// A store in a fresh temporary directory (kept alive by the returned guard).
pub fn temp_store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path()).expect("open store");
    (dir, store)
}

/// An event with weight 1 and no timestamp.
pub fn event(user: &str, item: &str) -> NewEvent {
    NewEvent { user_id: user.into(), item_id: item.into(), weight: 1.0, timestamp: None }
}
