//! The C interface (`include/encore_edge.h`): the only `unsafe` code of the crate.
//!
//! Every function catches panics (none is expected; a panic would be a bug) and turns failures
//! into `NULL` / `-1` with a message for [`encore_edge_last_error`]. Each `unsafe` block states
//! the invariant it relies on; all of them are the caller's side of the contract written in the
//! header: pointers come from this library or point to as many valid elements as the call says.
//!
//! # Scratch memory and threads
//!
//! A model handle is `const` for every scoring call, so several threads may share it. Each handle
//! owns one [`Scratch`], allocated by `encore_edge_open*`, behind a mutex that a call only
//! *tries* to take: the usual single-threaded caller always gets it, so a call allocates nothing.
//! A call that finds it taken (another thread is scoring on the same handle at that moment) does
//! not wait: it allocates a temporary scratch for that call and frees it afterwards. Correct
//! under any concurrency, allocation-free without it. An app that scores from several threads at
//! once and wants no allocation opens one handle per thread.
#![allow(unsafe_code)]

use core::ffi::{CStr, c_char};
use std::boxed::Box;
use std::cell::RefCell;
use std::ffi::CString;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::string::{String, ToString};
use std::sync::{Mutex, TryLockError};

use crate::error::{Error, ErrorKind};
use crate::model::{EdgeModel, Scratch};

/// An opened edge model (opaque to C). Made by `encore_edge_open` or `encore_edge_open_bytes`,
/// freed by `encore_edge_close`.
pub struct EncoreEdgeModel {
    model: EdgeModel,
    scratch: Mutex<Scratch>,
}

std::thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::from(c"no error"));
}

fn set_error(message: &str) {
    let text = CString::new(message.replace('\0', " ")).unwrap_or_else(|_| CString::from(c"error"));
    LAST_ERROR.with(|e| *e.borrow_mut() = text);
}

fn invalid(message: &str) -> Error {
    Error::new(ErrorKind::InvalidArgument, message.to_string())
}

/// Runs `f`, turning an error or a panic into `fallback` and a message for the last error.
fn guarded<T>(fallback: T, f: impl FnOnce() -> Result<T, Error>) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(value)) => value,
        Ok(Err(e)) => {
            set_error(e.message());
            fallback
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| String::from(*s))
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            set_error(&std::format!("internal error in encore-edge (please report): {what}"));
            fallback
        }
    }
}

fn into_handle(model: EdgeModel) -> *mut EncoreEdgeModel {
    let scratch = Mutex::new(model.new_scratch());
    Box::into_raw(Box::new(EncoreEdgeModel { model, scratch }))
}

/// Opens the edge model file at `path` (a zero-terminated path). Returns NULL on error, with
/// the reason in `encore_edge_last_error()`.
///
/// # Safety
/// `path` must be NULL or point to a zero-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn encore_edge_open(path: *const c_char) -> *mut EncoreEdgeModel {
    guarded(core::ptr::null_mut(), || {
        if path.is_null() {
            return Err(invalid("encore_edge_open: path is NULL"));
        }
        // SAFETY: `path` is non-null and, by the caller's contract, zero-terminated and valid
        // for the duration of this call; it is only read.
        let bytes = unsafe { CStr::from_ptr(path) }.to_bytes();
        #[cfg(unix)]
        let path = std::path::PathBuf::from(
            <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(bytes),
        );
        #[cfg(not(unix))]
        let path = std::path::PathBuf::from(
            core::str::from_utf8(bytes)
                .map_err(|_| invalid("encore_edge_open: path is not UTF-8"))?,
        );
        EdgeModel::open(&path).map(into_handle)
    })
}

/// Opens an edge model from `len` bytes at `data` (copied: the buffer may be freed afterwards).
/// Returns NULL on error, with the reason in `encore_edge_last_error()`.
///
/// # Safety
/// `data` must point to `len` readable bytes (or be NULL with `len == 0`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn encore_edge_open_bytes(
    data: *const u8,
    len: usize,
) -> *mut EncoreEdgeModel {
    guarded(core::ptr::null_mut(), || {
        let bytes: &[u8] = if len == 0 {
            &[]
        } else if data.is_null() {
            return Err(invalid("encore_edge_open_bytes: data is NULL"));
        } else if len > isize::MAX as usize {
            return Err(invalid("encore_edge_open_bytes: len is larger than any buffer"));
        } else {
            // SAFETY: `data` is non-null and, by the caller's contract, points to `len`
            // initialised bytes that stay valid and unmodified during this call; `len` fits
            // in `isize`. The bytes are copied before the call returns.
            unsafe { core::slice::from_raw_parts(data, len) }
        };
        EdgeModel::from_bytes(bytes).map(into_handle)
    })
}

/// The message of the last failed call on this thread ("no error" before any). Never NULL;
/// valid until the next failing call on this thread.
#[unsafe(no_mangle)]
pub extern "C" fn encore_edge_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// Number of items of the model (0 for NULL).
///
/// # Safety
/// `m` must be NULL or a handle from `encore_edge_open*` that was not closed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn encore_edge_num_items(m: *const EncoreEdgeModel) -> usize {
    // SAFETY: by the caller's contract a non-null `m` is a live handle from `into_handle`; it is
    // only read through a shared reference.
    match unsafe { m.as_ref() } {
        Some(handle) => handle.model.n_items(),
        None => 0,
    }
}

