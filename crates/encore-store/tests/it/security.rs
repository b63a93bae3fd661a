use encore_store::{Error, NewApiKey, NewAuditEntry, Role};
use serde_json::json;

contract_test! {
fn api_keys_create_find_revoke(fx) {
    let store = fx.open();
    let key = NewApiKey {
        name: "ingest".into(),
        role: Role::Writer,
        catalog: Some("music".into()),
        hash: "ab".repeat(32),
        prefix: "ek_1234".into(),
    };
    let created = store.create_api_key(&key).unwrap();
    assert_eq!((created.role, created.revoked_ms), (Role::Writer, None));
    let admin = store
        .create_api_key(&NewApiKey {
            name: "root".into(),
            role: Role::Admin,
            catalog: None,
            prefix: "ek_9".into(),
            ..key.clone()
        })
        .unwrap();
    assert!(matches!(
        store.create_api_key(&NewApiKey { hash: String::new(), ..key.clone() }),
        Err(Error::Invalid(_))
    ));
    assert_eq!(store.list_api_keys().unwrap().first(), Some(&created));
    let revoked = store.revoke_api_key(created.id).unwrap();
    assert!(revoked.revoked_ms.is_some());
    assert_eq!(
        store.revoke_api_key(created.id).unwrap().revoked_ms,
        revoked.revoked_ms,
        "idempotent"
    );
    assert!(matches!(store.revoke_api_key(999), Err(Error::NotFound { .. })));
    let all = store.list_api_keys().unwrap();
    assert_eq!(all.iter().map(|k| k.id).collect::<Vec<_>>(), [created.id, admin.id]);
    assert_eq!(all[1].catalog, None);
}
}

contract_test! {
fn audit_log_appends_and_pages(fx) {
    let store = fx.open();
    let mut seqs = Vec::new();
    for i in 0..5 {
        seqs.push(
            store
                .append_audit(&NewAuditEntry {
                    key_id: Some(1),
                    key_name: Some("root".into()),
                    action: "catalog.delete".into(),
                    target: format!("catalog/c{i}"),
                    outcome: "ok".into(),
                    detail: json!({"i": i}),
                })
                .unwrap(),
        );
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    let page = store.audit_page(0, 3).unwrap();
    assert_eq!(page.len(), 3);
    assert_eq!(page[0].target, "catalog/c0");
    assert_eq!(page[2].detail, json!({"i": 2}));
    let rest = store.audit_page(page[2].seq, 10).unwrap();
    assert_eq!(
        rest.iter().map(|e| e.target.as_str()).collect::<Vec<_>>(),
        ["catalog/c3", "catalog/c4"]
    );
}
}

contract_test! {
fn deleting_a_catalog_revokes_the_keys_scoped_to_it(fx) {
    let store = fx.open();
    store.create_catalog("music").unwrap();
    store.create_catalog("films").unwrap();
    let key = |name: &str, catalog: Option<&str>, prefix: &str| NewApiKey {
        name: name.into(),
        role: Role::Reader,
        catalog: catalog.map(Into::into),
        hash: "cd".repeat(32),
        prefix: prefix.into(),
    };
    let music = store.create_api_key(&key("m", Some("music"), "ek_m")).unwrap();
    let films = store.create_api_key(&key("f", Some("films"), "ek_f")).unwrap();
    let all = store.create_api_key(&key("a", None, "ek_a")).unwrap();
    store.delete_catalog("music").unwrap();
    store.create_catalog("music").unwrap();
    let keys = store.list_api_keys().unwrap();
    let revoked = |id: u64| keys.iter().find(|k| k.id == id).unwrap().revoked_ms.is_some();
    assert!(revoked(music.id), "a key of the deleted catalog must not open its namesake");
    assert!(!revoked(films.id));
    assert!(!revoked(all.id));
}
}
