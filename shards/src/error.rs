//! The broker's error type, and the one place where engine errors become Kafka error codes.

use kafka_protocol::error::ResponseError;
use strata_engine::EngineError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum BrokerError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A request the broker cannot read or answer: the connection that sent it is closed.
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("shard {0} is gone (shutting down)")]
    ShardGone(usize),
    /// A state file of the broker's own (committed offsets, snapshots) that cannot be read back.
    #[error("{path}: unreadable at {position}: {reason}")]
    CorruptState {
        path: std::path::PathBuf,
        position: String,
        reason: String,
    },
    /// Another process holds the data directory or the listening address.
    #[error("{0}")]
    Exclusive(String),
    /// A state file of the broker's own could not be encoded (a bug, not the operator's).
    #[error("encoding {what}: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Mesh(#[from] strata_runtime::MeshJoinFailed),
    /// A shard failed (at start or while running).
    #[error("shard {shard}: {source}")]
    Shard {
        shard: usize,
        source: std::sync::Arc<BrokerError>,
    },
    /// A shard failed while the broker started.
    #[error("starting: {0}")]
    Startup(std::sync::Arc<BrokerError>),
    #[error("a shard panicked (its thread's message is above)")]
    ShardPanicked,
    /// A topic change could not open one of its partitions.
    #[error("shard {shard}: opening {topic}-{partition}: {source}")]
    PartitionOpen {
        shard: usize,
        topic: String,
        partition: i32,
        source: Box<BrokerError>,
    },
    /// Partitions of these topics did not open (they stay offline, tried again).
    #[error("{count} partitions did not open ({topics:?}); the first: {first}")]
    PartitionsOffline {
        topics: Vec<String>,
        count: usize,
        first: Box<BrokerError>,
    },
    /// The committed-offsets log could not be reopened after a compaction.
    #[error("committed offsets of this shard are unavailable: {0}")]
    OffsetsUnavailable(String),
}

impl BrokerError {
    /// For `map_err` on a serde_json encoding of `what`.
    pub fn encode(what: &'static str) -> impl FnOnce(serde_json::Error) -> Self {
        move |source| BrokerError::Encode { what, source }
    }

    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        BrokerError::Io {
            what: what.into(),
            source,
        }
    }
}

/// Kafka's error code and message for a topic change's outcome (0 and None when it worked).
pub fn topic_change_code(
    result: &Result<(), crate::router::TopicChangeError>,
) -> (i16, Option<String>) {
    use crate::router::TopicChangeError as T;
    let Err(e) = result else {
        return (0, None);
    };
    let code = match e {
        T::AlreadyExists(_) => ResponseError::TopicAlreadyExists,
        T::Internal(_) => ResponseError::InvalidTopicException,
        T::Unknown(_) => ResponseError::UnknownTopicOrPartition,
        T::InvalidConfig(_) => ResponseError::InvalidConfig,
        T::NotDynamic(_) => ResponseError::InvalidRequest,
        T::InvalidPartitions(_) => ResponseError::InvalidPartitions,
        T::OverFileBudget(_) => ResponseError::PolicyViolation,
        T::Storage(_) => ResponseError::KafkaStorageError,
        T::InvalidReplicationFactor(_) => ResponseError::InvalidReplicationFactor,
        T::NotController(_) => ResponseError::NotController,
        T::TimedOut(_) => ResponseError::RequestTimedOut,
    };
    (code.code(), Some(e.to_string()))
}

/// The Kafka error code for a failed operation on a partition.
pub fn partition_error_code(e: &crate::router::PartitionError) -> i16 {
    use crate::router::PartitionError as P;
    match e {
        P::Unknown => ResponseError::UnknownTopicOrPartition.code(),
        P::OwnerGone => ResponseError::NotLeaderOrFollower.code(),
        P::NotLeader { .. } => ResponseError::NotLeaderOrFollower.code(),
        P::LeaderNotAvailable => ResponseError::LeaderNotAvailable.code(),
        P::Offline => ResponseError::KafkaStorageError.code(),
        P::Engine(e) => error_code(e),
        P::UndecodableBatch(_) => ResponseError::CorruptMessage.code(),
        P::NotEnoughReplicas { .. } => ResponseError::NotEnoughReplicas.code(),
        P::NotEnoughReplicasAfterAppend { .. } => {
            ResponseError::NotEnoughReplicasAfterAppend.code()
        }
        P::ReplicationTimedOut { .. } => ResponseError::RequestTimedOut.code(),
        P::FencedLeaderEpoch { .. } => ResponseError::FencedLeaderEpoch.code(),
        P::UnknownLeaderEpoch { .. } => ResponseError::UnknownLeaderEpoch.code(),
    }
}

