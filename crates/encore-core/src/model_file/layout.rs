//! The byte layout of a model file: fixed preamble, section table entries, element types.
//!
//! Everything here is pure encoding and decoding of small fixed-size records; the reader and the
//! writer share it so that the two cannot disagree about an offset.

/// First bytes of every model file.
pub(super) const MAGIC: [u8; 8] = *b"ENCOREMD";

/// Size of the fixed preamble that precedes the header JSON.
pub(super) const PREAMBLE_LEN: usize = 36;

/// Size of one section table entry.
pub(super) const ENTRY_LEN: usize = 64;

/// Bytes reserved for a section name inside a table entry (UTF-8, zero-padded).
pub(super) const NAME_LEN: usize = 40;

/// Every section starts at a multiple of this, so typed views of a page-aligned memory map are
/// aligned for any element type (and for cache lines).
pub(super) const ALIGN: usize = 64;

/// Size of the trailer: the CRC32 of everything before it.
pub(super) const TRAILER_LEN: usize = 4;

/// Upper bound on the header JSON, so that a damaged length cannot make `read_header` allocate
/// gigabytes. Real headers are a few kilobytes (hyperparameters and metrics).
pub(super) const MAX_HEADER_LEN: u32 = 16 << 20;

/// Upper bound on the number of sections (a model has a handful of arrays).
pub(super) const MAX_SECTIONS: u32 = 1024;

/// The fixed-size preamble at the start of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Preamble {
    pub format_version: u32,
    pub header_len: u32,
    pub section_count: u32,
    pub file_len: u64,
    /// CRC32 of the header JSON followed by the section table.
    pub header_crc: u32,
}

impl Preamble {
    /// Encodes the preamble, computing its own checksum over bytes `0..28`.
    pub fn encode(&self) -> [u8; PREAMBLE_LEN] {
        let mut b = [0u8; PREAMBLE_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&self.format_version.to_le_bytes());
        b[12..16].copy_from_slice(&self.header_len.to_le_bytes());
        b[16..20].copy_from_slice(&self.section_count.to_le_bytes());
        b[20..28].copy_from_slice(&self.file_len.to_le_bytes());
        let preamble_crc = crc32fast::hash(&b[0..28]);
        b[28..32].copy_from_slice(&preamble_crc.to_le_bytes());
        b[32..36].copy_from_slice(&self.header_crc.to_le_bytes());
        b
    }

    /// Decodes the fields after magic and version; returns `None` when the preamble's own
    /// checksum does not match (the caller has already checked magic and version).
    pub fn decode(b: &[u8; PREAMBLE_LEN]) -> Option<Self> {
        if crc32fast::hash(&b[0..28]) != le_u32(&b[28..32]) {
            return None;
        }
        Some(Self {
            format_version: le_u32(&b[8..12]),
            header_len: le_u32(&b[12..16]),
            section_count: le_u32(&b[16..20]),
            file_len: le_u64(&b[20..28]),
            header_crc: le_u32(&b[32..36]),
        })
    }

    /// Byte offset where the section table starts.
    pub fn table_start(&self) -> u64 {
        PREAMBLE_LEN as u64 + u64::from(self.header_len)
    }

    /// Byte offset just past the section table.
    pub fn table_end(&self) -> u64 {
        self.table_start() + u64::from(self.section_count) * ENTRY_LEN as u64
    }
}

/// Element type of a section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dtype {
    /// Raw bytes (UTF-8 of the id maps).
    U8,
    /// 32-bit unsigned integers.
    U32,
    /// 64-bit unsigned integers.
    U64,
    /// 32-bit IEEE floats.
    F32,
}

impl Dtype {
    pub fn code(self) -> u32 {
        match self {
            Dtype::U8 => 1,
            Dtype::U32 => 2,
            Dtype::U64 => 3,
            Dtype::F32 => 4,
        }
    }

    pub fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            1 => Dtype::U8,
            2 => Dtype::U32,
            3 => Dtype::U64,
            4 => Dtype::F32,
            _ => return None,
        })
    }

    pub fn size(self) -> usize {
        match self {
            Dtype::U8 => 1,
            Dtype::U32 | Dtype::F32 => 4,
            Dtype::U64 => 8,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dtype::U8 => "u8",
            Dtype::U32 => "u32",
            Dtype::U64 => "u64",
            Dtype::F32 => "f32",
        }
    }
}

/// One entry of the section table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SectionEntry {
    pub name: String,
    pub dtype: Dtype,
    /// Byte offset of the first element from the start of the file.
    pub offset: u64,
    /// Number of elements.
    pub count: u64,
}

impl SectionEntry {
    /// Encodes the entry: name (40 bytes, zero-padded), dtype (u32), reserved zero (u32),
    /// offset (u64), count (u64). The writer guarantees the name fits.
    pub fn encode(&self) -> [u8; ENTRY_LEN] {
        let mut b = [0u8; ENTRY_LEN];
        let name = self.name.as_bytes();
        b[..name.len()].copy_from_slice(name);
        b[40..44].copy_from_slice(&self.dtype.code().to_le_bytes());
        b[48..56].copy_from_slice(&self.offset.to_le_bytes());
        b[56..64].copy_from_slice(&self.count.to_le_bytes());
        b
    }

