//! The C interface called from Rust as C would call it.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char};

use encore_edge::ffi::*;

use crate::common::{fixture, fixture_path};

fn last_error() -> String {
    let p = encore_edge_last_error();
    assert!(!p.is_null());
    // SAFETY: the library returns a zero-terminated string that lives until the next failing
    // call on this thread.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

#[test]
fn open_recommend_item_id_close() {
    let path = CString::new(fixture_path("ials-int8.edge").to_str().unwrap()).unwrap();
    // SAFETY: a valid zero-terminated path; the handle is closed once below.
    unsafe {
        let m = encore_edge_open(path.as_ptr());
        assert!(!m.is_null(), "{}", last_error());
        assert_eq!(encore_edge_num_items(m), 48);
        let ids = [c"i1", c"unknown", c"i2"];
        let ptrs: Vec<*const c_char> = ids.iter().map(|s| s.as_ptr()).collect();
        let weights = [2.0f32, 1.0, 1.0];
        let (mut items, mut scores) = ([0u32; 8], [0f32; 8]);
        let n = encore_edge_recommend(
            m,
            ptrs.as_ptr(),
            weights.as_ptr(),
            3,
            8,
            items.as_mut_ptr(),
            scores.as_mut_ptr(),
        );
        assert_eq!(n, 8);
        assert!(scores.windows(2).all(|w| w[0] >= w[1]));
        let model = encore_edge::EdgeModel::from_bytes(&fixture("ials-int8.edge")).unwrap();
        let mut s = model.new_scratch();
        let expected = model.recommend_ids(&mut s, [(&b"i1"[..], 2.0), (b"i2", 1.0)], 8).to_vec();
        for (k, e) in expected.iter().enumerate() {
            assert_eq!((items[k], scores[k]), (e.item, e.score));
            let id = CStr::from_ptr(encore_edge_item_id(m, items[k])).to_str().unwrap();
            assert_eq!(Some(id), model.item_id(e.item));
        }
        // Scores are optional; NULL ids are ignored; an empty history gets the fallback.
        let with_null = [c"i1".as_ptr(), std::ptr::null(), c"i2".as_ptr()];
        let n = encore_edge_recommend(
            m,
            with_null.as_ptr(),
            std::ptr::null(),
            3,
            4,
            items.as_mut_ptr(),
            std::ptr::null_mut(),
        );
        assert_eq!(n, 4);
        let n = encore_edge_recommend(
            m,
            std::ptr::null(),
            std::ptr::null(),
            0,
            3,
            items.as_mut_ptr(),
            scores.as_mut_ptr(),
        );
        assert_eq!(n, 3);
        encore_edge_close(m);
    }
}

#[test]
fn bad_input_gives_null_and_a_message() {
    // SAFETY: every pointer is valid or NULL as the contract allows.
    unsafe {
        assert!(encore_edge_open(std::ptr::null()).is_null());
        assert!(last_error().contains("path is NULL"));
        let missing = CString::new("/nonexistent/model.edge").unwrap();
        assert!(encore_edge_open(missing.as_ptr()).is_null());
        assert!(last_error().contains("/nonexistent/model.edge"), "{}", last_error());
        assert!(encore_edge_open_bytes(std::ptr::null(), 0).is_null());
        assert!(last_error().contains("not an Encore edge model file"));
        assert!(encore_edge_open_bytes(std::ptr::null(), 10).is_null());
        assert!(last_error().contains("data is NULL"));
        let bytes = fixture("bpr-int8.edge");
        assert!(encore_edge_open_bytes(bytes.as_ptr(), bytes.len() - 1).is_null());
        assert!(last_error().starts_with("truncated"), "{}", last_error());

        let m = encore_edge_open_bytes(bytes.as_ptr(), bytes.len());
        assert!(!m.is_null());
        drop(bytes); // the model copied what it needs
        let mut out = [0u32; 4];
        assert_eq!(
            encore_edge_recommend(
                std::ptr::null(),
                std::ptr::null(),
                std::ptr::null(),
                0,
                4,
                out.as_mut_ptr(),
                std::ptr::null_mut()
            ),
            -1
        );
        assert!(last_error().contains("model is NULL"));
        assert_eq!(
            encore_edge_recommend(
                m,
                std::ptr::null(),
                std::ptr::null(),
                2,
                4,
                out.as_mut_ptr(),
                std::ptr::null_mut()
            ),
            -1
        );
        assert!(last_error().contains("history_item_ids is NULL"));
        assert_eq!(
            encore_edge_recommend(
                m,
                std::ptr::null(),
                std::ptr::null(),
                0,
                4,
                std::ptr::null_mut(),
                std::ptr::null_mut()
            ),
            -1
        );
        assert!(last_error().contains("out_items is NULL"));
        assert!(encore_edge_item_id(m, 48).is_null());
        assert!(last_error().contains("out of range"));
        assert_eq!(encore_edge_num_items(std::ptr::null()), 0);
        encore_edge_close(m);
        encore_edge_close(std::ptr::null_mut());
    }
}

#[test]
fn the_error_message_is_per_thread() {
    // SAFETY: NULL is allowed.
    unsafe { assert!(encore_edge_open(std::ptr::null()).is_null()) };
    let other = std::thread::spawn(last_error).join().unwrap();
    assert_eq!(other, "no error");
    assert!(last_error().contains("NULL"));
}
