//! chroma-rs nodes over PostgreSQL (`chroma-rs run --storage postgres://…`).
//!
//! PostgreSQL is the system of record: the catalog, every record, and a per-collection change
//! log whose positions are gap-free and in commit order (each write locks its collection's row
//! `FOR UPDATE`, so the writes of one collection commit one after another, from any node).
//! A node keeps nothing durable: it holds a derived cache per collection, a chroma-store
//! [`Engine`] (in memory, or under `--cache-path`), loaded from `chroma_records` on first use
//! and advanced by replaying `chroma_log`. A write runs in one PostgreSQL transaction: lock the
//! collection, catch the cache up, apply the request to the cache (which validates it and
//! resolves it: a delete by filter becomes the ids it removed), write the records it touched
//! and its log entry, commit, then answer. If the commit fails, the cache (which may hold
//! the uncommitted change) is dropped and reloaded on next use. A read first catches the cache
//! up to the log position committed when it began (read your writes across nodes).
//! See `docs/scale-out.md`.

mod cache;
mod catalog;
mod graphs;
mod log;
mod pg;
mod queue;

pub use pg::schema_version;

use cache::Cache;
use catalog::CollRow;
use chroma_store::Engine;
use chroma_types::search::{ReadLevel, SearchRequest, SearchResult};
use chroma_types::{
    AddRequest, ChromaApi, Collection, CreateCollection, Database, DeleteRequest, GetRequest, GetResult,
    IndexingStatus, QueryRequest, QueryResult, Result, Settings, Tenant, UpdateCollection, UpdateRequest,
};
use log::Op;
use pg::{pg_err, Conn, Pool};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// How long change-log entries are kept by default: far longer than a warm cache (kept close
/// by LISTEN/NOTIFY) or a write's catch-up ever lags, short enough that the log stays a small
/// fraction of the records.
pub const DEFAULT_LOG_RETENTION: Duration = Duration::from_secs(600);

/// How a node reaches PostgreSQL and keeps its caches.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// `postgres://USER@HOST:PORT/DB` (libpq's URL or key=value form).
    pub url: String,
    /// A folder for the caches (emptied at start); `None` keeps them in memory.
    pub cache_path: Option<PathBuf>,
    /// Caches beyond this many bytes (estimated) are evicted, least recently used first.
    pub cache_bytes: Option<u64>,
    /// The engine settings (batch size, reset allowed…).
    pub settings: Settings,
    /// Connections to PostgreSQL at most.
    pub pool_size: usize,
    /// Bounds connecting, waiting for a connection and each statement; past it a request
    /// fails with `Unavailable` naming the storage.
    pub timeout: Duration,
    /// Keep warm caches close behind other nodes' writes (LISTEN/NOTIFY).
    pub listen: bool,
    /// Run a read's work on the cache while another thread fetches the collection's row
    /// (see `docs/scale-out.md`, "A read") instead of fetching the row first. It hides the
    /// round trip only when a core is free for the fetch (and PostgreSQL's answer): on the
    /// 2-core benchmark machine, busy with other jobs, it was slower than the row first
    /// (1.30-1.57x against 1.11-1.32x the folder node's query p50), so it is off by default; consider it
    /// when PostgreSQL is across a network and the nodes have idle cores.
    pub read_overlap: bool,
    /// How long a write waits on this node for the writes to the same collection ahead of it
    /// (they queue on the node, then take the collection's row lock in PostgreSQL one at a
    /// time); past it the write fails with `Unavailable`.
    pub write_queue_timeout: Duration,
    /// Change-log entries older than this are pruned (a cache further behind reloads from the
    /// records); `None` keeps the log forever. See `docs/scale-out.md`, "Log pruning".
    pub log_retention: Option<Duration>,
}

impl ClusterOptions {
    /// Defaults for `url`: caches in memory, no byte limit, 32 connections, 5 s timeout,
    /// LISTEN/NOTIFY on, reads fetching the row first, writers queued for up to 30 s on the
    /// node, the log kept for [`DEFAULT_LOG_RETENTION`].
    pub fn new(url: impl Into<String>) -> Self {
        ClusterOptions {
            url: url.into(),
            cache_path: None,
            cache_bytes: None,
            settings: Settings::default(),
            pool_size: 32,
            timeout: Duration::from_secs(5),
            listen: true,
            read_overlap: false,
            write_queue_timeout: Duration::from_secs(30),
            log_retention: Some(DEFAULT_LOG_RETENTION),
        }
    }
}

