//! Edge export: a compact, versioned, checksummed file of what on-device scoring needs.
//!
//! [`edge_bytes`] turns a [`ModelArtifact`] into an **edge model file** that the `encore-edge`
//! crate (Rust, or C through its `encore_edge.h`) opens on a phone, console or set-top box and
//! scores histories with, offline. The file holds item ids, the item side of the model at the
//! requested [`EdgePrecision`], what fold-in needs, the popularity fallback and optional item
//! kinds and availability. It holds **no user data**: no user ids, no user factors, no training
//! rows — the training matrix is read only for per-item user counts (the popularity fallback),
//! an aggregate. The file says so in its notice text.
//!
//! What each algorithm exports:
//!
//! | model | arrays | notes |
//! |---|---|---|
//! | iALS | item factors, `YᵀY` (f32), the confidence and regularisation parameters | fold-in exactly as the server's `IalsModel::fold_in` |
//! | BPR | item factors, item biases (f32), the fold-in's target and ridge | fold-in exactly as the server's |
//! | item-kNN | each item's neighbour list | the server's lists, unchanged |
//! | EASE | the `K` largest weights `|B_ji|` of each row `j` ([`EdgeOptions::ease_neighbours`]) | exact when `K ≥ n − 1`; else an approximation whose cost `bench/edge.sh` measures |
//! | popularity | every item with its count | |
//!
//! The byte layout is specified in `encore_edge::format` (and `docs/EDGE.md`); this module
//! writes it and is tested against that reader in `encore-cli`'s integration tests (this crate
//! cannot depend on `encore-edge` without a cycle of tests, and `encore-edge` depends on no
//! Encore crate).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use crate::buffer::ArrayRef;
use crate::model_file::ModelArtifact;
use crate::models::Model;
use crate::models::ease::EaseWeighting;
use crate::models::ials::Confidence;
use crate::models::itemknn::Weighting;
use crate::{Error, Result};

/// The edge format version written here (`encore_edge::format::FORMAT_VERSION`).
pub const EDGE_FORMAT_VERSION: u32 = 1;
/// The magic bytes of an edge model file.
pub const EDGE_MAGIC: [u8; 8] = *b"ENCEDGE\0";
/// Default number of weights kept per item for EASE.
pub const DEFAULT_EASE_NEIGHBOURS: usize = 256;
/// Default length of the popularity fallback list (every item for a popularity model).
pub const DEFAULT_FALLBACK_ITEMS: usize = 1000;

/// The bit of the fold-in BPR uses at serving time (`models::bpr::foldin`): the score every
/// history item is fitted to and the ridge. Duplicated here because the server keeps them
/// private; `encore-cli`'s round-trip test fails if they ever disagree.
const BPR_TARGET: f64 = 3.0;
const BPR_RIDGE: f64 = 30.0;

/// Precision of the large arrays (factors, neighbour weights) in an edge file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EdgePrecision {
    /// The server's 32-bit floats: the server's ranking.
    F32,
    /// IEEE half precision, rounded to nearest even (half the size).
    F16,
    /// Symmetric 8-bit integers with one f32 scale per row (a quarter of the size).
    #[default]
    Int8,
}

impl EdgePrecision {
    /// `f32`, `f16` or `int8`.
    pub fn name(self) -> &'static str {
        match self {
            EdgePrecision::F32 => "f32",
            EdgePrecision::F16 => "f16",
            EdgePrecision::Int8 => "int8",
        }
    }

    fn code(self) -> u32 {
        match self {
            EdgePrecision::F32 => 1,
            EdgePrecision::F16 => 2,
            EdgePrecision::Int8 => 3,
        }
    }
}

impl std::str::FromStr for EdgePrecision {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "f32" => Ok(EdgePrecision::F32),
            "f16" => Ok(EdgePrecision::F16),
            "int8" => Ok(EdgePrecision::Int8),
            _ => Err(Error::InvalidInput(format!(
                "unknown precision {s:?}; expected f32, f16 or int8"
            ))),
        }
    }
}

/// What an item's metadata contributes to an edge file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeItemMeta {
    /// Free-text kind (`track`, `film`, …); empty for none.
    pub kind: String,
    /// Whether the item may be recommended; an unavailable item is never returned on the device.
    pub available: bool,
}

/// Options of [`edge_bytes`].
#[derive(Debug, Clone)]
pub struct EdgeOptions {
    /// Precision of the factors and neighbour weights.
    pub precision: EdgePrecision,
    /// EASE: weights kept per item (the largest in magnitude).
    pub ease_neighbours: usize,
    /// Length of the popularity fallback for models other than popularity.
    pub fallback_items: usize,
    /// Item metadata by item id; items without an entry have no kind and are available.
    /// `None`: the file holds no kinds and no availability.
    pub items: Option<BTreeMap<String, EdgeItemMeta>>,
}

