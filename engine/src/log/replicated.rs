//! A follower's append: batches as its leader stored them, their offsets and leader epochs
//! kept (Kafka's append as follower). What the leader validated is validated again (a follower
//! never stores what it cannot read back), but producers' sequences are not judged: the leader
//! did, and the follower only records them, so that it knows every producer if it leads next.

use bytes::BytesMut;

use super::append::{record_count, store_locked, validate_all, Appended};
use super::{epochs, PartitionLog};
use crate::error::{EngineError, Result};

impl PartitionLog {
    /// Appends batches fetched from the leader. The first must start at this log's end and
    /// each follow the one before (`NotContiguous` otherwise: nothing is stored). A leader
    /// epoch newer than this log's latest is recorded (its file synced) before its batches.
    pub async fn append_replicated(&self, batches: BytesMut) -> Result<Appended> {
        let config = self.shared.config.get();
        let headers = validate_all(&batches, config.max_batch_bytes)?;
        let records = record_count(&headers);
        let _guard = self.shared.append_lock.lock().await;
        self.check_failed()?;
        let (first, mut newer_epochs) = {
            let st = self.shared.state.borrow();
            let mut expected = st.next_offset;
            for (_, h) in &headers {
                if h.base_offset != expected {
                    return Err(EngineError::NotContiguous {
                        expected,
                        got: h.base_offset,
                    });
                }
                expected = h.next_offset();
            }
            (st.next_offset, st.epochs.clone())
        };
        let mut epochs_changed = false;
        for (_, h) in &headers {
            let newer = newer_epochs
                .latest()
                .is_none_or(|(latest, _)| h.partition_leader_epoch > latest);
            if newer && h.partition_leader_epoch >= 0 {
                epochs_changed |= newer_epochs.assign(h.partition_leader_epoch, h.base_offset);
            }
        }
        if epochs_changed {
            epochs::write(&self.shared.dir, &newer_epochs).await?;
            self.shared.state.borrow_mut().epochs = newer_epochs;
        }
        if self.needs_roll(batches.len() as u64, records) {
            self.roll().await?;
        }
        let max_timestamp = headers
            .iter()
            .map(|(_, h)| h.max_timestamp)
            .max()
            .unwrap_or(-1);
        let now_ms = strata_record::clock::unix_ms();
        let mut st = self.shared.state.borrow_mut();
        let end = store_locked(
            &mut st,
            &self.shared,
            batches.freeze(),
            &headers,
            first,
            now_ms,
        );
        drop(st);
        self.schedule_flush();
        Ok(Appended {
            base_offset: first,
            last_offset: end - 1,
            max_timestamp,
            duplicate: false,
        })
    }
}
