//! Truncating the log's end (Kafka's `truncateTo`): what a follower does when its log diverged
//! from its leader's (KIP-101), and a returning old leader before it follows. Every batch holding
//! an offset at or above the cut goes; a batch is never split.
//!
//! This is the one place where the engine takes back bytes it wrote. It is made safe against a
//! crash at any point by a marker file, `truncate-to`, written (synced) before anything changes
//! and removed once the log's files are cut and synced: an open that finds it does the
//! truncation again, which is idempotent. Between the two, the files pass only through states
//! recovery already knows: segments above the cut are deleted first (so the segment that is cut
//! is always the last), then that segment is cut to a batch boundary and reopened as the active
//! segment, by the recovery that any restart runs.

use std::path::{Path, PathBuf};

use super::PartitionLog;
use crate::error::{EngineError, Result};
use crate::recovery::{self, RecoveryReport};
use strata_record::batch::{self, LOG_OVERHEAD};
use strata_runtime as rt;

const MARKER: &str = "truncate-to";

/// Bytes of a segment read at a time while looking for the cut.
const CUT_SCAN_BYTES: u64 = 256 << 10;

fn marker_path(dir: &Path) -> PathBuf {
    dir.join(MARKER)
}

/// The offset of a truncation that a crash interrupted, if one did.
pub(super) async fn interrupted(dir: &Path) -> Result<Option<i64>> {
    super::start_offset::read_offset_file(&marker_path(dir), "truncation offset").await
}

/// Forgets an interrupted truncation once the log is cut (or needed no cut).
pub(super) async fn clear(dir: &Path) -> Result<()> {
    let path = marker_path(dir);
    if !path.exists() {
        return Ok(());
    }
    rt::fs::remove_file(&path)
        .await
        .map_err(|e| EngineError::io("remove", &path, e))?;
    rt::sync_dir(dir)
        .await
        .map_err(|e| EngineError::io("fsync dir", dir, e))
}

/// Where the log is cut: the first batch that goes.
#[derive(Debug, Clone, Copy)]
struct Cut {
    segment_base: i64,
    position: u64,
    offset: i64,
}

/// The steps of a truncation, so that a test can stop one after any of them (a crash there).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TruncateStep {
    MarkerWritten,
    SegmentsAboveRemoved,
    SegmentCut,
    Done,
}

impl PartitionLog {
    /// Removes every batch that holds an offset at or above `offset` and returns the new log end
    /// (the first removed batch's base offset, so at most `offset`). An offset at or past the end
    /// changes nothing; one at or below the log start empties the log, which then starts at
    /// `offset` (Kafka's truncate-fully-and-start-at). Readers waiting for data are woken.
    pub async fn truncate_to(&self, offset: i64) -> Result<i64> {
        self.truncate_until(offset, TruncateStep::Done).await
    }

    /// `truncate_to`, stopped after `last` as a crash would stop it: a test of what an open finds.
    #[doc(hidden)]
    pub async fn truncate_until(&self, offset: i64, last: TruncateStep) -> Result<i64> {
        let _append = self.shared.append_lock.lock().await;
        self.check_failed()?;
        let io = self.acquire_io().await;
        // Everything appended reaches the disk first, so that the files alone describe the log.
        self.sync_locked().await?;
        let end = self.log_end_offset();
        if offset >= end {
            return Ok(end);
        }
        let r = self.truncate_locked(offset, last).await;
        if let Err(e) = &r {
            // Memory and disk may disagree now: the marker makes the next open finish the job.
            self.fail(e);
        }
        drop(io);
        r
    }

