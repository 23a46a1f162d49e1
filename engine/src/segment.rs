//! One segment of a partition log: a `.log` file of stored batches, its sparse indexes, and, while
//! it is the active segment, the in-memory tail that has not reached the file in whole blocks.

use std::path::{Path, PathBuf};
use std::time::Instant;

use bytes::Bytes;

use crate::index::{IndexEntry, OffsetEntry, OffsetIndex, TimeEntry, TimeIndex};
use crate::pending::PendingBytes;
use crate::tail_slots::TailSlots;
use strata_record::batch::BatchHeader;
use strata_runtime::{align_down, BlockBuf, SharedFile};

/// File names of a segment, from its base offset.
#[derive(Debug, Clone)]
pub struct SegmentPaths {
    pub log: PathBuf,
    pub index: PathBuf,
    pub time_index: PathBuf,
    pub tail: PathBuf,
}

impl SegmentPaths {
    pub fn new(dir: &Path, base_offset: i64) -> Self {
        let stem = format!("{base_offset:020}");
        SegmentPaths {
            log: dir.join(format!("{stem}.log")),
            index: dir.join(format!("{stem}.index")),
            time_index: dir.join(format!("{stem}.timeindex")),
            tail: dir.join(format!("{stem}.tail")),
        }
    }
}

/// The writable state of the active segment. A sealed segment keeps only its `.log` open: its
/// indexes are in memory, and their files are written for the last time at the seal.
pub struct ActiveTail {
    pub tail_file: SharedFile,
    pub index_file: SharedFile,
    pub time_index_file: SharedFile,
    pub slots: TailSlots,
    /// Bytes from `pending.start()` (block-aligned) to the segment's end: not yet in the `.log`
    /// file in whole blocks.
    pub pending: PendingBytes,
    /// When the first batch went into this segment, for roll by age.
    pub first_append: Option<Instant>,
    /// The `.log`'s size as this segment allocated it (`LogConfig::preallocate_bytes`): at
    /// least the end of its whole blocks.
    pub allocated_bytes: u64,
}

pub struct Segment {
    pub base_offset: i64,
    /// Offset after the last batch appended.
    pub next_offset: i64,
    /// Bytes appended (the segment's logical size).
    pub size_bytes: u64,
    /// Bytes written to disk (whole blocks in the file plus the tail slot image).
    pub written_bytes: u64,
    pub max_timestamp: i64,
    pub paths: SegmentPaths,
    /// The `.log`, open while the segment is active or being recovered. A sealed segment holds no
    /// descriptor: reads reach its file through the shard's `SealedFiles`.
    pub file: Option<SharedFile>,
    pub offset_index: OffsetIndex,
    pub time_index: TimeIndex,
    /// Position of the last indexed batch (0 when none): the next entry comes an interval later.
    pub last_indexed_position: u64,
    /// `None` once sealed: a sealed segment's file holds all its bytes.
    pub active: Option<ActiveTail>,
}

/// The writes one flush makes for the active segment, prepared without holding the log's state.
pub struct FlushWrites {
    pub file: SharedFile,
    pub full_blocks: Option<(u64, BlockBuf)>,
    pub tail_file: Option<SharedFile>,
    pub tail_slot: Option<(u64, BlockBuf)>,
    pub index: Option<(SharedFile, u64, BlockBuf)>,
    pub time_index: Option<(SharedFile, u64, BlockBuf)>,
    /// Segment size and next offset covered once these writes are done.
    pub covers_bytes: u64,
    pub covers_next_offset: i64,
    pub new_pending_start: u64,
    /// Whether the writes include the final partial block in the `.log` file (a seal).
    pub sealing: bool,
}

impl Segment {
    /// The open `.log` of the active segment or of one being recovered.
    pub fn log_file(&self) -> &SharedFile {
        self.file
            .as_ref()
            .expect("the active segment, and one being recovered, keep their .log open")
    }

