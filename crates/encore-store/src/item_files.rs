//! Reading item metadata files for `encore import-items`.
//!
//! | [`ItemFormat`] | file | becomes |
//! |---|---|---|
//! | `lastfm-artists` | Last.fm HetRec `artists.dat`: tab-separated, header `id name url pictureURL` | kind `artist`, title = name |
//! | `ml-100k-items` | MovieLens 100K `u.item`: `id\|title\|release date\|video date\|url\|` 19 genre flags, Latin-1 | kind `film`, genres as tags, `01-Jan-1995` as `1995-01-01` |
//! | `ml-movies` | MovieLens `movies.csv`: `movieId,title,genres`, RFC 4180 quoting | kind `film`, `\|`-separated genres as tags |
//! | `csv` | generic `item_id,title,kind,tags` (tags `\|`-separated); a header row may name and reorder the columns, and add `available` and `released` | as given |
//!
//! [`ItemFormat::Auto`] looks at the first line. Text that is not valid UTF-8 is read as Latin-1
//! (the MovieLens 100K files are), so `Misérables` comes out right either way. Genre flags of
//! `u.item` take their names from `u.genre` beside the file when present, else the standard
//! names; the `unknown` genre gives no tag. A malformed line is an [`Error::Invalid`] naming
//! `file:line`.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::types::NewItem;

/// The layout of an item metadata file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ItemFormat {
    /// Last.fm HetRec 2011 `artists.dat`.
    LastfmArtists,
    /// MovieLens 100K `u.item`.
    Ml100kItems,
    /// MovieLens "latest" `movies.csv`.
    MlMovies,
    /// Generic CSV `item_id,title,kind,tags`.
    Csv,
    /// Detect from the first line.
    #[default]
    Auto,
}

impl ItemFormat {
    /// Every format, as listed in help texts.
    pub const ALL: [ItemFormat; 5] = [
        ItemFormat::LastfmArtists,
        ItemFormat::Ml100kItems,
        ItemFormat::MlMovies,
        ItemFormat::Csv,
        ItemFormat::Auto,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ItemFormat::LastfmArtists => "lastfm-artists",
            ItemFormat::Ml100kItems => "ml-100k-items",
            ItemFormat::MlMovies => "ml-movies",
            ItemFormat::Csv => "csv",
            ItemFormat::Auto => "auto",
        }
    }
}

impl fmt::Display for ItemFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ItemFormat {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        ItemFormat::ALL.into_iter().find(|f| f.name() == s).ok_or_else(|| {
            let names: Vec<_> = ItemFormat::ALL.iter().map(|f| f.name()).collect();
            Error::Invalid(format!("unknown item format `{s}` (one of {})", names.join(", ")))
        })
    }
}

/// The standard MovieLens 100K genre names, in flag order.
const ML100K_GENRES: [&str; 19] = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
];

/// Decodes a line: UTF-8 when valid, else Latin-1 (every byte is the code point of that value).
fn decode(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect()),
    }
}

/// Detects the format from the first line of a file.
pub fn detect_item_format(first_line: &str) -> ItemFormat {
    let line = first_line.trim_start_matches('\u{feff}').trim_end();
    let lower = line.to_ascii_lowercase();
    if lower.starts_with("id\tname\t") {
        ItemFormat::LastfmArtists
    } else if lower.starts_with("movieid,title,genres") {
        ItemFormat::MlMovies
    } else if line.split('|').count() == 24 {
        ItemFormat::Ml100kItems
    } else {
        ItemFormat::Csv
    }
}

/// Reads all items of the file at `path`.
pub fn read_item_file(path: &Path, format: ItemFormat) -> Result<Vec<NewItem>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = decode(&bytes);
    let origin = path.display().to_string();
    let genre_names = match path.parent().map(|dir| dir.join("u.genre")) {
        Some(genre_file) if genre_file.is_file() => Some(read_genre_names(&genre_file)?),
        _ => None,
    };
    parse_items(&text, &origin, format, genre_names.as_deref())
}

