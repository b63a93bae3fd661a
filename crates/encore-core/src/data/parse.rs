//! Line-level parsing shared by the streaming reader and the parallel reader.
//!
//! Both readers feed lines (without their line ending) to the same [`Layout::parse_line`], which
//! is what guarantees that `read_records` and `read_interactions` accept and reject exactly the
//! same input with the same messages.

use std::borrow::Cow;

use super::Format;

/// What separates the fields of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Separator {
    /// `\t`
    Tab,
    /// `,` with RFC 4180 double quotes.
    Comma,
    /// `::` (MovieLens 1M).
    DoubleColon,
}

impl Separator {
    fn describe(self) -> &'static str {
        match self {
            Separator::Tab => "tabs",
            Separator::Comma => "commas",
            Separator::DoubleColon => "`::`",
        }
    }
}

/// At most this many fields are kept; more is always an error.
const MAX_FIELDS: usize = 4;

/// One parsed data line. Ids borrow from the line unless CSV unescaping (`""`) forced a copy.
#[derive(Debug)]
pub(crate) struct ParsedLine<'a> {
    pub user: Cow<'a, str>,
    pub item: Cow<'a, str>,
    pub weight: f32,
    pub timestamp: Option<i64>,
}

/// The column layout of one file, fixed by its format and its first non-blank line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub separator: Separator,
    /// Every data line must have exactly this many fields (2 to 4).
    pub columns: usize,
    /// Whether the first non-blank line was a header row (and is therefore not data).
    pub had_header: bool,
}

impl Layout {
    /// Decides the layout from the first non-blank line of a file in the concrete `format`.
    /// Fails (with a line message) when the line cannot start a file of that format.
    pub fn from_first_line(format: Format, line: &[u8]) -> Result<Layout, String> {
        let separator = format.separator().expect("format is resolved before parsing");
        let mut fields: [Cow<'_, [u8]>; MAX_FIELDS] = Default::default();
        let n = split_fields(line, separator, &mut fields)?;
        let kept = &fields[..n.min(MAX_FIELDS)];
        let had_header = format.may_have_header() && {
            let plain: Vec<&[u8]> = kept.iter().map(|f| &**f).collect();
            looks_like_header(&plain)
        };
        let columns = match format.fixed_columns() {
            Some(c) => c,
            None if (2..=MAX_FIELDS).contains(&n) => n,
            None => {
                return Err(format!(
                    "expected 2 to 4 fields (user, item[, weight[, timestamp]]) separated by {}, \
                     found {n}",
                    separator.describe()
                ));
            }
        };
        Ok(Layout { separator, columns, had_header })
    }

    /// Parses one line (without its line ending). `Ok(None)` for a blank line.
    pub fn parse_line<'a>(&self, line: &'a [u8]) -> Result<Option<ParsedLine<'a>>, String> {
        if trim(line).is_empty() {
            return Ok(None);
        }
        let mut fields: [Cow<'a, [u8]>; MAX_FIELDS] = Default::default();
        let n = split_fields(line, self.separator, &mut fields)?;
        if n != self.columns {
            return Err(format!(
                "expected {} fields ({}) separated by {}, found {n}",
                self.columns,
                COLUMN_NAMES[self.columns],
                self.separator.describe()
            ));
        }
        let [user, item, weight, timestamp] = fields;
        let user = id_field(user, "user")?;
        let item = id_field(item, "item")?;
        let weight = if self.columns >= 3 { parse_weight(&weight)? } else { 1.0 };
        let timestamp = if self.columns == 4 { Some(parse_timestamp(&timestamp)?) } else { None };
        Ok(Some(ParsedLine { user, item, weight, timestamp }))
    }

    /// Whether rows carry a timestamp.
    pub fn has_timestamps(&self) -> bool {
        self.columns == 4
    }
}

const COLUMN_NAMES: [&str; 5] =
    ["", "user", "user, item", "user, item, weight", "user, item, weight, timestamp"];

/// A trimmed, non-empty, valid UTF-8 id.
fn id_field<'a>(field: Cow<'a, [u8]>, what: &str) -> Result<Cow<'a, str>, String> {
    let text = match field {
        Cow::Borrowed(b) => Cow::Borrowed(
            std::str::from_utf8(trim(b)).map_err(|_| format!("invalid UTF-8 in {what} id"))?,
        ),
        Cow::Owned(v) => Cow::Owned(
            String::from_utf8(trim(&v).to_vec())
                .map_err(|_| format!("invalid UTF-8 in {what} id"))?,
        ),
    };
    if text.is_empty() {
        return Err(format!("empty {what} id"));
    }
    Ok(text)
}

