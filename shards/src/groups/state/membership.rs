//! Who a request comes from: checks of a member's id, generation and static instance id
//! (fencing an old incarnation), and the topics the members subscribe to.

use super::*;

/// Who sends a request as a member of the group: SyncGroup, Heartbeat, OffsetCommit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRef {
    pub member_id: String,
    /// The static instance id the request names (Heartbeat and SyncGroup v3+, OffsetCommit v7+).
    pub instance_id: Option<String>,
    pub generation: i32,
}

/// A member that leaves: by its id, or by its static instance id when the id is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeavingMember {
    pub member_id: String,
    pub instance_id: Option<String>,
}

impl Group {
    /// Refuses a request from a member that is not (or no longer) in the group, of another
    /// generation, or whose static instance id has passed to a newer member id.
    pub(super) fn check_member(&self, who: &MemberRef) -> Result<(), GroupError> {
        self.check_instance(&who.member_id, who.instance_id.as_deref())?;
        if !self.members.contains_key(&who.member_id) {
            return Err(GroupError::UnknownMember);
        }
        if who.generation != self.generation {
            return Err(GroupError::StaleGeneration);
        }
        Ok(())
    }

    /// FENCED_INSTANCE_ID when `instance_id` belongs to a member other than `member_id`, as
    /// Kafka answers an old incarnation of a static member once a new one has joined.
    pub(super) fn check_instance(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), GroupError> {
        let Some(instance) = instance_id else {
            return Ok(());
        };
        match self.member_of_instance(instance) {
            Some(current) if current != member_id => Err(GroupError::FencedInstance),
            _ => Ok(()),
        }
    }

    /// Every topic a member subscribes to, from its metadata for the group's protocol (members
    /// whose metadata does not decode subscribe to nothing we know of).
    pub fn subscribed_topics(&self) -> std::collections::BTreeSet<String> {
        let proto = self.protocol_name.clone().unwrap_or_default();
        self.members
            .values()
            .filter_map(|m| crate::groups::subscription::subscribed_topics(&m.metadata_for(&proto)))
            .flatten()
            .collect()
    }

    fn member_of_instance(&self, instance: &str) -> Option<&str> {
        self.members
            .values()
            .find(|m| m.instance_id.as_deref() == Some(instance))
            .map(|m| m.id.as_str())
    }
}
