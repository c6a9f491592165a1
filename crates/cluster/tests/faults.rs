//! Faults: a node process killed with SIGKILL over and over while it writes, and PostgreSQL
//! stopped and started under load.

mod common;

use chroma_types::{AddRequest, ChromaApi, CreateCollection, DeleteRequest, ErrorKind, GetRequest};
use chroma_types::{DEFAULT_DATABASE as D, DEFAULT_TENANT as T};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The node process of `killed_nodes_lose_no_acknowledged_write`: started by that test (this
/// same test binary, with `CHROMA_RS_CLUSTER_CHILD` set), it adds records and deletes some,
/// printing each acknowledged change, until it is killed.
#[test]
fn child_writer_node() {
    let (Ok(url), Ok(tag)) = (std::env::var("CHROMA_RS_CLUSTER_CHILD"), std::env::var("CHROMA_RS_CLUSTER_TAG")) else {
        return;
    };
    let node = common::node(&url);
    let coll = node.get_collection(T, D, "killed").unwrap();
    let mut n = 0usize;
    loop {
        let ids: Vec<String> = (0..4).map(|k| format!("{tag}-{n}-{k}")).collect();
        let embs = (0..4).map(|k| vec![n as f32, k as f32]).collect();
        node.add(coll.id, AddRequest::new(ids.clone(), embs)).unwrap();
        println!("ADD {}", ids.join(" "));
        if n % 3 == 2 {
            // Deletes two ids that an earlier acknowledged add wrote.
            let del: Vec<String> = (0..2).map(|k| format!("{tag}-{}-{k}", n - 1)).collect();
            // Announced first: killed before the answer, the delete may or may not have committed.
            println!("DELETING {}", del.join(" "));
            node.delete(coll.id, DeleteRequest { ids: Some(del.clone()), ..Default::default() }).unwrap();
            println!("DEL {}", del.join(" "));
        }
        n += 1;
    }
}

#[test]
fn killed_nodes_lose_no_acknowledged_write() {
    let Some(base) = common::base_url() else { return };
    let url = common::fresh_db(&base, "killed");
    let observer = common::node(&url);
    let coll = observer.create_collection(T, D, CreateCollection::new("killed")).unwrap();
    let exe = std::env::current_exe().unwrap();
    let (mut added, mut deleted, mut maybe_deleted) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    let cycles = 20;
    for cycle in 0..cycles {
        let mut child = Command::new(&exe)
            .args(["--exact", "child_writer_node", "--nocapture", "--test-threads=1"])
            .env("CHROMA_RS_CLUSTER_CHILD", &url)
            .env("CHROMA_RS_CLUSTER_TAG", format!("c{cycle}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // Kill after a varying number of acknowledged lines, at an arbitrary point of the next write.
        let lines_before_kill = 5 + (cycle * 7) % 23;
        let mut reader = BufReader::new(stdout);
        let mut seen = 0;
        let mut line = String::new();
        while seen < lines_before_kill {
            line.clear();
            if reader.read_line(&mut line).unwrap() == 0 {
                break;
            }
            if let Some(rest) = line.strip_prefix("ADD ") {
                added.extend(rest.split_whitespace().map(String::from));
                seen += 1;
            } else if let Some(rest) = line.strip_prefix("DEL ") {
                deleted.extend(rest.split_whitespace().map(String::from));
                seen += 1;
            } else if let Some(rest) = line.strip_prefix("DELETING ") {
                maybe_deleted.extend(rest.split_whitespace().map(String::from));
            }
        }
        std::thread::sleep(Duration::from_millis((cycle as u64 * 13) % 40));
        child.kill().unwrap(); // SIGKILL
                               // Lines written before the kill are acknowledged writes too.
        let _ = child.wait();
        for line in reader.lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("ADD ") {
                added.extend(rest.split_whitespace().map(String::from));
            } else if let Some(rest) = line.strip_prefix("DEL ") {
                deleted.extend(rest.split_whitespace().map(String::from));
            } else if let Some(rest) = line.strip_prefix("DELETING ") {
                maybe_deleted.extend(rest.split_whitespace().map(String::from));
            }
        }
        assert!(seen > 0, "cycle {cycle}: the node acknowledged nothing");
    }
    // A write whose COMMIT reached PostgreSQL just before its node was killed still commits
    // (unacknowledged, so either outcome is right); let such stragglers land before comparing.
    std::thread::sleep(Duration::from_secs(1));
    let present: BTreeSet<String> = observer.get(coll.id, GetRequest::default()).unwrap().ids.into_iter().collect();
    let late = common::node(&url);
    let present_late: BTreeSet<String> = late.get(coll.id, GetRequest::default()).unwrap().ids.into_iter().collect();
    assert_eq!(present, present_late);
    for id in &added {
        if !maybe_deleted.contains(id) {
            assert!(present.contains(id), "acknowledged add of {id} lost");
        }
    }
    for id in &deleted {
        assert!(!present.contains(id), "acknowledged delete of {id} undone");
    }
    eprintln!(
        "{cycles} kills: {} acknowledged adds, {} acknowledged deletes, {} present",
        added.len(),
        deleted.len(),
        present.len()
    );
}

fn script() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/fixtures/start-postgres.sh")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts (or restarts) the private PostgreSQL of `postgres_restart_under_load`.
fn pg(dir: &std::path::Path, port: u16, stop: bool) {
    let mut cmd = Command::new("bash");
    cmd.arg(script());
    if stop {
        cmd.arg("stop");
    }
    let out = cmd.env("PG_DIR", dir).env("PG_PORT", port.to_string()).stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "start-postgres.sh: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn postgres_restart_under_load() {
    if common::base_url().is_none() {
        return;
    }
    // Its own PostgreSQL: stopping the shared one would fail the other tests.
    let dir = tempfile::Builder::new().prefix("chroma-cluster-pg").tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let port = free_port();
    pg(dir.path(), port, false);
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let mut o = chroma_cluster::ClusterOptions::new(&url);
    o.timeout = Duration::from_secs(2);
    let node = chroma_cluster::Cluster::open(o).unwrap();
    let coll = node.create_collection(T, D, CreateCollection::new("restart")).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let acked = std::sync::Mutex::new(Vec::new());
    let errors = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let id = format!("w{n}");
                let t = Instant::now();
                match node.add(coll.id, AddRequest::new(vec![id.clone()], vec![vec![n as f32, 1.0]])) {
                    Ok(()) => acked.lock().unwrap().push(id),
                    Err(e) => {
                        errors.lock().unwrap().push((e.kind, e.message.clone(), t.elapsed()));
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
                n += 1;
            }
        });
        std::thread::sleep(Duration::from_millis(500));
        pg(dir.path(), port, true);
        // While it is down: reads and writes fail fast with a clear error.
        let t = Instant::now();
        let e = node.count(coll.id).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unavailable, "{e}");
        assert!(e.message.contains("PostgreSQL"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        assert_eq!(node.heartbeat().unwrap_err().kind, ErrorKind::Unavailable);
        std::thread::sleep(Duration::from_millis(500));
        pg(dir.path(), port, false);
        // Recovery by itself: writes are acknowledged again within a few seconds.
        let before = acked.lock().unwrap().len();
        let t = Instant::now();
        while acked.lock().unwrap().len() < before + 20 {
            assert!(t.elapsed() < Duration::from_secs(20), "no recovery after PostgreSQL came back");
            std::thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let errors = errors.into_inner().unwrap();
    assert!(!errors.is_empty(), "the outage was not noticed");
    for (kind, msg, took) in &errors {
        assert_eq!(*kind, ErrorKind::Unavailable, "{msg}");
        assert!(msg.contains("PostgreSQL"), "{msg}");
        assert!(*took < Duration::from_secs(5), "{msg} after {took:?}");
    }
    // Nothing acknowledged is lost, through this node and a fresh one.
    let acked: BTreeSet<String> = acked.into_inner().unwrap().into_iter().collect();
    let fresh = common::node(&url);
    for api in [&node as &dyn ChromaApi, &fresh] {
        let present: BTreeSet<String> = api.get(coll.id, GetRequest::default()).unwrap().ids.into_iter().collect();
        assert!(acked.is_subset(&present), "{} acknowledged writes missing", acked.difference(&present).count());
    }
    pg(dir.path(), port, true);
}
