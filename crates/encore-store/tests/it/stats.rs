use encore_store::{Error, NewEvent, NewItem, Resource};

use crate::event;

fn at(user: &str, item: &str, timestamp: i64) -> NewEvent {
    NewEvent { timestamp: Some(timestamp), ..event(user, item) }
}

contract_test! {
fn the_timeline_buckets_by_time_with_gaps_and_survives_extreme_timestamps(fx) {
    let store = fx.open();
    assert!(matches!(
        store.event_timeline("music", 3600, 10),
        Err(Error::NotFound { kind: Resource::Catalog, .. })
    ));
    store.create_catalog("music").unwrap();
    assert_eq!(store.event_timeline("music", 3600, 10).unwrap().buckets, []);
    // Negative times fall in the bucket below (floor, not truncation).
    let batch = [at("u", "a", -1), at("u", "b", 0), at("u", "c", 3599), at("u", "d", 3 * 3600)];
    store.append_events("music", &batch).unwrap();
    let t = store.event_timeline("music", 3600, 10).unwrap();
    assert_eq!(t.buckets, [(-3600, 1), (0, 2), (3600, 0), (7200, 0), (10_800, 1)]);
    assert_eq!(t.earlier_events, 0);
    let last_two = store.event_timeline("music", 3600, 2).unwrap();
    assert_eq!((last_two.buckets, last_two.earlier_events), (vec![(7200, 0), (10_800, 1)], 3));
    // The far ends of i64 neither overflow nor loop for ever.
    store.append_events("music", &[at("u", "e", i64::MIN), at("u", "f", i64::MAX)]).unwrap();
    let t = store.event_timeline("music", 86_400, 1000).unwrap();
    assert_eq!(t.buckets.len(), 1000);
    assert_eq!(t.buckets.last().unwrap().1, 1);
    assert_eq!(t.buckets.iter().map(|b| b.1).sum::<u64>() + t.earlier_events, 6);
}
}

contract_test! {
fn item_counts_search_and_user_samples(fx) {
    let store = fx.open();
    store.create_catalog("music").unwrap();
    let item = |id: &str, title: &str| NewItem {
        item_id: id.into(),
        title: title.into(),
        kind: "track".into(),
        tags: vec![],
        available: true,
        released: None,
    };
    store
        .upsert_items(
            "music",
            &[item("a1", "Blue Train"), item("a2", "Giant Steps"), item("b1", "So What")],
        )
        .unwrap();
    let mut events = Vec::new();
    for u in 0..10 {
        events.push(event(&format!("u{u}"), "a2"));
        if u % 2 == 0 {
            events.push(event(&format!("u{u}"), "b1"));
        }
    }
    events.push(event("u0", "bare"));
    store.append_events("music", &events).unwrap();
    assert_eq!(
        store.item_event_counts("music").unwrap(),
        [("a2".to_string(), 10), ("b1".to_string(), 5), ("bare".to_string(), 1)]
    );

    let ids = |q: &str, after: u64, limit: usize| {
        let page = store.search_items("music", q, after, limit).unwrap();
        (page.items.iter().map(|i| i.item_id.clone()).collect::<Vec<_>>(), page.next_after)
    };
    // Id prefix or title substring, ignoring case; bare items (no metadata) are not listed.
    assert_eq!(ids("A2", 0, 10).0, ["a2"]);
    assert_eq!(ids("a", 0, 10).0, ["a1", "a2", "b1"], "b1 by its title, So What");
    assert_eq!(ids("blue", 0, 10).0, ["a1"]);
    assert_eq!(ids("wHAT", 0, 10).0, ["b1"]);
    assert_eq!(ids("", 0, 10).0, ["a1", "a2", "b1"]);
    let (first, next) = ids("", 0, 2);
    assert_eq!(first, ["a1", "a2"]);
    assert_eq!(ids("", next.unwrap(), 2), (vec!["b1".to_string()], None));
    // `%` and `_` are text, not patterns.
    assert!(ids("%", 0, 10).0.is_empty() && ids("_", 0, 10).0.is_empty());

    let (sample, total) = store.sample_users("music", 3).unwrap();
    assert_eq!(total, 10);
    assert_eq!(sample, ["u0", "u4", "u8"], "every ceil(10 / 3) = 4th user");
    assert_eq!(store.sample_users("music", 100).unwrap().0.len(), 10);
}
}
