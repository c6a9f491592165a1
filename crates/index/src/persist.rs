//! Graph file format (see the crate documentation for the layout).

use std::fs::{self, File};
use std::path::Path;

use crate::fileio::{self, Point};
use crate::graph::{Graph, MAX_LEVEL, NONE};
use crate::{IndexError, Space};

pub(crate) const MAGIC: &[u8; 8] = b"CHRHNSW\0";
pub(crate) const VERSION: u32 = 1;
pub(crate) const HEADER_LEN: usize = 64;

pub(crate) fn space_code(s: Space) -> u32 {
    match s {
        Space::L2 => 0,
        Space::InnerProduct => 1,
        Space::Cosine => 2,
    }
}

/// Serialises nodes `0..n` of the graph (no vectors) into a byte buffer including the
/// trailing CRC-32. The caller guarantees that no link of those nodes points at `n` or beyond.
pub(crate) fn encode(graph: &Graph, n: usize, dim: usize, space: Space, ef_construction: usize, tag: u64) -> Vec<u8> {
    let n = n.min(graph.len());
    let entry = *graph.entry.lock();
    let mut body: Vec<u8> = Vec::with_capacity(n * (1 + 4 + 4 * graph.m0));
    body.extend_from_slice(&graph.levels[..n]);
    let mut buf = Vec::new();
    for id in 0..n as u32 {
        graph.read_links(id, 0, &mut buf);
        push_list(&mut body, &buf);
    }
    for id in 0..n as u32 {
        let lv = graph.levels[id as usize] as usize;
        for l in 1..=lv {
            graph.read_links(id, l, &mut buf);
            push_list(&mut body, &buf);
        }
    }
    let mut out = Vec::with_capacity(HEADER_LEN + body.len() + 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(dim as u32).to_le_bytes());
    out.extend_from_slice(&space_code(space).to_le_bytes());
    out.extend_from_slice(&(graph.m as u32).to_le_bytes());
    out.extend_from_slice(&(graph.m0 as u32).to_le_bytes());
    out.extend_from_slice(&(ef_construction.min(u32::MAX as usize) as u32).to_le_bytes());
    out.extend_from_slice(&(n as u64).to_le_bytes());
    out.extend_from_slice(&tag.to_le_bytes());
    out.extend_from_slice(&entry.node.to_le_bytes());
    out.extend_from_slice(&entry.max_level.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    debug_assert_eq!(out.len(), HEADER_LEN);
    out.extend_from_slice(&body);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn push_list(body: &mut Vec<u8>, ids: &[u32]) {
    body.extend_from_slice(&(ids.len() as u32).to_le_bytes());
    for &v in ids {
        body.extend_from_slice(&v.to_le_bytes());
    }
}

/// Atomic write: `<path>.tmp`, fsync, rename over `path`, fsync the directory (best effort).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), IndexError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let res = (|| -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        fileio::write_all(Point::GraphWrite, &mut f, bytes)?;
        fileio::sync_all(Point::GraphSync, &f)?;
        drop(f);
        fileio::rename(Point::GraphRename, &tmp, path)?;
        Ok(())
    })();
    if let Err(e) = res {
        let _ = fs::remove_file(&tmp);
        return Err(IndexError::Io(e));
    }
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Parsed graph file.
pub(crate) struct GraphFile {
    pub slots: usize,
    pub tag: u64,
    pub m: usize,
    pub entry: u32,
    pub max_level: u32,
    pub levels: Vec<u8>,
    /// All lists back to back: level 0 for every slot, then upper levels of each slot in order.
    pub lists: Vec<u32>,
    /// (offset, len) into `lists`, in the same order.
    pub spans: Vec<(usize, usize)>,
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], IndexError> {
        let end = self.pos.checked_add(n).ok_or_else(|| corrupt("length overflow"))?;
        let s = self.b.get(self.pos..end).ok_or_else(|| corrupt("truncated"))?;
        self.pos = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, IndexError> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> Result<u64, IndexError> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }
}

fn corrupt(msg: &str) -> IndexError {
    IndexError::Corrupt(msg.to_string())
}

/// Reads and validates a graph file against the expected dim / space / M.
pub(crate) fn decode(bytes: &[u8], dim: usize, space: Space, m: usize) -> Result<GraphFile, IndexError> {
    let data = checked_payload(bytes)?;
    let mut r = Reader { b: data, pos: 8 };
    let h = read_header(&mut r, data.len(), dim, space, m)?;
    let levels = read_levels(&mut r, h.slots, h.entry, h.max_level)?;
    let (lists, spans) = read_lists(&mut r, &levels, m)?;
    if r.pos != data.len() {
        return Err(corrupt("trailing bytes"));
    }
    Ok(GraphFile { slots: h.slots, tag: h.tag, m: h.m, entry: h.entry, max_level: h.max_level, levels, lists, spans })
}

