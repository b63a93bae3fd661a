//! Reading interaction files: who played, watched or rated what, and how much.
//!
//! An interaction file has one row per (user, item) event. Two readers share one line parser, so
//! they accept and reject exactly the same input:
//!
//! * [`read_records`] / [`read_records_from`] stream rows one by one to a callback, in file
//!   order, in constant memory (bulk import into the store);
//! * [`read_interactions`] reads a whole file as fast as the machine allows (memory map, parallel
//!   parsing on line boundaries, per-chunk interning) into [`Interactions`]: dense `u32` user and
//!   item indices plus weights, ready for [`Interactions::to_matrix`]. Training uses this.
//!
//! # Formats
//!
//! | [`Format`] | layout |
//! |---|---|
//! | `tsv`, `csv` | `user, item[, weight[, timestamp]]`, optional header row; CSV allows `"quoted, fields"` |
//! | `ml-100k` | MovieLens 100K `u.data`: `user⇥item⇥rating⇥timestamp`, no header |
//! | `ml-latest` | MovieLens `ratings.csv`: header `userId,movieId,rating,timestamp` |
//! | `ml-1m` | MovieLens 1M `ratings.dat`: `user::item::rating::timestamp` |
//! | `lastfm` | Last.fm `user_artists.dat`: header `userID⇥artistID⇥weight` |
//! | `auto` | detected from the first 64 KB ([`detect_format`]) |
//!
//! Every reader accepts `\n` or `\r\n` line endings, a missing final newline, a UTF-8 byte-order
//! mark and blank lines (ignored), and trims spaces around fields. The weight defaults to 1 when
//! the file has no weight column; it must be a finite number ≥ 0 (zero is kept: it is data). The
//! column count is fixed by the first line, and every line must have it.
//!
//! # Errors
//!
//! A bad line is a [`crate::Error::Parse`] naming the file, the 1-based line and the problem
//! (wrong number of fields, empty id, invalid UTF-8, weight not a number / not finite / negative,
//! timestamp not an integer). With [`ReadOptions::skip_bad_lines`] such lines are counted in
//! [`ReadSummary::skipped_bad_lines`] instead. Input without a single data row is
//! [`crate::Error::InvalidInput`] `"no interactions in FILE"`.
//!
//! ```no_run
//! use encore_core::data::{read_interactions, ReadOptions};
//! let data = read_interactions("ratings.csv".as_ref(), &ReadOptions::default())?;
//! println!("{} rows read as {}", data.len(), data.summary.format);
//! let dataset = data.into_dataset()?;
//! # Ok::<(), encore_core::Error>(())
//! ```

mod format;
mod intern;
mod parallel;
mod parse;
mod stream;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_parallel;

use std::io::Read;
use std::path::Path;

pub use format::{Format, detect_format};
pub use stream::{read_records, read_records_from};

use crate::ids::IdMap;
use crate::matrix::InteractionMatrix;

/// How to read an interaction file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadOptions {
    /// The file format; [`Format::Auto`] (the default) detects it.
    pub format: Format,
    /// Skip (and count) malformed lines instead of failing on the first one.
    pub skip_bad_lines: bool,
}

/// One data row, borrowed from the reader's line buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Record<'a> {
    /// The user's id as written in the file (trimmed).
    pub user: &'a str,
    /// The item's id as written in the file (trimmed).
    pub item: &'a str,
    /// Weight (play count, rating, …); 1.0 when the file has no weight column.
    pub weight: f32,
    /// Timestamp, when the file has a timestamp column.
    pub timestamp: Option<i64>,
    /// 1-based line number in the file.
    pub line: u64,
}

/// What a read found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadSummary {
    /// The format actually used (never [`Format::Auto`]).
    pub format: Format,
    /// True when the format was detected rather than given.
    pub detected: bool,
    /// Number of data rows read.
    pub rows: u64,
    /// Number of malformed lines skipped (only with [`ReadOptions::skip_bad_lines`]).
    pub skipped_bad_lines: u64,
    /// Whether the file started with a header row.
    pub had_header: bool,
}

