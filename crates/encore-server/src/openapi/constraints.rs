//! The constraints of [`crate::limits`](encore_service::limits) written into the generated
//! document, so clients and Schemathesis see the rules the service checks: lengths, patterns,
//! ranges, and the request shapes that take one field or another (`oneOf`).
use encore_service::limits as l;
use utoipa::openapi::schema::{ArrayItems, Object, ObjectBuilder, Schema, Type};
use utoipa::openapi::{OpenApi, RefOr};

/// An id (user, item): 1–256 characters without control characters.
fn id(s: &mut Schema) {
    text(s, 1, l::MAX_ID, Some(l::NO_CONTROL_PATTERN));
}

fn catalog(s: &mut Schema) {
    text(s, 1, l::MAX_CATALOG_NAME, Some(l::CATALOG_NAME_PATTERN));
}

fn text(s: &mut Schema, min: usize, max: usize, pattern: Option<&str>) {
    let o = object(s);
    o.min_length = (min > 0).then_some(min);
    o.max_length = Some(max);
    o.pattern = pattern.map(str::to_string);
}

fn number(s: &mut Schema, min: f64, max: Option<f64>) {
    let o = object(s);
    o.minimum = Some(min.into());
    o.maximum = max.map(Into::into);
}

fn integer(s: &mut Schema, min: u64, max: Option<u64>) {
    let o = object(s);
    o.minimum = Some((min as usize).into());
    o.maximum = max.map(|m| (m as usize).into());
}

fn enumeration(s: &mut Schema, values: &[&str]) {
    object(s).enum_values = Some(values.iter().map(|v| serde_json::json!(v)).collect());
}

/// A list of at most `max` entries, each constrained by `entry`.
fn list(s: &mut Schema, max: usize, entry: impl FnOnce(&mut Schema)) {
    let Schema::Array(a) = s else { panic!("not an array schema") };
    a.max_items = Some(max);
    match &mut a.items {
        ArrayItems::RefOrSchema(item) => match item.as_mut() {
            RefOr::T(item) => entry(item),
            RefOr::Ref(_) => {}
        },
        ArrayItems::False => panic!("an array without items"),
    }
}

fn object(s: &mut Schema) -> &mut Object {
    match s {
        Schema::Object(o) => o,
        _ => panic!("not an object schema"),
    }
}

/// The schema of property `property` of component `component`.
fn property<'a>(doc: &'a mut OpenApi, component: &str, property: &str) -> &'a mut Schema {
    let schema = doc
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut(component))
        .unwrap_or_else(|| panic!("no component schema {component}"));
    let RefOr::T(schema) = schema else { panic!("{component} is a reference") };
    match object(schema).properties.get_mut(property) {
        Some(RefOr::T(s)) => s,
        _ => panic!("no inline property {component}.{property}"),
    }
}

