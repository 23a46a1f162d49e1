//! One node's replica of the metadata log: a raft-rs `RawNode` and the image its committed
//! entries build. `handle_ready` does raft-rs's Ready in the order safety needs: the leader's
//! messages may go at once; entries and the hard state are stored before any message that
//! depends on them (`persisted_messages`) leaves; committed entries are applied in log order.
//!
//! raft-rs reads the log from its `MemStorage`; durability is the caller's: `ready` hands out
//! the records to write to the log's file (`wal_format`) and sync, and `stored` then releases
//! the messages that waited for them. `restore` starts from a file read back. The file itself
//! (appends and syncs off the shard thread) is the next step of issue 14
//! (docs/proposals/issue-14-cluster.md, step 3).

use raft::eraftpb::{Entry, EntryType, Message, Snapshot};
use raft::storage::MemStorage;
use raft::{Config, GetEntriesContext, RawNode, Ready, StateRole, Storage};

use crate::image::{ApplyError, MetadataImage};
use crate::records::{DecodeError, MetadataBatch};
use crate::snapshot::{decode_image, encode_image, SnapshotError};
use crate::wal_format::{Recovered, WalRecord};

mod store;
use store::SnapStore;

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
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
}

pub struct Replica {
    node: RawNode<SnapStore>,
    image: MetadataImage,
    /// The last entry applied (metadata or not: a new leader's empty entry too).
    applied: u64,
    /// The index of the newest snapshot (0: none).
    snapshot_index: u64,
    /// A Ready taken whose records are being stored.
    pending: Option<Ready>,
    /// The commit index moved after the last hard state handed out for storing.
    commit_unsaved: bool,
}

/// What a Ready asks of the caller: send `send_now` (in order), write `to_store` to the log's
/// file and sync it, then call `Replica::stored`.
#[derive(Debug)]
pub struct ReadyToStore {
    pub send_now: Vec<Message>,
    /// A snapshot the leader sent, now this replica's state: stored (the file replaced, the
    /// log before it dropped) before `to_store`.
    pub snapshot: Option<Snapshot>,
    pub to_store: Vec<WalRecord>,
}

impl Replica {
    /// A replica of node `node_id` in a quorum of `voters` (node ids), starting empty.
    pub fn new(node_id: i32, voters: &[i32]) -> Result<Replica, ReplicaError> {
        Self::restore(node_id, voters, Recovered::default())
    }

