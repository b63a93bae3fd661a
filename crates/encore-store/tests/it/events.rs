use encore_store::{Error, NewEvent, Resource};

use crate::event;

contract_test! {
fn append_returns_seq_range_and_events_read_back(fx) {
    let store = fx.open();
    assert!(matches!(
        store.append_events("music", &[event("u", "i")]),
        Err(Error::NotFound { .. })
    ));
    store.create_catalog("music").unwrap();
    let empty = store.append_events("music", &[]).unwrap();
    assert_eq!((empty.accepted, empty.seq_range), (0, None));
    let batch = vec![
        NewEvent { user_id: "u1".into(), item_id: "a".into(), weight: 2.5, timestamp: Some(100) },
        event("u2", "a"),
        event("u1", "b"),
    ];
    let r = store.append_events("music", &batch).unwrap();
    assert_eq!(r.accepted, 3);
    let (first, last) = r.seq_range.unwrap();
    assert_eq!(last - first, 2);
    let r2 = store.append_events("music", &[event("u1", "c")]).unwrap();
    assert_eq!(r2.seq_range, Some((last + 1, last + 1)));

    let u1 = store.user_events("music", "u1").unwrap();
    let items: Vec<_> = u1.iter().map(|e| e.item_id.as_str()).collect();
    assert_eq!(items, ["a", "b", "c"]);
    assert_eq!((u1[0].weight, u1[0].timestamp), (2.5, Some(100)));
    assert!(u1.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(matches!(
        store.user_events("music", "nobody"),
        Err(Error::NotFound { kind: Resource::User, .. })
    ));
    assert_eq!(store.user_events("music", "u2").unwrap().len(), 1);
    assert_eq!(store.count_events("music").unwrap(), 4);
    let stats = store.catalog_stats("music").unwrap();
    assert_eq!(
        (stats.users, stats.item_ids, stats.events, stats.last_event_seq),
        (2, 3, 4, last + 1)
    );
}
}

contract_test! {
fn append_is_all_or_nothing(fx) {
    let store = fx.open();
    store.create_catalog("music").unwrap();
    let bad_rows = [
        NewEvent { weight: -1.0, ..event("u1", "a") },
        NewEvent { weight: f32::NAN, ..event("u1", "a") },
        event("", "a"),
        event("u1", &"x".repeat(257)),
        event("u\n1", "a"),
    ];
    for bad in bad_rows {
        let err = store.append_events("music", &[event("u1", "ok"), bad]).unwrap_err();
        assert!(matches!(err, Error::Invalid(ref m) if m.starts_with("event 1:")), "{err}");
    }
    assert_eq!(store.count_events("music").unwrap(), 0);
    assert_eq!(store.catalog_stats("music").unwrap().users, 0);
}
}

contract_test! {
fn training_stream_respects_watermark_and_catalog(fx) {
    let store = fx.open();
    store.create_catalog("music").unwrap();
    store.create_catalog("films").unwrap();
    let r1 = store.append_events("music", &[event("u1", "a"), event("u2", "b")]).unwrap();
    store.append_events("films", &[event("u1", "f")]).unwrap();
    store.append_events("music", &[event("u3", "c")]).unwrap();

    let mut seen = Vec::new();
    let n = store
        .for_each_training_event("music", None, &mut |e| {
            seen.push((e.seq, e.user_id.to_owned(), e.item_id.to_owned(), e.weight))
        })
        .unwrap();
    assert_eq!(n, 3);
    let pairs: Vec<_> = seen.iter().map(|(_, u, i, _)| format!("{u}:{i}")).collect();
    assert_eq!(pairs, ["u1:a", "u2:b", "u3:c"]);
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0));

    let watermark = r1.seq_range.unwrap().1;
    let mut count = 0;
    store.for_each_training_event("music", Some(watermark), &mut |_| count += 1).unwrap();
    assert_eq!(count, 2);
}
}

contract_test! {
fn erase_user_removes_events_and_user_and_seqs_are_never_reused(fx) {
    let store = fx.open();
    store.create_catalog("music").unwrap();
    store.append_events("music", &[event("keep", "a")]).unwrap();
    let r = store.append_events("music", &[event("gone", "a"), event("gone", "b")]).unwrap();
    let erased = store.erase_user("music", "gone").unwrap();
    assert_eq!((erased.events_deleted, erased.user_deleted), (2, true));
    assert!(store.user_events("music", "gone").is_err());
    let again = store.erase_user("music", "gone").unwrap();
    assert_eq!((again.events_deleted, again.user_deleted), (0, false));
    let mut users = Vec::new();
    store
        .for_each_training_event("music", None, &mut |e| users.push(e.user_id.to_owned()))
        .unwrap();
    assert_eq!(users, ["keep"]);
    // The erased events had the highest seqs; new events must still get higher ones, or a model
    // watermark taken before the erasure would hide them.
    let next = store.append_events("music", &[event("new", "a")]).unwrap();
    assert!(next.seq_range.unwrap().0 > r.seq_range.unwrap().1);
    assert!(store.integrity_check().unwrap().is_empty());
}
}

contract_test! {
fn readers_see_committed_data_while_the_writer_is_busy(fx) {
    let store = fx.open();
    store.create_catalog("music").unwrap();
    store.append_events("music", &[event("u1", "a")]).unwrap();
    let store = std::sync::Arc::new(store);
    // A long import holds the writer; reads must not wait for it. The import pauses inside its
    // transaction until the reader is done (or 10 s pass): a read that waited for the writer would
    // take those 10 s. Channels, not sleeps, so that a loaded machine cannot reorder the steps.
    let (paused_tx, paused_rx) = std::sync::mpsc::channel::<()>();
    let (read_tx, read_rx) = std::sync::mpsc::channel::<()>();
    let writer = {
        let store = store.clone();
        std::thread::spawn(move || {
            let mut source = |sink: &mut dyn FnMut(encore_core::data::Record<'_>) -> bool| {
                for i in 0..20_000u64 {
                    let id = format!("i{i}");
                    let e = encore_core::data::Record {
                        user: "bulk",
                        item: &id,
                        weight: 1.0,
                        timestamp: None,
                        line: i + 1,
                    };
                    if !sink(e) {
                        break;
                    }
                    if i == 100 {
                        paused_tx.send(()).unwrap();
                        let _ = read_rx.recv_timeout(std::time::Duration::from_secs(10));
                    }
                }
                Ok(0)
            };
            let opts = encore_store::BulkImportOptions { origin: "gen", skip_invalid: false };
            store.bulk_import("music", &opts, &mut source, &mut |_| {}).unwrap()
        })
    };
    paused_rx.recv().unwrap();
    let t = std::time::Instant::now();
    assert_eq!(store.count_events("music").unwrap(), 1, "the import is not committed yet");
    assert!(t.elapsed() < std::time::Duration::from_secs(5), "a read waited for the writer");
    read_tx.send(()).unwrap();
    assert_eq!(writer.join().unwrap().rows, 20_000);
    assert_eq!(store.count_events("music").unwrap(), 20_001);
}
}
