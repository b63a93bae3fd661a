//! The id → key maps both back ends' bulk imports keep in memory while they assign dense keys.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// FNV-1a: ids are short strings read from a trusted local file, so a fast non-keyed hash is
/// right here (SipHash costs about a third of the import time).
#[derive(Default)]
pub(crate) struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// Id → key of a catalog's users or items (what a key means is the back end's: the PostgreSQL
/// import also keeps provisional negative keys).
pub(crate) type KeyMap = HashMap<Box<str>, i64, BuildHasherDefault<Fnv>>;

#[cfg(test)]
mod tests {
    use std::hash::{BuildHasher, BuildHasherDefault};

    use super::Fnv;

    #[test]
    fn fnv_distinguishes_ids() {
        let b = BuildHasherDefault::<Fnv>::default();
        assert_ne!(b.hash_one("u1"), b.hash_one("u2"));
        assert_eq!(b.hash_one("u1"), b.hash_one("u1"));
    }
}
