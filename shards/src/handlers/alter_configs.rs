//! AlterConfigs: replaces a topic's configs (those left out go back to their defaults), or the
//! broker's dynamic settings (`crate::broker_configs`), saved with the topic table and applied
//! to the open logs at once.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::error::{topic_change_code, BrokerError};
use crate::router::AdminOp;
use crate::shard::Shard;
use crate::topic_configs::ConfigChange;

pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

pub async fn handle(
    shard: &Shard,
    r: AlterConfigsRequest,
) -> Result<AlterConfigsResponse, BrokerError> {
    let mut responses = Vec::new();
    for res in &r.resources {
        let configs: BTreeMap<String, String> = res
            .configs
            .iter()
            .map(|c| {
                let value = c.value.as_ref().map_or(String::new(), |v| v.to_string());
                (c.name.to_string(), value)
            })
            .collect();
        let change = ConfigChange::Replace(configs);
        let (code, message) = alter(
            shard,
            res.resource_type,
            &res.resource_name,
            change,
            r.validate_only,
        )
        .await?;
        responses.push(
            AlterConfigsResourceResponse::default()
                .with_resource_type(res.resource_type)
                .with_resource_name(res.resource_name.clone())
                .with_error_code(code)
                .with_error_message(message.map(StrBytes::from_string)),
        );
    }
    Ok(AlterConfigsResponse::default().with_responses(responses))
}

/// Alters one resource's configs: Kafka's error code and message (0 and None when done).
pub async fn alter(
    shard: &Shard,
    resource_type: i8,
    name: &str,
    change: ConfigChange,
    validate_only: bool,
) -> Result<(i16, Option<String>), BrokerError> {
    match resource_type {
        RESOURCE_TOPIC => {
            let op = AdminOp::AlterConfigs {
                topic: name.to_string(),
                change,
                validate_only,
            };
            one_outcome(shard, op).await
        }
        // "" is the cluster-wide default; this broker's id names the one broker there is.
        RESOURCE_BROKER if name.is_empty() || name == shard.identity.node_id.to_string() => {
            let op = AdminOp::AlterBrokerConfigs {
                change,
                validate_only,
            };
            one_outcome(shard, op).await
        }
        RESOURCE_BROKER => Ok((
            ResponseError::InvalidRequest.code(),
            Some(format!(
                "no broker {name} here: this is broker {}",
                shard.identity.node_id
            )),
        )),
        other => Ok((
            ResponseError::InvalidRequest.code(),
            Some(format!(
                "resource type {other}: only topics (2) and the broker (4) have configs to alter"
            )),
        )),
    }
}

/// Runs an admin operation on one resource: its Kafka error code and message.
async fn one_outcome(shard: &Shard, op: AdminOp) -> Result<(i16, Option<String>), BrokerError> {
    let outcome = shard.admin(op).await?.into_iter().next();
    Ok(match outcome {
        Some(o) => topic_change_code(&o.result),
        None => (ResponseError::UnknownServerError.code(), None),
    })
}
