//! The Raft log's storage as raft-rs reads it: its in-memory `MemStorage` for entries and state,
//! and the newest snapshot with its data (MemStorage's own snapshots carry none), which Raft
//! sends to a follower that is behind the log's first entry.

use raft::eraftpb::{Entry, Snapshot};
use raft::storage::MemStorage;
use raft::{GetEntriesContext, RaftState, Storage, StorageError};

pub struct SnapStore {
    pub mem: MemStorage,
    /// The newest snapshot, with the image as its data.
    pub latest: Option<Snapshot>,
}

impl Storage for SnapStore {
    fn initial_state(&self) -> raft::Result<RaftState> {
        self.mem.initial_state()
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        self.mem.entries(low, high, max_size, context)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        self.mem.term(idx)
    }

    fn first_index(&self) -> raft::Result<u64> {
        self.mem.first_index()
    }

    fn last_index(&self) -> raft::Result<u64> {
        self.mem.last_index()
    }

    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        match &self.latest {
            Some(s) if s.get_metadata().index >= request_index => Ok(s.clone()),
            // Raft asks again later; a snapshot is taken as the log grows.
            _ => Err(raft::Error::Store(
                StorageError::SnapshotTemporarilyUnavailable,
            )),
        }
    }
}