/// The file without its trailing CRC, once length, magic and checksum are verified.
fn checked_payload(bytes: &[u8]) -> Result<&[u8], IndexError> {
    if bytes.len() < HEADER_LEN + 4 {
        return Err(corrupt("file too short"));
    }
    let (data, crc_bytes) = bytes.split_at(bytes.len() - 4);
    let stored = u32::from_le_bytes([crc_bytes[0], crc_bytes[1], crc_bytes[2], crc_bytes[3]]);
    if &data[..8] != MAGIC {
        return Err(corrupt("bad magic"));
    }
    if crc32fast::hash(data) != stored {
        return Err(corrupt("checksum mismatch"));
    }
    Ok(data)
}

/// The header fields that the body's checks and the loaded graph need.
struct Header {
    /// Slot count, `< NONE` and no larger than the file.
    slots: usize,
    tag: u64,
    m: usize,
    entry: u32,
    max_level: u32,
}

/// Reads the header (from just after the magic) and checks it against the expected dim /
/// space / M and the payload length `data_len`.
fn read_header(r: &mut Reader, data_len: usize, dim: usize, space: Space, m: usize) -> Result<Header, IndexError> {
    let version = r.u32()?;
    if version != VERSION {
        return Err(IndexError::Mismatch(format!("unsupported graph file version {version}")));
    }
    let f_dim = r.u32()? as usize;
    let f_space = r.u32()?;
    let f_m = r.u32()? as usize;
    let f_m0 = r.u32()? as usize;
    let _f_efc = r.u32()?;
    let slots = r.u64()?;
    let tag = r.u64()?;
    let entry = r.u32()?;
    let max_level = r.u32()?;
    let body_len = r.u64()?;
    if f_dim != dim {
        return Err(IndexError::Mismatch(format!("graph file dim {f_dim}, expected {dim}")));
    }
    if f_space != space_code(space) {
        return Err(IndexError::Mismatch("graph file space differs".into()));
    }
    if f_m != m || f_m0 != 2 * m {
        return Err(IndexError::Mismatch(format!("graph file M={f_m}, expected {m}")));
    }
    if body_len != (data_len - HEADER_LEN) as u64 {
        return Err(corrupt("body length mismatch"));
    }
    if slots >= u64::from(NONE) || slots as usize > data_len {
        return Err(corrupt("slot count out of range"));
    }
    Ok(Header { slots: slots as usize, tag, m: f_m, entry, max_level })
}

/// Reads the level of each of the `slots` nodes and checks them and the entry point.
fn read_levels(r: &mut Reader, slots: usize, entry: u32, max_level: u32) -> Result<Vec<u8>, IndexError> {
    let levels = r.take(slots)?.to_vec();
    if levels.iter().any(|&l| l as usize > MAX_LEVEL) {
        return Err(corrupt("level out of range"));
    }
    if slots == 0 {
        if entry != NONE {
            return Err(corrupt("entry point in empty graph"));
        }
    } else {
        if entry == NONE || entry as usize >= slots {
            return Err(corrupt("entry point out of range"));
        }
        if u32::from(levels[entry as usize]) != max_level {
            return Err(corrupt("entry point level mismatch"));
        }
        if levels.iter().any(|&l| u32::from(l) > max_level) {
            return Err(corrupt("node above max level"));
        }
    }
    Ok(levels)
}

/// All link lists back to back, and the `(offset, len)` of each in it.
type Lists = (Vec<u32>, Vec<(usize, usize)>);

/// Reads every link list (level 0 of each node, then the upper levels of each node) into
/// one array plus `(offset, len)` spans. Every link must name a node `< levels.len()` that
/// exists at the list's level, and no list may exceed its level's capacity.
fn read_lists(r: &mut Reader, levels: &[u8], m: usize) -> Result<Lists, IndexError> {
    let slots = levels.len();
    let mut lists = Vec::new();
    let mut spans = Vec::with_capacity(slots);
    let mut read_list = |r: &mut Reader, level: usize| -> Result<(), IndexError> {
        let cnt = r.u32()? as usize;
        let maxc = if level == 0 { 2 * m } else { m };
        if cnt > maxc {
            return Err(corrupt("link list too long"));
        }
        let off = lists.len();
        for _ in 0..cnt {
            let v = r.u32()?;
            if v as usize >= slots || (levels[v as usize] as usize) < level {
                return Err(corrupt("link out of range"));
            }
            lists.push(v);
        }
        spans.push((off, cnt));
        Ok(())
    };
    for _ in 0..slots {
        read_list(r, 0)?;
    }
    for &lv in levels {
        for l in 1..=lv as usize {
            read_list(r, l)?;
        }
    }
    Ok((lists, spans))
}

/// Installs the parsed lists into `graph` (whose first `gf.slots` nodes have the file's levels).
pub(crate) fn install(graph: &Graph, gf: &GraphFile) {
    let mut k = 0usize;
    let list = |k: usize| -> &[u32] {
        let (off, len) = gf.spans[k];
        &gf.lists[off..off + len]
    };
    for id in 0..gf.slots {
        graph.set_links(id as u32, 0, list(k));
        k += 1;
    }
    for id in 0..gf.slots {
        for l in 1..=gf.levels[id] as usize {
            graph.set_links(id as u32, l, list(k));
            k += 1;
        }
    }
    let mut e = graph.entry.lock();
    e.node = gf.entry;
    e.max_level = if gf.entry == NONE { 0 } else { gf.max_level };
}
