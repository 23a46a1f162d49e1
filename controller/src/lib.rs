//! The cluster's metadata, as Kafka's KRaft keeps it: a log of records (`records`), replicated
//! by the controller quorum, that every broker applies in order to an image (`image`) of
//! brokers, topics, partitions and their leaders, configs and producer-id blocks.
//!
//! `replica` runs the log on raft-rs: a node's `RawNode` and the image its committed entries
//! build, driven step by step by its caller (ticks, messages, proposals).
//!
//! This crate does no I/O, and has no runtime and no clock. The log's durable storage, the
//! transport between controller nodes and the hand-over of images to shards build on it
//! (docs/proposals/issue-14-cluster.md).

pub mod coordinator;
pub mod image;
pub mod isr;
pub mod liveness;
mod log_drain;
pub mod placement;
pub mod records;
pub mod replica;
pub mod snapshot;
pub mod wal_format;
pub mod wire;

pub use image::{ApplyError, BrokerImage, MetadataImage, PartitionImage, TopicImage};
pub use records::{ConfigResource, Endpoint, MetadataBatch, MetadataRecord};