pub(super) fn apply(doc: &mut OpenApi) {
    let max_n = Some(l::MAX_N as u64);
    // Catalogs and keys.
    catalog(property(doc, "CreateCatalog", "name"));
    catalog(property(doc, "CreateKey", "catalog"));
    text(property(doc, "CreateKey", "name"), 1, l::MAX_KEY_NAME, Some(l::KEY_NAME_PATTERN));
    enumeration(property(doc, "CreateKey", "role"), &["reader", "writer", "admin"]);
    // Items.
    id(property(doc, "Item", "item_id"));
    for component in ["Item", "ItemFields"] {
        text(property(doc, component, "title"), 0, l::MAX_TITLE, None);
        text(property(doc, component, "kind"), 0, l::MAX_KIND, Some(l::NO_CONTROL_PATTERN));
        list(property(doc, component, "tags"), l::MAX_TAGS, |tag| {
            text(tag, 1, l::MAX_TAG, Some(l::NO_CONTROL_PATTERN))
        });
        let released = object(property(doc, component, "released"));
        released.pattern = Some(l::RELEASE_DATE_PATTERN.to_string());
    }
    list(property(doc, "UpsertItems", "items"), l::MAX_BATCH_ROWS, |_| {});
    // Events.
    id(property(doc, "EventInput", "user_id"));
    id(property(doc, "EventInput", "item_id"));
    number(property(doc, "EventInput", "weight"), 0.0, Some(l::MAX_WEIGHT));
    integer(property(doc, "EventInput", "timestamp"), 0, Some(i64::MAX as u64));
    list(property(doc, "IngestEvents", "events"), l::MAX_BATCH_ROWS, |_| {});
    // Recommendations.
    id(property(doc, "RecommendRequest", "user_id"));
    integer(property(doc, "RecommendRequest", "n"), 1, max_n);
    list(property(doc, "RecommendRequest", "history"), l::MAX_HISTORY, |_| {});
    id(property(doc, "HistoryEntry", "item_id"));
    number(property(doc, "HistoryEntry", "weight"), 0.0, Some(l::MAX_WEIGHT));
    for field in ["kinds", "tags_any", "tags_all", "exclude_items"] {
        list(property(doc, "RecommendFilter", field), l::MAX_FILTER_ENTRIES, |entry| {
            text(entry, 1, l::MAX_FILTER_VALUE, Some(l::NO_CONTROL_PATTERN))
        });
    }
    id(property(doc, "SimpleRecommendRequest", "user_id"));
    integer(property(doc, "SimpleRecommendRequest", "n"), 1, max_n);
    catalog(property(doc, "SimpleRecommendRequest", "catalog"));
    exactly_one_of_user_and_history(doc);
    // Training.
    let mut algorithms: Vec<&str> =
        encore_core::models::Algorithm::ALL.iter().map(|a| a.name()).collect();
    algorithms.push(encore_service::tuning::AUTO);
    enumeration(property(doc, "TrainRequest", "model"), &algorithms[..]);
    let max_budget = Some(encore_service::tuning::MAX_BUDGET_SECONDS);
    integer(property(doc, "TrainRequest", "budget_seconds"), 1, max_budget);
    let holdout = object(property(doc, "TrainRequest", "holdout"));
    holdout.minimum = Some(0.0.into());
    holdout.exclusive_maximum = Some(1.0.into());
    search_fields_only_with_auto(doc, &algorithms);
    // Path and query parameters, by name, on every operation.
    for item in doc.paths.paths.values_mut() {
        let operations = [
            item.get.as_mut(),
            item.put.as_mut(),
            item.post.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
        ];
        for operation in operations.into_iter().flatten() {
            for parameter in operation.parameters.iter_mut().flatten() {
                let RefOr::T(parameter) = parameter else { continue };
                let Some(RefOr::T(schema)) = parameter.schema.as_mut() else { continue };
                match parameter.name.as_str() {
                    "catalog" => catalog(schema),
                    "item_id" | "user_id" => id(schema),
                    "n" => integer(schema, 1, max_n),
                    "limit" => integer(schema, 1, Some(l::MAX_AUDIT_PAGE as u64)),
                    "version" => {
                        *schema = ObjectBuilder::new()
                            .schema_type(Type::String)
                            .pattern(Some(MODEL_VERSION_PATTERN))
                            .build()
                            .into();
                    }
                    _ => {}
                }
            }
        }
    }
}

/// `RecommendRequest` takes exactly one of `user_id` and `history` (`null` counts as absent):
/// the component becomes `oneOf` two objects, one requiring each.
fn exactly_one_of_user_and_history(doc: &mut OpenApi) {
    use utoipa::openapi::schema::{OneOfBuilder, SchemaType};
    let schemas = &mut doc.components.as_mut().expect("components").schemas;
    let Some(RefOr::T(Schema::Object(request))) = schemas.get("RecommendRequest").cloned() else {
        panic!("RecommendRequest is not an object schema")
    };
    let null = || RefOr::T(ObjectBuilder::new().schema_type(Type::Null).build().into());
    let variant = |given: &str, absent: &str, description: &str| {
        let mut o = request.clone();
        o.description = Some(description.to_string());
        o.required.push(given.to_string());
        match o.properties.get_mut(given) {
            Some(RefOr::T(Schema::Object(p))) => p.schema_type = SchemaType::Type(Type::String),
            Some(RefOr::T(Schema::Array(p))) => p.schema_type = SchemaType::Type(Type::Array),
            _ => panic!("RecommendRequest.{given} is not inline"),
        }
        o.properties.insert(absent.to_string(), null());
        Schema::Object(o)
    };
    let one_of = OneOfBuilder::new()
        .description(request.description.clone())
        .item(variant("user_id", "history", "For a stored user."))
        .item(variant("history", "user_id", "For a history given in the request."))
        .build();
    schemas.insert("RecommendRequest".to_string(), RefOr::T(Schema::OneOf(one_of)));
}

