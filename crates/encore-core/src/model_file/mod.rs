//! Model files: one self-contained, checksummed, memory-mappable file per trained model.
//!
//! A [`ModelArtifact`] is everything the service needs to answer requests with a model: the
//! trained [`Model`], the two [`IdMap`]s that translate the app's string ids to the model's dense
//! indices, and the training [`InteractionMatrix`] (to exclude what a user already has and to look
//! up a known user's history). [`ModelArtifact::save`] writes it; [`ModelArtifact::load`]
//! memory-maps it, so the large parameter arrays (a million item factors is 256 MB) are used in
//! place from the page cache instead of being copied; [`ModelArtifact::read_header`] reads only
//! the small JSON header (algorithm, hyperparameters, metrics, sizes) for listings.
//!
//! # Layout
//!
//! All integers are little-endian. Offsets are from the start of the file.
//!
//! | offset | size | content |
//! |---|---|---|
//! | 0 | 8 | magic `ENCOREMD` |
//! | 8 | 4 | format version (u32), currently [`FORMAT_VERSION`] |
//! | 12 | 4 | `H`: length of the header JSON (u32, at most 16 MiB) |
//! | 16 | 4 | `S`: number of sections (u32, at most 1024) |
//! | 20 | 8 | `L`: total file length in bytes (u64) |
//! | 28 | 4 | CRC32 of bytes 0‥28 (the preamble checksum) |
//! | 32 | 4 | CRC32 of the header JSON followed by the section table (the header checksum) |
//! | 36 | `H` | header JSON: a [`ModelHeader`] |
//! | 36 + `H` | 64 · `S` | section table, one 64-byte entry per section (below) |
//! | … | | zero padding up to a multiple of 64 |
//! | (multiple of 64) | | each section's data, each starting at a multiple of 64, zero-padded to the next |
//! | `L` − 4 | 4 | CRC32 of bytes 0‥`L`−4 (the file checksum) |
//!
//! A section table entry:
//!
//! | offset | size | content |
//! |---|---|---|
//! | 0 | 40 | section name, UTF-8, zero-padded |
//! | 40 | 4 | element type: 1 = u8, 2 = u32, 3 = u64, 4 = f32 |
//! | 44 | 4 | reserved, zero |
//! | 48 | 8 | byte offset of the data (a multiple of 64) |
//! | 56 | 8 | number of elements |
//!
//! The sections, in file order:
//!
//! | name | type | elements |
//! |---|---|---|
//! | `users.offsets` | u64 | `n_users + 1`: id `i` is `users.bytes[offsets[i]..offsets[i+1]]` |
//! | `users.bytes` | u8 | the user ids' UTF-8, concatenated (ids may hold any character) |
//! | `items.offsets`, `items.bytes` | u64, u8 | the same for items |
//! | `train.indptr` | u64 | `n_users + 1` CSR row pointers of the training matrix |
//! | `train.indices` | u32 | `nnz` item indices, sorted within each row |
//! | `train.values` | f32 | `nnz` raw interaction weights |
//! | `model.NAME` | any but u8 | each array of [`Model::arrays`], e.g. `model.item_factors` |
//! | `index.centroids` | f32 | only with an index ([`ModelHeader::index`]): unit centroids, `clusters × dim` |
//! | `index.offsets` | u64 | `clusters + 1` boundaries of the clusters in `index.items` |
//! | `index.items` | u32 | every item index once, grouped by cluster ([`crate::index`]) |
//!
//! The three index sections are present exactly when the header's `index` is set; files written
//! before indexes existed have neither and load as models without an index.
//!
//! Sixty-four-byte alignment makes every section aligned for its element type inside a
//! page-aligned memory map, so `f32`/`u32`/`u64` arrays are viewed in place (see
//! [`crate::buffer::Buffer::mapped`]); on a big-endian machine they are decoded into copies.
//!
//! # Integrity
//!
//! The magic and the version come first and never move, so any future format can be recognised
//! and refused with a clear message ("written by a newer Encore"). The preamble checksum makes the
//! lengths trustworthy before they are used, which is what lets a cut-off file be reported as
//! "truncated" rather than as garbage. The header checksum lets [`ModelArtifact::read_header`]
//! trust the header without reading the rest. The file checksum, verified on every load (one
//! sequential pass over the file), catches a flipped bit anywhere. After the checksums, every
//! structure is validated as if the file were hostile: section bounds, alignment and overlap,
//! UTF-8 and uniqueness of ids, CSR invariants, array lengths (by [`Model::from_parts`]) and the
//! sizes declared in the header. A damaged file gives an [`crate::Error::ModelFile`], never a
//! panic and never a model that answers wrongly.
//!
//! Files are immutable once written: [`ModelArtifact::save`] writes a temporary file next to the
//! destination and renames it into place, which is also what makes memory-mapping them safe.
//!
//! # Cost
//!
//! Saving writes and syncs every byte; loading reads the header, verifies the checksum and builds
//! the two id maps, but does not copy the factor arrays (they are used in place). The figures,
//! measured with the `model_file_speed` example, are in `bench/README.md`.

