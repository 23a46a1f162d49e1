//! Committed offsets of the groups a shard coordinates: in memory, and durable in an engine log
//! of the shard's own (each commit is appended and fdatasync'ed before it is acknowledged). The
//! log does not grow without bound: past a size, the current offsets are written to a snapshot
//! file (atomically) and the log starts again empty. On start: the snapshot, then the log.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::BytesMut;
use serde::{Deserialize, Serialize};
use strata_engine::{LogCaches, LogConfig, PartitionLog};
use strata_record::batch;
use strata_runtime as rt;

use crate::error::BrokerError;

/// The offsets log is read once, at open; its sealed segments need few descriptors.
const OFFSETS_SEALED_FILES: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committed {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// One change: a commit, or a deletion when `committed` is None.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Change {
    g: String,
    t: String,
    p: i32,
    c: Option<Committed>,
}

pub type OffsetKey = (String, String, i32);

pub struct OffsetStore {
    dir: PathBuf,
    snapshot: PathBuf,
    /// None only while compaction swaps it.
    log: Option<PartitionLog>,
    cache: LogCaches,
    pub entries: BTreeMap<OffsetKey, Committed>,
    compact_above_bytes: u64,
}

fn log_config() -> LogConfig {
    LogConfig {
        segment_bytes: 64 << 20,
        retention_ms: None,
        max_batch_bytes: 8 << 20,
        ..Default::default()
    }
}

impl OffsetStore {
    pub async fn open(
        data_dir: &Path,
        shard: usize,
        compact_above_bytes: u64,
    ) -> Result<OffsetStore, BrokerError> {
        let dir = data_dir.join(format!(".groups.shard{shard}"));
        let snapshot = data_dir.join(format!(".groups.shard{shard}.snapshot"));
        let cache = LogCaches::new(1 << 20, OFFSETS_SEALED_FILES);
        let mut entries = BTreeMap::new();
        if let Some(bytes) = crate::topics::read_state_file(&snapshot).await? {
            let list: Vec<(OffsetKey, Committed)> =
                serde_json::from_slice(&bytes).map_err(|e| BrokerError::CorruptState {
                    path: snapshot.clone(),
                    position: format!("line {} column {}", e.line(), e.column()),
                    reason: e.to_string(),
                })?;
            entries.extend(list);
        }
        let (log, _) = PartitionLog::open(&dir, log_config(), &cache).await?;
        replay(&log, &dir, &mut entries).await?;
        Ok(OffsetStore {
            dir,
            snapshot,
            log: Some(log),
            cache,
            entries,
            compact_above_bytes,
        })
    }

    /// Stores changes durably, then applies them.
    async fn store(&mut self, changes: Vec<Change>) -> Result<(), BrokerError> {
        if changes.is_empty() {
            return Ok(());
        }
        let values: Vec<Vec<u8>> = changes
            .iter()
            .map(|c| serde_json::to_vec(c).unwrap_or_default())
            .collect();
        let refs: Vec<&[u8]> = values.iter().map(|v| v.as_slice()).collect();
        let now = strata_record::clock::unix_ms();
        let bytes = BytesMut::from(&batch::build(&refs, now)[..]);
        let log = match &self.log {
            Some(log) => log,
            None => self.log.insert(self.reopen_log().await?),
        };
        log.append_and_wait(bytes, true).await?;
        let size = log.size_bytes();
        for c in changes {
            apply(&mut self.entries, c);
        }
        // The changes are durable: a compaction that fails now is no failure of theirs.
        if size > self.compact_above_bytes {
            if let Err(e) = self.compact().await {
                tracing::warn!(dir = %self.dir.display(), "compacting committed offsets failed: {e}");
            }
        }
        Ok(())
    }

    pub async fn commit(
        &mut self,
        group: &str,
        items: Vec<(String, i32, Committed)>,
    ) -> Result<(), BrokerError> {
        let changes = items
            .into_iter()
            .map(|(t, p, c)| Change {
                g: group.to_string(),
                t,
                p,
                c: Some(c),
            })
            .collect();
        self.store(changes).await
    }

