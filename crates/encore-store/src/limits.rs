//! The limits the store enforces on what it is given.
//!
//! The service checks the same rules first with messages aimed at API users; these checks are the
//! last line of defence, so nothing malformed ever reaches the database whatever the caller.
//!
//! | what | rule |
//! |---|---|
//! | catalog name | 1–64 of `a-z`, `0-9`, `_`, `-`; starts with a letter or digit ([`CATALOG_NAME_PATTERN`]) |
//! | user / item id | 1–256 characters, no control characters |
//! | event weight | finite and ≥ 0 |
//! | item title | ≤ 1024 characters |
//! | item kind | ≤ 64 characters, no control characters |
//! | tags | ≤ 64 per item, each 1–128 characters, no control characters |
//! | release date | `YYYY-MM-DD` with a month 01–12 and a day 01–31 ([`RELEASE_DATE_PATTERN`]) |
//!
//! Lengths are counted in characters (Unicode scalar values), as JSON Schema's `maxLength` counts
//! them, so the OpenAPI document can state these rules exactly. A control character is one of
//! Unicode category Cc (U+0000–U+001F, U+007F–U+009F), which is what [`char::is_control`] tests
//! and what [`NO_CONTROL_PATTERN`] excludes.

use crate::error::{Error, Result};

/// Longest catalog name, characters (all ASCII).
pub const MAX_CATALOG_NAME: usize = 64;
/// The catalog-name rule as a regular expression (for the OpenAPI document).
pub const CATALOG_NAME_PATTERN: &str = "^[a-z0-9][a-z0-9_-]{0,63}$";
/// Longest user or item id, characters.
pub const MAX_ID: usize = 256;
/// Longest item title, characters.
pub const MAX_TITLE: usize = 1024;
/// Longest item kind, characters.
pub const MAX_KIND: usize = 64;
/// Most tags per item.
pub const MAX_TAGS: usize = 64;
/// Longest tag, characters.
pub const MAX_TAG: usize = 128;
/// Any text without control characters, as a regular expression (for the OpenAPI document).
pub const NO_CONTROL_PATTERN: &str = "^[^\\x00-\\x1f\\x7f-\\x9f]*$";
/// The release-date rule as a regular expression (for the OpenAPI document).
pub const RELEASE_DATE_PATTERN: &str = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$";

/// What is wrong with a catalog name, if anything (the message names the rule).
pub fn catalog_name_problem(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_CATALOG_NAME
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_'));
    (!ok).then(|| {
        format!(
            "catalog name `{}` must be 1-{MAX_CATALOG_NAME} characters from a-z, 0-9, '_' and \
             '-', starting with a letter or digit",
            name.escape_debug()
        )
    })
}

/// Checks a catalog name.
pub fn check_catalog_name(name: &str) -> Result<()> {
    match catalog_name_problem(name) {
        Some(message) => Err(Error::Invalid(message)),
        None => Ok(()),
    }
}

/// Length in characters, as JSON Schema counts it.
fn chars(text: &str) -> usize {
    text.chars().count()
}

/// Checks a user or item id; `what` names it in the message (`user_id`, `item_id`).
pub fn check_id(what: &str, id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::Invalid(format!("{what} is empty")));
    }
    if chars(id) > MAX_ID {
        return Err(Error::Invalid(format!(
            "{what} is {} characters long (max {MAX_ID})",
            chars(id)
        )));
    }
    if id.chars().any(char::is_control) {
        return Err(Error::Invalid(format!(
            "{what} `{}` contains a control character",
            id.escape_debug()
        )));
    }
    Ok(())
}

/// Checks an event weight.
pub fn check_weight(weight: f32) -> Result<()> {
    if weight.is_finite() && weight >= 0.0 {
        Ok(())
    } else {
        Err(Error::Invalid(format!("weight {weight} must be finite and >= 0")))
    }
}

