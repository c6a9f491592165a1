//! One process per data folder: a second process is refused with an error naming the folder
//! and the holder's pid, until the holder exits (cleanly or killed); inside one process the
//! same folder opened twice is one shared engine.
//!
//! The second process is this test binary run again (`lock_holder_child`, which does nothing
//! unless `CHROMA_LOCK_TEST_DIR` is set).

mod support;

use chroma_store::Engine;
use chroma_types::*;
use std::path::Path;
use std::time::Duration;
use support::{say, ChildProc};

const CHILD_ENV: &str = "CHROMA_LOCK_TEST_DIR";
const T: &str = DEFAULT_TENANT;
const D: &str = DEFAULT_DATABASE;

/// Child side: open the folder, write one record, say READY, hold the folder until stdin
/// closes, then close it and say BYE.
#[test]
fn lock_holder_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let e = Engine::open(Path::new(&dir), Settings::default()).unwrap();
    let c = e.create_collection(T, D, CreateCollection::new("shared").get_or_create(true)).unwrap();
    let id = format!("child-{}", std::process::id());
    e.add(c.id, AddRequest::new(vec![id], vec![vec![1.0, 2.0]])).unwrap();
    say(&format!("READY {}", std::process::id()));
    let mut sink = String::new();
    let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut sink);
    drop(e);
    say("BYE");
}

fn spawn_holder(dir: &Path) -> ChildProc {
    let c = ChildProc::spawn("lock_holder_child", &[(CHILD_ENV, dir.display().to_string())]);
    let ready = c.wait_for("READY", Duration::from_secs(60)).expect("the child opens the folder");
    assert_eq!(ready, format!("READY {}", c.child.id()));
    c
}

fn assert_refused(dir: &Path, holder: u32) {
    let canonical = dir.canonicalize().unwrap();
    for attempt in [Engine::open(dir, Settings::default()), Engine::open_at_version(dir, Settings::default(), 1)] {
        let err = attempt.err().expect("a folder held by another process must be refused");
        assert_eq!(err.kind, ErrorKind::Unavailable, "{err}");
        assert!(err.message.contains(&canonical.display().to_string()), "names the folder: {err}");
        assert!(err.message.contains(&format!("process {holder}")), "names the holder's pid {holder}: {err}");
    }
}

fn child_ids(e: &Engine) -> Vec<String> {
    let c = e.get_collection(T, D, "shared").unwrap();
    e.get(c.id, GetRequest::default()).unwrap().ids
}

#[test]
fn second_process_is_refused_until_the_holder_exits() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // the holder exits cleanly
    let mut c = spawn_holder(dir);
    let pid1 = c.child.id();
    assert_refused(dir, pid1);
    assert_refused(dir, pid1); // a refused attempt leaves the holder's lock in place
    drop(c.child.stdin.take());
    assert_eq!(c.wait_for("BYE", Duration::from_secs(60)).as_deref(), Some("BYE"));
    assert!(c.child.wait().unwrap().success());
    {
        let e = Engine::open(dir, Settings::default()).expect("free once the holder exited");
        assert_eq!(child_ids(&e), vec![format!("child-{pid1}")]);
    }
    // the holder is killed (SIGKILL): the OS releases the lock
    let mut c = spawn_holder(dir);
    let pid2 = c.child.id();
    assert_refused(dir, pid2);
    c.child.kill().unwrap();
    c.child.wait().unwrap();
    let e = Engine::open(dir, Settings::default()).expect("free once the holder was killed");
    assert_eq!(child_ids(&e), vec![format!("child-{pid1}"), format!("child-{pid2}")]);
    drop(e);
}

