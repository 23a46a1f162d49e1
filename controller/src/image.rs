//! The metadata image: what the committed records say the cluster is. `apply` is pure and
//! deterministic, so every broker that applies the same entries in log order (the only order
//! Raft delivers) holds the same image, and an image saved at any entry and then given the rest
//! equals one that applied them all (snapshots rely on it; property-tested below).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::records::{ConfigResource, Endpoint, MetadataBatch, MetadataRecord};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerImage {
    pub epoch: i64,
    pub incarnation: String,
    pub endpoint: Endpoint,
    pub rack: Option<String>,
    pub shards: u32,
    /// A fenced broker leads nothing (registered but not caught up, or its heartbeats stopped).
    pub fenced: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionImage {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// -1: no leader (offline).
    pub leader: i32,
    /// Grows whenever the leader changes; clients and followers fence stale leaders with it.
    pub leader_epoch: i32,
    /// Grows with every change of the partition.
    pub partition_epoch: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicImage {
    pub name: String,
    pub topic_id: String,
    pub partitions: BTreeMap<i32, PartitionImage>,
    pub configs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataImage {
    /// The Raft index of the last entry applied.
    pub applied_index: u64,
    pub brokers: BTreeMap<i32, BrokerImage>,
    /// By topic id.
    pub topics: BTreeMap<String, TopicImage>,
    /// Topic name -> topic id.
    pub topic_ids: BTreeMap<String, String>,
    /// The cluster-wide defaults (Kafka's empty broker name).
    pub cluster_configs: BTreeMap<String, String>,
    pub broker_configs: BTreeMap<i32, BTreeMap<String, String>>,
    /// Producer ids below this are handed out.
    pub next_producer_id: i64,
}

/// A committed record that does not fit the image: the controller never writes one, so a
/// broker that meets one must stop rather than guess.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("metadata entry {index}, record {record}: {reason}")]
pub struct ApplyError {
    pub index: u64,
    pub record: usize,
    pub reason: String,
}

impl MetadataImage {
    /// Applies the entry at `index`: all its records, or (on an error) none of them.
    pub fn apply(&mut self, index: u64, batch: &MetadataBatch) -> Result<(), ApplyError> {
        if index <= self.applied_index && self.applied_index > 0 {
            return Err(ApplyError {
                index,
                record: 0,
                reason: format!("entry {} is already applied", self.applied_index),
            });
        }
        let mut next = self.clone();
        for (i, record) in batch.records.iter().enumerate() {
            next.apply_record(record).map_err(|reason| ApplyError {
                index,
                record: i,
                reason,
            })?;
        }
        next.applied_index = index;
        *self = next;
        Ok(())
    }

    pub fn topic_by_name(&self, name: &str) -> Option<&TopicImage> {
        self.topic_ids.get(name).and_then(|id| self.topics.get(id))
    }

    fn broker_at(&mut self, id: i32, epoch: i64) -> Result<&mut BrokerImage, String> {
        match self.brokers.get_mut(&id) {
            Some(b) if b.epoch == epoch => Ok(b),
            Some(b) => Err(format!("broker {id} is at epoch {}, not {epoch}", b.epoch)),
            None => Err(format!("no broker {id}")),
        }
    }

    fn topic_mut(&mut self, topic_id: &str) -> Result<&mut TopicImage, String> {
        self.topics
            .get_mut(topic_id)
            .ok_or_else(|| format!("no topic with id {topic_id}"))
    }

    fn apply_record(&mut self, record: &MetadataRecord) -> Result<(), String> {
        use MetadataRecord as R;
        match record {
            R::RegisterBroker {
                broker_id,
                incarnation,
                epoch,
                endpoint,
                rack,
                shards,
            } => {
                if let Some(b) = self.brokers.get(broker_id) {
                    if *epoch <= b.epoch {
                        return Err(format!(
                            "broker {broker_id} registers at epoch {epoch}, not above {}",
                            b.epoch
                        ));
                    }
                }
                self.brokers.insert(
                    *broker_id,
                    BrokerImage {
                        epoch: *epoch,
                        incarnation: incarnation.clone(),
                        endpoint: endpoint.clone(),
                        rack: rack.clone(),
                        shards: *shards,
                        fenced: true,
                    },
                );
            }
            R::UnfenceBroker { broker_id, epoch } => {
                self.broker_at(*broker_id, *epoch)?.fenced = false;
            }
            R::FenceBroker { broker_id, epoch } => {
                self.broker_at(*broker_id, *epoch)?.fenced = true;
            }
            R::Topic { name, topic_id } => {
                if self.topic_ids.contains_key(name) {
                    return Err(format!("topic {name} exists"));
                }
                if self.topics.contains_key(topic_id) {
                    return Err(format!("topic id {topic_id} is taken"));
                }
                self.topic_ids.insert(name.clone(), topic_id.clone());
                self.topics.insert(
                    topic_id.clone(),
                    TopicImage {
                        name: name.clone(),
                        topic_id: topic_id.clone(),
                        partitions: BTreeMap::new(),
                        configs: BTreeMap::new(),
                    },
                );
            }
            R::Partition {
                topic_id,
                partition,
                replicas,
                isr,
                leader,
            } => {
                let topic = self.topic_mut(topic_id)?;
                if *partition != topic.partitions.len() as i32 {
                    return Err(format!(
                        "partition {partition} of {}: the next one is {}",
                        topic.name,
                        topic.partitions.len()
                    ));
                }
                let p = PartitionImage {
                    replicas: replicas.clone(),
                    isr: isr.clone(),
                    leader: *leader,
                    leader_epoch: 0,
                    partition_epoch: 0,
                };
                check_partition(&p)?;
                topic.partitions.insert(*partition, p);
            }
            R::PartitionChange {
                topic_id,
                partition,
                leader,
                isr,
                replicas,
            } => {
                let topic = self.topic_mut(topic_id)?;
                let name = topic.name.clone();
                let p = topic
                    .partitions
                    .get_mut(partition)
                    .ok_or_else(|| format!("no partition {partition} of {name}"))?;
                let mut changed = p.clone();
                if let Some(replicas) = replicas {
                    changed.replicas = replicas.clone();
                }
                if let Some(isr) = isr {
                    changed.isr = isr.clone();
                }
                if let Some(leader) = leader {
                    if *leader != changed.leader {
                        changed.leader = *leader;
                        changed.leader_epoch += 1;
                    }
                }
                changed.partition_epoch += 1;
                check_partition(&changed)?;
                *p = changed;
            }
            R::RemoveTopic { topic_id } => {
                let topic = self
                    .topics
                    .remove(topic_id)
                    .ok_or_else(|| format!("no topic with id {topic_id}"))?;
                self.topic_ids.remove(&topic.name);
            }
            R::Config {
                resource,
                name,
                value,
            } => {
                let configs = match resource {
                    ConfigResource::Topic { name: topic } => {
                        let id = self
                            .topic_ids
                            .get(topic)
                            .ok_or_else(|| format!("no topic {topic}"))?
                            .clone();
                        &mut self.topic_mut(&id)?.configs
                    }
                    ConfigResource::Broker { id: None } => &mut self.cluster_configs,
                    ConfigResource::Broker { id: Some(id) } => {
                        self.broker_configs.entry(*id).or_default()
                    }
                };
                match value {
                    Some(v) => configs.insert(name.clone(), v.clone()),
                    None => configs.remove(name),
                };
                self.broker_configs.retain(|_, c| !c.is_empty());
            }
            R::ProducerIds {
                broker_id,
                broker_epoch,
                next_producer_id,
            } => {
                self.broker_at(*broker_id, *broker_epoch)?;
                if *next_producer_id <= self.next_producer_id {
                    return Err(format!(
                        "producer ids up to {} are handed out already; a block cannot end at \
                         {next_producer_id}",
                        self.next_producer_id
                    ));
                }
                self.next_producer_id = *next_producer_id;
            }
        }
        Ok(())
    }
}

/// A partition's replicas are distinct, its in-sync replicas and leader among them.
fn check_partition(p: &PartitionImage) -> Result<(), String> {
    let mut distinct = p.replicas.clone();
    distinct.sort_unstable();
    distinct.dedup();
    if p.replicas.is_empty() || distinct.len() != p.replicas.len() {
        return Err(format!(
            "replicas {:?} must be distinct and not empty",
            p.replicas
        ));
    }
    if let Some(r) = p.isr.iter().find(|r| !p.replicas.contains(r)) {
        return Err(format!(
            "in-sync replica {r} is not a replica {:?}",
            p.replicas
        ));
    }
    if p.leader != -1 && !p.isr.contains(&p.leader) {
        return Err(format!("leader {} is not in sync {:?}", p.leader, p.isr));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