impl Default for EdgeOptions {
    fn default() -> Self {
        Self {
            precision: EdgePrecision::Int8,
            ease_neighbours: DEFAULT_EASE_NEIGHBOURS,
            fallback_items: DEFAULT_FALLBACK_ITEMS,
            items: None,
        }
    }
}

/// One section's payload, little-endian on write.
enum Data {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

impl Data {
    fn code(&self) -> u32 {
        match self {
            Data::U8(_) => 1,
            Data::I8(_) => 2,
            Data::U16(_) => 3,
            Data::U32(_) => 4,
            Data::F32(_) => 5,
            Data::F64(_) => 6,
        }
    }

    fn count(&self) -> usize {
        match self {
            Data::U8(v) => v.len(),
            Data::I8(v) => v.len(),
            Data::U16(v) => v.len(),
            Data::U32(v) => v.len(),
            Data::F32(v) => v.len(),
            Data::F64(v) => v.len(),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Data::U8(v) => out.extend_from_slice(v),
            Data::I8(v) => out.extend(v.iter().map(|&x| x as u8)),
            Data::U16(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Data::U32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Data::F32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Data::F64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        }
    }
}

/// Values of `rows` rows at `precision`: the values section, and the per-row scales for int8.
fn quantise(
    values: &[f32],
    row_bounds: &[usize],
    precision: EdgePrecision,
) -> (Data, Option<Data>) {
    match precision {
        EdgePrecision::F32 => (Data::F32(values.to_vec()), None),
        EdgePrecision::F16 => (Data::U16(values.iter().map(|&v| f32_to_f16(v)).collect()), None),
        EdgePrecision::Int8 => {
            let mut q = Vec::with_capacity(values.len());
            let mut scales = Vec::with_capacity(row_bounds.len().saturating_sub(1));
            for w in row_bounds.windows(2) {
                let row = &values[w[0]..w[1]];
                let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
                let scale = max / 127.0;
                scales.push(scale);
                let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
                q.extend(row.iter().map(|&v| (v * inv).round().clamp(-127.0, 127.0) as i8));
            }
            (Data::I8(q), Some(Data::F32(scales)))
        }
    }
}

/// f32 → IEEE binary16 bits, rounded to nearest (ties to even); magnitudes beyond the largest
/// half (65504) are clamped to it so the file holds only finite values.
pub fn f32_to_f16(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xFF) as i32;
    let man = bits & 0x007F_FFFF;
    if exp == 0xFF {
        // Infinity or NaN: never produced by training; clamp (NaN becomes 0).
        return if man == 0 { sign | 0x7BFF } else { 0 };
    }
    let e = exp - 127 + 15;
    if e >= 0x1F {
        return sign | 0x7BFF;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        let m = man | 0x0080_0000;
        let shift = (14 - e) as u32;
        let half = m >> shift;
        let rem = m & ((1 << shift) - 1);
        let halfway = 1 << (shift - 1);
        let up = rem > halfway || (rem == halfway && half & 1 == 1);
        return sign | (half + u32::from(up)) as u16;
    }
    let half = ((e as u32) << 10) | (man >> 13);
    let rem = man & 0x1FFF;
    let up = rem > 0x1000 || (rem == 0x1000 && half & 1 == 1);
    let h = half + u32::from(up);
    if h >= 0x7C00 { sign | 0x7BFF } else { sign | h as u16 }
}

fn f32_array<'a>(arrays: &'a [(&'static str, ArrayRef<'a>)], name: &str) -> Result<&'a [f32]> {
    match arrays.iter().find(|(n, _)| *n == name) {
        Some((_, ArrayRef::F32(v))) => Ok(v),
        _ => Err(Error::InvalidInput(format!("the model has no f32 array {name}"))),
    }
}

/// Zero-terminated strings as (offsets, bytes).
fn strings<'a>(ids: impl Iterator<Item = &'a str>, what: &str) -> Result<(Data, Data)> {
    let mut offsets = vec![0u32];
    let mut bytes = Vec::new();
    for id in ids {
        if id.as_bytes().contains(&0) {
            return Err(Error::InvalidInput(format!(
                "{what} {id:?} contains a zero byte, which the C interface cannot return"
            )));
        }
        bytes.extend_from_slice(id.as_bytes());
        bytes.push(0);
        offsets.push(u32::try_from(bytes.len()).map_err(|_| {
            Error::InvalidInput(format!("the {what}s exceed 4 GiB, too large for an edge file"))
        })?);
    }
    Ok((Data::U32(offsets), Data::U8(bytes)))
}

