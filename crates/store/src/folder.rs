//! The data folder: what a folder holds (ours, a legacy Chroma layout, nothing), the
//! single-writer lock, and the vector files of each collection.
//!
//! ```text
//! DIR/chroma-rs.sqlite3            SQLite, WAL mode: the source of truth
//! DIR/chroma-rs.lock               advisory lock held while open; holds the owner's pid
//! DIR/collections/<uuid>/vectors-<gen>.f32   float32 vectors, slot-major, append-only
//! DIR/collections/<uuid>/hnsw-<gen>.graph    HNSW graph: a derived, rebuildable cache
//! ```

use chroma_types::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub const DB_FILE: &str = "chroma-rs.sqlite3";
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
    let mut entries = std::fs::read_dir(dir).map_err(|e| Error::internal(format!("reading {}: {e}", dir.display())))?;
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
pub struct FolderLock {
    file: File,
}

impl FolderLock {
    /// Writes this process's pid into the lock file. Called once the folder has been
    /// accepted, so that a refused folder (newer schema, bad checksum) is left byte-identical.
    pub fn record_owner(&mut self) {
        let pid = std::process::id().to_string();
        let _ = self.file.set_len(0);
        let _ = self.file.seek(SeekFrom::Start(0));
        let _ = self.file.write_all(pid.as_bytes());
        let _ = self.file.sync_data();
    }
}

pub fn lock(dir: &Path) -> Result<FolderLock> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::internal(format!("opening {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let who = if holder.is_empty() { "another process".to_string() } else { format!("process {holder}") };
            return Err(Error::unavailable(format!(
                "data folder {} is in use by {who}; chroma-rs allows one process per folder. Stop that process, or talk to it through its server (chroma-rs run) instead.",
                dir.display()
            )));
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(Error::internal(format!("locking {}: {e}", path.display())));
        }
    }
    Ok(FolderLock { file })
}

pub fn collection_dir(root: &Path, uuid: &uuid::Uuid) -> PathBuf {
    root.join("collections").join(uuid.to_string())
}

pub fn vectors_path(dir: &Path, generation: i64) -> PathBuf {
    dir.join(format!("vectors-{generation}.f32"))
}

pub fn graph_path(dir: &Path, generation: i64) -> PathBuf {
    dir.join(format!("hnsw-{generation}.graph"))
}

/// Removes files of other generations (left by a compaction interrupted by a crash).
pub fn remove_stale_generations(dir: &Path, generation: i64) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let keep = [vectors_path(dir, generation), graph_path(dir, generation)];
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if (name.starts_with("vectors-") || name.starts_with("hnsw-")) && !keep.contains(&p) {
            let _ = std::fs::remove_file(&p);
        }
    }
}

fn io<'a>(path: &'a Path, what: &str) -> impl Fn(std::io::Error) -> Error + 'a {
    let what = what.to_string();
    move |e| Error::internal(format!("{what} {}: {e}", path.display()))
}

/// Appends vectors to a collection's vector file and makes them durable before returning.
/// The file is first cut back to `committed_slots` (bytes past it belong to a write that
/// crashed before its SQLite commit).
pub fn append_vectors(path: &Path, dim: usize, committed_slots: u64, data: &[f32]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent, "creating"))?;
    }
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(io(path, "opening"))?;
    let want = committed_slots * dim as u64 * 4;
    let len = f.metadata().map_err(io(path, "reading"))?.len();
    if len < want {
        return Err(Error::internal(format!(
            "vector file {} is shorter ({len} bytes) than the {committed_slots} committed slots need ({want} bytes)",
            path.display()
        )));
    }
    if len != want {
        f.set_len(want).map_err(io(path, "truncating"))?;
    }
    f.seek(SeekFrom::Start(want)).map_err(io(path, "seeking"))?;
    #[cfg(target_endian = "little")]
    {
        // SAFETY: f32 has no padding and any byte pattern of it is valid to read as u8; on a
        // little-endian target its in-memory bytes are the file format.
        let bytes = unsafe { std::slice::from_raw_parts(data.as_ptr().cast::<u8>(), std::mem::size_of_val(data)) };
        f.write_all(bytes).map_err(io(path, "writing"))?;
    }
    #[cfg(not(target_endian = "little"))]
    {
        let mut bytes = Vec::with_capacity(data.len() * 4);
        for x in data {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        f.write_all(&bytes).map_err(io(path, "writing"))?;
    }
    f.sync_data().map_err(io(path, "syncing"))?;
    Ok(())
}

/// Reads the vectors of the given slots (each below `committed`) from a vector file, one
/// read per run of consecutive slots. Memory: only the vectors asked for.
pub fn read_slots(path: &Path, dim: usize, committed: u64, slots: &[u64]) -> Result<Vec<Vec<f32>>> {
    use std::os::unix::fs::FileExt;
    if slots.is_empty() {
        return Ok(Vec::new());
    }
    let f = File::open(path).map_err(io(path, "opening"))?;
    let row = dim * 4;
    let mut out: Vec<Vec<f32>> = Vec::with_capacity(slots.len());
    let mut buf: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < slots.len() {
        let mut j = i + 1;
        while j < slots.len() && slots[j] == slots[j - 1] + 1 && j - i < 4096 {
            j += 1;
        }
        let (first, n) = (slots[i], j - i);
        if first + n as u64 > committed {
            return Err(Error::internal(format!(
                "record refers to slot {} but {} holds {committed} committed vectors; the folder is damaged",
                first + n as u64 - 1,
                path.display()
            )));
        }
        buf.resize(n * row, 0);
        f.read_exact_at(&mut buf, first * row as u64).map_err(|e| {
            Error::internal(format!(
                "vector file {} is missing committed vectors ({e}); the folder is damaged",
                path.display()
            ))
        })?;
        for chunk in buf.chunks_exact(row) {
            out.push(chunk.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect());
        }
        i = j;
    }
    Ok(out)
}

/// Reads the first `slots` vectors of a vector file, straight into the returned buffer.
pub fn read_vectors(path: &Path, dim: usize, slots: u64) -> Result<Vec<f32>> {
    let n = (slots as usize) * dim;
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut f = File::open(path).map_err(io(path, "opening"))?;
    let mut out = vec![0f32; n];
    let damaged = |e: std::io::Error| {
        Error::internal(format!(
            "vector file {} is missing data for {slots} committed slots ({e}); the folder is damaged",
            path.display()
        ))
    };
    #[cfg(target_endian = "little")]
    {
        // SAFETY: f32 has no invalid bit patterns and the byte view covers exactly `out`'s
        // initialised memory; the file is little-endian, as this machine.
        let bytes = unsafe { std::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<u8>(), n * 4) };
        f.read_exact(bytes).map_err(damaged)?;
    }
    #[cfg(not(target_endian = "little"))]
    {
        let mut bytes = vec![0u8; n * 4];
        f.read_exact(&mut bytes).map_err(damaged)?;
        for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
            *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
    }
    Ok(out)
}

/// Writes a whole vector file atomically (compaction).
pub fn write_vectors_atomic(path: &Path, data: &[f32]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp).map_err(io(&tmp, "creating"))?;
        let mut bytes = Vec::with_capacity(data.len() * 4);
        for x in data {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        f.write_all(&bytes).map_err(io(&tmp, "writing"))?;
        f.sync_all().map_err(io(&tmp, "syncing"))?;
    }
    std::fs::rename(&tmp, path).map_err(io(path, "renaming into"))?;
    Ok(())
}
