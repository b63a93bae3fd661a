//! Fixtures and helpers shared by the test modules.

use std::path::{Path, PathBuf};

/// `tests/data/NAME`.
pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

/// The bytes of fixture `NAME`.
pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(name)).expect("fixture exists")
}

/// Every fixture with its algorithm and precision names.
pub const FIXTURES: [(&str, &str, &str); 6] = [
    ("ials-int8.edge", "ials", "int8"),
    ("ials-f32.edge", "ials", "f32"),
    ("itemknn-f16.edge", "itemknn", "f16"),
    ("popularity-f32.edge", "popularity", "f32"),
    ("bpr-int8.edge", "bpr", "int8"),
    ("ease-int8.edge", "ease", "int8"),
];

/// Recomputes both checksums after an edit, so that the parser's structural checks (not the
/// checksum) have to catch it.
pub fn fix_checksums(bytes: &mut [u8]) {
    let crc = encore_edge::format::crc32(&bytes[..60]);
    bytes[60..64].copy_from_slice(&crc.to_le_bytes());
    let body = bytes.len() - 4;
    let crc = encore_edge::format::crc32(&bytes[..body]);
    bytes[body..].copy_from_slice(&crc.to_le_bytes());
}

/// A deterministic xorshift stream.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}
