//! The high-watermark checkpoint (Kafka's `replication-offset-checkpoint`): each shard writes
//! the replicated high watermark of the partitions it owns to `high-watermarks.shard<N>` in the
//! data directory, every `replica_high_watermark_checkpoint_interval_ms` when it changed and
//! when the shard stops. A replica that starts again begins its high watermark there (never past
//! its own log's end) instead of at its log start, so a restarted leader's consumers do not see
//! the high watermark fall back until its followers have fetched again.
//!
//! Entries name the topic id as well as the name: a topic deleted and created again under its
//! name never takes the old one's high watermark.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;

use strata_engine::PartitionLog;
use strata_runtime as rt;

use crate::router::PartitionKey;
use crate::shard::Shard;
use crate::topics::TopicTable;

const HEADER: &str = "strata-high-watermarks 1";

/// One partition's checkpointed high watermark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub topic_id: uuid::Uuid,
    pub topic: String,
    pub partition: i32,
    pub high_watermark: i64,
}

pub fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut out = format!("{HEADER}\n");
    for e in entries {
        out.push_str(&format!(
            "{} {} {} {}\n",
            e.topic_id, e.partition, e.high_watermark, e.topic
        ));
    }
    out.into_bytes()
}

pub fn decode(bytes: &[u8]) -> Result<Vec<Entry>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        return Err("not a high-watermark checkpoint of this version".into());
    }
    lines
        .map(|line| {
            let mut parts = line.splitn(4, ' ');
            let mut next = || {
                parts
                    .next()
                    .ok_or_else(|| format!("a short line: {line:?}"))
            };
            let topic_id = uuid::Uuid::parse_str(next()?).map_err(|e| e.to_string())?;
            let partition = next()?.parse().map_err(|e| format!("{e}: {line:?}"))?;
            let high_watermark = next()?.parse().map_err(|e| format!("{e}: {line:?}"))?;
            let topic = next()?.to_string();
            Ok(Entry {
                topic_id,
                topic,
                partition,
                high_watermark,
            })
        })
        .collect()
}

/// A shard's checkpoint: what it read at start (taken once per partition) and what it last wrote.
#[derive(Default)]
pub struct HwCheckpoint {
    loaded: RefCell<HashMap<(uuid::Uuid, i32), i64>>,
    written: RefCell<Option<Vec<u8>>>,
}

impl Shard {
    fn hw_checkpoint_path(&self) -> PathBuf {
        self.config
            .data_dir
            .join(format!("high-watermarks.shard{}", self.id))
    }

    /// Reads this shard's checkpoint (at start, before any partition has a role). One that does
    /// not read is logged and ignored: high watermarks then start at the log start, as without.
    pub async fn load_hw_checkpoint(&self) {
        let path = self.hw_checkpoint_path();
        let bytes = match rt::fs::read_if_exists(&path).await {
            Ok(Some(b)) => b,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(file = %path.display(), "reading the high-watermark checkpoint: {e}");
                return;
            }
        };
        match decode(&bytes) {
            Ok(entries) => {
                *self.hw_checkpoint.loaded.borrow_mut() = entries
                    .into_iter()
                    .map(|e| ((e.topic_id, e.partition), e.high_watermark))
                    .collect();
                *self.hw_checkpoint.written.borrow_mut() = Some(bytes);
            }
            Err(e) => {
                tracing::warn!(file = %path.display(), "{e}: high watermarks start at the log start");
            }
        }
    }

    /// Where a replica of `key` starts its high watermark: the checkpointed one (taken: only a
    /// replica's first role uses it), within its log; else the log start.
    pub(crate) fn starting_high_watermark(
        &self,
        table: &TopicTable,
        key: &PartitionKey,
        log: &PartitionLog,
    ) -> i64 {
        let checkpointed = table.topics.get(&key.topic).and_then(|t| {
            self.hw_checkpoint
                .loaded
                .borrow_mut()
                .remove(&(t.topic_id, key.partition))
        });
        let start = log.log_start_offset();
        checkpointed.map_or(start, |hw| hw.clamp(start, log.written_offset()))
    }

    /// Writes the replicated high watermarks of the logs this shard owns, when they changed
    /// since the last write (synced, replaced whole, off the shard's thread).
    pub async fn write_hw_checkpoint(&self) {
        let table = self.topics();
        let mut entries: Vec<Entry> = self
            .owned_logs()
            .into_iter()
            .filter_map(|(key, log)| {
                let hw = log.replicated_high_watermark()?;
                let spec = table.topics.get(&key.topic)?;
                Some(Entry {
                    topic_id: spec.topic_id,
                    topic: key.topic,
                    partition: key.partition,
                    high_watermark: hw,
                })
            })
            .collect();
        entries.sort_by_key(|e| (e.topic_id, e.partition));
        let bytes = encode(&entries);
        if self.hw_checkpoint.written.borrow().as_ref() == Some(&bytes) {
            return;
        }
        if entries.is_empty() && self.hw_checkpoint.written.borrow().is_none() {
            return;
        }
        let path = self.hw_checkpoint_path();
        // Not `with_extension`: that would give every shard the same temporary file.
        let tmp = self
            .config
            .data_dir
            .join(format!("high-watermarks.shard{}.tmp", self.id));
        match rt::fs::write_durably(&path, &tmp, bytes.clone()).await {
            Ok(()) => *self.hw_checkpoint.written.borrow_mut() = Some(bytes),
            Err(e) => {
                tracing::warn!(file = %path.display(), "writing the high-watermark checkpoint: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_back_and_bad_files_are_refused() {
        let entries = vec![
            Entry {
                topic_id: uuid::Uuid::from_u128(7),
                topic: "a topic with spaces? no: names have none".replace(' ', "_"),
                partition: 3,
                high_watermark: 12_345,
            },
            Entry {
                topic_id: uuid::Uuid::from_u128(9),
                topic: "t".into(),
                partition: 0,
                high_watermark: 0,
            },
        ];
        assert_eq!(decode(&encode(&entries)).unwrap(), entries);
        assert_eq!(decode(&encode(&[])).unwrap(), vec![]);
        assert!(decode(b"something else\n").is_err());
        assert!(decode(format!("{HEADER}\nnot-a-uuid 1 2 t\n").as_bytes()).is_err());
        assert!(decode(format!("{HEADER}\n{} 1\n", uuid::Uuid::nil()).as_bytes()).is_err());
    }
}
