//! The data folder: what a folder holds (ours, a legacy Chroma layout, nothing), the
//! single-writer lock, and the vector files of each collection.
//!
//! ```text
//! DIR/chroma-rs.sqlite3            `SQLite`, WAL mode: the source of truth
//! DIR/chroma-rs.lock               advisory lock held while open; holds the owner's pid
//!                                  (DIR itself is locked too: deleting this file frees nothing)
//! DIR/collections/<uuid>/vectors-<gen>.f32   float32 vectors, slot-major, append-only
//! DIR/collections/<uuid>/hnsw-<gen>.graph    HNSW graph: a derived, rebuildable cache
//! ```

mod vectors;

#[cfg(feature = "testing")]
pub use vectors::{append_vectors, collection_dir, vectors_path};
#[cfg(not(feature = "testing"))]
pub(crate) use vectors::{append_vectors, collection_dir, vectors_path};
pub(crate) use vectors::{graph_path, read_slots, remove_stale_generations, write_vectors_atomic};

use crate::error::ResultExt;
use chroma_types::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// The `SQLite` database, relative to the folder.
pub const DB_FILE: &str = "chroma-rs.sqlite3";
/// The lock file, relative to the folder.
pub const LOCK_FILE: &str = "chroma-rs.lock";

/// What an existing folder holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderKind {
    /// Missing or empty: a new chroma-rs folder can be made here.
    Empty,
    /// A chroma-rs data folder.
    ChromaRs,
    /// Chroma 0.3.x duckdb+parquet files.
    Chroma03Parquet,
    /// A Chroma >= 0.4 folder (`chroma.sqlite3`).
    Chroma04Plus,
    /// Something else (other files); chroma-rs will create its files beside them.
    Other,
}

/// What `dir` holds. Only reads.
pub fn detect(dir: &Path) -> Result<FolderKind> {
    if !dir.exists() {
        return Ok(FolderKind::Empty);
    }
    if !dir.is_dir() {
        return Err(Error::invalid(format!("{} exists and is not a folder", dir.display())));
    }
    if dir.join(DB_FILE).exists() {
        return Ok(FolderKind::ChromaRs);
    }
    if dir.join("chroma.sqlite3").exists() {
        return Ok(FolderKind::Chroma04Plus);
    }
    if dir.join("chroma-collections.parquet").exists() || dir.join("chroma-embeddings.parquet").exists() {
        return Ok(FolderKind::Chroma03Parquet);
    }
    let mut entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    Ok(if entries.next().is_none() { FolderKind::Empty } else { FolderKind::Other })
}

/// The error for opening a folder written by an older Chroma.
pub fn legacy_error(dir: &Path, kind: &FolderKind) -> Error {
    let what = match kind {
        FolderKind::Chroma03Parquet => "Chroma 0.3.x data (chroma-collections.parquet / chroma-embeddings.parquet)",
        _ => "a Chroma >= 0.4 data folder (chroma.sqlite3)",
    };
    let d = dir.display();
    Error::unavailable(format!(
        "{d} holds {what}, which chroma-rs does not open in place (nothing was changed). Copy it into a chroma-rs folder with:\n    \
         chroma-rs migrate --from {d} --to {d}-chroma-rs\nthen open {d}-chroma-rs."
    ))
}

/// Exclusive lock on a data folder, released on drop (the OS releases it if the process dies).
///
/// Two locks are held: one on the lock file (which names the owner) and, on Unix, one on the
/// folder itself, which deleting or replacing the lock file does not release.
pub(crate) struct FolderLock {
    file: File,
    #[cfg(unix)]
    _dir: File,
}

impl FolderLock {
    /// Writes this process's pid into the lock file. Called once the folder has been
    /// accepted, so that a refused folder (newer schema, bad checksum) is left byte-identical.
    pub(crate) fn record_owner(&mut self) {
        let pid = std::process::id().to_string();
        let _ = self.file.set_len(0);
        let _ = self.file.seek(SeekFrom::Start(0));
        let _ = self.file.write_all(pid.as_bytes());
        let _ = self.file.sync_data();
    }
}

/// Takes the single-process lock of a folder, or says which process holds it.
pub(crate) fn lock(dir: &Path) -> Result<FolderLock> {
    // The folder's own lock first: it is the one a deleted lock file cannot bypass.
    #[cfg(unix)]
    let dir_file = {
        let f = File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
        try_lock(&f, dir, dir)?;
        f
    };
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    try_lock(&file, &path, dir)?;
    Ok(FolderLock {
        file,
        #[cfg(unix)]
        _dir: dir_file,
    })
}

/// Locks `file` (at `path`) exclusively, or says which process holds the folder `dir`.
fn try_lock(file: &File, path: &Path, dir: &Path) -> Result<()> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            if let Ok(mut f) = File::open(dir.join(LOCK_FILE)) {
                let _ = f.read_to_string(&mut holder);
            }
            let holder = holder.trim();
            let who = if holder.is_empty() { "another process".to_string() } else { format!("process {holder}") };
            Err(Error::unavailable(format!(
                "data folder {} is in use by {who}; chroma-rs allows one process per folder. Stop that process, or talk to it through its server (chroma-rs run) instead.",
                dir.display()
            )))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(Error::internal_from(format!("locking {}", path.display()), e)),
    }
}
