//! One record batch (format v2) of plain records, built with kafka-protocol's encoder: no
//! producer id, no sequence, no headers, offsets from 0. What the broker writes itself
//! (committed offsets), rebuilds (old-format messages) or tests with.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// One record's own fields.
pub struct PlainRecord {
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
}

/// The records as one batch (kafka-protocol's error as text when it cannot encode them).
pub fn encode(
    records: impl IntoIterator<Item = PlainRecord>,
    compression: Compression,
) -> Result<BytesMut, String> {
    let records: Vec<Record> = records
        .into_iter()
        .enumerate()
        .map(|(i, r)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // No producer, so no sequence: the batch's base sequence is -1. The encoder keeps
            // records in one batch only while offset - sequence stays the same, so each
            // record's is its offset - 1 (a constant -1 would give one batch per record).
            sequence: i as i32 - 1,
            timestamp: r.timestamp,
            key: r.key,
            value: r.value,
            headers: Default::default(),
        })
        .collect();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    let mut out = BytesMut::new();
    RecordBatchEncoder::encode(&mut out, &records, &options).map_err(|e| format!("{e:#}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_records_make_one_batch() {
        let records = (0..5).map(|i| PlainRecord {
            timestamp: 1_000 + i,
            key: Some(Bytes::from(vec![b'k'; i as usize + 1])),
            value: None,
        });
        let batch = encode(records, Compression::None).unwrap();
        let mut bytes = batch.freeze();
        let sets = kafka_protocol::records::RecordBatchDecoder::decode_all(&mut bytes).unwrap();
        assert_eq!(sets.len(), 1, "one batch");
        assert_eq!(sets[0].records.len(), 5);
    }
}
