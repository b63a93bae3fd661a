//! Reading and validating a model file, from a memory map or from a byte slice.
//!
//! The checks run from the cheapest and most telling to the most expensive, so that each kind of
//! damage gets the message that names it: magic ("not an Encore model file"), format version
//! ("newer Encore"), preamble checksum, length ("truncated"), header checksum, whole-file
//! checksum ("corrupted"), and only then the structure (section bounds, id maps, CSR invariants,
//! array lengths). Nothing here indexes without a bounds check: every failure is an
//! [`Error::ModelFile`], never a panic.

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use super::layout::{
    ENTRY_LEN, Element, MAGIC, MAX_HEADER_LEN, MAX_SECTIONS, PREAMBLE_LEN, Preamble, SectionEntry,
    TRAILER_LEN, align_up, decode_vec, le_u32,
};
use super::{FORMAT_VERSION, ModelArtifact, ModelHeader, names};
use crate::buffer::{ArrayRef, ArraySet, Buffer};
use crate::ids::IdMap;
use crate::matrix::InteractionMatrix;
use crate::models::Model;
use crate::{Error, Result};

/// Builds the error for `path`.
fn fail(path: &Path, message: impl Into<String>) -> Error {
    Error::ModelFile { path: path.to_path_buf(), message: message.into() }
}

/// Checks magic, version and the preamble of a file of `file_len` bytes whose first bytes are
/// `prefix` (at least [`PREAMBLE_LEN`] of them when the file is that long).
fn check_preamble(prefix: &[u8], file_len: u64, path: &Path) -> Result<Preamble> {
    let truncated = |what: &str| {
        fail(path, format!("truncated: the file is {file_len} bytes, too short to hold {what}"))
    };
    if file_len == 0 {
        return Err(fail(path, "truncated: the file is empty"));
    }
    let magic_len = prefix.len().min(MAGIC.len());
    if prefix[..magic_len] != MAGIC[..magic_len] {
        return Err(fail(path, "not an Encore model file (wrong magic bytes)"));
    }
    if prefix.len() < 12 {
        return Err(truncated("the format version"));
    }
    let version = le_u32(&prefix[8..12]);
    if version == 0 {
        return Err(fail(path, "corrupted: format version 0 does not exist"));
    }
    if version > FORMAT_VERSION {
        return Err(fail(
            path,
            format!(
                "written by a newer Encore (format {version}, this build reads up to \
                 {FORMAT_VERSION})"
            ),
        ));
    }
    let Some(fixed) = prefix.get(..PREAMBLE_LEN) else {
        return Err(truncated("the preamble"));
    };
    let fixed: &[u8; PREAMBLE_LEN] = fixed.try_into().map_err(|_| truncated("the preamble"))?;
    let preamble = Preamble::decode(fixed)
        .ok_or_else(|| fail(path, "corrupted (checksum mismatch in the preamble)"))?;
    if preamble.header_len > MAX_HEADER_LEN || preamble.section_count > MAX_SECTIONS {
        return Err(fail(
            path,
            format!(
                "corrupted: header of {} bytes with {} sections exceeds the format's limits",
                preamble.header_len, preamble.section_count
            ),
        ));
    }
    let min_len = align_up(preamble.table_end()) + TRAILER_LEN as u64;
    if preamble.file_len < min_len {
        return Err(fail(
            path,
            format!(
                "corrupted: declared length {} is shorter than its own header ({min_len})",
                preamble.file_len
            ),
        ));
    }
    if file_len < preamble.file_len {
        return Err(fail(
            path,
            format!("truncated: the file is {file_len} bytes, expected {}", preamble.file_len),
        ));
    }
    if file_len > preamble.file_len {
        return Err(fail(
            path,
            format!(
                "corrupted: {} bytes of unexpected data after the end of the model",
                file_len - preamble.file_len
            ),
        ));
    }
    Ok(preamble)
}

