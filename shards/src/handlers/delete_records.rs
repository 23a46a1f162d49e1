//! DeleteRecords: moves each partition's log start offset up to the offset asked (-1: the high
//! watermark); records below are gone for readers at once and whole segments below are deleted.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use crate::error::partition_error_code;
use crate::router::PartitionKey;
use crate::shard::Shard;

pub async fn handle(shard: &Shard, r: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let mut topics = Vec::new();
    for t in &r.topics {
        let mut partitions = Vec::new();
        for p in &t.partitions {
            let key = PartitionKey {
                topic: t.name.0.to_string(),
                partition: p.partition_index,
            };
            let result =
                DeleteRecordsPartitionResult::default().with_partition_index(p.partition_index);
            partitions.push(if p.offset < -1 {
                result
                    .with_low_watermark(-1)
                    .with_error_code(ResponseError::OffsetOutOfRange.code())
            } else {
                match shard.delete_records(key, p.offset).await {
                    Ok(start) => result.with_low_watermark(start),
                    Err(e) => result
                        .with_low_watermark(-1)
                        .with_error_code(partition_error_code(&e)),
                }
            });
        }
        topics.push(
            DeleteRecordsTopicResult::default()
                .with_name(t.name.clone())
                .with_partitions(partitions),
        );
    }
    DeleteRecordsResponse::default().with_topics(topics)
}
