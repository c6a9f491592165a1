//! The mutation loop: corpus in, mutated inputs through a target, failures out.
//!
//! There is no coverage feedback (no nightly, no sanitizers here). What stands in for it:
//! structure-aware mutations (JSON-aware edits for JSON targets, dictionaries of the tokens
//! each parser looks for, splicing corpus entries) and an *outcome* signal: every target
//! returns a short signature of what happened (which error, which status), and an input that
//! produced a signature not seen before joins the in-memory corpus, so inputs that reach new
//! error paths are mutated further.

use crate::{Failure, Target};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Knobs of one fuzzing run.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long to fuzz each target.
    pub duration: Duration,
    /// Seed of the mutation stream (a run is reproducible given the seed and a single thread).
    pub seed: u64,
    /// One input taking longer than this is a failure ("slow").
    pub timeout: Duration,
    /// Heap bytes in use beyond which the run stops with a failure ("memory").
    pub memory_limit: usize,
    /// Where failing inputs are written (`<dir>/<target>/<hash>.bin`).
    pub failures_dir: PathBuf,
}

/// What a run of one target did.
#[derive(Debug, Clone)]
pub struct Report {
    /// The target's name.
    pub target: &'static str,
    /// Inputs executed.
    pub execs: u64,
    /// Wall time spent.
    pub elapsed: Duration,
    /// Corpus files read.
    pub corpus: usize,
    /// Distinct outcome signatures seen.
    pub outcomes: usize,
    /// The first failure, with the file its input was written to.
    pub failure: Option<(Failure, PathBuf)>,
}

/// The corpus folder of a target, in the source tree.
pub fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target)
}

/// The corpus files of a target, sorted by name (missing folder: empty).
pub fn load_corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(corpus_dir(target)) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_file() {
                if let Ok(b) = std::fs::read(&p) {
                    out.push((p, b));
                }
            }
        }
    }
    out.sort();
    out
}

/// Heap bytes in use, as counted by [`CountingAlloc`] (0 when it is not the global allocator).
pub static HEAP_IN_USE: AtomicUsize = AtomicUsize::new(0);

/// A global allocator that counts the bytes in use, so the watchdog can stop an input that
/// makes memory explode before the machine starts swapping. Register it with
/// `#[global_allocator] static A: CountingAlloc = CountingAlloc;`.
pub struct CountingAlloc;

// SAFETY: every method forwards to `System` with the caller's layout and pointer unchanged;
// the counter is a relaxed atomic that never affects the allocation itself.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `GlobalAlloc::alloc`'s contract.
        let p = unsafe { std::alloc::System.alloc(layout) };
        if !p.is_null() {
            HEAP_IN_USE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: `ptr` was returned by `alloc`/`realloc` above with this layout.
        unsafe { std::alloc::System.dealloc(ptr, layout) };
        HEAP_IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { std::alloc::System.alloc_zeroed(layout) };
        if !p.is_null() {
            HEAP_IN_USE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is; `ptr` came from this allocator with `layout`.
        let p = unsafe { std::alloc::System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            HEAP_IN_USE.fetch_add(new_size, Ordering::Relaxed);
            HEAP_IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

/// The last panic's message and location, recorded by the hook [`run_one`] installs.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

fn install_quiet_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
                (*s).to_string()
            } else if let Some(s) = info.payload().downcast_ref::<String>() {
                s.clone()
            } else {
                "panic".to_string()
            };
            let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
            if let Ok(mut g) = LAST_PANIC.lock() {
                *g = Some(format!("{msg}{at}"));
            }
        }));
    });
}

/// Runs one input through `target`: `Ok(signature)`, or the failure (a panic, a broken
/// invariant, or more than `timeout`).
pub fn run_one(target: &Target, input: &[u8], timeout: Duration) -> Result<String, Failure> {
    install_quiet_hook();
    let t0 = Instant::now();
    let r = catch_unwind(AssertUnwindSafe(|| (target.run)(input)));
    let took = t0.elapsed();
    match r {
        Ok(Ok(sig)) if took > timeout => {
            Err(Failure::Slow(format!("{} ms (limit {} ms): {sig}", took.as_millis(), timeout.as_millis())))
        }
        Ok(Ok(sig)) => Ok(sig),
        Ok(Err(v)) => Err(Failure::Violation(v)),
        Err(_) => {
            let m = LAST_PANIC.lock().ok().and_then(|mut g| g.take()).unwrap_or_else(|| "panic".into());
            Err(Failure::Panic(m))
        }
    }
}

