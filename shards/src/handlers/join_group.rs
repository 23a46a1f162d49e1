//! JoinGroup: waits, as Kafka does, until the rebalance completes; the leader gets every
//! member's metadata so that its client can choose the assignment.

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::protocol::StrBytes;

use crate::error::{group_error_code, unexpected_answer};
use crate::groups::state::{ClientInfo, JoinRequest};
use crate::router::{GroupAnswer, GroupOp};
use crate::shard::Shard;

pub async fn handle(
    shard: &Shard,
    r: JoinGroupRequest,
    version: i16,
    client: ClientInfo,
) -> JoinGroupResponse {
    let protocol_type = r.protocol_type.to_string();
    let req = JoinRequest {
        client,
        member_id: r.member_id.to_string(),
        instance_id: r.group_instance_id.as_ref().map(|i| i.to_string()),
        protocol_type: protocol_type.clone(),
        protocols: r
            .protocols
            .iter()
            .map(|p| (p.name.to_string(), p.metadata.clone()))
            .collect(),
        session_timeout_ms: r.session_timeout_ms.max(0) as u64,
        // v0 had no rebalance timeout: the session timeout served for both.
        rebalance_timeout_ms: if version >= 1 {
            r.rebalance_timeout_ms.max(0) as u64
        } else {
            r.session_timeout_ms.max(0) as u64
        },
        require_known_member_id: version >= 4,
    };
    let result = match shard.group(&r.group_id.0, GroupOp::Join(req)).await {
        GroupAnswer::Join(j) => j,
        GroupAnswer::Done(outcome) => {
            return JoinGroupResponse::default()
                .with_error_code(group_error_code(outcome))
                .with_generation_id(-1)
        }
        _ => return JoinGroupResponse::default().with_error_code(unexpected_answer()),
    };
    let members = result
        .members
        .into_iter()
        .map(|(id, instance, meta)| {
            let m = JoinGroupResponseMember::default()
                .with_member_id(StrBytes::from_string(id))
                .with_metadata(meta);
            if version >= 5 {
                m.with_group_instance_id(instance.map(StrBytes::from_string))
            } else {
                m
            }
        })
        .collect();
    let resp = JoinGroupResponse::default()
        .with_error_code(group_error_code(result.error.map_or(Ok(()), Err)))
        .with_generation_id(result.generation)
        .with_protocol_name(Some(StrBytes::from_string(
            result.protocol_name.unwrap_or_default(),
        )))
        .with_leader(StrBytes::from_string(result.leader))
        .with_member_id(StrBytes::from_string(result.member_id))
        .with_members(members);
    if version >= 7 {
        resp.with_protocol_type(Some(StrBytes::from_string(protocol_type)))
    } else {
        resp
    }
}
