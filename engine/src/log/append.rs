//! Appending: validate every batch, roll the segment if it is full or old, assign offsets, and
//! hand the bytes to the flush machinery.

use bytes::BytesMut;

use super::{create_segment, PartitionLog};
use crate::error::{EngineError, Result};
use crate::producer_state::SequenceCheck;
use strata_record::batch::{self, BatchHeader};

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Offset given to the first record of the first batch.
    pub base_offset: i64,
    /// Offset of the last record of the last batch.
    pub last_offset: i64,
    /// Largest timestamp of the batches appended.
    pub max_timestamp: i64,
    /// The batches were a retry of an idempotent producer's, already stored: nothing was
    /// appended and the offsets are the original ones.
    pub duplicate: bool,
}

impl Appended {
    /// The offset to pass to `wait_written` / `wait_durable` for this append.
    pub fn next_offset(&self) -> i64 {
        self.last_offset + 1
    }
}

/// The records an append's batches hold in all (what a roll must make room for).
pub(super) fn record_count(headers: &[(usize, BatchHeader)]) -> i64 {
    headers
        .iter()
        .map(|(_, h)| i64::from(h.records_count))
        .sum()
}

/// Validates every batch of an append before any is stored: all or nothing.
pub(super) fn validate_all(
    bytes: &[u8],
    max_batch_bytes: usize,
) -> Result<Vec<(usize, BatchHeader)>> {
    if bytes.is_empty() {
        return Err(EngineError::EmptyAppend);
    }
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let header = batch::validate(&bytes[pos..], max_batch_bytes).map_err(|source| {
            EngineError::InvalidBatch {
                position: pos,
                source,
            }
        })?;
        out.push((pos, header));
        pos += header.size_bytes;
    }
    Ok(out)
}

impl PartitionLog {
    /// Appends one or more concatenated v2 batches: validates them all, assigns offsets (rewriting
    /// each base offset), and buffers them for the flush policy. Returns once they are readable
    /// in memory; `wait_written` and `wait_durable` tell when they reach the disk and are durable.
    /// A refused append changes nothing.
    pub async fn append(&self, mut batches: BytesMut) -> Result<Appended> {
        let config = self.shared.config.get();
        let mut headers = validate_all(&batches, config.max_batch_bytes)?;
        let records = record_count(&headers);
        let _guard = self.shared.append_lock.lock().await;
        self.check_failed()?;
        if self.needs_roll(batches.len() as u64, records) {
            self.roll().await?;
        }

        let mut st = self.shared.state.borrow_mut();
        // Idempotent producers: a retried batch is answered with its first offsets.
        let mut duplicates = Vec::new();
        for (_, h) in &headers {
            if let SequenceCheck::Duplicate {
                base_offset,
                last_offset,
            } = st.producers.check(h)?
            {
                duplicates.push((base_offset, last_offset, h.max_timestamp));
            }
        }
        if let (Some(first), Some(last)) = (duplicates.first(), duplicates.last()) {
            if duplicates.len() != headers.len() {
                let h = headers[duplicates.len().min(headers.len() - 1)].1;
                return Err(EngineError::OutOfOrderSequence {
                    producer_id: h.producer_id,
                    expected: -1,
                    got: h.base_sequence,
                });
            }
            return Ok(Appended {
                base_offset: first.0,
                last_offset: last.1,
                max_timestamp: last.2,
                duplicate: true,
            });
        }
        let first_offset = st.next_offset;
        let mut next = first_offset;
        let mut max_timestamp = -1;
        let now_ms = strata_record::clock::unix_ms();
        let leader_epoch = st.leader_epoch;
        for (pos, h) in headers.iter_mut() {
            // Outside the CRC, as the base offset: the leader's epoch, not the client's.
            if let Some(epoch) = leader_epoch {
                batch::set_partition_leader_epoch(&mut batches[*pos..], epoch);
                h.partition_leader_epoch = epoch;
            }
            if config.log_append_time {
                batch::set_log_append_time(&mut batches[*pos..*pos + h.size_bytes], now_ms);
                h.max_timestamp = now_ms;
                h.attributes |= batch::LOG_APPEND_TIME_FLAG;
            }
            batch::set_base_offset(&mut batches[*pos..], next);
            next += i64::from(h.records_count);
            max_timestamp = max_timestamp.max(h.max_timestamp);
        }
        let stored = batches.freeze();
        let end = store_locked(
            &mut st,
            &self.shared,
            stored,
            &headers,
            first_offset,
            now_ms,
        );
        debug_assert_eq!(end, next);
        drop(st);
        self.schedule_flush();
        Ok(Appended {
            base_offset: first_offset,
            last_offset: next - 1,
            max_timestamp,
            duplicate: false,
        })
    }

