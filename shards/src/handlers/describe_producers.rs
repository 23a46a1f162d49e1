//! DescribeProducers: the idempotent producers each partition remembers (id, epoch, last
//! sequence and timestamp). No transactions yet: no coordinator epoch, no open transaction.

use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};

use crate::error::partition_error_code;
use crate::router::PartitionKey;
use crate::shard::Shard;

pub async fn handle(shard: &Shard, r: DescribeProducersRequest) -> DescribeProducersResponse {
    let mut topics = Vec::new();
    for t in &r.topics {
        let mut partitions = Vec::new();
        for &p in &t.partition_indexes {
            let key = PartitionKey {
                topic: t.name.0.to_string(),
                partition: p,
            };
            let response = PartitionResponse::default().with_partition_index(p);
            partitions.push(match shard.partition_facts(key).await {
                Ok(facts) => response.with_active_producers(
                    facts
                        .producers
                        .iter()
                        .map(|a| {
                            ProducerState::default()
                                .with_producer_id(ProducerId(a.producer_id))
                                .with_producer_epoch(i32::from(a.epoch))
                                .with_last_sequence(a.last_sequence)
                                .with_last_timestamp(a.last_timestamp)
                                .with_coordinator_epoch(-1)
                                .with_current_txn_start_offset(-1)
                        })
                        .collect(),
                ),
                Err(e) => response.with_error_code(partition_error_code(&e)),
            });
        }
        topics.push(
            TopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(partitions),
        );
    }
    DescribeProducersResponse::default().with_topics(topics)
}