    async fn truncate_locked(&self, offset: i64, last: TruncateStep) -> Result<i64> {
        let dir = self.shared.dir.clone();
        let marker = marker_path(&dir);
        rt::fs::write_durably(
            &marker,
            &marker.with_extension("tmp"),
            offset.to_string().into_bytes(),
        )
        .await
        .map_err(|e| EngineError::io("write", &marker, e))?;
        if last == TruncateStep::MarkerWritten {
            return Ok(offset);
        }
        let cut = if offset <= self.log_start_offset() {
            None
        } else {
            Some(self.find_cut(offset).await?)
        };
        if cut.is_none() {
            // Kept first: an open that finds no segment starts the log there, and a start kept
            // by DeleteRecords above `offset` would hide what comes next.
            super::start_offset::write_kept_start(&dir, offset).await?;
        }
        let keep_below = cut.map_or(i64::MIN, |c| c.segment_base);
        let (removed, cut_segment) = {
            let mut st = self.shared.state.borrow_mut();
            // Readers stop at the cut from now on.
            let new_end = cut.map_or(offset, |c| c.offset);
            st.next_offset = new_end;
            st.written_next = st.written_next.min(new_end);
            st.durable_next = st.durable_next.min(new_end);
            st.replicated_hw = st.replicated_hw.map(|hw| hw.min(new_end));
            let above = st.segments.split_off(&(keep_below + 1));
            let cut_segment = cut.and_then(|c| st.segments.remove(&c.segment_base));
            (above.into_values().collect::<Vec<_>>(), cut_segment)
        };
        // The cut segment is reopened: its open handles, the shard's sealed one too, go.
        if let Some(seg) = cut_segment {
            self.shared.caches.sealed_files.forget(&seg.paths.log);
            // An active segment's `.log` holds its whole blocks, all synced, and may be
            // allocated beyond them: cut to them, so that its size says where they end again
            // (what `cut_segment` and recovery go by).
            if let (Some(file), Some(_)) = (&seg.file, &seg.active) {
                let whole = rt::align_down(seg.written_bytes);
                file.truncate(whole)
                    .await
                    .map_err(|e| EngineError::io("truncate", &seg.paths.log, e))?;
            }
        }
        self.remove_segments(removed, "truncation removed segment")
            .await?;
        if last == TruncateStep::SegmentsAboveRemoved {
            return Ok(offset);
        }
        let config = self.shared.config.get();
        let mut report = RecoveryReport::default();
        let (segment, start) = match cut {
            Some(c) => {
                recovery::cut_segment(&dir, c.segment_base, c.position).await?;
                if last == TruncateStep::SegmentCut {
                    return Ok(offset);
                }
                let seg = recovery::open_segment(&dir, c.segment_base, None, &config, &mut report)
                    .await?;
                if seg.next_offset != c.offset {
                    return Err(EngineError::Corrupt {
                        path: seg.paths.log.clone(),
                        position: c.position,
                        reason: format!(
                            "cut before the batch at offset {}, the segment reopened ending at {}",
                            c.offset, seg.next_offset
                        ),
                    });
                }
                (seg, self.log_start_offset())
            }
            None => (super::create_segment(&dir, offset).await?, offset),
        };
        let new_end = segment.next_offset;
        let epochs = {
            let mut st = self.shared.state.borrow_mut();
            st.segments.insert(segment.base_offset, segment);
            st.log_start_offset = start;
            st.next_offset = new_end;
            st.written_next = new_end;
            st.durable_next = new_end;
            st.replicated_hw = st.replicated_hw.map(|hw| hw.min(new_end));
            st.epochs.truncate_from_end(new_end);
            st.epochs.truncate_from_start(start);
            st.producers = Default::default();
            st.epochs.clone()
        };
        self.shared
            .caches
            .batches
            .remove_from(self.shared.id, new_end);
        super::epochs::write(&dir, &epochs).await?;
        self.rebuild_producer_state().await?;
        rt::fs::remove_file(&marker)
            .await
            .map_err(|e| EngineError::io("remove", &marker, e))?;
        rt::sync_dir(&dir)
            .await
            .map_err(|e| EngineError::io("fsync dir", &dir, e))?;
        tracing::info!(
            log = %dir.display(),
            "truncated the log to offset {new_end} (asked: {offset})"
        );
        self.shared.written.notify_all();
        Ok(new_end)
    }

    /// The first batch holding an offset at or above `offset` (inside the log): walks the batch
    /// headers of its segment from the index entry at or before it.
    async fn find_cut(&self, offset: i64) -> Result<Cut> {
        let (segment_base, segment_end, mut position) = {
            let st = self.shared.state.borrow();
            let Some((&base, seg)) = st.segments.range(..=offset).next_back() else {
                return Err(EngineError::OffsetOutOfRange {
                    offset,
                    log_start: st.log_start_offset,
                    log_end: st.next_offset,
                });
            };
            (base, seg.next_offset, seg.position_for_offset(offset))
        };
        let hw = self.written_offset();
        // The last batch seen that starts at or below `offset`: it holds `offset` if the next
        // one starts above it.
        let mut candidate: Option<(u64, i64)> = None;
        loop {
            let read = self
                .plan(segment_base, hw, Some(position), CUT_SCAN_BYTES)
                .ok_or_else(|| EngineError::Corrupt {
                    path: self.shared.dir.clone(),
                    position,
                    reason: format!("segment {segment_base} is gone"),
                })?;
            if position >= read.limit {
                // The segment ends after `candidate`: it holds `offset`.
                let (position, offset) = candidate.unwrap_or((position, segment_end));
                return Ok(Cut {
                    segment_base,
                    position,
                    offset,
                });
            }
            let data = read.plan.bytes(&self.shared.caches.sealed_files).await?;
            let mut at = 0usize;
            while at + LOG_OVERHEAD <= data.len() {
                let here = position + at as u64;
                let base = i64::from_be_bytes(data[at..at + 8].try_into().expect("8 bytes"));
                let size = batch::declared_size(&data[at..]).unwrap_or(0);
                if size < batch::HEADER_LEN as i64 || here + size as u64 > read.limit {
                    return Err(EngineError::Corrupt {
                        path: read.path.clone(),
                        position: here,
                        reason: format!("impossible batch length {size} while truncating"),
                    });
                }
                if base > offset {
                    let (position, offset) = candidate.unwrap_or((here, base));
                    return Ok(Cut {
                        segment_base,
                        position,
                        offset,
                    });
                }
                candidate = Some((here, base));
                at += size as usize;
            }
            if at == 0 {
                return Err(EngineError::Corrupt {
                    path: read.path.clone(),
                    position,
                    reason: "no batch header where one should start".to_string(),
                });
            }
            position += at as u64;
        }
    }
}