/// A whole interaction file as interned triplets: row `k` is
/// `(user_idx[k], item_idx[k], weights[k], timestamps[k])`, in file order.
///
/// Ids get indices in order of first appearance, so the same file always gives the same indices.
/// Duplicate (user, item) rows are kept here; [`Interactions::to_matrix`] sums them.
#[derive(Debug, Clone, PartialEq)]
pub struct Interactions {
    /// User ids ↔ indices.
    pub users: IdMap,
    /// Item ids ↔ indices.
    pub items: IdMap,
    /// User index of each row.
    pub user_idx: Vec<u32>,
    /// Item index of each row.
    pub item_idx: Vec<u32>,
    /// Weight of each row.
    pub weights: Vec<f32>,
    /// Timestamp of each row, when the file has a timestamp column.
    pub timestamps: Option<Vec<i64>>,
    /// What the read found.
    pub summary: ReadSummary,
}

/// Interned ids and the users × items matrix: what training needs.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// User ids ↔ matrix rows.
    pub users: IdMap,
    /// Item ids ↔ matrix columns.
    pub items: IdMap,
    /// The users × items matrix, duplicate rows summed.
    pub matrix: InteractionMatrix,
}

impl Interactions {
    /// Number of rows (duplicates included).
    pub fn len(&self) -> usize {
        self.user_idx.len()
    }

    /// True when there is no row (never the case for data returned by the readers).
    pub fn is_empty(&self) -> bool {
        self.user_idx.is_empty()
    }

    /// The users × items matrix; the weights of duplicate (user, item) rows are summed.
    pub fn to_matrix(&self) -> crate::Result<InteractionMatrix> {
        InteractionMatrix::from_triplets(
            self.users.len(),
            self.items.len(),
            &self.user_idx,
            &self.item_idx,
            &self.weights,
        )
    }

    /// The matrix and the id maps, releasing the triplets.
    pub fn into_dataset(self) -> crate::Result<Dataset> {
        let matrix = self.to_matrix()?;
        Ok(Dataset { users: self.users, items: self.items, matrix })
    }
}

/// Reads the whole interaction file at `path` into [`Interactions`], in parallel.
///
/// The file is memory-mapped and parsed in chunks on all rayon threads; the result (indices,
/// errors, line numbers) is identical to reading it sequentially with [`read_records`]. Memory:
/// 12 bytes per row (16 more with timestamps) plus the distinct ids, plus the mapped file while
/// reading.
pub fn read_interactions(path: &Path, opts: &ReadOptions) -> crate::Result<Interactions> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| crate::Error::io(path, e))?;
    let len = file.metadata().map_err(|e| crate::Error::io(path, e))?.len();
    if len == 0 {
        return Err(stream::no_interactions(&name));
    }
    match map_file(&file) {
        Ok(map) => parallel::interactions_from_bytes(
            &map,
            &name,
            opts,
            parallel::default_chunk_bytes(map.len()),
        ),
        // Not mappable (a pipe, some network file systems): read it into memory instead.
        Err(_) => {
            let mut bytes = Vec::with_capacity(len as usize);
            (&file).read_to_end(&mut bytes).map_err(|e| crate::Error::io(path, e))?;
            parse_interactions(&bytes, &name, opts)
        }
    }
}

/// Parses interactions already in memory (an uploaded body, a test fixture), like
/// [`read_interactions`]; `name` names the input in errors.
pub fn parse_interactions(
    bytes: &[u8],
    name: &str,
    opts: &ReadOptions,
) -> crate::Result<Interactions> {
    parallel::interactions_from_bytes(bytes, name, opts, parallel::default_chunk_bytes(bytes.len()))
}

/// Detects the format of the file at `path` from its first 64 KB; see [`detect_format`].
pub fn detect_file_format(path: &Path) -> crate::Result<(Format, String)> {
    let file = std::fs::File::open(path).map_err(|e| crate::Error::io(path, e))?;
    let mut sample = Vec::with_capacity(stream::SAMPLE_BYTES);
    file.take(stream::SAMPLE_BYTES as u64)
        .read_to_end(&mut sample)
        .map_err(|e| crate::Error::io(path, e))?;
    detect_format(&sample).map_err(|e| match e {
        crate::Error::InvalidInput(m) => {
            crate::Error::InvalidInput(format!("{}: {m}", path.display()))
        }
        other => other,
    })
}

/// Maps a file read-only.
#[allow(unsafe_code)]
fn map_file(file: &std::fs::File) -> std::io::Result<memmap2::Mmap> {
    // SAFETY: the map is read-only and private to this call's caller, which only reads it as
    // bytes. If another process truncates the file while it is mapped, reads of the lost pages
    // fault (SIGBUS); that is the accepted trade-off of every mmap-based reader, and the files
    // read here are inputs the operator hands to Encore, not files Encore itself rewrites.
    unsafe { memmap2::MmapOptions::new().map(file) }
}
