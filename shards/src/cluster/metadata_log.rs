//! This node's copy of the metadata log: a `Replica` (raft-rs and the image) over a
//! write-ahead file. Every Ready's records are appended and synced (on the blocking-call
//! thread, never the shard's) before the messages that depend on them are handed out; a torn
//! end left by a crash is cut when the file is opened.
//!
//! A quorum of one (this node alone, the zero-configuration default) elects itself at once and
//! commits an entry as soon as it is synced.

use std::path::{Path, PathBuf};

use strata_controller::replica::{Replica, ReplicaError};
use strata_controller::wal_format::{self, WalError};
use strata_controller::{MetadataBatch, MetadataImage};
use strata_runtime::fs::{create_dir_all, AppendFile};

/// Raft's messages for other nodes, in order.
pub type Outbox = Vec<raft::eraftpb::Message>;

#[derive(Debug, thiserror::Error)]
pub enum MetadataLogError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Unreadable { path: PathBuf, source: WalError },
    #[error(transparent)]
    Replica(#[from] ReplicaError),
    #[error("proposed as entry {index}, but the quorum did not commit it")]
    NotCommitted { index: u64 },
}

pub struct MetadataLog {
    replica: Replica,
    file: AppendFile,
    path: PathBuf,
}

impl MetadataLog {
    /// Opens (or starts) the log in `dir` for node `node_id` of the quorum `voters`.
    pub async fn open(
        dir: &Path,
        node_id: i32,
        voters: &[i32],
    ) -> Result<MetadataLog, MetadataLogError> {
        let path = dir.join("log");
        let io = |source| MetadataLogError::Io {
            path: path.clone(),
            source,
        };
        create_dir_all(dir).await.map_err(io)?;
        let (mut file, bytes) = AppendFile::open(&path).await.map_err(io)?;
        let recovered =
            wal_format::recover(&bytes).map_err(|source| MetadataLogError::Unreadable {
                path: path.clone(),
                source,
            })?;
        if (recovered.valid_len as u64) < file.len() {
            tracing::warn!(
                path = %path.display(),
                cut = file.len() - recovered.valid_len as u64,
                "cutting the torn end of the metadata log"
            );
            file.truncate(recovered.valid_len as u64)
                .await
                .map_err(io)?;
        }
        let mut replica = Replica::restore(node_id, voters, recovered)?;
        if voters == [node_id] {
            replica.campaign()?;
        }
        let mut log = MetadataLog {
            replica,
            file,
            path,
        };
        log.run_ready().await?;
        Ok(log)
    }

    pub fn image(&self) -> &MetadataImage {
        self.replica.image()
    }

    pub fn replica_mut(&mut self) -> &mut Replica {
        &mut self.replica
    }

    /// Handles what raft-rs has ready until nothing is: records synced before the messages that
    /// depend on them. Returns the messages for other nodes.
    pub async fn run_ready(&mut self) -> Result<Outbox, MetadataLogError> {
        let mut outbox = Outbox::new();
        while let Some(ready) = self.replica.ready()? {
            outbox.extend(ready.send_now);
            if !ready.to_store.is_empty() {
                let mut bytes = Vec::new();
                for record in &ready.to_store {
                    wal_format::encode(record, &mut bytes);
                }
                self.file
                    .append_synced(bytes)
                    .await
                    .map_err(|source| MetadataLogError::Io {
                        path: self.path.clone(),
                        source,
                    })?;
            }
            outbox.extend(self.replica.stored()?);
        }
        Ok(outbox)
    }

    /// Proposes `batch` and, in a quorum of one, waits until it is committed and applied: the
    /// index it was applied at.
    pub async fn propose_alone(&mut self, batch: &MetadataBatch) -> Result<u64, MetadataLogError> {
        let before = self.image().applied_index;
        self.replica.propose(batch)?;
        self.run_ready().await?;
        let after = self.image().applied_index;
        if after <= before {
            return Err(MetadataLogError::NotCommitted { index: before + 1 });
        }
        Ok(after)
    }
}

#[cfg(test)]
mod tests;
