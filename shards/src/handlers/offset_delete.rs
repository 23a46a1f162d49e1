//! OffsetDelete: removes some of an empty group's committed offsets.

use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use crate::error::group_error_code;
use crate::router::{GroupAnswer, GroupOp};
use crate::shard::Shard;

pub async fn handle(shard: &Shard, r: OffsetDeleteRequest) -> OffsetDeleteResponse {
    let keys = r
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| (t.name.0.to_string(), p.partition_index))
        })
        .collect();
    let code = match shard
        .group(&r.group_id.0, GroupOp::DeleteOffsets { keys })
        .await
    {
        GroupAnswer::Done(outcome) => group_error_code(outcome),
        _ => crate::error::unexpected_answer(),
    };
    if code != 0 {
        return OffsetDeleteResponse::default().with_error_code(code);
    }
    let topics = r
        .topics
        .iter()
        .map(|t| {
            OffsetDeleteResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            OffsetDeleteResponsePartition::default()
                                .with_partition_index(p.partition_index)
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetDeleteResponse::default().with_topics(topics)
}
