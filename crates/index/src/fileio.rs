//! The file writes, fsyncs and renames of chroma-rs's own files (vector files, graph files),
//! routed through one place so that tests can make them fail.
//!
//! Without the `failpoints` feature these are the plain `std` calls. With it, a test can
//! `arm` a [`Point`] so that, after a given number of successful calls, every call there
//! fails with a chosen [`Fault`] (`ENOSPC`, `EIO`, or a short write: part of the bytes reach
//! the file, then `ENOSPC`, which is what a filling disk does) until `clear` lifts it.
//! The errors are real `io::Error`s with the operating system's codes, so everything above
//! this layer handles them exactly as it would handle the real thing.
//!
//! The state is process-wide (the writers under test run on more than one thread): a test
//! that arms a point must not share its process with other tests that write files, or must
//! serialise with them.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

/// A place where chroma-rs writes its own files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Point {
    /// Appending to a vector file, or writing a compacted one.
    VectorWrite,
    /// Making a vector file durable (`fsync`/`fdatasync`).
    VectorSync,
    /// Renaming a compacted vector file into place.
    VectorRename,
    /// Writing a graph file (to its temporary name).
    GraphWrite,
    /// Making a graph file durable.
    GraphSync,
    /// Renaming a graph file into place.
    GraphRename,
}

impl Point {
    /// Every point, for tests that loop over them.
    pub const ALL: [Point; 6] = [
        Point::VectorWrite,
        Point::VectorSync,
        Point::VectorRename,
        Point::GraphWrite,
        Point::GraphSync,
        Point::GraphRename,
    ];
}

/// How an armed [`Point`] fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// `ENOSPC` ("No space left on device"); nothing is written.
    NoSpace,
    /// `EIO` ("Input/output error"); nothing is written.
    Io,
    /// A write that stops part-way: the first half of the bytes reach the file, then
    /// `ENOSPC`. At a sync or rename point it is plain `ENOSPC`.
    ShortWrite,
}

impl Fault {
    /// Every fault, for tests that loop over them.
    pub const ALL: [Fault; 3] = [Fault::NoSpace, Fault::Io, Fault::ShortWrite];
}

/// `ENOSPC` and `EIO`: the same numbers on Linux, macOS and the BSDs.
const ENOSPC: i32 = 28;
const EIO: i32 = 5;

fn os_error(fault: Fault) -> io::Error {
    io::Error::from_raw_os_error(if fault == Fault::Io { EIO } else { ENOSPC })
}

/// `f.write_all(bytes)`, unless `point` is armed.
pub fn write_all(point: Point, f: &mut File, bytes: &[u8]) -> io::Result<()> {
    if let Some(fault) = failpoints::fire(point) {
        if fault == Fault::ShortWrite {
            f.write_all(&bytes[..bytes.len() / 2])?;
        }
        return Err(os_error(fault));
    }
    f.write_all(bytes)
}

/// `f.sync_all()`, unless `point` is armed.
pub fn sync_all(point: Point, f: &File) -> io::Result<()> {
    match failpoints::fire(point) {
        Some(fault) => Err(os_error(fault)),
        None => f.sync_all(),
    }
}

/// `f.sync_data()`, unless `point` is armed.
pub fn sync_data(point: Point, f: &File) -> io::Result<()> {
    match failpoints::fire(point) {
        Some(fault) => Err(os_error(fault)),
        None => f.sync_data(),
    }
}

/// `std::fs::rename(from, to)`, unless `point` is armed.
pub fn rename(point: Point, from: &Path, to: &Path) -> io::Result<()> {
    match failpoints::fire(point) {
        Some(fault) => Err(os_error(fault)),
        None => std::fs::rename(from, to),
    }
}

#[cfg(feature = "failpoints")]
pub use failpoints::{arm, calls, clear};

#[cfg(feature = "failpoints")]
mod failpoints {
    use super::{Fault, Point};
    use parking_lot::Mutex;
    use std::collections::HashMap;

    /// The armed points and the calls seen at each point.
    #[derive(Default)]
    struct State {
        /// Point -> (successful calls still allowed, then the fault).
        armed: HashMap<Point, (u64, Fault)>,
        calls: HashMap<Point, u64>,
    }

    static STATE: Mutex<Option<State>> = Mutex::new(None);

    /// Makes `point` fail with `fault` from its `after + 1`-th call on (`after` = 0: the next
    /// call), every time, until [`clear`]: a full disk stays full.
    pub fn arm(point: Point, after: u64, fault: Fault) {
        STATE.lock().get_or_insert_with(State::default).armed.insert(point, (after, fault));
    }

    /// Lifts every armed fault (the call counts are kept).
    pub fn clear() {
        if let Some(s) = STATE.lock().as_mut() {
            s.armed.clear();
        }
    }

    /// Calls made at `point` so far in this process (failed ones included).
    pub fn calls(point: Point) -> u64 {
        STATE.lock().as_ref().and_then(|s| s.calls.get(&point).copied()).unwrap_or(0)
    }

    /// Counts a call at `point` and says whether (and how) it fails.
    pub(super) fn fire(point: Point) -> Option<Fault> {
        let mut guard = STATE.lock();
        let s = guard.get_or_insert_with(State::default);
        *s.calls.entry(point).or_insert(0) += 1;
        let (left, fault) = s.armed.get_mut(&point)?;
        if *left > 0 {
            *left -= 1;
            return None;
        }
        Some(*fault)
    }
}

#[cfg(not(feature = "failpoints"))]
mod failpoints {
    use super::{Fault, Point};

    /// Never fails: the feature is off (a constant the optimiser removes).
    #[inline]
    pub(super) fn fire(_point: Point) -> Option<Fault> {
        None
    }
}
