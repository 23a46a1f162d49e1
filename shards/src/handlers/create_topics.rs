//! CreateTopics: validated here, decided by shard 0, which persists the table and has every
//! shard open its partitions before answering. The replication factor is the request's, or
//! `default_replication_factor` for -1; the controller refuses one above the live brokers.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::error::topic_change_code;
use crate::error::BrokerError;
use crate::replica_assignment::check_topic;
use crate::router::AdminOp;
use crate::shard::Shard;
use crate::topics::MAX_PARTITIONS_PER_TOPIC;
use crate::topics::{invalid_topic_config, invalid_topic_name, PartitionPlace, TopicSpec};

pub async fn handle(
    shard: &Shard,
    request: CreateTopicsRequest,
    version: i16,
) -> Result<CreateTopicsResponse, BrokerError> {
    let mut results = Vec::new();
    let mut to_create = Vec::new();
    for t in &request.topics {
        let name = t.name.0.to_string();
        let refuse = |e: ResponseError, msg: String| {
            CreatableTopicResult::default()
                .with_name(t.name.clone())
                .with_error_code(e.code())
                .with_error_message((version >= 1).then(|| StrBytes::from_string(msg)))
        };
        let brokers = shard.live_brokers();
        let manual: Vec<(i32, Vec<i32>)> = t
            .assignments
            .iter()
            .map(|a| {
                (
                    a.partition_index,
                    a.broker_ids.iter().map(|b| b.0).collect(),
                )
            })
            .collect();
        let assigned = (!manual.is_empty()).then(|| check_topic(&manual, &brokers));
        let places: Vec<PartitionPlace> = {
            let mut sorted = manual.clone();
            sorted.sort_by_key(|(p, _)| *p);
            sorted
                .into_iter()
                .map(|(_, replicas)| PartitionPlace {
                    leader: replicas.first().copied().unwrap_or(-1),
                    leader_epoch: 0,
                    isr: replicas.clone(),
                    partition_epoch: 0,
                    replicas,
                })
                .collect()
        };
        let partitions = match &assigned {
            Some(Ok(count)) => *count,
            _ if t.num_partitions == -1 => shard.config.default_partitions,
            _ => t.num_partitions,
        };
        let mut configs = BTreeMap::new();
        let mut config_error = None;
        for c in &t.configs {
            let value = c.value.as_ref().map(|v| v.to_string()).unwrap_or_default();
            match invalid_topic_config(&c.name, &value) {
                Some(e) => config_error = Some(e),
                None => {
                    configs.insert(c.name.to_string(), value);
                }
            }
        }
        if let Some(msg) = invalid_topic_name(&name) {
            results.push(refuse(ResponseError::InvalidTopicException, msg));
        } else if !(1..=MAX_PARTITIONS_PER_TOPIC).contains(&partitions) {
            results.push(refuse(
                ResponseError::InvalidPartitions,
                format!("{partitions} partitions: must be 1 to {MAX_PARTITIONS_PER_TOPIC}"),
            ));
        } else if assigned.is_some() && (t.num_partitions != -1 || t.replication_factor != -1) {
            results.push(refuse(
                ResponseError::InvalidRequest,
                "with a replica assignment, the partition count and replication factor must                  be -1"
                    .into(),
            ));
        } else if let Some(Err(why)) = assigned {
            results.push(refuse(ResponseError::InvalidReplicaAssignment, why));
        } else if assigned.is_none() && !(t.replication_factor == -1 || t.replication_factor >= 1) {
            results.push(refuse(
                ResponseError::InvalidReplicationFactor,
                format!(
                    "replication factor {}: must be at least 1 (or -1 for the default)",
                    t.replication_factor
                ),
            ));
        } else if let Some(msg) = config_error {
            results.push(refuse(ResponseError::InvalidConfig, msg));
        } else {
            let replication_factor = match (&places.first(), t.replication_factor) {
                (Some(p), _) => p.replicas.len() as i32,
                (None, -1) => shard.config.default_replication_factor,
                (None, rf) => i32::from(rf),
            };
            let mut spec = TopicSpec::new(name, partitions, configs);
            spec.places = places;
            spec.replication_factor = replication_factor;
            to_create.push(spec);
            let result = CreatableTopicResult::default().with_name(t.name.clone());
            // num_partitions and replication_factor exist from v5 on.
            results.push(if version >= 5 {
                result
                    .with_num_partitions(partitions)
                    .with_replication_factor(replication_factor as i16)
            } else {
                result
            });
        }
    }
    if !to_create.is_empty() {
        let ids: BTreeMap<String, uuid::Uuid> = to_create
            .iter()
            .map(|t| (t.name.clone(), t.topic_id))
            .collect();
        let decided = shard
            .admin(AdminOp::CreateTopics {
                topics: to_create,
                validate_only: request.validate_only,
            })
            .await?;
        for outcome in decided {
            let name = outcome.name;
            let (code, msg) = topic_change_code(&outcome.result);
            if let Some(r) = results
                .iter_mut()
                .find(|r| r.name.0.as_str() == name && r.error_code == 0)
            {
                r.error_code = code;
                r.error_message = msg.filter(|_| version >= 1).map(StrBytes::from_string);
                if code == 0 && version >= 7 {
                    r.topic_id = ids.get(&name).copied().unwrap_or_default();
                }
            }
        }
    }
    Ok(CreateTopicsResponse::default().with_topics(results))
}