mod layout;
mod read;
mod write;

#[cfg(test)]
mod index_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::ids::IdMap;
use crate::index::{IndexInfo, IvfIndex};
use crate::matrix::InteractionMatrix;
use crate::models::{Algorithm, Model, Query, Recommender};
use crate::{Error, Result};

/// The newest file format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Section names shared by the reader and the writer.
mod names {
    pub const USERS: &str = "users";
    pub const ITEMS: &str = "items";
    pub const TRAIN_INDPTR: &str = "train.indptr";
    pub const TRAIN_INDICES: &str = "train.indices";
    pub const TRAIN_VALUES: &str = "train.values";
    /// Prefix of the sections that hold the model's own arrays.
    pub const MODEL_PREFIX: &str = "model.";
    pub const INDEX_CENTROIDS: &str = "index.centroids";
    pub const INDEX_OFFSETS: &str = "index.offsets";
    pub const INDEX_ITEMS: &str = "index.items";

    /// True for a name the format defines.
    pub fn is_known(name: &str) -> bool {
        const FIXED: [&str; 10] = [
            "users.offsets",
            "users.bytes",
            "items.offsets",
            "items.bytes",
            TRAIN_INDPTR,
            TRAIN_INDICES,
            TRAIN_VALUES,
            INDEX_CENTROIDS,
            INDEX_OFFSETS,
            INDEX_ITEMS,
        ];
        FIXED.contains(&name) || name.strip_prefix(MODEL_PREFIX).is_some_and(|n| !n.is_empty())
    }
}

/// What a model file says about itself, readable without loading the model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelHeader {
    /// Format version of the file ([`FORMAT_VERSION`] when written by this build).
    pub format_version: u32,
    /// The algorithm of the model.
    pub algorithm: Algorithm,
    /// Every hyperparameter with its effective value ([`Model::params_json`]).
    pub params: serde_json::Value,
    /// [`fingerprint`] of the training data stored in the file.
    pub data_fingerprint: String,
    /// When the artifact was created, in milliseconds since the Unix epoch.
    pub created_unix_ms: i64,
    /// Evaluation metrics by name (e.g. `ndcg@10`); filled in by whoever evaluated the model.
    /// Must be finite: JSON cannot represent NaN or infinity.
    pub metrics: BTreeMap<String, f64>,
    /// Number of users in the training data.
    pub n_users: usize,
    /// Number of items the model scores.
    pub n_items: usize,
    /// Number of stored (user, item) interactions.
    pub nnz: usize,
    /// Free text saying what the model was trained on (a file name, a catalogue).
    pub trained_on: Option<String>,
    /// The approximate index stored with the model, if one was built: what it is and the recall
    /// measured when it was built. Absent from files written without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<IndexInfo>,
}

