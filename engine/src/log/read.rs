//! Reading: by offset from the batch cache or the segment files, and by timestamp through the
//! time index. Only whole stored batches are returned, exactly as they were appended.

use bytes::{Bytes, BytesMut};

use super::read_window::{next_step, scan_window, NextStep, Window};
use super::PartitionLog;
use crate::error::{EngineError, Result};
use crate::sealed_files::SealedFiles;
use strata_record::batch;
use strata_runtime::SharedFile;

/// Batches returned by a read, and the log's bounds at the time.
#[derive(Debug, Clone, Default)]
pub struct FetchedBatches {
    /// Whole batches in offset order; the first holds the offset asked for.
    pub batches: Vec<Bytes>,
    pub high_watermark: i64,
    pub log_start_offset: i64,
}

impl FetchedBatches {
    pub fn size_bytes(&self) -> usize {
        self.batches.iter().map(|b| b.len()).sum()
    }
}

/// The smallest read from disk: small fetches still get a useful run of batches.
const MIN_DISK_READ_BYTES: u64 = 64 * 1024;

/// Where a read finds a segment's file: the active segment's own, or a sealed one's through the
/// shard's bounded set of open files.
enum LogFile {
    Open(SharedFile),
    Sealed(std::path::PathBuf),
}

/// A read of `[pos, end)` of a segment: from the file up to `file_end`, then from memory.
pub(super) struct ReadPlan {
    file: LogFile,
    pos: u64,
    file_end: u64,
    memory: Bytes,
}

impl ReadPlan {
    pub(super) async fn bytes(&self, sealed_files: &SealedFiles) -> Result<Bytes> {
        if self.pos >= self.file_end {
            return Ok(self.memory.clone());
        }
        let file = match &self.file {
            LogFile::Open(f) => f.clone(),
            LogFile::Sealed(path) => sealed_files.get(path).await?,
        };
        let disk = file
            .read(self.pos, (self.file_end - self.pos) as usize)
            .await
            .map_err(|e| EngineError::io("read", file.path(), e))?;
        if self.memory.is_empty() {
            return Ok(Bytes::from(disk));
        }
        let mut all = BytesMut::with_capacity(disk.len() + self.memory.len());
        all.extend_from_slice(&disk);
        all.extend_from_slice(&self.memory);
        Ok(all.freeze())
    }
}

/// A planned read of one segment.
pub(super) struct SegmentRead {
    pub plan: ReadPlan,
    pub end: u64,
    /// Where the segment's written bytes end.
    pub limit: u64,
    pub path: std::path::PathBuf,
}

impl PartitionLog {
    /// Whole batches from the one holding `offset`, up to `max_bytes` (at least one batch, as in
    /// Kafka, so a large batch never blocks a consumer), never past the high watermark.
    pub async fn read(&self, offset: i64, max_bytes: usize) -> Result<FetchedBatches> {
        let hw = self.high_watermark();
        self.read_below(offset, max_bytes, hw).await
    }

    /// As `read`, but up to everything written, past the high watermark: what a follower
    /// fetches (its answer still reports the high watermark).
    pub async fn read_for_follower(&self, offset: i64, max_bytes: usize) -> Result<FetchedBatches> {
        let written = self.written_offset();
        let mut got = self.read_below(offset, max_bytes, written).await?;
        got.high_watermark = self.high_watermark();
        Ok(got)
    }

    /// Whole batches from `offset` that end at or below `limit`. An offset past what is written
    /// is out of range; one between `limit` and that finds nothing yet.
    async fn read_below(
        &self,
        offset: i64,
        max_bytes: usize,
        limit: i64,
    ) -> Result<FetchedBatches> {
        let (written, start) = {
            let st = self.shared.state.borrow();
            (st.written_next, st.log_start_offset)
        };
        let hw = limit.min(written);
        let mut out = FetchedBatches {
            batches: Vec::new(),
            high_watermark: hw,
            log_start_offset: start,
        };
        if offset < start || offset > written {
            return Err(EngineError::OffsetOutOfRange {
                offset,
                log_start: start,
                log_end: written,
            });
        }
        if offset >= hw {
            return Ok(out);
        }
        out.batches = self
            .shared
            .caches
            .batches
            .get_run(self.shared.id, offset, hw, max_bytes);
        if out.batches.is_empty() {
            out.batches = self.read_from_segment(offset, hw, max_bytes).await?;
        }
        Ok(out)
    }

