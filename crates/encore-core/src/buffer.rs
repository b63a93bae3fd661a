//! Parameter arrays that are either owned or memory-mapped from a model file.
//!
//! A trained model keeps its large arrays (factor matrices, neighbour lists) in a [`Buffer`]. After
//! training the buffer owns its values (in a `Vec`, or an [`AlignedVec`] when the hot loops need
//! cache-line alignment); after loading a model file it borrows the file's pages through
//! a shared memory map, so a server with a million-item model starts without copying it.

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

/// A read-only slice of plain values, owned or backed by a memory map.
pub struct Buffer<T: bytemuck::Pod> {
    inner: Inner<T>,
}

enum Inner<T> {
    Owned(Vec<T>),
    Aligned(AlignedVec<T>),
    Mapped { map: Arc<memmap2::Mmap>, offset: usize, len: usize, _t: PhantomData<T> },
}

impl<T: bytemuck::Pod> Buffer<T> {
    /// Wraps a vector.
    pub fn owned(v: Vec<T>) -> Self {
        Self { inner: Inner::Owned(v) }
    }

    /// Views `len` values at byte `offset` of `map`; fails when out of bounds or misaligned, so
    /// that [`Deref`] can never panic afterwards.
    pub fn mapped(map: Arc<memmap2::Mmap>, offset: usize, len: usize) -> Option<Self> {
        let bytes = len.checked_mul(size_of::<T>())?;
        let end = offset.checked_add(bytes)?;
        let slice = map.get(offset..end)?;
        bytemuck::try_cast_slice::<u8, T>(slice).ok()?;
        Some(Self { inner: Inner::Mapped { map, offset, len, _t: PhantomData } })
    }

    /// True when the values live in a memory map.
    pub fn is_mapped(&self) -> bool {
        matches!(self.inner, Inner::Mapped { .. })
    }

    /// True when the values start on a cache-line boundary.
    pub fn is_cache_aligned(&self) -> bool {
        (self.deref().as_ptr() as usize).is_multiple_of(64)
    }

    /// Copies the values into an owned vector.
    pub fn to_vec(&self) -> Vec<T> {
        self.deref().to_vec()
    }
}

impl<T: bytemuck::Pod> Deref for Buffer<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match &self.inner {
            Inner::Owned(v) => v,
            Inner::Aligned(v) => v.as_slice(),
            Inner::Mapped { map, offset, len, .. } => {
                bytemuck::cast_slice(&map[*offset..*offset + len * size_of::<T>()])
            }
        }
    }
}

impl<T: bytemuck::Pod> From<Vec<T>> for Buffer<T> {
    fn from(v: Vec<T>) -> Self {
        Self::owned(v)
    }
}

impl<T: bytemuck::Pod> From<AlignedVec<T>> for Buffer<T> {
    fn from(v: AlignedVec<T>) -> Self {
        Self { inner: Inner::Aligned(v) }
    }
}

impl<T: bytemuck::Pod + std::fmt::Debug> std::fmt::Debug for Buffer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buffer")
            .field("len", &self.len())
            .field("mapped", &self.is_mapped())
            .finish()
    }
}

impl<T: bytemuck::Pod> Clone for Buffer<T> {
    fn clone(&self) -> Self {
        match &self.inner {
            Inner::Owned(v) => Self::owned(v.clone()),
            Inner::Aligned(v) => Self { inner: Inner::Aligned(v.clone()) },
            Inner::Mapped { map, offset, len, .. } => Self {
                inner: Inner::Mapped {
                    map: map.clone(),
                    offset: *offset,
                    len: *len,
                    _t: PhantomData,
                },
            },
        }
    }
}

/// One 64-byte cache line; the unit of [`AlignedVec`]'s storage.
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C, align(64))]
struct CacheLine([u8; 64]);

/// A vector of plain values that starts on a cache-line boundary.
///
/// A factor row of 64 `f32`s is 256 bytes: four cache lines when the matrix starts on a line
/// boundary, five when it does not (a `Vec<f32>` from the system allocator starts 16 bytes past
/// one). iALS reads rows of the other side scattered over a matrix larger than the core's
/// caches, so every extra line is an extra miss; aligning the start removes a fifth of them
/// whenever a row is a whole number of lines.
#[derive(Clone)]
pub struct AlignedVec<T> {
    lines: Vec<CacheLine>,
    len: usize,
    _t: PhantomData<T>,
}

