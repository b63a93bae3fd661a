//! The approximate index of a large catalogue: built by the training job, recorded in the
//! registry, used for on-demand scoring with filters applied during the scan, and bypassed by
//! `"exact": true`.

use encore_core::model_file::ModelArtifact;
use encore_core::models::Query;
use encore_core::topk::top_n_filtered;
use encore_service::dto::{
    ActivatePolicy, CreateCatalog, EventInput, HistoryEntry, IngestEvents, Item, RecommendFilter,
    RecommendRequest, UpsertItems,
};
use encore_service::{Encore, ServiceConfig};

use crate::common::{ials, seed, train};

/// Items `b0…b599`, ten taste groups of 60; even items are tracks, every seventh unavailable.
const ITEMS: usize = 600;

/// An index for catalogues of 100 items and more, probing a single cluster (target recall 0),
/// so that its lists visibly differ from exact ones.
fn config(dir: &std::path::Path) -> ServiceConfig {
    let mut c = crate::common::config(dir);
    c.index_min_items = 100;
    c.index_target_recall = 0.0;
    c
}

fn seed_big(svc: &Encore) {
    svc.create_catalog(&CreateCatalog { name: "big".into() }).unwrap();
    let items = (0..ITEMS)
        .map(|i| Item {
            item_id: format!("b{i}"),
            title: format!("B {i}"),
            kind: if i % 2 == 0 { "track" } else { "album" }.into(),
            tags: vec![],
            available: i % 7 != 3,
            released: None,
        })
        .collect();
    svc.upsert_items("big", &UpsertItems { items }).unwrap();
    let mut events = Vec::new();
    for u in 0..300 {
        let g = u % 10;
        for k in 0..8 {
            events.push(EventInput {
                user_id: format!("u{u}"),
                item_id: format!("b{}", g * 60 + (u * 7 + k * 13) % 60),
                weight: Some(1.0),
                timestamp: None,
            });
        }
    }
    svc.ingest_events("big", &IngestEvents { events }).unwrap();
}

fn history(items: &[usize]) -> Vec<HistoryEntry> {
    items.iter().map(|i| HistoryEntry { item_id: format!("b{i}"), weight: Some(1.0) }).collect()
}

/// The ids of an answer.
fn ids(svc: &Encore, req: &RecommendRequest) -> Vec<(String, f32)> {
    let r = svc.recommend("big", req).unwrap();
    r.recommendations.into_iter().map(|r| (r.item_id, r.score)).collect()
}

/// Catalog item number of an id `b{i}`.
fn number(id: &str) -> usize {
    id[1..].parse().unwrap()
}

service_test! {
fn a_large_catalogue_gets_an_index_recorded_in_the_registry_and_a_small_one_none(fx) {
    let svc = fx.open_with(config(fx.dir()));
    seed_big(&svc);
    seed(&svc, "music");
    train(&svc, "big", &ials(ActivatePolicy::Always, None));
    train(&svc, "music", &ials(ActivatePolicy::Always, None));

    let big = &svc.list_models("big").unwrap().models[0];
    let index = big.index.as_ref().expect("600 items are above the threshold of 100");
    let file = ModelArtifact::load(&fx.dir().join("models/big/v1.enc")).unwrap();
    let stored = file.index.as_ref().unwrap();
    assert_eq!(index.kind, "ivf");
    assert_eq!((index.clusters, index.probes), (stored.info.clusters, 1));
    assert_eq!(index.recall_at_10, stored.info.recall_at_10);
    assert_eq!(index.sampled_users, 300);
    assert!(index.recall_at_10 > 0.0 && index.recall_at_10 < 1.0, "{index:?}");
    assert!(big.metrics.is_empty(), "the index is not a holdout metric: {:?}", big.metrics);
    // 40 items: no index, said as null.
    assert_eq!(svc.list_models("music").unwrap().models[0].index, None);
    // A restart loads the stored index instead of rebuilding it.
    drop(svc);
    let svc = fx.open_with(config(fx.dir()));
    let loaded = svc.loaded_models();
    let big = loaded.iter().find(|m| m.catalog == "big").unwrap();
    assert_eq!(big.index_recall_at_10, Some(index.recall_at_10));
    assert_eq!(loaded.iter().find(|m| m.catalog == "music").unwrap().index_recall_at_10, None);
}
}

