//! DescribeGroups: state, protocol and members (with their metadata and assignment).

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::error::{group_error_code, unexpected_answer};
use crate::router::{GroupAnswer, GroupOp};
use crate::shard::Shard;

pub async fn handle(
    shard: &Shard,
    r: DescribeGroupsRequest,
    version: i16,
) -> DescribeGroupsResponse {
    let mut groups = Vec::new();
    for id in &r.groups {
        let g = DescribedGroup::default()
            .with_group_id(id.clone())
            .with_authorized_operations(if version >= 3 {
                super::authorized::group(r.include_authorized_operations)
            } else {
                super::authorized::NOT_REQUESTED
            });
        groups.push(match shard.group(&id.0, GroupOp::Describe).await {
            GroupAnswer::View(Some(v)) => g
                .with_group_state(StrBytes::from_static_str(v.state))
                .with_protocol_type(StrBytes::from_string(v.protocol_type))
                .with_protocol_data(StrBytes::from_string(v.protocol))
                .with_members(
                    v.members
                        .into_iter()
                        .map(|m| {
                            let d = DescribedGroupMember::default()
                                .with_member_id(StrBytes::from_string(m.member_id))
                                .with_client_id(StrBytes::from_string(m.client.client_id))
                                .with_client_host(StrBytes::from_string(m.client.host))
                                .with_member_metadata(m.metadata)
                                .with_member_assignment(m.assignment);
                            if version >= 4 {
                                d.with_group_instance_id(m.instance_id.map(StrBytes::from_string))
                            } else {
                                d
                            }
                        })
                        .collect(),
                ),
            // Kafka describes an unknown group as Dead with no members.
            GroupAnswer::View(None) => g.with_group_state(StrBytes::from_static_str("Dead")),
            GroupAnswer::Done(outcome) => g.with_error_code(group_error_code(outcome)),
            _ => g.with_error_code(unexpected_answer()),
        });
    }
    DescribeGroupsResponse::default().with_groups(groups)
}
