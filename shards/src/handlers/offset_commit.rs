//! OffsetCommit: by a current member of the group (its generation checked), or by a client that
//! assigns partitions itself (generation -1) while the group has no members. Durable (fdatasync)
//! before the answer. Partitions of unknown topics are refused one by one, as Kafka does.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use crate::error::group_error_code;
use crate::groups::offsets::Committed;
use crate::groups::state::MemberRef;
use crate::router::{GroupAnswer, GroupOp};
use crate::shard::Shard;

/// Largest metadata string kept with an offset (Kafka's offset.metadata.max.bytes).
const MAX_METADATA_BYTES: usize = 4096;

pub async fn handle(shard: &Shard, r: OffsetCommitRequest) -> OffsetCommitResponse {
    let table = shard.topics();
    let mut items = Vec::new();
    // Partitions refused before the group sees the commit, with their code.
    let mut refused: BTreeMap<(String, i32), i16> = BTreeMap::new();
    for t in &r.topics {
        let topic = t.name.0.to_string();
        let partitions = table.topics.get(&topic).map_or(0, |spec| spec.partitions);
        for p in &t.partitions {
            let key = (topic.clone(), p.partition_index);
            if !(0..partitions).contains(&p.partition_index) {
                refused.insert(key, ResponseError::UnknownTopicOrPartition.code());
                continue;
            }
            let metadata = p.committed_metadata.as_ref().map(|m| m.to_string());
            if metadata
                .as_ref()
                .is_some_and(|m| m.len() > MAX_METADATA_BYTES)
            {
                refused.insert(key, ResponseError::OffsetMetadataTooLarge.code());
                continue;
            }
            items.push((
                topic.clone(),
                p.partition_index,
                Committed {
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata,
                },
            ));
        }
    }
    let code = if items.is_empty() {
        0
    } else {
        let op = GroupOp::Commit {
            member: MemberRef {
                member_id: r.member_id.to_string(),
                instance_id: r.group_instance_id.as_ref().map(|i| i.to_string()),
                generation: r.generation_id_or_member_epoch,
            },
            items,
        };
        match shard.group(&r.group_id.0, op).await {
            GroupAnswer::Done(outcome) => group_error_code(outcome),
            _ => crate::error::unexpected_answer(),
        }
    };
    let topics = r
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let key = (t.name.0.to_string(), p.partition_index);
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(refused.get(&key).copied().unwrap_or(code))
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}