/// The Kafka error code for an engine error met while serving a partition.
pub fn error_code(e: &EngineError) -> i16 {
    use kafka_protocol::error::ResponseError as R;
    let r = match e {
        EngineError::InvalidBatch { source, .. } => match source {
            strata_record::batch::BatchError::TooLarge { .. } => R::MessageTooLarge,
            strata_record::batch::BatchError::CrcMismatch { .. } => R::CorruptMessage,
            _ => R::CorruptMessage,
        },
        EngineError::EmptyAppend => R::CorruptMessage,
        // Only a follower's own appends meet it; it refetches from its log end.
        EngineError::NotContiguous { .. } => R::UnknownServerError,
        EngineError::OffsetOutOfRange { .. } => R::OffsetOutOfRange,
        EngineError::Io { .. } | EngineError::Corrupt { .. } | EngineError::Failed { .. } => {
            R::KafkaStorageError
        }
        EngineError::Config(_) => R::InvalidConfig,
        EngineError::OutOfOrderSequence { .. } => R::OutOfOrderSequenceNumber,
        EngineError::InvalidProducerEpoch { .. } => R::InvalidProducerEpoch,
        EngineError::UnknownProducerId { .. } => R::UnknownProducerId,
    };
    r.code()
}

/// The Kafka error code for a group request's outcome (0 when it worked).
pub fn group_error_code(result: Result<(), crate::groups::error::GroupError>) -> i16 {
    use crate::groups::error::GroupError as G;
    let Err(e) = result else {
        return 0;
    };
    let r = match e {
        G::CoordinatorGone => ResponseError::CoordinatorNotAvailable,
        G::CoordinatorLoading => ResponseError::CoordinatorLoadInProgress,
        G::Rebalancing => ResponseError::RebalanceInProgress,
        G::UnknownMember => ResponseError::UnknownMemberId,
        G::StaleGeneration => ResponseError::IllegalGeneration,
        G::FencedInstance => ResponseError::FencedInstanceId,
        G::SessionTimeoutOutOfBounds => ResponseError::InvalidSessionTimeout,
        G::InconsistentProtocol => ResponseError::InconsistentGroupProtocol,
        G::MemberIdRequired => ResponseError::MemberIdRequired,
        G::GroupFull => ResponseError::GroupMaxSizeReached,
        G::NotEmpty => ResponseError::NonEmptyGroup,
        G::NotFound => ResponseError::GroupIdNotFound,
        G::SubscribedToTopic => ResponseError::GroupSubscribedToTopic,
        G::Storage => ResponseError::KafkaStorageError,
        G::NotCoordinator => ResponseError::NotCoordinator,
        G::CommitTooLarge => ResponseError::InvalidCommitOffsetSize,
    };
    r.code()
}

/// The code for a shard's answer of the wrong kind (a bug): Kafka's UNKNOWN_SERVER_ERROR.
pub fn unexpected_answer() -> i16 {
    tracing::error!("a shard answered a group request with an answer of the wrong kind");
    ResponseError::UnknownServerError.code()
}

pub fn code(r: ResponseError) -> i16 {
    r.code()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::groups::error::GroupError;

    #[test]
    fn group_errors_become_the_codes_kafka_clients_act_on() {
        let cases = [
            (GroupError::UnknownMember, 25),
            (GroupError::SessionTimeoutOutOfBounds, 26),
            (GroupError::Rebalancing, 27),
            (GroupError::StaleGeneration, 22),
            (GroupError::FencedInstance, 82),
            (GroupError::MemberIdRequired, 79),
            (GroupError::CoordinatorLoading, 14),
            (GroupError::CoordinatorGone, 15),
            (GroupError::NotEmpty, 68),
            (GroupError::NotFound, 69),
        ];
        for (e, code) in cases {
            assert_eq!(group_error_code(Err(e)), code, "{e:?}");
        }
        assert_eq!(group_error_code(Ok(())), 0);
    }
}
