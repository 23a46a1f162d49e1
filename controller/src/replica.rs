//! One node's replica of the metadata log: a raft-rs `RawNode` and the image its committed
//! entries build. `handle_ready` does raft-rs's Ready in the order safety needs: the leader's
//! messages may go at once; entries and the hard state are stored before any message that
//! depends on them (`persisted_messages`) leaves; committed entries are applied in log order.
//!
//! Storage is raft-rs's `MemStorage` for now: nothing here survives a restart yet. The log's
//! durable storage (a write-ahead file, fsync before the persisted messages go) is the next step
//! of issue 14 (docs/proposals/issue-14-cluster.md, step 3).

use raft::eraftpb::{Entry, EntryType, Message};
use raft::storage::MemStorage;
use raft::{Config, RawNode, StateRole};

use crate::image::{ApplyError, MetadataImage};
use crate::records::{DecodeError, MetadataBatch};

/// Raft ids are node ids + 1: raft-rs reserves id 0, and Strata's first node is 0.
pub fn raft_id(node_id: i32) -> u64 {
    node_id as u64 + 1
}

#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    #[error("raft: {0}")]
    Raft(#[from] raft::Error),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A committed entry that does not fit the image: this node must stop, not guess.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("configuration changes are not served yet (voters are fixed); entry {0}")]
    ConfChange(u64),
    #[error("not the controller's leader (the leader is {leader:?})")]
    NotLeader { leader: Option<i32> },
}

pub struct Replica {
    node: RawNode<MemStorage>,
    image: MetadataImage,
}

impl Replica {
    /// A replica of node `node_id` in a quorum of `voters` (node ids), starting empty.
    pub fn new(node_id: i32, voters: &[i32]) -> Result<Replica, ReplicaError> {
        let config = Config {
            id: raft_id(node_id),
            // Ticks of the driver's timer: an election after 10-20 quiet ticks, heartbeats
            // every 2.
            election_tick: 10,
            heartbeat_tick: 2,
            check_quorum: true,
            pre_vote: true,
            ..Config::default()
        };
        config.validate()?;
        let ids: Vec<u64> = voters.iter().map(|v| raft_id(*v)).collect();
        let storage = MemStorage::new_with_conf_state((ids, vec![]));
        let node = RawNode::new(&config, storage, &crate::log_drain::logger())?;
        Ok(Replica {
            node,
            image: MetadataImage::default(),
        })
    }

    pub fn image(&self) -> &MetadataImage {
        &self.image
    }

    pub fn is_leader(&self) -> bool {
        self.node.raft.state == StateRole::Leader
    }

    /// The node id of the leader this replica knows, if any.
    pub fn leader(&self) -> Option<i32> {
        match self.node.raft.leader_id {
            0 => None,
            id => Some(id as i32 - 1),
        }
    }

    pub fn tick(&mut self) {
        self.node.tick();
    }

    /// Starts an election now (a quorum of one need not wait for its election timeout).
    pub fn campaign(&mut self) -> Result<(), ReplicaError> {
        Ok(self.node.campaign()?)
    }

    /// Proposes an entry; it takes effect when committed and applied. Only the leader takes
    /// proposals: requests reach the active controller by Kafka's forwarding, and a follower
    /// refuses (its caller answers NOT_CONTROLLER) rather than let raft-rs pass the entry on
    /// unseen.
    pub fn propose(&mut self, batch: &MetadataBatch) -> Result<(), ReplicaError> {
        if !self.is_leader() {
            return Err(ReplicaError::NotLeader {
                leader: self.leader(),
            });
        }
        Ok(self.node.propose(vec![], batch.encode())?)
    }

    /// A message from another replica.
    pub fn step(&mut self, message: Message) -> Result<(), ReplicaError> {
        Ok(self.node.step(message)?)
    }

    /// Handles what raft-rs has ready, if anything; returns the messages to send, in order.
    pub fn handle_ready(&mut self) -> Result<Vec<Message>, ReplicaError> {
        if !self.node.has_ready() {
            return Ok(Vec::new());
        }
        let mut ready = self.node.ready();
        // A leader's messages do not depend on what this Ready stores.
        let mut out = ready.take_messages();
        if !ready.snapshot().is_empty() {
            // Snapshots arrive with step 6 (compaction); until then none is ever made.
            let snapshot = ready.snapshot().clone();
            self.node.mut_store().wl().apply_snapshot(snapshot)?;
        }
        self.apply(ready.take_committed_entries())?;
        // Stored before the messages that depend on them (votes, append answers) leave. With
        // the durable log, this is where its fsync goes.
        let store = self.node.mut_store();
        store.wl().append(ready.entries())?;
        if let Some(hard_state) = ready.hs() {
            store.wl().set_hardstate(hard_state.clone());
        }
        out.extend(ready.take_persisted_messages());
        let mut light = self.node.advance(ready);
        if let Some(commit) = light.commit_index() {
            self.node
                .mut_store()
                .wl()
                .mut_hard_state()
                .set_commit(commit);
        }
        out.extend(light.take_messages());
        self.apply(light.take_committed_entries())?;
        self.node.advance_apply();
        Ok(out)
    }

    fn apply(&mut self, entries: Vec<Entry>) -> Result<(), ReplicaError> {
        for entry in entries {
            match entry.get_entry_type() {
                // The empty entry a new leader commits first carries no records.
                EntryType::EntryNormal if entry.data.is_empty() => {}
                EntryType::EntryNormal => {
                    let batch = MetadataBatch::decode(&entry.data)?;
                    self.image.apply(entry.index, &batch)?;
                }
                EntryType::EntryConfChange | EntryType::EntryConfChangeV2 => {
                    return Err(ReplicaError::ConfChange(entry.index))
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
