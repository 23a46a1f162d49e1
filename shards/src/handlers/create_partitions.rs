//! CreatePartitions: a topic's partition count only grows; new partitions start empty.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::error::topic_change_code;
use crate::error::BrokerError;
use crate::router::AdminOp;
use crate::shard::Shard;

pub async fn handle(
    shard: &Shard,
    request: CreatePartitionsRequest,
) -> Result<CreatePartitionsResponse, BrokerError> {
    let mut results = Vec::new();
    for t in &request.topics {
        let result = CreatePartitionsTopicResult::default().with_name(t.name.clone());
        if t.assignments.as_ref().is_some_and(|a| !a.is_empty()) {
            results.push(
                result
                    .with_error_code(ResponseError::InvalidReplicaAssignment.code())
                    .with_error_message(Some(StrBytes::from_static_str(
                        "manual assignments are not supported",
                    ))),
            );
            continue;
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
