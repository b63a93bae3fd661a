//! Recommendations: sources, exactness of the cache, freshness, filters, explanations.

use encore_service::dto::{
    ActivatePolicy, EventInput, HistoryEntry, IngestEvents, RecommendFilter, RecommendRequest,
    Source,
};
use encore_service::{Error, ErrorClass};

use crate::common::*;

fn user_req(user: &str, n: usize) -> RecommendRequest {
    RecommendRequest { user_id: Some(user.into()), n: Some(n), ..Default::default() }
}

service_test! {
fn each_source_answers_as_documented(fx) {
    let svc = fx.trained();

    let r = svc.recommend("music", &user_req("u5", 5)).unwrap();
    assert_eq!(r.source, Source::Model);
    assert_eq!(r.model_version.as_deref(), Some("v1"));
    assert_eq!(r.recommendations.len(), 5);
    let seen = svc.user_data("music", "u5").unwrap();
    for rec in &r.recommendations {
        assert!(seen.events.iter().all(|e| e.item_id != rec.item_id), "seen item recommended");
        assert!(!rec.title.is_empty() && !rec.kind.is_empty());
    }
    // Planted taste: u5 is in group 1, so its best unseen items are group 1 items.
    let top = &r.recommendations[0].item_id;
    assert_eq!(item_group(top[1..].parse().unwrap()), 1, "{r:?}");
    assert!(r.recommendations.windows(2).all(|w| w[0].score >= w[1].score));

    let history = RecommendRequest {
        history: Some(vec![
            HistoryEntry { item_id: "i21".into(), weight: None },
            HistoryEntry { item_id: "i22".into(), weight: Some(2.0) },
            HistoryEntry { item_id: "no-such-item".into(), weight: None },
        ]),
        n: Some(3),
        ..Default::default()
    };
    let r = svc.recommend("music", &history).unwrap();
    assert_eq!(r.source, Source::History);
    assert!(r.user_id.is_none());
    assert!(r.recommendations.iter().all(|x| x.item_id != "i21" && x.item_id != "i22"));
    assert_eq!(item_group(r.recommendations[0].item_id[1..].parse().unwrap()), 2);

    let r = svc.recommend("music", &user_req("stranger", 4)).unwrap();
    assert_eq!(r.source, Source::Popular);
    assert_eq!(r.recommendations[0].item_id, "i0", "i0 is played by every user");
    assert_eq!(r.recommendations[0].score, USERS as f32);

    let only_unknown = RecommendRequest {
        history: Some(vec![HistoryEntry { item_id: "nope".into(), weight: None }]),
        ..Default::default()
    };
    assert_eq!(svc.recommend("music", &only_unknown).unwrap().source, Source::Popular);
}
}

service_test! {
fn cached_answers_equal_on_demand_scoring(fx) {
    let svc = fx.trained();
    // candidates_per_user is 5: n = 5 is served from the cache, n = 8 is scored on demand.
    for u in 0..USERS {
        let user = format!("u{u}");
        let cached = svc.recommend("music", &user_req(&user, 5)).unwrap();
        let fresh = svc.recommend("music", &user_req(&user, 8)).unwrap();
        assert_eq!(cached.source, Source::Model);
        assert_eq!(cached.recommendations[..], fresh.recommendations[..5], "user {user}");
    }
    // A filter answered from the cache when enough cached items pass, else on demand: same
    // results as a pure on-demand filtered selection (n beyond the cache).
    let filter = RecommendFilter { kinds: Some(vec!["track".into()]), ..Default::default() };
    for u in 0..20 {
        let mut a = user_req(&format!("u{u}"), 2);
        a.filter = Some(filter.clone());
        let mut b = a.clone();
        b.n = Some(9);
        let a = svc.recommend("music", &a).unwrap();
        let b = svc.recommend("music", &b).unwrap();
        assert_eq!(a.recommendations[..], b.recommendations[..a.recommendations.len()]);
    }
}
}

