//! A group's membership as the offsets topic keeps it (`StoredGroup`): written when the group
//! settles (Stable) or empties, and restored by a new coordinator, so that members carry on
//! with their generation instead of rejoining (as Kafka's coordinator loads GroupMetadata).

use super::{ClientInfo, Group, GroupLimits, GroupState, Member};
use crate::groups::offsets_record::{StoredGroup, StoredMember};

impl Group {
    /// What to write for this group now: its membership when it is Stable or Empty (None while
    /// it rebalances: the record written when it settles says where it went).
    pub fn stored(&self) -> Option<StoredGroup> {
        let protocol = self.protocol_name.clone();
        let members = match self.state {
            GroupState::Stable => self
                .members
                .values()
                .map(|m| StoredMember {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client.client_id.clone(),
                    client_host: m.client.host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms.min(i32::MAX as u64) as i32,
                    session_timeout_ms: m.session_timeout_ms.min(i32::MAX as u64) as i32,
                    subscription: m.metadata_for(protocol.as_deref().unwrap_or_default()),
                    assignment: m.assignment.clone(),
                })
                .collect(),
            GroupState::Empty => Vec::new(),
            _ => return None,
        };
        Some(StoredGroup {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol,
            leader: self.leader.clone(),
            members,
        })
    }

    /// The group a new coordinator goes on with: Stable in the stored generation, every member
    /// with a fresh session from `now_ms` (it expires as usual if the member is gone).
    pub fn restore(id: &str, limits: GroupLimits, stored: StoredGroup, now_ms: u64) -> Group {
        let mut g = Group::new(id, limits);
        let protocol = stored.protocol.clone().unwrap_or_default();
        g.state = GroupState::Stable;
        g.generation = stored.generation;
        g.protocol_type = Some(stored.protocol_type);
        g.protocol_name = stored.protocol;
        g.leader = stored.leader;
        // New member ids must not meet restored ones (they count up from here).
        g.next_member = (uuid::Uuid::new_v4().as_u128() as u64) >> 20;
        for m in stored.members {
            let member = Member {
                id: m.member_id.clone(),
                instance_id: m.instance_id,
                client: ClientInfo {
                    client_id: m.client_id,
                    host: m.client_host,
                },
                session_timeout_ms: m.session_timeout_ms.max(0) as u64,
                rebalance_timeout_ms: m.rebalance_timeout_ms.max(0) as u64,
                protocols: vec![(protocol.clone(), m.subscription)],
                assignment: m.assignment,
                last_heartbeat_ms: now_ms,
                awaiting_join: false,
                awaiting_sync: false,
            };
            g.members.insert(m.member_id, member);
        }
        g
    }
}
