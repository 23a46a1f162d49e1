//! Flushing (writes), syncing (fdatasync) and sealing, serialised by the log's I/O token.
//! Whoever holds the token does the I/O for everyone waiting: one flush or one fdatasync covers
//! every append made before it started (group commit).

use std::time::{Duration, Instant};

use futures::future::try_join4;

use super::PartitionLog;
use crate::error::{io_at, EngineError, Result};
use crate::segment::FlushWrites;
use strata_runtime::{self as rt, SharedFile};

async fn write_opt(
    file: Option<&SharedFile>,
    w: Option<(u64, rt::BlockBuf)>,
) -> std::io::Result<()> {
    match (file, w) {
        (Some(f), Some((pos, buf))) => f.write_buf(pos, buf).await,
        _ => Ok(()),
    }
}

async fn perform(w: &mut FlushWrites) -> Result<()> {
    let main = write_opt(Some(&w.file), w.full_blocks.take());
    let tail = write_opt(w.tail_file.as_ref(), w.tail_slot.take());
    let (index_file, index_write) = match w.index.take() {
        Some((f, pos, buf)) => (Some(f), Some((pos, buf))),
        None => (None, None),
    };
    let (time_file, time_write) = match w.time_index.take() {
        Some((f, pos, buf)) => (Some(f), Some((pos, buf))),
        None => (None, None),
    };
    let index = write_opt(index_file.as_ref(), index_write);
    let time = write_opt(time_file.as_ref(), time_write);
    try_join4(main, tail, index, time)
        .await
        .map(|_| ())
        .map_err(|e| EngineError::io("write", w.file.path(), e))
}

/// The engine's stages in the shard's timings (`strata_runtime::timings`).
mod stage {
    /// From the oldest append a flush covers to the flush's writes being submitted: waiting
    /// for the flush policy, the I/O token (a flush or sync already running) and the executor.
    pub const FLUSH_QUEUED: &str = "engine.flush_queued";
    /// A flush's writes (log blocks, tail slot, index blocks), submitted to all completed.
    pub const FLUSH_WRITE: &str = "engine.flush_write";
    /// One fdatasync round of the active segment and its tail file.
    pub const SYNC: &str = "engine.fdatasync";
    /// Allocating the active `.log` ahead of its writes (fallocate).
    pub const PREALLOCATE: &str = "engine.preallocate";
}

/// A running fdatasync: when it ends (also when its task is cancelled), the next may begin;
/// only `succeeded` makes its image the synced one and moves the durable end.
struct RunningSync<'a> {
    log: &'a PartitionLog,
    /// The active segment it syncs, and the tail slot of the image it makes durable.
    base: i64,
    slot: Option<u64>,
}

impl RunningSync<'_> {
    fn succeeded(mut self, covers: i64) {
        self.end(Some(covers));
    }

    fn end(&mut self, covers: Option<i64>) {
        let mut st = self.log.shared.state.borrow_mut();
        if !st.sync_running {
            return;
        }
        st.sync_running = false;
        if let Some(covers) = covers {
            // A seal (which waits for this sync) may already have made more durable.
            st.durable_next = st.durable_next.max(covers);
            st.syncs += 1;
        }
        let a = st.active_mut();
        if a.base_offset == self.base {
            if let (Some(t), Some(slot)) = (a.active.as_mut(), self.slot) {
                t.slots.end_sync(slot, covers.is_some());
            }
        }
        drop(st);
        self.log.shared.sync_done.notify_all();
    }
}

impl Drop for RunningSync<'_> {
    fn drop(&mut self) {
        self.end(None);
    }
}

pub(super) struct IoGuard<'a> {
    log: &'a PartitionLog,
}

impl Drop for IoGuard<'_> {
    fn drop(&mut self) {
        self.log.release_io();
    }
}