service_test! {
fn new_plays_count_at_once_and_are_excluded(fx) {
    let svc = fx.trained();
    let before = svc.recommend("music", &user_req("u4", 10)).unwrap();
    assert_eq!(before.source, Source::Model);
    // u4 (group 0) plays three group-3 items.
    let plays: Vec<EventInput> = ["i31", "i33", "i35"]
        .iter()
        .map(|i| EventInput {
            user_id: "u4".into(),
            item_id: (*i).into(),
            weight: Some(3.0),
            timestamp: None,
        })
        .collect();
    svc.ingest_events("music", &IngestEvents { events: plays }).unwrap();
    let after = svc.recommend("music", &user_req("u4", 10)).unwrap();
    assert_eq!(after.source, Source::History);
    assert_ne!(before.recommendations, after.recommendations);
    for rec in &after.recommendations {
        assert!(!["i31", "i33", "i35"].contains(&rec.item_id.as_str()), "played item recommended");
    }
    assert!(after.recommendations.iter().any(|r| item_group(r.item_id[1..].parse().unwrap()) == 3));
    // The fold-in list is cached for this history: a repeat is identical, and the cached first
    // five equal the on-demand first five (n = 8 is beyond candidates_per_user = 5).
    assert_eq!(svc.recommend("music", &user_req("u4", 10)).unwrap(), after);
    let five = svc.recommend("music", &user_req("u4", 5)).unwrap();
    let eight = svc.recommend("music", &user_req("u4", 8)).unwrap();
    assert_eq!(five.recommendations[..], eight.recommendations[..5]);
    // One more play changes the history, so the cached list is not served for it.
    let top = five.recommendations[0].item_id.clone();
    let play =
        EventInput { user_id: "u4".into(), item_id: top.clone(), weight: None, timestamp: None };
    svc.ingest_events("music", &IngestEvents { events: vec![play] }).unwrap();
    let again = svc.recommend("music", &user_req("u4", 5)).unwrap();
    assert!(again.recommendations.iter().all(|r| r.item_id != top), "just played: {again:?}");
    // Without exclusion the played items may come back (i31 is one of the unavailable ones).
    let mut all = user_req("u4", 40);
    all.exclude_seen = Some(false);
    all.filter = Some(RecommendFilter { include_unavailable: Some(true), ..Default::default() });
    let all = svc.recommend("music", &all).unwrap();
    assert!(all.recommendations.iter().any(|r| r.item_id == "i31"));

    // A brand-new user with events is scored from its history.
    let new_user = vec![EventInput {
        user_id: "newbie".into(),
        item_id: "i12".into(),
        weight: None,
        timestamp: None,
    }];
    svc.ingest_events("music", &IngestEvents { events: new_user }).unwrap();
    let r = svc.recommend("music", &user_req("newbie", 3)).unwrap();
    assert_eq!(r.source, Source::History);
    assert!(r.recommendations.iter().all(|x| x.item_id != "i12"));
}
}

service_test! {
fn filters_are_applied_inside_the_selection(fx) {
    let svc = fx.trained();
    let catalog_items = items();
    let meta = |id: &str| catalog_items.iter().find(|i| i.item_id == id).unwrap().clone();
    let cases = [
        RecommendFilter { kinds: Some(vec!["album".into()]), ..Default::default() },
        RecommendFilter { tags_any: Some(vec!["g3".into(), "g2".into()]), ..Default::default() },
        RecommendFilter { tags_all: Some(vec!["g1".into(), "even".into()]), ..Default::default() },
        RecommendFilter { only_available: Some(true), ..Default::default() },
        RecommendFilter {
            exclude_items: Some(vec!["i11".into(), "i12".into()]),
            ..Default::default()
        },
    ];
    for user in ["u1", "u2", "stranger"] {
        for (k, filter) in cases.iter().enumerate() {
            let mut req = user_req(user, 6);
            req.filter = Some(filter.clone());
            let r = svc.recommend("music", &req).unwrap();
            assert!(!r.recommendations.is_empty(), "case {k} for {user}");
            for rec in &r.recommendations {
                let m = meta(&rec.item_id);
                match k {
                    0 => assert_eq!(m.kind, "album"),
                    1 => assert!(m.tags.iter().any(|t| t == "g3" || t == "g2")),
                    2 => assert!(
                        m.tags.contains(&"g1".to_string()) && m.tags.contains(&"even".to_string())
                    ),
                    3 => assert!(m.available),
                    _ => assert!(rec.item_id != "i11" && rec.item_id != "i12"),
                }
            }
        }
    }
    let mut none = user_req("u1", 5);
    none.filter =
        Some(RecommendFilter { tags_all: Some(vec!["no-such-tag".into()]), ..Default::default() });
    assert!(svc.recommend("music", &none).unwrap().recommendations.is_empty());
}
}

