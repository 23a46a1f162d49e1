//! Committed offsets as brokers before the replicated offsets topic kept them: per shard, an
//! engine log of JSON changes (`.groups.shard<N>/`) over a JSON snapshot
//! (`.groups.shard<N>.snapshot`). Read once at start so that `groups::migrate` can write them
//! into `__consumer_offsets`, then removed. Nothing writes this format any more.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use strata_engine::{LogCaches, LogConfig, PartitionLog};
use strata_record::batch;
use strata_runtime as rt;

use super::offsets::{Committed, OffsetKey};
use crate::error::BrokerError;

/// The old log is read once; its sealed segments need few descriptors.
const SEALED_FILES: usize = 16;
const PREFIX: &str = ".groups.shard";

/// One change: a commit, or a deletion when `c` is None.
#[derive(Debug, Clone, Deserialize)]
struct Change {
    g: String,
    t: String,
    p: i32,
    c: Option<Committed>,
}

/// The old stores found in a data directory: what they hold, and the paths to remove once it
/// is migrated.
#[derive(Debug, Default)]
pub struct LegacyOffsets {
    pub entries: BTreeMap<OffsetKey, Committed>,
    /// The old logs' directories and the snapshot files.
    pub dirs: Vec<PathBuf>,
    pub files: Vec<PathBuf>,
}

impl LegacyOffsets {
    /// Each group's offsets.
    pub fn by_group(&self) -> BTreeMap<String, Vec<(String, i32, Committed)>> {
        let mut out: BTreeMap<String, Vec<_>> = BTreeMap::new();
        for ((g, t, p), c) in &self.entries {
            out.entry(g.clone())
                .or_default()
                .push((t.clone(), *p, c.clone()));
        }
        out
    }

    /// Removes the old stores, for good: their offsets are in the offsets topic.
    pub async fn remove(&self, data_dir: &Path) -> Result<(), BrokerError> {
        for dir in &self.dirs {
            rt::fs::remove_dir_all(dir)
                .await
                .map_err(|e| BrokerError::io(format!("remove {}", dir.display()), e))?;
        }
        for file in &self.files {
            rt::fs::remove_file(file)
                .await
                .map_err(|e| BrokerError::io(format!("remove {}", file.display()), e))?;
        }
        rt::sync_dir(data_dir)
            .await
            .map_err(|e| BrokerError::io(format!("fsync {}", data_dir.display()), e))
    }
}

/// Reads every old store in `data_dir` (whatever the shard count was): each snapshot, then its
/// log over it. A record that does not decode is an error naming the file and offset: skipping
/// it could bring back an offset that was since moved or deleted.
pub async fn read_all(data_dir: &Path) -> Result<LegacyOffsets, BrokerError> {
    let names = match rt::fs::list_dir(data_dir).await {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LegacyOffsets::default()),
        Err(e) => return Err(BrokerError::io(format!("list {}", data_dir.display()), e)),
    };
    let mut shards: Vec<String> = names
        .iter()
        .filter_map(|p| p.file_name()?.to_str())
        .filter_map(|n| n.strip_prefix(PREFIX))
        .map(|rest| rest.trim_end_matches(".snapshot").to_string())
        .filter(|s| s.parse::<usize>().is_ok())
        .collect();
    shards.sort();
    shards.dedup();
    let mut out = LegacyOffsets::default();
    for s in shards {
        let dir = data_dir.join(format!("{PREFIX}{s}"));
        let snapshot = data_dir.join(format!("{PREFIX}{s}.snapshot"));
        let mut entries = BTreeMap::new();
        if let Some(bytes) = crate::topics::read_state_file(&snapshot).await? {
            let list: Vec<(OffsetKey, Committed)> =
                serde_json::from_slice(&bytes).map_err(|e| BrokerError::CorruptState {
                    path: snapshot.clone(),
                    position: format!("line {} column {}", e.line(), e.column()),
                    reason: e.to_string(),
                })?;
            entries.extend(list);
            out.files.push(snapshot);
        }
        if names.contains(&dir) {
            let cache = LogCaches::new(1 << 20, SEALED_FILES);
            let (log, _) = PartitionLog::open(&dir, old_log_config(), &cache).await?;
            let replayed = replay(&log, &dir, &mut entries).await;
            let _ = log.close().await;
            replayed?;
            out.dirs.push(dir);
        }
        // Shards own disjoint groups: no key is in two stores.
        out.entries.extend(entries);
    }
    Ok(out)
}

