//! Consumer groups: the classic protocol's state machine (`state`), each shard's coordinator of
//! the groups it owns (`coordinator`), their committed offsets (`offsets`), and why a request
//! failed (`error`).

pub mod coordinator;
pub mod error;
pub mod legacy_offsets;
pub mod offsets;
pub mod offsets_record;
pub mod state;
pub mod subscription;
