//! Shared fixtures: a service over one back end ([`Backend`]) and a small catalog with planted
//! tastes.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use encore_service::dto::{
    ActivatePolicy, CreateCatalog, EventInput, IngestEvents, Item, JobInfo, JobState, TrainRequest,
    UpsertItems,
};
use encore_service::{Encore, ServiceConfig};
use encore_store::test_support::TestDatabase;
use encore_store::{PostgresStore, SqliteStore, Store};

/// Users `u0…u79` in four taste groups; items `i0…i39`, group `g = i / 10`.
pub const USERS: usize = 80;
/// Number of items.
pub const ITEMS: usize = 40;

pub fn config(dir: &Path) -> ServiceConfig {
    let mut c = ServiceConfig::new(dir);
    c.training_threads = 1;
    c.precompute_threads = 1;
    c.candidates_per_user = 5;
    c
}

/// One back end for a test: a temporary data directory (model files, and the SQLite file on
/// SQLite) and, on PostgreSQL, a database of its own, dropped with the fixture.
pub struct Backend {
    dir: tempfile::TempDir,
    database: Option<TestDatabase>,
}

impl Backend {
    /// The SQLite store in a temporary data directory.
    pub fn sqlite() -> Backend {
        Backend { dir: tempfile::tempdir().expect("temp dir"), database: None }
    }

    /// A PostgreSQL store on a fresh database; the data directory holds only model files.
    pub fn postgres() -> Backend {
        Backend {
            dir: tempfile::tempdir().expect("temp dir"),
            database: Some(TestDatabase::create()),
        }
    }

    /// The PostgreSQL database's URL (`None` on SQLite).
    pub fn database_url(&self) -> Option<&str> {
        self.database.as_ref().map(|d| d.url.as_str())
    }

    /// The data directory (model files under `models/`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Opens the store (again: a second call sees what the first stored, as after a restart).
    pub fn store(&self) -> Arc<dyn Store> {
        match &self.database {
            None => Arc::new(SqliteStore::open(self.dir()).expect("open SQLite store")),
            Some(db) => {
                Arc::new(PostgresStore::connect(&db.url).expect("connect PostgreSQL store"))
            }
        }
    }

    /// A service with [`config`] over a newly opened store.
    pub fn open(&self) -> Encore {
        self.open_with(config(self.dir()))
    }

    /// A service with the given configuration (its data directory should be [`Backend::dir`]).
    pub fn open_with(&self, config: ServiceConfig) -> Encore {
        Encore::with_store(config, self.store()).expect("service opens")
    }

    /// A service with a seeded catalog `music` and one active iALS model (`v1`).
    pub fn trained(&self) -> Encore {
        let svc = self.open();
        seed(&svc, "music");
        let info = train(&svc, "music", &ials(ActivatePolicy::Always, Some(0.2)));
        assert_eq!(info.model_version.as_deref(), Some("v1"));
        svc
    }
}

/// Group of an item.
pub fn item_group(item: usize) -> usize {
    item / 10
}

/// Items: even ones are tracks, odd ones albums; tags `g{group}` and `even`/`odd`; every
/// seventh item unavailable.
pub fn items() -> Vec<Item> {
    (0..ITEMS)
        .map(|i| Item {
            item_id: format!("i{i}"),
            title: format!("Title {i}"),
            kind: if i % 2 == 0 { "track" } else { "album" }.into(),
            tags: vec![
                format!("g{}", item_group(i)),
                if i % 2 == 0 { "even" } else { "odd" }.into(),
            ],
            available: i % 7 != 3,
            released: None,
        })
        .collect()
}

/// Each user plays 6 of the 10 items of its group (and one popular item of group 0).
pub fn events() -> Vec<EventInput> {
    let mut out = Vec::new();
    for u in 0..USERS {
        let g = u % 4;
        for k in 0..6 {
            let item = g * 10 + (u * 3 + k * 7) % 10;
            out.push(EventInput {
                user_id: format!("u{u}"),
                item_id: format!("i{item}"),
                weight: Some(1.0 + (k % 3) as f64),
                timestamp: Some(1_700_000_000 + (u * 10 + k) as i64),
            });
        }
        out.push(EventInput {
            user_id: format!("u{u}"),
            item_id: "i0".into(),
            weight: None,
            timestamp: None,
        });
    }
    out
}

/// Creates `name` with the items and events above.
pub fn seed(svc: &Encore, name: &str) {
    svc.create_catalog(&CreateCatalog { name: name.into() }).unwrap();
    svc.upsert_items(name, &UpsertItems { items: items() }).unwrap();
    let n = svc.ingest_events(name, &IngestEvents { events: events() }).unwrap();
    assert_eq!(n.accepted, USERS * 7);
}

/// A small, quick iALS request.
pub fn ials(activate: ActivatePolicy, holdout: Option<f64>) -> TrainRequest {
    let params = serde_json::json!({"factors": 8, "iterations": 6, "regularization": 0.05});
    TrainRequest {
        model: "ials".into(),
        params: params.as_object().unwrap().clone(),
        holdout,
        activate: Some(activate),
        ..Default::default()
    }
}

/// Trains and waits for the job to end.
pub fn train(svc: &Encore, catalog: &str, req: &TrainRequest) -> JobInfo {
    let job = svc.start_training(catalog, req).unwrap();
    let info = svc.wait_for_job(job.job_id, Duration::from_secs(120)).unwrap();
    assert_eq!(info.state, JobState::Succeeded, "{info:?}");
    info
}
