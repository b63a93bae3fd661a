use encore_store::{Error, JobState, JobUpdate, NewModel, Resource};
use serde_json::json;

fn model(version: Option<u32>, path: &str) -> NewModel {
    NewModel {
        version,
        algorithm: "ials".into(),
        params: json!({"factors": 64}),
        metrics: json!({"ndcg@10": 0.3}),
        file_path: path.into(),
        size_bytes: 1234,
        trained_events_seq: 42,
        job: None,
    }
}

contract_test! {
fn models_register_list_activate_delete(fx) {
    let store = fx.open();
    store.create_catalog("music").unwrap();
    store.create_catalog("films").unwrap();
    assert_eq!(store.active_model("music").unwrap(), None);
    let v1 = store.register_model("music", &model(None, "models/music/v1.enc")).unwrap();
    assert_eq!((v1.version, v1.active, v1.version_label()), (1, false, "v1".to_string()));
    assert_eq!(v1.params, json!({"factors": 64}));
    assert_eq!((v1.size_bytes, v1.trained_events_seq), (1234, 42));
    let reserved = store.reserve_model_version("music").unwrap();
    assert_eq!(reserved, 2);
    let v2 = store.register_model("music", &model(Some(2), "models/music/v2.enc")).unwrap();
    assert_eq!(v2.version, 2);
    assert!(matches!(
        store.register_model("music", &model(Some(2), "x.enc")),
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        store.register_model("music", &model(Some(9), "x.enc")),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        store.register_model("music", &model(None, "../escape.enc")),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        store.register_model("music", &model(None, "/abs.enc")),
        Err(Error::Invalid(_))
    ));
    // Versions are per catalog.
    assert_eq!(store.register_model("films", &model(None, "f.enc")).unwrap().version, 1);

    let listed: Vec<_> = store.list_models("music").unwrap().iter().map(|m| m.version).collect();
    assert_eq!(listed, [2, 1]);

    store.activate_model("music", 1).unwrap();
    assert_eq!(store.active_model("music").unwrap().unwrap().version, 1);
    let active = store.activate_model("music", 2).unwrap();
    assert!(active.active);
    let actives: Vec<_> =
        store.list_models("music").unwrap().into_iter().filter(|m| m.active).collect();
    assert_eq!(actives.len(), 1, "exactly one active model");
    assert_eq!(actives[0].version, 2);
    assert_eq!(store.active_model("films").unwrap(), None);
    assert!(matches!(
        store.activate_model("music", 7),
        Err(Error::NotFound { kind: Resource::Model, .. })
    ));
    assert_eq!(
        store.active_model("music").unwrap().unwrap().version,
        2,
        "failed activation kept v2"
    );

    // A version reserved and never registered (a job that failed after naming its file) is
    // never handed out again, even the newest one.
    assert_eq!(store.register_model("music", &model(None, "v3.enc")).unwrap().version, 3);
    assert_eq!(store.reserve_model_version("music").unwrap(), 4);
    assert_eq!(store.register_model("music", &model(None, "v5.enc")).unwrap().version, 5);

    let updated = store.update_model_file("music", 2, "models/music/v2-erased.enc", 99).unwrap();
    assert_eq!(
        (updated.file_path.as_str(), updated.size_bytes),
        ("models/music/v2-erased.enc", 99)
    );
    assert!(updated.active);
}
}

