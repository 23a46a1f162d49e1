//! The engine's one error type. Every variant names what it concerns (file, offset, position),
//! so that the broker can log it as it is and map it to a Kafka error code in one place.

use std::path::PathBuf;

use thiserror::Error;

use strata_record::batch::BatchError;

#[derive(Debug, Error)]
pub enum EngineError {
    /// A batch handed to `append` was refused; nothing of that append was stored.
    #[error("invalid record batch at byte {position} of the append: {source}")]
    InvalidBatch {
        position: usize,
        #[source]
        source: BatchError,
    },
    /// An append with no bytes.
    #[error("empty append: at least one record batch is needed")]
    EmptyAppend,
    /// A follower's batches do not start at its log end, or do not follow each other.
    #[error("a replicated batch at offset {got} where the log expects {expected}")]
    NotContiguous { expected: i64, got: i64 },
    /// An operating-system call on a log file failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Stored bytes fail their checks: served to nobody.
    #[error("{path}: corrupt data at byte {position}: {reason}")]
    Corrupt {
        path: PathBuf,
        position: u64,
        reason: String,
    },
    /// A read asked for an offset outside `[log_start, log_end]`.
    #[error("offset {offset} is out of range [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start: i64,
        log_end: i64,
    },
    /// An earlier write or sync failed; the log refuses appends until it is reopened, because
    /// what is on disk no longer matches what it holds in memory.
    #[error("log {dir} is failed after an earlier I/O error ({reason}); reopen it to recover")]
    Failed {
        dir: PathBuf,
        reason: String,
        disk_full: bool,
    },
    /// An idempotent producer's batch does not follow its last one.
    #[error("producer {producer_id}: sequence {got} where {expected} was expected")]
    OutOfOrderSequence {
        producer_id: i64,
        expected: i32,
        got: i32,
    },
    /// A batch from an epoch older than the producer's current one (a fenced producer).
    #[error("producer {producer_id}: epoch {epoch} is older than the current {current}")]
    InvalidProducerEpoch {
        producer_id: i64,
        epoch: i16,
        current: i16,
    },
    /// A batch that continues a sequence this partition has no record of.
    #[error("producer {producer_id} is unknown to this partition and did not start at sequence 0")]
    UnknownProducerId { producer_id: i64 },
    /// A configuration value is out of its range.
    #[error("invalid log configuration: {0}")]
    Config(String),
}

impl EngineError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EngineError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// True when the error means the disk is full (ENOSPC or EDQUOT), now or when the log failed.
    pub fn is_disk_full(&self) -> bool {
        match self {
            EngineError::Io { source, .. } => {
                // the runtime's errors keep the kind but not always the OS error number.
                matches!(source.raw_os_error(), Some(28) | Some(122))
                    || matches!(
                        source.kind(),
                        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
                    )
            }
            EngineError::Failed { disk_full, .. } => *disk_full,
            _ => false,
        }
    }
}

pub type Result<T> = std::result::Result<T, EngineError>;

/// `map_err` adapter: `file.sync().await.map_err(io_at("fdatasync", path))`.
pub(crate) fn io_at<'a>(
    op: &'static str,
    path: &'a std::path::Path,
) -> impl FnOnce(std::io::Error) -> EngineError + 'a {
    move |e| EngineError::io(op, path, e)
}
