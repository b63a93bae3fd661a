//! Training jobs, activation policies, swaps under load, rollback, cancellation and restarts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use encore_service::ErrorClass;
use encore_service::dto::{ActivatePolicy, JobState, RecommendRequest, Source, TrainRequest};

use crate::common::*;

service_test! {
fn jobs_report_metrics_and_follow_the_activation_policy(fx) {
    let svc = fx.trained();
    let models = svc.list_models("music").unwrap().models;
    assert_eq!(models.len(), 1);
    assert!(models[0].active);
    assert_eq!(models[0].algorithm, "ials");
    assert!(models[0].metrics["ndcg@10"] > 0.0, "{models:?}");
    assert_eq!(models[0].params["factors"], 8);

    // Never: registered, not active.
    let j = train(&svc, "music", &ials(ActivatePolicy::Never, Some(0.2)));
    assert_eq!(j.activated, Some(false));
    assert_eq!(svc.catalog("music").unwrap().active_model.as_deref(), Some("v1"));
    // if_better without holdout metrics cannot win against a measured model.
    let j = train(&svc, "music", &ials(ActivatePolicy::IfBetter, None));
    assert_eq!(j.activated, Some(false));
    // Popularity is much worse than iALS on planted tastes: if_better keeps v1.
    let pop = TrainRequest {
        model: "popularity".into(),
        params: Default::default(),
        holdout: Some(0.2),
        activate: None,
        ..Default::default()
    };
    let j = train(&svc, "music", &pop);
    assert_eq!(j.activated, Some(false), "{j:?}");
    assert!(j.metrics.unwrap()["ndcg@10"] < models[0].metrics["ndcg@10"]);
    assert_eq!(j.activation_seconds, None);
    // Always: the job ends once the new version answers, and says how long that took.
    let j = train(&svc, "music", &ials(ActivatePolicy::Always, None));
    assert_eq!(j.activated, Some(true));
    assert!(j.activation_seconds.is_some_and(|s| s > 0.0), "{j:?}");
    let ready = svc.readiness();
    assert_eq!(ready.catalogs[0].loaded_model, j.model_version);
    assert_eq!(ready.catalogs[0].candidates_precomputed, Some(1.0));
    svc.activate_model("music", "v1").unwrap();

    // Bad requests are refused before a job exists.
    let mut typo = ials(ActivatePolicy::Always, None);
    typo.params.insert("factros".into(), 3.into());
    assert_eq!(svc.start_training("music", &typo).unwrap_err().class(), ErrorClass::BadRequest);
    let unknown = TrainRequest { model: "svd".into(), ..ials(ActivatePolicy::Always, None) };
    assert_eq!(svc.start_training("music", &unknown).unwrap_err().class(), ErrorClass::BadRequest);
    let holdout = ials(ActivatePolicy::Always, Some(1.5));
    assert_eq!(svc.start_training("music", &holdout).unwrap_err().class(), ErrorClass::BadRequest);
    assert_eq!(svc.job(999_999).unwrap_err().class(), ErrorClass::NotFound);
}
}

service_test! {
fn training_an_empty_catalog_fails_the_job_not_the_service(fx) {
    let svc = fx.open();
    svc.create_catalog(&encore_service::dto::CreateCatalog { name: "empty".into() }).unwrap();
    let job = svc.start_training("empty", &ials(ActivatePolicy::Always, None)).unwrap();
    let info = svc.wait_for_job(job.job_id, Duration::from_secs(30)).unwrap();
    assert_eq!(info.state, JobState::Failed);
    assert!(info.error.unwrap().contains("no events"));
}
}