/// Parses a weight: a finite, non-negative number. Zero is allowed (it is data).
pub(crate) fn parse_weight(field: &[u8]) -> Result<f32, String> {
    let t = trim(field);
    if t.is_empty() {
        return Err("empty weight".into());
    }
    // Play counts and integer ratings dominate; below 2^24 they are exact in f32, so this fast
    // path gives the same value as the general parser.
    if t.len() <= 7 && t.iter().all(u8::is_ascii_digit) {
        let v = t.iter().fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'));
        return Ok(v as f32);
    }
    let text = String::from_utf8_lossy(t);
    let w: f32 = text.parse().map_err(|_| format!("weight `{text}` is not a number"))?;
    if !w.is_finite() {
        return Err(format!("weight `{text}` is not finite"));
    }
    if w < 0.0 {
        return Err(format!("weight `{text}` is negative"));
    }
    // Turns -0 into +0 so that equal inputs give bit-identical weights.
    Ok(w + 0.0)
}

/// Parses an integer timestamp (seconds or any other integer unit; the engine does not care).
pub(crate) fn parse_timestamp(field: &[u8]) -> Result<i64, String> {
    let t = trim(field);
    let (negative, digits) = match t.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, t),
    };
    let bad = || format!("timestamp `{}` is not an integer", String::from_utf8_lossy(t));
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let mut v: i64 = 0;
    for &d in digits {
        v = v.checked_mul(10).and_then(|v| v.checked_add(i64::from(d - b'0'))).ok_or_else(bad)?;
    }
    Ok(if negative { -v } else { v })
}

/// Splits `line` into `out`, returning the total number of fields (which may exceed what `out`
/// holds). Only CSV can fail (a broken quoted field).
fn split_fields<'a>(
    line: &'a [u8],
    separator: Separator,
    out: &mut [Cow<'a, [u8]>; MAX_FIELDS],
) -> Result<usize, String> {
    if separator == Separator::Comma && line.contains(&b'"') {
        return split_quoted_csv(line, out);
    }
    let mut n = 0;
    for field in split_simple(line, separator) {
        if n < MAX_FIELDS {
            out[n] = Cow::Borrowed(field);
        }
        n += 1;
    }
    Ok(n)
}

/// Splits on the separator without any quoting.
pub(crate) fn split_simple(line: &[u8], separator: Separator) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(line);
    std::iter::from_fn(move || {
        let s = rest?;
        let found = match separator {
            Separator::Tab => s.iter().position(|&b| b == b'\t').map(|p| (p, 1)),
            Separator::Comma => s.iter().position(|&b| b == b',').map(|p| (p, 1)),
            Separator::DoubleColon => s.windows(2).position(|w| w == b"::").map(|p| (p, 2)),
        };
        match found {
            Some((p, width)) => {
                rest = Some(&s[p + width..]);
                Some(&s[..p])
            }
            None => {
                rest = None;
                Some(s)
            }
        }
    })
}

/// RFC 4180 fields: a field that starts with `"` (after optional spaces) runs to the closing
/// quote, may contain commas, and writes a quote as `""`. A quoted field cannot span lines:
/// both readers split on line endings first, which is what lets the parallel reader cut the file
/// anywhere at a newline.
fn split_quoted_csv<'a>(
    line: &'a [u8],
    out: &mut [Cow<'a, [u8]>; MAX_FIELDS],
) -> Result<usize, String> {
    let mut n = 0;
    let mut pos = 0;
    loop {
        let start = pos + line[pos..].iter().take_while(|&&b| b == b' ').count();
        let (field, next): (Cow<'a, [u8]>, usize) = if line.get(start) == Some(&b'"') {
            let (field, after_quote) = read_quoted(line, start + 1)
                .ok_or_else(|| format!("unterminated quoted field {}", n + 1))?;
            let after =
                after_quote + line[after_quote..].iter().take_while(|&&b| b == b' ').count();
            match line.get(after) {
                None | Some(b',') => (field, after),
                Some(_) => {
                    return Err(format!(
                        "unexpected text after the closing quote of field {}",
                        n + 1
                    ));
                }
            }
        } else {
            let end = line[pos..].iter().position(|&b| b == b',').map_or(line.len(), |p| pos + p);
            (Cow::Borrowed(&line[pos..end]), end)
        };
        if n < MAX_FIELDS {
            out[n] = field;
        }
        n += 1;
        if next >= line.len() {
            return Ok(n);
        }
        pos = next + 1; // skip the comma
    }
}