/// One node: [`ChromaApi`] over PostgreSQL with a derived cache.
pub struct Cluster {
    inner: Arc<Inner>,
    log_retention: Option<Duration>,
}

struct Inner {
    pool: Arc<Pool>,
    cache: Cache,
    settings: Settings,
    read_overlap: AtomicBool,
    writers: queue::Queues,
    write_queue_timeout: Duration,
}

impl Cluster {
    /// Connects, applies the schema migrations (once, under an advisory lock), and opens an
    /// empty cache.
    pub fn open(opts: ClusterOptions) -> Result<Cluster> {
        let pool = Arc::new(Pool::new(&opts.url, opts.pool_size, opts.timeout)?);
        pg::migrate(&mut *pool.get()?)?;
        let mut cache_settings = opts.settings.clone();
        cache_settings.allow_reset = true;
        let engine = match &opts.cache_path {
            Some(dir) => {
                // The cache is derived: whatever a previous run left is stale or damaged.
                if dir.exists() {
                    std::fs::remove_dir_all(dir)
                        .map_err(|e| chroma_types::Error::internal_from(format!("emptying {}", dir.display()), e))?;
                }
                Engine::open(dir, cache_settings)?
            }
            None => Engine::ephemeral(cache_settings)?,
        };
        let cache = Cache::new(engine, opts.cache_bytes, pool.clone());
        let inner = Arc::new(Inner {
            pool,
            cache,
            settings: opts.settings,
            read_overlap: AtomicBool::new(opts.read_overlap),
            writers: queue::Queues::default(),
            write_queue_timeout: opts.write_queue_timeout,
        });
        if opts.listen {
            cache::spawn_listener(Arc::downgrade(&inner));
        }
        if let Some(retention) = opts.log_retention {
            log::spawn_pruner(Arc::downgrade(&inner.pool), retention);
        }
        Ok(Cluster { inner, log_retention: opts.log_retention })
    }

    /// Prunes the change log now (what the node's pruner does every `log_retention / 4`):
    /// the number of entries deleted. Nothing if the log is kept (`log_retention: None`) or
    /// another node is pruning.
    pub fn prune_log(&self) -> Result<u64> {
        self.log_retention.map_or(Ok(0), |r| log::prune(&self.inner.pool, r))
    }

    /// Changes [`ClusterOptions::read_overlap`] on a running node (benchmarks compare both in
    /// one sitting).
    pub fn set_read_overlap(&self, on: bool) {
        self.inner.read_overlap.store(on, Ordering::Relaxed);
    }

    /// Bytes the caches hold (estimated) and how many collections are cached.
    pub fn cache_usage(&self) -> (u64, usize) {
        self.inner.cache.usage()
    }
}

impl Inner {
    /// Runs `f` on the collection's cache, caught up to the position committed when the read
    /// began (read your writes across nodes): the collection's row, fetched after the read
    /// began, names every write acknowledged before it.
    fn read<T>(&self, id: Uuid, f: impl Fn(&Engine) -> Result<T>) -> Result<T> {
        let out = if self.read_overlap.load(Ordering::Relaxed) {
            self.read_overlapped(id, &f)
        } else {
            self.read_in_turn(id, &f)
        };
        self.cache.evict(id);
        out
    }

    /// The round trip first, then the work.
    fn read_in_turn<T>(&self, id: Uuid, f: &impl Fn(&Engine) -> Result<T>) -> Result<T> {
        let mut conn = self.pool.get()?;
        let row = catalog::collection_row_prepared(&mut conn, id)?;
        self.read_synced(id, &row, conn, f)
    }

