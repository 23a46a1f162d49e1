//! Deleting records below an offset (Kafka's DeleteRecords): the log start offset moves up, is
//! kept in a small file (written durably before the answer, so a crash cannot bring deleted
//! records back), and whole segments below it are removed as retention removes them.

use std::path::{Path, PathBuf};

use super::PartitionLog;
use crate::error::{EngineError, Result};
use strata_runtime as rt;

/// The log start offset when it lies above the first segment's base offset.
const START_FILE: &str = "log-start-offset";

fn start_file(dir: &Path) -> PathBuf {
    dir.join(START_FILE)
}

/// The log start offset kept in `dir`, if any was ever set.
pub(super) async fn read_kept_start(dir: &Path) -> Result<Option<i64>> {
    read_offset_file(&start_file(dir), "log start offset").await
}

/// The offset a small file of the log holds as text (`what` names it in an error), if the file
/// exists.
pub(super) async fn read_offset_file(path: &Path, what: &str) -> Result<Option<i64>> {
    let Some(bytes) = rt::fs::read_if_exists(path)
        .await
        .map_err(|e| EngineError::io("read", path, e))?
    else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&bytes);
    text.trim()
        .parse::<i64>()
        .map(Some)
        .map_err(|_| EngineError::Corrupt {
            path: path.to_path_buf(),
            position: 0,
            reason: format!("{what} {text:?} is not a number"),
        })
}

/// Keeps `offset` as the log start offset in `dir`, durably.
pub(super) async fn write_kept_start(dir: &Path, offset: i64) -> Result<()> {
    let path = start_file(dir);
    let tmp = path.with_extension("tmp");
    rt::fs::write_durably(&path, &tmp, offset.to_string().into_bytes())
        .await
        .map_err(|e| EngineError::io("write", &path, e))
}

impl PartitionLog {
    /// Makes `offset` the first offset of the log (DeleteRecords): records below it are gone for
    /// readers at once and their whole segments are deleted. An offset at or below the current
    /// start changes nothing; one past the high watermark is refused. Returns the new start.
    pub async fn delete_records_before(&self, offset: i64) -> Result<i64> {
        // One at a time, and not beside an append's roll: two deletions whose file writes
        // finished out of order would leave the lower start on disk, and a restart would bring
        // back records already reported deleted.
        let _guard = self.shared.append_lock.lock().await;
        let (start, hw) = {
            let st = self.shared.state.borrow();
            (st.log_start_offset, st.written_next)
        };
        if offset > hw || offset < 0 {
            return Err(EngineError::OffsetOutOfRange {
                offset,
                log_start: start,
                log_end: hw,
            });
        }
        if offset <= start {
            return Ok(start);
        }
        write_kept_start(&self.shared.dir, offset).await?;
        let removed = {
            let mut st = self.shared.state.borrow_mut();
            st.log_start_offset = st.log_start_offset.max(offset);
            let start = st.log_start_offset;
            st.epochs.truncate_from_start(start);
            let below: Vec<i64> = st
                .segments
                .values()
                .filter(|s| s.active.is_none() && s.next_offset <= offset)
                .map(|s| s.base_offset)
                .collect();
            below
                .into_iter()
                .filter_map(|base| st.segments.remove(&base))
                .collect::<Vec<_>>()
        };
        self.remove_segments(removed, "deleted records").await?;
        Ok(self.log_start_offset())
    }
}