/// Verifies the header checksum of `region` (header JSON then section table) and parses the JSON.
fn parse_header(preamble: &Preamble, region: &[u8], path: &Path) -> Result<ModelHeader> {
    if crc32fast::hash(region) != preamble.header_crc {
        return Err(fail(path, "corrupted (checksum mismatch in the header)"));
    }
    let json = &region[..preamble.header_len as usize];
    let header: ModelHeader = serde_json::from_slice(json)
        .map_err(|e| fail(path, format!("corrupted: unreadable header: {e}")))?;
    if header.format_version != preamble.format_version {
        return Err(fail(
            path,
            format!(
                "corrupted: header says format {} but the preamble says {}",
                header.format_version, preamble.format_version
            ),
        ));
    }
    Ok(header)
}

/// Reads only the preamble and the header of the file at `path`.
pub(super) fn read_header(path: &Path) -> Result<ModelHeader> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut prefix = Vec::with_capacity(PREAMBLE_LEN);
    (&mut file)
        .take(PREAMBLE_LEN as u64)
        .read_to_end(&mut prefix)
        .map_err(|e| Error::io(path, e))?;
    let preamble = check_preamble(&prefix, file_len.max(prefix.len() as u64), path)?;
    // The length check above guarantees the whole header region is in the file.
    let region_len = (preamble.table_end() - PREAMBLE_LEN as u64) as usize;
    let mut region = vec![0u8; region_len];
    file.read_exact(&mut region).map_err(|e| Error::io(path, e))?;
    parse_header(&preamble, &region, path)
}

/// Memory-maps `file`.
#[allow(unsafe_code)]
fn map_file(file: &File) -> std::io::Result<memmap2::Mmap> {
    // SAFETY: a memory map is only sound while nobody modifies the file underneath it. Encore
    // treats model files as immutable: `ModelArtifact::save` writes a new file and renames it over
    // the old one, so a reader keeps the old inode and never sees a change. Writing into a model
    // file in place (by hand) is outside the contract; the checksum would at least catch
    // modifications made before loading.
    unsafe { memmap2::Mmap::map(file) }
}

/// Loads the file at `path`, keeping the model's arrays in the memory map.
pub(super) fn load(path: &Path) -> Result<ModelArtifact> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    if len < (PREAMBLE_LEN + TRAILER_LEN) as u64 {
        // Too small to be a model (and mapping an empty file is not portable): read it to get
        // the precise message.
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        return parse(&bytes, None, path);
    }
    let map = Arc::new(map_file(&file).map_err(|e| Error::io(path, e))?);
    parse(&map, Some(&map), path)
}

/// Where typed arrays come from: views of the memory map when there is one (and the machine is
/// little-endian like the file), copies otherwise.
struct Sections<'a> {
    bytes: &'a [u8],
    map: Option<&'a Arc<memmap2::Mmap>>,
    entries: Vec<SectionEntry>,
    path: &'a Path,
}

impl<'a> Sections<'a> {
    fn entry(&self, name: &str) -> Result<&SectionEntry> {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| fail(self.path, format!("corrupted: section `{name}` is missing")))
    }

    /// The raw bytes of a section whose element type must be `T`.
    fn raw<T: Element>(&self, entry: &SectionEntry) -> Result<&'a [u8]> {
        if entry.dtype != T::DTYPE {
            return Err(fail(
                self.path,
                format!(
                    "corrupted: section `{}` holds {} values, expected {}",
                    entry.name,
                    entry.dtype.name(),
                    T::DTYPE.name()
                ),
            ));
        }
        // Bounds were checked when the table was read; `get` keeps this panic-free regardless.
        let start = usize::try_from(entry.offset).ok();
        let len = entry.byte_len().and_then(|n| usize::try_from(n).ok());
        start
            .zip(len)
            .and_then(|(start, len)| self.bytes.get(start..start.checked_add(len)?))
            .ok_or_else(|| fail(self.path, format!("section `{}` is out of bounds", entry.name)))
    }

    fn vec<T: Element>(&self, name: &str) -> Result<Vec<T>> {
        Ok(decode_vec(self.raw::<T>(self.entry(name)?)?))
    }

    fn buffer<T: Element>(&self, entry: &SectionEntry) -> Result<Buffer<T>> {
        let raw = self.raw::<T>(entry)?;
        // Views need the file's byte order; `mapped` also re-checks bounds and alignment.
        let mapped = self.map.filter(|_| cfg!(target_endian = "little")).and_then(|map| {
            Buffer::mapped(Arc::clone(map), entry.offset as usize, raw.len() / size_of::<T>())
        });
        Ok(mapped.unwrap_or_else(|| Buffer::owned(decode_vec(raw))))
    }
}