/// Writes a failing input to `<dir>/<target>/<hash>.bin` and returns its path.
pub fn save_failure(dir: &Path, target: &str, input: &[u8]) -> PathBuf {
    let d = dir.join(target);
    let _ = std::fs::create_dir_all(&d);
    let p = d.join(format!("{:016x}.bin", fnv(input)));
    let _ = std::fs::write(&p, input);
    p
}

fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| (h ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3))
}

/// The input running now, for the watchdog.
struct Current {
    target: &'static str,
    input: Vec<u8>,
    started: Instant,
}

/// A thread that ends the process when one input runs for twice the timeout (a stall that
/// would otherwise hang CI) or the heap passes the limit, after saving that input.
fn watchdog(cur: Arc<Mutex<Option<Current>>>, stop: Arc<AtomicBool>, opts: Options) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
            let heap = HEAP_IN_USE.load(Ordering::Relaxed);
            let Ok(g) = cur.lock() else { return };
            let Some(c) = g.as_ref() else { continue };
            let why = if c.started.elapsed() > opts.timeout * 2 + Duration::from_secs(1) {
                Some(format!("stall: still running after {} ms", c.started.elapsed().as_millis()))
            } else if heap > opts.memory_limit {
                Some(format!("memory: {} MiB on the heap (limit {} MiB)", heap >> 20, opts.memory_limit >> 20))
            } else {
                None
            };
            if let Some(why) = why {
                let p = save_failure(&opts.failures_dir, c.target, &c.input);
                eprintln!("FUZZ FAILURE in target {}: {why}", c.target);
                eprintln!("  input written to {}", p.display());
                eprintln!("  replay: chroma-fuzz replay {} {}", c.target, p.display());
                std::process::exit(3);
            }
        }
    })
}

/// The most bytes of inputs kept in memory to mutate, per target.
const POOL_BYTES: usize = 256 << 20;

