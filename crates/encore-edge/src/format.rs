//! The edge model file format, version 1: constants, the checksum, and the validating parser.
//!
//! All integers and floats are little-endian. Offsets are from the start of the file.
//!
//! | offset | size | content |
//! |---|---|---|
//! | 0 | 8 | magic [`MAGIC`] (`ENCEDGE` and a zero byte) |
//! | 8 | 4 | format version (u32), [`FORMAT_VERSION`] |
//! | 12 | 4 | algorithm: 1 iALS, 2 BPR, 3 EASE, 4 item-kNN, 5 popularity |
//! | 16 | 4 | precision of the large arrays: 1 f32, 2 f16, 3 int8 |
//! | 20 | 4 | `n`: number of items |
//! | 24 | 4 | `k`: number of latent factors (0 for models without factors) |
//! | 28 | 4 | `S`: number of sections (at most [`MAX_SECTIONS`]) |
//! | 32 | 8 | `L`: total file length in bytes |
//! | 40 | 4 | `T`: length of the notice text |
//! | 44 | 16 | reserved, zero |
//! | 60 | 4 | CRC-32 of bytes 0‥60 (the preamble checksum) |
//! | 64 | `T` | the notice: UTF-8 text for people who open the file, saying what it holds and that it holds no user data |
//! | … | 24 · `S` | section table (8-byte aligned), one entry per section: tag (4 ASCII bytes), element type (u32: 1 u8, 2 i8, 3 u16, 4 u32, 5 f32, 6 f64), data offset (u64, a multiple of 8), element count (u64) |
//! | … | | section data, each 8-byte aligned, zero-padded |
//! | `L` − 4 | 4 | CRC-32 of bytes 0‥`L`−4 (the file checksum) |
//!
//! Sections (tag, type, count):
//!
//! | tag | type | count | content |
//! |---|---|---|---|
//! | `PARM` | f64 | per algorithm | the hyperparameters scoring needs (below) |
//! | `IDOF` | u32 | `n + 1` | item `i`'s id is `IDBY[IDOF[i]..IDOF[i+1]]`, which ends with a zero byte |
//! | `IDBY` | u8 | | the item ids, UTF-8, each followed by a zero byte (so C can use them in place) |
//! | `POPI`, `POPS` | u32, f32 | `P` | the popularity fallback: the `P` most played items, best first, and their user counts |
//! | `FACT` | f32, u16 (f16 bits) or i8 | `n · k` | item factors, row-major (iALS, BPR) |
//! | `FSCL` | f32 | `n` | int8 only: the scale of each factor row (value = scale · q) |
//! | `GRAM` | f32 | `k · k` | iALS: `YᵀY` of the full-precision item factors |
//! | `BIAS` | f32 | `n` | BPR: item biases |
//! | `NBPT` | u32 | `n + 1` | item-kNN and EASE: row pointers of the per-item lists |
//! | `NBIX` | u16 or u32 | `nnz` | the listed items (u16 when `n ≤ 65,536`) |
//! | `NBVL` | f32, u16 or i8 | `nnz` | the weights (similarities; EASE's `B_ji`) |
//! | `NBSC` | f32 | `n` | int8 only: the scale of each list |
//! | `AVAL` | u8 | `⌈n/8⌉` | optional: availability bitset (bit `i % 8` of byte `i / 8`); an unavailable item is never recommended |
//! | `KIND` | u16 | `n` | optional: kind of each item, 0 = none, else `1 +` an index into the kind names |
//! | `KNOF`, `KNBY` | u32, u8 | | kind names, stored like the ids |
//!
//! `PARM` holds: iALS — `alpha, regularization, reg_exponent, unobserved_weight, confidence`
//! (0 identity, 1 log1p, 2 binary); BPR — `target, ridge` of the fold-in; EASE — `weighting`
//! (0 binary, 1 raw, 2 log) and the number of weights kept per item; item-kNN — 1 when history
//! weights are the raw weights (`weighting=none`), else 0; popularity — nothing.
//!
//! Every section is required for its algorithm and precision, except the optional metadata; an
//! unknown or repeated tag, a section out of bounds or overlapping another, a wrong element type
//! or count, a checksum mismatch or an index out of range is refused by [`parse`], which never
//! panics on any input (the fuzz target `edge_open_bytes` checks that).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::error::{Error, ErrorKind};
use crate::model::{Algorithm, Confidence, EaseWeighting, EdgeModel, Params, Precision};
use crate::quant::Values;

