//! DeleteTopics (by name): decided by shard 0; every shard closes and removes its partitions.

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::error::topic_change_code;
use crate::error::BrokerError;
use crate::router::AdminOp;
use crate::shard::Shard;

pub async fn handle(
    shard: &Shard,
    request: DeleteTopicsRequest,
    version: i16,
) -> Result<DeleteTopicsResponse, BrokerError> {
    let mut names: Vec<String> = request
        .topic_names
        .iter()
        .map(|n| n.0.to_string())
        .collect();
    names.extend(
        request
            .topics
            .iter()
            .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string())),
    );
    let decided = shard.admin(AdminOp::DeleteTopics { names }).await?;
    let responses = decided
        .into_iter()
        .map(|outcome| {
            let (code, msg) = topic_change_code(&outcome.result);
            DeletableTopicResult::default()
                .with_name(Some(TopicName(StrBytes::from_string(outcome.name))))
                .with_error_code(code)
                // error_message exists from v5 on.
                .with_error_message(msg.filter(|_| version >= 5).map(StrBytes::from_string))
        })
        .collect();
    Ok(DeleteTopicsResponse::default().with_responses(responses))
}