    pub async fn delete(&mut self, keys: Vec<OffsetKey>) -> Result<(), BrokerError> {
        let changes = keys
            .into_iter()
            .map(|(g, t, p)| Change { g, t, p, c: None })
            .collect();
        self.store(changes).await
    }

    pub fn group_entries(&self, group: &str) -> Vec<(String, i32, Committed)> {
        self.entries
            .range((group.to_string(), String::new(), i32::MIN)..)
            .take_while(|((g, _, _), _)| g == group)
            .map(|((_, t, p), c)| (t.clone(), *p, c.clone()))
            .collect()
    }

    /// Writes every current offset to the snapshot, then starts the log again empty.
    async fn compact(&mut self) -> Result<(), BrokerError> {
        let list: Vec<(&OffsetKey, &Committed)> = self.entries.iter().collect();
        let bytes = serde_json::to_vec(&list).map_err(BrokerError::encode("committed offsets"))?;
        crate::topics::write_atomically(&self.snapshot, bytes).await?;
        // Replaying the old log over the snapshot gives the same state, so a crash between
        // these steps loses nothing.
        if let Some(old) = self.log.take() {
            let _ = old.close().await;
        }
        let parent = self.dir.parent().unwrap_or(Path::new("."));
        let removed = match rt::fs::remove_dir_all(&self.dir).await {
            Ok(_) => rt::sync_dir(parent)
                .await
                .map_err(|e| BrokerError::io(format!("fsync {}", parent.display()), e)),
            Err(e) => Err(BrokerError::io(format!("remove {}", self.dir.display()), e)),
        };
        // Whatever the removal did, the store needs its log back: the snapshot holds every
        // offset, so the old log replayed over it and an empty one give the same state.
        self.log = Some(self.reopen_log().await?);
        removed?;
        tracing::info!(
            entries = self.entries.len(),
            "compacted the committed offsets into a snapshot"
        );
        Ok(())
    }

    /// Opens the log again after a compaction took it (or failed to give it back).
    async fn reopen_log(&self) -> Result<PartitionLog, BrokerError> {
        let (log, _) = PartitionLog::open(&self.dir, log_config(), &self.cache)
            .await
            .map_err(|e| BrokerError::OffsetsUnavailable(e.to_string()))?;
        Ok(log)
    }

    pub async fn close(self) {
        if let Some(log) = self.log {
            let _ = log.close().await;
        }
    }
}

/// Applies every change in the log, in order. A record that does not decode is an error naming
/// the file and offset: skipping it could bring back an offset that was since moved or deleted.
async fn replay(
    log: &PartitionLog,
    dir: &Path,
    entries: &mut BTreeMap<OffsetKey, Committed>,
) -> Result<(), BrokerError> {
    let mut offset = log.log_start_offset();
    while offset < log.high_watermark() {
        let got = log.read(offset, 1 << 20).await?;
        for b in &got.batches {
            let h = batch::parse_header(b, usize::MAX).map_err(|e| BrokerError::CorruptState {
                path: dir.to_path_buf(),
                position: format!("offset {offset}"),
                reason: e.to_string(),
            })?;
            for (i, (at, len)) in batch::record_values(b).into_iter().enumerate() {
                let change = serde_json::from_slice::<Change>(&b[at..at + len]).map_err(|e| {
                    BrokerError::CorruptState {
                        path: dir.to_path_buf(),
                        position: format!("offset {}", h.base_offset + i as i64),
                        reason: format!("committed-offset record does not decode: {e}"),
                    }
                })?;
                apply(entries, change);
            }
            offset = h.next_offset();
        }
    }
    Ok(())
}

