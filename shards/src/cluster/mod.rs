//! The cluster (issue 14): the metadata log this node keeps, on the controller quorum's Raft
//! (`strata_controller`). Not yet what the broker reads its topics from: today that is still
//! `topics.json` (plan: docs/proposals/issue-14-cluster.md).

pub mod metadata_log;
