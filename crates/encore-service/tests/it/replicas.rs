//! Two services on one PostgreSQL database, each following the other
//! (`encore_service::replication`), in one process: what one replica writes reaches the other's
//! memory. (`encore-cli`'s `replicas` test does the same with three real server processes,
//! SIGKILL and a database outage.)

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use encore_service::dto::{
    ActivatePolicy, EventInput, IngestEvents, Item, RecommendRequest, Source, UpsertItems,
};
use encore_service::{Encore, Follower};
use encore_store::PostgresStore;

use crate::common::{Backend, config, ials, seed, train};

/// One replica: a service with its own (initially empty) data directory, following.
struct Replica {
    svc: Encore,
    key_reloads: Arc<AtomicUsize>,
    _follower: Follower,
    _dir: tempfile::TempDir,
}

fn replica(url: &str, name: &str) -> Replica {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.replica_name = Some(name.into());
    let store = Arc::new(PostgresStore::connect_as(url, Some(name)).unwrap());
    let svc = Encore::with_store_unloaded(c, store).unwrap();
    let key_reloads = Arc::new(AtomicUsize::new(0));
    let counter = key_reloads.clone();
    let follower = svc
        .start_following(Arc::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        }))
        .unwrap()
        .expect("a named service on PostgreSQL follows");
    svc.load_catalogs().unwrap();
    Replica { svc, key_reloads, _follower: follower, _dir: dir }
}

/// Polls `check` until it holds or `limit` passes; returns the time it took.
fn within(limit: Duration, what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    started.elapsed()
}

fn recommend(svc: &Encore, user: &str) -> encore_service::dto::RecommendResponse {
    let req = RecommendRequest { user_id: Some(user.into()), n: Some(5), ..Default::default() };
    svc.recommend("music", &req).unwrap()
}

/// Generous for a loaded CI machine; the figures measured are printed.
const FRESH: Duration = Duration::from_secs(2);

#[test]
fn writes_on_one_replica_reach_the_others_memory() {
    let fx = Backend::postgres();
    let url = fx.database_url().unwrap().to_owned();
    let a = replica(&url, "a");
    let b = replica(&url, "b");

    // A catalog created on A, with items and events, is known on B.
    seed(&a.svc, "music");
    let took = within(FRESH, "items upserted on a", || b.svc.get_item("music", "i5").is_ok());
    eprintln!("catalog and items reached b in {took:?}");
    // Events ingested on B count on A (and on B at once: it waited for its follower). Without a
    // model, recommendations are the popular items: a new item played by more users than any
    // other goes first.
    let events = (0..100)
        .map(|u| EventInput {
            user_id: format!("fan{u}"),
            item_id: "hit".into(),
            weight: Some(1.0),
            timestamp: None,
        })
        .collect();
    b.svc.ingest_events("music", &IngestEvents { events }).unwrap();
    let first = |svc: &Encore| recommend(svc, "nobody").recommendations[0].item_id.clone();
    assert_eq!(first(&b.svc), "hit", "counted on the ingesting replica when acknowledged");
    let took = within(FRESH, "events ingested on b", || first(&a.svc) == "hit");
    eprintln!("events reached a in {took:?}");

    // Every event is counted once on each replica, whoever ingested it: the same lists.
    let popular = |svc: &Encore| {
        let r = recommend(svc, "nobody");
        r.recommendations.iter().map(|x| (x.item_id.clone(), x.score)).collect::<Vec<_>>()
    };
    assert_eq!(popular(&a.svc), popular(&b.svc));

    // A takedown on A hides the item on B.
    a.svc.delete_item("music", "i5").unwrap();
    within(FRESH, "takedown on a", || b.svc.get_item("music", "i5").is_err());
    // An upsert on B puts it back on A, with B's metadata.
    let item = Item {
        item_id: "i5".into(),
        title: "Back".into(),
        kind: String::new(),
        tags: Vec::new(),
        available: true,
        released: None,
    };
    b.svc.upsert_items("music", &UpsertItems { items: vec![item] }).unwrap();
    within(FRESH, "upsert on b", || a.svc.get_item("music", "i5").is_ok_and(|i| i.title == "Back"));

    // Keys created elsewhere make the key table reload.
    let before = b.key_reloads.load(Ordering::SeqCst);
    let access = encore_service::access::Access::open(a.svc.store().clone()).unwrap();
    access
        .create_key(&encore_service::access::CreateKey {
            name: "ci".into(),
            role: encore_service::access::Role::Reader,
            catalog: None,
        })
        .unwrap();
    within(FRESH, "key created on a", || b.key_reloads.load(Ordering::SeqCst) > before);
}

