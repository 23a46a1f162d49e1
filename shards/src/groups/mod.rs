//! Consumer groups (issue 5, in progress): the coordinator's state machine so far. The group
//! APIs are not wired to it yet; they still answer UNSUPPORTED_VERSION (handlers::unserved).

pub mod state;
