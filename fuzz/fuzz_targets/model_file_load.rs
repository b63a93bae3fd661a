//! Fuzzes the model file reader (`ModelArtifact::from_bytes`, the same parser `load` runs on the
//! memory map).
//!
//! Each input is tried twice: as is, which exercises the magic/version/length/checksum checks,
//! and "resealed" — with the declared length and all three CRC32s recomputed as the documented
//! layout says — so that mutations get past the checksums and reach the structural validation
//! (section table, id maps, CSR matrix, model arrays). Properties checked:
//!
//! * parsing never panics (libFuzzer reports a panic as a crash);
//! * anything that loads can answer every kind of request without panicking;
//! * anything that loads serialises back to bytes that load to the same artifact.

#![no_main]

use encore_core::model_file::ModelArtifact;
use encore_core::models::Query;
use encore_core::topk::top_n;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut resealed = data.to_vec();
    if reseal(&mut resealed) {
        check(&resealed);
    }
});

fn check(bytes: &[u8]) {
    let Ok(artifact) = ModelArtifact::from_bytes(bytes) else {
        return;
    };
    exercise(&artifact);
    let again = artifact.to_bytes().expect("a loaded artifact serialises");
    let reloaded = ModelArtifact::from_bytes(&again).expect("a re-serialised artifact loads");
    assert_eq!(reloaded.header, artifact.header);
    assert_eq!(reloaded.users, artifact.users);
    assert_eq!(reloaded.items, artifact.items);
    assert_eq!(reloaded.train, artifact.train);

    // Erasure on whatever loaded keeps it valid.
    let mut erased = reloaded;
    let first = erased.users.iter().next().map(str::to_owned);
    if let Some(first) = first {
        assert!(erased.remove_user(&first));
        let bytes = erased.to_bytes().expect("an erased artifact serialises");
        ModelArtifact::from_bytes(&bytes).expect("an erased artifact loads");
    }
}

/// Serves a few requests of every kind from a loaded artifact.
fn exercise(a: &ModelArtifact) {
    let rec = a.recommender();
    let n_items = rec.n_items();
    let mut scores = vec![0f32; n_items];
    for id in a.users.iter().take(4) {
        let (_, q) = a.user_query(id).expect("a listed user is known");
        rec.score(&q, &mut scores);
        top_n(&scores, 10, q.items);
        rec.score(&Query::from_history(q.items, q.weights), &mut scores);
        for item in [0, n_items / 2, n_items.saturating_sub(1)] {
            if item < n_items {
                rec.explain(&q, item as u32);
            }
        }
    }
    for item in 0..n_items.min(4) {
        rec.similar_items(item as u32, 5);
    }
}

fn le_u32(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

/// Rewrites the declared file length and the preamble, header and file checksums in place
/// (layout in `encore_core::model_file`'s docs). False when the input is too short to have them.
fn reseal(b: &mut [u8]) -> bool {
    const PREAMBLE: usize = 36;
    let len = b.len();
    if len < PREAMBLE + 4 {
        return false;
    }
    b[20..28].copy_from_slice(&(len as u64).to_le_bytes());
    let preamble_crc = crc32fast::hash(&b[0..28]);
    b[28..32].copy_from_slice(&preamble_crc.to_le_bytes());
    let table_end = (PREAMBLE + le_u32(b, 12)).saturating_add(le_u32(b, 16).saturating_mul(64));
    if let Some(region) = b.get(PREAMBLE..table_end) {
        let header_crc = crc32fast::hash(region);
        b[32..36].copy_from_slice(&header_crc.to_le_bytes());
    }
    let file_crc = crc32fast::hash(&b[..len - 4]);
    b[len - 4..].copy_from_slice(&file_crc.to_le_bytes());
    true
}