#[test]
fn activation_rollback_and_erasure_reach_every_replica() {
    let fx = Backend::postgres();
    let url = fx.database_url().unwrap().to_owned();
    let a = replica(&url, "a");
    let b = replica(&url, "b");
    seed(&a.svc, "music");
    within(FRESH, "catalog on b", || b.svc.get_item("music", "i1").is_ok());

    // Trained and activated on A; B fetches the model file from the database (its data
    // directory is empty) and serves it.
    let v1 = train(&a.svc, "music", &ials(ActivatePolicy::Always, None));
    assert_eq!(v1.replica.as_deref(), Some("a"), "the job names the replica that ran it");
    let info = b.svc.job(v1.job_id).unwrap();
    assert_eq!(info.state, v1.state, "any replica answers for any job");
    let took = within(Duration::from_secs(10), "v1 served on b", || {
        recommend(&b.svc, "u1").model_version.as_deref() == Some("v1")
    });
    eprintln!("activation reached b in {took:?}");
    let v2 = train(&b.svc, "music", &ials(ActivatePolicy::Always, None));
    assert_eq!(v2.model_version.as_deref(), Some("v2"));
    within(Duration::from_secs(10), "v2 served on a", || {
        recommend(&a.svc, "u1").model_version.as_deref() == Some("v2")
    });
    // Rollback from A.
    a.svc.activate_model("music", "v1").unwrap();
    within(Duration::from_secs(10), "rollback served on b", || {
        recommend(&b.svc, "u1").model_version.as_deref() == Some("v1")
    });

    // Erasure through B: both versions rewritten, the user gone from A's memory too.
    assert_eq!(recommend(&a.svc, "u7").source, Source::Model);
    let receipt = b.svc.erase_user("music", "u7").unwrap();
    assert_eq!(receipt.versions_rewritten, ["v1", "v2"], "{receipt:?}");
    let took = within(FRESH, "erasure on b", || recommend(&a.svc, "u7").source == Source::Popular);
    eprintln!("erasure reached a in {took:?}");
    assert!(a.svc.user_data("music", "u7").is_err());
    // A replica started now, on an empty data directory, serves the active version without
    // the user.
    let c = replica(&url, "c");
    let r = recommend(&c.svc, "u7");
    assert_eq!((r.model_version.as_deref(), r.source), (Some("v1"), Source::Popular));
    assert_eq!(recommend(&c.svc, "u1").source, Source::Model);
}

#[test]
fn a_second_live_replica_of_the_same_name_is_refused_but_a_restart_is_not() {
    let fx = Backend::postgres();
    let url = fx.database_url().unwrap().to_owned();
    let a = replica(&url, "a");
    let dir = tempfile::tempdir().unwrap();
    let open = |name: &str| {
        let mut c = config(dir.path());
        c.replica_name = Some(name.into());
        let store = Arc::new(PostgresStore::connect_as(&url, Some(name)).unwrap());
        Encore::with_store_unloaded(c, store)
    };
    let error = open("a").unwrap_err();
    assert!(error.to_string().contains("another replica named `a`"), "{error}");
    // Once `a` stops, its last heartbeat is still recent, but it no longer moves: a restart
    // under the same name is let through.
    drop(a);
    open("a").expect("a restart under the same name");
}
