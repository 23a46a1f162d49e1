//! This node's copy of the metadata log: a `Replica` (raft-rs and the image) over a
//! write-ahead file. Every Ready's records are appended and synced (on the blocking-call
//! thread, never the shard's) before the messages that depend on them are handed out; a torn
//! end left by a crash is cut when the file is opened.
//!
//! A quorum of one (this node alone, the zero-configuration default) elects itself at once and
//! commits an entry as soon as it is synced.
//!
//! Every `metadata_snapshot_every_entries` applied entries the image is written to `snapshot`
//! (replaced whole) and the log's file is rewritten with only what follows it; a restart reads
//! the snapshot, then the log. A snapshot the leader sends replaces both the same way. The
//! snapshot is written before the file is cut: a crash between the two leaves a file that
//! still holds entries the snapshot covers, which the reading skips.

use std::path::{Path, PathBuf};

use raft::eraftpb::Snapshot;
use strata_controller::replica::{Replica, ReplicaError};
use strata_controller::snapshot::{self, SnapshotError};
use strata_controller::wal_format::{self, WalError, WalRecord};
use strata_controller::{MetadataBatch, MetadataImage};
use strata_runtime::fs::{create_dir_all, read_if_exists, write_durably, AppendFile};

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
    #[error("{path}: {source}")]
    BadSnapshot {
        path: PathBuf,
        source: SnapshotError,
    },
    #[error(transparent)]
    Replica(#[from] ReplicaError),
    #[error("proposed as entry {index}, but the quorum did not commit it")]
    NotCommitted { index: u64 },
}

pub struct MetadataLog {
    replica: Replica,
    file: AppendFile,
    path: PathBuf,
    snapshot_path: PathBuf,
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
        let snapshot_path = dir.join("snapshot");
        let snapshot = match read_if_exists(&snapshot_path).await.map_err(io)? {
            Some(bytes) => Some(snapshot::read_file(&bytes).map_err(|source| {
                MetadataLogError::BadSnapshot {
                    path: snapshot_path.clone(),
                    source,
                }
            })?),
            None => None,
        };
        let (mut file, bytes) = AppendFile::open(&path).await.map_err(io)?;
        let mut recovered =
            wal_format::recover(&bytes).map_err(|source| MetadataLogError::Unreadable {
                path: path.clone(),
                source,
            })?;
        recovered.snapshot = snapshot;
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
            snapshot_path,
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
            if let Some(snapshot) = &ready.snapshot {
                tracing::info!(
                    index = snapshot.get_metadata().index,
                    "installing the controller leader's metadata snapshot"
                );
                self.replace(snapshot, &ready.to_store).await?;
            } else if !ready.to_store.is_empty() {
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

    /// Takes a snapshot and cuts the log before it once `every` entries were applied since
    /// the last one.
    pub async fn compact_if_due(&mut self, every: u64) -> Result<(), MetadataLogError> {
        if !self.replica.snapshot_due(every) {
            return Ok(());
        }
        let (snapshot, kept) = self.replica.take_snapshot()?;
        self.replace(&snapshot, &kept).await?;
        tracing::debug!(
            index = snapshot.get_metadata().index,
            kept = kept.len(),
            "metadata snapshot taken, the log before it dropped"
        );
        Ok(())
    }

    /// Writes `snapshot` in place of the last, then the log's file anew with `records`.
    async fn replace(
        &mut self,
        snapshot: &Snapshot,
        records: &[WalRecord],
    ) -> Result<(), MetadataLogError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| MetadataLogError::Io { path, source }
        };
        let aside = |p: &Path| p.with_extension("tmp");
        write_durably(
            &self.snapshot_path,
            &aside(&self.snapshot_path),
            snapshot::file_bytes(snapshot),
        )
        .await
        .map_err(io(&self.snapshot_path))?;
        let mut bytes = Vec::new();
        for record in records {
            wal_format::encode(record, &mut bytes);
        }
        write_durably(&self.path, &aside(&self.path), bytes)
            .await
            .map_err(io(&self.path))?;
        let (file, _) = AppendFile::open(&self.path).await.map_err(io(&self.path))?;
        self.file = file;
        Ok(())
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