    /// Records a batch already copied into the segment's bytes at `position`: indexes and
    /// bookkeeping. Offsets and positions must strictly increase.
    pub fn note_batch(&mut self, header: &BatchHeader, position: u64, index_interval_bytes: u64) {
        assert!(header.base_offset >= self.next_offset || position == 0 && self.size_bytes == 0);
        let relative = (header.base_offset - self.base_offset) as u32;
        self.max_timestamp = self.max_timestamp.max(header.max_timestamp);
        if position > 0 && position - self.last_indexed_position >= index_interval_bytes {
            self.offset_index.push(OffsetEntry {
                relative_offset: relative,
                position: position as u32,
            });
            self.push_time_entry(relative);
            self.last_indexed_position = position;
        }
        self.next_offset = header.next_offset();
    }

    /// Adds a time index entry for `relative` if it would move both keys forward.
    pub fn push_time_entry(&mut self, relative: u32) {
        let entry = TimeEntry {
            max_timestamp: self.max_timestamp,
            relative_offset: relative,
        };
        if relative > 0
            && self
                .time_index
                .last()
                .is_none_or(|prev| entry.follows(prev))
        {
            self.time_index.push(entry);
        }
    }

    /// Position to start scanning from to find `offset`: the floor index entry.
    pub fn position_for_offset(&self, offset: i64) -> u64 {
        let relative = (offset - self.base_offset).clamp(0, u32::MAX as i64) as u32;
        self.offset_index
            .last_where(|e| e.relative_offset <= relative)
            .map_or(0, |e| u64::from(e.position))
    }

    /// Offset to start scanning from to find the first batch with a timestamp >= `timestamp`.
    pub fn offset_for_timestamp_floor(&self, timestamp: i64) -> i64 {
        self.time_index
            .last_where(|e| e.max_timestamp < timestamp)
            .map_or(self.base_offset, |e| {
                self.base_offset + i64::from(e.relative_offset)
            })
    }

    /// Bytes `[from, to)` of this segment that are still in memory (at or past `pending_start`).
    pub fn pending_slice(&self, from: u64, to: u64) -> Bytes {
        match &self.active {
            Some(a) if to > a.pending.start() => a.pending.copy(from.max(a.pending.start()), to),
            _ => Bytes::new(),
        }
    }

    /// Where the file's contents end for reads: the rest is in `pending`.
    pub fn file_readable_end(&self) -> u64 {
        match &self.active {
            Some(a) => a.pending.start(),
            None => self.size_bytes,
        }
    }

    /// Prepares the writes that bring the disk up to the segment's current size. `seal` also
    /// writes the final partial block into the `.log` file and every index entry.
    pub fn prepare_flush(&mut self, seal: bool) -> Option<FlushWrites> {
        let base = self.base_offset;
        let size = self.size_bytes;
        let file = self.file.clone()?;
        let active = self.active.as_mut()?;
        if size == self.written_bytes && !seal {
            return None;
        }
        let full_end = if seal { size } else { align_down(size) };
        let pending_start = active.pending.start();
        let full_blocks = (full_end > pending_start).then(|| {
            let parts = active.pending.parts(pending_start, full_end);
            (pending_start, file.block_buf(&parts))
        });
        let partial_start = align_down(size);
        let tail_slot = (!seal && size > partial_start).then(|| {
            let parts = active.pending.parts(partial_start, size);
            active
                .slots
                .prepare(&active.tail_file, base, partial_start, &parts)
        });
        let index = self.offset_index.unpersisted(seal).map(|(pos, data)| {
            let f = active.index_file.clone();
            let buf = f.block_buf(&[&data]);
            (f, pos, buf)
        });
        let time_index = self.time_index.unpersisted(seal).map(|(pos, data)| {
            let f = active.time_index_file.clone();
            let buf = f.block_buf(&[&data]);
            (f, pos, buf)
        });
        Some(FlushWrites {
            file,
            full_blocks,
            tail_file: tail_slot.as_ref().map(|_| active.tail_file.clone()),
            tail_slot,
            index,
            time_index,
            covers_bytes: size,
            covers_next_offset: self.next_offset,
            new_pending_start: if seal {
                align_down(size)
            } else {
                partial_start
            },
            sealing: seal,
        })
    }

    /// Records that the writes of `prepare_flush` completed.
    pub fn complete_flush(&mut self, w: &FlushWrites) {
        self.written_bytes = w.covers_bytes;
        self.offset_index.mark_persisted(w.sealing);
        self.time_index.mark_persisted(w.sealing);
        if let Some(a) = self.active.as_mut() {
            a.pending.advance_to(w.new_pending_start);
        }
    }
}