contract_test! {
fn concurrent_activations_leave_exactly_one_active(fx) {
    let store = fx.open();
    store.create_catalog("music").unwrap();
    for v in 1..=4 {
        store.register_model("music", &model(None, &format!("v{v}.enc"))).unwrap();
    }
    let store = std::sync::Arc::new(store);
    let threads: Vec<_> = (1..=4u32)
        .map(|v| {
            let store = store.clone();
            std::thread::spawn(move || {
                for _ in 0..20 {
                    store.activate_model("music", v).unwrap();
                    let active = store.active_model("music").unwrap();
                    assert!(active.is_some(), "a reader saw no active model mid-activation");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let actives = store.list_models("music").unwrap().into_iter().filter(|m| m.active).count();
    assert_eq!(actives, 1);
}
}

contract_test! {
fn jobs_lifecycle_and_restart(fx) {
    let store = fx.open();
    store.create_catalog("music").unwrap();
    let job = store.create_job("music", &json!({"model": "ials"})).unwrap();
    assert_eq!((job.state, job.progress, job.epoch), (JobState::Queued, 0.0, None));
    let running = store
        .update_job(
            job.id,
            &JobUpdate {
                state: Some(JobState::Running),
                progress: Some(0.5),
                epoch: Some(3),
                loss: Some(1.25),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        (running.state, running.epoch, running.loss),
        (JobState::Running, Some(3), Some(1.25))
    );
    assert!(matches!(
        store.update_job(job.id, &JobUpdate { progress: Some(1.5), ..Default::default() }),
        Err(Error::Invalid(_))
    ));
    let done = store
        .update_job(
            job.id,
            &JobUpdate {
                state: Some(JobState::Succeeded),
                progress: Some(1.0),
                metrics: Some(json!({"ndcg@10": 0.4})),
                model_version: Some(1),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!((done.state, done.model_version), (JobState::Succeeded, Some(1)));
    assert_eq!(done.request, json!({"model": "ials"}));
    assert!(matches!(
        store.update_job(
            job.id,
            &JobUpdate { state: Some(JobState::Running), ..Default::default() }
        ),
        Err(Error::Conflict(_))
    ));
    assert!(matches!(store.get_job(999), Err(Error::NotFound { kind: Resource::Job, .. })));

    let queued = store.create_job("music", &json!({})).unwrap();
    drop(store);
    let store = fx.open();
    assert_eq!(store.fail_unfinished_jobs("interrupted by a restart").unwrap(), 1);
    let failed = store.get_job(queued.id).unwrap();
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(failed.error.as_deref(), Some("interrupted by a restart"));
    assert_eq!(store.get_job(job.id).unwrap().state, JobState::Succeeded);
    let ids: Vec<_> = store.list_jobs(Some("music"), 10).unwrap().iter().map(|j| j.id).collect();
    assert_eq!(ids, [queued.id, job.id]);
    assert_eq!(store.list_jobs(None, 1).unwrap().len(), 1);
}
}

contract_test! {
fn a_jobs_model_is_registered_only_while_the_job_is_queued_or_running(fx) {
    let store = fx.open();
    store.create_catalog("music").unwrap();
    store.create_catalog("films").unwrap();
    let set = |id: u64, state: JobState| {
        store.update_job(id, &JobUpdate { state: Some(state), ..Default::default() }).unwrap();
    };
    let with_job = |job: u64, path: &str| NewModel { job: Some(job), ..model(None, path) };

    let queued = store.create_job("music", &json!({})).unwrap().id;
    assert_eq!(store.register_model("music", &with_job(queued, "q.enc")).unwrap().version, 1);
    let running = store.create_job("music", &json!({})).unwrap().id;
    set(running, JobState::Running);
    assert_eq!(store.register_model("music", &with_job(running, "r.enc")).unwrap().version, 2);

    for ended in [JobState::Failed, JobState::Succeeded, JobState::Cancelled] {
        let job = store.create_job("music", &json!({})).unwrap().id;
        set(job, ended);
        let err = store.register_model("music", &with_job(job, "late.enc")).unwrap_err();
        let expected = format!("job {job} is {}: its model is not registered", ended.as_str());
        assert!(matches!(err, Error::Conflict(ref m) if m.starts_with(&expected)), "{err}");
    }
    assert!(matches!(
        store.register_model("music", &with_job(999, "x.enc")),
        Err(Error::NotFound { kind: Resource::Job, .. })
    ));
    let other = store.create_job("films", &json!({})).unwrap().id;
    assert!(matches!(
        store.register_model("music", &with_job(other, "x.enc")),
        Err(Error::Invalid(_))
    ));
    // The refusals registered nothing and used no version.
    assert_eq!(store.list_models("music").unwrap().len(), 2);
    assert_eq!(store.register_model("music", &model(None, "n.enc")).unwrap().version, 3);
}
}
