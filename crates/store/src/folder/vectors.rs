//! The files of one collection: `vectors-<gen>.f32` (float32 vectors, slot-major,
//! append-only) and `hnsw-<gen>.graph` (the HNSW graph, a derived cache), under
//! `collections/<uuid>/`. A compaction writes the next generation; files of any other
//! generation than the one `SQLite` records are left-overs of an interrupted one.

use crate::error::ResultExt;
use chroma_index::fileio::{self, Point};
use chroma_types::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The folder of a collection's files.
pub fn collection_dir(root: &Path, uuid: &uuid::Uuid) -> PathBuf {
    root.join("collections").join(uuid.to_string())
}

/// The vector file of a generation.
pub fn vectors_path(dir: &Path, generation: i64) -> PathBuf {
    dir.join(format!("vectors-{generation}.f32"))
}

/// The graph file of a generation.
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

/// Appends vectors to a collection's vector file and makes them durable before returning.
/// The file is first cut back to `committed_slots` (bytes past it belong to a write that
/// crashed before its `SQLite` commit).
pub fn append_vectors(path: &Path, dim: usize, committed_slots: u64, data: &[f32]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let want = committed_slots * dim as u64 * 4;
    let len = f.metadata().with_context(|| format!("reading {}", path.display()))?.len();
    if len < want {
        return Err(Error::internal(format!(
            "vector file {} is shorter ({len} bytes) than the {committed_slots} committed slots need ({want} bytes)",
            path.display()
        )));
    }
    if len != want {
        f.set_len(want).with_context(|| format!("truncating {}", path.display()))?;
    }
    f.seek(SeekFrom::Start(want)).with_context(|| format!("seeking {}", path.display()))?;
    let written = write_and_sync(&mut f, path, data);
    if written.is_err() {
        // Cut a part-written tail now rather than at the next append: on a full disk its
        // bytes are space that `SQLite` and the retry need. Best effort (the next append cuts
        // it anyway).
        let _ = f.set_len(want);
    }
    written
}

/// The write and the fsync of [`append_vectors`].
fn write_and_sync(f: &mut File, path: &Path, data: &[f32]) -> Result<()> {
    #[cfg(target_endian = "little")]
    {
        // SAFETY: f32 has no padding and any byte pattern of it is valid to read as u8; on a
        // little-endian target its in-memory bytes are the file format.
        let bytes = unsafe { std::slice::from_raw_parts(data.as_ptr().cast::<u8>(), std::mem::size_of_val(data)) };
        fileio::write_all(Point::VectorWrite, f, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    #[cfg(not(target_endian = "little"))]
    {
        let mut bytes = Vec::with_capacity(data.len() * 4);
        for x in data {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        fileio::write_all(Point::VectorWrite, f, &bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    fileio::sync_data(Point::VectorSync, f).with_context(|| format!("syncing {}", path.display()))?;
    Ok(())
}

/// Reads the vectors of the given slots (each below `committed`) from a vector file, one
/// read per run of consecutive slots. Memory: only the vectors asked for.
pub fn read_slots(path: &Path, dim: usize, committed: u64, slots: &[u64]) -> Result<Vec<Vec<f32>>> {
    use std::os::unix::fs::FileExt;
    if slots.is_empty() {
        return Ok(Vec::new());
    }
    let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
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
            .with_source(e)
        })?;
        for chunk in buf.chunks_exact(row) {
            out.push(chunk.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect());
        }
        i = j;
    }
    Ok(out)
}

/// Writes a whole vector file atomically (compaction). On failure the temporary file is
/// removed and `path` is left as it was.
pub fn write_vectors_atomic(path: &Path, data: &[f32]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let written = (|| -> Result<()> {
        let mut f = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut bytes = Vec::with_capacity(data.len() * 4);
        for x in data {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        fileio::write_all(Point::VectorWrite, &mut f, &bytes).with_context(|| format!("writing {}", tmp.display()))?;
        fileio::sync_all(Point::VectorSync, &f).with_context(|| format!("syncing {}", tmp.display()))?;
        drop(f);
        fileio::rename(Point::VectorRename, &tmp, path).with_context(|| format!("renaming into {}", path.display()))
    })();
    if written.is_err() {
        // A part-written file must not take the disk space a retry needs.
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
