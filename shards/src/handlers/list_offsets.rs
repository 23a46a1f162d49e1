//! ListOffsets: earliest (-2), latest (-1), or the first batch at or after a timestamp.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use crate::error::partition_error_code;
use crate::router::{OffsetQuery, PartitionKey};
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
            // Kafka's sentinels: -2 earliest, -1 latest.
            let query = match p.timestamp {
                -2 => OffsetQuery::Earliest,
                -1 => OffsetQuery::Latest,
                ts if ts >= 0 => OffsetQuery::AtTime(ts),
                _ => {
                    let code = ResponseError::InvalidRequest.code();
                    partitions.push(r.with_error_code(code).with_timestamp(-1).with_offset(-1));
                    continue;
                }
            };
            partitions.push(match shard.list_offset(key, query).await {
                Ok(found) => {
                    let (timestamp, offset) =
                        found.map_or((-1, -1), |f| (f.timestamp.unwrap_or(-1), f.offset));
                    let r = r.with_timestamp(timestamp).with_offset(offset);
                    // Fields a version lacks must stay at their defaults, or encoding fails.
                    if version >= 4 {
                        r.with_leader_epoch(0)
                    } else {
                        r
                    }
                }
                Err(e) => r
                    .with_error_code(partition_error_code(&e))
                    .with_timestamp(-1)
                    .with_offset(-1),
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
