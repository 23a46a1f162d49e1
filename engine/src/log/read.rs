//! Reading: by offset from the batch cache or the segment files, and by timestamp through the
//! time index. Only whole stored batches are returned, exactly as they were appended.

use bytes::{Bytes, BytesMut};

use super::PartitionLog;
use crate::batch::{self, LOG_OVERHEAD};
use crate::error::{EngineError, Result};
use crate::rt::SharedFile;

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

/// A read of `[pos, end)` of a segment: from the file up to `file_end`, then from memory.
struct ReadPlan {
    file: SharedFile,
    pos: u64,
    file_end: u64,
    memory: Bytes,
}

impl ReadPlan {
    async fn bytes(&self) -> Result<Bytes> {
        if self.pos >= self.file_end {
            return Ok(self.memory.clone());
        }
        let disk = self
            .file
            .read(self.pos, (self.file_end - self.pos) as usize)
            .await
            .map_err(|e| EngineError::io("read", self.file.path(), e))?;
        if self.memory.is_empty() {
            return Ok(Bytes::from(disk));
        }
        let mut all = BytesMut::with_capacity(disk.len() + self.memory.len());
        all.extend_from_slice(&disk);
        all.extend_from_slice(&self.memory);
        Ok(all.freeze())
    }
}

impl PartitionLog {
    /// Whole batches from the one holding `offset`, up to `max_bytes` (at least one batch, as in
    /// Kafka, so a large batch never blocks a consumer), never past the high watermark.
    pub async fn read(&self, offset: i64, max_bytes: usize) -> Result<FetchedBatches> {
        let (hw, start) = {
            let st = self.shared.state.borrow();
            (st.written_next, st.log_start_offset)
        };
        let mut out = FetchedBatches {
            batches: Vec::new(),
            high_watermark: hw,
            log_start_offset: start,
        };
        if offset < start || offset > hw {
            return Err(EngineError::OffsetOutOfRange {
                offset,
                log_start: start,
                log_end: hw,
            });
        }
        if offset == hw {
            return Ok(out);
        }
        out.batches = self
            .shared
            .cache
            .get_run(self.shared.id, offset, hw, max_bytes);
        if out.batches.is_empty() {
            out.batches = self.read_from_segment(offset, hw, max_bytes).await?;
        }
        Ok(out)
    }

    fn plan(&self, offset: i64, hw: i64, span: u64) -> Option<(ReadPlan, u64, std::path::PathBuf)> {
        let st = self.shared.state.borrow();
        let (_, seg) = st.segments.range(..=offset).next_back()?;
        let pos = seg.position_for_offset(offset);
        // Only bytes of written batches: for the active segment, `written_bytes`.
        let limit = if seg.next_offset <= hw {
            seg.size_bytes
        } else {
            seg.written_bytes
        };
        let end = (pos + span).min(limit);
        let file_end = seg.file_readable_end().clamp(pos, end);
        let plan = ReadPlan {
            file: seg.file.clone(),
            pos,
            file_end,
            memory: seg.pending_slice(file_end, end),
        };
        Some((plan, end, seg.paths.log.clone()))
    }

    async fn read_from_segment(
        &self,
        offset: i64,
        hw: i64,
        max_bytes: usize,
    ) -> Result<Vec<Bytes>> {
        let interval = self.shared.config.index_interval_bytes;
        let mut span = (max_bytes as u64 + interval).max(MIN_DISK_READ_BYTES);
        loop {
            let Some((plan, end, path)) = self.plan(offset, hw, span) else {
                return Ok(Vec::new());
            };
            let data = plan.bytes().await?;
            let mut batches = Vec::new();
            let mut total = 0usize;
            let mut at = 0usize;
            let mut need_more = None;
            while at + LOG_OVERHEAD <= data.len() {
                let position = plan.pos + at as u64;
                let corrupt = |reason: String| EngineError::Corrupt {
                    path: path.clone(),
                    position,
                    reason,
                };
                let size = batch::declared_size(&data[at..]).unwrap_or(0);
                if size < batch::HEADER_LEN as i64
                    || size > self.shared.config.max_batch_bytes as i64
                {
                    return Err(corrupt(format!("impossible batch length {size}")));
                }
                let size = size as usize;
                if at + size > data.len() {
                    if batches.is_empty() {
                        need_more = Some(((at + size) as u64, position));
                    }
                    break;
                }
                let header = batch::validate(&data[at..at + size], usize::MAX)
                    .map_err(|e| corrupt(e.to_string()))?;
                if header.last_offset() >= hw {
                    break;
                }
                if header.last_offset() >= offset {
                    if !batches.is_empty() && total + size > max_bytes {
                        break;
                    }
                    total += size;
                    batches.push(data.slice(at..at + size));
                }
                at += size;
            }
            match need_more {
                // The first batch wanted is larger than what was read: read again, wider.
                Some((n, _)) if n > span => span = n,
                Some((_, position)) => {
                    return Err(EngineError::Corrupt {
                        path,
                        position,
                        reason: format!(
                            "batch runs past the end of the written data at byte {end}"
                        ),
                    })
                }
                None => return Ok(batches),
            }
        }
    }

    /// The offset of the first batch whose largest timestamp is at or after `timestamp`, or
    /// `None` when every batch is older.
    pub async fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<i64>> {
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
            for b in &got.batches {
                let h = batch::parse_header(b, usize::MAX).map_err(|e| EngineError::Corrupt {
                    path: self.shared.dir.clone(),
                    position: 0,
                    reason: e.to_string(),
                })?;
                if h.max_timestamp >= timestamp {
                    return Ok(Some(h.base_offset));
                }
                offset = h.next_offset();
            }
        }
    }
}