    /// The round trip on another thread while `f` runs at once on the cache as it is. If the
    /// cache was then already at or past the row's position (same incarnation and
    /// configuration), that answer stands; otherwise it is dropped, the cache catches up, and
    /// `f` runs again.
    fn read_overlapped<T>(&self, id: Uuid, f: &impl Fn(&Engine) -> Result<T>) -> Result<T> {
        std::thread::scope(|s| {
            let lookup = std::thread::Builder::new().name("chroma-cluster-row".into()).spawn_scoped(
                s,
                || -> Result<(CollRow, Conn<'_>)> {
                    let mut conn = self.pool.get()?;
                    let row = catalog::collection_row_prepared(&mut conn, id)?;
                    Ok((row, conn))
                },
            );
            let Ok(lookup) = lookup else { return self.read_in_turn(id, f) };
            let early = self.cache.as_is(id, f);
            let (row, conn) = lookup
                .join()
                .unwrap_or_else(|_| Err(chroma_types::Error::internal("the row lookup thread panicked")))?;
            match early {
                Some((seen, out)) if seen.covers(&row) => out,
                _ => self.read_synced(id, &row, conn, f),
            }
        })
    }

    /// Runs `f` on the collection's cache once it is caught up to `row`'s position.
    fn read_synced<T>(
        &self,
        id: Uuid,
        row: &CollRow,
        mut conn: Conn<'_>,
        f: impl Fn(&Engine) -> Result<T>,
    ) -> Result<T> {
        let guard = self.cache.synced(id, row, &mut *conn)?;
        drop(conn);
        let out = f(self.cache.engine());
        drop(guard);
        out
    }

    /// One write: locks the collection's row, catches the cache up, applies `apply` to the
    /// cache, writes the touched records and the log entry, commits.
    fn write<T>(&self, id: Uuid, apply: impl FnOnce(&Engine) -> Result<(T, Op)>) -> Result<T> {
        let turn = self.writers.turn(id, self.write_queue_timeout)?;
        let mut conn = self.pool.get()?;
        // A cold cache loads before the row lock is taken, so writers on other nodes do not
        // queue behind a load from `chroma_records`; under the lock only what committed
        // meanwhile is replayed from the log.
        if !self.cache.is_loaded(id) {
            let row = catalog::collection_row_prepared(&mut conn, id)?;
            drop(self.cache.synced(id, &row, &mut *conn)?);
        }
        let mut tx = conn.transaction().map_err(|e| pg_err("starting a write", e))?;
        // Writers on other nodes hold the collection's row lock in turn: waiting for it is a
        // queue, not a fault, so this transaction may wait longer than the pool's 5 s (still
        // under the request's queue timeout). A node frozen inside a write is ended by
        // PostgreSQL after a minute (idle_in_transaction_session_timeout).
        tx.batch_execute(WRITE_TIMEOUTS).map_err(|e| pg_err("starting a write", e))?;
        let row = catalog::collection_row(&mut tx, id, true)?;
        let out = self.cache.write(id, &row, tx, apply)?;
        drop(conn);
        drop(turn);
        self.cache.evict(id);
        Ok(out)
    }
}

/// The lock and statement timeouts of a write transaction.
const WRITE_TIMEOUTS: &str = "SET LOCAL lock_timeout = 25000; SET LOCAL statement_timeout = 25000";