/// Recommends up to `n` items for a history of `history_len` item ids (zero-terminated UTF-8)
/// with optional raw weights (`weights` NULL: one play each). Writes item indices to
/// `out_items` and scores to `out_scores` (which may be NULL), best first, and returns how many
/// were written (at most `n` and the number of items), or -1 on error. History items are never
/// recommended back; unknown (or NULL) ids are ignored; an empty or wholly unknown history gets
/// the most popular items.
///
/// # Safety
/// `m` must be a live handle; `history_item_ids` must point to `history_len` pointers (each NULL
/// or zero-terminated), `weights` to `history_len` floats or be NULL; `out_items` (and
/// `out_scores` unless NULL) must have room for `n` values. NULL arrays are allowed only with
/// a length of 0.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn encore_edge_recommend(
    m: *const EncoreEdgeModel,
    history_item_ids: *const *const c_char,
    weights: *const f32,
    history_len: usize,
    n: usize,
    out_items: *mut u32,
    out_scores: *mut f32,
) -> i64 {
    guarded(-1, || {
        // SAFETY: as in `encore_edge_num_items`: a non-null `m` is a live handle.
        let handle =
            unsafe { m.as_ref() }.ok_or_else(|| invalid("encore_edge_recommend: model is NULL"))?;
        if history_len > isize::MAX as usize / core::mem::size_of::<*const c_char>() {
            return Err(invalid("encore_edge_recommend: history_len is larger than any array"));
        }
        let ids: &[*const c_char] = if history_len == 0 {
            &[]
        } else if history_item_ids.is_null() {
            return Err(invalid("encore_edge_recommend: history_item_ids is NULL"));
        } else {
            // SAFETY: non-null, and by the caller's contract it points to `history_len`
            // pointers valid for this call; the size fits in `isize` (checked above).
            unsafe { core::slice::from_raw_parts(history_item_ids, history_len) }
        };
        let weights: Option<&[f32]> = if weights.is_null() || history_len == 0 {
            None
        } else {
            // SAFETY: non-null, so by the contract it points to `history_len` floats valid for
            // this call (the same count as the ids, whose size was checked).
            Some(unsafe { core::slice::from_raw_parts(weights, history_len) })
        };
        let count = n.min(handle.model.n_items());
        if count > 0 && out_items.is_null() {
            return Err(invalid("encore_edge_recommend: out_items is NULL"));
        }
        let history = ids.iter().enumerate().filter(|(_, p)| !p.is_null()).map(|(i, &p)| {
            // SAFETY: `p` is non-null and, by the contract, a zero-terminated string valid for
            // this call; the bytes are only compared, never kept.
            let id = unsafe { CStr::from_ptr(p) }.to_bytes();
            (id, weights.map_or(1.0, |w| w[i]))
        });
        let run = |scratch: &mut Scratch| -> usize {
            let top = handle.model.recommend_ids(scratch, history, n);
            if top.is_empty() {
                return 0;
            }
            // SAFETY: `out_items` is non-null (checked, as `count > 0` whenever `top` is not
            // empty) and by the contract has room for `n ≥ count ≥ top.len()` values; nothing
            // else refers to that memory during this call.
            let items = unsafe { core::slice::from_raw_parts_mut(out_items, top.len()) };
            for (o, s) in items.iter_mut().zip(top) {
                *o = s.item;
            }
            if !out_scores.is_null() {
                // SAFETY: non-null, so by the contract it has room for `n ≥ top.len()` floats.
                let scores = unsafe { core::slice::from_raw_parts_mut(out_scores, top.len()) };
                for (o, s) in scores.iter_mut().zip(top) {
                    *o = s.score;
                }
            }
            top.len()
        };
        let written = match handle.scratch.try_lock() {
            Ok(mut scratch) => run(&mut scratch),
            // A poisoned lock means a panic in an earlier call; the scratch is rewritten by
            // every call, so it is still fit for use.
            Err(TryLockError::Poisoned(p)) => run(&mut p.into_inner()),
            Err(TryLockError::WouldBlock) => run(&mut handle.model.new_scratch()),
        };
        Ok(written as i64)
    })
}

/// The id of item `item` (an index from `encore_edge_recommend`), owned by the model and valid
/// until `encore_edge_close`; NULL when out of range.
///
/// # Safety
/// `m` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn encore_edge_item_id(
    m: *const EncoreEdgeModel,
    item: u32,
) -> *const c_char {
    guarded(core::ptr::null(), || {
        // SAFETY: as in `encore_edge_num_items`: a non-null `m` is a live handle.
        let handle =
            unsafe { m.as_ref() }.ok_or_else(|| invalid("encore_edge_item_id: model is NULL"))?;
        let id = handle.model.item_id_c(item).ok_or_else(|| {
            invalid(&std::format!(
                "encore_edge_item_id: item {item} is out of range (the model has {} items)",
                handle.model.n_items()
            ))
        })?;
        Ok(id.as_ptr())
    })
}

/// Frees a model (NULL is ignored). Ids returned by `encore_edge_item_id` die with it.
///
/// # Safety
/// `m` must be NULL or a live handle, used by no other thread, and not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn encore_edge_close(m: *mut EncoreEdgeModel) {
    if !m.is_null() {
        // SAFETY: a non-null `m` was made by `Box::into_raw` in `into_handle` and, by the
        // contract, is closed once and no longer used, so the box is reclaimed exactly once.
        drop(unsafe { Box::from_raw(m) });
    }
}
