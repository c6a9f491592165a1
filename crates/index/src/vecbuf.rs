//! The vector store of an index: an owned, growable buffer, or a read-only memory map of the
//! caller's vector file (cold open without copying). The first append turns a mapped store
//! into an owned one (one copy, at the first write after a load).

use crate::IndexError;
use std::ops::Deref;
use std::path::Path;

/// Slot-major `f32` vectors.
pub enum VecBuf {
    /// Vectors in memory, growable.
    Owned(Vec<f32>),
    /// A read-only map of a vector file (see [`VecBuf::map_file`], which builds it).
    Mapped {
        /// The mapping, `len * 4` bytes long; its start must be f32-aligned (a map of a
        /// file from offset 0 starts on a page boundary).
        map: memmap2::Mmap,
        /// Number of floats used from the start of the map (a value beyond the map is
        /// read as the map's length).
        len: usize,
    },
}

impl VecBuf {
    /// Maps the first `len` floats of a little-endian `f32` file. The caller must not shrink
    /// the file below `len * 4` bytes or rewrite those bytes while the map lives (chroma-store
    /// only ever appends to a vector file, and compaction writes a new file).
    pub fn map_file(path: &Path, len: usize) -> Result<VecBuf, IndexError> {
        if len == 0 || cfg!(not(target_endian = "little")) {
            let mut v = vec![0f32; len];
            if len > 0 {
                let bytes = std::fs::read(path)?;
                let need = len * 4;
                if bytes.len() < need {
                    return Err(IndexError::Mismatch(format!(
                        "vector file holds {} bytes, {need} needed",
                        bytes.len()
                    )));
                }
                for (o, c) in v.iter_mut().zip(bytes.chunks_exact(4)) {
                    *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                }
            }
            return Ok(VecBuf::Owned(v));
        }
        let file = std::fs::File::open(path)?;
        let need = len.checked_mul(4).ok_or(IndexError::CapacityExceeded)?;
        let have = file.metadata()?.len();
        if have < need as u64 {
            return Err(IndexError::Mismatch(format!("vector file holds {have} bytes, {need} needed")));
        }
        // SAFETY: read-only private mapping of a file that, by the contract above, is only
        // appended to while mapped; we read only the first `len * 4` bytes, which exist.
        let map = unsafe { memmap2::MmapOptions::new().len(need).map(&file)? };
        Ok(VecBuf::Mapped { map, len })
    }

    /// The owned buffer, copying a mapped store first.
    pub(crate) fn make_owned(&mut self) -> &mut Vec<f32> {
        if let VecBuf::Mapped { .. } = self {
            let v = self.deref().to_vec();
            *self = VecBuf::Owned(v);
        }
        match self {
            VecBuf::Owned(v) => v,
            VecBuf::Mapped { .. } => unreachable!("converted above"),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        match self {
            VecBuf::Owned(v) => v.capacity(),
            VecBuf::Mapped { len, .. } => *len,
        }
    }
}

impl Default for VecBuf {
    fn default() -> Self {
        VecBuf::Owned(Vec::new())
    }
}

impl From<Vec<f32>> for VecBuf {
    fn from(v: Vec<f32>) -> Self {
        VecBuf::Owned(v)
    }
}

impl Deref for VecBuf {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        match self {
            VecBuf::Owned(v) => v,
            VecBuf::Mapped { map, len } => {
                // Checked here rather than trusted: the variant's fields are public.
                #[allow(clippy::cast_ptr_alignment)] // alignment asserted on the next line
                let p = map.as_ptr().cast::<f32>();
                assert!(p.is_aligned(), "mapped vectors must start f32-aligned");
                let len = (*len).min(map.len() / 4);
                // SAFETY: `p` is f32-aligned (asserted), the map holds at least `len * 4`
                // bytes (clamped above) and lives as long as `self`, it is never written
                // through (read-only map), and every bit pattern is a valid f32.
                unsafe { std::slice::from_raw_parts(p, len) }
            }
        }
    }
}
