//! FindCoordinator: a group's coordinator is the leader of its partition of the internal
//! offsets topic (Kafka's hash of the group id), created over the live brokers at the first
//! request. While that leader is offline: COORDINATOR_NOT_AVAILABLE (clients retry).
//! Inside the coordinating broker, a shard owns the group.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use crate::router::AdminOp;
use crate::shard::Shard;

/// Where the group's coordinator is: (id, host, port), or the error code.
async fn locate(shard: &Shard, group: &str) -> Result<(i32, String, i32), i16> {
    if shard.coordinator_of(group).is_none() {
        if let Err(e) = shard.admin(AdminOp::CreateOffsetsTopic).await {
            tracing::warn!("creating the offsets topic: {e}");
        }
    }
    let not_available = ResponseError::CoordinatorNotAvailable.code();
    let id = shard.coordinator_of(group).ok_or(not_available)?;
    shard
        .broker_addresses()
        .into_iter()
        .find(|(b, _)| *b == id)
        .map(|(b, a)| (b, a.host, a.port))
        .ok_or(not_available)
}

/// Key type 0 is a consumer group; 1 (transactions) is not served.
pub async fn handle(
    shard: &Shard,
    request: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let keys: Vec<StrBytes> = if version >= 4 {
        request.coordinator_keys.clone()
    } else {
        vec![request.key.clone()]
    };
    let mut found = Vec::with_capacity(keys.len());
    for key in &keys {
        found.push(if request.key_type == 0 {
            locate(shard, key.as_str()).await
        } else {
            Err(ResponseError::UnsupportedVersion.code())
        });
    }
    if version >= 4 {
        let coordinators = keys
            .into_iter()
            .zip(found)
            .map(|(key, at)| {
                let c = Coordinator::default().with_key(key);
                match at {
                    Ok((id, host, port)) => c
                        .with_node_id(BrokerId(id))
                        .with_host(StrBytes::from_string(host))
                        .with_port(port),
                    Err(code) => c.with_error_code(code).with_node_id(BrokerId(-1)),
                }
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    match found
        .pop()
        .unwrap_or(Err(ResponseError::UnknownServerError.code()))
    {
        Ok((id, host, port)) => FindCoordinatorResponse::default()
            .with_node_id(BrokerId(id))
            .with_host(StrBytes::from_string(host))
            .with_port(port),
        Err(code) => FindCoordinatorResponse::default()
            .with_error_code(code)
            .with_node_id(BrokerId(-1)),
    }
}
