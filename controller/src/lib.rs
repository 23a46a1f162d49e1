//! The cluster's metadata, as Kafka's KRaft keeps it: a log of records (`records`), replicated
//! by the controller quorum, that every broker applies in order to an image (`image`) of
//! brokers, topics, partitions and their leaders, configs and producer-id blocks.
//!
//! This crate is pure: no I/O, no runtime, no clock. The Raft driver (raft-rs), the log's
//! storage and the hand-over of images to shards build on it (docs/proposals/issue-14-cluster.md).

pub mod image;
pub mod records;

pub use image::{ApplyError, BrokerImage, MetadataImage, PartitionImage, TopicImage};
pub use records::{ConfigResource, Endpoint, MetadataBatch, MetadataRecord};