/// A trained model with everything needed to serve it.
#[derive(Debug, Clone)]
pub struct ModelArtifact {
    /// Description of the model; kept consistent with the fields below by the methods here.
    pub header: ModelHeader,
    /// User ids ↔ training-matrix rows.
    pub users: IdMap,
    /// Item ids ↔ model item indices.
    pub items: IdMap,
    /// The training matrix (users × items, raw weights), for excluding seen items and for the
    /// histories of known users.
    pub train: InteractionMatrix,
    /// The trained model.
    pub model: Model,
    /// The approximate index over the model's items, if one was built ([`crate::index`]); its
    /// `info` is the header's `index`.
    pub index: Option<IvfIndex>,
}

impl ModelArtifact {
    /// Bundles a trained model with its data and fills the header: fingerprint of the data,
    /// creation time now, sizes, and no metrics yet.
    pub fn new(
        model: Model,
        users: IdMap,
        items: IdMap,
        train: InteractionMatrix,
        trained_on: Option<String>,
    ) -> Self {
        let created_unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let header = ModelHeader {
            format_version: FORMAT_VERSION,
            algorithm: model.algorithm(),
            params: model.params_json(),
            data_fingerprint: fingerprint(&users, &items, &train),
            created_unix_ms,
            metrics: BTreeMap::new(),
            n_users: users.len(),
            n_items: items.len(),
            nnz: train.nnz(),
            trained_on,
            index: None,
        };
        Self { header, users, items, train, model, index: None }
    }

    /// Writes the artifact to `path` atomically (temporary file in the same directory, fsync,
    /// rename, fsync of the directory); returns the file size in bytes.
    ///
    /// Fails without touching `path` when the parts disagree on sizes, a metric is not finite, or
    /// the file cannot be written.
    pub fn save(&self, path: &Path) -> Result<u64> {
        self.check_consistent()?;
        write::save(self, path)
    }

