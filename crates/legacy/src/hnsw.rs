//! hnswlib index files, read-only, by random access (nothing is loaded whole):
//! * chroma-hnswlib persistent segment folders (>= 0.4): `header.bin` (100 bytes: i32 persist
//!   version, then the hnswlib header fields), `data_level0.bin` (`max_elements` x
//!   `size_data_per_element`), `length.bin` (f32 norm per element, used for cosine),
//!   `link_lists.bin`, plus `index_metadata.pickle`;
//! * plain hnswlib `saveIndex` files (0.3.x `index/index_<uuid>.bin`, 96-byte header, level-0
//!   data right after it).
//!
//! Element layout in level 0: u32 link count (byte 2 bit 0 = deleted mark) + links, then the
//! f32 vector at `offset_data`, then the u64 label at `label_offset`.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::{io_err, LegacyError, Result};

#[derive(Debug, Clone, PartialEq)]
/// The header of an hnswlib `header.bin` (field names as in hnswlib).
pub struct HnswHeader {
    /// Chroma's persist format version, when present.
    pub persist_version: Option<i32>,
    /// Offset of level 0 in the data.
    pub offset_level0: u64,
    /// Capacity.
    pub max_elements: u64,
    /// Elements stored.
    pub cur_element_count: u64,
    /// Bytes per element in level 0.
    pub size_data_per_element: u64,
    /// Offset of the label in an element.
    pub label_offset: u64,
    /// Offset of the vector in an element.
    pub offset_data: u64,
    /// Highest level of the graph.
    pub max_level: i32,
    /// Entry point element.
    pub enterpoint: u32,
    /// Max links per element above level 0.
    pub max_m: u64,
    /// Max links per element at level 0.
    pub max_m0: u64,
    /// `M` of the index.
    pub m: u64,
    /// Level multiplier.
    pub mult: f64,
    /// `ef_construction` of the index.
    pub ef_construction: u64,
}

impl HnswHeader {
    /// Vector dimension, from the element layout.
    pub fn dimension(&self) -> Option<usize> {
        let bytes = self.label_offset.checked_sub(self.offset_data)?;
        if bytes % 4 != 0 {
            return None;
        }
        Some((bytes / 4) as usize)
    }

    fn parse(b: &[u8], with_version: bool, what: &Path) -> Result<HnswHeader> {
        let need = if with_version { 100 } else { 96 };
        if b.len() < need {
            return Err(LegacyError::Format(format!(
                "{}: hnsw header has {} bytes, expected {need}",
                what.display(),
                b.len()
            )));
        }
        let mut o = 0usize;
        let u64_ = |o: &mut usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[*o..*o + 8]);
            *o += 8;
            u64::from_le_bytes(a)
        };
        let persist_version = if with_version {
            let v = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            o = 4;
            Some(v)
        } else {
            None
        };
        let offset_level0 = u64_(&mut o);
        let max_elements = u64_(&mut o);
        let cur_element_count = u64_(&mut o);
        let size_data_per_element = u64_(&mut o);
        let label_offset = u64_(&mut o);
        let offset_data = u64_(&mut o);
        let max_level = i32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let enterpoint = u32::from_le_bytes([b[o + 4], b[o + 5], b[o + 6], b[o + 7]]);
        o += 8;
        let max_m = u64_(&mut o);
        let max_m0 = u64_(&mut o);
        let m = u64_(&mut o);
        let mult = f64::from_bits(u64_(&mut o));
        let ef_construction = u64_(&mut o);
        let h = HnswHeader {
            persist_version,
            offset_level0,
            max_elements,
            cur_element_count,
            size_data_per_element,
            label_offset,
            offset_data,
            max_level,
            enterpoint,
            max_m,
            max_m0,
            m,
            mult,
            ef_construction,
        };
        // Checked sums: every offset comes from the file (the fuzzer found `label_offset + 8`
        // overflowing on a damaged header).
        let fits = |offset: u64, len: u64| offset.checked_add(len).is_some_and(|end| end <= h.size_data_per_element);
        if !fits(h.label_offset, 8)
            || !fits(h.offset_level0, 4)
            || h.offset_data > h.label_offset
            || h.dimension().is_none()
            || h.cur_element_count > h.max_elements
        {
            return Err(LegacyError::Format(format!("{}: implausible hnsw header {h:?}", what.display())));
        }
        Ok(h)
    }
}

/// One hnsw index opened for random access.
pub struct HnswIndex {
    /// The index's header.
    pub header: HnswHeader,
    data: File,
    data_path: PathBuf,
    /// Offset of element 0 in `data`.
    base: u64,
    norms: Option<(File, PathBuf)>,
    label_to_element: HashMap<u64, u64>,
}

/// One stored element.
#[derive(Debug, Clone, PartialEq)]
pub struct HnswElement {
    /// The user-facing label (Chroma maps ids to labels).
    pub label: u64,
    /// Marked deleted in the index.
    pub deleted: bool,
    /// As stored (normalized for cosine).
    pub vector: Vec<f32>,
}

