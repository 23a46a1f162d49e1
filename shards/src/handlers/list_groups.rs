//! ListGroups: every group any shard coordinates (v4: filtered by state).

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::shard::Shard;

pub async fn handle(shard: &Shard, r: ListGroupsRequest, version: i16) -> ListGroupsResponse {
    let groups = shard
        .all_groups()
        .await
        .into_iter()
        .filter(|listed| {
            r.states_filter.is_empty() || r.states_filter.iter().any(|s| s.as_str() == listed.state)
        })
        .map(|listed| {
            let g = ListedGroup::default()
                .with_group_id(GroupId(StrBytes::from_string(listed.id)))
                .with_protocol_type(StrBytes::from_string(listed.protocol_type));
            if version >= 4 {
                g.with_group_state(StrBytes::from_static_str(listed.state))
            } else {
                g
            }
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}