service_test! {
fn explanations_name_history_items(fx) {
    let svc = fx.trained();
    let mut req = user_req("u6", 3);
    req.explain = Some(true);
    let r = svc.recommend("music", &req).unwrap();
    let history: Vec<String> =
        svc.user_data("music", "u6").unwrap().events.into_iter().map(|e| e.item_id).collect();
    for rec in &r.recommendations {
        let because = rec.because.as_ref().expect("explain asked");
        assert!(!because.is_empty());
        assert!(because.iter().all(|b| history.contains(&b.item_id)));
        assert!(because.windows(2).all(|w| w[0].contribution >= w[1].contribution));
    }
    let plain = svc.recommend("music", &user_req("u6", 3)).unwrap();
    assert!(plain.recommendations.iter().all(|r| r.because.is_none()));
}
}

service_test! {
fn similar_items_and_request_errors(fx) {
    let svc = fx.trained();
    let s = svc.similar_items("music", "i21", Some(4)).unwrap();
    assert_eq!(s.similar.len(), 4);
    assert!(s.similar.iter().all(|x| x.item_id != "i21"));
    assert_eq!(svc.similar_items("music", "nope", None).unwrap_err().class(), ErrorClass::NotFound);

    let bad = [
        RecommendRequest::default(),
        RecommendRequest { n: Some(0), ..user_req("u1", 1) },
        RecommendRequest { n: Some(1001), ..user_req("u1", 1) },
        RecommendRequest { history: Some(vec![]), ..user_req("u1", 1) },
        RecommendRequest { user_id: Some(String::new()), ..Default::default() },
        RecommendRequest {
            history: Some(vec![HistoryEntry { item_id: "i1".into(), weight: Some(-1.0) }]),
            ..Default::default()
        },
    ];
    for req in bad {
        let e = svc.recommend("music", &req).unwrap_err();
        assert_eq!(e.class(), ErrorClass::BadRequest, "{req:?}: {e}");
        assert!(matches!(e, Error::Invalid { .. }), "{e:?}");
    }
    assert_eq!(
        svc.recommend("films", &user_req("u1", 1)).unwrap_err().class(),
        ErrorClass::NotFound
    );
    svc.create_catalog(&encore_service::dto::CreateCatalog { name: "films".into() }).unwrap();
    // No model: recommendations fall back to popular items (none yet), similar items conflict.
    let r = svc.recommend("films", &user_req("u1", 1)).unwrap();
    assert_eq!((r.source, r.model_version, r.recommendations.len()), (Source::Popular, None, 0));
    let e = svc.similar_items("films", "i1", None).unwrap_err();
    assert_eq!(e.class(), ErrorClass::NotFound, "films has no item i1: {e}");
}
}

service_test! {
fn item_based_models_serve_every_source_too(fx) {
    let svc = fx.open();
    seed(&svc, "music");
    for model in ["itemknn", "ease"] {
        let req = encore_service::dto::TrainRequest {
            model: model.into(),
            params: Default::default(),
            holdout: None,
            activate: Some(encore_service::dto::ActivatePolicy::Always),
            ..Default::default()
        };
        train(&svc, "music", &req);
        let r = svc.recommend("music", &user_req("u5", 5)).unwrap();
        assert_eq!(r.source, Source::Model, "{model}");
        let seen = svc.user_data("music", "u5").unwrap();
        assert!(
            r.recommendations.iter().all(|x| seen.events.iter().all(|e| e.item_id != x.item_id))
        );
        assert_eq!(
            item_group(r.recommendations[0].item_id[1..].parse().unwrap()),
            1,
            "{model}: {r:?}"
        );
        let mut explained = user_req("u5", 2);
        explained.explain = Some(true);
        let r = svc.recommend("music", &explained).unwrap();
        assert!(
            r.recommendations.iter().all(|x| !x.because.as_ref().unwrap().is_empty()),
            "{model}"
        );
        assert_eq!(svc.similar_items("music", "i11", Some(3)).unwrap().similar.len(), 3);
    }
}
}

