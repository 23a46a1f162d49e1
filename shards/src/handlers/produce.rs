//! Produce: each partition's batches are appended on the shard that owns the partition, all
//! partitions at once; acks=1 answers when written, acks=-1 when durable (group commit), acks=0
//! not at all.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use super::ensure_topics;
use crate::cluster::view::OFFSETS_TOPIC;
use crate::error::partition_error_code;
use crate::router::{Acks, PartitionKey};
use crate::shard::Shard;
use crate::topic_policy::{PolicyError, TopicPolicy};
use crate::topics::invalid_topic_name;

pub async fn handle(
    shard: &Shard,
    request: ProduceRequest,
    version: i16,
) -> Option<ProduceResponse> {
    let acks = match request.acks {
        0 => Acks::None,
        1 => Acks::Leader,
        -1 => Acks::All,
        _ => return Some(refuse_all(&request, ResponseError::InvalidRequiredAcks)),
    };
    if request.transactional_id.is_some() {
        return Some(refuse_all(
            &request,
            ResponseError::TransactionalIdAuthorizationFailed,
        ));
    }
    let names: Vec<String> = request
        .topic_data
        .iter()
        .map(|t| t.name.0.to_string())
        .collect();
    let table = ensure_topics(shard, &names, true).await;

    let max_inflated = shard.config.max_frame_bytes;
    let mut calls = Vec::new();
    for topic in &request.topic_data {
        let name = topic.name.0.to_string();
        let spec = table.topics.get(&name);
        let known = spec.map(|t| t.partitions);
        let policy = spec.map(TopicPolicy::of).unwrap_or_default();
        for p in &topic.partition_data {
            let key = PartitionKey {
                topic: name.clone(),
                partition: p.index,
            };
            let records = p.records.clone();
            // The offsets topic is written by group coordinators only, as in Kafka.
            let bad_name = invalid_topic_name(&name).is_some() || name == OFFSETS_TOPIC;
            calls.push(async move {
                match (known, records) {
                    _ if bad_name => Err(ResponseError::InvalidTopicException.code()),
                    (Some(n), Some(records)) if (0..n).contains(&key.partition) => {
                        let records = policy.apply(records, max_inflated).map_err(|e| {
                            tracing::debug!(topic = %key.topic, "produce refused: {e}");
                            match e {
                                PolicyError::MissingKey(_) => ResponseError::InvalidRecord.code(),
                                _ => ResponseError::CorruptMessage.code(),
                            }
                        })?;
                        shard
                            .produce(key, records, acks)
                            .await
                            .map_err(|e| partition_error_code(&e))
                    }
                    (Some(n), None) if (0..n).contains(&key.partition) => {
                        Err(ResponseError::CorruptMessage.code())
                    }
                    _ => Err(ResponseError::UnknownTopicOrPartition.code()),
                }
            });
        }
    }
    let outcomes = futures::future::join_all(calls).await;
    if acks == Acks::None {
        return None;
    }
    let mut outcomes = outcomes.into_iter();
    let responses = request
        .topic_data
        .iter()
        .map(|topic| {
            let partitions = topic
                .partition_data
                .iter()
                .map(|p| {
                    let r = PartitionProduceResponse::default()
                        .with_index(p.index)
                        .with_log_append_time_ms(-1);
                    match outcomes.next() {
                        // log_start_offset exists from v5 on; before, it must stay at its default.
                        Some(Ok(p)) => r
                            .with_base_offset(p.base_offset)
                            .with_log_start_offset(if version >= 5 {
                                p.log_start_offset
                            } else {
                                -1
                            })
                            .with_log_append_time_ms(match version >= 2 {
                                true => p.log_append_time.unwrap_or(-1),
                                false => -1,
                            }),
                        Some(Err(code)) => r.with_error_code(code).with_base_offset(-1),
                        None => r.with_error_code(ResponseError::UnknownServerError.code()),
                    }
                })
                .collect();
            TopicProduceResponse::default()
                .with_name(topic.name.clone())
                .with_partition_responses(partitions)
        })
        .collect();
    Some(ProduceResponse::default().with_responses(responses))
}

fn refuse_all(request: &ProduceRequest, error: ResponseError) -> ProduceResponse {
    let responses = request
        .topic_data
        .iter()
        .map(|t| {
            let partitions = t
                .partition_data
                .iter()
                .map(|p| {
                    PartitionProduceResponse::default()
                        .with_index(p.index)
                        .with_error_code(error.code())
                        .with_base_offset(-1)
                })
                .collect();
            TopicProduceResponse::default()
                .with_name(t.name.clone())
                .with_partition_responses(partitions)
        })
        .collect();
    ProduceResponse::default().with_responses(responses)
}
