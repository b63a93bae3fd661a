//! Catalogs, items, events (validation, all-or-nothing) and erasure.

use encore_service::dto::{
    ActivatePolicy, CreateCatalog, EventInput, IngestEvents, ItemFields, RecommendRequest, Source,
    UpsertItems,
};
use encore_service::{Error, ErrorClass};

use crate::common::*;

service_test! {
fn catalogs_are_validated_listed_and_deleted(fx) {
    let svc = fx.open();
    for bad in ["", "Music", "a b", "-x", &"x".repeat(65)] {
        let e = svc.create_catalog(&CreateCatalog { name: bad.into() }).unwrap_err();
        assert_eq!(e.class(), ErrorClass::BadRequest, "{bad}");
    }
    seed(&svc, "music");
    let e = svc.create_catalog(&CreateCatalog { name: "music".into() }).unwrap_err();
    assert_eq!(e.class(), ErrorClass::Conflict);
    let info = svc.catalog("music").unwrap();
    assert_eq!(
        (info.items, info.users, info.events),
        (ITEMS as u64, USERS as u64, (USERS * 7) as u64)
    );
    assert_eq!(info.active_model, None);
    assert_eq!(svc.default_catalog().unwrap(), "music");
    train(&svc, "music", &ials(ActivatePolicy::Always, None));
    assert_eq!(svc.catalog("music").unwrap().active_model.as_deref(), Some("v1"));
    assert!(fx.dir().join("models/music/v1.enc").exists());
    svc.delete_catalog("music").unwrap();
    assert!(!fx.dir().join("models/music/v1.enc").exists());
    assert_eq!(svc.catalog("music").unwrap_err().class(), ErrorClass::NotFound);
    assert!(svc.list_catalogs().unwrap().catalogs.is_empty());
}
}

service_test! {
fn event_batches_are_all_or_nothing_with_every_bad_row(fx) {
    let svc = fx.open();
    seed(&svc, "music");
    let ok = |u: &str, i: &str| EventInput {
        user_id: u.into(),
        item_id: i.into(),
        weight: None,
        timestamp: None,
    };
    let events = vec![
        ok("u1", "i1"),
        EventInput { weight: Some(-2.0), ..ok("u1", "i2") },
        ok("", "i3"),
        EventInput { weight: Some(f64::NAN), ..ok("u1", &"x".repeat(300)) },
        EventInput { timestamp: Some(-5), ..ok("u1", "i4") },
    ];
    let before = svc.catalog("music").unwrap().events;
    let e = svc.ingest_events("music", &IngestEvents { events }).unwrap_err();
    assert_eq!(e.class(), ErrorClass::BadRequest);
    let rows: Vec<(usize, &str)> = e.rows().iter().map(|r| (r.index, r.field.as_str())).collect();
    assert_eq!(
        rows,
        vec![(1, "weight"), (2, "user_id"), (3, "item_id"), (3, "weight"), (4, "timestamp")]
    );
    assert_eq!(svc.catalog("music").unwrap().events, before, "nothing stored");

    // An unknown item is created bare, so the event is kept.
    let r =
        svc.ingest_events("music", &IngestEvents { events: vec![ok("u1", "brand-new")] }).unwrap();
    assert_eq!(r.accepted, 1);
    let bare = svc.get_item("music", "brand-new").unwrap();
    assert_eq!((bare.title.as_str(), bare.available), ("", true));
    assert_eq!(
        svc.ingest_events("nope", &IngestEvents { events: vec![] }).unwrap_err().class(),
        ErrorClass::NotFound
    );
}
}

