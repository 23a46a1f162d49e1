//! ListOffsets v0 (librdkafka speaking as to Kafka 0.9, kafka-python's api_version (0, 9)):
//! served by the ListOffsets handler as v1. v0 asked for up to `max_num_offsets` offsets of
//! segment starts before a time; clients ask for one, of -1 (latest) or -2 (earliest), and get
//! exactly v1's answer as a one-element list. For a real timestamp the answer is v1's (the first
//! offset at or after it), not Kafka 0.9's segment-granular one.
//!
//! Request: replica_id i32, [topic string, [partition i32, timestamp i64, max_num_offsets i32]].
//! Response: [topic string, [partition i32, error_code i16, [offset i64]]].

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::wire::{WireError, WireReader, WireWrite};

/// The version modern handlers serve in place of v0.
pub const SERVED_AS: i16 = 1;

pub fn decode(mut r: WireReader) -> Result<ListOffsetsRequest, WireError> {
    let replica_id = r.i32("replica_id")?;
    let topics = r.array("topics", 2 + 4, |r| {
        let name = r.string("topic")?;
        let partitions = r.array("partitions", 4 + 8 + 4, |r| {
            let partition_index = r.i32("partition")?;
            let timestamp = r.i64("timestamp")?;
            let _max_num_offsets = r.i32("max_num_offsets")?;
            Ok(ListOffsetsPartition::default()
                .with_partition_index(partition_index)
                .with_current_leader_epoch(-1)
                .with_timestamp(timestamp))
        })?;
        Ok(ListOffsetsTopic::default()
            .with_name(TopicName(StrBytes::from_string(name)))
            .with_partitions(partitions))
    })?;
    r.finish()?;
    Ok(ListOffsetsRequest::default()
        .with_replica_id(replica_id.into())
        .with_topics(topics))
}

pub fn encode(out: &mut BytesMut, response: &ListOffsetsResponse) {
    out.array_len(response.topics.len());
    for topic in &response.topics {
        out.string(topic.name.0.as_str());
        out.array_len(topic.partitions.len());
        for p in &topic.partitions {
            out.put_i32(p.partition_index);
            out.put_i16(p.error_code);
            // No offset (an error, or no record at or after the time) is an empty list.
            let found = p.error_code == 0 && p.offset >= 0;
            out.array_len(usize::from(found));
            if found {
                out.put_i64(p.offset);
            }
        }
    }
}