    /// A read of the segment holding `offset`, from `from` (a batch boundary) or else from the
    /// index's floor entry, over `span` bytes; with where it ends and where the segment's written
    /// bytes end.
    pub(super) fn plan(
        &self,
        offset: i64,
        hw: i64,
        from: Option<u64>,
        span: u64,
    ) -> Option<SegmentRead> {
        let st = self.shared.state.borrow();
        let (_, seg) = st.segments.range(..=offset).next_back()?;
        let pos = from.unwrap_or_else(|| seg.position_for_offset(offset));
        // Only bytes of written batches: for the active segment, `written_bytes`.
        let limit = if seg.next_offset <= hw {
            seg.size_bytes
        } else {
            seg.written_bytes
        };
        let end = (pos + span).min(limit);
        let file_end = seg.file_readable_end().clamp(pos, end);
        Some(SegmentRead {
            plan: ReadPlan {
                file: match &seg.file {
                    Some(f) => LogFile::Open(f.clone()),
                    None => LogFile::Sealed(seg.paths.log.clone()),
                },
                pos,
                file_end,
                memory: seg.pending_slice(file_end, end),
            },
            end,
            limit,
            path: seg.paths.log.clone(),
        })
    }

    async fn read_from_segment(
        &self,
        offset: i64,
        hw: i64,
        max_bytes: usize,
    ) -> Result<Vec<Bytes>> {
        let config = self.shared.config.get();
        // The batch holding `offset` starts less than an interval after the floor entry, so one
        // span finds it; a segment indexed with a larger interval than today's may need a few.
        let mut span = (max_bytes as u64 + config.index_interval_bytes).max(MIN_DISK_READ_BYTES);
        let max_gap = self.shared.read_gap_bytes.get();
        let mut from = None;
        let mut floor = None;
        loop {
            let Some(SegmentRead {
                plan,
                end,
                limit,
                path,
            }) = self.plan(offset, hw, from, span)
            else {
                return Err(EngineError::Corrupt {
                    path: self.shared.dir.clone(),
                    position: 0,
                    reason: format!(
                        "no segment holds offset {offset}, below the high watermark {hw}"
                    ),
                });
            };
            let floor = *floor.get_or_insert(plan.pos);
            let data = plan.bytes(&self.shared.caches.sealed_files).await?;
            let scan = scan_window(&data, plan.pos, offset, hw, max_bytes, limit).map_err(
                |(position, reason)| EngineError::Corrupt {
                    path: path.clone(),
                    position,
                    reason,
                },
            )?;
            let step = next_step(
                &scan,
                &Window {
                    offset,
                    hw,
                    span,
                    start: plan.pos,
                    end,
                    limit,
                    floor,
                    max_gap,
                },
            );
            match step {
                NextStep::Done => return Ok(scan.batches),
                NextStep::Widen(n) => span = n,
                NextStep::ContinueAt(p) => from = Some(p),
                NextStep::Fail { position, reason } => {
                    return Err(EngineError::Corrupt {
                        path,
                        position,
                        reason,
                    })
                }
            }
        }
    }

    /// The offset of the first batch whose largest timestamp is at or after `timestamp`, or
    /// `None` when every batch is older.
    pub async fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<i64>> {
        Ok(self
            .batch_at_timestamp(timestamp)
            .await?
            .map(|(header, _)| header.base_offset))
    }

    /// The first batch whose largest timestamp is at or after `timestamp` (its header and its
    /// bytes, for the caller to find the record inside), or `None` when every batch is older.
    pub async fn batch_at_timestamp(
        &self,
        timestamp: i64,
    ) -> Result<Option<(batch::BatchHeader, Bytes)>> {
        let mut offset = {
            let st = self.shared.state.borrow();
            let Some(seg) = st.segments.values().find(|s| s.max_timestamp >= timestamp) else {
                return Ok(None);
            };
            seg.offset_for_timestamp_floor(timestamp)
                .max(st.log_start_offset)
        };
        loop {
            let got = self.read(offset, 1 << 20).await?;
            if got.batches.is_empty() {
                return Ok(None);
            }
            for b in got.batches {
                let h = batch::parse_header(&b, usize::MAX).map_err(|e| EngineError::Corrupt {
                    path: self.shared.dir.clone(),
                    position: 0,
                    reason: e.to_string(),
                })?;
                if h.max_timestamp >= timestamp {
                    return Ok(Some((h, b)));
                }
                offset = h.next_offset();
            }
        }
    }

    /// The largest timestamp of any batch in the log, or `None` when it holds none.
    pub fn max_timestamp(&self) -> Option<i64> {
        let st = self.shared.state.borrow();
        st.segments
            .values()
            .map(|s| s.max_timestamp)
            .max()
            .filter(|&t| t >= 0 && st.written_next > st.log_start_offset)
    }
}
