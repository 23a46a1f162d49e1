//! OffsetForLeaderEpoch (v2-v4): where a leader epoch ends in the leader's log (the largest
//! epoch at or below the one asked, and the offset after it), so that a consumer (KIP-320) or
//! a replica (KIP-101) finds where its log and the leader's part. Answered by the leader only,
//! after the asker's current leader epoch is checked (FENCED_LEADER_EPOCH,
//! UNKNOWN_LEADER_EPOCH).

use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use crate::error::partition_error_code;
use crate::router::PartitionKey;
use crate::shard::Shard;

pub async fn handle(
    shard: &Shard,
    request: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let mut topics = Vec::new();
    for t in &request.topics {
        let mut partitions = Vec::new();
        for p in &t.partitions {
            let key = PartitionKey {
                topic: t.topic.0.to_string(),
                partition: p.partition,
            };
            let r = EpochEndOffset::default().with_partition(p.partition);
            partitions.push(
                match shard
                    .epoch_end(key, p.current_leader_epoch, p.leader_epoch)
                    .await
                {
                    Ok((epoch, end)) => r.with_leader_epoch(epoch).with_end_offset(end),
                    Err(e) => r
                        .with_error_code(partition_error_code(&e))
                        .with_leader_epoch(-1)
                        .with_end_offset(-1),
                },
            );
        }
        topics.push(
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic.clone())
                .with_partitions(partitions),
        );
    }
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