impl HnswIndex {
    /// Opens a chroma-hnswlib persistent segment folder (`header.bin`, `data_level0.bin`, ...).
    pub fn open_segment_dir(dir: &Path) -> Result<HnswIndex> {
        let hp = dir.join("header.bin");
        let hb = std::fs::read(&hp).map_err(io_err(format!("reading {}", hp.display())))?;
        let header = HnswHeader::parse(&hb, true, &hp)?;
        let dp = dir.join("data_level0.bin");
        let data = File::open(&dp).map_err(io_err(format!("opening {}", dp.display())))?;
        let lp = dir.join("length.bin");
        let norms = File::open(&lp).ok().map(|f| (f, lp));
        Self::finish(header, data, dp, 0, norms)
    }

    /// Opens a plain hnswlib `saveIndex` file (0.3.x `index_<uuid>.bin`).
    pub fn open_single_file(path: &Path) -> Result<HnswIndex> {
        let data = File::open(path).map_err(io_err(format!("opening {}", path.display())))?;
        let mut hb = [0u8; 96];
        data.read_exact_at(&mut hb, 0).map_err(io_err(format!("reading header of {}", path.display())))?;
        let header = HnswHeader::parse(&hb, false, path)?;
        Self::finish(header, data, path.to_path_buf(), 96, None)
    }

    fn finish(
        header: HnswHeader,
        data: File,
        data_path: PathBuf,
        base: u64,
        norms: Option<(File, PathBuf)>,
    ) -> Result<HnswIndex> {
        let len = data.metadata().map_err(io_err(format!("stat {}", data_path.display())))?.len();
        let need = header.cur_element_count.checked_mul(header.size_data_per_element).and_then(|n| n.checked_add(base));
        if need.is_none_or(|need| len < need) {
            return Err(LegacyError::Format(format!(
                "{}: {len} bytes, but the header announces {} elements of {} bytes",
                data_path.display(),
                header.cur_element_count,
                header.size_data_per_element
            )));
        }
        let mut idx = HnswIndex { header, data, data_path, base, norms, label_to_element: HashMap::new() };
        // label map: read labels only (8 bytes per element)
        for e in 0..idx.header.cur_element_count {
            let mut b = [0u8; 8];
            let off = idx.elem_off(e) + idx.header.label_offset;
            idx.data
                .read_exact_at(&mut b, off)
                .map_err(io_err(format!("reading label of element {e} in {}", idx.data_path.display())))?;
            idx.label_to_element.insert(u64::from_le_bytes(b), e);
        }
        Ok(idx)
    }

    fn elem_off(&self, e: u64) -> u64 {
        self.base + e * self.header.size_data_per_element
    }

    /// Vector dimension (0 when the header does not tell).
    pub fn dimension(&self) -> usize {
        self.header.dimension().unwrap_or(0)
    }

    /// Elements stored.
    pub fn len(&self) -> u64 {
        self.header.cur_element_count
    }

    /// No elements stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every label in the index.
    pub fn labels(&self) -> impl Iterator<Item = &u64> {
        self.label_to_element.keys()
    }

    /// Element with this label, as stored.
    pub fn get(&self, label: u64) -> Result<Option<HnswElement>> {
        let Some(&e) = self.label_to_element.get(&label) else { return Ok(None) };
        let off = self.elem_off(e);
        let mut head = [0u8; 4];
        self.data
            .read_exact_at(&mut head, off + self.header.offset_level0)
            .map_err(io_err(format!("reading element {e} of {}", self.data_path.display())))?;
        let deleted = head[2] & 1 != 0;
        let dim = self.dimension();
        let mut vb = vec![0u8; dim * 4];
        self.data
            .read_exact_at(&mut vb, off + self.header.offset_data)
            .map_err(io_err(format!("reading vector {e} of {}", self.data_path.display())))?;
        let vector = vb.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        Ok(Some(HnswElement { label, deleted, vector }))
    }

    /// The norm chroma-hnswlib stored for this label's element (`length.bin`), if any.
    pub fn norm(&self, label: u64) -> Result<Option<f32>> {
        let (Some(&e), Some((f, p))) = (self.label_to_element.get(&label), self.norms.as_ref()) else {
            return Ok(None);
        };
        let mut b = [0u8; 4];
        match f.read_exact_at(&mut b, e * 4) {
            Ok(()) => Ok(Some(f32::from_le_bytes(b))),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(LegacyError::Io { context: format!("reading {}", p.display()), source: e }),
        }
    }

    /// The vector as the user gave it: for cosine, the stored unit vector times the stored norm.
    pub fn original_vector(&self, label: u64, cosine: bool) -> Result<Option<(Vec<f32>, bool)>> {
        let Some(el) = self.get(label)? else { return Ok(None) };
        let mut v = el.vector;
        if cosine {
            if let Some(n) = self.norm(label)? {
                for x in &mut v {
                    *x *= n;
                }
            }
        }
        Ok(Some((v, el.deleted)))
    }
}
