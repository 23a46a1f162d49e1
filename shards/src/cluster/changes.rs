//! A decided topic change as metadata records: the table the topic controller decided, against
//! the table it decided on, becomes the records the quorum commits. New partitions are placed
//! here, over the live brokers (`strata_controller::placement`), unless the request placed them.

use strata_controller::placement::place;
use strata_controller::{ConfigResource, MetadataImage, MetadataRecord};

use crate::router::TopicChangeError;
use crate::topics::{TopicSpec, TopicTable};

/// The records that take the cluster from `old` to `new`; `image` is the metadata `old` is of
/// (for placement and topic ids).
pub fn records_between(
    old: &TopicTable,
    new: &TopicTable,
    image: &MetadataImage,
) -> Result<Vec<MetadataRecord>, TopicChangeError> {
    let mut records = Vec::new();
    // Placement counts what it has placed so far in this change, so one request's topics
    // spread too.
    let mut placed = image.clone();
    for spec in old.topics.values() {
        if !new.topics.contains_key(&spec.name) {
            records.push(MetadataRecord::RemoveTopic {
                topic_id: id_of(spec),
            });
        }
    }
    for spec in new.topics.values() {
        let (first_new, old_configs) = match old.topics.get(&spec.name) {
            Some(before) => (before.partitions, before.configs.clone()),
            None => {
                records.push(MetadataRecord::Topic {
                    name: spec.name.clone(),
                    topic_id: id_of(spec),
                });
                Default::default()
            }
        };
        let adding = (spec.partitions - first_new).max(0) as usize;
        if adding > 0 {
            let replicas = match spec.places.len() {
                n if n == spec.partitions as usize => spec.places[first_new as usize..]
                    .iter()
                    .map(|p| p.replicas.clone())
                    .collect(),
                _ => place(&placed, adding, spec.replication_factor, seed(spec))
                    .map_err(|e| TopicChangeError::InvalidReplicationFactor(e.to_string()))?,
            };
            for (i, replicas) in replicas.into_iter().enumerate() {
                let record = MetadataRecord::Partition {
                    topic_id: id_of(spec),
                    partition: first_new + i as i32,
                    isr: replicas.clone(),
                    leader: replicas[0],
                    replicas,
                };
                count_placed(&mut placed, spec, &record);
                records.push(record);
            }
        }
        for (name, value) in &spec.configs {
            if old_configs.get(name) != Some(value) {
                records.push(config(spec, name, Some(value.clone())));
            }
        }
        for name in old_configs.keys() {
            if !spec.configs.contains_key(name) {
                records.push(config(spec, name, None));
            }
        }
    }
    for (name, value) in &new.broker_configs {
        if old.broker_configs.get(name) != Some(value) {
            records.push(broker_config(name, Some(value.clone())));
        }
    }
    for name in old.broker_configs.keys() {
        if !new.broker_configs.contains_key(name) {
            records.push(broker_config(name, None));
        }
    }
    Ok(records)
}

/// The internal offsets topic's records: `partitions` partitions of `replication_factor`
/// replicas placed over the live brokers, kept until compaction (issue 20) can clean them.
pub fn offsets_topic(
    image: &MetadataImage,
    partitions: i32,
    replication_factor: i32,
    segment_bytes: u64,
) -> Result<Vec<MetadataRecord>, TopicChangeError> {
    let mut spec = TopicSpec::new(
        super::view::OFFSETS_TOPIC.to_string(),
        partitions,
        super::view::offsets_topic_configs(&[("segment.bytes", segment_bytes.to_string())]),
    );
    spec.replication_factor = replication_factor;
    let mut new = TopicTable::default();
    new.topics.insert(spec.name.clone(), spec);
    records_between(&TopicTable::default(), &new, image)
}

fn id_of(spec: &TopicSpec) -> String {
    spec.topic_id.to_string()
}

/// A placement start that differs by topic.
fn seed(spec: &TopicSpec) -> u64 {
    spec.topic_id.as_u64_pair().0
}

/// Applies a partition record to the placement's scratch image, so that later partitions of
/// the change see it.
fn count_placed(placed: &mut MetadataImage, spec: &TopicSpec, record: &MetadataRecord) {
    let id = id_of(spec);
    if !placed.topics.contains_key(&id) {
        let _ = placed.apply(
            placed.applied_index + 1,
            &strata_controller::MetadataBatch::new(vec![MetadataRecord::Topic {
                name: format!("{}\u{0}placing", spec.name),
                topic_id: id.clone(),
            }]),
        );
    }
    let _ = placed.apply(
        placed.applied_index + 1,
        &strata_controller::MetadataBatch::new(vec![record.clone()]),
    );
}

fn config(spec: &TopicSpec, name: &str, value: Option<String>) -> MetadataRecord {
    MetadataRecord::Config {
        resource: ConfigResource::Topic {
            name: spec.name.clone(),
        },
        name: name.to_string(),
        value,
    }
}

fn broker_config(name: &str, value: Option<String>) -> MetadataRecord {
    MetadataRecord::Config {
        resource: ConfigResource::Broker { id: None },
        name: name.to_string(),
        value,
    }
}
