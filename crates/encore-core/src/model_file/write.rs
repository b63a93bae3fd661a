//! Serialising an artifact: laying out the sections, streaming them with a running checksum, and
//! replacing the destination atomically.

use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::layout::{
    ALIGN, ENTRY_LEN, Element, MAX_HEADER_LEN, MAX_SECTIONS, NAME_LEN, PREAMBLE_LEN, Preamble,
    SectionEntry, TRAILER_LEN, align_up,
};
use super::{FORMAT_VERSION, ModelArtifact, names};
use crate::buffer::ArrayRef;
use crate::ids::IdMap;
use crate::{Error, Result};

/// The data of one section, borrowed from the artifact where possible.
pub(super) enum Payload<'a> {
    U8(Cow<'a, [u8]>),
    U32(Cow<'a, [u32]>),
    U64(Cow<'a, [u64]>),
    F32(Cow<'a, [f32]>),
}

impl Payload<'_> {
    fn dtype(&self) -> super::layout::Dtype {
        match self {
            Payload::U8(_) => u8::DTYPE,
            Payload::U32(_) => u32::DTYPE,
            Payload::U64(_) => u64::DTYPE,
            Payload::F32(_) => f32::DTYPE,
        }
    }

    fn count(&self) -> usize {
        match self {
            Payload::U8(v) => v.len(),
            Payload::U32(v) => v.len(),
            Payload::U64(v) => v.len(),
            Payload::F32(v) => v.len(),
        }
    }

    fn write_to(&self, w: &mut impl Write) -> std::io::Result<()> {
        match self {
            Payload::U8(v) => write_le(w, v),
            Payload::U32(v) => write_le(w, v),
            Payload::U64(v) => write_le(w, v),
            Payload::F32(v) => write_le(w, v),
        }
    }
}

/// Writes elements in little-endian order: the memory itself on little-endian machines, a
/// byte-swapped copy in bounded chunks elsewhere.
fn write_le<T: Element>(w: &mut impl Write, v: &[T]) -> std::io::Result<()> {
    if cfg!(target_endian = "little") {
        return w.write_all(bytemuck::cast_slice(v));
    }
    let mut chunk = Vec::with_capacity(v.len().min(8192));
    for part in v.chunks(8192) {
        chunk.clear();
        chunk.extend(part.iter().map(|x| x.swap_le()));
        w.write_all(bytemuck::cast_slice(&chunk))?;
    }
    Ok(())
}

/// A named section ready to be written.
pub(super) struct Section<'a> {
    pub name: String,
    pub payload: Payload<'a>,
}

/// The id map as an offsets array (`len + 1` entries) and the concatenated UTF-8 bytes: ids may
/// contain any character, newlines and NULs included, and need no escaping.
fn id_sections(prefix: &str, ids: &IdMap) -> [Section<'static>; 2] {
    let mut offsets = Vec::with_capacity(ids.len() + 1);
    let mut bytes = Vec::new();
    offsets.push(0u64);
    for id in ids.iter() {
        bytes.extend_from_slice(id.as_bytes());
        offsets.push(bytes.len() as u64);
    }
    [
        Section { name: format!("{prefix}.offsets"), payload: Payload::U64(offsets.into()) },
        Section { name: format!("{prefix}.bytes"), payload: Payload::U8(bytes.into()) },
    ]
}

/// Every section of `artifact`, in file order.
pub(super) fn sections(artifact: &ModelArtifact) -> Result<Vec<Section<'_>>> {
    let mut out = Vec::new();
    out.extend(id_sections(names::USERS, &artifact.users));
    out.extend(id_sections(names::ITEMS, &artifact.items));
    let train = &artifact.train;
    out.push(Section {
        name: names::TRAIN_INDPTR.into(),
        payload: Payload::U64(train.indptr().into()),
    });
    out.push(Section {
        name: names::TRAIN_INDICES.into(),
        payload: Payload::U32(train.indices().into()),
    });
    out.push(Section {
        name: names::TRAIN_VALUES.into(),
        payload: Payload::F32(train.values().into()),
    });
    for (name, array) in artifact.model.arrays() {
        let name = format!("{}{name}", names::MODEL_PREFIX);
        if name.len() > NAME_LEN || name.as_bytes().contains(&0) {
            return Err(Error::InvalidInput(format!(
                "model array name `{name}` does not fit a model file section name"
            )));
        }
        if out.iter().any(|s| s.name == name) {
            return Err(Error::InvalidInput(format!("model array `{name}` is given twice")));
        }
        let payload = match array {
            ArrayRef::F32(v) => Payload::F32(v.into()),
            ArrayRef::U32(v) => Payload::U32(v.into()),
            ArrayRef::U64(v) => Payload::U64(v.into()),
        };
        out.push(Section { name, payload });
    }
    if let Some(index) = &artifact.index {
        let (centroids, offsets, items) = index.arrays();
        out.push(Section {
            name: names::INDEX_CENTROIDS.into(),
            payload: Payload::F32(centroids.into()),
        });
        out.push(Section {
            name: names::INDEX_OFFSETS.into(),
            payload: Payload::U64(offsets.into()),
        });
        out.push(Section { name: names::INDEX_ITEMS.into(), payload: Payload::U32(items.into()) });
    }
    Ok(out)
}

