//! Model files on a shared database: the data directory as a cache of the artifacts the database
//! holds ([`encore_store::ReplicaFeed::put_model_blob`]).
//!
//! On SQLite the data directory *is* where model files live, and nothing here applies. With a
//! replica feed, every model file is uploaded when it is registered or rewritten, and a replica
//! loads a version through [`Inner::local_model_file`]: the local copy when its SHA-256 matches
//! the stored checksum, else a fresh download, checked before it replaces anything. So a replica
//! started on an empty data directory serves the active version, and a copy made stale by an
//! erasure elsewhere is never loaded.

use std::io::Read;
use std::path::{Path, PathBuf};

use encore_store::{ModelRecord, ReplicaFeed};
use sha2::Digest;

use crate::access::hex;
use crate::error::{Error, Result};
use crate::state::Inner;

impl Inner {
    /// The path of a loadable local copy of `record`'s model file (see the module docs).
    pub(crate) fn local_model_file(&self, catalog: &str, record: &ModelRecord) -> Result<PathBuf> {
        let path = self.config.data_dir.join(&record.file_path);
        let Some(feed) = self.store.replica_feed() else {
            return Ok(path);
        };
        let Some(stored) = feed.model_blob_info(catalog, record.version)? else {
            // Registered before model files were kept in the database: only a local copy can
            // serve it (and only on the machine that trained it).
            return Ok(path);
        };
        if path.exists() && sha256_of(&path)? == stored.sha256 {
            return Ok(path);
        }
        download(feed, catalog, record.version, &path, &stored.sha256)?;
        tracing::info!(catalog, model = %record.version_label(), bytes = stored.size_bytes, "model file fetched from the database");
        Ok(path)
    }

    /// Uploads a model file just written to the data directory, when the store keeps model files
    /// (a replica feed): called before the version is registered or its rewrite recorded, so no
    /// replica learns of a file it cannot fetch.
    pub(crate) fn upload_model_file(&self, catalog: &str, version: u32, path: &Path) -> Result<()> {
        let Some(feed) = self.store.replica_feed() else {
            return Ok(());
        };
        let mut file = std::fs::File::open(path).map_err(|e| encore_core::Error::io(path, e))?;
        let info = feed.put_model_blob(catalog, version, &mut file)?;
        tracing::debug!(
            catalog,
            version,
            bytes = info.size_bytes,
            "model file stored in the database"
        );
        Ok(())
    }

    /// Deletes this replica's cached copies of a catalog's model files (a user was erased
    /// elsewhere: the copies may still hold them; they are fetched again when needed). A loaded
    /// model keeps its memory map, which the file system keeps alive.
    pub(crate) fn drop_cached_model_files(&self, catalog: &str, version: Option<u32>) {
        if self.store.replica_feed().is_none() {
            return;
        }
        let dir = self.config.models_dir(catalog);
        let Ok(entries) = std::fs::read_dir(&dir) else { return };
        let wanted = version.map(|v| format!("{}.enc", encore_store::ModelVersion(v)));
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let matches = match &wanted {
                Some(w) => &name == w,
                None => name.ends_with(".enc"),
            };
            if matches && let Err(e) = std::fs::remove_file(entry.path()) {
                tracing::warn!(path = %entry.path().display(), error = %e, "could not delete a cached model file");
            }
        }
    }
}

/// Fetches a stored model file to `path` through a temporary file in the same directory, checks
/// it against `expected` and only then renames it into place.
fn download(
    feed: &dyn ReplicaFeed,
    catalog: &str,
    version: u32,
    path: &Path,
    expected: &str,
) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| encore_core::Error::io(dir, e))?;
    let tmp = path.with_extension(format!("download-{}", std::process::id()));
    let result = (|| {
        let file = std::fs::File::create(&tmp).map_err(|e| encore_core::Error::io(&tmp, e))?;
        let mut sink =
            HashingWriter { inner: std::io::BufWriter::new(file), hash: sha2::Sha256::new() };
        let stored = feed.read_model_blob(catalog, version, &mut sink)?;
        let file =
            sink.inner.into_inner().map_err(|e| encore_core::Error::io(&tmp, e.into_error()))?;
        file.sync_all().map_err(|e| encore_core::Error::io(&tmp, e))?;
        let got = hex(&sink.hash.finalize());
        if got != stored.sha256 || got != expected {
            return Err(Error::Internal(format!(
                "model file v{version} of catalog `{catalog}` fetched from the database has \
                 SHA-256 {got}, expected {expected}: not loaded"
            )));
        }
        std::fs::rename(&tmp, path).map_err(|e| encore_core::Error::io(path, e))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// SHA-256 of a file, lower-case hex.
fn sha256_of(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| encore_core::Error::io(path, e))?;
    let mut hash = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| encore_core::Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    Ok(hex(&hash.finalize()))
}

/// Hashes what passes through on its way to a file.
struct HashingWriter<W> {
    inner: W,
    hash: sha2::Sha256,
}

impl<W: std::io::Write> std::io::Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
