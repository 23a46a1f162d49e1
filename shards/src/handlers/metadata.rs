//! Metadata: this broker, and the topics asked for (all when none are named), auto-creating
//! unknown ones when allowed. Every partition is led by this broker.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::authorized;
use super::ensure_topics;
use crate::shard::Shard;
use crate::topics::{invalid_topic_name, TopicSpec};

pub async fn handle(shard: &Shard, request: MetadataRequest, version: i16) -> MetadataResponse {
    let node = BrokerId(shard.identity.node_id);
    let asked: Option<Vec<String>> = match request.topics {
        // v0 had no null: an empty list meant every topic.
        Some(t) if !(version == 0 && t.is_empty()) => Some(
            t.into_iter()
                .filter_map(|t| t.name.map(|n| n.0.to_string()))
                .collect(),
        ),
        _ => None,
    };
    let allow_create = version < 4 || request.allow_auto_topic_creation;
    let include_cluster_operations = request.include_cluster_authorized_operations;
    let table = match &asked {
        Some(names) => ensure_topics(shard, names, allow_create).await,
        None => shard.topics(),
    };
    let topic = |spec: &TopicSpec| {
        let partitions = (0..spec.partitions)
            .map(|p| {
                MetadataResponsePartition::default()
                    .with_partition_index(p)
                    .with_leader_id(node)
                    .with_leader_epoch(if version >= 7 { 0 } else { -1 })
                    .with_replica_nodes(vec![node])
                    .with_isr_nodes(vec![node])
            })
            .collect();
        MetadataResponseTopic::default()
            .with_name(Some(TopicName(StrBytes::from_string(spec.name.clone()))))
            // Fields a version lacks must stay at their defaults, or encoding fails.
            .with_topic_id(if version >= 10 {
                spec.topic_id
            } else {
                Default::default()
            })
            .with_partitions(partitions)
            .with_topic_authorized_operations(if version >= 8 {
                authorized::topic(request.include_topic_authorized_operations)
            } else {
                authorized::NOT_REQUESTED
            })
    };
    let topics = match asked {
        None => table.topics.values().map(topic).collect(),
        Some(names) => names
            .into_iter()
            .map(|name| match table.topics.get(&name) {
                Some(spec) => topic(spec),
                None => {
                    let code = if invalid_topic_name(&name).is_some() {
                        ResponseError::InvalidTopicException
                    } else {
                        ResponseError::UnknownTopicOrPartition
                    };
                    MetadataResponseTopic::default()
                        .with_error_code(code.code())
                        .with_name(Some(TopicName(StrBytes::from_string(name))))
                }
            })
            .collect(),
    };
    let (host, port) = &shard.advertised;
    MetadataResponse::default()
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(node)
            .with_host(StrBytes::from_string(host.clone()))
            .with_port(*port)])
        .with_cluster_id(
            (version >= 2).then(|| StrBytes::from_string(shard.identity.cluster_id.clone())),
        )
        .with_controller_id(if version >= 1 { node } else { BrokerId(-1) })
        .with_cluster_authorized_operations(if (8..=10).contains(&version) {
            authorized::cluster(include_cluster_operations)
        } else {
            authorized::NOT_REQUESTED
        })
        .with_topics(topics)
}