/// Parses and validates a whole model file held in `bytes` (which is the memory map `map` when
/// given).
pub(super) fn parse(
    bytes: &[u8],
    map: Option<&Arc<memmap2::Mmap>>,
    path: &Path,
) -> Result<ModelArtifact> {
    let preamble = check_preamble(bytes, bytes.len() as u64, path)?;
    let table_end = preamble.table_end() as usize;
    let header = parse_header(&preamble, &bytes[PREAMBLE_LEN..table_end], path)?;

    let body_end = bytes.len() - TRAILER_LEN;
    if crc32fast::hash(&bytes[..body_end]) != le_u32(&bytes[body_end..]) {
        return Err(fail(path, "corrupted (checksum mismatch)"));
    }

    let entries = read_table(&bytes[preamble.table_start() as usize..table_end], body_end, path)?;
    let sections = Sections { bytes, map, entries, path };

    let users = read_ids(&sections, names::USERS)?;
    let items = read_ids(&sections, names::ITEMS)?;
    let values: Vec<f32> = sections.vec(names::TRAIN_VALUES)?;
    if let Some(k) = values.iter().position(|v| !v.is_finite()) {
        return Err(fail(path, format!("corrupted: training weight #{k} is not finite")));
    }
    let train = InteractionMatrix::from_csr(
        users.len(),
        items.len(),
        sections.vec(names::TRAIN_INDPTR)?,
        sections.vec(names::TRAIN_INDICES)?,
        values,
    )
    .map_err(|e| fail(path, format!("corrupted: training matrix: {e}")))?;

    let mut arrays = ArraySet::new();
    for entry in &sections.entries {
        let Some(name) = entry.name.strip_prefix(names::MODEL_PREFIX) else { continue };
        match entry.dtype {
            super::layout::Dtype::F32 => arrays.insert_f32(name, sections.buffer(entry)?),
            super::layout::Dtype::U32 => arrays.insert_u32(name, sections.buffer(entry)?),
            super::layout::Dtype::U64 => arrays.insert_u64(name, sections.buffer(entry)?),
            super::layout::Dtype::U8 => {
                return Err(fail(path, format!("corrupted: model array `{name}` holds bytes")));
            }
        }
    }
    let model = Model::from_parts(header.algorithm, &header.params, &mut arrays)
        .map_err(|e| fail(path, format!("corrupted: {} model: {e}", header.algorithm)))?;

    check_per_user_rows(&model, users.len(), items.len(), path)?;
    let consistency = [
        ("users", header.n_users, users.len()),
        ("items", header.n_items, items.len()),
        ("interactions", header.nnz, train.nnz()),
        ("items scored by the model", header.n_items, model.recommender().n_items()),
    ];
    for (what, declared, found) in consistency {
        if declared != found {
            return Err(fail(
                path,
                format!("corrupted: the header declares {declared} {what}, the file holds {found}"),
            ));
        }
    }
    let index = read_index(&sections, &header, &model)?;
    Ok(ModelArtifact { header, users, items, train, model, index })
}

/// The index sections, present exactly when the header describes an index, checked against the
/// model's items and factors.
fn read_index(
    sections: &Sections<'_>,
    header: &ModelHeader,
    model: &Model,
) -> Result<Option<crate::index::IvfIndex>> {
    let path = sections.path;
    let index_names = [names::INDEX_CENTROIDS, names::INDEX_OFFSETS, names::INDEX_ITEMS];
    let Some(info) = &header.index else {
        if let Some(e) = sections.entries.iter().find(|e| index_names.contains(&e.name.as_str())) {
            return Err(fail(
                path,
                format!("corrupted: section `{}` without an index in the header", e.name),
            ));
        }
        return Ok(None);
    };
    let Some(f) = model.recommender().factor_scoring() else {
        return Err(fail(path, format!("corrupted: an index over a {} model", header.algorithm)));
    };
    crate::index::IvfIndex::from_parts(
        sections.buffer(sections.entry(names::INDEX_CENTROIDS)?)?,
        sections.buffer(sections.entry(names::INDEX_OFFSETS)?)?,
        sections.buffer(sections.entry(names::INDEX_ITEMS)?)?,
        info.clone(),
        f.n_items(),
        f.k,
        f.bias.is_some(),
    )
    .map(Some)
    .map_err(|m| fail(path, format!("corrupted: index: {m}")))
}

