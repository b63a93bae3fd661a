//! The limits the store enforces on what it is given.
//!
//! The service checks the same rules first with messages aimed at API users; these checks are the
//! last line of defence, so nothing malformed ever reaches the database whatever the caller.
//!
//! | what | rule |
//! |---|---|
//! | catalog name | 1–64 bytes of ASCII letters, digits, `-`, `_`, `.`; starts with a letter or digit |
//! | user / item id | 1–256 bytes of UTF-8, no control characters |
//! | event weight | finite and ≥ 0 |
//! | item title | ≤ 1024 bytes |
//! | item kind | ≤ 64 bytes, no control characters |
//! | tags | ≤ 64 per item, each 1–128 bytes, no control characters |
//! | release date | `YYYY-MM-DD` |

use crate::error::{Error, Result};

/// Longest catalog name, bytes.
pub const MAX_CATALOG_NAME: usize = 64;
/// Longest user or item id, bytes.
pub const MAX_ID: usize = 256;
/// Longest item title, bytes.
pub const MAX_TITLE: usize = 1024;
/// Longest item kind, bytes.
pub const MAX_KIND: usize = 64;
/// Most tags per item.
pub const MAX_TAGS: usize = 64;
/// Longest tag, bytes.
pub const MAX_TAG: usize = 128;

/// Checks a catalog name.
pub fn check_catalog_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_CATALOG_NAME
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "catalog name `{}` must be 1-{MAX_CATALOG_NAME} ASCII letters, digits, '-', '_' or \
             '.', starting with a letter or digit",
            name.escape_debug()
        )))
    }
}

/// Checks a user or item id; `what` names it in the message (`user_id`, `item_id`).
pub fn check_id(what: &str, id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::Invalid(format!("{what} is empty")));
    }
    if id.len() > MAX_ID {
        return Err(Error::Invalid(format!("{what} is {} bytes long (max {MAX_ID})", id.len())));
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

/// Checks an item's metadata.
pub fn check_item(item: &crate::types::NewItem) -> Result<()> {
    check_id("item_id", &item.item_id)?;
    let id = &item.item_id;
    if item.title.len() > MAX_TITLE {
        return Err(Error::Invalid(format!("item `{id}`: title is longer than {MAX_TITLE} bytes")));
    }
    if item.kind.len() > MAX_KIND || item.kind.chars().any(char::is_control) {
        return Err(Error::Invalid(format!(
            "item `{id}`: kind must be at most {MAX_KIND} bytes without control characters"
        )));
    }
    if item.tags.len() > MAX_TAGS {
        return Err(Error::Invalid(format!("item `{id}`: more than {MAX_TAGS} tags")));
    }
    for tag in &item.tags {
        if tag.is_empty() || tag.len() > MAX_TAG || tag.chars().any(char::is_control) {
            return Err(Error::Invalid(format!(
                "item `{id}`: tag `{}` must be 1-{MAX_TAG} bytes without control characters",
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
        for ok in ["music", "films-2", "a", "x.y_z"] {
            assert!(check_catalog_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-x", "with space", "ümlaut", &"a".repeat(65)] {
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
