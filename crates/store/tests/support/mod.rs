//! Helpers shared by the storage engine's durability tests (model, persistence, crash, lock):
//! a tiny deterministic RNG, folder snapshots for "nothing was touched" checks, full
//! collection snapshots, and re-executing the test binary as a child process.
#![allow(dead_code)]

use chroma_types::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

/// splitmix64: small, deterministic, good enough for test data.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn from_time() -> Self {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
        Rng::new(t ^ (u64::from(std::process::id()) << 32))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    pub fn range(&mut self, lo: u64, hi_inclusive: u64) -> u64 {
        lo + self.below(hi_inclusive - lo + 1)
    }
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn f32(&mut self) -> f32 {
        (self.unit() * 2.0 - 1.0) as f32
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Every file and folder under `root` (relative path -> contents; folders map to `None`).
pub fn folder_contents(root: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Option<Vec<u8>>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
            if e.file_type().unwrap().is_dir() {
                out.insert(rel, None);
                walk(root, &p, out);
            } else {
                out.insert(rel, Some(std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    if root.exists() {
        walk(root, root, &mut out);
    }
    out
}

/// Asserts two folder snapshots are byte-identical, naming the first difference.
pub fn assert_same_folder(
    before: &BTreeMap<String, Option<Vec<u8>>>,
    after: &BTreeMap<String, Option<Vec<u8>>>,
    what: &str,
) {
    let names_before: Vec<&String> = before.keys().collect();
    let names_after: Vec<&String> = after.keys().collect();
    assert_eq!(names_before, names_after, "{what}: the set of files changed");
    for (k, v) in before {
        assert!(after[k] == *v, "{what}: {k} changed");
    }
}

/// Everything `get` can return about a collection's records, in storage order.
pub fn full_get(api: &dyn ChromaApi, id: uuid::Uuid) -> GetResult {
    api.get(
        id,
        GetRequest {
            include: vec![Include::Embeddings, Include::Documents, Include::Metadatas, Include::Uris],
            ..Default::default()
        },
    )
    .unwrap()
}

/// A command that re-runs this test binary, running only `test_name`, with `envs` set.
/// The child's stdout is piped; its stdin is piped too (closing it is a "please exit").
pub fn reexec(test_name: &str, envs: &[(&str, String)]) -> Command {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args([test_name, "--exact", "--nocapture", "--test-threads=1", "--quiet"]);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
    cmd
}

/// Writes one line to the real stdout (bypassing the test harness's capture) and flushes.
pub fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(line.as_bytes()).unwrap();
    out.write_all(b"\n").unwrap();
    out.flush().unwrap();
}

/// A child process with its stdout lines arriving on a channel.
pub struct ChildProc {
    pub child: std::process::Child,
    pub lines: std::sync::mpsc::Receiver<String>,
}

impl ChildProc {
    pub fn spawn(test_name: &str, envs: &[(&str, String)]) -> ChildProc {
        let mut child = reexec(test_name, envs).spawn().expect("re-executing the test binary");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        ChildProc { child, lines }
    }

    /// The next line starting with `prefix` (others are the test harness talking), or `None`
    /// if the child's stdout closed or `timeout` passed.
    pub fn wait_for(&self, prefix: &str, timeout: std::time::Duration) -> Option<String> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(std::time::Instant::now())?;
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with(prefix) => return Some(l),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }
}
