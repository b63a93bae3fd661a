//! Field checks with messages aimed at API users, against the limits of [`crate::limits`]. The
//! store checks the same rules again as a last line of defence; checking here first lets a batch
//! report *every* bad row with its field.

use crate::error::{Error, Result, RowError};
use crate::limits::{DEFAULT_N, MAX_FILTER_ENTRIES, MAX_FILTER_VALUE, MAX_ID, MAX_N, MAX_WEIGHT};

/// Checks a catalog name with the store's rule ([`encore_store::limits::check_catalog_name`]):
/// 1–64 of `a-z`, `0-9`, `_`, `-`, starting with a letter or digit. `field` names it in the error
/// (`name` in a request body, `catalog` for a key's scope or a command-line option).
pub fn catalog_name(field: &str, name: &str) -> Result<()> {
    match encore_store::limits::catalog_name_problem(name) {
        Some(message) => Err(Error::invalid(field, message)),
        None => Ok(()),
    }
}

/// The problem with a user or item id, if any: 1–[`MAX_ID`] characters, no control characters.
pub fn id_problem(id: &str) -> Option<String> {
    text_problem(id, MAX_ID)
}

/// The problem with a non-empty text of at most `max_len` characters without control characters.
fn text_problem(text: &str, max_len: usize) -> Option<String> {
    if text.is_empty() {
        return Some("must not be empty".into());
    }
    let len = text.chars().count();
    if len > max_len {
        Some(format!("is {len} characters long; the limit is {max_len}"))
    } else if text.chars().any(char::is_control) {
        Some("must not contain control characters".into())
    } else {
        None
    }
}

/// Checks one id field.
pub fn id(field: &str, id: &str) -> Result<()> {
    match id_problem(id) {
        Some(m) => Err(Error::invalid(field, m)),
        None => Ok(()),
    }
}

/// The weight to store for an optional request weight (default 1), or what is wrong with it.
pub fn weight(w: Option<f64>) -> Result<f32, String> {
    let w = w.unwrap_or(1.0);
    if !w.is_finite() || w < 0.0 {
        return Err(format!("must be a finite number >= 0, got {w}"));
    }
    if w > MAX_WEIGHT {
        return Err(format!("is too large ({w})"));
    }
    Ok(w as f32)
}

/// Collects per-row errors of a batch.
#[derive(Debug, Default)]
pub struct RowErrors(Vec<RowError>);

/// At most this many row errors are reported; the count says how many rows were checked.
const MAX_ROW_ERRORS: usize = 1000;

impl RowErrors {
    /// Records a problem with `field` of row `index`.
    pub fn push(&mut self, index: usize, field: &str, message: impl Into<String>) {
        if self.0.len() < MAX_ROW_ERRORS {
            self.0.push(RowError { index, field: field.into(), message: message.into() });
        }
    }

    /// `Err(InvalidRows)` when any row was bad.
    pub fn finish(self) -> Result<()> {
        if self.0.is_empty() { Ok(()) } else { Err(Error::InvalidRows(self.0)) }
    }
}

/// Checks `n` (default [`DEFAULT_N`], 1..=[`MAX_N`]).
pub fn n(n: Option<usize>) -> Result<usize> {
    let n = n.unwrap_or(DEFAULT_N);
    if n == 0 || n > MAX_N {
        return Err(Error::invalid("n", format!("must be between 1 and {MAX_N}, got {n}")));
    }
    Ok(n)
}

/// Checks a list of strings of a filter: at most [`MAX_FILTER_ENTRIES`] entries, each
/// 1–[`MAX_FILTER_VALUE`] characters without control characters.
pub fn string_list(field: &str, list: &Option<Vec<String>>) -> Result<()> {
    let Some(list) = list else { return Ok(()) };
    if list.len() > MAX_FILTER_ENTRIES {
        return Err(Error::invalid(
            field,
            format!("must have at most {MAX_FILTER_ENTRIES} entries, got {}", list.len()),
        ));
    }
    for (i, s) in list.iter().enumerate() {
        if let Some(m) = text_problem(s, MAX_FILTER_VALUE) {
            return Err(Error::invalid(format!("{field}[{i}]"), m));
        }
    }
    Ok(())
}

