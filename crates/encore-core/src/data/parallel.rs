//! The fast whole-file reader behind [`super::read_interactions`].
//!
//! 1. The file is memory-mapped (no copy into the heap; the page cache serves it).
//! 2. The first non-blank line is read sequentially: it fixes the layout (column count, header).
//! 3. The rest is cut into chunks at line boundaries; rayon parses the chunks in parallel. Each
//!    chunk interns its ids into a *local* map whose keys borrow from the mapped bytes, so no
//!    string is allocated per row.
//! 4. The chunk maps are merged into the global [`crate::ids::IdMap`]s in chunk order (users and items at the
//!    same time): an id new to the global map gets the next index, so indices come out in order of
//!    first appearance in the file, exactly as a sequential reader would assign them.
//! 5. Each chunk's local indices are rewritten to global ones and copied into the final arrays in
//!    parallel, freeing the chunk's arrays as soon as they are copied.
//!
//! Errors keep file order too: a chunk stops at its first bad line, and the error of the earliest
//! failing chunk is the one reported (later chunks give up early once an earlier one failed).

use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use super::intern::{LocalIds, merge_ids};
use super::parse::{Layout, strip_bom, strip_line_ending, trim};
use super::stream::{SAMPLE_BYTES, no_interactions, resolve_format};
use super::{Format, Interactions, ReadOptions, ReadSummary};

/// Chunk size for a file of `len` bytes: three chunks per thread, enough for rayon to balance the
/// load, and no more, because every chunk's distinct ids are merged sequentially afterwards.
pub(crate) fn default_chunk_bytes(len: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    (len / (3 * threads)).max(1 << 20)
}

/// Parses a whole in-memory file into interned triplets, `chunk_bytes` at a time.
pub(crate) fn interactions_from_bytes(
    bytes: &[u8],
    name: &str,
    opts: &ReadOptions,
    chunk_bytes: usize,
) -> crate::Result<Interactions> {
    let bytes = strip_bom(bytes);
    let (format, detected) =
        resolve_format(opts.format, &bytes[..bytes.len().min(SAMPLE_BYTES)], name)?;
    let prelude = read_prelude(bytes, format, opts, name)?;
    let Some((layout, body_start, body_first_line)) = prelude.found else {
        return Err(no_interactions(name));
    };
    let body = &bytes[body_start..];
    let chunks = split_at_lines(body, chunk_bytes.max(1));

    let first_failed = AtomicUsize::new(usize::MAX);
    let parsed: Vec<ChunkResult<'_>> = chunks
        .par_iter()
        .enumerate()
        .map(|(c, chunk)| parse_chunk(chunk, c, layout, opts.skip_bad_lines, &first_failed))
        .collect();

    // Report the first error in file order, with its absolute line number.
    let mut line = body_first_line;
    for chunk in &parsed {
        if let Some((local_line, message)) = &chunk.error {
            return Err(crate::Error::Parse {
                path: name.to_string(),
                line: line + local_line,
                message: message.clone(),
            });
        }
        line += chunk.lines;
    }

    let rows: usize = parsed.iter().map(|c| c.user_idx.len()).sum();
    let skipped = prelude.skipped + parsed.iter().map(|c| c.skipped).sum::<u64>();
    if rows == 0 {
        return Err(no_interactions(name));
    }

    let (users, items) = rayon::join(
        || merge_ids(parsed.iter().map(|c| &c.users)),
        || merge_ids(parsed.iter().map(|c| &c.items)),
    );
    let (users, user_remaps) = users;
    let (items, item_remaps) = items;

    let mut user_idx = vec![0u32; rows];
    let mut item_idx = vec![0u32; rows];
    let mut weights = vec![0f32; rows];
    let mut timestamps = if layout.has_timestamps() { Some(vec![0i64; rows]) } else { None };
    {
        // Carve the output arrays into one disjoint slice per chunk.
        let mut targets = Vec::with_capacity(parsed.len());
        let (mut u_rest, mut i_rest, mut w_rest) =
            (&mut user_idx[..], &mut item_idx[..], &mut weights[..]);
        let mut t_rest: &mut [i64] = timestamps.as_deref_mut().unwrap_or(&mut []);
        for chunk in &parsed {
            let n = chunk.user_idx.len();
            let (u, ur) = u_rest.split_at_mut(n);
            let (i, ir) = i_rest.split_at_mut(n);
            let (w, wr) = w_rest.split_at_mut(n);
            let tn = if layout.has_timestamps() { n } else { 0 };
            let (t, tr) = t_rest.split_at_mut(tn);
            (u_rest, i_rest, w_rest, t_rest) = (ur, ir, wr, tr);
            targets.push((u, i, w, t));
        }
        parsed.into_par_iter().zip(targets).zip(user_remaps.par_iter().zip(&item_remaps)).for_each(
            |((chunk, (u, i, w, t)), (user_map, item_map))| {
                for (dst, &local) in u.iter_mut().zip(&chunk.user_idx) {
                    *dst = user_map[local as usize];
                }
                for (dst, &local) in i.iter_mut().zip(&chunk.item_idx) {
                    *dst = item_map[local as usize];
                }
                w.copy_from_slice(&chunk.weights);
                t.copy_from_slice(&chunk.timestamps);
                // `chunk` is dropped here, returning its memory before the next chunk is copied.
            },
        );
    }

    Ok(Interactions {
        users,
        items,
        user_idx,
        item_idx,
        weights,
        timestamps,
        summary: ReadSummary {
            format,
            detected,
            rows: rows as u64,
            skipped_bad_lines: skipped,
            had_header: layout.had_header,
        },
    })
}

