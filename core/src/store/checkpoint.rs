//! WAL checkpoints off the commit path. A checkpoint copies the WAL's pages into the database file
//! and fsyncs it; done inline it lands in some unlucky visit's commit. On a phone commits come in
//! short bursts (a visit, its edits), so a thread with its own connection runs
//! `PRAGMA wal_checkpoint(PASSIVE)` (which never blocks the writer) once the store has been
//! **quiet** for [`QUIET`]: the WAL then restarts small and the next commit pays no checkpoint.
//! During a long burst the writer keeps SQLite's inline auto-checkpoint at [`BURST_PAGES`]
//! (measured: checkpointing concurrently with commits, or letting the WAL grow, slows every
//! commit's fsync more than an occasional inline checkpoint does). If the thread or its connection
//! cannot start, the writer simply keeps the inline auto-checkpoint.

use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the store must be idle before the background checkpoint runs.
const QUIET: Duration = Duration::from_millis(300);
/// WAL size (pages) at which the writer checkpoints inline anyway (a long burst of commits).
pub(crate) const BURST_PAGES: i64 = 2000;
/// The WAL is truncated to this size when it restarts (about [`BURST_PAGES`] 4 KiB pages, so a
/// restarted WAL reuses its blocks instead of growing the file again: growing costs every commit).
pub(crate) const WAL_SIZE_LIMIT: i64 = 8 * 1024 * 1024;

#[derive(Default)]
struct Shared {
    stop: Mutex<bool>,
    wake: Condvar,
    /// Set by every store operation, cleared by the thread when it has waited a quiet period.
    active: AtomicBool,
}

/// Handle of the checkpoint thread; dropping it stops and joins the thread.
pub(crate) struct Checkpointer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread on its own connection to `path`; `None` if that is not possible.
    pub fn start(path: &Path) -> Option<Checkpointer> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).ok()?;
        conn.execute_batch("PRAGMA synchronous = FULL;").ok()?;
        let shared: Arc<Shared> = Arc::default();
        let theirs = shared.clone();
        let thread = std::thread::Builder::new()
            .name("store-checkpoint".into())
            .spawn(move || run(conn, theirs))
            .ok()?;
        Some(Checkpointer {
            shared,
            thread: Some(thread),
        })
    }

    /// Notes one store operation: one atomic swap; the first operation after a quiet spell also
    /// wakes the thread (which otherwise sleeps without a timer, sparing the phone's battery).
    pub fn tick(&self) {
        if !self.shared.active.swap(true, Ordering::Relaxed) {
            // Under the mutex, so the thread cannot miss the wake-up between its check and its wait.
            let _guard = self.shared.stop.lock().unwrap_or_else(|p| p.into_inner());
            self.shared.wake.notify_one();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        *self.shared.stop.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(conn: Connection, shared: Arc<Shared>) {
    // Whether operations happened since the last checkpoint.
    let mut dirty = false;
    loop {
        let stop = shared.stop.lock().unwrap_or_else(|p| p.into_inner());
        let stop = if dirty {
            // Wait for a quiet period (or stop).
            shared
                .wake
                .wait_timeout_while(stop, QUIET, |stop| !*stop)
                .unwrap_or_else(|p| p.into_inner())
                .0
        } else {
            // Nothing to checkpoint: sleep until the next operation (or stop).
            shared
                .wake
                .wait_while(stop, |stop| !*stop && !shared.active.load(Ordering::Relaxed))
                .unwrap_or_else(|p| p.into_inner())
        };
        if *stop {
            // The writer's close does the final checkpoint.
            return;
        }
        drop(stop);
        if shared.active.swap(false, Ordering::Relaxed) {
            dirty = true; // busy during the last period: wait for a quiet one
            continue;
        }
        if dirty {
            dirty = false;
            // PASSIVE: copies what it can without waiting for (or blocking) the writer.
            if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                tracing::warn!(target: "store", error = %e, "background checkpoint failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_promptly_whether_idle_or_active() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x)")
            .unwrap();
        let idle = Checkpointer::start(&path).unwrap();
        drop(idle); // joins: must not hang on the untimed wait
        let busy = Checkpointer::start(&path).unwrap();
        for _ in 0..3 {
            busy.tick();
        }
        drop(busy);
    }
}
