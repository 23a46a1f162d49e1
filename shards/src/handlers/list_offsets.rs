//! ListOffsets: earliest (-2), latest (-1), or the first batch at or after a timestamp.

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use crate::router::PartitionKey;
use crate::shard::Shard;

pub async fn handle(
    shard: &Shard,
    request: ListOffsetsRequest,
    version: i16,
) -> ListOffsetsResponse {
    let mut topics = Vec::new();
    for t in &request.topics {
        let mut partitions = Vec::new();
        for p in &t.partitions {
            let key = PartitionKey {
                topic: t.name.0.to_string(),
                partition: p.partition_index,
            };
            let r = ListOffsetsPartitionResponse::default().with_partition_index(p.partition_index);
            partitions.push(match shard.list_offset(key, p.timestamp).await {
                Ok((timestamp, offset)) => {
                    let r = r.with_timestamp(timestamp).with_offset(offset);
                    // Fields a version lacks must stay at their defaults, or encoding fails.
                    if version >= 4 {
                        r.with_leader_epoch(0)
                    } else {
                        r
                    }
                }
                Err(code) => r.with_error_code(code).with_timestamp(-1).with_offset(-1),
            });
        }
        topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(partitions),
        );
    }
    ListOffsetsResponse::default().with_topics(topics)
}
