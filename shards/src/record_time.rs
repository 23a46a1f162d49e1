//! Finding the record at a timestamp inside a stored batch. Kafka's ListOffsets answers with the
//! first record whose timestamp is at or after the target, not the first offset of the batch
//! that holds it, so the batch's records are decoded (decompressed if need be, within a bound)
//! with kafka-protocol's record decoder.

use crate::inflate::decode_batch;
use bytes::Bytes;
use strata_record::batch::BatchHeader;

/// Attribute bit of a batch whose timestamps the broker set at append (LogAppendTime).
const LOG_APPEND_TIME: i16 = 0x8;

/// A batch that passed its CRC on append but whose records do not decode.
#[derive(Debug, thiserror::Error)]
#[error("records of the batch at offset {base_offset} do not decode: {reason}")]
pub struct UndecodableBatch {
    pub base_offset: i64,
    pub reason: String,
}

/// (offset, timestamp) of the first record of `batch` at or after `target`, at or after
/// `from_offset` (the log start may fall inside a batch); `None` when no record is. Compressed
/// records may inflate to at most `max_inflated_bytes`.
pub fn first_record_at(
    header: &BatchHeader,
    mut batch: Bytes,
    target: i64,
    from_offset: i64,
    max_inflated_bytes: usize,
) -> Result<Option<(i64, i64)>, UndecodableBatch> {
    if header.attributes & LOG_APPEND_TIME != 0 {
        // Every record carries the batch's time.
        let first = header.base_offset.max(from_offset);
        let reached = header.max_timestamp >= target && first <= header.last_offset();
        return Ok(reached.then_some((first, header.max_timestamp)));
    }
    let set = decode_batch(&mut batch, max_inflated_bytes).map_err(|e| UndecodableBatch {
        base_offset: header.base_offset,
        reason: e.to_string(),
    })?;
    Ok(set
        .records
        .iter()
        .find(|r| r.offset >= from_offset && r.timestamp >= target)
        .map(|r| (r.offset, r.timestamp)))
}
