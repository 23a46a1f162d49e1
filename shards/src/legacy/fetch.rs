//! Fetch v0-v3: served by the Fetch handler as v4, then the stored v2 batches are converted to
//! the message format the version reads (v0-v1: magic 0, v2-v3: magic 1), as Kafka's
//! down-conversion does.
//!
//! Request: replica_id i32, max_wait_ms i32, min_bytes i32, max_bytes i32 (v3),
//! [topic string, [partition i32, fetch_offset i64, partition_max_bytes i32]].
//! Response: throttle_time_ms i32 (v1+), [topic string, [partition i32, error_code i16,
//! high_watermark i64, records bytes]].

use std::collections::HashMap;

use bytes::{BufMut, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::message_set;
use super::wire::{WireError, WireReader, WireWrite};

/// The version modern handlers serve in place of these.
pub const SERVED_AS: i16 = 4;

/// What encoding the answer needs from the request: where each partition's read starts and
/// how much of it the client takes.
#[derive(Debug)]
pub struct Reads {
    by_partition: HashMap<(String, i32), (i64, usize)>,
    /// How far a stored batch may inflate when it is converted.
    max_inflated_bytes: usize,
}

/// A stored batch may inflate to at most `max_inflated_bytes` when it is converted.
pub fn decode(
    version: i16,
    mut r: WireReader,
    max_inflated_bytes: usize,
) -> Result<(FetchRequest, Reads), WireError> {
    let replica_id = r.i32("replica_id")?;
    let max_wait_ms = r.i32("max_wait_ms")?;
    let min_bytes = r.i32("min_bytes")?;
    let max_bytes = if version >= 3 {
        r.i32("max_bytes")?
    } else {
        i32::MAX
    };
    let mut reads = Reads {
        by_partition: HashMap::new(),
        max_inflated_bytes,
    };
    let topics = r.array("topics", 2 + 4, |r| {
        let name = r.string("topic")?;
        let partitions = r.array("partitions", 4 + 8 + 4, |r| {
            let partition = r.i32("partition")?;
            let fetch_offset = r.i64("fetch_offset")?;
            let partition_max_bytes = r.i32("partition_max_bytes")?;
            reads.by_partition.insert(
                (name.clone(), partition),
                (fetch_offset, partition_max_bytes.max(0) as usize),
            );
            Ok(FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(fetch_offset)
                .with_partition_max_bytes(partition_max_bytes))
        })?;
        Ok(FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(name)))
            .with_partitions(partitions))
    })?;
    r.finish()?;
    let request = FetchRequest::default()
        .with_replica_id(replica_id.into())
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(max_bytes)
        .with_topics(topics);
    Ok((request, reads))
}

/// `keeps_format(topic)`: the topic refuses down-conversion; its partitions get
/// UNSUPPORTED_VERSION, as Kafka answers.
pub fn encode(
    out: &mut BytesMut,
    version: i16,
    response: &FetchResponse,
    reads: &Reads,
    keeps_format: &dyn Fn(&str) -> bool,
) {
    let magic = if version >= 2 { 1 } else { 0 };
    if version >= 1 {
        out.put_i32(response.throttle_time_ms);
    }
    out.array_len(response.responses.len());
    for topic in &response.responses {
        let name = topic.topic.0.as_str();
        let refused = keeps_format(name);
        out.string(name);
        out.array_len(topic.partitions.len());
        for p in &topic.partitions {
            let (fetch_offset, max_bytes) = reads
                .by_partition
                .get(&(name.to_string(), p.partition_index))
                .copied()
                .unwrap_or((0, usize::MAX));
            let stored = p.records.as_deref().unwrap_or_default();
            let converted = if refused {
                Err(None)
            } else {
                let limit = reads.max_inflated_bytes;
                message_set::from_batches(stored, magic, fetch_offset, max_bytes, limit)
                    .map_err(Some)
            };
            let (error_code, records) = match converted {
                Ok(records) => (p.error_code, records),
                Err(None) => (ResponseError::UnsupportedVersion.code(), BytesMut::new()),
                Err(Some(e)) => {
                    tracing::warn!(
                        topic = name,
                        partition = p.partition_index,
                        "down-converting for an old fetch: {e}"
                    );
                    (ResponseError::CorruptMessage.code(), BytesMut::new())
                }
            };
            out.put_i32(p.partition_index);
            out.put_i16(error_code);
            out.put_i64(p.high_watermark);
            out.nullable_bytes(Some(&records));
        }
    }
}