service_test! {
fn activation_swaps_under_load_without_failing_requests_and_rolls_back(fx) {
    let svc = fx.trained();
    train(&svc, "music", &ials(ActivatePolicy::Never, None));
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let hammers: Vec<_> = (0..2)
        .map(|t| {
            let (svc, stop, served) = (svc.clone(), stop.clone(), served.clone());
            std::thread::spawn(move || {
                let mut versions = std::collections::BTreeSet::new();
                let mut k = t;
                while !stop.load(Ordering::Relaxed) {
                    let req = RecommendRequest {
                        user_id: Some(format!("u{}", k % USERS)),
                        n: Some(7),
                        ..Default::default()
                    };
                    let r = svc.recommend("music", &req).expect("no request fails during swaps");
                    assert_eq!(r.recommendations.len(), 7);
                    versions.insert(r.model_version);
                    served.fetch_add(1, Ordering::Relaxed);
                    k += 1;
                }
                versions
            })
        })
        .collect();
    for round in 0..20 {
        let v = if round % 2 == 0 { "v2" } else { "v1" };
        let info = svc.activate_model("music", v).unwrap();
        assert!(info.active);
        // No cliff: the version answering is the activated one, with its candidate table
        // already in place (built while the previous version served).
        let ready = svc.readiness();
        let music = ready.catalogs.iter().find(|c| c.catalog == "music").unwrap();
        assert_eq!(music.loaded_model.as_deref(), Some(v));
        assert_eq!(music.candidates_precomputed, Some(1.0), "{music:?}");
        assert!(music.activation_seconds.is_some_and(|s| s > 0.0), "{music:?}");
        assert_eq!(music.preparing_model, None, "nothing left to prepare: {music:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    let mut seen = std::collections::BTreeSet::new();
    for h in hammers {
        seen.extend(h.join().unwrap());
    }
    assert!(served.load(Ordering::Relaxed) > 0);
    assert!(seen.contains(&Some("v1".into())) && seen.contains(&Some("v2".into())), "{seen:?}");
    // Rollback to v1 is an activation; the registry agrees with what serves.
    svc.activate_model("music", "v1").unwrap();
    let models = svc.list_models("music").unwrap().models;
    assert_eq!(
        models.iter().filter(|m| m.active).map(|m| m.version.as_str()).collect::<Vec<_>>(),
        vec!["v1"]
    );
    let r = svc
        .recommend("music", &RecommendRequest { user_id: Some("u1".into()), ..Default::default() })
        .unwrap();
    assert_eq!(r.model_version.as_deref(), Some("v1"));
    assert_eq!(svc.activate_model("music", "v9").unwrap_err().class(), ErrorClass::NotFound);
    assert_eq!(svc.activate_model("music", "latest").unwrap_err().class(), ErrorClass::BadRequest);
}
}

service_test! {
fn jobs_can_be_cancelled_queued_or_running(fx) {
    let svc = fx.open();
    seed(&svc, "music");
    let long = |iterations: u32| {
        let params = serde_json::json!({"factors": 64, "iterations": iterations});
        TrainRequest {
            model: "ials".into(),
            params: params.as_object().unwrap().clone(),
            holdout: None,
            activate: None,
            ..Default::default()
        }
    };
    // One training thread: the second job waits in the queue behind the first.
    let running = svc.start_training("music", &long(1000)).unwrap().job_id;
    let queued = svc.start_training("music", &long(5)).unwrap().job_id;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while svc.job(running).unwrap().state != JobState::Running {
        assert!(std::time::Instant::now() < deadline, "job never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(svc.job(queued).unwrap().state, JobState::Queued);
    // A queued job is cancelled at once.
    assert_eq!(svc.cancel_job(queued).unwrap().state, JobState::Cancelled);
    svc.cancel_job(running).unwrap();
    for id in [running, queued] {
        let info = svc.wait_for_job(id, Duration::from_secs(60)).unwrap();
        assert_eq!(info.state, JobState::Cancelled, "{info:?}");
        assert_eq!(info.model_version, None);
    }
    assert_eq!(svc.cancel_job(running).unwrap_err().class(), ErrorClass::Conflict);
    assert!(svc.list_models("music").unwrap().models.is_empty());
    // Serving is unaffected: no model yet, so recommend answers the popular items.
    let r = svc
        .recommend("music", &RecommendRequest { user_id: Some("u1".into()), ..Default::default() })
        .unwrap();
    assert_eq!((r.source, r.model_version), (Source::Popular, None));
}
}

service_test! {
fn a_restart_keeps_the_active_model_and_the_histories(fx) {
    let req = RecommendRequest { user_id: Some("u9".into()), n: Some(6), ..Default::default() };
    let before = {
        let svc = fx.trained();
        train(&svc, "music", &ials(ActivatePolicy::Never, None));
        svc.recommend("music", &req).unwrap()
    };
    let svc = fx.open();
    let ready = svc.readiness();
    assert!(ready.ready, "{ready:?}");
    assert_eq!(ready.catalogs[0].loaded_model.as_deref(), Some("v1"));
    let after = svc.recommend("music", &req).unwrap();
    assert_eq!(before, after);
    assert_eq!(after.source, Source::Model);
    let stranger = RecommendRequest { user_id: Some("nobody".into()), ..Default::default() };
    assert_eq!(svc.recommend("music", &stranger).unwrap().source, Source::Popular);
}
}

service_test! {
fn a_corrupted_active_model_file_leaves_the_service_up_but_not_ready(fx) {
    {
        let svc = fx.trained();
        train(&svc, "music", &ials(ActivatePolicy::Never, None));
    }
    let path = fx.dir().join("models/music/v1.enc");
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();

    let svc = fx.open();
    if let Some(feed) = svc.store().replica_feed() {
        // On a shared database the data directory is a cache: the damaged copy fails its
        // checksum and is fetched again from the stored one.
        assert!(svc.readiness().ready);
        let req = RecommendRequest { user_id: Some("u1".into()), ..Default::default() };
        assert_eq!(svc.recommend("music", &req).unwrap().model_version.as_deref(), Some("v1"));
        let mut stored = Vec::new();
        feed.read_model_blob("music", 1, &mut stored).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), stored, "the local copy was repaired");
        return;
    }
    assert!(!svc.readiness().ready);
    let req = RecommendRequest { user_id: Some("u1".into()), ..Default::default() };
    // Degraded, not down: the catalog answers its popular items until a model loads.
    let degraded = svc.recommend("music", &req).unwrap();
    assert_eq!((degraded.source, degraded.model_version), (Source::Popular, None));
    // Activating the damaged version again fails cleanly and changes nothing.
    assert_eq!(svc.activate_model("music", "v1").unwrap_err().class(), ErrorClass::Internal);
    svc.activate_model("music", "v2").unwrap();
    assert!(svc.readiness().ready);
    assert_eq!(svc.recommend("music", &req).unwrap().model_version.as_deref(), Some("v2"));
}
}