/// Reads `u.genre` (`name|index` lines) into names by index.
fn read_genre_names(path: &Path) -> Result<Vec<String>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut names: Vec<(usize, String)> = Vec::new();
    for (n, line) in decode(&bytes).lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let parsed = line
            .rsplit_once('|')
            .and_then(|(name, index)| Some((index.trim().parse().ok()?, name.to_owned())));
        let Some(entry) = parsed else {
            return Err(Error::Invalid(format!(
                "{}:{}: expected `name|index`",
                path.display(),
                n + 1
            )));
        };
        names.push(entry);
    }
    names.sort();
    if names.iter().enumerate().any(|(i, (index, _))| *index != i) {
        return Err(Error::Invalid(format!(
            "{}: genre indices are not 0, 1, 2, …",
            path.display()
        )));
    }
    Ok(names.into_iter().map(|(_, name)| name).collect())
}

/// Parses the text of an item file. `origin` names it in errors; `genre_names` overrides the
/// standard MovieLens 100K genre names.
pub fn parse_items(
    text: &str,
    origin: &str,
    format: ItemFormat,
    genre_names: Option<&[String]>,
) -> Result<Vec<NewItem>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let format = match format {
        ItemFormat::Auto => detect_item_format(text.lines().next().unwrap_or("")),
        f => f,
    };
    let bad = |line: usize, message: String| Error::Invalid(format!("{origin}:{line}: {message}"));
    let mut items = Vec::new();
    match format {
        ItemFormat::LastfmArtists => {
            for (n, line) in text.lines().enumerate().skip(1) {
                if line.trim().is_empty() {
                    continue;
                }
                let mut fields = line.split('\t');
                let (Some(id), Some(name)) = (fields.next(), fields.next()) else {
                    return Err(bad(n + 1, "expected `id<TAB>name<TAB>url<TAB>pictureURL`".into()));
                };
                let mut item = NewItem::new(id.trim(), name.trim());
                item.kind = "artist".into();
                items.push(item);
            }
        }
        ItemFormat::Ml100kItems => {
            let standard: Vec<String> = ML100K_GENRES.iter().map(|g| (*g).to_owned()).collect();
            let genres = genre_names.unwrap_or(&standard);
            for (n, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let fields: Vec<&str> = line.split('|').collect();
                if fields.len() != 5 + genres.len() {
                    return Err(bad(
                        n + 1,
                        format!(
                            "expected {} `|`-separated fields, found {}",
                            5 + genres.len(),
                            fields.len()
                        ),
                    ));
                }
                let mut item = NewItem::new(fields[0].trim(), fields[1].trim());
                item.kind = "film".into();
                item.released = parse_ml_date(fields[2].trim()).map_err(|m| bad(n + 1, m))?;
                for (flag, genre) in fields[5..].iter().zip(genres) {
                    match flag.trim() {
                        "1" if genre != "unknown" => item.tags.push(genre.clone()),
                        "0" | "1" => {}
                        other => {
                            return Err(bad(n + 1, format!("genre flag `{other}` is not 0 or 1")));
                        }
                    }
                }
                items.push(item);
            }
        }
        ItemFormat::MlMovies => {
            for (line_no, fields) in CsvRecords::new(text).skip(1) {
                let fields = fields.map_err(|m| bad(line_no, m))?;
                let [id, title, genres] = fields.as_slice() else {
                    return Err(bad(line_no, format!("expected 3 fields, found {}", fields.len())));
                };
                let mut item = NewItem::new(id.trim(), title.trim());
                item.kind = "film".into();
                if genres.trim() != "(no genres listed)" {
                    item.tags = split_tags(genres);
                }
                items.push(item);
            }
        }
        ItemFormat::Csv => items = parse_generic_csv(text, &bad)?,
        ItemFormat::Auto => unreachable!("resolved above"),
    }
    Ok(items)
}

/// `01-Jan-1995` → `1995-01-01`; empty → `None`.
fn parse_ml_date(date: &str) -> std::result::Result<Option<String>, String> {
    if date.is_empty() {
        return Ok(None);
    }
    const MONTHS: [&str; 12] =
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    let parts: Vec<&str> = date.split('-').collect();
    let parsed = match parts.as_slice() {
        [day, month, year] => {
            let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(month));
            match (day.parse::<u32>(), month, year.parse::<u32>()) {
                (Ok(d), Some(m), Ok(y)) if (1..=31).contains(&d) && year.len() == 4 => {
                    Some(format!("{y:04}-{:02}-{d:02}", m + 1))
                }
                _ => None,
            }
        }
        _ => None,
    };
    parsed.map(Some).ok_or_else(|| format!("release date `{date}` is not like 01-Jan-1995"))
}