/// Checks a release date: `YYYY-MM-DD` with a real month and day.
pub fn check_release_date(date: &str) -> Result<()> {
    let b = date.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let well_formed = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && digits(0..4)
        && digits(5..7)
        && digits(8..10);
    if well_formed {
        let month: u32 = date[5..7].parse().unwrap_or(0);
        let day: u32 = date[8..10].parse().unwrap_or(0);
        if (1..=12).contains(&month) && (1..=31).contains(&day) {
            return Ok(());
        }
    }
    Err(Error::Invalid(format!("release date `{}` is not YYYY-MM-DD", date.escape_debug())))
}

/// Validates a whole batch of events before anything is written; the error names the first bad
/// row (`event 3: weight -1 must be finite and >= 0`).
pub(crate) fn check_batch(batch: &[crate::types::NewEvent]) -> Result<()> {
    for (i, e) in batch.iter().enumerate() {
        check_id("user_id", &e.user_id)
            .and_then(|()| check_id("item_id", &e.item_id))
            .and_then(|()| check_weight(e.weight))
            .map_err(|err| Error::Invalid(format!("event {i}: {err}")))?;
    }
    Ok(())
}

/// Checks a model file path: relative to the data directory and inside it (no `..`, no root).
pub(crate) fn check_model_file_path(path: &str) -> Result<()> {
    let p = std::path::Path::new(path);
    let relative_inside = !path.is_empty()
        && p.is_relative()
        && p.components().all(|c| matches!(c, std::path::Component::Normal(_)));
    if relative_inside {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "model file path `{path}` must be relative to the data directory, without `..`"
        )))
    }
}

/// Checks an item's metadata.
pub fn check_item(item: &crate::types::NewItem) -> Result<()> {
    check_id("item_id", &item.item_id)?;
    let id = &item.item_id;
    if chars(&item.title) > MAX_TITLE {
        return Err(Error::Invalid(format!(
            "item `{id}`: title is longer than {MAX_TITLE} characters"
        )));
    }
    if chars(&item.kind) > MAX_KIND || item.kind.chars().any(char::is_control) {
        return Err(Error::Invalid(format!(
            "item `{id}`: kind must be at most {MAX_KIND} characters without control characters"
        )));
    }
    if item.tags.len() > MAX_TAGS {
        return Err(Error::Invalid(format!("item `{id}`: more than {MAX_TAGS} tags")));
    }
    for tag in &item.tags {
        if tag.is_empty() || chars(tag) > MAX_TAG || tag.chars().any(char::is_control) {
            return Err(Error::Invalid(format!(
                "item `{id}`: tag `{}` must be 1-{MAX_TAG} characters without control characters",
                tag.escape_debug()
            )));
        }
    }
    if let Some(date) = &item.released {
        check_release_date(date).map_err(|e| Error::Invalid(format!("item `{id}`: {e}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_names() {
        for ok in ["music", "films-2", "a", "x_y-z", "0", &"a".repeat(64)] {
            assert!(check_catalog_name(ok).is_ok(), "{ok}");
        }
        for bad in
            ["", "-x", "_x", "Music", "Music.v2", "x.y", "with space", "ümlaut", &"a".repeat(65)]
        {
            assert!(check_catalog_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_and_weights() {
        assert!(check_id("user_id", "u1").is_ok());
        assert!(check_id("user_id", "").is_err());
        assert!(check_id("user_id", "a\tb").is_err());
        assert!(check_id("user_id", &"x".repeat(MAX_ID)).is_ok());
        assert!(check_id("user_id", &"x".repeat(MAX_ID + 1)).is_err());
        // Characters, not bytes: 256 three-byte characters are a valid id.
        assert!(check_id("user_id", &"€".repeat(MAX_ID)).is_ok());
        assert!(check_id("user_id", "a\u{85}b").is_err());
        assert!(check_weight(0.0).is_ok());
        assert!(check_weight(-1.0).is_err());
        assert!(check_weight(f32::NAN).is_err());
        assert!(check_weight(f32::INFINITY).is_err());
    }

    #[test]
    fn release_dates() {
        assert!(check_release_date("1995-01-01").is_ok());
        assert!(check_release_date("1995-13-01").is_err());
        assert!(check_release_date("01-Jan-1995").is_err());
        assert!(check_release_date("1995").is_err());
    }
}
