//! DescribeLogDirs: the broker's one log directory (the data directory), each partition's size
//! in it, and (v4) the file system's size and free space.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::router::PartitionKey;
use crate::shard::Shard;

pub async fn handle(
    shard: &Shard,
    r: DescribeLogDirsRequest,
    version: i16,
) -> DescribeLogDirsResponse {
    let table = shard.topics();
    // (topic, partitions asked): all of every topic when the request names none.
    let asked: Vec<(String, Vec<i32>)> = match &r.topics {
        None => table
            .topics
            .values()
            .map(|t| (t.name.clone(), (0..t.partitions).collect()))
            .collect(),
        Some(topics) => topics
            .iter()
            .map(|t| (t.topic.0.to_string(), t.partitions.clone()))
            .collect(),
    };
    let mut topics = Vec::new();
    for (name, partitions) in asked {
        // Every partition's owner is asked at once.
        let facts = futures::future::join_all(partitions.iter().map(|&p| {
            shard.partition_facts(PartitionKey {
                topic: name.clone(),
                partition: p,
            })
        }))
        .await;
        // Partitions this broker does not hold are left out, as Kafka does.
        let described: Vec<_> = partitions
            .iter()
            .zip(facts)
            .filter_map(|(&p, f)| {
                let facts = f.ok()?;
                Some(
                    DescribeLogDirsPartition::default()
                        .with_partition_index(p)
                        .with_partition_size(facts.size_bytes as i64),
                )
            })
            .collect();
        if !described.is_empty() {
            topics.push(
                DescribeLogDirsTopic::default()
                    .with_name(TopicName(StrBytes::from_string(name)))
                    .with_partitions(described),
            );
        }
    }
    let dir = &shard.config.data_dir;
    // Kafka names log directories by absolute path; the working directory is fixed at start.
    let path = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
    let mut result = DescribeLogDirsResult::default()
        .with_log_dir(StrBytes::from_string(path.display().to_string()))
        .with_topics(topics);
    if version >= 4 {
        result = match strata_runtime::fs::space(dir).await {
            Ok(space) => result
                .with_total_bytes(space.total_bytes as i64)
                .with_usable_bytes(space.usable_bytes as i64),
            Err(e) => {
                tracing::warn!(dir = %dir.display(), "measuring the data directory's disk: {e}");
                result.with_error_code(ResponseError::KafkaStorageError.code())
            }
        };
    }
    DescribeLogDirsResponse::default().with_results(vec![result])
}