/// Decodes and checks the section table: known names, unique, aligned, in order, inside the body.
fn read_table(table: &[u8], body_end: usize, path: &Path) -> Result<Vec<SectionEntry>> {
    let data_start = align_up((PREAMBLE_LEN + table.len()) as u64);
    let mut entries = Vec::with_capacity(table.len() / ENTRY_LEN);
    let mut seen = HashSet::new();
    let mut next_free = data_start;
    for raw in table.chunks_exact(ENTRY_LEN) {
        let e = SectionEntry::decode(raw).map_err(|m| fail(path, format!("corrupted: {m}")))?;
        if !names::is_known(&e.name) {
            return Err(fail(path, format!("corrupted: unknown section `{}`", e.name)));
        }
        if !seen.insert(e.name.clone()) {
            return Err(fail(path, format!("corrupted: section `{}` appears twice", e.name)));
        }
        let end = e.byte_len().and_then(|n| e.offset.checked_add(n));
        let Some(end) = end.filter(|&end| end <= body_end as u64) else {
            return Err(fail(
                path,
                format!("truncated or malformed: section `{}` extends past the data", e.name),
            ));
        };
        if e.offset % super::layout::ALIGN as u64 != 0 || e.offset < next_free {
            return Err(fail(
                path,
                format!("corrupted: section `{}` is misaligned or overlaps another", e.name),
            ));
        }
        next_free = end;
        entries.push(e);
    }
    Ok(entries)
}

/// Decodes the id map stored under `prefix` (offsets and UTF-8 bytes).
fn read_ids(sections: &Sections<'_>, prefix: &str) -> Result<IdMap> {
    let path = sections.path;
    let offsets: Vec<u64> = sections.vec(&format!("{prefix}.offsets"))?;
    let bytes = sections.raw::<u8>(sections.entry(&format!("{prefix}.bytes"))?)?;
    let bad = |m: &str| fail(path, format!("corrupted: {prefix} ids: {m}"));
    if offsets.first() != Some(&0) || offsets.last() != Some(&(bytes.len() as u64)) {
        return Err(bad("offsets do not span the id bytes"));
    }
    if offsets.windows(2).any(|w| w[0] > w[1]) {
        return Err(bad("offsets decrease"));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8"))?;
    let mut ids = Vec::with_capacity(offsets.len() - 1);
    for w in offsets.windows(2) {
        let id = text.get(w[0] as usize..w[1] as usize).ok_or_else(|| bad("splits a character"))?;
        ids.push(id);
    }
    if u32::try_from(ids.len()).is_err() {
        return Err(bad("more than 2^32 ids"));
    }
    IdMap::from_ids(ids).map_err(|e| bad(&e.to_string()))
}

/// Factor models store `user_factors` and `item_factors` with the same number of factors per row;
/// `Model::from_parts` checks each array on its own, this checks that they have one row per user
/// and per item of the id maps, so that a stored user never reads another user's factors.
fn check_per_user_rows(model: &Model, n_users: usize, n_items: usize, path: &Path) -> Result<()> {
    let arrays = model.arrays();
    let len = |name: &str| {
        arrays.iter().find(|(n, _)| *n == name).map(|(_, a)| match a {
            ArrayRef::F32(v) => v.len(),
            ArrayRef::U32(v) => v.len(),
            ArrayRef::U64(v) => v.len(),
        })
    };
    let (Some(user_len), Some(item_len)) = (len("user_factors"), len("item_factors")) else {
        return Ok(());
    };
    // user_len / n_users == item_len / n_items, without dividing by zero.
    let consistent = (user_len as u128) * (n_items as u128)
        == (item_len as u128) * (n_users as u128)
        && (n_users == 0) == (user_len == 0)
        && (n_items == 0) == (item_len == 0);
    if !consistent {
        return Err(fail(
            path,
            format!(
                "corrupted: {user_len} user factors and {item_len} item factors do not fit \
                 {n_users} users and {n_items} items"
            ),
        ));
    }
    Ok(())
}