/// Per-item lists (CSR over `n` items) as sections: pointers, indices (u16 when they fit) and
/// values at the precision.
fn lists(
    sections: &mut Vec<([u8; 4], Data)>,
    n: usize,
    indptr: Vec<usize>,
    indices: Vec<u32>,
    values: &[f32],
    precision: EdgePrecision,
) -> Result<()> {
    let ptr: Vec<u32> = indptr
        .iter()
        .map(|&p| u32::try_from(p))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| Error::InvalidInput("more than 2^32 list entries".into()))?;
    sections.push((*b"NBPT", Data::U32(ptr)));
    if n <= 1 << 16 {
        sections.push((*b"NBIX", Data::U16(indices.iter().map(|&i| i as u16).collect())));
    } else {
        sections.push((*b"NBIX", Data::U32(indices)));
    }
    let (vals, scales) = quantise(values, &indptr, precision);
    sections.push((*b"NBVL", vals));
    if let Some(s) = scales {
        sections.push((*b"NBSC", s));
    }
    Ok(())
}

/// The edge model file of `artifact`, as bytes (see the module docs).
pub fn edge_bytes(artifact: &ModelArtifact, opts: &EdgeOptions) -> Result<Vec<u8>> {
    let n = artifact.items.len();
    if n == 0 {
        return Err(Error::InvalidInput("the model has no items".into()));
    }
    let n32 = u32::try_from(n).map_err(|_| Error::InvalidInput("more than 2^32 items".into()))?;
    let p = opts.precision;
    let model = &artifact.model;
    let arrays = model.arrays();
    let mut sections: Vec<([u8; 4], Data)> = Vec::new();
    let mut k = 0usize;
    let algorithm_code: u32;

    let params: Vec<f64> = match model {
        Model::Ials(m) => {
            let c = m.config();
            let confidence = match c.confidence {
                Confidence::Identity => 0.0,
                Confidence::Log1p => 1.0,
                Confidence::Binary => 2.0,
            };
            vec![c.alpha, c.regularization, c.reg_exponent, c.unobserved_weight, confidence]
        }
        Model::Bpr(_) => vec![BPR_TARGET, BPR_RIDGE],
        Model::Ease(m) => {
            let w = match m.config().weighting {
                EaseWeighting::Binary => 0.0,
                EaseWeighting::Raw => 1.0,
                EaseWeighting::Log => 2.0,
            };
            vec![w, opts.ease_neighbours as f64]
        }
        Model::ItemKnn(m) => vec![if m.config().weighting == Weighting::None { 1.0 } else { 0.0 }],
        Model::Popularity(_) => vec![],
    };
    sections.push((*b"PARM", Data::F64(params)));
    let (id_off, id_bytes) = strings(artifact.items.iter(), "item id")?;
    sections.push((*b"IDOF", id_off));
    sections.push((*b"IDBY", id_bytes));

    // The popularity fallback: distinct users per item, best first, ties to the smaller index
    // (the server's `top_n` order). For a popularity model, its own counts and every item.
    let counts: Vec<f32> = match model {
        Model::Popularity(_) => f32_array(&arrays, "counts")?.to_vec(),
        _ => artifact.train.col_counts().into_iter().map(|c| c as f32).collect(),
    };
    let mut order: Vec<u32> = (0..n32).collect();
    order.sort_by(|&a, &b| counts[b as usize].total_cmp(&counts[a as usize]).then(a.cmp(&b)));
    if !matches!(model, Model::Popularity(_)) {
        order.truncate(opts.fallback_items.clamp(1, n));
    }
    let pop_scores: Vec<f32> = order.iter().map(|&i| counts[i as usize]).collect();
    sections.push((*b"POPI", Data::U32(order)));
    sections.push((*b"POPS", Data::F32(pop_scores)));

    match model {
        Model::Ials(m) => {
            algorithm_code = 1;
            k = m.k();
            let factors = f32_array(&arrays, "item_factors")?;
            let bounds: Vec<usize> = (0..=n).map(|i| i * k).collect();
            let (f, s) = quantise(factors, &bounds, p);
            sections.push((*b"FACT", f));
            if let Some(s) = s {
                sections.push((*b"FSCL", s));
            }
            sections.push((*b"GRAM", Data::F32(f32_array(&arrays, "item_gram")?.to_vec())));
        }
        Model::Bpr(m) => {
            algorithm_code = 2;
            k = m.config().factors;
            let factors = f32_array(&arrays, "item_factors")?;
            let bounds: Vec<usize> = (0..=n).map(|i| i * k).collect();
            let (f, s) = quantise(factors, &bounds, p);
            sections.push((*b"FACT", f));
            if let Some(s) = s {
                sections.push((*b"FSCL", s));
            }
            sections.push((*b"BIAS", Data::F32(f32_array(&arrays, "item_bias")?.to_vec())));
        }
        Model::Ease(_) => {
            algorithm_code = 3;
            let b = f32_array(&arrays, "b")?;
            let keep = opts.ease_neighbours.max(1);
            let (mut indptr, mut indices, mut values) = (vec![0usize], Vec::new(), Vec::new());
            let mut row_items: Vec<u32> = Vec::with_capacity(n);
            for (j, row) in b.chunks_exact(n).enumerate() {
                row_items.clear();
                row_items.extend((0..n32).filter(|&i| i as usize != j && row[i as usize] != 0.0));
                let by_magnitude = |a: &u32, c: &u32| {
                    row[*c as usize].abs().total_cmp(&row[*a as usize].abs()).then(a.cmp(c))
                };
                if row_items.len() > keep {
                    row_items.select_nth_unstable_by(keep - 1, by_magnitude);
                    row_items.truncate(keep);
                }
                row_items.sort_unstable();
                for &i in &row_items {
                    indices.push(i);
                    values.push(row[i as usize]);
                }
                indptr.push(indices.len());
            }
            lists(&mut sections, n, indptr, indices, &values, p)?;
        }
        Model::ItemKnn(m) => {
            algorithm_code = 4;
            let (mut indptr, mut indices, mut values) = (vec![0usize], Vec::new(), Vec::new());
            for j in 0..n32 {
                let (idx, vals) = m.neighbours(j);
                indices.extend_from_slice(idx);
                values.extend_from_slice(vals);
                indptr.push(indices.len());
            }
            lists(&mut sections, n, indptr, indices, &values, p)?;
        }
        Model::Popularity(_) => algorithm_code = 5,
    }

    if let Some(meta) = &opts.items {
        let mut bits = vec![0u8; n.div_ceil(8)];
        let mut kinds: Vec<u16> = Vec::with_capacity(n);
        let mut names: Vec<&str> = Vec::new();
        for (i, id) in artifact.items.iter().enumerate() {
            let m = meta.get(id);
            if m.is_none_or(|m| m.available) {
                bits[i / 8] |= 1 << (i % 8);
            }
            let kind = m.map_or("", |m| m.kind.as_str());
            let code = if kind.is_empty() {
                0
            } else {
                let pos = names.iter().position(|&k| k == kind).unwrap_or_else(|| {
                    names.push(kind);
                    names.len() - 1
                });
                u16::try_from(pos + 1).map_err(|_| {
                    Error::InvalidInput("more than 65,535 distinct item kinds".into())
                })?
            };
            kinds.push(code);
        }
        sections.push((*b"AVAL", Data::U8(bits)));
        sections.push((*b"KIND", Data::U16(kinds)));
        let (off, bytes) = strings(names.iter().copied(), "item kind")?;
        sections.push((*b"KNOF", off));
        sections.push((*b"KNBY", bytes));
    }

    let notice = notice(artifact, opts, k);
    assemble(algorithm_code, p.code(), n32, k as u32, &notice, &sections)
}

