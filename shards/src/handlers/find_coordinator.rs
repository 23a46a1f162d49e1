//! FindCoordinator: every group's coordinator is this broker (a shard inside it owns the group).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use crate::shard::Shard;

/// Key type 0 is a consumer group; 1 (transactions) is not served.
pub fn handle(
    shard: &Shard,
    request: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let (host, port) = &shard.advertised;
    let node = BrokerId(shard.identity.node_id);
    let code = if request.key_type == 0 {
        0
    } else {
        ResponseError::UnsupportedVersion.code()
    };
    if version >= 4 {
        let coordinators = request
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let c = Coordinator::default().with_key(key).with_error_code(code);
                if code == 0 {
                    c.with_node_id(node)
                        .with_host(StrBytes::from_string(host.clone()))
                        .with_port(*port)
                } else {
                    c.with_node_id(BrokerId(-1))
                }
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    if code != 0 {
        return FindCoordinatorResponse::default()
            .with_error_code(code)
            .with_node_id(BrokerId(-1));
    }
    FindCoordinatorResponse::default()
        .with_node_id(node)
        .with_host(StrBytes::from_string(host.clone()))
        .with_port(*port)
}
