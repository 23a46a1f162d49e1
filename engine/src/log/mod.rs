//! `PartitionLog`: one partition's append-only log of segments, owned by one shard.
//!
//! All methods run on the owning shard's thread; state lives in a `RefCell` that is never held
//! across an await. Disk I/O (flush, sync, seal) is serialised by an I/O token, which is also what
//! turns many waiters into one flush or one fdatasync (group commit).

mod append;
mod durability;
mod epochs;
mod producer_rebuild;
mod read;
mod read_window;
mod replicated;
mod retention;
mod start_offset;
mod truncate;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::LogConfig;
use crate::error::{EngineError, Result};
use crate::event::Event;
use crate::index_check;
use crate::log_caches::LogCaches;
use crate::pending::PendingBytes;
use crate::recovery::{open_segment, RecoveryReport};
use crate::segment::{ActiveTail, Segment, SegmentPaths};
use crate::tail_slots::TailSlots;
use strata_runtime::{self as rt, DirectFile};

pub use append::Appended;
pub use read::FetchedBatches;
pub use retention::RetentionReport;
pub use truncate::TruncateStep;

static NEXT_LOG_ID: AtomicU64 = AtomicU64::new(1);

/// A handle to a partition log; clones share the log.
#[derive(Clone)]
pub struct PartitionLog {
    shared: Rc<LogShared>,
}

struct LogShared {
    dir: PathBuf,
    /// Changed only by `set_config` (a topic's settings altered while it runs).
    config: Cell<LogConfig>,
    /// The widest gap between index entries any config of this log since it opened allows: reads
    /// of batches indexed under an earlier config must not take its wider gaps for damage.
    read_gap_bytes: Cell<u64>,
    /// Key of this log in the shard's batch cache.
    id: u64,
    caches: LogCaches,
    state: RefCell<LogState>,
    /// Held by an append for its whole course, so that a roll never interleaves with another append.
    append_lock: rt::FifoLock,
    /// Fired when the high watermark moves or the log fails.
    written: Event,
    /// Fired when the I/O token is released.
    io_done: Event,
    /// Notified when an fdatasync ends.
    sync_done: Event,
}

struct LogState {
    /// By base offset; the last one is the active segment.
    segments: BTreeMap<i64, Segment>,
    log_start_offset: i64,
    /// Offset after the last appended batch.
    next_offset: i64,
    /// Offset after the last batch written to disk.
    written_next: i64,
    /// For a replicated partition, the high watermark its replicas agreed on (what consumers
    /// may read); `None`: unreplicated, consumers read everything written.
    replicated_hw: Option<i64>,
    /// Offset after the last batch made durable by fdatasync.
    durable_next: i64,
    io_busy: bool,
    /// An fdatasync runs (`durability.rs`: one at a time, flushes meanwhile keep off its slot).
    sync_running: bool,
    /// When the oldest append not yet handed to a flush was made (stage `flush.queued`).
    unflushed_since: Option<std::time::Instant>,
    /// When readers were last woken by a write (stage `fetch.woken` is measured from it).
    written_at: Option<std::time::Instant>,
    flush_scheduled: bool,
    timer_armed: bool,
    /// Why the log failed, and whether it was for want of disk space.
    failed: Option<(String, bool)>,
    /// fdatasync rounds done, for tests and metrics of group commit.
    syncs: u64,
    /// Idempotent producers' recent batches.
    producers: crate::producer_state::ProducerStateTable,
    /// Where each leader epoch starts (`epochs.rs`).
    epochs: crate::leader_epochs::LeaderEpochs,
    /// The epoch appends are stamped with; None until a leader sets it (batches then keep
    /// what they came with).
    leader_epoch: Option<i32>,
}

impl LogState {
    fn active(&self) -> &Segment {
        self.segments
            .values()
            .next_back()
            .expect("a log always has an active segment")
    }
    fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .values_mut()
            .next_back()
            .expect("a log always has an active segment")
    }
}

/// Creates an empty active segment at `base_offset`.
async fn create_segment(dir: &Path, base_offset: i64) -> Result<Segment> {
    let paths = SegmentPaths::new(dir, base_offset);
    let open = |p: PathBuf| async move {
        DirectFile::open(&p, true)
            .await
            .map(Rc::new)
            .map_err(|e| EngineError::io("create", &p, e))
    };
    let file = open(paths.log.clone()).await?;
    let index_file = open(paths.index.clone()).await?;
    let time_index_file = open(paths.time_index.clone()).await?;
    let tail_file = open(paths.tail.clone()).await?;
    rt::sync_dir(dir)
        .await
        .map_err(|e| EngineError::io("fsync dir", dir, e))?;
    Ok(Segment {
        base_offset,
        next_offset: base_offset,
        size_bytes: 0,
        written_bytes: 0,
        max_timestamp: -1,
        paths,
        file: Some(file),
        offset_index: Default::default(),
        time_index: Default::default(),
        last_indexed_position: 0,
        active: Some(ActiveTail {
            tail_file,
            index_file,
            time_index_file,
            slots: TailSlots::new(1),
            pending: PendingBytes::new(0),
            first_append: None,
            allocated_bytes: 0,
        }),
    })
}

