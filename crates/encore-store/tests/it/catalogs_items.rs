use encore_store::{Error, NewItem, Resource, SqliteStore, Store};

use crate::event;

contract_test! {
fn catalogs_create_get_list_delete(fx) {
    let store = fx.open();
    assert!(store.list_catalogs().unwrap().is_empty());
    let music = store.create_catalog("music").unwrap();
    assert_eq!(music.name, "music");
    store.create_catalog("films").unwrap();
    assert!(matches!(store.create_catalog("music"), Err(Error::Conflict(_))));
    assert!(matches!(store.create_catalog("bad name"), Err(Error::Invalid(_))));
    assert_eq!(store.get_catalog("music").unwrap(), music);
    let names: Vec<_> = store.list_catalogs().unwrap().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["films", "music"]);
    assert!(matches!(
        store.get_catalog("games"),
        Err(Error::NotFound { kind: Resource::Catalog, .. })
    ));
    assert!(matches!(store.delete_catalog("games"), Err(Error::NotFound { .. })));
}
}

contract_test! {
fn deleting_a_catalog_cascades_and_returns_model_files(fx) {
    let store = fx.open();
    store.create_catalog("music").unwrap();
    store.create_catalog("films").unwrap();
    store.upsert_items("music", &[NewItem::new("t1", "Song")]).unwrap();
    store.append_events("music", &[event("u1", "t1"), event("u2", "t2")]).unwrap();
    store.append_events("films", &[event("u1", "f1")]).unwrap();
    let model = encore_store::NewModel {
        version: None,
        algorithm: "ials".into(),
        params: serde_json::json!({"factors": 8}),
        metrics: serde_json::Value::Null,
        file_path: "models/music/v1.enc".into(),
        size_bytes: 10,
        trained_events_seq: 2,
        job: None,
    };
    store.register_model("music", &model).unwrap();
    store.create_job("music", &serde_json::json!({})).unwrap();
    let files = store.delete_catalog("music").unwrap();
    assert_eq!(files, ["models/music/v1.enc"]);
    assert!(store.get_catalog("music").is_err());
    // The other catalog is untouched, and nothing dangles.
    assert_eq!(store.count_events("films").unwrap(), 1);
    assert!(store.integrity_check().unwrap().is_empty());
    assert_eq!(store.list_jobs(None, 10).unwrap().len(), 0);
    // A new catalog of the same name starts empty.
    store.create_catalog("music").unwrap();
    assert_eq!(store.catalog_stats("music").unwrap(), Default::default());
}
}

fn item(id: &str, title: &str, kind: &str, tags: &[&str]) -> NewItem {
    NewItem {
        item_id: id.into(),
        title: title.into(),
        kind: kind.into(),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        available: true,
        released: Some("2020-01-31".into()),
    }
}

contract_test! {
fn items_upsert_get_list_delete(fx) {
    let store = fx.open();
    assert!(matches!(store.upsert_items("music", &[]), Err(Error::NotFound { .. })));
    store.create_catalog("music").unwrap();
    let r = store
        .upsert_items("music", &[item("b", "B", "track", &["rock"]), item("a", "A", "album", &[])])
        .unwrap();
    assert_eq!((r.inserted, r.updated), (2, 0));
    let mut changed = item("b", "B2", "track", &["rock", "indie"]);
    changed.available = false;
    changed.released = None;
    let r = store.upsert_items("music", &[changed.clone(), item("c", "C", "", &[])]).unwrap();
    assert_eq!((r.inserted, r.updated), (1, 1));
    let b = store.get_item("music", "b").unwrap();
    assert_eq!((b.title.as_str(), b.available, b.released), ("B2", false, None));
    assert_eq!(b.tags, ["rock", "indie"]);
    assert!(b.updated_ms > 0);

    assert_eq!(store.get_item("music", "a").unwrap().kind, "album");
    assert!(matches!(store.get_item("music", "zzz"), Err(Error::NotFound { .. })));

    let mut all = Vec::new();
    assert_eq!(store.for_each_item("music", &mut |i| all.push(i.item_id)).unwrap(), 3);
    all.sort();
    assert_eq!(all, ["a", "b", "c"]);

    store.delete_item("music", "a").unwrap();
    assert!(matches!(
        store.get_item("music", "a"),
        Err(Error::NotFound { kind: Resource::Item, .. })
    ));
    assert!(matches!(store.delete_item("music", "a"), Err(Error::NotFound { .. })));
    assert_eq!(store.catalog_stats("music").unwrap().items, 2);
    assert_eq!(store.taken_down_items("music").unwrap(), ["a"]);
    assert!(matches!(store.delete_item("music", "never"), Err(Error::NotFound { .. })));
    // Putting the item back ends the takedown.
    store.upsert_items("music", &[item("a", "A again", "track", &[])]).unwrap();
    assert!(store.taken_down_items("music").unwrap().is_empty());
    assert_eq!(store.get_item("music", "a").unwrap().title, "A again");
}
}