/// A writer that counts bytes and keeps a CRC32 of everything written through it.
struct ChecksumWriter<W> {
    inner: W,
    crc: crc32fast::Hasher,
    written: u64,
}

impl<W: Write> Write for ChecksumWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn write_zeros(w: &mut impl Write, n: u64) -> std::io::Result<()> {
    const ZEROS: [u8; ALIGN] = [0; ALIGN];
    let mut left = n;
    while left > 0 {
        let k = left.min(ALIGN as u64) as usize;
        w.write_all(&ZEROS[..k])?;
        left -= k as u64;
    }
    Ok(())
}

/// Serialises `artifact` into `w`; returns the number of bytes written. I/O errors are reported
/// against `io_path`.
///
/// Format errors (a non-finite metric, an oversized header) are reported before anything is
/// written.
pub(super) fn write_artifact(
    artifact: &ModelArtifact,
    w: impl Write,
    io_path: &Path,
) -> Result<u64> {
    if let Some((name, v)) = artifact.header.metrics.iter().find(|(_, v)| !v.is_finite()) {
        // JSON has no NaN or infinity: serde_json would write `null` and the file would then fail
        // to load. Refuse now, while the caller can still fix it.
        return Err(Error::InvalidInput(format!("metric `{name}` is not finite ({v})")));
    }
    let header_json = serde_json::to_vec(&artifact.header)
        .map_err(|e| Error::InvalidInput(format!("model header does not serialise: {e}")))?;
    let header_len = u32::try_from(header_json.len())
        .ok()
        .filter(|&n| n <= MAX_HEADER_LEN)
        .ok_or_else(|| {
            Error::InvalidInput(format!(
                "model header is {} bytes, more than the limit of {MAX_HEADER_LEN}",
                header_json.len()
            ))
        })?;
    let sections = sections(artifact)?;
    let section_count = u32::try_from(sections.len())
        .ok()
        .filter(|&n| n <= MAX_SECTIONS)
        .ok_or_else(|| Error::InvalidInput(format!("{} sections is too many", sections.len())))?;

    // Lay out: every section starts on an ALIGN boundary and is zero-padded to the next one.
    let table_end = (PREAMBLE_LEN + header_json.len() + sections.len() * ENTRY_LEN) as u64;
    let mut cursor = align_up(table_end);
    let mut table = Vec::with_capacity(sections.len() * ENTRY_LEN);
    for s in &sections {
        let entry = SectionEntry {
            name: s.name.clone(),
            dtype: s.payload.dtype(),
            offset: cursor,
            count: s.payload.count() as u64,
        };
        table.extend_from_slice(&entry.encode());
        cursor = align_up(cursor + entry.byte_len().expect("an in-memory array fits in u64"));
    }
    let file_len = cursor + TRAILER_LEN as u64;
    let mut header_crc = crc32fast::Hasher::new();
    header_crc.update(&header_json);
    header_crc.update(&table);
    let preamble = Preamble {
        format_version: FORMAT_VERSION,
        header_len,
        section_count,
        file_len,
        header_crc: header_crc.finalize(),
    };

    let io = (|| -> std::io::Result<u64> {
        let mut cw = ChecksumWriter { inner: w, crc: crc32fast::Hasher::new(), written: 0 };
        cw.write_all(&preamble.encode())?;
        cw.write_all(&header_json)?;
        cw.write_all(&table)?;
        write_zeros(&mut cw, align_up(table_end) - table_end)?;
        for s in &sections {
            s.payload.write_to(&mut cw)?;
            let len = s.payload.count() as u64 * s.payload.dtype().size() as u64;
            write_zeros(&mut cw, align_up(len) - len)?;
        }
        debug_assert_eq!(cw.written, file_len - TRAILER_LEN as u64);
        let crc = cw.crc.clone().finalize();
        cw.inner.write_all(&crc.to_le_bytes())?;
        cw.inner.flush()?;
        Ok(cw.written + TRAILER_LEN as u64)
    })();
    io.map_err(|e| Error::io(io_path, e))
}

/// Serialises `artifact` to `path` atomically: a temporary file in the same directory is written,
/// synced and renamed over `path`, and the directory is synced, so a reader sees either the old
/// file or the complete new one, and a crash never leaves a half-written model under `path`.
pub(super) fn save(artifact: &ModelArtifact, path: &Path) -> Result<u64> {
    let file_name = path.file_name().ok_or_else(|| {
        Error::InvalidInput(format!("model file path {} has no file name", path.display()))
    })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        file_name.to_string_lossy(),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| Error::io(&tmp, e))?;
    let result = write_and_publish(artifact, file, &tmp, path, &dir);
    if result.is_err() {
        // Best effort: the error being returned is the one that matters.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_and_publish(
    artifact: &ModelArtifact,
    file: File,
    tmp: &Path,
    path: &Path,
    dir: &Path,
) -> Result<u64> {
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let written = write_artifact(artifact, &mut w, tmp)?;
    let file = w.into_inner().map_err(|e| Error::io(tmp, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(tmp, e))?;
    drop(file);
    std::fs::rename(tmp, path).map_err(|e| Error::io(path, e))?;
    sync_dir(dir)?;
    Ok(written)
}

/// Makes the rename durable: on POSIX systems a rename is recorded in the directory, which has
/// to be synced itself.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io(dir, e))
}

/// Other systems cannot open a directory as a file; their rename is as durable as it gets.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<()> {
    Ok(())
}
