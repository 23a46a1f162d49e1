//! IncrementalAlterConfigs: sets, deletes, appends to or subtracts from some of a topic's
//! configs, decided on shard 0 against the current table (so concurrent edits do not undo each
//! other), saved and applied at once.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::alter_configs::alter;
use crate::error::BrokerError;
use crate::shard::Shard;
use crate::topic_configs::{ConfigChange, ConfigEdit, EditOp};

pub async fn handle(
    shard: &Shard,
    r: IncrementalAlterConfigsRequest,
) -> Result<IncrementalAlterConfigsResponse, BrokerError> {
    let mut responses = Vec::new();
    for res in &r.resources {
        let edits: Result<Vec<ConfigEdit>, String> = res
            .configs
            .iter()
            .map(|c| {
                let op = match c.config_operation {
                    0 => EditOp::Set,
                    1 => EditOp::Delete,
                    2 => EditOp::Append,
                    3 => EditOp::Subtract,
                    other => return Err(format!("unknown config operation {other}")),
                };
                Ok(ConfigEdit {
                    name: c.name.to_string(),
                    op,
                    value: c.value.as_ref().map(|v| v.to_string()),
                })
            })
            .collect();
        let (code, message) = match edits {
            Ok(edits) => {
                let change = ConfigChange::Edit(edits);
                alter(
                    shard,
                    res.resource_type,
                    &res.resource_name,
                    change,
                    r.validate_only,
                )
                .await?
            }
            Err(why) => (ResponseError::InvalidRequest.code(), Some(why)),
        };
        responses.push(
            AlterConfigsResourceResponse::default()
                .with_resource_type(res.resource_type)
                .with_resource_name(res.resource_name.clone())
                .with_error_code(code)
                .with_error_message(message.map(StrBytes::from_string)),
        );
    }
    Ok(IncrementalAlterConfigsResponse::default().with_responses(responses))
}
