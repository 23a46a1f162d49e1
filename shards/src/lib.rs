//! The Strata broker: a thread-per-core server of the Kafka protocol on top of the storage
//! engine. Each shard (one pinned executor) accepts its own connections, owns a fixed share of the
//! partitions, and forwards what it does not own to the owner by message passing.
//!
//! Never: touch a partition another shard owns, hold a lock around shared state, let one
//! connection's bad request harm another connection, or acknowledge what is not stored.

pub mod broker_configs;
pub mod client_log;
pub mod cluster;
pub mod cluster_cli;
pub mod codec;
pub mod config;
pub mod connection;
pub mod error;
pub mod exclusive;
pub mod frame_read;
pub mod groups;
pub mod handlers;
pub mod inflate;
pub mod latency;
pub mod legacy;
pub mod open_files;
pub mod partition_marker;
pub mod plain_batch;
pub mod producer_ids;
pub mod record_time;
pub mod replica_assignment;
pub mod replication;
pub mod router;
pub mod server;
pub mod shard;
#[cfg(test)]
mod test_executor;
pub mod topic_configs;
pub mod topic_policy;
pub mod topics;

pub use config::BrokerConfig;
pub use server::Broker;