    /// Decodes an entry, or says what is wrong with it.
    pub fn decode(b: &[u8]) -> Result<Self, String> {
        let raw_name = &b[..NAME_LEN];
        let name_len = raw_name.iter().position(|&c| c == 0).unwrap_or(NAME_LEN);
        if raw_name[name_len..].iter().any(|&c| c != 0) {
            return Err("a section name is not zero-padded".into());
        }
        let name = std::str::from_utf8(&raw_name[..name_len])
            .map_err(|_| "a section name is not UTF-8".to_string())?;
        if name.is_empty() {
            return Err("a section has an empty name".into());
        }
        let code = le_u32(&b[40..44]);
        let dtype = Dtype::from_code(code)
            .ok_or_else(|| format!("section `{name}` has unknown element type {code}"))?;
        if le_u32(&b[44..48]) != 0 {
            return Err(format!("section `{name}` has non-zero reserved bytes"));
        }
        Ok(Self {
            name: name.to_string(),
            dtype,
            offset: le_u64(&b[48..56]),
            count: le_u64(&b[56..64]),
        })
    }

    /// Length of the section's data in bytes, if it does not overflow.
    pub fn byte_len(&self) -> Option<u64> {
        self.count.checked_mul(self.dtype.size() as u64)
    }
}

/// A plain element type that can be stored in a section. The file is little-endian; `swap_le`
/// converts between file and native order (a no-op on little-endian machines, where typed views
/// of the memory map are used directly).
pub(super) trait Element: bytemuck::Pod {
    const DTYPE: Dtype;
    /// Converts from little-endian to native order or back (the same byte swap either way).
    fn swap_le(self) -> Self;
}

impl Element for u8 {
    const DTYPE: Dtype = Dtype::U8;
    fn swap_le(self) -> Self {
        self
    }
}

impl Element for u32 {
    const DTYPE: Dtype = Dtype::U32;
    fn swap_le(self) -> Self {
        u32::from_le(self)
    }
}

impl Element for u64 {
    const DTYPE: Dtype = Dtype::U64;
    fn swap_le(self) -> Self {
        u64::from_le(self)
    }
}

impl Element for f32 {
    const DTYPE: Dtype = Dtype::F32;
    fn swap_le(self) -> Self {
        f32::from_bits(u32::from_le(self.to_bits()))
    }
}

/// Copies little-endian elements out of `bytes` (any alignment) into a native vector.
/// `bytes.len()` must be a multiple of the element size (the reader checks it).
pub(super) fn decode_vec<T: Element>(bytes: &[u8]) -> Vec<T> {
    let n = bytes.len() / size_of::<T>();
    let mut v = vec![T::zeroed(); n];
    // Copying into the typed vector (rather than casting `bytes`) works at any alignment.
    bytemuck::cast_slice_mut::<T, u8>(&mut v).copy_from_slice(&bytes[..n * size_of::<T>()]);
    if cfg!(target_endian = "big") {
        v.iter_mut().for_each(|x| *x = x.swap_le());
    }
    v
}

/// Rounds `n` up to the next multiple of [`ALIGN`].
pub(super) fn align_up(n: u64) -> u64 {
    n.div_ceil(ALIGN as u64) * ALIGN as u64
}

pub(super) fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

pub(super) fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preamble_round_trips_and_detects_damage() {
        let p = Preamble {
            format_version: 1,
            header_len: 123,
            section_count: 7,
            file_len: 1 << 40,
            header_crc: 0xdead_beef,
        };
        let mut b = p.encode();
        assert_eq!(&b[..8], b"ENCOREMD");
        assert_eq!(Preamble::decode(&b), Some(p));
        b[21] ^= 1;
        assert_eq!(Preamble::decode(&b), None);
    }

    #[test]
    fn section_entry_round_trips_and_rejects_bad_entries() {
        let e = SectionEntry {
            name: "model.item_factors".into(),
            dtype: Dtype::F32,
            offset: 4096,
            count: 1_000_000 * 64,
        };
        let mut b = e.encode();
        assert_eq!(SectionEntry::decode(&b), Ok(e));
        b[40] = 9;
        assert!(SectionEntry::decode(&b).unwrap_err().contains("unknown element type"));
        let mut b = [0u8; ENTRY_LEN];
        b[40] = 1;
        assert!(SectionEntry::decode(&b).unwrap_err().contains("empty name"));
        b[0] = b'a';
        b[2] = b'b';
        assert!(SectionEntry::decode(&b).unwrap_err().contains("zero-padded"));
    }

    #[test]
    fn decodes_unaligned_little_endian() {
        let bytes = [0xffu8, 1, 0, 0, 0, 2, 0, 0, 0];
        assert_eq!(decode_vec::<u32>(&bytes[1..]), vec![1, 2]);
        assert_eq!(decode_vec::<f32>(&1.5f32.to_le_bytes()), vec![1.5]);
        assert_eq!(align_up(0), 0);
        assert_eq!(align_up(1), 64);
        assert_eq!(align_up(128), 128);
    }
}