service_test! {
fn concurrent_on_demand_requests_get_the_answers_of_requests_alone(fx) {
    use encore_service::dto::{ActivatePolicy, CreateCatalog, TrainRequest};
    let svc = fx.open();
    // A catalogue large enough (20,000 items × 64 factors) that scoring a request takes a while,
    // so that requests sent together overlap and queue behind the leaders.
    svc.create_catalog(&CreateCatalog { name: "big".into() }).unwrap();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let events: Vec<EventInput> = (0..300 * 20)
        .map(|e| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            EventInput {
                user_id: format!("u{}", e / 20),
                item_id: format!("i{}", x % 20_000),
                weight: None,
                timestamp: None,
            }
        })
        .collect();
    svc.ingest_events("big", &IngestEvents { events }).unwrap();
    let params = serde_json::json!({"factors": 64, "iterations": 1});
    let job = svc
        .start_training(
            "big",
            &TrainRequest {
                model: "ials".into(),
                params: params.as_object().unwrap().clone(),
                holdout: None,
                activate: Some(ActivatePolicy::Always),
                ..Default::default()
            },
        )
        .unwrap();
    let info = svc.wait_for_job(job.job_id, std::time::Duration::from_secs(120)).unwrap();
    assert!(info.activated == Some(true), "{info:?}");
    // Ad-hoc histories and requests beyond the table's width: all scored on demand.
    let requests: Vec<RecommendRequest> = (0..16)
        .map(|j| {
            if j % 2 == 0 {
                RecommendRequest {
                    history: Some(vec![
                        HistoryEntry { item_id: format!("i{}", j * 11), weight: None },
                        HistoryEntry { item_id: format!("i{}", j * 13 + 1), weight: Some(2.0) },
                    ]),
                    n: Some(6),
                    ..Default::default()
                }
            } else {
                user_req(&format!("u{j}"), 30)
            }
        })
        .collect();
    // Alone: one at a time, each scores itself.
    let alone: Vec<_> = requests.iter().map(|r| svc.recommend("big", r).unwrap()).collect();
    assert_eq!(svc.loaded_models()[0].batched_requests, 0, "nothing to batch one at a time");
    // Together: eight threads sending all of them at once, ten times over.
    std::thread::scope(|s| {
        for t in 0..8 {
            let (svc, requests, alone) = (&svc, &requests, &alone);
            s.spawn(move || {
                for round in 0..10 {
                    for (j, r) in requests.iter().enumerate().skip((t + round) % 3) {
                        let got = svc.recommend("big", r).unwrap();
                        assert_eq!(got.recommendations, alone[j].recommendations, "request {j}");
                    }
                }
            });
        }
    });
    let batched = svc.loaded_models()[0].batched_requests;
    assert!(batched > 0, "no request was scored in a shared batch");
}
}

service_test! {
fn events_ingested_while_a_model_trains_count_after_its_activation_and_a_restart(fx) {
    let svc = fx.trained();
    // Two writers append plays while v2 trains and activates: every play is either in v2's
    // snapshot or newer than its watermark, so it counts for its user (folded in) either way.
    let job = svc.start_training("music", &ials(ActivatePolicy::Always, None)).unwrap();
    std::thread::scope(|s| {
        for t in 0..2 {
            let svc = &svc;
            s.spawn(move || {
                for k in 0..30 {
                    let play = EventInput {
                        user_id: format!("late{t}"),
                        item_id: format!("i{}", 30 + (k % 10)),
                        weight: None,
                        timestamp: None,
                    };
                    svc.ingest_events("music", &IngestEvents { events: vec![play] }).unwrap();
                }
            });
        }
    });
    let info = svc.wait_for_job(job.job_id, std::time::Duration::from_secs(120)).unwrap();
    assert_eq!(info.model_version.as_deref(), Some("v2"), "{info:?}");
    let reqs: Vec<RecommendRequest> =
        ["late0", "late1", "u3", "u7"].iter().map(|u| user_req(u, 6)).collect();
    let before: Vec<_> = reqs.iter().map(|r| svc.recommend("music", r).unwrap()).collect();
    for (r, u) in before.iter().zip(["late0", "late1"]) {
        assert_ne!(r.source, Source::Popular, "{u}'s plays were lost: {r:?}");
        let played = svc.user_data("music", u).unwrap().events;
        assert!(
            r.recommendations.iter().all(|x| played.iter().all(|e| e.item_id != x.item_id)),
            "{u}: a played item recommended: {r:?}"
        );
    }
    assert_eq!(svc.user_data("music", "late0").unwrap().events.len(), 30);
    assert_eq!(svc.catalog("music").unwrap().events, (USERS * 7 + 60) as u64);
    drop(svc);
    // The same answers from what the store kept.
    let svc = fx.open();
    let after: Vec<_> = reqs.iter().map(|r| svc.recommend("music", r).unwrap()).collect();
    assert_eq!(before, after);
}
}
