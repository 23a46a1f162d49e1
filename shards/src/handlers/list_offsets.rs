//! ListOffsets: earliest (-2, and -4: every segment is local), latest (-1), the record with the
//! largest timestamp (-3, v7+), or the first record at or after a timestamp. -5 (the latest
//! offset in tiered storage, v9+) has no offset here: there is no tiered storage.

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
            // Kafka's sentinels (the version that introduced each is checked by the client).
            let query = match p.timestamp {
                -2 | -4 => OffsetQuery::Earliest,
                -1 => OffsetQuery::Latest,
                -3 => OffsetQuery::MaxTimestamp,
                -5 => {
                    partitions.push(r.with_timestamp(-1).with_offset(-1));
                    continue;
                }
                ts if ts >= 0 => OffsetQuery::AtTime(ts),
                _ => {
                    let code = ResponseError::InvalidRequest.code();
                    partitions.push(r.with_error_code(code).with_timestamp(-1).with_offset(-1));
                    continue;
                }
            };
            // current_leader_epoch exists from v4 on.
            let asked = if version >= 4 {
                p.current_leader_epoch
            } else {
                -1
            };
            let found = match shard.check_leader_epoch(&key, asked) {
                Ok(()) => shard.list_offset(key, query).await,
                Err(e) => Err(e),
            };
            partitions.push(match found {
                Ok(found) => {
                    let (timestamp, offset, epoch) = found.map_or((-1, -1, -1), |f| {
                        (f.timestamp.unwrap_or(-1), f.offset, f.leader_epoch)
                    });
                    let r = r.with_timestamp(timestamp).with_offset(offset);
                    // Fields a version lacks must stay at their defaults, or encoding fails.
                    if version >= 4 {
                        r.with_leader_epoch(epoch)
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
