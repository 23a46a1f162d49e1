//! DeleteGroups: an empty group and its committed offsets go; a group with members is refused.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use crate::error::group_error_code;
use crate::router::{GroupAnswer, GroupOp};
use crate::shard::Shard;

pub async fn handle(shard: &Shard, r: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let mut results = Vec::new();
    for id in &r.groups_names {
        let code = match shard.group(&id.0, GroupOp::Delete).await {
            GroupAnswer::Done(outcome) => group_error_code(outcome),
            _ => crate::error::unexpected_answer(),
        };
        results.push(
            DeletableGroupResult::default()
                .with_group_id(id.clone())
                .with_error_code(code),
        );
    }
    DeleteGroupsResponse::default().with_results(results)
}