contract_test! {
fn an_item_known_only_from_events_can_be_taken_down_and_stays_down_across_reopen(fx) {
    {
        let store = fx.open();
        store.create_catalog("music").unwrap();
        store.append_events("music", &[event("u1", "bare")]).unwrap();
        store.delete_item("music", "bare").unwrap();
    }
    let store = fx.open();
    assert_eq!(store.taken_down_items("music").unwrap(), ["bare"]);
    // The events stay: they are training history.
    assert_eq!(store.user_events("music", "u1").unwrap().len(), 1);
    store.delete_catalog("music").unwrap();
    store.create_catalog("music").unwrap();
    assert!(store.taken_down_items("music").unwrap().is_empty());
}
}

contract_test! {
fn item_upsert_is_all_or_nothing(fx) {
    let store = fx.open();
    store.create_catalog("music").unwrap();
    let mut bad = item("y", "Y", "track", &[]);
    bad.released = Some("31/01/2020".into());
    let err = store.upsert_items("music", &[item("x", "X", "track", &[]), bad]).unwrap_err();
    assert!(matches!(err, Error::Invalid(ref m) if m.contains("release date")), "{err}");
    assert!(store.get_item("music", "x").is_err());
    for broken in [item("", "empty id", "", &[]), item("t", "tag", "", &[""])] {
        assert!(matches!(store.upsert_items("music", &[broken]), Err(Error::Invalid(_))));
    }
    assert_eq!(store.catalog_stats("music").unwrap().items, 0);
}
}

contract_test! {
fn data_survives_reopen(fx) {
    {
        let store = fx.open();
        store.create_catalog("music").unwrap();
        store.upsert_items("music", &[item("t1", "Song", "track", &["pop"])]).unwrap();
        store.append_events("music", &[event("u1", "t1")]).unwrap();
    }
    let store = fx.open();
    assert_eq!(store.get_item("music", "t1").unwrap().tags, ["pop"]);
    assert_eq!(store.user_events("music", "u1").unwrap().len(), 1);
    assert!(store.integrity_check().unwrap().is_empty());
}
}

#[test]
fn sqlite_schema_is_current_and_the_file_is_in_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.schema_version().unwrap(), 2);
    assert!(dir.path().join("encore.db").is_file());
}

contract_test! {
fn store_is_usable_as_a_trait_object_across_threads(fx) {
    let store = fx.open();
    store.create_catalog("music").unwrap();
    let store: std::sync::Arc<dyn Store> = std::sync::Arc::from(store);
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    store
                        .append_events("music", &[event(&format!("u{t}"), &format!("i{i}"))])
                        .unwrap();
                    store.count_events("music").unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(store.count_events("music").unwrap(), 100);
}
}

#[test]
fn a_database_from_a_newer_build_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join(encore_store::DB_FILE_NAME)).unwrap();
    conn.execute("UPDATE schema_version SET version = 99", []).unwrap();
    drop(conn);
    let err = SqliteStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::Conflict(ref m) if m.contains("schema version 99")), "{err}");
}

#[test]
fn a_file_that_is_not_a_database_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(encore_store::DB_FILE_NAME), b"not a database at all, really")
        .unwrap();
    assert!(matches!(SqliteStore::open(dir.path()), Err(Error::Sqlite(_))));
}
