//! Metadata: the live brokers, the controller, and the topics asked for (all when none are
//! named), auto-creating unknown ones when allowed. Each partition names its leader, or
//! LEADER_NOT_AVAILABLE while its leader is fenced (offline until it returns).

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
    let live = &table.cluster.brokers;
    let topic = |spec: &TopicSpec| {
        let partitions = (0..spec.partitions)
            .map(|p| {
                let (leader, epoch, replicas, isr) = match spec.place(p) {
                    Some(place) => (
                        place.leader,
                        place.leader_epoch,
                        place.replicas.clone(),
                        place.isr.clone(),
                    ),
                    None => (node.0, 0, vec![node.0], vec![node.0]),
                };
                let is_live = |b: &i32| live.is_empty() || live.contains_key(b);
                let online = leader >= 0 && is_live(&leader);
                let offline: Vec<i32> = replicas.iter().copied().filter(|r| !is_live(r)).collect();
                let ids = |v: Vec<i32>| v.into_iter().map(BrokerId).collect::<Vec<_>>();
                MetadataResponsePartition::default()
                    .with_error_code(if online {
                        0
                    } else {
                        ResponseError::LeaderNotAvailable.code()
                    })
                    .with_partition_index(p)
                    .with_leader_id(BrokerId(if online { leader } else { -1 }))
                    .with_leader_epoch(if version >= 7 { epoch } else { -1 })
                    .with_isr_nodes(ids(isr))
                    .with_replica_nodes(ids(replicas))
                    // offline_replicas exists from v5 on.
                    .with_offline_replicas(ids(if version >= 5 { offline } else { Vec::new() }))
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
            .with_is_internal(spec.name == crate::cluster::view::OFFSETS_TOPIC)
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
    let brokers = shard
        .broker_addresses()
        .into_iter()
        .map(|(id, a)| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(id))
                .with_host(StrBytes::from_string(a.host))
                .with_port(a.port)
                .with_rack(if version >= 1 {
                    a.rack.map(StrBytes::from_string)
                } else {
                    None
                })
        })
        .collect();
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(
            (version >= 2).then(|| StrBytes::from_string(shard.identity.cluster_id.clone())),
        )
        .with_controller_id(BrokerId(if version >= 1 {
            shard.controller_for_clients()
        } else {
            -1
        }))
        .with_cluster_authorized_operations(if (8..=10).contains(&version) {
            authorized::cluster(include_cluster_operations)
        } else {
            authorized::NOT_REQUESTED
        })
        .with_topics(topics)
}
