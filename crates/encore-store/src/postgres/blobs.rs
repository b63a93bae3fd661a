//! Model files stored in the database ([`crate::replica`], "Model artifacts"): `model_blobs`
//! holds each file's SHA-256 and size, `model_blob_chunks` its bytes in chunks of
//! [`CHUNK_BYTES`], so neither writing nor reading a file ever holds more than a few chunks in
//! memory (a `bytea` value is read and written whole).

use std::io::{Read, Write};

use postgres::Transaction;
use sha2::{Digest, Sha256};

use super::catalogs::id_of;
use super::{to_i32, to_i64, to_u64};
use crate::clock::now_ms;
use crate::error::{Error, Resource, Result};
use crate::replica::BlobInfo;
use crate::types::ModelVersion;

/// Bytes per stored chunk (the last one of a file may be shorter).
const CHUNK_BYTES: usize = 1 << 20;

/// Chunks fetched per query when reading a file back.
const CHUNKS_PER_QUERY: i64 = 8;

/// `catalog/v3`, the id of a missing model file.
fn blob_id(catalog: &str, version: u32) -> String {
    format!("{catalog}/{}", ModelVersion(version))
}

/// A stream error, named after the model file it concerned (there is no path).
fn stream_error(catalog: &str, version: u32, e: std::io::Error) -> Error {
    Error::io(format!("model file {}", blob_id(catalog, version)), e)
}

/// Lower-case hex of a digest.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Fills `buf` from `source` until it is full or the source ends; returns the bytes read.
fn read_chunk(source: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match source.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Stores the file (replacing an earlier one of the same version) in the caller's transaction.
pub(super) fn put(
    tx: &mut Transaction<'_>,
    catalog: &str,
    version: u32,
    source: &mut dyn Read,
) -> Result<BlobInfo> {
    let catalog_id = id_of(tx, catalog)?;
    let next: i32 = tx
        .query_one("SELECT next_model_version FROM catalogs WHERE id = $1", &[&catalog_id])?
        .get(0);
    if version == 0 || i64::from(version) >= i64::from(next) {
        return Err(Error::Invalid(format!(
            "model version {version} of catalog `{catalog}` was not reserved"
        )));
    }
    let v = to_i32("model version", version)?;
    // The info row first: its row lock makes a second writer of the same version wait for this
    // one to commit, instead of both inserting chunk 0 and one failing on the key. Readers keep
    // seeing the previous file until this transaction commits.
    tx.execute(
        "INSERT INTO model_blobs (catalog_id, version, sha256, size_bytes, stored_ms)
         VALUES ($1, $2, '', 0, $3)
         ON CONFLICT (catalog_id, version) DO UPDATE SET stored_ms = excluded.stored_ms",
        &[&catalog_id, &v, &now_ms()],
    )?;
    tx.execute(
        "DELETE FROM model_blob_chunks WHERE catalog_id = $1 AND version = $2",
        &[&catalog_id, &v],
    )?;
    let insert = tx.prepare(
        "INSERT INTO model_blob_chunks (catalog_id, version, chunk, data) VALUES ($1, $2, $3, $4)",
    )?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK_BYTES];
    let mut size: u64 = 0;
    let mut chunk: i32 = 0;
    loop {
        let n = read_chunk(source, &mut buf).map_err(|e| stream_error(catalog, version, e))?;
        if n == 0 {
            break;
        }
        let data = &buf[..n];
        hasher.update(data);
        tx.execute(&insert, &[&catalog_id, &v, &chunk, &data])?;
        size += n as u64;
        chunk = chunk.checked_add(1).ok_or_else(|| {
            Error::Invalid(format!("model file {} is too large", blob_id(catalog, version)))
        })?;
        if n < CHUNK_BYTES {
            break;
        }
    }
    let info = BlobInfo { sha256: hex(&hasher.finalize()), size_bytes: size };
    tx.execute(
        "UPDATE model_blobs SET sha256 = $3, size_bytes = $4 WHERE catalog_id = $1 AND version = $2",
        &[&catalog_id, &v, &info.sha256, &to_i64("size_bytes", size)?],
    )?;
    Ok(info)
}

fn info_by_id(tx: &mut Transaction<'_>, catalog_id: i64, version: i32) -> Result<Option<BlobInfo>> {
    Ok(tx
        .query_opt(
            "SELECT sha256, size_bytes FROM model_blobs WHERE catalog_id = $1 AND version = $2",
            &[&catalog_id, &version],
        )?
        .map(|r| BlobInfo { sha256: r.get(0), size_bytes: to_u64(r.get(1)) }))
}

pub(super) fn info(
    tx: &mut Transaction<'_>,
    catalog: &str,
    version: u32,
) -> Result<Option<BlobInfo>> {
    let catalog_id = id_of(tx, catalog)?;
    info_by_id(tx, catalog_id, to_i32("model version", version)?)
}

/// Streams the stored file to `sink`, [`CHUNKS_PER_QUERY`] chunks at a time, all from the
/// caller's one snapshot (a concurrent replacement is not mixed in).
pub(super) fn read(
    tx: &mut Transaction<'_>,
    catalog: &str,
    version: u32,
    sink: &mut dyn Write,
) -> Result<BlobInfo> {
    let catalog_id = id_of(tx, catalog)?;
    let v = to_i32("model version", version)?;
    let Some(info) = info_by_id(tx, catalog_id, v)? else {
        return Err(Error::not_found(Resource::Model, blob_id(catalog, version)));
    };
    let select = tx.prepare(
        "SELECT chunk, data FROM model_blob_chunks
         WHERE catalog_id = $1 AND version = $2 AND chunk >= $3 ORDER BY chunk LIMIT $4",
    )?;
    let mut next: i32 = 0;
    let mut written: u64 = 0;
    loop {
        let rows = tx.query(&select, &[&catalog_id, &v, &next, &CHUNKS_PER_QUERY])?;
        for r in &rows {
            let (chunk, data): (i32, &[u8]) = (r.get(0), r.get(1));
            if chunk != next {
                return Err(Error::Conflict(format!(
                    "stored model file {} lacks chunk {next}",
                    blob_id(catalog, version)
                )));
            }
            sink.write_all(data).map_err(|e| stream_error(catalog, version, e))?;
            written += data.len() as u64;
            next += 1;
        }
        if (rows.len() as i64) < CHUNKS_PER_QUERY {
            break;
        }
    }
    if written != info.size_bytes {
        return Err(Error::Conflict(format!(
            "stored model file {} has {written} bytes, its record says {}",
            blob_id(catalog, version),
            info.size_bytes
        )));
    }
    sink.flush().map_err(|e| stream_error(catalog, version, e))?;
    Ok(info)
}
