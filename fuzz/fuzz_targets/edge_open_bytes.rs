//! Fuzzes the edge model file reader through its C entry point, `encore_edge_open_bytes`.
//!
//! Each input is tried as is (magic, version, length and checksum checks) and "resealed" — with
//! the declared length and both CRC32s recomputed as `encore_edge::format` documents — so that
//! mutations reach the structural validation (section table, ids, lists, arrays). Properties:
//!
//! * opening never panics or crashes, and a refusal always comes with a message;
//! * anything that opens answers `encore_edge_recommend` for several histories (known and
//!   unknown ids, weights, an empty history) with sorted results, never a history item, every
//!   returned index in range with an id.

#![no_main]

use std::ffi::{CStr, c_char};

use encore_edge::ffi::{
    encore_edge_close, encore_edge_item_id, encore_edge_last_error, encore_edge_num_items,
    encore_edge_open_bytes, encore_edge_recommend,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check(data);
    if data.len() >= 68 {
        let mut resealed = data.to_vec();
        let len = resealed.len() as u64;
        resealed[32..40].copy_from_slice(&len.to_le_bytes());
        let crc = encore_edge::format::crc32(&resealed[..60]);
        resealed[60..64].copy_from_slice(&crc.to_le_bytes());
        let body = resealed.len() - 4;
        let crc = encore_edge::format::crc32(&resealed[..body]);
        resealed[body..].copy_from_slice(&crc.to_le_bytes());
        check(&resealed);
    }
});

fn check(bytes: &[u8]) {
    // SAFETY: `bytes` is a valid buffer of `bytes.len()` bytes.
    let m = unsafe { encore_edge_open_bytes(bytes.as_ptr(), bytes.len()) };
    if m.is_null() {
        // SAFETY: never NULL, zero-terminated.
        let message = unsafe { CStr::from_ptr(encore_edge_last_error()) };
        assert!(!message.to_bytes().is_empty());
        return;
    }
    // SAFETY: `m` is a live handle until the close below; every array has the stated length.
    unsafe {
        let n_items = encore_edge_num_items(m);
        assert!(n_items > 0);
        let first = encore_edge_item_id(m, 0);
        assert!(!first.is_null());
        let first_id = CStr::from_ptr(first).to_owned();
        let histories: [&[*const c_char]; 3] =
            [&[], &[first_id.as_ptr()], &[c"i1".as_ptr(), first_id.as_ptr(), c"\u{fffd}".as_ptr()]];
        let weights = [3.0f32, -1.0, f32::NAN];
        for history in histories {
            for n in [1usize, 10, n_items + 1] {
                let mut items = vec![0u32; n];
                let mut scores = vec![0f32; n];
                let count = encore_edge_recommend(
                    m,
                    history.as_ptr(),
                    weights.as_ptr(),
                    history.len(),
                    n,
                    items.as_mut_ptr(),
                    scores.as_mut_ptr(),
                );
                assert!(count >= 0 && count as usize <= n.min(n_items));
                let count = count as usize;
                for r in 0..count {
                    assert!((items[r] as usize) < n_items);
                    assert!(!encore_edge_item_id(m, items[r]).is_null());
                    if history.len() == 1 {
                        assert_ne!(items[r], 0, "a history item was recommended back");
                    }
                }
                let s = &scores[..count];
                assert!(s.windows(2).all(|w| w[0].total_cmp(&w[1]).is_ge() || w[1].is_nan()));
            }
        }
        encore_edge_close(m);
    }
}
