//! Fuzzes the HTTP API's request bodies: bytes → the service's request types → their validation.
//!
//! The first input byte picks the body type (the server's JSON extractor does exactly
//! `serde_json::from_slice::<T>` on the body); the rest is the body. For a body that parses, the
//! checks the service applies before touching the store run on it: ids, weights, timestamps, `n`,
//! filter lists, catalog names, and for training requests the algorithm, the model spec built
//! from the JSON parameters, the model configuration and the holdout share. Properties:
//!
//! * nothing panics, overflows the stack (serde_json's recursion limit) or hangs;
//! * a parsed body serialises again, and the serialised form parses back to a body with the same
//!   validation verdict (what a client reads back from the API is what the server accepts).

#![no_main]

use encore_core::models::{Algorithm, ModelConfig, ModelSpec};
use encore_service::dto::{
    CreateCatalog, IngestEvents, ItemFields, RecommendRequest, TrainRequest, UpsertItems,
};
use encore_service::validate;
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

fn ok_weight(w: Option<f64>) -> bool {
    validate::weight(w).is_ok()
}

fn ok_id(id: &str) -> bool {
    validate::id_problem(id).is_none()
}

fn events_ok(b: &IngestEvents) -> bool {
    let mut all = true;
    for e in &b.events {
        all &= ok_id(&e.user_id) & ok_id(&e.item_id) & ok_weight(e.weight);
        all &= e.timestamp.is_none_or(|t| t >= 0);
    }
    all
}

fn recommend_ok(r: &RecommendRequest) -> bool {
    let subject = match (&r.user_id, &r.history) {
        (Some(user), None) => validate::id("user_id", user).is_ok(),
        (None, Some(history)) => history.iter().all(|h| ok_id(&h.item_id) && ok_weight(h.weight)),
        _ => false,
    };
    let filter = r.filter.as_ref().is_none_or(|f| {
        validate::string_list("kinds", &f.kinds).is_ok()
            && validate::string_list("tags_any", &f.tags_any).is_ok()
            && validate::string_list("tags_all", &f.tags_all).is_ok()
            && validate::string_list("exclude_items", &f.exclude_items).is_ok()
    });
    subject & filter & validate::n(r.n).is_ok()
}

fn items_ok(b: &UpsertItems) -> bool {
    b.items
        .iter()
        .all(|i| ok_id(&i.item_id) && validate::string_list("tags", &Some(i.tags.clone())).is_ok())
}

fn item_fields_ok(f: &ItemFields) -> bool {
    validate::string_list("tags", &Some(f.tags.clone())).is_ok()
}

fn catalog_ok(c: &CreateCatalog) -> bool {
    validate::catalog_name("name", &c.name).is_ok()
}

fn train_ok(t: &TrainRequest) -> bool {
    let Ok(algorithm) = t.model.parse::<Algorithm>() else {
        return false;
    };
    let config_ok = ModelSpec::from_json(algorithm, &t.params)
        .ok()
        .is_some_and(|spec| ModelConfig::from_spec(&spec).is_ok());
    config_ok && t.holdout.is_none_or(|h| h == 0.0 || (h > 0.0 && h < 1.0))
}

/// Parses `body` as `T`; when it parses, validates it, and checks that its serialised form parses
/// back with the same verdict.
fn check<T: DeserializeOwned + Serialize>(body: &[u8], valid: fn(&T) -> bool) {
    let Ok(parsed) = serde_json::from_slice::<T>(body) else {
        return;
    };
    let verdict = valid(&parsed);
    let text = serde_json::to_vec(&parsed).expect("a parsed body serialises");
    let again: T = serde_json::from_slice(&text).expect("a serialised body parses back");
    assert_eq!(
        valid(&again),
        verdict,
        "verdict changed over a round trip: {}",
        String::from_utf8_lossy(&text)
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    match selector % 6 {
        0 => check::<IngestEvents>(body, events_ok),
        1 => check::<RecommendRequest>(body, recommend_ok),
        2 => check::<UpsertItems>(body, items_ok),
        3 => check::<ItemFields>(body, item_fields_ok),
        4 => check::<CreateCatalog>(body, catalog_ok),
        _ => check::<TrainRequest>(body, train_ok),
    }
});