impl<T: bytemuck::Pod> AlignedVec<T> {
    /// `len` all-zero values. Panics when `T` does not divide a cache line (every number type
    /// does).
    pub fn zeroed(len: usize) -> Self {
        assert!(64 % size_of::<T>() == 0, "AlignedVec: a value must divide a cache line");
        let lines = (len * size_of::<T>()).div_ceil(64);
        Self { lines: vec![CacheLine([0; 64]); lines], len, _t: PhantomData }
    }

    /// The values.
    pub fn as_slice(&self) -> &[T] {
        &bytemuck::cast_slice::<CacheLine, T>(&self.lines)[..self.len]
    }

    /// The values, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut bytemuck::cast_slice_mut::<CacheLine, T>(&mut self.lines)[..self.len]
    }
}

/// A named parameter array as a model hands it to the model-file writer.
#[derive(Debug, Clone, Copy)]
pub enum ArrayRef<'a> {
    /// 32-bit floats.
    F32(&'a [f32]),
    /// 32-bit unsigned integers.
    U32(&'a [u32]),
    /// 64-bit unsigned integers.
    U64(&'a [u64]),
}

/// The arrays read back from a model file, taken by name by the model's loader.
#[derive(Default)]
pub struct ArraySet {
    f32s: Vec<(String, Buffer<f32>)>,
    u32s: Vec<(String, Buffer<u32>)>,
    u64s: Vec<(String, Buffer<u64>)>,
}

impl ArraySet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds an `f32` array.
    pub fn insert_f32(&mut self, name: &str, b: Buffer<f32>) {
        self.f32s.push((name.to_string(), b));
    }
    /// Adds a `u32` array.
    pub fn insert_u32(&mut self, name: &str, b: Buffer<u32>) {
        self.u32s.push((name.to_string(), b));
    }
    /// Adds a `u64` array.
    pub fn insert_u64(&mut self, name: &str, b: Buffer<u64>) {
        self.u64s.push((name.to_string(), b));
    }
    /// Removes and returns the `f32` array `name`, or an error naming what is missing.
    pub fn take_f32(&mut self, name: &str) -> crate::Result<Buffer<f32>> {
        take(&mut self.f32s, name, "f32")
    }
    /// Removes and returns the `u32` array `name`.
    pub fn take_u32(&mut self, name: &str) -> crate::Result<Buffer<u32>> {
        take(&mut self.u32s, name, "u32")
    }
    /// Removes and returns the `u64` array `name`.
    pub fn take_u64(&mut self, name: &str) -> crate::Result<Buffer<u64>> {
        take(&mut self.u64s, name, "u64")
    }
}

fn take<T: bytemuck::Pod>(
    v: &mut Vec<(String, Buffer<T>)>,
    name: &str,
    ty: &str,
) -> crate::Result<Buffer<T>> {
    match v.iter().position(|(n, _)| n == name) {
        Some(i) => Ok(v.swap_remove(i).1),
        None => {
            Err(crate::Error::InvalidInput(format!("missing {ty} array `{name}` in model data")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_vectors_start_on_a_cache_line_and_keep_their_values() {
        for len in [0usize, 1, 15, 16, 17, 1000] {
            let mut v = AlignedVec::<f32>::zeroed(len);
            assert_eq!(v.as_slice().len(), len);
            assert!(v.as_slice().iter().all(|&x| x == 0.0));
            for (i, x) in v.as_mut_slice().iter_mut().enumerate() {
                *x = i as f32 * 0.5;
            }
            let b = Buffer::from(v.clone());
            assert_eq!(&b[..], v.as_slice());
            assert_eq!(b.clone().to_vec(), v.as_slice().to_vec());
            if len > 0 {
                assert!(b.is_cache_aligned());
            }
            assert!(!b.is_mapped());
        }
        let ids = AlignedVec::<u64>::zeroed(9);
        assert_eq!(ids.as_slice(), &[0u64; 9]);
    }
}
