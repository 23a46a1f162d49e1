//! CreatePartitions: a topic's partition count only grows; new partitions start empty. A manual
//! assignment names the replicas of each new partition and is checked against the cluster.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsAssignment;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::error::topic_change_code;
use crate::error::BrokerError;
use crate::replica_assignment::check_replicas;
use crate::router::AdminOp;
use crate::shard::Shard;

pub async fn handle(
    shard: &Shard,
    request: CreatePartitionsRequest,
) -> Result<CreatePartitionsResponse, BrokerError> {
    let mut results = Vec::new();
    for t in &request.topics {
        let result = CreatePartitionsTopicResult::default().with_name(t.name.clone());
        // An empty list is what clients send when they assign nothing.
        if let Some(assignments) = t.assignments.as_ref().filter(|a| !a.is_empty()) {
            if let Err(why) = check_new_partitions(shard, t.name.0.as_str(), t.count, assignments) {
                results.push(
                    result
                        .with_error_code(ResponseError::InvalidReplicaAssignment.code())
                        .with_error_message(Some(StrBytes::from_string(why))),
                );
                continue;
            }
        }
        let op = AdminOp::CreatePartitions {
            name: t.name.0.to_string(),
            count: t.count,
            validate_only: request.validate_only,
        };
        let decided = shard.admin(op).await?;
        let (code, msg) = decided
            .first()
            .map_or((0, None), |o| topic_change_code(&o.result));
        results.push(
            result
                .with_error_code(code)
                .with_error_message(msg.map(StrBytes::from_string)),
        );
    }
    Ok(CreatePartitionsResponse::default().with_results(results))
}

/// Checks the replicas given for each new partition: one list per partition added.
fn check_new_partitions(
    shard: &Shard,
    topic: &str,
    count: i32,
    assignments: &[CreatePartitionsAssignment],
) -> Result<(), String> {
    let existing = shard.topics().topics.get(topic).map_or(0, |t| t.partitions);
    let adding = (count - existing).max(0) as usize;
    if assignments.len() != adding {
        return Err(format!(
            "{} replica lists given for {adding} new partitions",
            assignments.len()
        ));
    }
    let brokers = shard.live_brokers();
    for (i, a) in assignments.iter().enumerate() {
        let replicas: Vec<i32> = a.broker_ids.iter().map(|b| b.0).collect();
        check_replicas(existing + i as i32, &replicas, &brokers)?;
    }
    Ok(())
}