fn split_tags(tags: &str) -> Vec<String> {
    tags.split('|').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect()
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "1" | "true" | "yes" | "y" => Some(true),
        "0" | "false" | "no" | "n" => Some(false),
        _ => None,
    }
}

/// Generic CSV: positional `item_id,title,kind,tags`, or named columns when the first row is a
/// header naming `item_id` (plus any of `title`, `kind`, `tags`, `available`, `released`).
fn parse_generic_csv(text: &str, bad: &dyn Fn(usize, String) -> Error) -> Result<Vec<NewItem>> {
    const NAMES: [&str; 6] = ["item_id", "title", "kind", "tags", "available", "released"];
    let mut records = CsvRecords::new(text).peekable();
    // Column index of each of NAMES (None when absent).
    let mut columns: [Option<usize>; 6] = [Some(0), Some(1), Some(2), Some(3), None, None];
    if let Some((line_no, Ok(first))) = records.peek() {
        let lower: Vec<String> = first.iter().map(|f| f.trim().to_ascii_lowercase()).collect();
        if lower.iter().any(|f| f == "item_id") {
            columns = NAMES.map(|name| lower.iter().position(|f| f == name));
            if let Some(unknown) = lower.iter().find(|f| !NAMES.contains(&f.as_str())) {
                return Err(bad(
                    *line_no,
                    format!("unknown column `{unknown}` (known: {})", NAMES.join(", ")),
                ));
            }
            records.next();
        }
    }
    let width = columns.iter().flatten().max().map_or(0, |m| m + 1);
    let mut items = Vec::new();
    for (line_no, fields) in records {
        let fields = fields.map_err(|m| bad(line_no, m))?;
        if fields.len() == 1 && fields[0].trim().is_empty() {
            continue;
        }
        if fields.len() > width || fields.len() < 2 {
            return Err(bad(
                line_no,
                format!("expected 2 to {width} fields, found {}", fields.len()),
            ));
        }
        let get = |col: usize| columns[col].and_then(|i| fields.get(i)).map(|f| f.trim());
        let Some(id) = get(0).filter(|id| !id.is_empty()) else {
            return Err(bad(line_no, "item_id is empty".into()));
        };
        let mut item = NewItem::new(id, get(1).unwrap_or(""));
        item.kind = get(2).unwrap_or("").to_owned();
        item.tags = get(3).map(split_tags).unwrap_or_default();
        if let Some(available) = get(4) {
            item.available = parse_bool(available)
                .ok_or_else(|| bad(line_no, format!("available `{available}` is not a boolean")))?;
        }
        item.released = get(5).filter(|r| !r.is_empty()).map(str::to_owned);
        items.push(item);
    }
    Ok(items)
}

/// Splits text into RFC 4180 records: fields separated by commas, optionally quoted with `"`,
/// `""` for a quote inside quotes, and line breaks allowed inside quotes. Yields the 1-based
/// line each record starts on and its fields, or an error for an unterminated quote. Blank lines
/// are skipped.
struct CsvRecords<'a> {
    lines: std::iter::Enumerate<std::str::Lines<'a>>,
}

impl<'a> CsvRecords<'a> {
    fn new(text: &'a str) -> Self {
        CsvRecords { lines: text.lines().enumerate() }
    }
}