/// The first eight bytes of every edge model file.
pub const MAGIC: [u8; 8] = *b"ENCEDGE\0";
/// The format version this library reads (and the only one it reads).
pub const FORMAT_VERSION: u32 = 1;
/// Bytes before the notice text.
pub const PREAMBLE_LEN: usize = 64;
/// Bytes of one section table entry.
pub const ENTRY_LEN: usize = 24;
/// Most sections a file may declare.
pub const MAX_SECTIONS: u32 = 64;
/// Longest notice text accepted.
pub const MAX_NOTICE_LEN: u32 = 64 * 1024;
/// Most factors accepted (the server accepts up to 4096).
pub const MAX_FACTORS: u32 = 4096;

/// Element types of sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Elem {
    /// Bytes.
    U8 = 1,
    /// Signed bytes (int8 quantised values).
    I8 = 2,
    /// 16-bit words (f16 bit patterns, kind indices).
    U16 = 3,
    /// 32-bit unsigned integers.
    U32 = 4,
    /// 32-bit floats.
    F32 = 5,
    /// 64-bit floats.
    F64 = 6,
}

impl Elem {
    fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            1 => Elem::U8,
            2 => Elem::I8,
            3 => Elem::U16,
            4 => Elem::U32,
            5 => Elem::F32,
            6 => Elem::F64,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Elem::U8 | Elem::I8 => 1,
            Elem::U16 => 2,
            Elem::U32 | Elem::F32 => 4,
            Elem::F64 => 8,
        }
    }
}

/// Every section tag the format defines.
pub const TAGS: [&[u8; 4]; 17] = [
    b"PARM", b"IDOF", b"IDBY", b"POPI", b"POPS", b"FACT", b"FSCL", b"GRAM", b"BIAS", b"NBPT",
    b"NBIX", b"NBVL", b"NBSC", b"AVAL", b"KIND", b"KNOF", b"KNBY",
];

const CRC_TABLE: [u32; 256] = crc_table();

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

/// CRC-32 (IEEE 802.3, the zlib/PNG polynomial) of `bytes`: what `crc32fast` computes on the
/// export side.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
    }
    !c
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

fn err(kind: ErrorKind, message: String) -> Error {
    Error::new(kind, message)
}

fn corrupt(message: String) -> Error {
    err(ErrorKind::Corrupt, message)
}

/// One section of the table, located and checked against the file bounds.
#[derive(Clone, Copy)]
struct Section<'a> {
    tag: [u8; 4],
    elem: Elem,
    data: &'a [u8],
}

impl Section<'_> {
    fn name(&self) -> String {
        String::from_utf8_lossy(&self.tag).into_owned()
    }
    fn count(&self) -> usize {
        self.data.len() / self.elem.size()
    }
}

/// The sections of a file by tag, each taken at most once.
struct Sections<'a> {
    list: Vec<Section<'a>>,
}

