//! The supported file formats, their names, and detection from the first bytes of a file.

use std::fmt;
use std::str::FromStr;

use super::parse::{Separator, looks_like_header, normalized_name, split_simple, strip_bom, trim};

/// The layout of an interaction file.
///
/// The generic formats take positional columns `user, item[, weight[, timestamp]]`; the named
/// formats are the files of public data sets, which the generic readers would also accept, but
/// naming them documents what was read and makes the column count strict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// Tab-separated `user item [weight [timestamp]]`, optional header row.
    Tsv,
    /// Comma-separated `user,item[,weight[,timestamp]]`, optional header row, RFC 4180 quoting.
    Csv,
    /// MovieLens 100K `u.data`: tab-separated `user item rating timestamp`, no header.
    Ml100k,
    /// MovieLens "latest" `ratings.csv`: `userId,movieId,rating,timestamp` with that header.
    MlLatest,
    /// MovieLens 1M `ratings.dat`: `user::item::rating::timestamp`, no header.
    Ml1m,
    /// Last.fm HetRec 2011 `user_artists.dat`: tab-separated `userID artistID weight` with header.
    Lastfm,
    /// Detect the format from the first few kilobytes of the file (see [`detect_format`]).
    #[default]
    Auto,
}

impl Format {
    /// Every format, in the order they are listed in help texts.
    pub const ALL: [Format; 7] = [
        Format::Tsv,
        Format::Csv,
        Format::Ml100k,
        Format::MlLatest,
        Format::Ml1m,
        Format::Lastfm,
        Format::Auto,
    ];

    /// The name used on the command line and in the API (`"ml-100k"`, `"csv"`, …).
    pub fn name(self) -> &'static str {
        match self {
            Format::Tsv => "tsv",
            Format::Csv => "csv",
            Format::Ml100k => "ml-100k",
            Format::MlLatest => "ml-latest",
            Format::Ml1m => "ml-1m",
            Format::Lastfm => "lastfm",
            Format::Auto => "auto",
        }
    }

    /// The field separator of a concrete format (`None` for [`Format::Auto`]).
    pub(crate) fn separator(self) -> Option<Separator> {
        match self {
            Format::Tsv | Format::Ml100k | Format::Lastfm => Some(Separator::Tab),
            Format::Csv | Format::MlLatest => Some(Separator::Comma),
            Format::Ml1m => Some(Separator::DoubleColon),
            Format::Auto => None,
        }
    }

    /// The fixed number of columns of a named data-set format; `None` for the generic formats,
    /// whose column count (2 to 4) is taken from the first line.
    pub(crate) fn fixed_columns(self) -> Option<usize> {
        match self {
            Format::Ml100k | Format::MlLatest | Format::Ml1m => Some(4),
            Format::Lastfm => Some(3),
            Format::Tsv | Format::Csv | Format::Auto => None,
        }
    }

    /// Whether the first line may be a header row (MovieLens 100K and 1M files never have one).
    pub(crate) fn may_have_header(self) -> bool {
        !matches!(self, Format::Ml100k | Format::Ml1m)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = crate::Error;

    /// Parses a format name, ignoring ASCII case.
    fn from_str(s: &str) -> crate::Result<Self> {
        Format::ALL.into_iter().find(|f| f.name().eq_ignore_ascii_case(s.trim())).ok_or_else(|| {
            crate::Error::InvalidInput(format!(
                "unknown input format `{s}`; valid formats: {}",
                valid_names()
            ))
        })
    }
}

/// `"tsv, csv, ml-100k, …"` for error messages.
pub(crate) fn valid_names() -> String {
    Format::ALL.map(Format::name).join(", ")
}

/// How many non-blank lines of the sample the detector looks at.
const DETECT_LINES: usize = 50;