/// Base offsets of the `.log` files in `dir`; removes index and tail files left without a log
/// (a retention deletion cut short by a crash).
async fn list_segments(dir: &Path) -> Result<Vec<i64>> {
    let paths = rt::fs::list_dir(dir)
        .await
        .map_err(|e| EngineError::io("list", dir, e))?;
    let mut bases = Vec::new();
    let mut others = Vec::new();
    for path in paths {
        let (Some(stem), Some(ext)) = (path.file_stem().and_then(|s| s.to_str()), path.extension())
        else {
            continue;
        };
        let Ok(base) = stem.parse::<i64>() else {
            continue;
        };
        if ext == "log" {
            bases.push(base);
        } else if ["index", "timeindex", "tail"].iter().any(|e| ext == *e) {
            others.push((base, path));
        }
    }
    bases.sort_unstable();
    for (base, path) in others {
        if bases.binary_search(&base).is_err() {
            rt::fs::remove_file(&path)
                .await
                .map_err(|e| EngineError::io("remove", &path, e))?;
        }
    }
    Ok(bases)
}

impl PartitionLog {
    /// Opens (or creates) the log in `dir`, recovering the active segment after a crash.
    pub async fn open(
        dir: &Path,
        config: LogConfig,
        caches: &LogCaches,
    ) -> Result<(Self, RecoveryReport)> {
        config.validate()?;
        rt::fs::create_dir_all(dir)
            .await
            .map_err(|e| EngineError::io("create dir", dir, e))?;
        let bases = list_segments(dir).await?;
        let mut report = RecoveryReport::default();
        let mut segments = BTreeMap::new();
        for (i, &base) in bases.iter().enumerate() {
            let mut seg =
                open_segment(dir, base, bases.get(i + 1).copied(), &config, &mut report).await?;
            if seg.active.is_none() {
                // Checked and closed: read later through the shard's sealed files.
                seg.file = None;
            }
            segments.insert(base, seg);
        }
        // Records deleted below an offset inside the first segment stay deleted; a log emptied
        // by a truncation starts where it was told to.
        let kept_start = start_offset::read_kept_start(dir).await?.unwrap_or(0);
        if segments.is_empty() {
            segments.insert(kept_start, create_segment(dir, kept_start).await?);
        }
        report.segments = segments.len();
        let next_offset = segments.values().next_back().map_or(0, |s| s.next_offset);
        let log_start_offset =
            (*segments.keys().next().unwrap_or(&0)).max(kept_start.min(next_offset));
        let epochs = epochs::load(dir, log_start_offset, next_offset).await?;
        let log = PartitionLog {
            shared: Rc::new(LogShared {
                dir: dir.to_path_buf(),
                config: Cell::new(config),
                read_gap_bytes: Cell::new(index_check::max_entry_gap_bytes(
                    config.index_interval_bytes,
                    config.max_batch_bytes,
                )),
                id: NEXT_LOG_ID.fetch_add(1, Ordering::Relaxed),
                caches: caches.clone(),
                state: RefCell::new(LogState {
                    segments,
                    log_start_offset,
                    next_offset,
                    written_next: next_offset,
                    replicated_hw: None,
                    durable_next: next_offset,
                    io_busy: false,
                    sync_running: false,
                    unflushed_since: None,
                    written_at: None,
                    flush_scheduled: false,
                    timer_armed: false,
                    failed: None,
                    syncs: 0,
                    producers: Default::default(),
                    epochs,
                    leader_epoch: None,
                }),
                append_lock: rt::FifoLock::new(),
                written: Event::default(),
                io_done: Event::default(),
                sync_done: Event::default(),
            }),
        };
        log.rebuild_producer_state().await?;
        if let Some(offset) = truncate::interrupted(dir).await? {
            tracing::warn!(
                log = %dir.display(),
                "a truncation to offset {offset} was cut short by a crash: doing it again"
            );
            log.truncate_to(offset).await?;
            truncate::clear(dir).await?;
        }
        Ok((log, report))
    }

    /// Deletes the log in `dir` (closed beforehand: its handles dropped), files and directory,
    /// off the shard's thread: `false` when there was no such directory.
    pub async fn remove_dir(dir: &Path, caches: &LogCaches) -> Result<bool> {
        caches.sealed_files.forget_under(dir);
        rt::fs::remove_dir_all(dir)
            .await
            .map_err(|e| EngineError::io("remove", dir, e))
    }

