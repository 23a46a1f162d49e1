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
    /// The committed-offsets log could not be reopened after a compaction.
    #[error("committed offsets of this shard are unavailable: {0}")]
    OffsetsUnavailable(String),
}

impl BrokerError {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        BrokerError::Io {
            what: what.into(),
            source,
        }
    }
}

/// The Kafka error code for an engine error met while serving a partition.
pub fn error_code(e: &EngineError) -> i16 {
    use kafka_protocol::error::ResponseError as R;
    let r = match e {
        EngineError::InvalidBatch { source, .. } => match source {
            strata_engine::batch::BatchError::TooLarge { .. } => R::MessageTooLarge,
            strata_engine::batch::BatchError::CrcMismatch { .. } => R::CorruptMessage,
            _ => R::CorruptMessage,
        },
        EngineError::EmptyAppend => R::CorruptMessage,
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

pub fn code(r: ResponseError) -> i16 {
    r.code()
}