impl<'a> Sections<'a> {
    fn find(&self, tag: &[u8; 4]) -> Option<Section<'a>> {
        self.list.iter().copied().find(|s| &s.tag == tag)
    }

    fn require(&self, tag: &[u8; 4]) -> Result<Section<'a>, Error> {
        self.find(tag).ok_or_else(|| {
            corrupt(format!("required section {} is missing", String::from_utf8_lossy(tag)))
        })
    }

    fn typed(&self, tag: &[u8; 4], elem: Elem, count: Option<usize>) -> Result<Section<'a>, Error> {
        let s = self.require(tag)?;
        if s.elem != elem {
            return Err(corrupt(format!(
                "section {} has element type {:?}, expected {elem:?}",
                s.name(),
                s.elem
            )));
        }
        if let Some(c) = count
            && s.count() != c
        {
            return Err(corrupt(format!(
                "section {} has {} elements, expected {c}",
                s.name(),
                s.count()
            )));
        }
        Ok(s)
    }

    fn u32s(&self, tag: &[u8; 4], count: Option<usize>) -> Result<Vec<u32>, Error> {
        let s = self.typed(tag, Elem::U32, count)?;
        Ok(s.data.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }

    fn f32s(&self, tag: &[u8; 4], count: Option<usize>) -> Result<Vec<f32>, Error> {
        let s = self.typed(tag, Elem::F32, count)?;
        let v: Vec<f32> =
            s.data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        if v.iter().any(|x| !x.is_finite()) {
            return Err(corrupt(format!("section {} holds a value that is not finite", s.name())));
        }
        Ok(v)
    }

    fn f64s(&self, tag: &[u8; 4], count: usize) -> Result<Vec<f64>, Error> {
        let s = self.typed(tag, Elem::F64, Some(count))?;
        let v: Vec<f64> = s
            .data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect();
        if v.iter().any(|x| !x.is_finite()) {
            return Err(corrupt(format!("section {} holds a value that is not finite", s.name())));
        }
        Ok(v)
    }

    fn bytes(&self, tag: &[u8; 4], count: Option<usize>) -> Result<Vec<u8>, Error> {
        Ok(self.typed(tag, Elem::U8, count)?.data.to_vec())
    }

    /// Values stored at `precision` (f32, f16 as u16, or int8 with a scale per row from
    /// `scale_tag`), `count` of them in `rows` rows.
    fn values(
        &self,
        tag: &[u8; 4],
        scale_tag: &[u8; 4],
        precision: Precision,
        count: usize,
        rows: usize,
    ) -> Result<Values, Error> {
        let values = match precision {
            Precision::F32 => Values::F32(self.f32s(tag, Some(count))?),
            Precision::F16 => {
                let s = self.typed(tag, Elem::U16, Some(count))?;
                let v: Vec<u16> =
                    s.data.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
                // Exponent all ones: infinity or NaN, which the exporter never writes.
                if v.iter().any(|h| h & 0x7C00 == 0x7C00) {
                    return Err(corrupt(format!(
                        "section {} holds a value that is not finite",
                        s.name()
                    )));
                }
                Values::F16(v)
            }
            Precision::Int8 => {
                let s = self.typed(tag, Elem::I8, Some(count))?;
                let q: Vec<i8> = s.data.iter().map(|&b| b as i8).collect();
                let scales = self.f32s(scale_tag, Some(rows))?;
                Values::I8 { q, scales }
            }
        };
        if precision != Precision::Int8 && self.find(scale_tag).is_some() {
            return Err(corrupt(format!(
                "section {} is only allowed in int8 files",
                String::from_utf8_lossy(scale_tag)
            )));
        }
        Ok(values)
    }
}

/// Strings stored as offsets + zero-terminated UTF-8 bytes; returns the offsets and bytes.
fn strings(
    s: &Sections<'_>,
    off_tag: &[u8; 4],
    bytes_tag: &[u8; 4],
    count: usize,
) -> Result<(Vec<u32>, Vec<u8>), Error> {
    let offsets = s.u32s(off_tag, Some(count + 1))?;
    let bytes = s.bytes(bytes_tag, None)?;
    let what = String::from_utf8_lossy(bytes_tag).into_owned();
    if offsets.first() != Some(&0) || offsets.last().map(|&l| l as usize) != Some(bytes.len()) {
        return Err(corrupt(format!("the offsets of section {what} do not span it")));
    }
    for (i, w) in offsets.windows(2).enumerate() {
        let (a, b) = (w[0] as usize, w[1] as usize);
        if b <= a || b > bytes.len() {
            return Err(corrupt(format!("string {i} of section {what} is out of bounds")));
        }
        let text = &bytes[a..b - 1];
        if bytes[b - 1] != 0 || text.contains(&0) {
            return Err(corrupt(format!("string {i} of section {what} is not zero-terminated")));
        }
        if core::str::from_utf8(text).is_err() {
            return Err(corrupt(format!("string {i} of section {what} is not UTF-8")));
        }
    }
    Ok((offsets, bytes))
}