/// Checks item `i` of a batch against the store's limits, reporting every bad field.
pub fn item_row(i: usize, item: &crate::dto::Item, errors: &mut RowErrors) {
    use crate::limits as l;
    let chars = |text: &str| text.chars().count();
    if let Some(m) = id_problem(&item.item_id) {
        errors.push(i, "item_id", m);
    }
    if chars(&item.title) > l::MAX_TITLE {
        errors.push(i, "title", format!("must be at most {} characters", l::MAX_TITLE));
    }
    if chars(&item.kind) > l::MAX_KIND || item.kind.chars().any(char::is_control) {
        errors.push(
            i,
            "kind",
            format!("must be at most {} characters without control characters", l::MAX_KIND),
        );
    }
    if item.tags.len() > l::MAX_TAGS {
        errors.push(i, "tags", format!("must have at most {} tags", l::MAX_TAGS));
    }
    for (t, tag) in item.tags.iter().enumerate() {
        if tag.is_empty() || chars(tag) > l::MAX_TAG || tag.chars().any(char::is_control) {
            errors.push(
                i,
                &format!("tags[{t}]"),
                format!("must be 1-{} characters without control characters", l::MAX_TAG),
            );
        }
    }
    if let Some(date) = &item.released
        && encore_store::limits::check_release_date(date).is_err()
    {
        errors.push(i, "released", "must be a date YYYY-MM-DD");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_names() {
        for ok in ["music", "films-2", "a", "x_y", "0"] {
            assert!(catalog_name("name", ok).is_ok(), "{ok}");
        }
        for bad in ["", "-x", "Music", "Music.v2", "with space", "a.b", "ümlaut", &"a".repeat(65)]
        {
            match catalog_name("catalog", bad) {
                Err(Error::Invalid { field, .. }) => assert_eq!(field, "catalog"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn ids_weights_and_n() {
        assert!(id_problem("u1").is_none());
        assert!(id_problem("").is_some());
        assert!(id_problem(&"x".repeat(MAX_ID)).is_none());
        assert!(id_problem(&"x".repeat(MAX_ID + 1)).is_some());
        assert!(id_problem(&"é".repeat(MAX_ID)).is_none(), "characters, not bytes");
        assert!(id_problem("a\nb").is_some());
        assert_eq!(weight(None), Ok(1.0));
        assert_eq!(weight(Some(2.5)), Ok(2.5));
        assert!(weight(Some(-1.0)).is_err());
        assert!(weight(Some(f64::NAN)).is_err());
        assert!(weight(Some(1e300)).is_err());
        assert_eq!(n(None).unwrap(), DEFAULT_N);
        assert!(n(Some(0)).is_err());
        assert!(n(Some(MAX_N + 1)).is_err());
        assert_eq!(n(Some(MAX_N)).unwrap(), MAX_N);
        let long = Some(vec!["x".repeat(MAX_FILTER_VALUE + 1)]);
        assert!(string_list("filter.kinds", &long).is_err());
        let many = Some(vec!["x".to_string(); MAX_FILTER_ENTRIES + 1]);
        assert!(string_list("filter.kinds", &many).is_err());
        assert!(string_list("filter.kinds", &Some(vec!["rock".into()])).is_ok());
    }

    #[test]
    fn row_errors_collect_every_bad_row() {
        let mut e = RowErrors::default();
        assert!(RowErrors::default().finish().is_ok());
        e.push(1, "user_id", "must not be empty");
        e.push(4, "weight", "must be finite");
        match e.finish() {
            Err(Error::InvalidRows(rows)) => {
                assert_eq!(rows.iter().map(|r| r.index).collect::<Vec<_>>(), vec![1, 4]);
            }
            other => panic!("{other:?}"),
        }
    }
}
