//! Rebuilding idempotent producers' state on open: the batches of the log's last
//! `producer_state_scan_bytes` are walked one after another, by position, each checked (CRC,
//! offsets following on) before it is recorded. An unreadable batch fails the open: stopping
//! early would forget producers, and their next batch would be refused as out of sequence.

use super::PartitionLog;
use crate::error::{EngineError, Result};
use strata_record::batch::{self, LOG_OVERHEAD};

/// Bytes read from a segment at a time.
const SCAN_CHUNK_BYTES: u64 = 1 << 20;

/// Where the walk of one segment starts: a batch boundary and the offset of its batch.
struct ScanStart {
    segment_base: i64,
    position: u64,
    offset: i64,
}

impl PartitionLog {
    pub(super) async fn rebuild_producer_state(&self) -> Result<()> {
        let hw = self.written_offset();
        for start in self.producer_scan_starts() {
            self.record_producers_from(start, hw).await?;
        }
        Ok(())
    }

    /// The segments that hold the log's last `producer_state_scan_bytes`, oldest first: whole
    /// segments, and in the oldest of them, the index entry at or before where that span begins
    /// (checked on open, so a batch boundary).
    fn producer_scan_starts(&self) -> Vec<ScanStart> {
        let st = self.shared.state.borrow();
        let mut budget = self.shared.config.get().producer_state_scan_bytes;
        let mut starts = Vec::new();
        for (&base, seg) in st.segments.iter().rev() {
            if budget == 0 {
                break;
            }
            let from = seg.size_bytes.saturating_sub(budget);
            budget -= seg.size_bytes - from;
            let (position, offset) = seg
                .offset_index
                .last_where(|e| u64::from(e.position) <= from)
                .map_or((0, base), |e| {
                    (u64::from(e.position), base + i64::from(e.relative_offset))
                });
            starts.push(ScanStart {
                segment_base: base,
                position,
                offset,
            });
        }
        starts.reverse();
        starts
    }

    async fn record_producers_from(&self, start: ScanStart, hw: i64) -> Result<()> {
        let mut position = start.position;
        let mut expected = start.offset;
        let mut span = SCAN_CHUNK_BYTES;
        loop {
            let Some(read) = self.plan(start.segment_base, hw, Some(position), span) else {
                return Err(EngineError::Corrupt {
                    path: self.shared.dir.clone(),
                    position,
                    reason: format!("segment {} is gone", start.segment_base),
                });
            };
            if position >= read.limit {
                return Ok(());
            }
            let data = read.plan.bytes(&self.shared.caches.sealed_files).await?;
            let corrupt = |at: u64, reason: String| EngineError::Corrupt {
                path: read.path.clone(),
                position: at,
                reason: format!("while rebuilding idempotent producers' state: {reason}"),
            };
            let mut at = 0usize;
            while at + LOG_OVERHEAD <= data.len() {
                let here = position + at as u64;
                let size = batch::declared_size(&data[at..]).unwrap_or(0);
                if size < batch::HEADER_LEN as i64 || here + size as u64 > read.limit {
                    return Err(corrupt(here, format!("impossible batch length {size}")));
                }
                let size = size as usize;
                if at + size > data.len() {
                    break;
                }
                let h = batch::validate(&data[at..at + size], usize::MAX)
                    .map_err(|e| corrupt(here, e.to_string()))?;
                if h.base_offset != expected {
                    return Err(corrupt(
                        here,
                        format!(
                            "batch offset {} where {expected} was expected",
                            h.base_offset
                        ),
                    ));
                }
                if h.last_offset() >= hw {
                    return Ok(());
                }
                self.shared
                    .state
                    .borrow_mut()
                    .producers
                    .record(&h, h.max_timestamp);
                expected = h.next_offset();
                at += size;
            }
            if at > 0 {
                position += at as u64;
                span = SCAN_CHUNK_BYTES;
                continue;
            }
            // Not one whole batch in the window: a batch larger than the window (read it whole),
            // or bytes that end before a batch does.
            match batch::declared_size(&data) {
                Some(size) if size as u64 > span => span = size as u64,
                _ => {
                    return Err(corrupt(
                        position,
                        format!(
                            "{} bytes before the end of the data at byte {} hold no whole batch",
                            data.len(),
                            read.limit
                        ),
                    ))
                }
            }
        }
    }
}
