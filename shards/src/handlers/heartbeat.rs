//! Heartbeat: keeps a member's session; tells it when a rebalance is under way.

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use crate::error::group_error_code;
use crate::groups::state::MemberRef;
use crate::router::{GroupAnswer, GroupOp};
use crate::shard::Shard;

pub async fn handle(shard: &Shard, r: HeartbeatRequest) -> HeartbeatResponse {
    let op = GroupOp::Heartbeat {
        member: MemberRef {
            member_id: r.member_id.to_string(),
            instance_id: r.group_instance_id.as_ref().map(|i| i.to_string()),
            generation: r.generation_id,
        },
    };
    let code = match shard.group(&r.group_id.0, op).await {
        GroupAnswer::Done(outcome) => group_error_code(outcome),
        _ => crate::error::unexpected_answer(),
    };
    HeartbeatResponse::default().with_error_code(code)
}
