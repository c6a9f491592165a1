//! Writers to one collection wait for their turn on the node before they take a connection
//! and the collection's row lock: PostgreSQL's lock queue for a collection then holds at most
//! one writer per node, so its lock timeout bounds waits behind *other nodes* only, and
//! waiting writers hold no connection.

use chroma_types::{Error, ErrorKind, Result};
use parking_lot::lock_api::ArcMutexGuard;
use parking_lot::{Mutex, RawMutex};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// One lock per collection with writers on this node (dropped when none waits).
#[derive(Default)]
pub struct Queues {
    locks: Mutex<HashMap<Uuid, Arc<Mutex<()>>>>,
}

/// A writer's turn: the collection's lock, held until dropped.
pub struct Turn<'a> {
    queues: &'a Queues,
    id: Uuid,
    guard: Option<ArcMutexGuard<RawMutex, ()>>,
}

impl Queues {
    /// Waits up to `timeout` for collection `id`'s turn.
    pub fn turn(&self, id: Uuid, timeout: Duration) -> Result<Turn<'_>> {
        let lock = self.locks.lock().entry(id).or_default().clone();
        let guard = lock.try_lock_arc_for(timeout);
        // This clone goes first, so that the turn's drop (below on a timeout, else the
        // caller's) sees whether the map's is the last.
        drop(lock);
        let turn = Turn { queues: self, id, guard };
        if turn.guard.is_none() {
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "PostgreSQL storage busy: writes to collection {id} queued on this node for more than {timeout:?}"
                ),
            ));
        }
        Ok(turn)
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut locks = self.queues.locks.lock();
        drop(self.guard.take());
        // Only the map holds the lock now: no writer holds or waits for it.
        if locks.get(&self.id).is_some_and(|l| Arc::strong_count(l) == 1) {
            locks.remove(&self.id);
        }
    }
}