impl ChromaApi for Cluster {
    fn heartbeat(&self) -> Result<u128> {
        // A node whose storage is down is not healthy: load balancers see it here.
        self.inner.pool.get()?.simple_query("SELECT 1").map_err(|e| pg_err("checking the storage", e))?;
        Ok(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()))
    }

    fn version(&self) -> Result<String> {
        Ok(chroma_types::VERSION.to_string())
    }

    fn max_batch_size(&self) -> Result<usize> {
        Ok(self.inner.settings.max_batch_size)
    }

    fn reset(&self) -> Result<()> {
        if !self.inner.settings.allow_reset {
            return Err(chroma_types::Error::new(
                chroma_types::ErrorKind::Forbidden,
                "Resetting is not allowed by this configuration (set ALLOW_RESET=TRUE, or Settings { allow_reset: true, .. })",
            ));
        }
        // TRUNCATE takes every table's lock; a write or prune on another node can make that a
        // deadlock, which PostgreSQL breaks by failing one side. A reset is idempotent: retry.
        let mut tries = 0;
        loop {
            let mut conn = self.inner.pool.get()?;
            let done = conn.transaction().map_err(|e| pg_err("resetting", e)).and_then(|mut tx| {
                catalog::reset(&mut tx)?;
                tx.commit().map_err(|e| pg_err("resetting", e))
            });
            match done {
                Ok(()) => break,
                Err(e) if e.kind == chroma_types::ErrorKind::Unavailable && tries < 4 => {
                    tries += 1;
                    drop(conn);
                    std::thread::sleep(std::time::Duration::from_millis(50 * tries));
                }
                Err(e) => return Err(e),
            }
        }
        self.inner.cache.clear();
        Ok(())
    }

    fn create_tenant(&self, name: &str) -> Result<()> {
        catalog::create_tenant(&mut *self.inner.pool.get()?, name)
    }

    fn get_tenant(&self, name: &str) -> Result<Tenant> {
        catalog::tenant(&mut *self.inner.pool.get()?, name)
    }

    fn list_tenants(&self, limit: Option<usize>, offset: usize) -> Result<Vec<Tenant>> {
        catalog::tenants(&mut *self.inner.pool.get()?, limit, offset)
    }

    fn delete_tenant(&self, name: &str) -> Result<()> {
        catalog::delete_tenant(&mut *self.inner.pool.get()?, name)
    }

    fn create_database(&self, tenant: &str, name: &str) -> Result<Database> {
        catalog::create_database(&mut *self.inner.pool.get()?, tenant, name)
    }

    fn get_database(&self, tenant: &str, name: &str) -> Result<Database> {
        catalog::database(&mut *self.inner.pool.get()?, tenant, name)
    }

    fn list_databases(&self, tenant: &str, limit: Option<usize>, offset: usize) -> Result<Vec<Database>> {
        catalog::databases(&mut *self.inner.pool.get()?, tenant, limit, offset)
    }

    fn delete_database(&self, tenant: &str, name: &str) -> Result<()> {
        let mut conn = self.inner.pool.get()?;
        let mut tx = conn.transaction().map_err(|e| pg_err("deleting a database", e))?;
        let ids = catalog::delete_database(&mut tx, tenant, name)?;
        tx.commit().map_err(|e| pg_err("deleting a database", e))?;
        for id in ids {
            self.inner.cache.forget(id);
        }
        Ok(())
    }

    fn create_collection(&self, tenant: &str, database: &str, req: CreateCollection) -> Result<Collection> {
        // A concurrent create of the same name makes a try fail on the unique constraint; the
        // next sees the winner (and returns it for get_or_create). A concurrent delete between
        // the two makes the next try create it again. Bounded: each lost race is another
        // client's completed create or delete.
        for _ in 0..5 {
            let mut conn = self.inner.pool.get()?;
            let mut tx = conn.transaction().map_err(|e| pg_err("creating a collection", e))?;
            if let Some(c) = catalog::create_collection(&mut tx, tenant, database, &req)? {
                tx.commit().map_err(|e| pg_err("creating a collection", e))?;
                return Ok(c);
            }
        }
        Err(chroma_types::Error::exists(format!("Collection {} already exists", req.name)))
    }

    fn get_collection(&self, tenant: &str, database: &str, name: &str) -> Result<Collection> {
        catalog::collection_named(&mut *self.inner.pool.get()?, tenant, database, name)
    }

    fn get_collection_by_id(&self, id: Uuid) -> Result<Collection> {
        Ok(catalog::collection_row_prepared(&mut self.inner.pool.get()?, id)?.coll)
    }

    fn list_collections(
        &self,
        tenant: &str,
        database: &str,
        limit: Option<usize>,
        offset: usize,
    ) -> Result<Vec<Collection>> {
        catalog::collections(&mut *self.inner.pool.get()?, tenant, database, limit, offset)
    }

    fn count_collections(&self, tenant: &str, database: &str) -> Result<usize> {
        catalog::count_collections(&mut *self.inner.pool.get()?, tenant, database)
    }

    fn update_collection(&self, id: Uuid, req: UpdateCollection) -> Result<()> {
        let mut conn = self.inner.pool.get()?;
        let mut tx = conn.transaction().map_err(|e| pg_err("updating a collection", e))?;
        catalog::update_collection(&mut tx, id, req)?;
        tx.commit().map_err(|e| pg_err("updating a collection", e))
    }

    fn delete_collection(&self, tenant: &str, database: &str, name: &str) -> Result<()> {
        let mut conn = self.inner.pool.get()?;
        let mut tx = conn.transaction().map_err(|e| pg_err("deleting a collection", e))?;
        let c = catalog::collection_named(&mut tx, tenant, database, name)?;
        catalog::collection_row(&mut tx, c.id, true)?;
        catalog::drop_collection(&mut tx, c.id)?;
        tx.commit().map_err(|e| pg_err("deleting a collection", e))?;
        self.inner.cache.forget(c.id);
        Ok(())
    }

    fn fork_collection(&self, id: Uuid, new_name: &str) -> Result<Collection> {
        let mut conn = self.inner.pool.get()?;
        let mut tx = conn.transaction().map_err(|e| pg_err("forking a collection", e))?;
        let c = catalog::fork_collection(&mut tx, id, new_name)?;
        tx.commit().map_err(|e| pg_err("forking a collection", e))?;
        Ok(c)
    }

    fn fork_count(&self, id: Uuid) -> Result<usize> {
        catalog::fork_count(&mut *self.inner.pool.get()?, id)
    }

    fn indexing_status(&self, id: Uuid) -> Result<IndexingStatus> {
        self.inner.read(id, |e| e.indexing_status(id))
    }

    fn add(&self, collection: Uuid, req: AddRequest) -> Result<()> {
        self.inner.write(collection, |e| {
            let op = Op::Add(req.clone());
            e.add(collection, req)?;
            Ok(((), op))
        })
    }

    fn upsert(&self, collection: Uuid, req: AddRequest) -> Result<()> {
        self.inner.write(collection, |e| {
            let op = Op::Upsert(req.clone());
            e.upsert(collection, req)?;
            Ok(((), op))
        })
    }

    fn update(&self, collection: Uuid, req: UpdateRequest) -> Result<()> {
        self.inner.write(collection, |e| {
            let op = Op::Update(req.clone());
            e.update(collection, req)?;
            Ok(((), op))
        })
    }

    fn delete(&self, collection: Uuid, req: DeleteRequest) -> Result<Vec<String>> {
        self.inner.write(collection, |e| {
            let ids = e.delete(collection, req)?;
            Ok((ids.clone(), Op::Delete(ids)))
        })
    }

    fn get(&self, collection: Uuid, req: GetRequest) -> Result<GetResult> {
        self.inner.read(collection, |e| e.get(collection, req.clone()))
    }

    fn query(&self, collection: Uuid, req: QueryRequest) -> Result<QueryResult> {
        self.inner.read(collection, |e| e.query(collection, req.clone()))
    }

    fn count(&self, collection: Uuid) -> Result<usize> {
        self.inner.read(collection, |e| e.count(collection))
    }

    fn count_at(&self, collection: Uuid, read_level: ReadLevel) -> Result<usize> {
        // As `search` below: `index_only` counts the cache as it is, if this node holds one.
        if read_level == ReadLevel::IndexOnly {
            if let Some((_, out)) = self.inner.cache.as_is(collection, |e| e.count(collection)) {
                self.inner.cache.evict(collection);
                return out;
            }
        }
        self.count(collection)
    }

    fn search(&self, collection: Uuid, req: SearchRequest) -> Result<SearchResult> {
        // `index_only` (1.x clients) accepts an answer that may miss the latest writes: a
        // cache this node holds serves it as it is, with no PostgreSQL round trip. Without a
        // cache the read loads one like any other. `index_and_bounded_wal` reads everything.
        if req.read_level == ReadLevel::IndexOnly {
            if let Some((_, out)) = self.inner.cache.as_is(collection, |e| e.search(collection, req.clone())) {
                self.inner.cache.evict(collection);
                return out;
            }
        }
        self.inner.read(collection, |e| e.search(collection, req.clone()))
    }
}
