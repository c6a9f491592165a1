//! Deleting a collection whose files cannot be removed (a read-only folder) still deletes it:
//! the rows go, the call succeeds, and the folder left behind is removed on a later open.

#![cfg(unix)]

use chroma_store::{folder, Engine};
use chroma_types::{AddRequest, ChromaApi, CreateCollection, ErrorKind, Settings, DEFAULT_DATABASE, DEFAULT_TENANT};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const T: &str = DEFAULT_TENANT;
const D: &str = DEFAULT_DATABASE;

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Whether a read-only folder really refuses changes (not when running as root).
fn read_only_is_enforced(dir: &Path) -> bool {
    let probe = dir.join("probe");
    let refused = std::fs::write(&probe, b"x").is_err();
    let _ = std::fs::remove_file(&probe);
    refused
}

#[test]
fn a_collection_whose_files_cannot_be_removed_is_deleted_and_its_folder_swept_later() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let e = Engine::open(root, Settings::default()).unwrap();
    let c = e.create_collection(T, D, CreateCollection::new("doomed")).unwrap();
    e.add(c.id, AddRequest::new(vec!["a".into(), "b".into()], vec![vec![1.0, 2.0], vec![3.0, 4.0]])).unwrap();
    e.flush().unwrap();
    let keep = e.create_collection(T, D, CreateCollection::new("kept")).unwrap();
    e.add(keep.id, AddRequest::new(vec!["k".into()], vec![vec![1.0, 0.0]])).unwrap();
    let dir = folder::collection_dir(root, &c.id);
    assert!(dir.is_dir());

    chmod(&dir, 0o555);
    let enforced = read_only_is_enforced(&dir);
    e.delete_collection(T, D, "doomed").expect("the delete succeeds even if the files stay");
    assert_eq!(e.get_collection(T, D, "doomed").unwrap_err().kind, ErrorKind::NotFound);
    assert_eq!(e.get_collection_by_id(c.id).unwrap_err().kind, ErrorKind::NotFound);
    if enforced {
        assert!(dir.is_dir(), "the read-only folder is still there");
    } else {
        eprintln!("running as root: chmod does not stop the removal; checking the outcome only");
    }
    // The name can be used again at once.
    let again = e.create_collection(T, D, CreateCollection::new("doomed")).unwrap();
    e.add(again.id, AddRequest::new(vec!["z".into()], vec![vec![5.0, 5.0]])).unwrap();
    drop(e);

    // Still read-only: the open succeeds and leaves it (a warning is logged).
    let e = Engine::open(root, Settings::default()).unwrap();
    assert_eq!(e.count(again.id).unwrap(), 1);
    drop(e);
    if enforced {
        assert!(dir.is_dir());
    }

    // Writable again: the next open removes it, and nothing else. (Also a folder left by a
    // crash between the delete's commit and its file removal, made by hand here: this part
    // runs even as root.)
    if dir.exists() {
        chmod(&dir, 0o755);
    }
    let crashed = folder::collection_dir(root, &uuid::Uuid::new_v4());
    std::fs::create_dir_all(&crashed).unwrap();
    std::fs::write(crashed.join("vectors-0.f32"), [0u8; 16]).unwrap();
    let not_ours = root.join("collections").join("notes");
    std::fs::create_dir_all(&not_ours).unwrap();
    let e = Engine::open(root, Settings::default()).unwrap();
    assert!(!dir.exists(), "the orphan folder is swept on open");
    assert!(!crashed.exists(), "the orphan folder is swept on open");
    assert!(not_ours.is_dir(), "a folder that is not a collection's is left alone");
    assert!(folder::collection_dir(root, &keep.id).is_dir());
    assert!(folder::collection_dir(root, &again.id).is_dir());
    assert_eq!(e.count(keep.id).unwrap(), 1);
    assert_eq!(e.count(again.id).unwrap(), 1);
}