/// What the sequential scan of the file's first lines found.
struct Prelude {
    /// The layout, the byte offset where data lines start, and the 1-based line number of that
    /// first data line; `None` when no line could start the file.
    found: Option<(Layout, usize, u64)>,
    /// Bad lines skipped before the layout was found.
    skipped: u64,
}

/// Scans lines until one fixes the layout, exactly as the streaming reader does.
fn read_prelude(
    bytes: &[u8],
    format: Format,
    opts: &ReadOptions,
    name: &str,
) -> crate::Result<Prelude> {
    let mut offset = 0usize;
    let mut line_no = 0u64;
    let mut skipped = 0u64;
    while offset < bytes.len() {
        let end = bytes[offset..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |p| offset + p + 1);
        let line = strip_line_ending(&bytes[offset..end]);
        line_no += 1;
        if !trim(line).is_empty() {
            match Layout::from_first_line(format, line) {
                Ok(layout) if layout.had_header => {
                    return Ok(Prelude { found: Some((layout, end, line_no + 1)), skipped });
                }
                Ok(layout) => {
                    return Ok(Prelude { found: Some((layout, offset, line_no)), skipped });
                }
                Err(message) if !opts.skip_bad_lines => {
                    return Err(crate::Error::Parse {
                        path: name.to_string(),
                        line: line_no,
                        message,
                    });
                }
                Err(_) => skipped += 1,
            }
        }
        offset = end;
    }
    Ok(Prelude { found: None, skipped })
}

/// Cuts `body` into pieces of about `target` bytes, each ending just after a `\n` (or at the end).
pub(crate) fn split_at_lines(body: &[u8], target: usize) -> Vec<&[u8]> {
    let mut chunks = Vec::with_capacity(body.len() / target + 1);
    let mut start = 0;
    while start < body.len() {
        let mut end = (start + target).min(body.len());
        if end < body.len() {
            end = body[end - 1..].iter().position(|&b| b == b'\n').map_or(body.len(), |p| end + p);
        }
        chunks.push(&body[start..end]);
        start = end;
    }
    chunks
}

/// The parsed content of one chunk.
struct ChunkResult<'a> {
    users: LocalIds<'a>,
    items: LocalIds<'a>,
    user_idx: Vec<u32>,
    item_idx: Vec<u32>,
    weights: Vec<f32>,
    timestamps: Vec<i64>,
    /// Number of lines in the chunk (blank and skipped ones included).
    lines: u64,
    skipped: u64,
    /// The first bad line: 0-based line within the chunk, and the message.
    error: Option<(u64, String)>,
}

fn parse_chunk<'a>(
    chunk: &'a [u8],
    chunk_index: usize,
    layout: Layout,
    skip_bad_lines: bool,
    first_failed: &AtomicUsize,
) -> ChunkResult<'a> {
    // A rough row estimate (lines of ~18 bytes) avoids most regrowth without overcommitting.
    let estimate = chunk.len() / 24;
    let mut out = ChunkResult {
        users: LocalIds::default(),
        items: LocalIds::default(),
        user_idx: Vec::with_capacity(estimate),
        item_idx: Vec::with_capacity(estimate),
        weights: Vec::with_capacity(estimate),
        timestamps: Vec::with_capacity(if layout.has_timestamps() { estimate } else { 0 }),
        lines: 0,
        skipped: 0,
        error: None,
    };
    // Ids are interned in batches after parsing: a batch of independent table lookups lets the
    // CPU overlap their cache misses, which dominate on big catalogues.
    let mut pending: Vec<(Cow<'a, str>, Cow<'a, str>)> = Vec::with_capacity(INTERN_BATCH);
    let mut rest = chunk;
    while !rest.is_empty() {
        let (raw, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(p) => (&rest[..p], &rest[p + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = next;
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let local_line = out.lines;
        out.lines += 1;
        if local_line.is_multiple_of(4096) && first_failed.load(Ordering::Relaxed) < chunk_index {
            // An earlier chunk already failed; its error is the one reported.
            break;
        }
        match layout.parse_line(line) {
            Ok(None) => {}
            Ok(Some(p)) => {
                pending.push((p.user, p.item));
                out.weights.push(p.weight);
                if let Some(t) = p.timestamp {
                    out.timestamps.push(t);
                }
                if pending.len() == INTERN_BATCH {
                    out.intern_batch(&mut pending);
                }
            }
            Err(_) if skip_bad_lines => out.skipped += 1,
            Err(message) => {
                out.error = Some((local_line, message));
                first_failed.fetch_min(chunk_index, Ordering::Relaxed);
                break;
            }
        }
    }
    out.intern_batch(&mut pending);
    out
}

/// Rows parsed before their ids are interned.
const INTERN_BATCH: usize = 64;

impl<'a> ChunkResult<'a> {
    fn intern_batch(&mut self, pending: &mut Vec<(Cow<'a, str>, Cow<'a, str>)>) {
        for (user, _) in pending.iter() {
            self.user_idx.push(self.users.intern(user.clone()));
        }
        for (_, item) in pending.drain(..) {
            self.item_idx.push(self.items.intern(item));
        }
    }
}
