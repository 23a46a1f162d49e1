//! SyncGroup: the leader hands in the assignment; every member gets its own part.

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use crate::error::{group_error_code, unexpected_answer};
use crate::groups::state::MemberRef;
use crate::router::{GroupAnswer, GroupOp};
use crate::shard::Shard;

pub async fn handle(shard: &Shard, r: SyncGroupRequest, version: i16) -> SyncGroupResponse {
    let assignments = r
        .assignments
        .iter()
        .map(|a| (a.member_id.to_string(), a.assignment.clone()))
        .collect();
    let op = GroupOp::Sync {
        member: MemberRef {
            member_id: r.member_id.to_string(),
            instance_id: r.group_instance_id.as_ref().map(|i| i.to_string()),
            generation: r.generation_id,
        },
        assignments,
    };
    match shard.group(&r.group_id.0, op).await {
        GroupAnswer::Sync(s) => {
            let resp = SyncGroupResponse::default()
                .with_error_code(group_error_code(s.error.map_or(Ok(()), Err)))
                .with_assignment(s.assignment);
            if version >= 5 {
                resp.with_protocol_type(r.protocol_type)
                    .with_protocol_name(r.protocol_name)
            } else {
                resp
            }
        }
        GroupAnswer::Done(outcome) => {
            SyncGroupResponse::default().with_error_code(group_error_code(outcome))
        }
        _ => SyncGroupResponse::default().with_error_code(unexpected_answer()),
    }
}
