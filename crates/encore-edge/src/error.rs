//! The one error type: what went wrong, in words a developer can act on.

use alloc::string::String;

/// The class of an [`Error`], for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The bytes are not an edge model file at all (wrong magic).
    NotEdgeModel,
    /// The file ends before its declared length: cut off while copying or downloading.
    Truncated,
    /// A format version this library does not read.
    UnsupportedVersion,
    /// A checksum mismatch or a structure that breaks the format's invariants.
    Corrupt,
    /// The file could not be read (only with the `std` feature).
    Io,
    /// A call was given arguments it cannot use (a null pointer, an item out of range).
    InvalidArgument,
}

/// An error with its class and a message that says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// An error of `kind` saying `message`.
    pub fn new(kind: ErrorKind, message: String) -> Self {
        Self { kind, message }
    }

    /// The class of the error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.message)
    }
}

impl core::error::Error for Error {}