    /// Forgets idempotent producers idle since `before_ms` (ms since the epoch).
    pub fn expire_producers(&self, before_ms: i64) -> usize {
        self.shared.state.borrow_mut().producers.expire(before_ms)
    }

    pub fn producer_count(&self) -> usize {
        self.shared.state.borrow().producers.len()
    }

    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    pub fn config(&self) -> LogConfig {
        self.shared.config.get()
    }

    /// Applies new settings to the open log (an altered topic config); refused if invalid. A
    /// roll, retention or append after this uses them; batches already stored stay as they are.
    pub fn set_config(&self, config: LogConfig) -> Result<()> {
        config.validate()?;
        let gap =
            index_check::max_entry_gap_bytes(config.index_interval_bytes, config.max_batch_bytes);
        self.shared
            .read_gap_bytes
            .set(self.shared.read_gap_bytes.get().max(gap));
        self.shared.config.set(config);
        Ok(())
    }

    /// The idempotent producers this partition remembers (DescribeProducers).
    pub fn producers(&self) -> Vec<crate::producer_state::ActiveProducer> {
        self.shared.state.borrow().producers.active()
    }

    /// First offset still in the log.
    pub fn log_start_offset(&self) -> i64 {
        self.shared.state.borrow().log_start_offset
    }

    /// Offset after the last appended batch (written or not).
    pub fn log_end_offset(&self) -> i64 {
        self.shared.state.borrow().next_offset
    }

    /// What consumers may read up to: everything written, or for a replicated partition, what
    /// its replicas agreed on (`set_high_watermark`), never past what is written here.
    pub fn high_watermark(&self) -> i64 {
        let st = self.shared.state.borrow();
        st.replicated_hw
            .map_or(st.written_next, |hw| hw.min(st.written_next))
    }

    /// Offset after the last batch on disk: what a follower can fetch from this log.
    pub fn written_offset(&self) -> i64 {
        self.shared.state.borrow().written_next
    }

    /// Makes this a replicated log whose consumers read up to `hw` (the leader's high
    /// watermark over its in-sync replicas, or a follower's from its leader). Waiting readers
    /// are woken when it moves.
    pub fn set_high_watermark(&self, hw: i64) {
        let moved = {
            let mut st = self.shared.state.borrow_mut();
            let hw = hw.clamp(st.log_start_offset, st.next_offset);
            let moved = st.replicated_hw != Some(hw);
            st.replicated_hw = Some(hw);
            moved
        };
        if moved {
            self.shared.written.notify_all();
        }
    }

    /// The replicated high watermark, if this log has one.
    pub fn replicated_high_watermark(&self) -> Option<i64> {
        self.shared.state.borrow().replicated_hw
    }

    /// Wakes whoever waits on `data_written` (a leadership change: they look again).
    pub fn wake_waiters(&self) {
        self.shared.written.notify_all();
    }

    /// Offset after the last batch made durable by fdatasync.
    pub fn durable_offset(&self) -> i64 {
        self.shared.state.borrow().durable_next
    }

    /// How many fdatasync rounds the log has made (each covers every append before it).
    pub fn sync_count(&self) -> u64 {
        self.shared.state.borrow().syncs
    }

    pub fn segment_count(&self) -> usize {
        self.shared.state.borrow().segments.len()
    }

    /// Bytes of batches held, over all segments.
    pub fn size_bytes(&self) -> u64 {
        self.shared
            .state
            .borrow()
            .segments
            .values()
            .map(|s| s.size_bytes)
            .sum()
    }

    /// A future that completes the next time the high watermark moves (or the log fails):
    /// what a long-polling fetch waits on.
    pub fn data_written(&self) -> impl std::future::Future<Output = ()> {
        self.shared.written.listen()
    }

    /// When a write last woke the readers waiting on `data_written` (None: not yet).
    pub fn last_written_at(&self) -> Option<std::time::Instant> {
        self.shared.state.borrow().written_at
    }

    fn check_failed(&self) -> Result<()> {
        match &self.shared.state.borrow().failed {
            Some((reason, disk_full)) => Err(EngineError::Failed {
                dir: self.shared.dir.clone(),
                reason: reason.clone(),
                disk_full: *disk_full,
            }),
            None => Ok(()),
        }
    }

    /// Writes and syncs everything, seals the active segment's files, and drops the handle.
    /// The next open resumes appending to the same segment.
    pub async fn close(self) -> Result<()> {
        let _append = self.shared.append_lock.lock().await;
        self.check_failed()?;
        let io = self.acquire_io().await;
        let r = self.seal_active_locked().await;
        drop(io);
        r
    }
}
