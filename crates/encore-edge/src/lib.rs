//! # encore-edge — Encore's recommendations on the device
//!
//! A music, film or game app often wants to recommend on the phone, console or set-top box
//! itself: offline, with no round trip, and without sending the listening history anywhere.
//! `encore export-edge --model M --output F --precision int8` turns a server model file into a
//! compact **edge model file**; this crate opens such a file and answers "the top N for this
//! history" exactly as the server's `recommend` would for the same history (up to the
//! quantisation: an f32 file gives the server's ranking).
//!
//! This crate depends on no other Encore crate: the export side (in `encore-core`) writes the
//! format, this crate only reads it. The format is specified in [`format`] and in
//! `docs/EDGE.md`.
//!
//! ## What a file holds — and what it does not
//!
//! Item ids, the item-side arrays of the model (iALS or BPR item factors, item-kNN neighbour
//! lists, EASE's largest item–item weights), what fold-in needs (iALS: `YᵀY` and the
//! regularisation; BPR: the ridge of its fold-in), the popularity fallback and, when the exporter
//! was given item metadata, kinds and availability. **No user data**: no user ids, no user
//! factors, no training interactions. A user's history exists only on the device, as the
//! argument of a call.
//!
//! ## Use from Rust
//!
//! ```no_run
//! # fn main() -> Result<(), encore_edge::Error> {
//! let model = encore_edge::EdgeModel::open(std::path::Path::new("music.edge"))?;
//! let mut scratch = model.new_scratch(); // once; no allocation per call afterwards
//! let history: [(&[u8], f32); 2] = [(b"i12", 3.0), (b"i7", 1.0)];
//! for s in model.recommend_ids(&mut scratch, history, 10) {
//!     println!("{} {:.3}", model.item_id(s.item).unwrap_or("?"), s.score);
//! }
//! # Ok(()) }
//! ```
//!
//! ## Use from C
//!
//! `include/encore_edge.h` (generated from [`ffi`] by cbindgen and checked against it by a
//! test), linked against `libencore_edge.a` or `libencore_edge.so`; see `examples/edge-c/`.
//!
//! ## Features and constraints
//!
//! * `std` (default): opening files, the thread-local error message and the C interface.
//!   Without it the crate is `#![no_std]` + `alloc`: parsing ([`EdgeModel::from_bytes`]) and
//!   scoring only.
//! * No threads, no I/O beyond reading the file, no allocation per call after
//!   [`EdgeModel::new_scratch`] (see [`Scratch`]; the C interface's choice for shared handles is
//!   described in [`ffi`]).
//! * Safe Rust everywhere except the C boundary ([`ffi`]), where every `unsafe` block states its
//!   invariant.
//! * Hostile bytes give an [`Error`] (truncated, corrupted, wrong version, not an Encore file),
//!   never a panic: every length, offset and index is checked at open, so scoring cannot go out
//!   of bounds.
#![no_std]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod error;
#[cfg(feature = "std")]
pub mod ffi;
pub mod format;
mod math;
mod model;
mod quant;

pub use error::{Error, ErrorKind};
pub use model::{Algorithm, EdgeModel, HISTORY_CAPACITY, Precision, Scored, Scratch};