impl PartitionLog {
    /// Takes the log's I/O token; it is given back when the guard drops, also when the task
    /// holding it is cancelled half-way (its writes are then simply done again by the next one).
    pub(super) async fn acquire_io(&self) -> IoGuard<'_> {
        loop {
            let wait = {
                let mut st = self.shared.state.borrow_mut();
                if !st.io_busy {
                    st.io_busy = true;
                    return IoGuard { log: self };
                }
                self.shared.io_done.listen()
            };
            wait.await;
        }
    }

    fn release_io(&self) {
        self.shared.state.borrow_mut().io_busy = false;
        self.shared.io_done.notify_all();
    }

    /// Puts the log in the failed state: what is in memory may no longer match the disk.
    pub(super) fn fail(&self, e: &EngineError) {
        tracing::error!(log = %self.shared.dir.display(), "log failed: {e}");
        self.shared.state.borrow_mut().failed = Some((e.to_string(), e.is_disk_full()));
        self.shared.written.notify_all();
    }

    /// Writes what the active segment holds beyond what is on disk. Needs the I/O token.
    pub(super) async fn flush_locked(&self) -> Result<()> {
        self.check_failed()?;
        let (w, appended_at) = {
            let mut st = self.shared.state.borrow_mut();
            let w = st.active_mut().prepare_flush(false);
            (w, st.unflushed_since.take())
        };
        let Some(mut w) = w else {
            return Ok(());
        };
        self.allocate_ahead(rt::align_down(w.covers_bytes)).await;
        let submitted = Instant::now();
        if let Some(at) = appended_at {
            rt::timings::record(stage::FLUSH_QUEUED, submitted - at);
        }
        if let Err(e) = perform(&mut w).await {
            self.fail(&e);
            return Err(e);
        }
        let done = Instant::now();
        rt::timings::record(stage::FLUSH_WRITE, done - submitted);
        let mut st = self.shared.state.borrow_mut();
        st.active_mut().complete_flush(&w);
        st.written_next = w.covers_next_offset;
        st.written_at = Some(done);
        drop(st);
        self.shared.written.notify_all();
        Ok(())
    }

    /// Makes the active `.log` allocated past `whole_end` (its whole blocks after this flush),
    /// `preallocate_bytes` at a time and not past the segment's size, so that the flush's
    /// writes are overwrites. A refusal (no space, a filesystem without fallocate) only costs
    /// speed: the writes extend the file as they would without it.
    async fn allocate_ahead(&self, whole_end: u64) {
        let config = self.shared.config.get();
        let (file, allocated) = {
            let st = self.shared.state.borrow();
            let a = st.active();
            match (&a.file, &a.active) {
                (Some(f), Some(t)) => (f.clone(), t.allocated_bytes),
                _ => return,
            }
        };
        if config.preallocate_bytes == 0 || whole_end <= allocated {
            return;
        }
        let target = (allocated + config.preallocate_bytes)
            .min(rt::align_up(config.segment_bytes))
            .max(rt::align_up(whole_end));
        let started = Instant::now();
        let allocated_now = file.preallocate(target).await;
        rt::timings::record_since(stage::PREALLOCATE, started);
        let got = match allocated_now {
            Ok(()) => target,
            Err(e) => {
                tracing::warn!(
                    file = %file.path().display(),
                    "preallocating {target} bytes: {e}; this segment's writes extend it instead"
                );
                u64::MAX
            }
        };
        let mut st = self.shared.state.borrow_mut();
        if let Some(t) = st.active_mut().active.as_mut() {
            t.allocated_bytes = got;
        }
    }

    /// Writes everything appended so far.
    pub async fn flush(&self) -> Result<()> {
        let io = self.acquire_io().await;
        let r = self.flush_locked().await;
        drop(io);
        r
    }

    /// Arranges the flush that the policy asks for after an append.
    pub(super) fn schedule_flush(&self) {
        let policy = self.shared.config.get().flush;
        let (flush_now, arm_timer) = {
            let mut st = self.shared.state.borrow_mut();
            if st.flush_scheduled {
                return;
            }
            let active = st.active();
            let dirty = active.size_bytes - active.written_bytes;
            if policy.immediate() || dirty >= policy.max_unflushed_bytes {
                st.flush_scheduled = true;
                (true, false)
            } else {
                (false, !std::mem::replace(&mut st.timer_armed, true))
            }
        };
        // Spawned tasks may start running at once: no state borrow may be held here.
        let log = self.clone();
        if flush_now {
            rt::spawn_detached(async move { log.flush_task().await });
        } else if arm_timer {
            rt::spawn_detached(async move {
                rt::sleep(Duration::from_millis(policy.max_delay_ms)).await;
                let run = {
                    let mut st = log.shared.state.borrow_mut();
                    st.timer_armed = false;
                    !std::mem::replace(&mut st.flush_scheduled, true)
                };
                if run {
                    log.flush_task().await;
                }
            });
        }
    }

    async fn flush_task(&self) {
        // Let the other tasks that are ready append first, so that one write covers them all.
        rt::yield_now().await;
        let io = self.acquire_io().await;
        // Appends from here on schedule another flush, which will wait for this one.
        self.shared.state.borrow_mut().flush_scheduled = false;
        // An error has failed the log and woken every waiter; nothing more to do with it here.
        let _ = self.flush_locked().await;
        drop(io);
    }

    /// Waits until every batch below `next_offset` is written to disk (not necessarily durable).
    pub async fn wait_written(&self, next_offset: i64) -> Result<()> {
        loop {
            self.check_failed()?;
            let wait = {
                let st = self.shared.state.borrow();
                if st.written_next >= next_offset {
                    return Ok(());
                }
                self.shared.written.listen()
            };
            wait.await;
        }
    }

    /// Waits until every batch below `next_offset` is durable: written and fdatasync'ed. Many
    /// callers share one fdatasync, and flushes go on while it runs: only its own flush holds
    /// the I/O token.
    pub async fn wait_durable(&self, next_offset: i64) -> Result<()> {
        loop {
            self.check_failed()?;
            if self.shared.state.borrow().durable_next >= next_offset {
                return Ok(());
            }
            // Before leading a sync, let the tasks just woken by the last one append: then this
            // sync covers them too. Without it, one task that re-appends at once keeps winning
            // the token and every fdatasync covers a single append.
            rt::yield_now().await;
            // One sync at a time; a running one may cover this offset, or the next will.
            self.wait_no_sync().await;
            let io = self.acquire_io().await;
            let (covered, running) = {
                let st = self.shared.state.borrow();
                (st.durable_next >= next_offset, st.sync_running)
            };
            if covered {
                return Ok(());
            }
            if running {
                continue;
            }
            self.flush_and_sync(io).await?;
        }
    }

    /// Makes everything appended so far durable.
    pub async fn sync(&self) -> Result<()> {
        let end = self.log_end_offset();
        self.wait_durable(end).await
    }

    /// Waits until no fdatasync runs.
    pub(super) async fn wait_no_sync(&self) {
        loop {
            let wait = {
                if !self.shared.state.borrow().sync_running {
                    return;
                }
                self.shared.sync_done.listen()
            };
            wait.await;
        }
    }

    /// Flushes and syncs everything written so far, with the I/O token held throughout (a
    /// truncation's first step).
    pub(super) async fn sync_locked(&self) -> Result<()> {
        self.wait_no_sync().await;
        self.flush_locked().await?;
        self.sync_written().await
    }

    /// Flushes under `io`, then gives the token back and fdatasyncs what that flush and the
    /// ones before it wrote, while later flushes write on (they keep off the tail slot being
    /// synced: `TailSlots::begin_sync`).
    async fn flush_and_sync(&self, io: IoGuard<'_>) -> Result<()> {
        self.flush_locked().await?;
        let sync = self.sync_written();
        drop(io);
        sync.await
    }

    /// fdatasyncs the active segment's `.log` and tail file: everything written before it
    /// began becomes durable. The caller has made sure that no other sync runs.
    fn sync_written(&self) -> impl std::future::Future<Output = Result<()>> + '_ {
        // Taken now, before the caller lets go of the I/O token: what is written at this
        // moment is what the fdatasync covers.
        let begun = {
            let mut st = self.shared.state.borrow_mut();
            debug_assert!(!st.sync_running, "one sync at a time");
            let covers = st.written_next;
            let a = st.active_mut();
            let base = a.base_offset;
            // No open file: the last segment was sealed (a roll that could not create the
            // next segment), and a seal syncs everything.
            match a.file.clone() {
                None => None,
                Some(file) => {
                    let tail = a
                        .active
                        .as_mut()
                        .map(|t| (t.tail_file.clone(), t.slots.begin_sync()));
                    st.sync_running = true;
                    let running = RunningSync {
                        log: self,
                        base,
                        slot: tail.as_ref().map(|t| t.1),
                    };
                    Some((file, tail, covers, running))
                }
            }
        };
        async move {
            let Some((file, tail, covers, running)) = begun else {
                return Ok(());
            };
            let tail_sync = async {
                match &tail {
                    Some((t, _)) => t.sync().await,
                    None => Ok(()),
                }
            };
            let started = Instant::now();
            let synced = futures::future::try_join(file.sync(), tail_sync).await;
            rt::timings::record_since(stage::SYNC, started);
            if let Err(e) = synced {
                drop(running);
                let e = EngineError::io("fdatasync", file.path(), e);
                self.fail(&e);
                return Err(e);
            }
            running.succeeded(covers);
            Ok(())
        }
    }

    /// Writes the active segment out whole (final block in place, every index entry), syncs it,
    /// cuts the file to its exact size and removes its tail file. Needs the I/O token.
    pub(super) async fn seal_active_locked(&self) -> Result<()> {
        // A sync running meanwhile ends first: it works on this segment's files and slots.
        self.wait_no_sync().await;
        self.flush_locked().await?;
        let w = {
            let mut st = self.shared.state.borrow_mut();
            let a = st.active_mut();
            let last_rel = (a.next_offset - 1 - a.base_offset) as u32;
            if a.next_offset > a.base_offset {
                a.push_time_entry(last_rel);
            }
            a.prepare_flush(true)
        };
        let Some(mut w) = w else { return Ok(()) };
        let (index_file, time_file) = {
            let st = self.shared.state.borrow();
            let tail = st.active().active.as_ref();
            match tail {
                Some(t) => (t.index_file.clone(), t.time_index_file.clone()),
                None => return Ok(()),
            }
        };
        let r: Result<()> = async {
            perform(&mut w).await?;
            w.file
                .truncate(w.covers_bytes)
                .await
                .map_err(io_at("truncate", w.file.path()))?;
            w.file
                .sync()
                .await
                .map_err(io_at("fdatasync", w.file.path()))?;
            index_file
                .sync()
                .await
                .map_err(io_at("fdatasync", index_file.path()))?;
            time_file
                .sync()
                .await
                .map_err(io_at("fdatasync", time_file.path()))?;
            Ok(())
        }
        .await;
        if let Err(e) = r {
            self.fail(&e);
            return Err(e);
        }
        let tail_path = {
            let mut st = self.shared.state.borrow_mut();
            let a = st.active_mut();
            a.complete_flush(&w);
            a.active = None;
            if let Some(file) = a.file.take() {
                self.shared.caches.sealed_files.keep(&a.paths.log, file);
            }
            let p = a.paths.tail.clone();
            st.written_next = w.covers_next_offset;
            st.durable_next = w.covers_next_offset;
            p
        };
        // The .log now holds every byte; the tail file only repeats them.
        rt::fs::remove_file(&tail_path)
            .await
            .map_err(|e| EngineError::io("remove", &tail_path, e))?;
        self.shared.written.notify_all();
        Ok(())
    }
}
