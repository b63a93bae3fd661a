//! Integration tests of encore-edge: the C header, opening the fixtures (good and damaged),
//! scoring, the C interface's contract, and that scoring does not allocate.

mod alloc;
mod common;
mod corrupt;
mod ffi;
mod header;
mod open;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;
