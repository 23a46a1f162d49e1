//! Per-log settings, each with its unit in its name and checked before a log opens.

use crate::error::{EngineError, Result};

/// When appended bytes are written to disk. Both limits zero means after every append.
/// Durability (fdatasync) is separate: callers ask for it with `PartitionLog::wait_durable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushPolicy {
    /// Write once this many bytes are waiting (0: at once).
    pub max_unflushed_bytes: u64,
    /// Write at the latest this long after the first unwritten append (0: at once).
    pub max_delay_ms: u64,
}

impl FlushPolicy {
    pub const EVERY_APPEND: FlushPolicy = FlushPolicy {
        max_unflushed_bytes: 0,
        max_delay_ms: 0,
    };

    pub fn every_bytes(bytes: u64, max_delay_ms: u64) -> Self {
        FlushPolicy {
            max_unflushed_bytes: bytes,
            max_delay_ms,
        }
    }

    pub fn every_ms(ms: u64) -> Self {
        FlushPolicy {
            max_unflushed_bytes: u64::MAX,
            max_delay_ms: ms,
        }
    }

    pub(crate) fn immediate(&self) -> bool {
        self.max_unflushed_bytes == 0 || self.max_delay_ms == 0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogConfig {
    /// Roll to a new segment when the active one reaches this size.
    pub segment_bytes: u64,
    /// Roll when the active segment's first append is this old (0: never by age).
    pub segment_ms: u64,
    /// One offset- and time-index entry per this many bytes of batches.
    pub index_interval_bytes: u64,
    /// Largest single batch accepted.
    pub max_batch_bytes: usize,
    /// Delete oldest segments while the log is larger than this (None: no size limit).
    pub retention_bytes: Option<u64>,
    /// Delete segments whose newest record is older than this (None: no time limit).
    pub retention_ms: Option<u64>,
    pub flush: FlushPolicy,
    /// On open, idempotent producers' state is rebuilt from this many last bytes of the log.
    pub producer_state_scan_bytes: u64,
    /// Stamp every appended batch with the append time (Kafka's LogAppendTime) instead of
    /// keeping the producer's timestamps (CreateTime).
    pub log_append_time: bool,
    /// The active segment's `.log` is allocated this far ahead of its writes (0: not at all),
    /// so that writes do not extend the file (`DirectFile::preallocate`). A seal cuts the file
    /// to its exact size; after a crash, recovery cuts the unwritten rest.
    pub preallocate_bytes: u64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            index_interval_bytes: 4096,
            max_batch_bytes: 1 << 20,
            retention_bytes: None,
            retention_ms: Some(7 * 24 * 3600 * 1000),
            flush: FlushPolicy::EVERY_APPEND,
            producer_state_scan_bytes: 16 << 20,
            log_append_time: false,
            preallocate_bytes: 16 << 20,
        }
    }
}

impl LogConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(EngineError::Config(m));
        // Index positions are 32-bit; an append that starts just below the limit may run past it
        // by up to one request, so the limit leaves half the range free.
        if self.segment_bytes < 64 * 1024 || self.segment_bytes > i32::MAX as u64 {
            return bad(format!(
                "segment_bytes {} must be within [65536, {}]",
                self.segment_bytes,
                i32::MAX
            ));
        }
        if self.index_interval_bytes == 0 {
            return bad("index_interval_bytes must be positive".into());
        }
        if self.max_batch_bytes < strata_record::batch::HEADER_LEN
            || self.max_batch_bytes as u64 > self.segment_bytes
        {
            return bad(format!(
                "max_batch_bytes {} must be within [{}, segment_bytes]",
                self.max_batch_bytes,
                strata_record::batch::HEADER_LEN
            ));
        }
        Ok(())
    }
}
