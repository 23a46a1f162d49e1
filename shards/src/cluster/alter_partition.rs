//! AlterPartition (Kafka's message 56) between a partition's leader and the controller: the
//! leader asks for a new in-sync set (`crate::replication`), the controller decides it against
//! its committed image (`strata_controller::isr`) and commits it as a partition change. The
//! leader takes the new set once the change reaches it in the metadata, like any other.

use kafka_protocol::messages::alter_partition_request::{PartitionData, TopicData};
use kafka_protocol::messages::alter_partition_response as response;
use kafka_protocol::messages::{AlterPartitionRequest, AlterPartitionResponse, BrokerId};
use strata_controller::isr::{decide_excluding, IsrChange};

use super::calls::{Answer, Call};
use super::node::NodeHandle;
use super::{Cluster, NOT_CONTROLLER};
use crate::shard::Shard;

/// Answers a leader's request as the controller: every change that checks is committed in one
/// entry; each partition gets its own error code.
pub async fn answer(node: &NodeHandle, request: AlterPartitionRequest) -> AlterPartitionResponse {
    let broker = request.broker_id.0;
    let mut records = Vec::new();
    let mut results: Vec<(uuid::Uuid, response::PartitionData)> = Vec::new();
    {
        let image = node.state.image.borrow();
        let stopping = node.state.shutting_down.borrow();
        for topic in &request.topics {
            for p in &topic.partitions {
                let change = IsrChange {
                    topic_id: topic.topic_id.to_string(),
                    partition: p.partition_index,
                    leader_epoch: p.leader_epoch,
                    partition_epoch: p.partition_epoch,
                    new_isr: p.new_isr.iter().map(|b| b.0).collect(),
                };
                let mut out =
                    response::PartitionData::default().with_partition_index(p.partition_index);
                match decide_excluding(&image, broker, &change, &stopping) {
                    Ok(record) => {
                        records.push(record);
                        out = out
                            .with_leader_id(BrokerId(broker))
                            .with_leader_epoch(p.leader_epoch)
                            .with_isr(p.new_isr.clone())
                            .with_partition_epoch(p.partition_epoch + 1);
                    }
                    Err(code) => out = out.with_error_code(code),
                }
                results.push((topic.topic_id, out));
            }
        }
    }
    if !records.is_empty() {
        if let Err(e) = node.propose(records).await {
            tracing::info!("an ISR change was not committed: {e}");
            return AlterPartitionResponse::default().with_error_code(NOT_CONTROLLER);
        }
    }
    let mut topics: Vec<response::TopicData> = Vec::new();
    for (id, p) in results {
        match topics.iter_mut().find(|t| t.topic_id == id) {
            Some(t) => t.partitions.push(p),
            None => topics.push(
                response::TopicData::default()
                    .with_topic_id(id)
                    .with_partitions(vec![p]),
            ),
        }
    }
    AlterPartitionResponse::default().with_topics(topics)
}

impl Cluster {
    /// Asks the controller for these changes, as this broker (their leader); each change's error
    /// code (0: committed), in the order given.
    pub async fn alter_partition(
        &self,
        shard: &Shard,
        changes: &[IsrChange],
    ) -> Result<Vec<i16>, String> {
        let mut topics: Vec<TopicData> = Vec::new();
        for c in changes {
            let id = uuid::Uuid::parse_str(&c.topic_id).map_err(|e| e.to_string())?;
            let p = PartitionData::default()
                .with_partition_index(c.partition)
                .with_leader_epoch(c.leader_epoch)
                .with_partition_epoch(c.partition_epoch)
                .with_new_isr(c.new_isr.iter().map(|b| BrokerId(*b)).collect());
            match topics.iter_mut().find(|t| t.topic_id == id) {
                Some(t) => t.partitions.push(p),
                None => topics.push(
                    TopicData::default()
                        .with_topic_id(id)
                        .with_partitions(vec![p]),
                ),
            }
        }
        let request = AlterPartitionRequest::default()
            .with_broker_id(BrokerId(self.me))
            .with_broker_epoch(self.epoch.get())
            .with_topics(topics);
        let answer = match self.call(shard, Call::AlterPartition(request)).await {
            Ok(Answer::AlterPartition(a)) => a,
            Ok(_) => return Err("an answer of another kind".into()),
            Err(e) => return Err(e.to_string()),
        };
        if answer.error_code != 0 {
            return Err(format!("error code {}", answer.error_code));
        }
        Ok(changes
            .iter()
            .map(|c| {
                answer
                    .topics
                    .iter()
                    .filter(|t| t.topic_id.to_string() == c.topic_id)
                    .flat_map(|t| t.partitions.iter())
                    .find(|p| p.partition_index == c.partition)
                    .map_or(-1, |p| p.error_code)
            })
            .collect())
    }
}
