//! OffsetCommit: by a current member of the group (its generation checked), or by a client that
//! assigns partitions itself (generation -1) while the group has no members. Durable (fdatasync)
//! before the answer.

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use crate::error::group_error_code;
use crate::groups::offsets::Committed;
use crate::router::{GroupAnswer, GroupOp};
use crate::shard::Shard;

/// Largest metadata string kept with an offset (Kafka's offset.metadata.max.bytes).
const MAX_METADATA_BYTES: usize = 4096;

pub async fn handle(shard: &Shard, r: OffsetCommitRequest) -> OffsetCommitResponse {
    let mut items = Vec::new();
    let mut too_large = Vec::new();
    for t in &r.topics {
        for p in &t.partitions {
            let metadata = p.committed_metadata.as_ref().map(|m| m.to_string());
            if metadata
                .as_ref()
                .is_some_and(|m| m.len() > MAX_METADATA_BYTES)
            {
                too_large.push((t.name.0.to_string(), p.partition_index));
                continue;
            }
            items.push((
                t.name.0.to_string(),
                p.partition_index,
                Committed {
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata,
                },
            ));
        }
    }
    let op = GroupOp::Commit {
        member: r.member_id.to_string(),
        generation: r.generation_id_or_member_epoch,
        items,
    };
    let code = match shard.group(&r.group_id.0, op).await {
        GroupAnswer::Done(outcome) => group_error_code(outcome),
        _ => crate::error::unexpected_answer(),
    };
    let topics = r
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let big = too_large.contains(&(t.name.0.to_string(), p.partition_index));
                    let c = if big {
                        kafka_protocol::error::ResponseError::OffsetMetadataTooLarge.code()
                    } else {
                        code
                    };
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(c)
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}
