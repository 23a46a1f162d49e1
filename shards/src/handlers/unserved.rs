//! APIs that Kafka has and we do not serve yet (groups, idempotent producers, SASL). They are not
//! advertised, but a client that sends one anyway gets a response with UNSUPPORTED_VERSION, as
//! Kafka answers an API it has disabled, rather than a dropped connection.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::*;

/// APIs answered with an error; any version kafka-protocol can decode.
pub const UNSERVED: &[ApiKey] = &[
    ApiKey::FindCoordinator,
    ApiKey::JoinGroup,
    ApiKey::SyncGroup,
    ApiKey::Heartbeat,
    ApiKey::LeaveGroup,
    ApiKey::ListGroups,
    ApiKey::InitProducerId,
    ApiKey::SaslHandshake,
];

pub fn answer(request: RequestKind, version: i16) -> Option<ResponseKind> {
    let code = ResponseError::UnsupportedVersion.code();
    Some(match request {
        RequestKind::FindCoordinator(r) if version >= 4 => ResponseKind::FindCoordinator(
            FindCoordinatorResponse::default().with_coordinators(
                r.coordinator_keys
                    .into_iter()
                    .map(|key| Coordinator::default().with_key(key).with_error_code(code))
                    .collect(),
            ),
        ),
        RequestKind::FindCoordinator(_) => {
            ResponseKind::FindCoordinator(FindCoordinatorResponse::default().with_error_code(code))
        }
        RequestKind::JoinGroup(_) => {
            ResponseKind::JoinGroup(JoinGroupResponse::default().with_error_code(code))
        }
        RequestKind::SyncGroup(_) => {
            ResponseKind::SyncGroup(SyncGroupResponse::default().with_error_code(code))
        }
        RequestKind::Heartbeat(_) => {
            ResponseKind::Heartbeat(HeartbeatResponse::default().with_error_code(code))
        }
        RequestKind::LeaveGroup(_) => {
            ResponseKind::LeaveGroup(LeaveGroupResponse::default().with_error_code(code))
        }
        RequestKind::ListGroups(_) => {
            ResponseKind::ListGroups(ListGroupsResponse::default().with_error_code(code))
        }
        RequestKind::InitProducerId(_) => {
            ResponseKind::InitProducerId(InitProducerIdResponse::default().with_error_code(code))
        }
        RequestKind::SaslHandshake(_) => {
            ResponseKind::SaslHandshake(SaslHandshakeResponse::default().with_error_code(code))
        }
        _ => return None,
    })
}
