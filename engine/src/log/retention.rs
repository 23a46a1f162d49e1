//! Retention: whole oldest segments go when the log is over its size limit or their newest
//! record is older than the time limit. The active segment is never deleted.

use super::PartitionLog;
use crate::error::{EngineError, Result};
use strata_runtime as rt;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub deleted_segments: Vec<i64>,
    pub log_start_offset: i64,
}

impl PartitionLog {
    /// Deletes the segments that retention no longer keeps, given the time now in ms since the
    /// epoch, and advances the log start offset.
    pub async fn enforce_retention(&self, now_ms: i64) -> Result<RetentionReport> {
        let config = self.shared.config.get();
        let mut removed = Vec::new();
        let log_start_offset = {
            let mut st = self.shared.state.borrow_mut();
            let mut total: u64 = st.segments.values().map(|s| s.size_bytes).sum();
            let sealed: Vec<(i64, u64, i64)> = st
                .segments
                .values()
                .filter(|s| s.active.is_none())
                .map(|s| (s.base_offset, s.size_bytes, s.max_timestamp))
                .collect();
            let last_base = *st.segments.keys().next_back().unwrap_or(&0);
            for (base, size, max_ts) in sealed {
                if base == last_base {
                    break;
                }
                let over_size = config
                    .retention_bytes
                    .is_some_and(|limit| total.saturating_sub(limit) >= size);
                let too_old = config
                    .retention_ms
                    .is_some_and(|ms| max_ts >= 0 && max_ts < now_ms.saturating_sub(ms as i64));
                if !(over_size || too_old) {
                    break;
                }
                total -= size;
                if let Some(seg) = st.segments.remove(&base) {
                    removed.push(seg);
                }
            }
            let first = *st.segments.keys().next().unwrap_or(&st.next_offset);
            // DeleteRecords may have set the start inside the first segment kept.
            st.log_start_offset = st.log_start_offset.max(first);
            let start = st.log_start_offset;
            st.epochs.truncate_from_start(start);
            st.log_start_offset
        };
        let deleted = self
            .remove_segments(removed, "retention deleted segment")
            .await?;
        Ok(RetentionReport {
            deleted_segments: deleted,
            log_start_offset,
        })
    }

    /// Deletes the files of segments already taken out of the log (`why` is logged with each);
    /// returns their base offsets.
    pub(super) async fn remove_segments(
        &self,
        removed: Vec<crate::segment::Segment>,
        why: &str,
    ) -> Result<Vec<i64>> {
        if removed.is_empty() {
            return Ok(Vec::new());
        }
        let log_start_offset = self.log_start_offset();
        self.shared
            .caches
            .batches
            .remove_below(self.shared.id, log_start_offset);
        let mut deleted = Vec::new();
        for seg in removed {
            self.shared.caches.sealed_files.forget(&seg.paths.log);
            // The .log first: a crash after it leaves only orphans, which the next open removes.
            for path in [&seg.paths.log, &seg.paths.index, &seg.paths.time_index] {
                rt::fs::remove_file(path)
                    .await
                    .map_err(|e| EngineError::io("remove", path, e))?;
            }
            // Only a truncation removes the active segment: its tail slots go too, or a segment
            // created later at the same base offset would find their images.
            if seg.active.is_some() {
                rt::fs::remove_file(&seg.paths.tail)
                    .await
                    .map_err(|e| EngineError::io("remove", &seg.paths.tail, e))?;
            }
            tracing::info!(segment = %seg.paths.log.display(), "{why}");
            deleted.push(seg.base_offset);
        }
        rt::sync_dir(&self.shared.dir)
            .await
            .map_err(|e| EngineError::io("fsync dir", &self.shared.dir, e))?;
        Ok(deleted)
    }
}