/// Fuzzes one target for `opts.duration`, stopping at its first failure.
pub fn fuzz(target: &Target, opts: &Options) -> Report {
    let mut rng = StdRng::seed_from_u64(opts.seed ^ fnv(target.name.as_bytes()));
    let files = load_corpus(target.name);
    let mut pool: Vec<Vec<u8>> = files.iter().map(|(_, b)| b.clone()).collect();
    if pool.is_empty() {
        pool.push(Vec::new());
    }
    let corpus = files.len();
    let mut pool_bytes: usize = pool.iter().map(Vec::len).sum();
    // Signatures are kept as 64-bit hashes: some targets give almost every input its own
    // signature (error texts that quote the input), and a million of those strings passed the
    // 2 GiB heap limit the watchdog enforces.
    let mut seen: HashSet<u64> = HashSet::new();
    let cur = Arc::new(Mutex::new(None::<Current>));
    let stop = Arc::new(AtomicBool::new(false));
    let dog = watchdog(cur.clone(), stop.clone(), opts.clone());
    let t0 = Instant::now();
    let mut execs = 0u64;
    let mut failure = None;
    // The corpus itself first, then mutants.
    let mut queue: Vec<Vec<u8>> = pool.clone();
    while failure.is_none() && (t0.elapsed() < opts.duration || !queue.is_empty()) {
        let input = queue.pop().unwrap_or_else(|| {
            let base = &pool[rng.random_range(0..pool.len())];
            let other = &pool[rng.random_range(0..pool.len())];
            mutate(&mut rng, base, other, target)
        });
        if let Ok(mut g) = cur.lock() {
            *g = Some(Current { target: target.name, input: input.clone(), started: Instant::now() });
        }
        let r = run_one(target, &input, opts.timeout);
        if let Ok(mut g) = cur.lock() {
            *g = None;
        }
        execs += 1;
        match r {
            Ok(sig) => {
                // The pool is bounded in entries and in bytes: mutants grow towards `max_len` (up
                // to 1 MiB), and 4,096 of those would pass the heap limit the watchdog enforces.
                if seen.insert(fnv(sig.as_bytes())) && pool.len() < 4096 && pool_bytes + input.len() <= POOL_BYTES {
                    pool_bytes += input.len();
                    pool.push(input);
                }
            }
            Err(f) => {
                let p = save_failure(&opts.failures_dir, target.name, &input);
                failure = Some((f, p));
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = dog.join();
    Report { target: target.name, execs, elapsed: t0.elapsed(), corpus, outcomes: seen.len(), failure }
}

/// Bytes that parsers of every kind treat specially.
const INTERESTING: &[u8] = b"\0\x01\x7f\x80\xff\"\\{}[],:-.0123456789eE \n";

/// Numbers at the edges of i64, u64, f32 and f64, as JSON text.
const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "0.5",
    "-0.0",
    "1e309",
    "-1e309",
    "1e-400",
    "3.4028236e38",
    "9007199254740993",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "4294967295",
    "4294967296",
    "2147483648",
    "1e5",
    "100000",
];

/// Mutates `base` (1 to 4 stacked edits; sometimes a splice with `other`).
pub fn mutate(rng: &mut StdRng, base: &[u8], other: &[u8], target: &Target) -> Vec<u8> {
    let mut out = base.to_vec();
    if target.json_at.is_some() && rng.random_bool(0.5) {
        if let Some(v) = json_mutate(rng, &out, target) {
            out = v;
            if rng.random_bool(0.5) {
                return cap(out, target.max_len);
            }
        }
    }
    let n = 1 + rng.random_range(0..4);
    for _ in 0..n {
        byte_mutate(rng, &mut out, other, target.dict);
    }
    cap(out, target.max_len)
}

fn cap(mut v: Vec<u8>, max: usize) -> Vec<u8> {
    v.truncate(max);
    v
}

fn byte_mutate(rng: &mut StdRng, out: &mut Vec<u8>, other: &[u8], dict: &[&[u8]]) {
    let len = out.len();
    let pos = |rng: &mut StdRng| if len == 0 { 0 } else { rng.random_range(0..=len) };
    match rng.random_range(0..11) {
        0 if len > 0 => {
            let i = rng.random_range(0..len);
            out[i] ^= 1 << rng.random_range(0..8);
        }
        1 if len > 0 => {
            let i = rng.random_range(0..len);
            out[i] = INTERESTING[rng.random_range(0..INTERESTING.len())];
        }
        2 if len > 0 => {
            let i = rng.random_range(0..len);
            out[i] = rng.random();
        }
        3 => {
            let i = pos(rng);
            let k = rng.random_range(1..8);
            let bytes: Vec<u8> = (0..k).map(|_| rng.random()).collect();
            out.splice(i..i, bytes);
        }
        4 if len > 0 => {
            let a = rng.random_range(0..len);
            let b = (a + rng.random_range(1..=16usize.min(len - a))).min(len);
            out.drain(a..b);
        }
        5 if len > 0 => {
            // Repeat a chunk: long strings, deep nesting, long lists.
            let a = rng.random_range(0..len);
            let b = (a + rng.random_range(1..=32usize.min(len - a))).min(len);
            let chunk = out[a..b].to_vec();
            let times = [2, 3, 10, 100, 1000][rng.random_range(0..5)];
            let rep: Vec<u8> = chunk.iter().copied().cycle().take(chunk.len() * times).collect();
            out.splice(a..a, rep);
        }
        6 | 7 if !dict.is_empty() => {
            let t = dict[rng.random_range(0..dict.len())];
            let i = pos(rng);
            if rng.random_bool(0.5) && i < len {
                let end = (i + t.len()).min(len);
                out.splice(i..end, t.iter().copied());
            } else {
                out.splice(i..i, t.iter().copied());
            }
        }
        8 => {
            // Replace a run of ASCII digits with an edge number.
            let num = NUMBERS[rng.random_range(0..NUMBERS.len())].as_bytes();
            let digits: Vec<usize> = (0..len).filter(|&i| out[i].is_ascii_digit()).collect();
            if digits.is_empty() {
                let i = pos(rng);
                out.splice(i..i, num.iter().copied());
            } else {
                let a = digits[rng.random_range(0..digits.len())];
                let mut b = a;
                while b < len && (out[b].is_ascii_digit() || matches!(out[b], b'.' | b'e' | b'E' | b'-' | b'+')) {
                    b += 1;
                }
                out.splice(a..b, num.iter().copied());
            }
        }
        9 if !other.is_empty() => {
            // Splice: a prefix of this, a suffix of the other.
            let a = pos(rng);
            let b = rng.random_range(0..other.len());
            out.truncate(a);
            out.extend_from_slice(&other[b..]);
        }
        _ => {
            let i = pos(rng);
            out.insert(i, INTERESTING[rng.random_range(0..INTERESTING.len())]);
        }
    }
}

/// A JSON-aware edit of the JSON text starting at byte `target.json_at` (after a first line
/// for targets that have one): parse, change one node, print.
fn json_mutate(rng: &mut StdRng, input: &[u8], target: &Target) -> Option<Vec<u8>> {
    let at = match target.json_at? {
        crate::JsonAt::Start => 0,
        crate::JsonAt::AfterFirstLine => input.iter().position(|&b| b == b'\n')? + 1,
    };
    let mut v: Value = serde_json::from_slice(&input[at..]).ok()?;
    let mut nodes = 0usize;
    count_nodes(&v, &mut nodes);
    let k = rng.random_range(0..nodes.max(1));
    let mut i = 0usize;
    edit_node(rng, &mut v, k, &mut i, target.dict);
    let mut out = input[..at].to_vec();
    out.extend_from_slice(&serde_json::to_vec(&v).ok()?);
    Some(out)
}

fn count_nodes(v: &Value, n: &mut usize) {
    *n += 1;
    match v {
        Value::Array(a) => a.iter().for_each(|x| count_nodes(x, n)),
        Value::Object(m) => m.values().for_each(|x| count_nodes(x, n)),
        _ => {}
    }
}

fn edit_node(rng: &mut StdRng, v: &mut Value, k: usize, i: &mut usize, dict: &[&[u8]]) -> bool {
    if *i == k {
        *v = replacement(rng, v, dict);
        return true;
    }
    *i += 1;
    match v {
        Value::Array(a) => a.iter_mut().any(|x| edit_node(rng, x, k, i, dict)),
        Value::Object(m) => m.values_mut().any(|x| edit_node(rng, x, k, i, dict)),
        _ => false,
    }
}

/// A new value for a node: an edge scalar, a dictionary word, the node wrapped in an operator,
/// duplicated, emptied, or a key renamed.
fn replacement(rng: &mut StdRng, v: &Value, dict: &[&[u8]]) -> Value {
    let word = |rng: &mut StdRng| -> String {
        if dict.is_empty() {
            "x".into()
        } else {
            String::from_utf8_lossy(dict[rng.random_range(0..dict.len())]).trim_matches('"').to_string()
        }
    };
    match rng.random_range(0..12) {
        0 => Value::Null,
        1 => Value::Bool(rng.random()),
        2 => serde_json::from_str(NUMBERS[rng.random_range(0..NUMBERS.len())]).unwrap_or(Value::Null),
        3 => Value::String(word(rng)),
        4 => Value::String("a".repeat([0, 1, 2, 3, 300, 70_000][rng.random_range(0..6)])),
        5 => Value::Array(vec![v.clone(); [0, 1, 2, 5, 50][rng.random_range(0..5)]]),
        6 => {
            let mut m = serde_json::Map::new();
            m.insert(word(rng), v.clone());
            Value::Object(m)
        }
        7 => match v {
            Value::Object(m) if !m.is_empty() => {
                let mut m = m.clone();
                let key = m.keys().nth(rng.random_range(0..m.len())).cloned().unwrap_or_default();
                let val = m.remove(&key).unwrap_or(Value::Null);
                if rng.random_bool(0.5) {
                    m.insert(word(rng), val);
                }
                Value::Object(m)
            }
            Value::Array(a) if !a.is_empty() => {
                let mut a = a.clone();
                let j = rng.random_range(0..a.len());
                if rng.random_bool(0.5) {
                    a.remove(j);
                } else {
                    let x = a[j].clone();
                    a.push(x);
                }
                Value::Array(a)
            }
            _ => Value::String(String::new()),
        },
        8 => Value::Object(serde_json::Map::new()),
        9 => Value::String("\u{0}\u{7f}\u{fffd}é\u{10ffff}".into()),
        10 => Value::Array(vec![]),
        _ => {
            // Deep nesting.
            let depth = [10, 70, 200][rng.random_range(0..3)];
            let mut x = v.clone();
            let key = word(rng);
            for _ in 0..depth {
                let mut m = serde_json::Map::new();
                m.insert(key.clone(), Value::Array(vec![x]));
                x = Value::Object(m);
            }
            x
        }
    }
}