    /// Appends and waits until the batches are written (`durable == false`) or durable.
    pub async fn append_and_wait(&self, batches: BytesMut, durable: bool) -> Result<Appended> {
        let a = self.append(batches).await?;
        if durable {
            self.wait_durable(a.next_offset()).await?;
        } else {
            self.wait_written(a.next_offset()).await?;
        }
        Ok(a)
    }

    pub(super) fn needs_roll(&self, incoming_bytes: u64, incoming_records: i64) -> bool {
        let config = self.shared.config.get();
        let st = self.shared.state.borrow();
        let seg = st.active();
        // A roll that sealed the last segment and then failed to create the next one (no space,
        // no descriptors) left no active segment: the next append makes it.
        if seg.active.is_none() {
            return true;
        }
        if seg.size_bytes == 0 {
            return false;
        }
        let too_big = seg.size_bytes + incoming_bytes > config.segment_bytes;
        // Relative offsets in the indexes are 32-bit.
        let too_many = st.next_offset + incoming_records - seg.base_offset > i64::from(u32::MAX);
        let too_old = config.segment_ms > 0
            && seg
                .active
                .as_ref()
                .and_then(|a| a.first_append)
                .is_some_and(|t| t.elapsed().as_millis() as u64 >= config.segment_ms);
        too_big || too_many || too_old
    }

    /// Seals the active segment and starts a new one at the log end. Needs the append lock.
    pub(super) async fn roll(&self) -> Result<()> {
        let io = self.acquire_io().await;
        let sealed = self.seal_active_locked().await;
        drop(io);
        sealed?;
        let next = self.shared.state.borrow().next_offset;
        let seg = create_segment(&self.shared.dir, next).await?;
        self.shared.state.borrow_mut().segments.insert(next, seg);
        Ok(())
    }
}

/// Puts validated batches whose first base offset is the log end into the active segment, the
/// batch cache and the producer state: the new log end. The caller holds the append lock and
/// schedules the flush.
pub(super) fn store_locked(
    st: &mut super::LogState,
    shared: &super::LogShared,
    stored: bytes::Bytes,
    headers: &[(usize, BatchHeader)],
    first_offset: i64,
    now_ms: i64,
) -> i64 {
    let config = shared.config.get();
    st.unflushed_since
        .get_or_insert_with(std::time::Instant::now);
    let seg = st.active_mut();
    let start_position = seg.size_bytes;
    let tail = seg.active.as_mut().expect("the last segment is active");
    tail.pending.push(stored.clone());
    tail.first_append
        .get_or_insert_with(std::time::Instant::now);
    seg.size_bytes += stored.len() as u64;
    let mut offset = first_offset;
    let mut appended_headers = Vec::with_capacity(headers.len());
    for (pos, h) in headers {
        let header = BatchHeader {
            base_offset: offset,
            ..*h
        };
        appended_headers.push(header);
        seg.note_batch(
            &header,
            start_position + *pos as u64,
            config.index_interval_bytes,
        );
        let bytes = stored.slice(*pos..*pos + h.size_bytes);
        shared
            .caches
            .batches
            .insert(shared.id, offset, header.last_offset(), bytes);
        offset = header.next_offset();
    }
    for h in &appended_headers {
        st.producers.record(h, now_ms);
    }
    st.next_offset = offset;
    offset
}
