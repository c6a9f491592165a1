//! Opening a store: an in-memory one, or a data folder (checked, locked, migrated). A folder
//! open twice in one process is shared through a registry of open folders.

use super::{Engine, Inner};
use crate::error::ResultExt;
use crate::{folder, schema};
use chroma_types::{Error, ErrorKind, Result, Settings};
use parking_lot::Mutex;
use rusqlite::Connection;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock, Weak};

/// The folders open in this process, by canonical path.
fn registry() -> &'static Mutex<HashMap<PathBuf, Weak<Inner>>> {
    static R: OnceLock<Mutex<HashMap<PathBuf, Weak<Inner>>>> = OnceLock::new();
    R.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Registers `chroma_regexp(pattern, text)`, which `$regex` filters call, and
/// `chroma_contains(text, needle, fold_ascii_case)`, which `$contains` filters call.
fn register_functions(conn: &Connection) -> Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "chroma_contains",
        3,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            crate::budget::check_in_function()?;
            let text = ctx.get_raw(0);
            if text == rusqlite::types::ValueRef::Null {
                return Ok(false);
            }
            let text = text.as_bytes().map_err(|e| rusqlite::Error::UserFunctionError(Box::new(e)))?;
            let needle = ctx.get_raw(1).as_bytes().map_err(|e| rusqlite::Error::UserFunctionError(Box::new(e)))?;
            let fold: bool = ctx.get(2)?;
            // Two-way search (memchr): linear in the text for any needle. Case folding is ASCII only,
            // as SQLite's `lower()` (which the 0.4 dialect's contains used) is.
            Ok(if fold {
                memchr::memmem::find(&text.to_ascii_lowercase(), &needle.to_ascii_lowercase()).is_some()
            } else {
                memchr::memmem::find(text, needle).is_some()
            })
        },
    )
    .context("registering functions")?;
    conn.create_scalar_function("chroma_regexp", 2, FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC, |ctx| {
        thread_local! {
            static CACHE: std::cell::RefCell<HashMap<String, regex::Regex>> = std::cell::RefCell::new(HashMap::new());
        }
        crate::budget::check_in_function()?;
        let pattern: String = ctx.get(0)?;
        let text: Option<String> = ctx.get(1)?;
        let Some(text) = text else { return Ok(false) };
        CACHE.with(|c| {
            let mut c = c.borrow_mut();
            if !c.contains_key(&pattern) {
                // Compiled with the same size limits as at parse time.
                let re = chroma_types::filter::compile_regex(&pattern)
                    .map_err(|e| rusqlite::Error::UserFunctionError(Box::new(e)))?;
                // A filter holds at most MAX_REGEXES patterns of up to 10 MiB compiled each.
                if c.len() >= chroma_types::filter::MAX_REGEXES {
                    c.clear();
                }
                c.insert(pattern.clone(), re);
            }
            Ok(c.get(&pattern).is_some_and(|re| re.is_match(&text)))
        })
    })
    .context("registering functions")
}

/// `SQLite` runs the progress handler every this many virtual-machine steps.
const PROGRESS_STEPS: std::ffi::c_int = 1000;

/// Interrupts any statement of `conn` once the request's [budget](crate::budget) runs out.
fn install_budget_check(conn: &mut Connection) -> Result<()> {
    conn.progress_handler(PROGRESS_STEPS, Some(crate::budget::exhausted)).context("installing the progress handler")
}

/// A read connection of the pool: `query_only`, same cache, busy timeout and functions.
pub(super) fn configure_reader(conn: &mut Connection) -> Result<()> {
    conn.pragma_update(None, "query_only", "ON").context("setting query_only")?;
    conn.pragma_update(None, "cache_size", -65536).context("setting cache size")?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).context("setting busy timeout")?;
    install_budget_check(conn)?;
    register_functions(conn)
}

/// Connection settings: durability (persistent only), foreign keys, busy timeout, functions.
fn configure(conn: &mut Connection, persistent: bool) -> Result<()> {
    if persistent {
        // WAL + synchronous=FULL: a committed transaction survives a crash or power loss.
        conn.pragma_update(None, "journal_mode", "WAL").context("setting WAL mode")?;
        conn.pragma_update(None, "synchronous", "FULL").context("setting synchronous")?;
        // 64 MiB page cache (default 2 MiB): index pages of large collections stay in memory.
        conn.pragma_update(None, "cache_size", -65536).context("setting cache size")?;
    }
    conn.pragma_update(None, "foreign_keys", "ON").context("enabling foreign keys")?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).context("setting busy timeout")?;
    install_budget_check(conn)?;
    register_functions(conn)
}