    /// The file's bytes, as [`ModelArtifact::save`] would write them (for tests, fuzzing seeds
    /// and storage that is not a file system).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        self.check_consistent()?;
        let mut out = Vec::new();
        write::write_artifact(self, &mut out, Path::new("<memory>"))?;
        Ok(out)
    }

    /// Loads the model file at `path`, verifying its checksum and structure. The model's arrays
    /// stay in a read-only memory map of the file.
    pub fn load(path: &Path) -> Result<Self> {
        read::load(path)
    }

    /// Parses a model file held in memory, with the same checks as [`ModelArtifact::load`]; the
    /// arrays are copied out of `bytes`. Errors name the path `<memory>`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        read::parse(bytes, None, Path::new("<memory>"))
    }

    /// Reads only the header of the model file at `path` (a few kilobytes, whatever the model's
    /// size), after checking magic, version, length and the header checksum.
    pub fn read_header(path: &Path) -> Result<ModelHeader> {
        read::read_header(path)
    }

    /// Stores `index` with the model (or removes it), keeping the header's description in step.
    pub fn set_index(&mut self, index: Option<IvfIndex>) {
        self.header.index = index.as_ref().map(|i| i.info.clone());
        self.index = index;
    }

    /// The model as a [`Recommender`].
    pub fn recommender(&self) -> &dyn Recommender {
        self.model.recommender()
    }

    /// The training row of `user_id` and a query for it: its stored parameters and its training
    /// history.
    pub fn user_query(&self, user_id: &str) -> Result<(u32, Query<'_>)> {
        let user = self.users.get(user_id).ok_or_else(|| Error::UnknownUser(user_id.into()))?;
        let row = self.train.row(user as usize);
        Ok((user, Query { user: Some(user), items: row.indices, weights: row.values }))
    }

    /// Erases `user_id`: its id, its training row and its per-user model parameters go, and the
    /// header's sizes and fingerprint are updated. Returns false when the id is unknown.
    ///
    /// After this a saved file holds no trace of the id or of the user's row. Aggregates that
    /// the user contributed to (item factors, item–item weights, popularity counts) are kept
    /// until the next retraining.
    pub fn remove_user(&mut self, user_id: &str) -> bool {
        let Some(user) = self.users.remove(user_id) else {
            return false;
        };
        self.train = self.train.remove_row(user as usize);
        self.model.remove_user(user);
        self.header.n_users = self.users.len();
        self.header.nnz = self.train.nnz();
        self.header.data_fingerprint = fingerprint(&self.users, &self.items, &self.train);
        true
    }

    /// Checks that the header, the id maps, the matrix and the model agree on sizes, so that
    /// nothing inconsistent is ever written.
    fn check_consistent(&self) -> Result<()> {
        let h = &self.header;
        let checks = [
            ("header users", h.n_users, self.users.len()),
            ("header items", h.n_items, self.items.len()),
            ("header interactions", h.nnz, self.train.nnz()),
            ("training matrix rows", self.train.n_rows(), self.users.len()),
            ("training matrix columns", self.train.n_cols(), self.items.len()),
            ("model items", self.recommender().n_items(), self.items.len()),
        ];
        for (what, got, want) in checks {
            if got != want {
                return Err(Error::InvalidInput(format!(
                    "inconsistent model artifact: {what} is {got}, expected {want}"
                )));
            }
        }
        if let Some(k) = self.train.values().iter().position(|v| !v.is_finite()) {
            // The reader refuses such files (the data readers never produce such weights), so
            // writing one would only create a model that cannot be loaded.
            return Err(Error::InvalidInput(format!(
                "inconsistent model artifact: training weight #{k} is not finite"
            )));
        }
        if h.index != self.index.as_ref().map(|i| i.info.clone()) {
            return Err(Error::InvalidInput(
                "inconsistent model artifact: the header's index is not the artifact's".into(),
            ));
        }
        if h.algorithm != self.model.algorithm() || h.format_version != FORMAT_VERSION {
            return Err(Error::InvalidInput(format!(
                "inconsistent model artifact: header says {} format {}, model is {} format {}",
                h.algorithm,
                h.format_version,
                self.model.algorithm(),
                FORMAT_VERSION
            )));
        }
        Ok(())
    }
}

/// A stable fingerprint of training data: the hex SHA-256 of the user ids, the item ids and the
/// matrix (shape, structure and weights), each length-prefixed so that no two different data
/// sets share an encoding. Equal data gives equal fingerprints on every machine and build.
pub fn fingerprint(users: &IdMap, items: &IdMap, matrix: &InteractionMatrix) -> String {
    let mut h = sha2::Sha256::new();
    h.update(b"encore-data-v1");
    for ids in [users, items] {
        h.update((ids.len() as u64).to_le_bytes());
        for id in ids.iter() {
            h.update((id.len() as u64).to_le_bytes());
            h.update(id.as_bytes());
        }
    }
    h.update((matrix.n_rows() as u64).to_le_bytes());
    h.update((matrix.n_cols() as u64).to_le_bytes());
    h.update((matrix.nnz() as u64).to_le_bytes());
    hash_le(&mut h, matrix.indptr(), |x| x.to_le_bytes());
    hash_le(&mut h, matrix.indices(), |x| x.to_le_bytes());
    hash_le(&mut h, matrix.values(), |x| x.to_le_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Feeds `values` to the hash in little-endian order, through a bounded buffer.
fn hash_le<T: Copy, const N: usize>(h: &mut sha2::Sha256, values: &[T], le: impl Fn(T) -> [u8; N]) {
    let mut buf = Vec::with_capacity(N * 4096);
    for chunk in values.chunks(4096) {
        buf.clear();
        chunk.iter().for_each(|&v| buf.extend_from_slice(&le(v)));
        h.update(&buf);
    }
}