service_test! {
fn on_demand_requests_use_the_index_with_filters_and_exact_bypasses_it(fx) {
    let svc = fx.open_with(config(fx.dir()));
    seed_big(&svc);
    train(&svc, "big", &ials(ActivatePolicy::Always, None));
    let file = ModelArtifact::load(&fx.dir().join("models/big/v1.enc")).unwrap();
    let rec = file.recommender();
    let f = rec.factor_scoring().unwrap();
    let index = file.index.as_ref().unwrap();
    // A taken-down item never comes back, whichever way the list is scored.
    let gone = "b61";
    svc.delete_item("big", gone).unwrap();
    let available = |id: &str| number(id) % 7 != 3 && id != gone;

    let mut differs = 0;
    for g in 0..10 {
        // Five of the items user `u{g}` played (so the model knows them).
        let hist: Vec<usize> = (0..5).map(|k| g * 60 + (g * 7 + k * 13) % 60).collect();
        let model_hist: Vec<u32> = {
            let mut m: Vec<u32> =
                hist.iter().map(|i| file.items.get(&format!("b{i}")).unwrap()).collect();
            m.sort_unstable();
            m
        };
        let weights = vec![1.0f32; model_hist.len()];
        let mut scores = vec![0f32; rec.n_items()];
        rec.score(&Query::from_history(&model_hist, &weights), &mut scores);
        let v = rec.query_vector(&Query::from_history(&model_hist, &weights)).unwrap();
        let keep_model = |m: u32| available(file.items.id(m));
        let to_ids = |list: Vec<encore_core::topk::ScoredItem>| -> Vec<(String, f32)> {
            list.into_iter().map(|s| (file.items.id(s.item).to_string(), s.score)).collect()
        };

        let req =
            RecommendRequest { history: Some(history(&hist)), n: Some(10), ..Default::default() };
        let exact_req = RecommendRequest { exact: Some(true), ..req.clone() };
        // Exact: every item scored, the one-user path's list.
        let exact = to_ids(top_n_filtered(&scores, 10, &model_hist, keep_model));
        assert_eq!(ids(&svc, &exact_req), exact, "group {g}");
        // Default: the index's single probed cluster, filters applied in the scan.
        let approx = ids(&svc, &req);
        assert_eq!(approx, to_ids(index.top_n(f, &v, 10, None, &model_hist, &keep_model)));
        assert!(approx.iter().all(|(id, _)| available(id)), "{approx:?}");
        differs += usize::from(approx != exact);

        // A filter the index applies while scanning: a full list of tracks only, the best
        // tracks of the probed cluster (its size allowing).
        let tracks = RecommendRequest {
            filter: Some(RecommendFilter {
                kinds: Some(vec!["track".into()]),
                ..Default::default()
            }),
            ..req.clone()
        };
        let keep_tracks = |m: u32| keep_model(m) && number(file.items.id(m)).is_multiple_of(2);
        let got = ids(&svc, &tracks);
        assert_eq!(got, to_ids(index.top_n(f, &v, 10, None, &model_hist, &keep_tracks)));
        assert!(got.iter().all(|(id, _)| number(id).is_multiple_of(2) && available(id)));
        let exact_tracks = RecommendRequest { exact: Some(true), ..tracks };
        let want = to_ids(top_n_filtered(&scores, 10, &model_hist, keep_tracks));
        assert_eq!(ids(&svc, &exact_tracks), want);
    }
    assert!(differs > 0, "one probed cluster never changed a list: the index was not used");

    // A known user: exact is the model's exact list from the stored parameters (the
    // precomputed table answers when enough of it passes the filters, the kernel otherwise).
    let (row, query) = file.user_query("u3").unwrap();
    let mut scores = vec![0f32; rec.n_items()];
    rec.score(&query, &mut scores);
    let keep_model = |m: u32| available(file.items.id(m));
    let want: Vec<(String, f32)> =
        top_n_filtered(&scores, 8, file.train.row(row as usize).indices, keep_model)
            .into_iter()
            .map(|s| (file.items.id(s.item).to_string(), s.score))
            .collect();
    let user = RecommendRequest {
        user_id: Some("u3".into()),
        n: Some(8),
        exact: Some(true),
        ..Default::default()
    };
    assert_eq!(ids(&svc, &user), want);
}
}