#[test]
fn same_folder_twice_in_one_process_is_shared() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let e1 = Engine::open(&dir, Settings::default()).unwrap();
    let e2 = Engine::open(&dir, Settings::default()).unwrap();
    let c = e1.create_collection(T, D, CreateCollection::new("both")).unwrap();
    e1.add(c.id, AddRequest::new(vec!["a".into()], vec![vec![1.0]])).unwrap();
    assert_eq!(e2.get_collection(T, D, "both").unwrap().id, c.id);
    assert_eq!(e2.count(c.id).unwrap(), 1);
    e2.upsert(c.id, AddRequest::new(vec!["b".into()], vec![vec![2.0]])).unwrap();
    assert_eq!(e1.query(c.id, QueryRequest::new(vec![vec![2.1]], 1)).unwrap().ids, vec![vec!["b".to_string()]]);
    // other spellings of the same folder: `dir/.`, `sub/..`, a symlink
    std::fs::create_dir(dir.join("sub")).unwrap();
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&dir, &link).unwrap();
    for p in [dir.join("."), dir.join("sub").join(".."), link.clone()] {
        let e3 = Engine::open(&p, Settings::default()).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert_eq!(e3.count(c.id).unwrap(), 2, "{}", p.display());
        assert_eq!(e3.path(), e1.path());
    }
    // different settings for an open folder are an error, not a second engine
    let err = Engine::open(&dir, Settings { allow_reset: true, ..Default::default() }).err().unwrap();
    assert!(err.message.contains("different settings"), "{err}");
    // one handle closing does not close the folder for the other
    drop(e1);
    e2.add(c.id, AddRequest::new(vec!["c".into()], vec![vec![3.0]])).unwrap();
    assert_eq!(e2.count(c.id).unwrap(), 3);
    // the last handle closes it: another process can now take it
    drop(e2);
    let mut child = spawn_holder(&dir);
    assert_refused(&dir, child.child.id());
    drop(child.child.stdin.take());
    assert!(child.child.wait().unwrap().success());
    let e = Engine::open(&dir, Settings::default()).unwrap();
    assert_eq!(e.count(c.id).unwrap(), 3);
    assert_eq!(child_ids(&e).len(), 1);
    // ephemeral engines share nothing
    let a = Engine::ephemeral(Settings::default()).unwrap();
    let b = Engine::ephemeral(Settings::default()).unwrap();
    a.create_collection(T, D, CreateCollection::new("only-a")).unwrap();
    assert_eq!(b.count_collections(T, D).unwrap(), 0);
}

/// Threads of one process opening and closing the same folder: a handle that is closing (its
/// drop saves index graphs) must not make a concurrent open fail with "in use by process
/// <this pid>".
#[test]
fn open_and_close_race_in_one_process() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let cid = {
        let e = Engine::open(&dir, Settings::default()).unwrap();
        e.create_collection(T, D, CreateCollection::new("race")).unwrap().id
    };
    let threads: Vec<_> = (0..3)
        .map(|t| {
            let dir = dir.clone();
            std::thread::spawn(move || {
                for i in 0..40 {
                    let e =
                        Engine::open(&dir, Settings::default()).unwrap_or_else(|e| panic!("thread {t} round {i}: {e}"));
                    // a write leaves the graph behind, so closing has work to do
                    e.upsert(cid, AddRequest::new(vec![format!("{t}-{i}")], vec![vec![t as f32, i as f32]])).unwrap();
                    drop(e);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let e = Engine::open(&dir, Settings::default()).unwrap();
    assert_eq!(e.count(cid).unwrap(), 120);
}

/// The same race made likely: one thread drops the last handle (with a graph to save) at the
/// moment another opens the folder.
#[test]
fn open_while_the_last_handle_closes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let cid = {
        let e = Engine::open(&dir, Settings::default()).unwrap();
        e.create_collection(T, D, CreateCollection::new("race")).unwrap().id
    };
    for round in 0..30 {
        let e = Engine::open(&dir, Settings::default()).unwrap();
        let embs: Vec<Vec<f32>> = (0..200).map(|i| vec![round as f32, i as f32, 1.0]).collect();
        e.upsert(cid, AddRequest::new((0..200).map(|i| format!("{round}-{i}")).collect(), embs)).unwrap();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let b2 = barrier.clone();
        let closer = std::thread::spawn(move || {
            b2.wait();
            drop(e);
        });
        barrier.wait();
        let again = Engine::open(&dir, Settings::default()).unwrap_or_else(|e| panic!("round {round}: {e}"));
        closer.join().unwrap();
        assert_eq!(again.count(cid).unwrap(), 200 * (round + 1));
    }
}

/// Deleting (or replacing) `chroma-rs.lock` while the folder is held does not let a second
/// process in: the folder itself is locked too.
#[test]
fn deleting_the_lock_file_does_not_release_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let lock_file = dir.join(chroma_store::folder::LOCK_FILE);
    let mut c = spawn_holder(dir);
    let pid = c.child.id();
    std::fs::remove_file(&lock_file).unwrap();
    for _ in 0..2 {
        let err = Engine::open(dir, Settings::default()).err().expect("the folder is still held");
        assert_eq!(err.kind, ErrorKind::Unavailable, "{err}");
        assert!(err.message.contains("is in use by"), "{err}");
    }
    // A lock file put back by hand (any content) changes nothing either.
    std::fs::write(&lock_file, b"12345").unwrap();
    assert_eq!(Engine::open(dir, Settings::default()).err().map(|e| e.kind), Some(ErrorKind::Unavailable));
    drop(c.child.stdin.take());
    assert_eq!(c.wait_for("BYE", Duration::from_secs(60)).as_deref(), Some("BYE"));
    assert!(c.child.wait().unwrap().success());
    let e = Engine::open(dir, Settings::default()).expect("free once the holder exited");
    assert_eq!(child_ids(&e), vec![format!("child-{pid}")]);
}
