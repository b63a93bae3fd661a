//! The PostgreSQL back end's own behaviour: migrations, refusing a newer schema, URLs and
//! unreachable servers, and what `integrity_check` looks for.

use encore_store::{Error, PostgresStore, Store};

use crate::{TestDatabase, event};

#[test]
fn migrations_run_once_even_when_processes_start_together() {
    let db = TestDatabase::create();
    let stores: Vec<PostgresStore> = std::thread::scope(|s| {
        let handles: Vec<_> =
            (0..4).map(|_| s.spawn(|| PostgresStore::connect(&db.url).unwrap())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for store in &stores {
        assert_eq!(store.schema_version().unwrap(), 2);
    }
    stores[0].create_catalog("music").unwrap();
    drop(stores);
    let again = PostgresStore::connect(&db.url).unwrap();
    assert_eq!(again.list_catalogs().unwrap().len(), 1, "a second start keeps the data");
}

#[test]
fn a_database_from_a_newer_build_is_refused_naming_both_versions() {
    let db = TestDatabase::create();
    drop(PostgresStore::connect(&db.url).unwrap());
    let mut client = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    client.batch_execute("UPDATE schema_version SET version = 99").unwrap();
    let err = PostgresStore::connect(&db.url).unwrap_err();
    assert!(
        matches!(err, Error::Conflict(ref m) if m.contains("schema version 99") && m.contains("build's 2")),
        "{err}"
    );
}

#[test]
fn bad_urls_are_invalid_and_an_unreachable_server_is_unavailable() {
    for bad in ["mysql://root@localhost/x", "postgres://root@127.0.0.1:notaport/x"] {
        assert!(matches!(PostgresStore::connect(bad), Err(Error::Invalid(_))), "{bad}");
    }
    // A port nothing listens on (the discard port, closed on the test machines).
    let err = PostgresStore::connect("postgres://root@127.0.0.1:9/encore").unwrap_err();
    assert!(matches!(err, Error::Unavailable(ref m) if m.contains("127.0.0.1:9/encore")), "{err}");
}

#[test]
fn a_lost_connection_is_unavailable_and_the_next_call_reconnects() {
    let db = TestDatabase::create();
    let store = PostgresStore::connect(&db.url).unwrap();
    store.create_catalog("music").unwrap();
    let mut admin = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .unwrap();
    // The pooled connection is dead: the first call notices (Unavailable), or reconnects at once
    // when the pool already saw it closed; either way the next call works.
    match store.append_events("music", &[event("u1", "a")]) {
        Ok(_) | Err(Error::Unavailable(_)) => {}
        Err(other) => panic!("a terminated connection must be Unavailable, got {other}"),
    }
    store.append_events("music", &[event("u1", "b")]).unwrap();
    assert!(store.count_events("music").unwrap() >= 1);
}

#[test]
fn integrity_check_finds_orphans_and_sequence_numbers_beyond_the_counter() {
    let db = TestDatabase::create();
    let store = PostgresStore::connect(&db.url).unwrap();
    store.create_catalog("music").unwrap();
    store.append_events("music", &[event("u1", "a"), event("u2", "b")]).unwrap();
    assert!(store.integrity_check().unwrap().is_empty());
    let mut client = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    client
        .batch_execute(
            "DELETE FROM users WHERE user_id = 'u1';
             UPDATE events SET seq = seq + 100 WHERE seq = (SELECT max(seq) FROM events);",
        )
        .unwrap();
    let problems = store.integrity_check().unwrap();
    assert!(problems.iter().any(|p| p.contains("missing user key")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("outside 1..=the counter")), "{problems:?}");
}

#[test]
fn an_import_into_a_new_catalog_does_not_hold_up_the_others() {
    let db = TestDatabase::create();
    let store = std::sync::Arc::new(PostgresStore::connect(&db.url).unwrap());
    store.create_catalog("music").unwrap();
    store.append_events("music", &[event("u1", "a")]).unwrap();
    // The import into `films` (no partition yet) pauses inside its transaction until the other
    // catalog has been read; a lock on `events` would make the reads wait 10 s. (Appends wait for
    // an import anyway, as with SQLite: it holds the event counter.)
    let (paused_tx, paused_rx) = std::sync::mpsc::channel::<()>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let importer = {
        let store = store.clone();
        std::thread::spawn(move || {
            let mut source = |sink: &mut dyn FnMut(encore_core::data::Record<'_>) -> bool| {
                for i in 0..5_000u64 {
                    let item = format!("f{}", i % 50);
                    let user = format!("v{}", i % 70);
                    let r = encore_core::data::Record {
                        user: &user,
                        item: &item,
                        weight: 1.0,
                        timestamp: None,
                        line: i + 1,
                    };
                    if !sink(r) {
                        break;
                    }
                    if i == 100 {
                        paused_tx.send(()).unwrap();
                        let _ = done_rx.recv_timeout(std::time::Duration::from_secs(10));
                    }
                }
                Ok(0)
            };
            let opts = encore_store::BulkImportOptions { origin: "gen", skip_invalid: false };
            store.bulk_import("films", &opts, &mut source, &mut |_| {}).unwrap()
        })
    };
    paused_rx.recv().unwrap();
    let t = std::time::Instant::now();
    assert_eq!(store.count_events("music").unwrap(), 1);
    assert_eq!(store.user_events("music", "u1").unwrap().len(), 1);
    assert!(t.elapsed() < std::time::Duration::from_secs(5), "a read waited for the import");
    done_tx.send(()).unwrap();
    assert_eq!(importer.join().unwrap().rows, 5_000);
    assert_eq!(store.count_events("films").unwrap(), 5_000);
    assert_eq!(store.user_events("films", "v3").unwrap().len(), 5_000 / 70 + 1);
    // The catalog's later events go into the partition the import attached.
    let r = store.append_events("films", &[event("v3", "f1")]).unwrap();
    assert_eq!(store.catalog_stats("films").unwrap().last_event_seq, r.seq_range.unwrap().1);
    assert!(store.integrity_check().unwrap().is_empty());
    store.delete_catalog("films").unwrap();
    assert_eq!(store.count_events("music").unwrap(), 1, "dropping a partition keeps the others");
}

#[test]
fn a_users_history_and_erasure_touch_only_their_catalogs_partition() {
    let db = TestDatabase::create();
    let store = std::sync::Arc::new(PostgresStore::connect(&db.url).unwrap());
    for catalog in ["music", "films"] {
        store.create_catalog(catalog).unwrap();
        store.append_events(catalog, &[event("u1", "a"), event("u2", "a")]).unwrap();
    }
    // Another session holds `films`'s partition exclusively (as deleting that catalog or
    // attaching its import does); reading and erasing a user of `music` must not wait for it.
    let mut client = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let mut lock = client.transaction().unwrap();
    let partition: String = lock
        .query_one("SELECT 'events_' || id FROM catalogs WHERE name = 'films'", &[])
        .unwrap()
        .get(0);
    lock.batch_execute(&format!("LOCK TABLE {partition} IN ACCESS EXCLUSIVE MODE")).unwrap();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let worker = {
        let store = store.clone();
        std::thread::spawn(move || {
            let history = store.user_events("music", "u1").unwrap().len();
            let erased = store.erase_user("music", "u2").unwrap();
            done_tx.send(()).unwrap();
            (history, erased.events_deleted)
        })
    };
    let waited = done_rx.recv_timeout(std::time::Duration::from_secs(5)).is_err();
    lock.rollback().unwrap();
    assert_eq!(worker.join().unwrap(), (1, 1));
    assert!(!waited, "a read or erasure in `music` waited for a lock on `films`'s events");
    assert_eq!(store.user_events("films", "u2").unwrap().len(), 1, "films keeps its own u2");
}

#[test]
fn a_store_dropped_inside_an_async_task_closes_its_connections_without_panicking() {
    let db = TestDatabase::create();
    let store = PostgresStore::connect(&db.url).unwrap();
    store.create_catalog("music").unwrap(); // leaves a pooled connection to close
    let lock = store.lock_single_server().unwrap();
    // The last owner of a server's store can be a task cancelled at shutdown: closing a client
    // there blocked on the client's own runtime inside this one, and the panic in a destructor
    // aborted the process.
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async move {
        drop(lock);
        drop(store);
    });
    let again = PostgresStore::connect(&db.url).unwrap();
    drop(again.lock_single_server().expect("the dropped lock's session has ended"));
}

#[test]
fn a_second_server_lock_on_one_database_is_refused_until_the_first_is_dropped() {
    let db = TestDatabase::create();
    let first = PostgresStore::connect(&db.url).unwrap();
    let second = PostgresStore::connect(&db.url).unwrap();
    let held = first.lock_single_server().unwrap();
    let refused = second.lock_single_server().unwrap_err();
    assert!(
        matches!(refused, Error::Conflict(ref m) if m.contains("another encore serve")),
        "{refused}"
    );
    drop(held);
    drop(second.lock_single_server().expect("free once the first server's lock is dropped"));
}

#[test]
fn a_database_of_schema_version_1_migrates_to_2_keeping_its_data() {
    let db = TestDatabase::create();
    encore_store::test_support::migrate_postgres_to(&db.url, 1);
    // What version 1 stored: a catalog with an item and two events (in a partition made as
    // version 1 made them), a job, an API key and an audit entry.
    let mut client = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    client
        .batch_execute(
            "INSERT INTO catalogs (name, created_ms, next_model_version) VALUES ('music', 1, 2);
             INSERT INTO users (catalog_id, user_id) VALUES (1, 'u1');
             INSERT INTO item_keys (catalog_id, item_id) VALUES (1, 'a'), (1, 'b');
             INSERT INTO items (key, title, kind, tags, available, updated_ms)
                 VALUES (1, 'A', '', '[]', true, 1);
             CREATE TABLE events_1 PARTITION OF events FOR VALUES IN (1);
             INSERT INTO events (catalog_id, seq, user_key, item_key, weight, ingested_ms)
                 VALUES (1, 1, 1, 1, 1.0, 1), (1, 2, 1, 2, 2.0, 1);
             UPDATE counters SET value = 2 WHERE name = 'event_seq';
             INSERT INTO jobs (catalog_id, state, request, created_ms, updated_ms)
                 VALUES (1, 'running', '{}', 1, 1);
             INSERT INTO api_keys (name, role, hash, prefix, created_ms)
                 VALUES ('ci', 'admin', 'h', 'p', 1);
             INSERT INTO audit_log (time_ms, action, target, outcome, detail)
                 VALUES (1, 'catalog.create', 'catalog/music', 'ok', '{}');",
        )
        .unwrap();
    drop(client);
    let store = PostgresStore::connect_as(&db.url, Some("r1")).unwrap();
    assert_eq!(store.schema_version().unwrap(), 2);
    assert_eq!(store.count_events("music").unwrap(), 2);
    assert_eq!(store.get_item("music", "a").unwrap().title, "A");
    let job = store.get_job(1).unwrap();
    assert_eq!((job.state, job.owner), (encore_store::JobState::Running, None));
    assert_eq!(store.list_api_keys().unwrap().len(), 1);
    assert_eq!(store.audit_page(0, 10).unwrap()[0].replica, None);
    let feed = store.replica_feed().unwrap();
    let heads = feed.feed_heads().unwrap();
    assert_eq!((heads.events, heads.changes, heads.oldest_change), (2, 0, 0));
    // The old partition got the feed's sequence index, and new writes work on it.
    let seqs: Vec<u64> = feed.events_after(0, 10).unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2]);
    store.append_events("music", &[event("u1", "b")]).unwrap();
    assert_eq!(feed.events_after(2, 10).unwrap()[0].seq, 3);
    store.activate_model("music", 1).unwrap_err(); // no model v1 registered: no change
    store.upsert_items("music", &[encore_store::NewItem::new("c", "C")]).unwrap();
    assert_eq!(feed.feed_heads().unwrap().changes, 1);
    assert!(store.integrity_check().unwrap().is_empty(), "{:?}", store.integrity_check());
}