service_test! {
fn items_upsert_get_put_delete(fx) {
    let svc = fx.open();
    seed(&svc, "music");
    let mut bad = items()[..3].to_vec();
    bad[1].released = Some("1999-13-01".into());
    bad[2].tags.push(String::new());
    let e = svc.upsert_items("music", &UpsertItems { items: bad }).unwrap_err();
    let rows: Vec<(usize, &str)> = e.rows().iter().map(|r| (r.index, r.field.as_str())).collect();
    assert_eq!(rows, vec![(1, "released"), (2, "tags[2]")]);

    let fields = ItemFields {
        title: "New title".into(),
        kind: "single".into(),
        tags: vec!["x".into()],
        available: false,
        released: Some("2001-02-03".into()),
    };
    let put = svc.put_item("music", "i5", &fields).unwrap();
    assert_eq!(svc.get_item("music", "i5").unwrap(), put);
    let e = svc
        .put_item("music", "i5", &ItemFields { released: Some("x".into()), ..fields.clone() })
        .unwrap_err();
    assert!(matches!(&e, Error::Invalid { field, .. } if field == "released"), "{e:?}");
    svc.delete_item("music", "i5").unwrap();
    // Taken down: gone for clients (its events stay as history); a second delete finds nothing.
    assert_eq!(svc.get_item("music", "i5").unwrap_err().class(), ErrorClass::NotFound);
    assert_eq!(svc.delete_item("music", "i5").unwrap_err().class(), ErrorClass::NotFound);
    // Storing it again brings it back.
    assert_eq!(svc.put_item("music", "i5", &fields).unwrap(), svc.get_item("music", "i5").unwrap());
    assert_eq!(svc.get_item("music", "never").unwrap_err().class(), ErrorClass::NotFound);
}
}

/// True when `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

service_test! {
fn erasure_removes_the_user_from_every_model_file_and_response(fx) {
    let svc = fx.open();
    seed(&svc, "music");
    let victim = "victim-7f3a";
    let plays: Vec<EventInput> = ["i11", "i12", "i14", "i17"]
        .iter()
        .map(|i| EventInput {
            user_id: victim.into(),
            item_id: (*i).into(),
            weight: None,
            timestamp: None,
        })
        .collect();
    svc.ingest_events("music", &IngestEvents { events: plays }).unwrap();
    train(&svc, "music", &ials(ActivatePolicy::Always, None));
    train(&svc, "music", &ials(ActivatePolicy::Never, None));
    let files = [fx.dir().join("models/music/v1.enc"), fx.dir().join("models/music/v2.enc")];
    for f in &files {
        assert!(contains(&std::fs::read(f).unwrap(), victim.as_bytes()), "fixture: id is in {f:?}");
    }
    let req = RecommendRequest { user_id: Some(victim.into()), ..Default::default() };
    assert_eq!(svc.recommend("music", &req).unwrap().source, Source::Model);

    let receipt = svc.erase_user("music", victim).unwrap();
    assert_eq!((receipt.events_removed, receipt.models_rewritten), (4, 2));
    assert_eq!(receipt.versions_rewritten, ["v1", "v2"]);
    for f in &files {
        assert!(!contains(&std::fs::read(f).unwrap(), victim.as_bytes()), "id left in {f:?}");
    }
    // On a shared database the stored copies, which other replicas fetch, are rewritten too.
    if let Some(feed) = svc.store().replica_feed() {
        for version in [1, 2] {
            let mut stored = Vec::new();
            feed.read_model_blob("music", version, &mut stored).unwrap();
            assert!(!contains(&stored, victim.as_bytes()), "id left in stored v{version}");
            assert_eq!(stored, std::fs::read(&files[version as usize - 1]).unwrap());
        }
    }
    let r = svc.recommend("music", &req).unwrap();
    assert_eq!(r.source, Source::Popular);
    // The response echoes the requested id and nothing else about the user.
    assert!(!serde_json::to_string(&r.recommendations).unwrap().contains("victim"));
    assert_eq!(svc.user_data("music", victim).unwrap_err().class(), ErrorClass::NotFound);
    // Other users are still served by the model, with the erased model still active.
    assert_eq!(
        svc.recommend(
            "music",
            &RecommendRequest { user_id: Some("u3".into()), ..Default::default() }
        )
        .unwrap()
        .source,
        Source::Model
    );
    // The rewritten files load and the registry has their new sizes.
    for m in svc.list_models("music").unwrap().models {
        let path = fx.dir().join(format!("models/music/{}.enc", m.version));
        assert_eq!(m.size_bytes, std::fs::metadata(path).unwrap().len());
    }
    svc.activate_model("music", "v2").unwrap();
    // Erasing again is not an error.
    let again = svc.erase_user("music", victim).unwrap();
    assert_eq!((again.events_removed, again.models_rewritten), (0, 0));
}
}
