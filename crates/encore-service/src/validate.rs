//! Field checks with messages aimed at API users. The store checks the same rules again as a last
//! line of defence; checking here first lets a batch report *every* bad row with its field.

use crate::error::{Error, Result, RowError};

/// Longest catalog name.
pub const MAX_CATALOG_NAME: usize = 64;

/// Checks a catalog name: 1–64 of `a-z`, `0-9`, `_`, `-`, starting with a letter or digit.
pub fn catalog_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_CATALOG_NAME
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "name",
            format!(
                "catalog name `{}` must be 1-{MAX_CATALOG_NAME} characters from a-z, 0-9, '_' \
                 and '-', starting with a letter or digit",
                name.escape_debug()
            ),
        ))
    }
}

/// The problem with a user or item id, if any.
pub fn id_problem(id: &str, max_len: usize) -> Option<String> {
    if id.is_empty() {
        Some("must not be empty".into())
    } else if id.len() > max_len {
        Some(format!("is {} bytes long; the limit is {max_len}", id.len()))
    } else if id.chars().any(char::is_control) {
        Some("must not contain control characters".into())
    } else {
        None
    }
}

/// Checks one id field.
pub fn id(field: &str, id: &str, max_len: usize) -> Result<()> {
    match id_problem(id, max_len) {
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
    if w > f32::MAX as f64 {
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

/// Checks `n` (default 10, 1..=max).
pub fn n(n: Option<usize>, max: usize) -> Result<usize> {
    let n = n.unwrap_or(10);
    if n == 0 || n > max {
        return Err(Error::invalid("n", format!("must be between 1 and {max}, got {n}")));
    }
    Ok(n)
}

/// Checks a list of strings of a filter: at most 1000 entries, each 1–256 bytes.
pub fn string_list(field: &str, list: &Option<Vec<String>>) -> Result<()> {
    let Some(list) = list else { return Ok(()) };
    if list.len() > 1000 {
        return Err(Error::invalid(field, "must have at most 1000 entries"));
    }
    for (i, s) in list.iter().enumerate() {
        if let Some(m) = id_problem(s, 256) {
            return Err(Error::invalid(format!("{field}[{i}]"), m));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_names() {
        for ok in ["music", "films-2", "a", "x_y", "0"] {
            assert!(catalog_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-x", "Music", "with space", "a.b", "ümlaut", &"a".repeat(65)] {
            assert!(catalog_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_weights_and_n() {
        assert!(id_problem("u1", 8).is_none());
        assert!(id_problem("", 8).is_some());
        assert!(id_problem("123456789", 8).is_some());
        assert!(id_problem("a\nb", 8).is_some());
        assert_eq!(weight(None), Ok(1.0));
        assert_eq!(weight(Some(2.5)), Ok(2.5));
        assert!(weight(Some(-1.0)).is_err());
        assert!(weight(Some(f64::NAN)).is_err());
        assert!(weight(Some(1e300)).is_err());
        assert_eq!(n(None, 1000).unwrap(), 10);
        assert!(n(Some(0), 1000).is_err());
        assert!(n(Some(1001), 1000).is_err());
        assert_eq!(n(Some(1000), 1000).unwrap(), 1000);
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
