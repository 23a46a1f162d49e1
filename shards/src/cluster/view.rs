//! What the shards see of the cluster's metadata: the image turned into the topic table they
//! already serve from (topics, their places, configs, live brokers, group coordinators), and
//! the partitions one table adds and removes against another for this node.

use std::collections::BTreeMap;

use strata_controller::MetadataImage;

use crate::router::{PartitionKey, TopicChange};
use crate::topics::{BrokerAddress, PartitionPlace, TopicSpec, TopicTable};

/// The internal topic whose partitions' leaders coordinate groups (Kafka's name). Its
/// partitions are replicated logs of committed offsets (`crate::groups::offsets`).
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// The offsets topic's configs: `extra` over what it always has. Its records are kept until
/// compaction exists (issue 20): time or size retention would drop committed offsets. An older
/// broker made the topic without configs; these apply to it as well, unless set explicitly.
pub fn offsets_topic_configs(extra: &[(&str, String)]) -> BTreeMap<String, String> {
    let mut configs: BTreeMap<String, String> = [
        ("cleanup.policy", "compact"),
        ("retention.ms", "-1"),
        ("retention.bytes", "-1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        configs.insert(k.to_string(), v.clone());
    }
    configs
}

/// The table of `image`, with `controller_id` the quorum's leader as this node knows it.
pub fn table_of(image: &MetadataImage, controller_id: i32) -> TopicTable {
    let mut table = TopicTable {
        broker_configs: image.cluster_configs.clone(),
        ..TopicTable::default()
    };
    for topic in image.topics.values() {
        let places: Vec<PartitionPlace> = topic
            .partitions
            .values()
            .map(|p| PartitionPlace {
                replicas: p.replicas.clone(),
                leader: p.leader,
                leader_epoch: p.leader_epoch,
                isr: p.isr.clone(),
                partition_epoch: p.partition_epoch,
            })
            .collect();
        let mut configs = topic.configs.clone();
        if topic.name == OFFSETS_TOPIC {
            table.cluster.offsets_leaders = places.iter().map(|p| p.leader).collect();
            for (k, v) in offsets_topic_configs(&[]) {
                configs.entry(k).or_insert(v);
            }
        }
        table.topics.insert(
            topic.name.clone(),
            TopicSpec {
                name: topic.name.clone(),
                partitions: places.len() as i32,
                // Ids are written by this code from a Uuid (`changes`); nil only if damaged.
                topic_id: uuid::Uuid::parse_str(&topic.topic_id).unwrap_or_default(),
                configs,
                replication_factor: places.first().map_or(1, |p| p.replicas.len() as i32),
                places,
            },
        );
    }
    table.cluster.brokers = image
        .brokers
        .iter()
        .filter(|(_, b)| !b.fenced)
        .map(|(id, b)| {
            (
                *id,
                BrokerAddress {
                    host: b.endpoint.host.clone(),
                    port: i32::from(b.endpoint.port),
                    rack: b.rack.clone(),
                },
            )
        })
        .collect();
    table.cluster.controller_id = controller_id;
    table.cluster.applied_index = image.applied_index;
    table
}

/// The partitions `node` keeps a replica of in `table`, by topic id (a topic deleted and
/// created again under its name is another topic).
fn replicas_of(table: &TopicTable, node: i32) -> BTreeMap<(uuid::Uuid, PartitionKey), ()> {
    let mut out = BTreeMap::new();
    for spec in table.topics.values() {
        for p in 0..spec.partitions {
            if spec.has_replica(p, node) {
                let key = PartitionKey {
                    topic: spec.name.clone(),
                    partition: p,
                };
                out.insert((spec.topic_id, key), ());
            }
        }
    }
    out
}

/// What going from `old` to `new` removes and adds of `node`'s partitions.
pub fn change_between(old: &TopicTable, new: &TopicTable, node: i32) -> TopicChange {
    let (before, after) = (replicas_of(old, node), replicas_of(new, node));
    TopicChange {
        removed: before
            .keys()
            .filter(|k| !after.contains_key(k))
            .map(|(_, k)| k.clone())
            .collect(),
        added: after
            .keys()
            .filter(|k| !before.contains_key(k))
            .map(|(_, k)| k.clone())
            .collect(),
    }
}