    /// A replica of node `node_id` whose log file read back as `recovered`: raft-rs hands its
    /// committed entries out again, and they rebuild the image.
    pub fn restore(
        node_id: i32,
        voters: &[i32],
        recovered: Recovered,
    ) -> Result<Replica, ReplicaError> {
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
        let mut image = MetadataImage::default();
        let mut applied = 0;
        if let Some(snapshot) = &recovered.snapshot {
            image = decode_image(snapshot.get_data())?;
            applied = snapshot.get_metadata().index;
            storage.wl().apply_snapshot(snapshot.clone())?;
        }
        // The log's file may still hold entries the snapshot covers (a crash between writing
        // the snapshot and cutting the file).
        let entries: Vec<Entry> = recovered
            .entries
            .into_iter()
            .filter(|e| e.index > applied)
            .collect();
        storage.wl().append(&entries)?;
        if let Some(mut hard_state) = recovered.hard_state {
            hard_state.commit = hard_state.commit.max(applied);
            storage.wl().set_hardstate(hard_state);
        }
        let config = Config { applied, ..config };
        let store = SnapStore {
            mem: storage,
            latest: recovered.snapshot,
        };
        let node = RawNode::new(&config, store, &crate::log_drain::logger())?;
        Ok(Replica {
            node,
            image,
            applied,
            snapshot_index: applied,
            pending: None,
            commit_unsaved: false,
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

    /// The index the next proposal gets, and the current term: a proposal made now is
    /// committed as proposed when the entry at that index later has this term.
    pub fn next_index_and_term(&self) -> (u64, u64) {
        (
            self.node.raft.raft_log.last_index() + 1,
            self.node.raft.term,
        )
    }

    /// The current Raft term (KRaft's leader epoch).
    pub fn term(&self) -> u64 {
        self.node.raft.term
    }

    /// The last index of the log (KRaft's log end offset).
    pub fn last_index(&self) -> u64 {
        self.node.raft.raft_log.last_index()
    }

    /// While leading: each voter's node id and the last index known to be in its log.
    pub fn progress(&self) -> Vec<(i32, u64)> {
        if !self.is_leader() {
            return Vec::new();
        }
        let mut out: Vec<(i32, u64)> = self
            .node
            .raft
            .prs()
            .iter()
            .map(|(id, p)| (*id as i32 - 1, p.matched))
            .collect();
        out.sort_unstable();
        out
    }

    /// The term of the entry at `index`, if the log still has it.
    pub fn term_at(&self, index: u64) -> Option<u64> {
        self.node.raft.raft_log.term(index).ok()
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

    /// Takes what raft-rs has ready, if anything: the messages that may go now, and the records
    /// to write to the log's file and sync. Once they are synced, `stored` gives the messages
    /// that depend on them; until then this replica takes no other Ready.
    pub fn ready(&mut self) -> Result<Option<ReadyToStore>, ReplicaError> {
        if self.pending.is_some() || !self.node.has_ready() {
            return Ok(None);
        }
        let mut ready = self.node.ready();
        // A leader's messages do not depend on what this Ready stores.
        let send_now = ready.take_messages();
        let mut installed = None;
        if !ready.snapshot().is_empty() {
            // The leader's snapshot replaces this replica's state: image, log and all.
            let snapshot = ready.snapshot().clone();
            self.image = decode_image(snapshot.get_data())?;
            self.applied = snapshot.get_metadata().index;
            self.snapshot_index = self.applied;
            let store = self.node.mut_store();
            store.mem.wl().apply_snapshot(snapshot.clone())?;
            store.latest = Some(snapshot.clone());
            installed = Some(snapshot);
        }
        self.apply(ready.take_committed_entries())?;
        let mut to_store: Vec<WalRecord> = ready
            .entries()
            .iter()
            .map(|e| WalRecord::Entry(e.clone()))
            .collect();
        let store = &self.node.mut_store().mem;
        store.wl().append(ready.entries())?;
        match ready.hs() {
            Some(hard_state) => {
                store.wl().set_hardstate(hard_state.clone());
                to_store.push(WalRecord::HardState(hard_state.clone()));
            }
            // A commit index learnt after the last Ready: saved with this one, so that a
            // restart re-applies what was committed (not needed for safety, hence no sync
            // of its own). After a snapshot the log's file starts again: it needs one.
            None if self.commit_unsaved || installed.is_some() => {
                to_store.push(WalRecord::HardState(store.rl().hard_state().clone()));
            }
            None => {}
        }
        self.commit_unsaved = false;
        self.pending = Some(ready);
        Ok(Some(ReadyToStore {
            send_now,
            snapshot: installed,
            to_store,
        }))
    }

    /// The records of the last `ready` are synced: the messages that waited for them, in order.
    pub fn stored(&mut self) -> Result<Vec<Message>, ReplicaError> {
        let Some(mut ready) = self.pending.take() else {
            return Ok(Vec::new());
        };
        let mut out = ready.take_persisted_messages();
        let mut light = self.node.advance(ready);
        if let Some(commit) = light.commit_index() {
            self.node
                .mut_store()
                .mem
                .wl()
                .mut_hard_state()
                .set_commit(commit);
            self.commit_unsaved = true;
        }
        out.extend(light.take_messages());
        self.apply(light.take_committed_entries())?;
        self.node.advance_apply();
        Ok(out)
    }

    /// `ready` and `stored` at once, for a replica whose log is only in memory; the messages
    /// to send, in order, and the records a file would have been given.
    pub fn handle_ready(&mut self) -> Result<(Vec<Message>, Vec<WalRecord>), ReplicaError> {
        let Some(ReadyToStore {
            mut send_now,
            to_store,
            ..
        }) = self.ready()?
        else {
            return Ok((Vec::new(), Vec::new()));
        };
        send_now.extend(self.stored()?);
        Ok((send_now, to_store))
    }

    /// Whether `every` entries have been applied since the newest snapshot.
    pub fn snapshot_due(&self, every: u64) -> bool {
        self.applied >= self.snapshot_index + every
    }

    /// Takes a snapshot of the image at the last applied entry and drops the log before that
    /// entry: the snapshot (to store), and what the log keeps (to write in place of its file).
    pub fn take_snapshot(&mut self) -> Result<(Snapshot, Vec<WalRecord>), ReplicaError> {
        let index = self.applied;
        let term = self.node.raft.raft_log.term(index)?;
        let conf_state = self.node.store().initial_state()?.conf_state;
        let mut snapshot = Snapshot::default();
        snapshot.set_data(encode_image(&self.image).into());
        snapshot.mut_metadata().index = index;
        snapshot.mut_metadata().term = term;
        snapshot.mut_metadata().set_conf_state(conf_state);
        let store = self.node.mut_store();
        // The entry at `index` stays, so its term is known; Raft sends the snapshot to a
        // follower that needs anything before it.
        store.mem.wl().compact(index)?;
        store.latest = Some(snapshot.clone());
        self.snapshot_index = index;
        let last = store.mem.last_index()?;
        let kept = store
            .mem
            .entries(index, last + 1, None, GetEntriesContext::empty(false))?;
        let mut records: Vec<WalRecord> = kept.into_iter().map(WalRecord::Entry).collect();
        records.push(WalRecord::HardState(store.mem.rl().hard_state().clone()));
        Ok((snapshot, records))
    }

    fn apply(&mut self, entries: Vec<Entry>) -> Result<(), ReplicaError> {
        for entry in entries {
            self.applied = self.applied.max(entry.index);
            match entry.get_entry_type() {
                // The empty entry a new leader commits first carries no records.
                EntryType::EntryNormal if entry.data.is_empty() => {}
                EntryType::EntryNormal => {
                    let batch = MetadataBatch::decode(&entry.data)?;
                    // Committed is committed: an entry that does not apply is skipped, alike on
                    // every node (apply is all or nothing and deterministic), never retried by
                    // stopping (a restart would meet it again).
                    if let Err(e) = self.image.apply(entry.index, &batch) {
                        tracing::error!("skipping a committed metadata entry: {e}");
                        self.image.applied_index = entry.index;
                    }
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