/// Detects the format of an interaction file from its first bytes (a few KB are plenty).
///
/// Returns the format and a human-readable reason (`"tab-separated with the Last.fm header …"`).
/// The rules, in order:
/// 1. every sampled line splits on `::` into 4 fields → `ml-1m`;
/// 2. the first line has a tab → `lastfm` when it is the header `userID⇥artistID⇥weight`,
///    `ml-100k` when every sampled line is 4 integer columns with a rating from 1 to 5 and no
///    header, otherwise generic `tsv`;
/// 3. the first line has a comma → `ml-latest` when it is the header
///    `userId,movieId,rating,timestamp`, otherwise generic `csv`.
///
/// A named format is only chosen when the sample matches it exactly, so anything ambiguous is
/// read as generic TSV/CSV, which parses the same columns the same way. Fails on an empty sample
/// or one whose first line has no separator at all.
pub fn detect_format(sample: &[u8]) -> crate::Result<(Format, String)> {
    let sample = strip_bom(sample);
    let mut lines: Vec<&[u8]> = sample
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !trim(l).is_empty())
        .take(DETECT_LINES + 1)
        .collect();
    // The sample may end in the middle of a line; do not judge the format by a cut line.
    let cut = !sample.ends_with(b"\n") && lines.len() > 1;
    if cut || lines.len() > DETECT_LINES {
        lines.pop();
    }
    let Some(&first) = lines.first() else {
        return Err(crate::Error::InvalidInput(
            "cannot detect the format of empty input (no non-blank line)".into(),
        ));
    };

    let colon_fields = |l: &[u8]| split_simple(l, Separator::DoubleColon).count();
    if lines.iter().all(|l| colon_fields(l) == 4) {
        return Ok((
            Format::Ml1m,
            "fields separated by `::`, 4 columns (MovieLens 1M ratings.dat)".into(),
        ));
    }

    let separator = if first.contains(&b'\t') {
        Separator::Tab
    } else if first.contains(&b',') {
        Separator::Comma
    } else {
        return Err(crate::Error::InvalidInput(format!(
            "cannot detect the input format: the first line has no tab, comma or `::` separator; \
             name the format explicitly (one of {})",
            valid_names()
        )));
    };
    let header: Vec<String> =
        split_simple(first, separator).map(|f| normalized_name(trim(f))).collect();
    let fields: Vec<&[u8]> = split_simple(first, separator).collect();
    let has_header = looks_like_header(&fields);
    let describe_generic = |kind: &str| {
        format!(
            "{kind}, {} columns, {}",
            fields.len(),
            if has_header { "with a header row" } else { "no header row" }
        )
    };

    match separator {
        Separator::Tab => {
            if header == ["userid", "artistid", "weight"] {
                return Ok((
                    Format::Lastfm,
                    "tab-separated with the Last.fm header `userID artistID weight`".into(),
                ));
            }
            if !has_header && lines.iter().all(|l| is_ml100k_line(l)) {
                return Ok((
                    Format::Ml100k,
                    "tab-separated, no header, 4 integer columns with ratings 1-5 \
                     (MovieLens 100K u.data)"
                        .into(),
                ));
            }
            Ok((Format::Tsv, describe_generic("tab-separated")))
        }
        Separator::Comma => {
            if header == ["userid", "movieid", "rating", "timestamp"] {
                return Ok((
                    Format::MlLatest,
                    "comma-separated with the MovieLens header `userId,movieId,rating,timestamp`"
                        .into(),
                ));
            }
            Ok((Format::Csv, describe_generic("comma-separated")))
        }
        Separator::DoubleColon => unreachable!("only tab or comma is chosen above"),
    }
}

/// `user⇥item⇥rating⇥timestamp`, all plain integers, rating 1–5.
fn is_ml100k_line(line: &[u8]) -> bool {
    let fields: Vec<&[u8]> = split_simple(line, Separator::Tab).map(trim).collect();
    fields.len() == 4
        && fields.iter().all(|f| !f.is_empty() && f.iter().all(u8::is_ascii_digit))
        && matches!(fields[2], b"1" | b"2" | b"3" | b"4" | b"5")
}
