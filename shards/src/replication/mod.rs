//! Replicated partitions (Kafka's replication protocol): the leader's view of its followers
//! (`leader_state.rs`), the owner shard's roles and high watermarks (`roles.rs`), the leader's
//! side of a follower's fetch (`serve.rs`), and each shard's fetchers that keep its follower
//! logs up with their leaders (`fetcher.rs`).

pub mod fetcher;
pub mod hw_checkpoint;
pub mod leader_state;
pub mod roles;
pub mod serve;