/// Removes the folders under `collections/` of collections that no longer exist (a delete
/// whose files could not be removed then, or a crash between the two). Best effort.
fn sweep_orphan_folders(root: &Path, conn: &Connection) {
    let Ok(entries) = std::fs::read_dir(root.join("collections")) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(id) = name.to_str().and_then(|n| uuid::Uuid::parse_str(n).ok()) else { continue };
        let exists = conn
            .query_row("SELECT 1 FROM collections WHERE id = ?1", [id.to_string()], |_| Ok(()))
            .map(|()| true)
            .or_else(|e| if matches!(e, rusqlite::Error::QueryReturnedNoRows) { Ok(false) } else { Err(e) });
        if exists.unwrap_or(true) {
            continue;
        }
        let path = entry.path();
        match std::fs::remove_dir_all(&path) {
            Ok(()) => tracing::info!(folder = %path.display(), "removed the files of a deleted collection"),
            Err(e) => {
                tracing::warn!(folder = %path.display(), error = %e, "could not remove the files of a deleted collection");
            }
        }
    }
}

impl Engine {
    /// An in-memory store; everything is gone when the last clone is dropped.
    pub fn ephemeral(settings: Settings) -> Result<Engine> {
        let mut conn = Connection::open_in_memory().context("opening in-memory SQLite")?;
        configure(&mut conn, false)?;
        schema::migrate(&mut conn, schema::current_version())?;
        Ok(Engine {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                readers: None,
                root: None,
                settings,
                colls: Mutex::new(HashMap::new()),
                background_indexing: AtomicBool::new(true),
                sparse_builds: std::sync::atomic::AtomicU64::new(0),
                _lock: None,
            }),
        })
    }

    /// Opens (or creates) a data folder. A folder already open in this process is shared.
    /// Refuses, without touching it, a folder that holds legacy Chroma data, one written by a
    /// newer chroma-rs, or one held by another process.
    pub fn open(path: &Path, settings: Settings) -> Result<Engine> {
        Self::open_migrated_to(path, settings, schema::current_version())
    }

    /// As [`open`](Self::open), applying migrations only up to `version` (for upgrade tests).
    #[cfg(feature = "testing")]
    pub fn open_at_version(path: &Path, settings: Settings, version: i64) -> Result<Engine> {
        Self::open_migrated_to(path, settings, version)
    }

    fn open_migrated_to(path: &Path, settings: Settings, version: i64) -> Result<Engine> {
        let kind = folder::detect(path)?;
        if matches!(kind, folder::FolderKind::Chroma03Parquet | folder::FolderKind::Chroma04Plus) {
            return Err(folder::legacy_error(path, &kind));
        }
        std::fs::create_dir_all(path).with_context(|| format!("creating data folder {}", path.display()))?;
        let canonical = path.canonicalize().with_context(|| format!("resolving {}", path.display()))?;
        let mut reg = registry().lock();
        if let Some(inner) = reg.get(&canonical).and_then(Weak::upgrade) {
            if inner.settings != settings {
                return Err(Error::invalid(format!(
                    "{} is already open in this process with different settings",
                    canonical.display()
                )));
            }
            return Ok(Engine { inner });
        }
        let mut lock = Self::lock_folder(&canonical)?;
        let db_path = canonical.join(folder::DB_FILE);
        let mut conn = Connection::open(&db_path).with_context(|| format!("opening {}", db_path.display()))?;
        configure(&mut conn, true)?;
        schema::migrate(&mut conn, version)?;
        lock.record_owner();
        sweep_orphan_folders(&canonical, &conn);
        let inner = Arc::new(Inner {
            conn: Mutex::new(conn),
            readers: Some(super::pool::ReadPool::new(db_path)),
            root: Some(canonical.clone()),
            settings,
            colls: Mutex::new(HashMap::new()),
            background_indexing: AtomicBool::new(true),
            sparse_builds: std::sync::atomic::AtomicU64::new(0),
            _lock: Some(lock),
        });
        reg.insert(canonical, Arc::downgrade(&inner));
        Ok(Engine { inner })
    }

    /// Takes the folder lock. A handle of this process that is closing the folder holds the
    /// lock until its drop (which saves index graphs) has finished: wait for that instead of
    /// reporting this very process as the holder.
    fn lock_folder(dir: &Path) -> Result<folder::FolderLock> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            match folder::lock(dir) {
                Err(e) if e.kind == ErrorKind::Unavailable && std::time::Instant::now() < deadline => {
                    let holder = std::fs::read_to_string(dir.join(folder::LOCK_FILE)).ok();
                    if holder.and_then(|h| h.trim().parse::<u32>().ok()) != Some(std::process::id()) {
                        return Err(e);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                other => return other,
            }
        }
    }
}
