//! Interning string ids into dense indices, tuned for the parallel reader's hot loop.
//!
//! Short ids (nearly all real ids: numbers, `u123`, short hashes) are keyed by their bytes packed
//! into integers. Hashing and comparing such a key touches no other memory, whereas a `&str` key
//! sends every probe to wherever the id's bytes live (a cache miss per lookup on a big file). Ids
//! of up to 7 bytes get 16-byte table slots, so a 50,000-item table still fits in a core's L2.

use std::borrow::Cow;

use rustc_hash::FxHashMap;

use crate::ids::IdMap;

/// An id as a hash key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Key<'s> {
    /// ≤ 7 bytes, zero-padded, length in the top byte.
    Tiny(u64),
    /// 8 to 15 bytes, zero-padded, length in the top byte of the second word.
    Short(u64, u64),
    /// Longer ids are keyed by their text.
    Long(&'s str),
}

/// Packs `bytes` (at most 8) into a little-endian word. Built with shifts rather than through a
/// byte buffer: a narrow store followed by a wide load of the same bytes stalls the CPU.
fn pack(bytes: &[u8]) -> u64 {
    bytes.iter().rev().fold(0u64, |acc, &b| acc << 8 | u64::from(b))
}

impl<'s> Key<'s> {
    fn of(id: &'s str) -> Self {
        let b = id.as_bytes();
        let len = b.len() as u64;
        match b.len() {
            0..=7 => Key::Tiny(pack(b) | len << 56),
            8..=15 => Key::Short(pack(&b[..8]), pack(&b[8..]) | len << 56),
            _ => Key::Long(id),
        }
    }
}

/// A map from ids to indices keyed as above. `'a` is the lifetime of the borrowed long ids.
#[derive(Default)]
struct PackedMap<'a> {
    tiny: FxHashMap<u64, u32>,
    short: FxHashMap<(u64, u64), u32>,
    long: FxHashMap<Cow<'a, str>, u32>,
}

impl<'a> PackedMap<'a> {
    /// The index of `id`, or `next` (inserted) when it is new.
    // `&Cow` rather than `&str`: cloning the `Cow` keeps an id borrowed from the file borrowed.
    #[allow(clippy::ptr_arg)]
    fn get_or_insert(&mut self, key: Key<'_>, id: &Cow<'a, str>, next: u32) -> u32 {
        match key {
            Key::Tiny(k) => *self.tiny.entry(k).or_insert(next),
            Key::Short(lo, hi) => *self.short.entry((lo, hi)).or_insert(next),
            Key::Long(s) => match self.long.get(s) {
                Some(&i) => i,
                None => {
                    self.long.insert(id.clone(), next);
                    next
                }
            },
        }
    }
}

/// The ids of one chunk, indexed in order of first appearance within the chunk.
#[derive(Default)]
pub(crate) struct LocalIds<'a> {
    map: PackedMap<'a>,
    order: Vec<Cow<'a, str>>,
    /// The key and index of the last id seen: files are usually grouped by user, so most user
    /// lookups hit this without touching the table.
    last: Option<(u64, u64, u32)>,
}

impl<'a> LocalIds<'a> {
    /// The local index of `id`, assigning the next one when it is new.
    pub fn intern(&mut self, id: Cow<'a, str>) -> u32 {
        let key = Key::of(&id);
        let cache_key = match key {
            Key::Tiny(k) => Some((k, 0)),
            Key::Short(lo, hi) => Some((lo, hi)),
            Key::Long(_) => None,
        };
        if let (Some(k), Some((last_lo, last_hi, last))) = (cache_key, self.last)
            && k == (last_lo, last_hi)
        {
            return last;
        }
        let next = self.order.len() as u32;
        let i = self.map.get_or_insert(key, &id, next);
        if i == next {
            self.order.push(id);
        }
        self.last = cache_key.map(|(lo, hi)| (lo, hi, i));
        i
    }
}

/// Merges chunk-local ids into one [`IdMap`] in chunk order, so that global indices follow the
/// first appearance in the whole file. Returns the map and, for every chunk, the global index of
/// each of its local indices.
pub(crate) fn merge_ids<'c, 'a: 'c>(
    chunks: impl Iterator<Item = &'c LocalIds<'a>>,
) -> (IdMap, Vec<Vec<u32>>) {
    let mut global = IdMap::new();
    // A packed index of the global ids: most lookups here are for ids already seen in earlier
    // chunks, and this answers them without hashing strings or following `IdMap`'s pointers.
    let mut seen = PackedMap::default();
    let remaps = chunks
        .map(|local| {
            local
                .order
                .iter()
                .map(|id| {
                    let next = global.len() as u32;
                    let i = seen.get_or_insert(Key::of(id), id, next);
                    if i == next {
                        global.get_or_insert(id);
                    }
                    i
                })
                .collect()
        })
        .collect();
    (global, remaps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_across_length_classes_and_padding() {
        let ids = ["", "a", "a\0", "1234567", "12345678", "123456789012345", "1234567890123456"];
        let keys: Vec<Key<'_>> = ids.iter().map(|s| Key::of(s)).collect();
        for (a, ka) in keys.iter().enumerate() {
            for (b, kb) in keys.iter().enumerate() {
                assert_eq!(a == b, ka == kb, "{:?} vs {:?}", ids[a], ids[b]);
            }
        }
    }

    #[test]
    fn local_then_merged_indices_follow_first_appearance() {
        let mut first = LocalIds::default();
        let mut second = LocalIds::default();
        let long = "a-very-long-identifier-of-many-bytes";
        let a: Vec<u32> = ["x", long, "x", "12345678", long]
            .into_iter()
            .map(|s| first.intern(Cow::Borrowed(s)))
            .collect();
        assert_eq!(a, vec![0, 1, 0, 2, 1]);
        let b: Vec<u32> = ["new", "12345678", "x"]
            .into_iter()
            .map(|s| second.intern(Cow::Owned(s.to_string())))
            .collect();
        assert_eq!(b, vec![0, 1, 2]);
        let (global, remaps) = merge_ids([&first, &second].into_iter());
        assert_eq!(global.iter().collect::<Vec<_>>(), vec!["x", long, "12345678", "new"]);
        assert_eq!(remaps, vec![vec![0, 1, 2], vec![3, 2, 0]]);
    }
}
