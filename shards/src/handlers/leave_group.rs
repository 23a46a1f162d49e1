//! LeaveGroup: one member (v0-v2) or several, by id or by static instance id (v3+).

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use crate::error::{group_error_code, unexpected_answer};
use crate::groups::state::LeavingMember;
use crate::router::{GroupAnswer, GroupOp};
use crate::shard::Shard;

pub async fn handle(shard: &Shard, r: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
    let members: Vec<LeavingMember> = if version >= 3 {
        r.members
            .iter()
            .map(|m| LeavingMember {
                member_id: m.member_id.to_string(),
                instance_id: m.group_instance_id.as_ref().map(|i| i.to_string()),
            })
            .collect()
    } else {
        vec![LeavingMember {
            member_id: r.member_id.to_string(),
            instance_id: None,
        }]
    };
    let count = members.len();
    let codes = match shard.group(&r.group_id.0, GroupOp::Leave { members }).await {
        GroupAnswer::EachMember(outcomes) => outcomes.into_iter().map(group_error_code).collect(),
        GroupAnswer::Done(outcome) => vec![group_error_code(outcome); count],
        _ => vec![unexpected_answer(); count],
    };
    if version < 3 {
        return LeaveGroupResponse::default().with_error_code(codes.first().copied().unwrap_or(0));
    }
    let responses = r
        .members
        .iter()
        .zip(codes)
        .map(|(m, code)| {
            MemberResponse::default()
                .with_member_id(m.member_id.clone())
                .with_group_instance_id(m.group_instance_id.clone())
                .with_error_code(code)
        })
        .collect();
    LeaveGroupResponse::default().with_members(responses)
}
