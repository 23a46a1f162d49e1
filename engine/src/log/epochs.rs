//! The log's leader epochs (`crate::leader_epochs`): the epoch the leader stamps on every batch
//! it appends, and `leader-epoch-checkpoint`, written (synced, replaced whole) before the first
//! batch of a new epoch is appended, so that the file never lacks an epoch the log has.

use std::path::{Path, PathBuf};

use strata_runtime as rt;

use super::PartitionLog;
use crate::error::{EngineError, Result};
use crate::leader_epochs::LeaderEpochs;

const FILE: &str = "leader-epoch-checkpoint";

fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// The checkpoint in `dir`, fitted to a log of `[log_start, log_end)`: empty without a file
/// (a log from before leader epochs) or with one that does not read (logged: the epochs are a
/// guide for followers, and a lost one is as a log that never had epochs).
pub(super) async fn load(dir: &Path, log_start: i64, log_end: i64) -> Result<LeaderEpochs> {
    let file = path(dir);
    let bytes = rt::fs::read_if_exists(&file)
        .await
        .map_err(|e| EngineError::io("read", &file, e))?;
    let mut epochs = match bytes.map(|b| LeaderEpochs::decode(&b)) {
        None => LeaderEpochs::default(),
        Some(Ok(e)) => e,
        Some(Err(e)) => {
            tracing::warn!(file = %file.display(), "{e}: starting without leader epochs");
            LeaderEpochs::default()
        }
    };
    // Epochs that started past the end were assigned before a crash took their batches.
    epochs.truncate_from_end(log_end);
    epochs.truncate_from_start(log_start);
    Ok(epochs)
}

/// Replaces the checkpoint in `dir` with `epochs`, synced.
pub(super) async fn write(dir: &Path, epochs: &LeaderEpochs) -> Result<()> {
    let file = path(dir);
    rt::fs::write_durably(&file, &file.with_extension("tmp"), epochs.encode())
        .await
        .map_err(|e| EngineError::io("write", &file, e))
}

impl PartitionLog {
    /// From now on this log's appends are of leader epoch `epoch` (a leader's, from the
    /// cluster's metadata); a new epoch is recorded as starting at the log's end.
    pub async fn set_leader_epoch(&self, epoch: i32) -> Result<()> {
        let _guard = self.shared.append_lock.lock().await;
        let changed = {
            let mut st = self.shared.state.borrow_mut();
            st.leader_epoch = Some(epoch);
            let end = st.next_offset;
            st.epochs.assign(epoch, end).then(|| st.epochs.clone())
        };
        match changed {
            Some(epochs) => write(&self.shared.dir, &epochs).await,
            None => Ok(()),
        }
    }

    /// The epoch appends are stamped with, once set.
    pub fn leader_epoch(&self) -> Option<i32> {
        self.shared.state.borrow().leader_epoch
    }

    /// Where `epoch` ends in this log: the largest epoch at or below it and the offset after
    /// it (OffsetForLeaderEpoch); -1, -1 when this log cannot say.
    pub fn end_offset_for(&self, epoch: i32) -> (i32, i64) {
        let st = self.shared.state.borrow();
        st.epochs.end_offset_for(epoch, st.next_offset)
    }

    /// The leader epoch of the batch holding `offset` (the latest epoch for the log's end): what
    /// ListOffsets answers beside an offset; `None` for a log without epochs.
    pub fn epoch_at(&self, offset: i64) -> Option<i32> {
        let st = self.shared.state.borrow();
        st.epochs
            .entries()
            .iter()
            .rev()
            .find(|(_, start)| *start <= offset)
            .or_else(|| st.epochs.entries().first())
            .map(|(e, _)| *e)
    }

    /// The latest epoch this log holds batches of (a follower's last fetched epoch).
    pub fn latest_leader_epoch(&self) -> Option<i32> {
        self.shared.state.borrow().epochs.latest().map(|(e, _)| e)
    }

    /// (epoch, start offset) of every epoch this log holds.
    pub fn leader_epochs(&self) -> Vec<(i32, i64)> {
        self.shared.state.borrow().epochs.entries().to_vec()
    }
}
