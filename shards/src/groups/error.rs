//! Why a group request failed, below the handlers; `crate::error::group_error_code` turns it
//! into Kafka's code in one place.

use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum GroupError {
    /// The shard that owns the group is gone (shutting down), or the group is being removed.
    #[error("the group's coordinator is not available")]
    CoordinatorGone,
    /// The shard's committed offsets are still being read back.
    #[error("the group's coordinator is still loading")]
    CoordinatorLoading,
    #[error("the group is rebalancing: rejoin")]
    Rebalancing,
    #[error("no such member in the group")]
    UnknownMember,
    #[error("the member's generation is not the group's")]
    StaleGeneration,
    /// A static member's instance id now belongs to a newer member id: the old one must stop.
    #[error("another member has taken this static instance id")]
    FencedInstance,
    #[error("session timeout outside the broker's bounds")]
    SessionTimeoutOutOfBounds,
    #[error("protocol type or protocols do not match the group's")]
    InconsistentProtocol,
    /// A new member must rejoin with the id it was given (KIP-394).
    #[error("rejoin with the member id given")]
    MemberIdRequired,
    #[error("the group has its maximum number of members")]
    GroupFull,
    #[error("the group has members")]
    NotEmpty,
    #[error("no such group")]
    NotFound,
    /// OffsetDelete on a group that has members (and so may use the offsets).
    #[error("the group is subscribed to the topic")]
    SubscribedToTopic,
    /// Another broker coordinates the group (by the offsets topic's leaders).
    #[error("another broker coordinates this group")]
    NotCoordinator,
    /// One commit's records are more than one batch of the offsets topic may hold.
    #[error("the commit is larger than the offsets topic takes at once")]
    CommitTooLarge,
    /// Committed offsets could not be written.
    #[error("committed offsets could not be stored")]
    Storage,
}
