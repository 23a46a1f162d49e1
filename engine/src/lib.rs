//! Strata's storage engine: each partition is a `PartitionLog`, an append-only log of Kafka v2
//! record batches in segment files written and read with O_DIRECT, with sparse offset and time
//! indexes, a per-shard batch cache, crash recovery and retention.
//!
//! The engine knows record batches and files, nothing of the network or of Kafka's request
//! protocol. Everything it takes from the async runtime goes through `strata_runtime`. A log belongs to one
//! shard (one thread) and is never shared across threads. It must never report a batch durable
//! that a crash could take away, and never serve bytes that fail their CRC.

pub mod cache;
pub mod config;
pub mod error;
mod event;
pub mod index;
pub mod index_check;
pub mod leader_epochs;
mod log;
mod log_caches;
mod pending;
pub mod producer_state;
pub mod recovery;
mod sealed_files;
mod segment;
pub mod tail_slots;

pub use cache::BatchCache;
pub use config::{FlushPolicy, LogConfig};
pub use error::{EngineError, Result};
pub use log::{Appended, FetchedBatches, PartitionLog, RetentionReport, TruncateStep};
pub use log_caches::LogCaches;
pub use recovery::{RecoveryReport, Truncation};
pub use sealed_files::SealedFiles;
