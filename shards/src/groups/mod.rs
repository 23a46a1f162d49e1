//! Consumer groups: the classic protocol's state machine (`state`), each shard's coordinator of
//! the groups it owns (`coordinator`), and their committed offsets (`offsets`).

pub mod coordinator;
pub mod offsets;
pub mod state;
