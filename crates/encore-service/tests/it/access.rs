//! API keys (hashes only, revocation, the bootstrap key) and the audit log, on the store.

use encore_service::access::{
    Access, AuditQuery, Caller, CreateKey, PREFIX_LEN, Role, SECRET_LEN, SECRET_PREFIX,
};
use encore_service::{Error, Resource};

fn request(role: Role, catalog: Option<&str>) -> CreateKey {
    CreateKey { name: "k".into(), role, catalog: catalog.map(String::from) }
}

service_test! {
fn keys_verify_until_revoked_and_only_hashes_are_stored(fx) {
    let store = fx.store();
    let access = Access::open(store.clone()).unwrap();
    let created = access.create_key(&request(Role::Writer, Some("music"))).unwrap();
    assert_eq!(created.secret.len(), SECRET_LEN);
    assert!(created.secret.starts_with(SECRET_PREFIX));
    let caller = access.verify(&created.secret).expect("valid key");
    assert_eq!((caller.role, caller.catalog.as_deref()), (Role::Writer, Some("music")));
    // The store never holds the secret.
    let stored = store.list_api_keys().unwrap();
    assert!(
        stored.iter().all(
            |k| k.hash != created.secret && !k.hash.contains(&created.secret[PREFIX_LEN..])
        )
    );
    // A different secret with the same prefix is refused.
    let mut forged = created.secret.clone();
    forged.replace_range(PREFIX_LEN.., &"A".repeat(SECRET_LEN - PREFIX_LEN));
    assert!(access.verify(&forged).is_none());
    assert!(access.verify("").is_none());
    assert!(access.verify("Bearer x").is_none());
    access.revoke_key(created.key.id).unwrap();
    assert!(access.verify(&created.secret).is_none(), "revoked at once");
    // A reload from the store agrees, and so does another process's view of it.
    access.reload().unwrap();
    assert!(access.verify(&created.secret).is_none());
    assert!(Access::open(fx.store()).unwrap().verify(&created.secret).is_none());
    assert!(matches!(
        access.revoke_key(999),
        Err(Error::NotFound { kind: Resource::ApiKey, .. })
    ));
}
}

service_test! {
fn secrets_differ_and_bootstrap_happens_once(fx) {
    let access = Access::open(fx.store()).unwrap();
    let first = access.bootstrap().unwrap().expect("first start creates an admin key");
    assert_eq!((first.key.role, first.key.catalog.clone()), (Role::Admin, None));
    assert!(access.bootstrap().unwrap().is_none());
    assert!(Access::open(fx.store()).unwrap().bootstrap().unwrap().is_none(), "after a restart");
    access.revoke_key(first.key.id).unwrap();
    assert!(access.bootstrap().unwrap().is_none(), "revoking every key does not re-bootstrap");
    let a = access.create_key(&request(Role::Reader, None)).unwrap();
    let b = access.create_key(&request(Role::Reader, None)).unwrap();
    assert_ne!(a.secret, b.secret);
    assert!(
        access
            .create_key(&CreateKey { name: " ".into(), ..request(Role::Reader, None) })
            .is_err()
    );
    assert!(access.create_key(&request(Role::Reader, Some("Bad Name"))).is_err());
}
}

service_test! {
fn audit_pages_with_filters(fx) {
    let access = Access::open(fx.store()).unwrap();
    let caller = Caller {
        key_id: 7,
        name: "ops".into(),
        role: Role::Admin,
        catalog: None,
        prefix: "ek_x".into(),
    };
    for i in 0..5 {
        let action = if i % 2 == 0 { "user.erase" } else { "catalog.delete" };
        access
            .audit(
                Some(&caller),
                action,
                &format!("/v1/catalogs/c{i}"),
                "ok",
                serde_json::json!({}),
            )
            .unwrap();
    }
    access.audit(None, "key.bootstrap", "keys/1", "ok", serde_json::json!({})).unwrap();
    let all = access.audit_page(&AuditQuery::default()).unwrap();
    assert_eq!(all.entries.len(), 6);
    assert_eq!(all.next_after, None);
    let erasures = access
        .audit_page(&AuditQuery {
            action: Some("user.erase".into()),
            limit: Some(2),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        erasures.entries.iter().map(|e| e.target.as_str()).collect::<Vec<_>>(),
        ["/v1/catalogs/c0", "/v1/catalogs/c2"]
    );
    let rest = access
        .audit_page(&AuditQuery {
            action: Some("user.erase".into()),
            after: erasures.next_after,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(rest.entries.len(), 1);
    assert_eq!(rest.entries[0].key_name.as_deref(), Some("ops"));
    let by_key =
        access.audit_page(&AuditQuery { key_id: Some(7), ..Default::default() }).unwrap();
    assert_eq!(by_key.entries.len(), 5);
    let by_target = access
        .audit_page(&AuditQuery { target: Some("keys/".into()), ..Default::default() })
        .unwrap();
    assert_eq!(by_target.entries[0].key_id, None);
    let future = access
        .audit_page(&AuditQuery { since_ms: Some(i64::MAX), ..Default::default() })
        .unwrap();
    assert!(future.entries.is_empty());
    assert!(access.audit_page(&AuditQuery { limit: Some(0), ..Default::default() }).is_err());
}
}