fn old_log_config() -> LogConfig {
    LogConfig {
        segment_bytes: 64 << 20,
        retention_ms: None,
        max_batch_bytes: 8 << 20,
        ..Default::default()
    }
}

async fn replay(
    log: &PartitionLog,
    dir: &Path,
    entries: &mut BTreeMap<OffsetKey, Committed>,
) -> Result<(), BrokerError> {
    let mut offset = log.log_start_offset();
    while offset < log.high_watermark() {
        let got = log.read(offset, 1 << 20).await?;
        if got.batches.is_empty() {
            break;
        }
        for b in &got.batches {
            let h = batch::parse_header(b, usize::MAX).map_err(|e| BrokerError::CorruptState {
                path: dir.to_path_buf(),
                position: format!("offset {offset}"),
                reason: e.to_string(),
            })?;
            for (i, (at, len)) in batch::record_values(b).into_iter().enumerate() {
                let c = serde_json::from_slice::<Change>(&b[at..at + len]).map_err(|e| {
                    BrokerError::CorruptState {
                        path: dir.to_path_buf(),
                        position: format!("offset {}", h.base_offset + i as i64),
                        reason: format!("committed-offset record does not decode: {e}"),
                    }
                })?;
                let key = (c.g, c.t, c.p);
                match c.c {
                    Some(v) => entries.insert(key, v),
                    None => entries.remove(&key),
                };
            }
            offset = h.next_offset();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_executor::run;
    use bytes::BytesMut;

    fn change(g: &str, p: i32, offset: Option<i64>) -> Vec<u8> {
        let c =
            offset.map(|o| serde_json::json!({"offset": o, "leader_epoch": 0, "metadata": null}));
        serde_json::to_vec(&serde_json::json!({"g": g, "t": "t", "p": p, "c": c})).unwrap()
    }

    async fn write_old_log(dir: &Path, records: &[Vec<u8>]) {
        let (log, _) = PartitionLog::open(dir, old_log_config(), &LogCaches::new(0, 1))
            .await
            .unwrap();
        let refs: Vec<&[u8]> = records.iter().map(|r| r.as_slice()).collect();
        let bytes = BytesMut::from(&batch::build(&refs, 1)[..]);
        log.append_and_wait(bytes, true).await.unwrap();
        log.close().await.unwrap();
    }

    #[test]
    fn snapshots_and_logs_of_every_shard_are_read_then_removed() {
        let dir = tempfile::tempdir().unwrap();
        run(async {
            let snapshot = serde_json::json!([[["a", "t", 0], {"offset": 5, "leader_epoch": 1, "metadata": "m"}],
                                               [["a", "t", 1], {"offset": 6, "leader_epoch": 1, "metadata": null}]]);
            std::fs::write(
                dir.path().join(".groups.shard0.snapshot"),
                serde_json::to_vec(&snapshot).unwrap(),
            )
            .unwrap();
            // Shard 0's log moves partition 0 and deletes partition 1; shard 3 holds group b.
            write_old_log(
                &dir.path().join(".groups.shard0"),
                &[change("a", 0, Some(9)), change("a", 1, None)],
            )
            .await;
            write_old_log(
                &dir.path().join(".groups.shard3"),
                &[change("b", 2, Some(4))],
            )
            .await;
            let old = read_all(dir.path()).await.unwrap();
            let groups = old.by_group();
            assert_eq!(groups["a"].len(), 1);
            assert_eq!(groups["a"][0].2.offset, 9);
            assert_eq!(groups["b"][0].2.offset, 4);
            old.remove(dir.path()).await.unwrap();
            assert!(read_all(dir.path()).await.unwrap().entries.is_empty());
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        });
    }

    #[test]
    fn a_record_that_does_not_decode_is_an_error_with_its_file_and_offset() {
        let dir = tempfile::tempdir().unwrap();
        run(async {
            write_old_log(
                &dir.path().join(".groups.shard0"),
                &[change("g", 0, Some(5)), b"{not json".to_vec()],
            )
            .await;
            let err = read_all(dir.path()).await.unwrap_err().to_string();
            assert!(err.contains(".groups.shard0"), "{err}");
            assert!(err.contains("offset 1"), "{err}");
        });
    }
}
