//! OffsetDelete: removes committed offsets of a group. Partitions of unknown topics, and of
//! topics a member of the group subscribes to, are refused one by one, as Kafka does.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use crate::error::{group_error_code, unexpected_answer};
use crate::router::{GroupAnswer, GroupOp};
use crate::shard::Shard;

pub async fn handle(shard: &Shard, r: OffsetDeleteRequest) -> OffsetDeleteResponse {
    let table = shard.topics();
    let mut codes: BTreeMap<(String, i32), i16> = BTreeMap::new();
    let mut keys = Vec::new();
    for t in &r.topics {
        let topic = t.name.0.to_string();
        let partitions = table.topics.get(&topic).map_or(0, |spec| spec.partitions);
        for p in &t.partitions {
            let key = (topic.clone(), p.partition_index);
            if (0..partitions).contains(&p.partition_index) {
                keys.push(key);
            } else {
                codes.insert(key, ResponseError::UnknownTopicOrPartition.code());
            }
        }
    }
    match shard
        .group(&r.group_id.0, GroupOp::DeleteOffsets { keys })
        .await
    {
        GroupAnswer::EachPartition(each) => {
            for (key, outcome) in each {
                codes.insert(key, group_error_code(outcome));
            }
        }
        GroupAnswer::Done(outcome) => {
            return OffsetDeleteResponse::default().with_error_code(group_error_code(outcome))
        }
        _ => return OffsetDeleteResponse::default().with_error_code(unexpected_answer()),
    }
    let topics = r
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let key = (t.name.0.to_string(), p.partition_index);
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(codes.get(&key).copied().unwrap_or(0))
                })
                .collect();
            OffsetDeleteResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetDeleteResponse::default().with_topics(topics)
}
