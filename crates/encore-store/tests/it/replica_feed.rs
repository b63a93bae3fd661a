//! The replica feed on PostgreSQL ([`encore_store::ReplicaFeed`]): the events and changes logs,
//! replica names on jobs, audit entries and changes, heartbeats and abandoned jobs, and model
//! files stored in the database.

use std::time::{SystemTime, UNIX_EPOCH};

use encore_store::{
    BulkImportOptions, CHANGE_RETENTION_MS, ChangeKind, Error, JobState, JobUpdate, NewApiKey,
    NewAuditEntry, NewItem, NewModel, PostgresStore, ReplicaFeed, Resource, Role, Store,
};
use serde_json::json;
use sha2::Digest;

use crate::{TestDatabase, event};

fn feed(store: &PostgresStore) -> &dyn ReplicaFeed {
    store.replica_feed().expect("PostgreSQL has a replica feed")
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn admin(db: &TestDatabase) -> postgres::Client {
    postgres::Client::connect(&db.url, postgres::NoTls).unwrap()
}

/// The changes after `*pos` as `(catalog, kind, events_seq)`, moving `*pos` past them.
fn drain(store: &PostgresStore, pos: &mut u64) -> Vec<(Option<String>, ChangeKind, u64)> {
    let changes = feed(store).changes_after(*pos, 1000).unwrap();
    if let Some(last) = changes.last() {
        *pos = last.seq;
    }
    changes.into_iter().map(|c| (c.catalog, c.kind, c.events_seq)).collect()
}

fn key(name: &str, catalog: Option<&str>) -> NewApiKey {
    NewApiKey {
        name: name.into(),
        role: Role::Reader,
        catalog: catalog.map(str::to_owned),
        hash: "ab".repeat(32),
        prefix: format!("ek_{name}"),
    }
}

fn model(path: &str) -> NewModel {
    NewModel {
        version: None,
        algorithm: "ials".into(),
        params: json!({}),
        metrics: json!(null),
        file_path: path.into(),
        size_bytes: 1,
        trained_events_seq: 0,
        job: None,
    }
}

/// Imports `rows` generated events (`u{i % 7}`, `i{i % 5}`) into `catalog`; with `bad_at`, that
/// row has an empty user id (the store refuses it and the import stores nothing).
fn import(
    store: &PostgresStore,
    catalog: &str,
    rows: u64,
    bad_at: Option<u64>,
) -> Result<(), Error> {
    let mut source = |sink: &mut dyn FnMut(encore_core::data::Record<'_>) -> bool| {
        for i in 0..rows {
            let user = if Some(i) == bad_at { String::new() } else { format!("u{}", i % 7) };
            let item = format!("i{}", i % 5);
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
        }
        Ok(0)
    };
    let opts = BulkImportOptions { origin: "gen", skip_invalid: false };
    store.bulk_import(catalog, &opts, &mut source, &mut |_| {}).map(drop)
}

#[test]
fn events_after_spans_catalogs_in_sequence_order_with_a_limit() {
    let db = TestDatabase::create();
    let store = PostgresStore::connect(&db.url).unwrap();
    store.create_catalog("music").unwrap();
    store.create_catalog("films").unwrap();
    store.append_events("music", &[event("u1", "a"), event("u2", "b")]).unwrap();
    store.append_events("films", &[event("u1", "x")]).unwrap();
    store.append_events("music", &[event("u1", "c")]).unwrap();
    import(&store, "books", 3, None).unwrap();
    let all = feed(&store).events_after(0, 100).unwrap();
    let got: Vec<(u64, &str, &str, &str)> = all
        .iter()
        .map(|e| (e.seq, e.catalog.as_str(), e.user_id.as_str(), e.item_id.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (1, "music", "u1", "a"),
            (2, "music", "u2", "b"),
            (3, "films", "u1", "x"),
            (4, "music", "u1", "c"),
            (5, "books", "u0", "i0"),
            (6, "books", "u1", "i1"),
            (7, "books", "u2", "i2"),
        ]
    );
    assert_eq!(all[0].weight, 1.0);
    let page: Vec<u64> = feed(&store).events_after(2, 2).unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(page, [3, 4]);
    assert!(feed(&store).events_after(7, 10).unwrap().is_empty());
    assert_eq!(feed(&store).feed_heads().unwrap().events, 7);

    // The feed's query is served in `seq` order by the partitions' indexes (a merge of index
    // scans), never by sorting all events: with sorting disabled the plan still has no Sort.
    let mut client = admin(&db);
    client.batch_execute("SET enable_sort = off; SET enable_seqscan = off").unwrap();
    let plan: Vec<String> = client
        .query("EXPLAIN SELECT * FROM events WHERE seq > 2 ORDER BY seq LIMIT 10", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let plan = plan.join("\n");
    let sorts =
        plan.lines().any(|l| l.trim_start().trim_start_matches("->").trim().starts_with("Sort  ("));
    assert!(!sorts && plan.contains("Merge Append") && plan.contains("Index"), "{plan}");
}

#[test]
fn every_write_kind_writes_exactly_one_change_and_a_refused_write_none() {
    let db = TestDatabase::create();
    let store = PostgresStore::connect_as(&db.url, Some("r1")).unwrap();
    let mut pos = 0;
    let music = || Some("music".to_owned());
    let none: Vec<(Option<String>, ChangeKind, u64)> = Vec::new();

    store.create_catalog("music").unwrap();
    assert_eq!(drain(&store, &mut pos), [(music(), ChangeKind::CatalogCreated, 0)]);
    assert!(store.create_catalog("music").is_err());
    store.append_events("music", &[event("u1", "a"), event("u2", "b")]).unwrap();
    assert_eq!(drain(&store, &mut pos), none, "a refused create and events write no change");

    store.upsert_items("music", &[NewItem::new("a", "A"), NewItem::new("c", "C")]).unwrap();
    let ids = vec!["a".to_owned(), "c".to_owned()];
    assert_eq!(
        drain(&store, &mut pos),
        [(music(), ChangeKind::ItemsUpserted { item_ids: ids }, 2)]
    );
    assert!(store.upsert_items("nope", &[NewItem::new("a", "A")]).is_err());
    store.delete_item("music", "a").unwrap();
    assert!(store.delete_item("music", "a").is_err(), "already taken down");
    assert_eq!(
        drain(&store, &mut pos),
        [(music(), ChangeKind::ItemTakenDown { item_id: "a".into() }, 2)]
    );

    let k = store.create_api_key(&key("k", None)).unwrap();
    store.revoke_api_key(k.id).unwrap();
    store.revoke_api_key(k.id).unwrap(); // already revoked: nothing changed
    assert!(store.revoke_api_key(999).is_err());
    assert_eq!(
        drain(&store, &mut pos),
        [(None, ChangeKind::KeysChanged, 2), (None, ChangeKind::KeysChanged, 2)]
    );

    store.register_model("music", &model("v1.enc")).unwrap();
    store.activate_model("music", 1).unwrap();
    assert!(store.activate_model("music", 9).is_err());
    store.update_model_file("music", 1, "v1-erased.enc", 2).unwrap();
    assert!(store.update_model_file("music", 9, "x.enc", 2).is_err());
    assert_eq!(
        drain(&store, &mut pos),
        [
            (music(), ChangeKind::ModelActivated { version: 1 }, 2),
            (music(), ChangeKind::ModelFileRewritten { version: 1 }, 2),
        ]
    );

    store.erase_user("music", "u1").unwrap();
    store.erase_user("music", "nobody").unwrap(); // harmless: followers drop nothing
    assert!(store.erase_user("nope", "u1").is_err());
    assert_eq!(
        drain(&store, &mut pos),
        [
            (music(), ChangeKind::UserErased { user_id: "u1".into() }, 2),
            (music(), ChangeKind::UserErased { user_id: "nobody".into() }, 2),
        ]
    );

    // Imports that create their catalog: the change comes before the import's events.
    let dir = tempfile::tempdir().unwrap();
    let items = dir.path().join("items.csv");
    std::fs::write(&items, "item_id,title\nx,X\n").unwrap();
    store.import_items("films", &items, encore_store::item_files::ItemFormat::Auto).unwrap();
    let films = || Some("films".to_owned());
    assert_eq!(
        drain(&store, &mut pos),
        [
            (films(), ChangeKind::CatalogCreated, 2),
            (films(), ChangeKind::ItemsUpserted { item_ids: vec!["x".into()] }, 2),
        ]
    );
    import(&store, "books", 4, None).unwrap();
    import(&store, "books", 4, None).unwrap(); // into an existing catalog: events only
    assert!(import(&store, "poems", 4, Some(2)).is_err());
    assert!(store.get_catalog("poems").is_err(), "the refused import created nothing");
    let books = || Some("books".to_owned());
    assert_eq!(drain(&store, &mut pos), [(books(), ChangeKind::CatalogCreated, 2)]);
    assert_eq!(feed(&store).feed_heads().unwrap().events, 10);

    store.delete_catalog("films").unwrap();
    assert!(store.delete_catalog("films").is_err());
    assert_eq!(drain(&store, &mut pos), [(films(), ChangeKind::CatalogDeleted, 10)]);
    // A catalog's scoped keys are revoked with it: the key table changed too.
    store.create_api_key(&key("scoped", Some("books"))).unwrap();
    store.delete_catalog("books").unwrap();
    assert_eq!(
        drain(&store, &mut pos),
        [
            (None, ChangeKind::KeysChanged, 10),
            (None, ChangeKind::KeysChanged, 10),
            (books(), ChangeKind::CatalogDeleted, 10),
        ]
    );

    let changes = feed(&store).changes_after(0, 1000).unwrap();
    assert!(changes.iter().all(|c| c.replica.as_deref() == Some("r1")));
    assert!(changes.windows(2).all(|w| w[0].seq + 1 == w[1].seq), "numbered without gaps");
    let heads = feed(&store).feed_heads().unwrap();
    assert_eq!((heads.changes, heads.oldest_change), (pos, 1));
    assert_eq!(
        feed(&store).changes_after(3, 2).unwrap().iter().map(|c| c.seq).collect::<Vec<_>>(),
        [4, 5]
    );
}

#[test]
fn two_replicas_see_each_others_changes_and_names() {
    let db = TestDatabase::create();
    let a = PostgresStore::connect_as(&db.url, Some("a")).unwrap();
    let b = PostgresStore::connect_as(&db.url, Some("b")).unwrap();
    let tool = PostgresStore::connect(&db.url).unwrap();
    assert_eq!((a.replica(), b.replica(), tool.replica()), (Some("a"), Some("b"), None));
    assert!(matches!(PostgresStore::connect_as(&db.url, Some("")), Err(Error::Invalid(_))));

    a.create_catalog("music").unwrap();
    b.upsert_items("music", &[NewItem::new("x", "X")]).unwrap();
    tool.create_api_key(&key("k", None)).unwrap();
    for store in [&a, &b] {
        let seen: Vec<(u64, Option<String>)> = feed(store)
            .changes_after(0, 10)
            .unwrap()
            .into_iter()
            .map(|c| (c.seq, c.replica))
            .collect();
        assert_eq!(seen, [(1, Some("a".into())), (2, Some("b".into())), (3, None)]);
    }

    let job = a.create_job("music", &json!({})).unwrap();
    assert_eq!(job.owner.as_deref(), Some("a"));
    assert_eq!(b.get_job(job.id).unwrap().owner.as_deref(), Some("a"));
    assert_eq!(tool.create_job("music", &json!({})).unwrap().owner, None);
    let entry = NewAuditEntry {
        key_id: None,
        key_name: None,
        action: "catalog.create".into(),
        target: "catalog/music".into(),
        outcome: "ok".into(),
        detail: json!({}),
    };
    b.append_audit(&entry).unwrap();
    tool.append_audit(&entry).unwrap();
    let writers: Vec<Option<String>> =
        a.audit_page(0, 10).unwrap().into_iter().map(|e| e.replica).collect();
    assert_eq!(writers, [Some("b".into()), None]);
}

#[test]
fn heartbeats_make_replicas_live_until_they_stop() {
    let db = TestDatabase::create();
    let store = PostgresStore::connect(&db.url).unwrap();
    let feed = feed(&store);
    let before = now_ms();
    feed.heartbeat("a").unwrap();
    feed.heartbeat("b").unwrap();
    let live = feed.live_replicas(60_000).unwrap();
    assert_eq!(live.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert!(live[0].started_ms >= before && live[0].heartbeat_ms >= live[0].started_ms);
    let started = live[0].started_ms;
    std::thread::sleep(std::time::Duration::from_millis(5));
    feed.heartbeat("a").unwrap();
    let a = feed.live_replicas(60_000).unwrap().remove(0);
    assert_eq!(a.started_ms, started, "a heartbeat keeps the start time");
    assert!(a.heartbeat_ms > started);
    admin(&db)
        .execute("UPDATE replicas SET heartbeat_ms = $1 WHERE name = 'b'", &[&(now_ms() - 120_000)])
        .unwrap();
    let live: Vec<String> =
        feed.live_replicas(60_000).unwrap().into_iter().map(|r| r.name).collect();
    assert_eq!(live, ["a"]);
    assert_eq!(feed.live_replicas(600_000).unwrap().len(), 2);
    assert!(feed.heartbeat("").is_err());
}

#[test]
fn abandoned_jobs_of_stopped_or_restarted_replicas_fail_and_cannot_register_models() {
    let db = TestDatabase::create();
    let a = PostgresStore::connect_as(&db.url, Some("a")).unwrap();
    let b = PostgresStore::connect_as(&db.url, Some("b")).unwrap();
    let c = PostgresStore::connect_as(&db.url, Some("c")).unwrap(); // never heartbeats
    let tool = PostgresStore::connect(&db.url).unwrap();
    a.create_catalog("music").unwrap();
    let run = |store: &PostgresStore| {
        let id = store.create_job("music", &json!({})).unwrap().id;
        let update = JobUpdate { state: Some(JobState::Running), ..Default::default() };
        store.update_job(id, &update).unwrap();
        id
    };
    feed(&a).heartbeat("a").unwrap();
    feed(&a).heartbeat("b").unwrap();
    let a_job = run(&a);
    let b_job = run(&b);
    let c_job = c.create_job("music", &json!({})).unwrap().id; // queued
    let tool_job = tool.create_job("music", &json!({})).unwrap().id;
    let a_done = run(&a);
    a.update_job(a_done, &JobUpdate { state: Some(JobState::Succeeded), ..Default::default() })
        .unwrap();
    admin(&db)
        .execute("UPDATE replicas SET heartbeat_ms = $1 WHERE name = 'b'", &[&(now_ms() - 120_000)])
        .unwrap();

    let failed = feed(&a).fail_abandoned_jobs(30_000, None).unwrap();
    assert_eq!(failed, [b_job, c_job, tool_job]);
    let error = |id: u64| a.get_job(id).unwrap().error.unwrap_or_default();
    assert!(
        error(b_job).starts_with("abandoned: replica `b` stopped (no heartbeat for 12"),
        "{}",
        error(b_job)
    );
    assert!(
        error(c_job).contains("replica `c` stopped (no heartbeat recorded)"),
        "{}",
        error(c_job)
    );
    assert!(error(tool_job).starts_with("abandoned: no replica owns it"), "{}", error(tool_job));
    assert_eq!(a.get_job(a_job).unwrap().state, JobState::Running, "a is live");
    assert_eq!(a.get_job(a_done).unwrap().state, JobState::Succeeded, "an ended job is left");
    assert!(feed(&a).fail_abandoned_jobs(30_000, None).unwrap().is_empty(), "once only");

    // The stopped replica's late work is refused: its job has ended.
    let finish = JobUpdate { state: Some(JobState::Succeeded), ..Default::default() };
    assert!(matches!(b.update_job(b_job, &finish), Err(Error::Conflict(_))));
    let late = NewModel { job: Some(b_job), ..model("late.enc") };
    assert!(matches!(b.register_model("music", &late), Err(Error::Conflict(_))));

    // `a` starting again (same name): its earlier process's jobs are abandoned even though the
    // name's heartbeat is fresh.
    let a_queued = a.create_job("music", &json!({})).unwrap().id;
    let failed = feed(&a).fail_abandoned_jobs(30_000, Some("a")).unwrap();
    assert_eq!(failed, [a_job, a_queued]);
    assert_eq!(error(a_job), "abandoned: replica `a` restarted");
    let registered = NewModel { job: Some(run(&a)), ..model("ok.enc") };
    assert_eq!(a.register_model("music", &registered).unwrap().version, 1);
}

/// `len` pseudo-random bytes (xorshift), so that chunks differ from one another.
fn random_bytes(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn model_files_round_trip_through_the_database_in_chunks() {
    let db = TestDatabase::create();
    let store = PostgresStore::connect(&db.url).unwrap();
    let feed = feed(&store);
    store.create_catalog("music").unwrap();
    let v1 = store.reserve_model_version("music").unwrap();
    let bytes = random_bytes(5 << 19, 7); // 2.5 MiB: two full chunks and a half
    let info = feed.put_model_blob("music", v1, &mut bytes.as_slice()).unwrap();
    assert_eq!((info.sha256.clone(), info.size_bytes), (sha256_hex(&bytes), bytes.len() as u64));
    assert_eq!(feed.model_blob_info("music", v1).unwrap(), Some(info.clone()));
    let chunks: i64 =
        admin(&db).query_one("SELECT count(*) FROM model_blob_chunks", &[]).unwrap().get(0);
    assert_eq!(chunks, 3);
    let mut back = Vec::new();
    assert_eq!(feed.read_model_blob("music", v1, &mut back).unwrap(), info);
    assert!(back == bytes, "the bytes read back differ");

    // Replacing: exactly one chunk's worth, then an empty file.
    for len in [1 << 20, 0] {
        let smaller = random_bytes(len, 11);
        let info = feed.put_model_blob("music", v1, &mut smaller.as_slice()).unwrap();
        assert_eq!((info.sha256.clone(), info.size_bytes), (sha256_hex(&smaller), len as u64));
        let mut back = Vec::new();
        assert_eq!(feed.read_model_blob("music", v1, &mut back).unwrap(), info);
        assert!(back == smaller);
    }

    let v2 = store.reserve_model_version("music").unwrap();
    assert_eq!(feed.model_blob_info("music", v2).unwrap(), None);
    let err = feed.read_model_blob("music", v2, &mut Vec::new()).unwrap_err();
    assert!(
        matches!(err, Error::NotFound { kind: Resource::Model, ref id } if id == "music/v2"),
        "{err}"
    );
    assert!(matches!(feed.put_model_blob("music", 9, &mut &b"x"[..]), Err(Error::Invalid(_))));
    assert!(matches!(
        feed.model_blob_info("nope", 1),
        Err(Error::NotFound { kind: Resource::Catalog, .. })
    ));
    feed.put_model_blob("music", v2, &mut bytes.as_slice()).unwrap();
    store.delete_catalog("music").unwrap();
    let left: i64 = admin(&db)
        .query_one(
            "SELECT (SELECT count(*) FROM model_blob_chunks) + (SELECT count(*) FROM model_blobs)",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "a deleted catalog's model files go with it");
}

#[test]
fn heartbeats_prune_old_changes_but_keep_the_newest() {
    let db = TestDatabase::create();
    let store = PostgresStore::connect(&db.url).unwrap();
    let feed = feed(&store);
    for name in ["a", "b", "c"] {
        store.create_catalog(name).unwrap();
    }
    let old = now_ms() - CHANGE_RETENTION_MS - 1000;
    let mut client = admin(&db);
    client.execute("UPDATE changes SET time_ms = $1 WHERE seq <= 2", &[&old]).unwrap();
    feed.heartbeat("r").unwrap();
    let kept: Vec<u64> = feed.changes_after(0, 10).unwrap().iter().map(|c| c.seq).collect();
    assert_eq!(kept, [3]);
    let heads = feed.feed_heads().unwrap();
    assert_eq!((heads.changes, heads.oldest_change), (3, 3));
    // Even when it is old, the newest change stays: the log is empty only before the first.
    client.execute("UPDATE changes SET time_ms = $1", &[&old]).unwrap();
    feed.heartbeat("r").unwrap();
    assert_eq!(feed.feed_heads().unwrap().oldest_change, 3);
    store.create_catalog("d").unwrap();
    feed.heartbeat("r").unwrap();
    let heads = feed.feed_heads().unwrap();
    assert_eq!((heads.changes, heads.oldest_change), (4, 4));
}

#[test]
fn a_follower_sees_both_logs_without_gaps_while_two_replicas_write() {
    let db = TestDatabase::create();
    let a = std::sync::Arc::new(PostgresStore::connect_as(&db.url, Some("a")).unwrap());
    let b = std::sync::Arc::new(PostgresStore::connect_as(&db.url, Some("b")).unwrap());
    a.create_catalog("music").unwrap();
    b.create_catalog("films").unwrap();
    let writers: Vec<_> = [(a.clone(), "music"), (b.clone(), "films"), (a.clone(), "films")]
        .into_iter()
        .enumerate()
        .map(|(w, (store, catalog))| {
            std::thread::spawn(move || {
                for i in 0..40 {
                    let id = format!("w{w}-{i}");
                    store.upsert_items(catalog, &[NewItem::new(id.clone(), "t")]).unwrap();
                    store.append_events(catalog, &[event(&id, "x"), event("u", &id)]).unwrap();
                }
            })
        })
        .collect();
    // Numbers commit in order, so a follower reading "everything after N" never finds a gap
    // (a number committing later than a bigger one would show as one) and watermarks grow.
    let follower = std::thread::spawn(move || {
        let (mut changes, mut events, mut watermark) = (0u64, 0u64, 0u64);
        while changes < 2 + 120 || events < 240 {
            for c in feed(&b).changes_after(changes, 7).unwrap() {
                assert_eq!(c.seq, changes + 1, "a gap in the change log");
                assert!(c.events_seq >= watermark, "the event watermark went back");
                (changes, watermark) = (c.seq, c.events_seq);
            }
            for e in feed(&b).events_after(events, 11).unwrap() {
                assert_eq!(e.seq, events + 1, "a gap in the events");
                events = e.seq;
            }
        }
        (changes, events)
    });
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(follower.join().unwrap(), (122, 240));
}