/// Reads a quoted field whose content starts at `from`; returns the unescaped content and the
/// position just after the closing quote, or `None` when the quote is never closed.
fn read_quoted(line: &[u8], from: usize) -> Option<(Cow<'_, [u8]>, usize)> {
    let mut owned: Option<Vec<u8>> = None;
    let mut seg_start = from;
    let mut i = from;
    loop {
        let q = i + line[i..].iter().position(|&b| b == b'"')?;
        if line.get(q + 1) == Some(&b'"') {
            // An escaped quote: keep the text so far plus one quote, continue after the pair.
            owned.get_or_insert_with(Vec::new).extend_from_slice(&line[seg_start..=q]);
            i = q + 2;
            seg_start = i;
        } else {
            let field = match owned {
                None => Cow::Borrowed(&line[from..q]),
                Some(mut v) => {
                    v.extend_from_slice(&line[seg_start..q]);
                    Cow::Owned(v)
                }
            };
            return Some((field, q + 1));
        }
    }
}

/// True when a first line reads as column names rather than data: its weight or timestamp
/// column is not a number, or its user/item column is a usual column name (`userId`, `item`…).
pub(crate) fn looks_like_header(fields: &[&[u8]]) -> bool {
    let not_number = |f: &[u8]| {
        let t = trim(f);
        !t.is_empty() && String::from_utf8_lossy(t).parse::<f64>().is_err()
    };
    if fields.get(2).is_some_and(|f| not_number(f)) || fields.get(3).is_some_and(|f| not_number(f))
    {
        return true;
    }
    let named = |f: Option<&&[u8]>, names: &[&str]| {
        f.is_some_and(|f| names.contains(&normalized_name(trim(f)).as_str()))
    };
    named(fields.first(), USER_COLUMN_NAMES) || named(fields.get(1), ITEM_COLUMN_NAMES)
}

const USER_COLUMN_NAMES: &[&str] = &[
    "user",
    "userid",
    "users",
    "uid",
    "customer",
    "customerid",
    "member",
    "memberid",
    "account",
    "accountid",
    "profile",
    "profileid",
    "listener",
    "listenerid",
    "viewer",
    "viewerid",
    "player",
    "playerid",
    "visitorid",
];

const ITEM_COLUMN_NAMES: &[&str] = &[
    "item",
    "itemid",
    "items",
    "iid",
    "movie",
    "movieid",
    "artist",
    "artistid",
    "track",
    "trackid",
    "song",
    "songid",
    "album",
    "albumid",
    "game",
    "gameid",
    "product",
    "productid",
    "show",
    "showid",
    "episode",
    "episodeid",
    "video",
    "videoid",
    "podcast",
    "podcastid",
    "title",
    "titleid",
    "content",
    "contentid",
];

/// Lower-cases a column name and drops `_`, `-`, spaces and quotes (`"User_ID"` → `userid`).
pub(crate) fn normalized_name(field: &[u8]) -> String {
    field
        .iter()
        .filter(|b| !matches!(b, b'_' | b'-' | b' ' | b'"'))
        .map(|b| b.to_ascii_lowercase() as char)
        .collect()
}

/// Strips ASCII spaces and tabs at both ends.
pub(crate) fn trim(field: &[u8]) -> &[u8] {
    let is_space = |b: &u8| *b == b' ' || *b == b'\t';
    let start = field.iter().position(|b| !is_space(b)).unwrap_or(field.len());
    let end = field.iter().rposition(|b| !is_space(b)).map_or(start, |p| p + 1);
    &field[start..end]
}

/// Drops a UTF-8 byte-order mark (spreadsheet exports start with one).
pub(crate) fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// Drops the `\n` or `\r\n` at the end of a line.
pub(crate) fn strip_line_ending(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}