impl Iterator for CsvRecords<'_> {
    type Item = (usize, std::result::Result<Vec<String>, String>);

    fn next(&mut self) -> Option<Self::Item> {
        let (start, first) = loop {
            let (n, line) = self.lines.next()?;
            if !line.trim().is_empty() {
                break (n + 1, line);
            }
        };
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut in_quotes = false;
        let mut line = first;
        loop {
            let mut chars = line.chars().peekable();
            while let Some(c) = chars.next() {
                match (c, in_quotes) {
                    ('"', true) if chars.peek() == Some(&'"') => {
                        field.push('"');
                        chars.next();
                    }
                    ('"', true) => in_quotes = false,
                    ('"', false) if field.trim().is_empty() => {
                        field.clear();
                        in_quotes = true;
                    }
                    (',', false) => fields.push(std::mem::take(&mut field)),
                    (c, _) => field.push(c),
                }
            }
            if !in_quotes {
                break;
            }
            match self.lines.next() {
                Some((_, next)) => {
                    field.push('\n');
                    line = next;
                }
                None => return Some((start, Err("unterminated quoted field".into()))),
            }
        }
        fields.push(field);
        Some((start, Ok(fields)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &str) -> Vec<Vec<String>> {
        CsvRecords::new(text).map(|(_, r)| r.unwrap()).collect()
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(
            csv("a,b\n\n\"x, y\",\"say \"\"hi\"\"\""),
            vec![vec!["a".to_string(), "b".into()], vec!["x, y".into(), "say \"hi\"".into()],]
        );
        assert_eq!(
            csv("1,\"two\nlines\",3"),
            vec![vec!["1".to_string(), "two\nlines".into(), "3".into()]]
        );
        let unterminated: Vec<_> = CsvRecords::new("1,\"open").collect();
        assert!(unterminated[0].1.is_err());
    }

    #[test]
    fn latin1_fallback() {
        assert_eq!(decode(b"Mis\xe9rables"), "Misérables");
        assert_eq!(decode("Misérables".as_bytes()), "Misérables");
    }

    #[test]
    fn detection() {
        assert_eq!(detect_item_format("id\tname\turl\tpictureURL"), ItemFormat::LastfmArtists);
        assert_eq!(detect_item_format("movieId,title,genres"), ItemFormat::MlMovies);
        assert_eq!(
            detect_item_format(
                "1|Toy Story (1995)|01-Jan-1995||u|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0"
            ),
            ItemFormat::Ml100kItems
        );
        assert_eq!(detect_item_format("item_id,title,kind,tags"), ItemFormat::Csv);
    }

    #[test]
    fn ml_dates() {
        assert_eq!(parse_ml_date("01-Jan-1995").unwrap().as_deref(), Some("1995-01-01"));
        assert_eq!(parse_ml_date("").unwrap(), None);
        assert!(parse_ml_date("1995").is_err());
    }

    #[test]
    fn generic_csv_positional_and_named() {
        let items = parse_items("t1,Song,track,rock|indie\n", "x", ItemFormat::Csv, None).unwrap();
        assert_eq!(items[0].tags, vec!["rock", "indie"]);
        assert_eq!(items[0].kind, "track");
        let text = "title,item_id,available,released\nGame,g1,false,2020-05-01\n";
        let items = parse_items(text, "x", ItemFormat::Csv, None).unwrap();
        assert_eq!(items[0].item_id, "g1");
        assert!(!items[0].available);
        assert_eq!(items[0].released.as_deref(), Some("2020-05-01"));
        let err = parse_items("item_id,colour\n", "f.csv", ItemFormat::Csv, None).unwrap_err();
        assert!(err.to_string().contains("f.csv:1"), "{err}");
        let err = parse_items("a,b\n,x\n", "f.csv", ItemFormat::Csv, None).unwrap_err();
        assert!(err.to_string().contains("f.csv:2"), "{err}");
    }

    #[test]
    fn ml100k_line() {
        let line = "543|Mis\u{e9}rables, Les (1995)|01-Jan-1995||url|0|0|0|0|0|0|0|0|1|0|0|0|1|0|0|0|0|0|0";
        let items = parse_items(line, "u.item", ItemFormat::Auto, None).unwrap();
        assert_eq!(items[0].title, "Misérables, Les (1995)");
        assert_eq!(items[0].tags, vec!["Drama", "Musical"]);
        assert_eq!(items[0].released.as_deref(), Some("1995-01-01"));
        let bad = line.replace("|0|0|0|0|0|0|0|0|1", "|0|0|0|0|0|0|0|0|2");
        assert!(parse_items(&bad, "u.item", ItemFormat::Ml100kItems, None).is_err());
    }
}
