//! "No allocation per request after open": counted by the test binary's global allocator.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use crate::common::fixture;

/// The system allocator, counting allocations per thread.
pub struct Counting;

std::thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is a
// const-initialised thread-local `Cell`, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded with the caller's arguments.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn recommending_does_not_allocate_after_open() {
    for (name, _, _) in crate::common::FIXTURES {
        let m = encore_edge::EdgeModel::from_bytes(&fixture(name)).unwrap();
        let mut s = m.new_scratch();
        let history: Vec<u32> = (0..40).map(|i| i % 48).collect();
        let weights: Vec<f32> = (0..40).map(|i| 1.0 + i as f32).collect();
        let before = allocations();
        for n in [1, 10, 48] {
            let _ = m.recommend(&mut s, &history, Some(&weights), n);
            let _ = m.recommend(&mut s, &[], None, n);
            let _ = m.recommend_ids(&mut s, [(&b"i3"[..], 1.0), (b"x", 1.0)], n);
        }
        assert_eq!(allocations(), before, "{name} allocated while recommending");
    }
}

#[test]
fn the_c_interface_does_not_allocate_after_open() {
    let bytes = fixture("ials-int8.edge");
    // SAFETY: valid buffers of the stated lengths; the handle is closed once.
    unsafe {
        let m = encore_edge::ffi::encore_edge_open_bytes(bytes.as_ptr(), bytes.len());
        assert!(!m.is_null());
        let ids = [c"i1".as_ptr(), c"i9".as_ptr(), c"nope".as_ptr()];
        let (mut items, mut scores) = ([0u32; 10], [0f32; 10]);
        let call = |items: &mut [u32; 10], scores: &mut [f32; 10]| {
            encore_edge::ffi::encore_edge_recommend(
                m,
                ids.as_ptr(),
                std::ptr::null(),
                3,
                10,
                items.as_mut_ptr(),
                scores.as_mut_ptr(),
            )
        };
        let before = allocations();
        for _ in 0..5 {
            assert_eq!(call(&mut items, &mut scores), 10);
        }
        assert_eq!(allocations(), before, "encore_edge_recommend allocated");
        encore_edge::ffi::encore_edge_close(m);
    }
}
