//! The streaming reader: one line at a time from any [`BufRead`], in file order.
//!
//! Memory stays constant whatever the file size (one reused line buffer), which is what the
//! service's bulk import wants. [`super::read_interactions`] is the fast path for training.

use std::io::{BufRead, Cursor, Read};
use std::path::Path;

use super::parse::{Layout, strip_bom, strip_line_ending};
use super::{Format, ReadOptions, ReadSummary, Record};

/// How much of the input is looked at to detect its format.
pub(crate) const SAMPLE_BYTES: usize = 64 * 1024;

/// Reads the interaction file at `path`, calling `sink` for every data row in file order.
///
/// See [`read_records_from`]; this only opens the file.
pub fn read_records(
    path: &Path,
    opts: &ReadOptions,
    sink: impl FnMut(Record<'_>) -> crate::Result<()>,
) -> crate::Result<ReadSummary> {
    let file = std::fs::File::open(path).map_err(|e| crate::Error::io(path, e))?;
    let reader = std::io::BufReader::with_capacity(256 * 1024, file);
    read_records_from(reader, &path.display().to_string(), opts, sink)
}

/// Reads interactions from `reader`, calling `sink` for every data row in file order.
///
/// `name` names the input in errors (`"ratings.csv:17: weight `x` is not a number"`). With
/// [`Format::Auto`] the first 64 KB decide the format (see [`super::detect_format`]). Blank lines
/// are ignored; `\n` and `\r\n` endings and a missing final newline are all accepted. The first
/// error of `sink` stops the read and is returned as is. Fails with
/// [`crate::Error::InvalidInput`] when the input holds no data row.
pub fn read_records_from(
    mut reader: impl BufRead,
    name: &str,
    opts: &ReadOptions,
    mut sink: impl FnMut(Record<'_>) -> crate::Result<()>,
) -> crate::Result<ReadSummary> {
    let io_error = |e| crate::Error::io(name, e);
    // Read whole lines until the sample is big enough, then replay them before the rest.
    let mut sample = Vec::new();
    while sample.len() < SAMPLE_BYTES {
        if reader.read_until(b'\n', &mut sample).map_err(io_error)? == 0 {
            break;
        }
    }
    let bom = sample.len() - strip_bom(&sample).len();
    let (format, detected) = resolve_format(opts.format, &sample[bom..], name)?;
    let mut input = Cursor::new(sample).chain(reader);
    input.get_mut().0.set_position(bom as u64);

    let mut summary =
        ReadSummary { format, detected, rows: 0, skipped_bad_lines: 0, had_header: false };
    let mut layout: Option<Layout> = None;
    let mut buf = Vec::with_capacity(256);
    let mut line_no = 0u64;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf).map_err(io_error)? == 0 {
            break;
        }
        line_no += 1;
        let line = strip_line_ending(&buf);
        let bad = |message: String, summary: &mut ReadSummary| {
            if opts.skip_bad_lines {
                summary.skipped_bad_lines += 1;
                Ok(())
            } else {
                Err(crate::Error::Parse { path: name.to_string(), line: line_no, message })
            }
        };
        let current = match layout {
            Some(l) => l,
            None if super::parse::trim(line).is_empty() => continue,
            None => match Layout::from_first_line(format, line) {
                Ok(l) => {
                    layout = Some(l);
                    summary.had_header = l.had_header;
                    if l.had_header {
                        continue;
                    }
                    l
                }
                Err(message) => {
                    bad(message, &mut summary)?;
                    continue;
                }
            },
        };
        match current.parse_line(line) {
            Ok(None) => {}
            Ok(Some(p)) => {
                summary.rows += 1;
                sink(Record {
                    user: &p.user,
                    item: &p.item,
                    weight: p.weight,
                    timestamp: p.timestamp,
                    line: line_no,
                })?;
            }
            Err(message) => bad(message, &mut summary)?,
        }
    }
    if summary.rows == 0 {
        return Err(no_interactions(name));
    }
    Ok(summary)
}

/// The concrete format to read with, and whether it was detected.
pub(crate) fn resolve_format(
    requested: Format,
    sample: &[u8],
    name: &str,
) -> crate::Result<(Format, bool)> {
    if requested != Format::Auto {
        return Ok((requested, false));
    }
    if super::parse::trim(sample).iter().all(|b| b.is_ascii_whitespace()) {
        return Err(no_interactions(name));
    }
    match super::detect_format(sample) {
        Ok((format, _reason)) => Ok((format, true)),
        Err(crate::Error::InvalidInput(message)) => {
            Err(crate::Error::InvalidInput(format!("{name}: {message}")))
        }
        Err(e) => Err(e),
    }
}

/// The error for an input without a single data row.
pub(crate) fn no_interactions(name: &str) -> crate::Error {
    crate::Error::InvalidInput(format!("no interactions in {name}"))
}