fn apply(entries: &mut BTreeMap<OffsetKey, Committed>, c: Change) {
    let key = (c.g, c.t, c.p);
    match c.c {
        Some(v) => {
            entries.insert(key, v);
        }
        None => {
            entries.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_executor::run;

    #[test]
    fn offsets_survive_reopen_and_compaction_keeps_only_the_latest() {
        let dir = tempfile::tempdir().unwrap();
        run(async {
            let mut store = OffsetStore::open(dir.path(), 0, 64 * 1024).await.unwrap();
            for round in 0..400i64 {
                let items = (0..8)
                    .map(|p| {
                        (
                            "t".to_string(),
                            p,
                            Committed {
                                offset: round * 10 + i64::from(p),
                                leader_epoch: 0,
                                metadata: Some("m".into()),
                            },
                        )
                    })
                    .collect();
                store.commit("g", items).await.unwrap();
            }
            store
                .commit(
                    "other",
                    vec![(
                        "u".into(),
                        0,
                        Committed {
                            offset: 7,
                            leader_epoch: 1,
                            metadata: None,
                        },
                    )],
                )
                .await
                .unwrap();
            store
                .delete(vec![("g".into(), "t".into(), 7)])
                .await
                .unwrap();
            store.close().await;
        });
        assert!(
            dir.path().join(".groups.shard0.snapshot").exists(),
            "the log was compacted"
        );
        let log_bytes: u64 = std::fs::read_dir(dir.path().join(".groups.shard0"))
            .unwrap()
            .filter_map(|e| e.ok()?.metadata().ok())
            .map(|m| m.len())
            .sum();
        assert!(log_bytes < 256 * 1024, "log not bounded: {log_bytes} bytes");
        run(async {
            let store = OffsetStore::open(dir.path(), 0, 64 * 1024).await.unwrap();
            let g = store.group_entries("g");
            assert_eq!(g.len(), 7, "partition 7 was deleted");
            for (t, p, c) in g {
                assert_eq!((t.as_str(), c.offset), ("t", 3990 + i64::from(p)));
            }
            assert_eq!(store.group_entries("other")[0].2.offset, 7);
            store.close().await;
        });
    }

    fn one(offset: i64) -> Vec<(String, i32, Committed)> {
        vec![(
            "t".into(),
            0,
            Committed {
                offset,
                leader_epoch: 0,
                metadata: None,
            },
        )]
    }

    #[test]
    fn a_record_that_does_not_decode_fails_the_open_with_its_file_and_offset() {
        let dir = tempfile::tempdir().unwrap();
        run(async {
            let mut store = OffsetStore::open(dir.path(), 0, 1 << 20).await.unwrap();
            store.commit("g", one(5)).await.unwrap();
            store.close().await;
            let (log, _) = PartitionLog::open(
                &dir.path().join(".groups.shard0"),
                log_config(),
                &LogCaches::new(0, 1),
            )
            .await
            .unwrap();
            let garbage = BytesMut::from(&batch::build(&[b"{not json"], 1)[..]);
            log.append_and_wait(garbage, true).await.unwrap();
            log.close().await.unwrap();
            let err = match OffsetStore::open(dir.path(), 0, 1 << 20).await {
                Err(e) => e.to_string(),
                Ok(_) => panic!("opened over a record that does not decode"),
            };
            assert!(err.contains(".groups.shard0"), "{err}");
            assert!(err.contains("offset 1"), "{err}");
        });
    }

    #[test]
    fn commits_go_on_when_a_compaction_could_not_give_the_log_back() {
        let dir = tempfile::tempdir().unwrap();
        run(async {
            let mut store = OffsetStore::open(dir.path(), 0, 1 << 20).await.unwrap();
            store.commit("g", one(1)).await.unwrap();
            // What a compaction whose reopen failed leaves: no log.
            if let Some(log) = store.log.take() {
                log.close().await.unwrap();
            }
            store.commit("g", one(2)).await.unwrap();
            store.close().await;
            let store = OffsetStore::open(dir.path(), 0, 1 << 20).await.unwrap();
            assert_eq!(store.group_entries("g")[0].2.offset, 2);
            store.close().await;
        });
    }
}
