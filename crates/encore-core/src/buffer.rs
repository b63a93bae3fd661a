//! Parameter arrays that are either owned or memory-mapped from a model file.
//!
//! A trained model keeps its large arrays (factor matrices, neighbour lists) in a [`Buffer`]. After
//! training the buffer owns a `Vec`; after loading a model file it borrows the file's pages through
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