/// Row pointers of `rows` lists over `n_items` items with their indices; checks every invariant.
fn lists(s: &Sections<'_>, n: usize) -> Result<(Vec<u32>, Vec<u32>), Error> {
    let indptr = s.u32s(b"NBPT", Some(n + 1))?;
    // Indices are u16 when every item index fits (catalogues up to 65,536 items), else u32.
    let indices = match s.require(b"NBIX")?.elem {
        Elem::U16 if n <= 1 << 16 => s
            .typed(b"NBIX", Elem::U16, None)?
            .data
            .chunks_exact(2)
            .map(|c| u32::from(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        _ => s.u32s(b"NBIX", None)?,
    };
    if indptr.first() != Some(&0) || indptr.last().map(|&l| l as usize) != Some(indices.len()) {
        return Err(corrupt("the list pointers NBPT do not span NBIX".into()));
    }
    if indptr.windows(2).any(|w| w[0] > w[1]) {
        return Err(corrupt("the list pointers NBPT decrease".into()));
    }
    if indices.iter().any(|&i| i as usize >= n) {
        return Err(corrupt("a listed item in NBIX is out of range".into()));
    }
    Ok((indptr, indices))
}

/// Parses and validates a whole edge model file.
pub fn parse(bytes: &[u8]) -> Result<EdgeModel, Error> {
    if bytes.len() < 8 || bytes[..8] != MAGIC {
        return Err(err(
            ErrorKind::NotEdgeModel,
            "not an Encore edge model file (the magic bytes ENCEDGE are missing)".into(),
        ));
    }
    if bytes.len() < PREAMBLE_LEN + 4 {
        return Err(err(
            ErrorKind::Truncated,
            format!("truncated edge model file: {} bytes, shorter than its preamble", bytes.len()),
        ));
    }
    let version = u32_at(bytes, 8);
    if crc32(&bytes[..60]) != u32_at(bytes, 60) {
        return Err(corrupt(
            "corrupted edge model file: the preamble checksum does not match".into(),
        ));
    }
    if version != FORMAT_VERSION {
        let why = if version > FORMAT_VERSION {
            "written by a newer Encore"
        } else {
            "not a known version"
        };
        return Err(err(
            ErrorKind::UnsupportedVersion,
            format!(
                "unsupported edge model format version {version} ({why}); this library reads version {FORMAT_VERSION}"
            ),
        ));
    }
    let declared = u64_at(bytes, 32);
    if declared != bytes.len() as u64 {
        let kind =
            if declared > bytes.len() as u64 { ErrorKind::Truncated } else { ErrorKind::Corrupt };
        return Err(err(
            kind,
            format!(
                "{} edge model file: {} bytes, but its preamble says {declared}",
                if kind == ErrorKind::Truncated { "truncated" } else { "corrupted" },
                bytes.len()
            ),
        ));
    }
    let body = bytes.len() - 4;
    if crc32(&bytes[..body]) != u32_at(bytes, body) {
        return Err(corrupt("corrupted edge model file: the file checksum does not match".into()));
    }

    let algorithm = Algorithm::from_code(u32_at(bytes, 12))
        .ok_or_else(|| corrupt(format!("unknown algorithm code {}", u32_at(bytes, 12))))?;
    let precision = Precision::from_code(u32_at(bytes, 16))
        .ok_or_else(|| corrupt(format!("unknown precision code {}", u32_at(bytes, 16))))?;
    let n = u32_at(bytes, 20) as usize;
    let k = u32_at(bytes, 24);
    let n_sections = u32_at(bytes, 28);
    let notice_len = u32_at(bytes, 40);
    if bytes[44..60].iter().any(|&b| b != 0) {
        return Err(corrupt("reserved preamble bytes are not zero".into()));
    }
    if n_sections > MAX_SECTIONS || notice_len > MAX_NOTICE_LEN || k > MAX_FACTORS {
        return Err(corrupt(format!(
            "implausible preamble: {n_sections} sections, notice of {notice_len} bytes, {k} factors"
        )));
    }
    let k = k as usize;
    let has_factors = matches!(algorithm, Algorithm::Ials | Algorithm::Bpr);
    if has_factors != (k > 0) {
        return Err(corrupt(format!("{} model with {k} factors", algorithm.name())));
    }
    if n == 0 {
        return Err(corrupt("the model has no items".into()));
    }
    let notice_end = PREAMBLE_LEN + notice_len as usize;
    let table = notice_end.next_multiple_of(8);
    let table_end = table + ENTRY_LEN * n_sections as usize;
    if table_end > body {
        return Err(corrupt("the section table runs past the end of the file".into()));
    }
    let notice = core::str::from_utf8(&bytes[PREAMBLE_LEN..notice_end])
        .map_err(|_| corrupt("the notice text is not UTF-8".into()))?;

    // The section table: every entry in bounds, aligned, in file order and not overlapping.
    let mut list: Vec<Section<'_>> = Vec::with_capacity(n_sections as usize);
    let mut cursor = table_end;
    for e in 0..n_sections as usize {
        let at = table + e * ENTRY_LEN;
        let mut tag = [0u8; 4];
        tag.copy_from_slice(&bytes[at..at + 4]);
        let tag_text = String::from_utf8_lossy(&tag).into_owned();
        if !TAGS.contains(&&tag) {
            return Err(corrupt(format!("unknown section {tag_text:?}")));
        }
        if list.iter().any(|s| s.tag == tag) {
            return Err(corrupt(format!("section {tag_text} appears twice")));
        }
        let elem = Elem::from_code(u32_at(bytes, at + 4))
            .ok_or_else(|| corrupt(format!("section {tag_text} has an unknown element type")))?;
        let offset = u64_at(bytes, at + 8);
        let count = u64_at(bytes, at + 16);
        let len = count.checked_mul(elem.size() as u64);
        let end = len.and_then(|l| offset.checked_add(l));
        let Some(end) = end.filter(|&e| e <= body as u64) else {
            return Err(corrupt(format!("section {tag_text} runs past the end of the file")));
        };
        if !offset.is_multiple_of(8) || offset < cursor as u64 {
            return Err(corrupt(format!("section {tag_text} is misplaced (offset {offset})")));
        }
        let (offset, end) = (offset as usize, end as usize);
        list.push(Section { tag, elem, data: &bytes[offset..end] });
        cursor = end;
    }
    let s = Sections { list };

    let params = match algorithm {
        Algorithm::Ials => {
            let p = s.f64s(b"PARM", 5)?;
            let confidence = match p[4] as u32 {
                0 if p[4] == 0.0 => Confidence::Identity,
                1 if p[4] == 1.0 => Confidence::Log1p,
                2 if p[4] == 2.0 => Confidence::Binary,
                _ => return Err(corrupt(format!("unknown iALS confidence code {}", p[4]))),
            };
            if p[0] < 0.0 || p[1] <= 0.0 || p[2] < 0.0 || p[3] < 0.0 {
                return Err(corrupt("iALS parameters out of range".into()));
            }
            Params::Ials {
                alpha: p[0],
                regularization: p[1],
                reg_exponent: p[2],
                unobserved_weight: p[3],
                confidence,
            }
        }
        Algorithm::Bpr => {
            let p = s.f64s(b"PARM", 2)?;
            if p[1] <= 0.0 {
                return Err(corrupt("the BPR fold-in ridge must be positive".into()));
            }
            Params::Bpr { target: p[0], ridge: p[1] }
        }
        Algorithm::Ease => {
            let p = s.f64s(b"PARM", 2)?;
            let weighting = match p[0] {
                0.0 => EaseWeighting::Binary,
                1.0 => EaseWeighting::Raw,
                2.0 => EaseWeighting::Log,
                _ => return Err(corrupt(format!("unknown EASE weighting code {}", p[0]))),
            };
            Params::Ease { weighting, kept: p[1].max(0.0) as u64 }
        }
        Algorithm::ItemKnn => {
            let p = s.f64s(b"PARM", 1)?;
            Params::ItemKnn { raw_weights: p[0] != 0.0 }
        }
        Algorithm::Popularity => {
            s.f64s(b"PARM", 0)?;
            Params::Popularity
        }
    };

    let (id_offsets, id_bytes) = strings(&s, b"IDOF", b"IDBY", n)?;
    let pop_items = s.u32s(b"POPI", None)?;
    let pop_scores = s.f32s(b"POPS", Some(pop_items.len()))?;
    if pop_items.iter().any(|&i| i as usize >= n) {
        return Err(corrupt("a popular item in POPI is out of range".into()));
    }
    let mut seen = alloc::vec![false; n];
    for &i in &pop_items {
        if core::mem::replace(&mut seen[i as usize], true) {
            return Err(corrupt("an item appears twice in POPI".into()));
        }
    }
    // Best first, ties to the smaller index: the order the answer is read off in.
    let ordered = pop_items
        .windows(2)
        .zip(pop_scores.windows(2))
        .all(|(i, s)| s[0] > s[1] || (s[0] == s[1] && i[0] < i[1]));
    if !ordered {
        return Err(corrupt("the popularity fallback POPI/POPS is not sorted best first".into()));
    }
    if algorithm == Algorithm::Popularity && pop_items.len() != n {
        return Err(corrupt("a popularity model must rank every item in POPI".into()));
    }

    let mut factors = None;
    let (mut gram, mut bias, mut neighbours) = (Vec::new(), Vec::new(), None);
    let used: &[&[u8; 4]] = match algorithm {
        Algorithm::Ials | Algorithm::Bpr => {
            let count = n.checked_mul(k).ok_or_else(|| corrupt("too many factors".into()))?;
            factors = Some(s.values(b"FACT", b"FSCL", precision, count, n)?);
            if algorithm == Algorithm::Ials {
                gram = s.f32s(b"GRAM", Some(k * k))?;
                &[b"FACT", b"FSCL", b"GRAM"]
            } else {
                bias = s.f32s(b"BIAS", Some(n))?;
                &[b"FACT", b"FSCL", b"BIAS"]
            }
        }
        Algorithm::Ease | Algorithm::ItemKnn => {
            let (indptr, indices) = lists(&s, n)?;
            let values = s.values(b"NBVL", b"NBSC", precision, indices.len(), n)?;
            neighbours = Some((indptr, indices, values));
            &[b"NBPT", b"NBIX", b"NBVL", b"NBSC"]
        }
        Algorithm::Popularity => &[],
    };
    for sec in &s.list {
        let common =
            [b"PARM", b"IDOF", b"IDBY", b"POPI", b"POPS", b"AVAL", b"KIND", b"KNOF", b"KNBY"];
        if !common.contains(&&sec.tag) && !used.contains(&&sec.tag) {
            return Err(corrupt(format!(
                "section {} does not belong in a {} model",
                sec.name(),
                algorithm.name()
            )));
        }
    }

    let available = match s.find(b"AVAL") {
        Some(_) => Some(s.bytes(b"AVAL", Some(n.div_ceil(8)))?),
        None => None,
    };
    let kinds = match s.find(b"KIND") {
        Some(sec) => {
            if sec.elem != Elem::U16 || sec.count() != n {
                return Err(corrupt(format!("section KIND must hold {n} u16 values")));
            }
            let kinds: Vec<u16> =
                sec.data.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
            let n_names = s.typed(b"KNOF", Elem::U32, None)?.count().saturating_sub(1);
            let (offsets, names) = strings(&s, b"KNOF", b"KNBY", n_names)?;
            if kinds.iter().any(|&c| usize::from(c) > n_names) {
                return Err(corrupt("an item kind in KIND is out of range".into()));
            }
            Some((kinds, offsets, names))
        }
        None => {
            if s.find(b"KNOF").is_some() || s.find(b"KNBY").is_some() {
                return Err(corrupt("kind names without the KIND section".into()));
            }
            None
        }
    };

    EdgeModel::assemble(crate::model::Parts {
        algorithm,
        precision,
        n_items: n,
        k,
        params,
        notice: String::from(notice),
        id_offsets,
        id_bytes,
        pop_items,
        pop_scores,
        factors,
        gram,
        bias,
        neighbours,
        available,
        kinds,
        file_len: bytes.len(),
    })
}