/// The search fields of `TrainRequest` (`budget_seconds`, `models`, `max_train_seconds`,
/// `max_memory_bytes`) go only with `"model": "auto"`, which takes no `params`
/// (`encore_service::tuning::check_request`): the component becomes `oneOf` a request for one
/// model, where those fields may only be absent or null, and a search request.
fn search_fields_only_with_auto(doc: &mut OpenApi, algorithms: &[&str]) {
    use utoipa::openapi::schema::OneOfBuilder;
    let auto = encore_service::tuning::AUTO;
    let search_fields = ["budget_seconds", "models", "max_train_seconds", "max_memory_bytes"];
    let schemas = &mut doc.components.as_mut().expect("components").schemas;
    let Some(RefOr::T(Schema::Object(request))) = schemas.get("TrainRequest").cloned() else {
        panic!("TrainRequest is not an object schema")
    };
    let null = || RefOr::T(ObjectBuilder::new().schema_type(Type::Null).build().into());
    let inline = |o: &mut Object, name: &str| -> Schema {
        match o.properties.get(name) {
            Some(RefOr::T(s)) => s.clone(),
            _ => panic!("TrainRequest.{name} is not inline"),
        }
    };
    let mut one_model = request.clone();
    one_model.description = Some("Trains one model with the given or default parameters.".into());
    let mut model = inline(&mut one_model, "model");
    let named: Vec<&str> = algorithms.iter().copied().filter(|a| *a != auto).collect();
    enumeration(&mut model, &named);
    one_model.properties.insert("model".into(), RefOr::T(model));
    for field in search_fields {
        one_model.properties.insert(field.into(), null());
    }

    let mut search = request.clone();
    search.description = Some(
        "Searches models and settings within the budget (`\"model\": \"auto\"`), then trains \
         the pick on all the events."
            .into(),
    );
    let mut model = inline(&mut search, "model");
    enumeration(&mut model, &[auto]);
    search.properties.insert("model".into(), RefOr::T(model));
    let mut params = inline(&mut search, "params");
    object(&mut params).max_properties = Some(0);
    search.properties.insert("params".into(), RefOr::T(params));
    let mut models = inline(&mut search, "models");
    let Schema::Array(a) = &mut models else { panic!("TrainRequest.models is not an array") };
    // At least one, each a model name; repeats are accepted, so no maximum.
    a.min_items = Some(1);
    match &mut a.items {
        ArrayItems::RefOrSchema(item) => match item.as_mut() {
            RefOr::T(item) => enumeration(item, &named),
            RefOr::Ref(_) => panic!("TrainRequest.models entries are a reference"),
        },
        ArrayItems::False => panic!("TrainRequest.models has no items"),
    }
    search.properties.insert("models".into(), RefOr::T(models));
    let mut seconds = inline(&mut search, "max_train_seconds");
    object(&mut seconds).exclusive_minimum = Some(0.0.into());
    search.properties.insert("max_train_seconds".into(), RefOr::T(seconds));

    let one_of = OneOfBuilder::new()
        .description(request.description.clone())
        .item(Schema::Object(one_model))
        .item(Schema::Object(search))
        .build();
    schemas.insert("TrainRequest".to_string(), RefOr::T(Schema::OneOf(one_of)));
}

/// A model version as the activate route takes it: `v3` or `3` (at most 9 digits, so it fits
/// the registry's 32-bit version numbers).
const MODEL_VERSION_PATTERN: &str = "^v?[0-9]{1,9}$";