/// The human-readable notice at the top of the file.
fn notice(artifact: &ModelArtifact, opts: &EdgeOptions, k: usize) -> String {
    let h = &artifact.header;
    format!(
        "Encore edge model file (format {EDGE_FORMAT_VERSION}).\n\
         Contains no user data: no user ids, no user factors, no training interactions.\n\
         Holds item ids, item-side model parameters and per-item popularity counts only.\n\
         algorithm={} precision={} items={} factors={k} metadata={}\n\
         source_fingerprint={} source_created_unix_ms={}\n",
        h.algorithm,
        opts.precision.name(),
        h.n_items,
        if opts.items.is_some() { "kinds,availability" } else { "none" },
        h.data_fingerprint,
        h.created_unix_ms,
    )
}

fn pad8(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(8) {
        out.push(0);
    }
}

/// Lays out the preamble, notice, section table, sections and checksum.
fn assemble(
    algorithm: u32,
    precision: u32,
    n: u32,
    k: u32,
    notice: &str,
    sections: &[([u8; 4], Data)],
) -> Result<Vec<u8>> {
    const PREAMBLE: usize = 64;
    const ENTRY: usize = 24;
    let table = (PREAMBLE + notice.len()).next_multiple_of(8);
    let mut offset = table + ENTRY * sections.len();
    let mut entries = Vec::with_capacity(sections.len());
    for (tag, data) in sections {
        let bytes = data.count() * [1, 1, 1, 2, 4, 4, 8][data.code() as usize];
        entries.push((*tag, data.code(), offset as u64, data.count() as u64));
        offset = (offset + bytes).next_multiple_of(8);
    }
    let total = offset + 4;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&EDGE_MAGIC);
    for v in [EDGE_FORMAT_VERSION, algorithm, precision, n, k, sections.len() as u32] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&(total as u64).to_le_bytes());
    out.extend_from_slice(&(notice.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0u8; 16]);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(notice.as_bytes());
    pad8(&mut out);
    for (tag, code, offset, count) in &entries {
        out.extend_from_slice(tag);
        out.extend_from_slice(&code.to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
    }
    for ((_, data), (_, _, offset, _)) in sections.iter().zip(&entries) {
        debug_assert_eq!(out.len() as u64, *offset);
        data.write(&mut out);
        pad8(&mut out);
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    debug_assert_eq!(out.len(), total);
    Ok(out)
}

/// Writes the edge file of `artifact` to `path` atomically (temporary file beside it, fsync,
/// rename); returns its size in bytes.
pub fn save_edge(artifact: &ModelArtifact, opts: &EdgeOptions, path: &Path) -> Result<u64> {
    let bytes = edge_bytes(artifact, opts)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        f.write_all(&bytes).map_err(|e| Error::io(&tmp, e))?;
        f.sync_all().map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map(|()| bytes.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IEEE binary16 bits to f32 (the reader's conversion, restated for the round trip).
    fn f16_to_f32(h: u16) -> f32 {
        let sign = if h & 0x8000 != 0 { -1.0f64 } else { 1.0 };
        let exp = i32::from((h >> 10) & 0x1F);
        let man = f64::from(h & 0x3FF);
        let v = if exp == 0 {
            man * 2f64.powi(-24)
        } else {
            (1.0 + man / 1024.0) * 2f64.powi(exp - 15)
        };
        (sign * v) as f32
    }

    #[test]
    fn every_finite_half_round_trips() {
        for h in 0..=u16::MAX {
            if h & 0x7C00 == 0x7C00 {
                continue;
            }
            assert_eq!(f32_to_f16(f16_to_f32(h)), h, "half {h:#06x}");
        }
    }

    #[test]
    fn f16_rounds_to_nearest_even_and_clamps() {
        assert_eq!(f32_to_f16(1.0), 0x3C00);
        // 1 + 2^-11 is halfway between 1 and the next half: ties to even (1.0).
        assert_eq!(f32_to_f16(1.0 + 2f32.powi(-11)), 0x3C00);
        assert_eq!(f32_to_f16(1.0 + 3.0 * 2f32.powi(-11)), 0x3C02);
        assert_eq!(f32_to_f16(1e9), 0x7BFF);
        assert_eq!(f32_to_f16(-1e9), 0xFBFF);
        assert_eq!(f32_to_f16(1e-12), 0);
    }

    #[test]
    fn int8_rows_use_their_own_scale() {
        let (q, s) =
            quantise(&[1.0, -0.5, 0.0, 0.0, 10.0, 5.0], &[0, 2, 4, 6], EdgePrecision::Int8);
        let (Data::I8(q), Some(Data::F32(s))) = (q, s) else { panic!("int8 sections") };
        assert_eq!(q, vec![127, -64, 0, 0, 127, 64]);
        assert_eq!(s, vec![1.0 / 127.0, 0.0, 10.0 / 127.0]);
    }

    #[test]
    fn layout_has_aligned_sections_and_a_valid_checksum() {
        let bytes = assemble(
            5,
            1,
            2,
            0,
            "hello",
            &[(*b"PARM", Data::F64(vec![])), (*b"POPI", Data::U32(vec![1, 0]))],
        )
        .unwrap();
        assert_eq!(&bytes[..8], b"ENCEDGE\0");
        assert_eq!(u64::from_le_bytes(bytes[32..40].try_into().unwrap()), bytes.len() as u64);
        let body = bytes.len() - 4;
        assert_eq!(crc32fast::hash(&bytes[..body]).to_le_bytes(), bytes[body..]);
        assert_eq!(crc32fast::hash(&bytes[..60]).to_le_bytes(), bytes[60..64]);
        // The table starts at 72 (64 + "hello" rounded up to 8); the second section's offset.
        let second = u64::from_le_bytes(bytes[72 + 24 + 8..72 + 24 + 16].try_into().unwrap());
        assert_eq!(second % 8, 0);
    }
}
