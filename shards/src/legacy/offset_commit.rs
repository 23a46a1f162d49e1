//! OffsetCommit v0-v1 (sarama's default below Kafka 2.1, whenever no retention is set): served
//! by the OffsetCommit handler as v2. The answer of v0-v2 is laid out the same, so it is
//! encoded as v2.
//!
//! Request v0: group_id string, [topic string, [partition i32, offset i64, metadata string]].
//! v1 adds generation_id i32 and member_id string after group_id, and a commit timestamp i64
//! per partition (after offset), which Kafka 0.10 used for expiry; here the topic's retention
//! applies, as for v2 without a retention time.

use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{GroupId, OffsetCommitRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::wire::{WireError, WireReader};

/// The version modern handlers serve in place of these, and whose answer is laid out the same.
pub const SERVED_AS: i16 = 2;

pub fn decode(version: i16, mut r: WireReader) -> Result<OffsetCommitRequest, WireError> {
    let group_id = r.string("group_id")?;
    // v0 commits belong to no generation: Kafka stores them as a simple consumer's.
    let (generation, member_id) = if version >= 1 {
        (r.i32("generation_id")?, r.string("member_id")?)
    } else {
        (-1, String::new())
    };
    let topics = r.array("topics", 2 + 4, |r| {
        let name = r.string("topic")?;
        let partitions = r.array("partitions", 4 + 8 + 2, |r| {
            let partition_index = r.i32("partition")?;
            let committed_offset = r.i64("offset")?;
            if version >= 1 {
                let _commit_timestamp = r.i64("timestamp")?;
            }
            let metadata = r.nullable_string("metadata")?;
            Ok(OffsetCommitRequestPartition::default()
                .with_partition_index(partition_index)
                .with_committed_offset(committed_offset)
                .with_committed_leader_epoch(-1)
                .with_committed_metadata(metadata.map(StrBytes::from_string)))
        })?;
        Ok(OffsetCommitRequestTopic::default()
            .with_name(TopicName(StrBytes::from_string(name)))
            .with_partitions(partitions))
    })?;
    r.finish()?;
    Ok(OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group_id)))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(StrBytes::from_string(member_id))
        .with_retention_time_ms(-1)
        .with_topics(topics))
}
