//! Committed offsets as the coordinator keeps them: the records of one partition of
//! `__consumer_offsets` (`offsets_record`), read back into a map. A commit is a batch of such
//! records appended to that partition with acks=all (`Shard::write_offsets`); a new leader of the
//! partition reads it from its start (`load`) before it answers for its groups.
//!
//! Each entry remembers the log offset of the record it came from, and a record only replaces an
//! older one: so commits whose appends finish out of order still leave what the log says last.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{Compression, RecordBatchDecoder};
use serde::{Deserialize, Serialize};
use strata_engine::PartitionLog;

use super::offsets_record::{self, OffsetRecord, StoredGroup};
use crate::error::BrokerError;
use crate::plain_batch::{self, PlainRecord};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committed {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// (group, topic, partition).
pub type OffsetKey = (String, String, i32);

/// A commit, or (None) a deletion.
pub type OffsetChange = (OffsetKey, Option<Committed>);

/// How much of the log one read of a load takes.
const LOAD_READ_BYTES: usize = 1 << 20;

/// The offsets of the groups of one partition of the offsets topic.
#[derive(Debug, Default)]
pub struct PartitionOffsets {
    /// Per key: the log offset of its newest record, and what it says (None: deleted, kept so
    /// that an older commit applied late cannot bring it back).
    entries: BTreeMap<OffsetKey, (i64, Option<Committed>)>,
    /// Per group: the log offset of its newest membership record, and what it says (read at a
    /// load, for the coordinator to restore; the live membership is the coordinator's).
    memberships: BTreeMap<String, (i64, Option<StoredGroup>)>,
}

impl PartitionOffsets {
    /// Applies the membership record at log offset `at`, unless a newer one is applied.
    pub fn apply_membership(&mut self, at: i64, group: String, value: Option<StoredGroup>) {
        match self.memberships.get(&group) {
            Some((newer, _)) if *newer >= at => {}
            _ => {
                self.memberships.insert(group, (at, value));
            }
        }
    }

    /// The groups whose newest membership record names members: what a new coordinator goes
    /// on with.
    pub fn take_memberships(&mut self) -> Vec<(String, StoredGroup)> {
        std::mem::take(&mut self.memberships)
            .into_iter()
            .filter_map(|(g, (_, stored))| Some((g, stored?)))
            .filter(|(_, stored)| !stored.members.is_empty())
            .collect()
    }

    /// Applies the record at log offset `at`, unless a newer one for its key is applied.
    pub fn apply(&mut self, at: i64, (key, value): OffsetChange) {
        match self.entries.get(&key) {
            Some((newer, _)) if *newer >= at => {}
            _ => {
                self.entries.insert(key, (at, value));
            }
        }
    }

    pub fn group_entries(&self, group: &str) -> Vec<(String, i32, Committed)> {
        self.entries
            .range((group.to_string(), String::new(), i32::MIN)..)
            .take_while(|((g, _, _), _)| g == group)
            .filter_map(|((_, t, p), (_, c))| Some((t.clone(), *p, c.clone()?)))
            .collect()
    }

    /// The groups with at least one committed offset.
    pub fn groups(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, (_, c))| c.is_some())
            .map(|((g, _, _), _)| g.clone())
            .collect();
        out.dedup();
        out
    }

    pub fn has(&self, key: &OffsetKey) -> bool {
        self.entries.get(key).is_some_and(|(_, c)| c.is_some())
    }

    /// Whether the log has any record for `key`, a commit or a deletion.
    pub fn seen(&self, key: &OffsetKey) -> bool {
        self.entries.contains_key(key)
    }
}

/// One batch of the changes, as Kafka's coordinator writes them (uncompressed, no producer).
pub fn batch_of(changes: &[OffsetChange], now_ms: i64) -> Result<BytesMut, BrokerError> {
    let records = changes.iter().map(|(key, value)| PlainRecord {
        timestamp: now_ms,
        key: Some(offsets_record::key_bytes(key)),
        value: value
            .as_ref()
            .map(|c| offsets_record::value_bytes(c, now_ms)),
    });
    plain_batch::encode(records, Compression::None)
        .map_err(|e| BrokerError::OffsetsUnavailable(format!("encoding offsets: {e}")))
}

/// One batch with a group's membership record (None: its deletion).
pub fn membership_batch(
    group: &str,
    stored: Option<&StoredGroup>,
    now_ms: i64,
) -> Result<BytesMut, BrokerError> {
    let record = PlainRecord {
        timestamp: now_ms,
        key: Some(offsets_record::group_key_bytes(group)),
        value: stored.map(|g| offsets_record::group_value_bytes(g, now_ms)),
    };
    plain_batch::encode([record], Compression::None)
        .map_err(|e| BrokerError::OffsetsUnavailable(format!("encoding a group: {e}")))
}

/// Reads a partition of the offsets topic from its start to everything written (what a new
/// leader has is what it will keep). A record that does not decode fails the load, naming where:
/// skipping it could bring back an offset that was since moved or deleted.
pub async fn load(log: &PartitionLog, partition: i32) -> Result<PartitionOffsets, BrokerError> {
    let mut out = PartitionOffsets::default();
    let end = log.written_offset();
    let mut offset = log.log_start_offset();
    let damaged = |at: i64, reason: String| {
        BrokerError::OffsetsUnavailable(format!(
            "__consumer_offsets-{partition} at offset {at}: {reason}"
        ))
    };
    while offset < end {
        let got = log.read_for_follower(offset, LOAD_READ_BYTES).await?;
        if got.batches.is_empty() {
            return Err(damaged(offset, "nothing could be read there".into()));
        }
        for batch in got.batches {
            let mut buf: Bytes = batch;
            let set =
                RecordBatchDecoder::decode(&mut buf).map_err(|e| damaged(offset, e.to_string()))?;
            for r in set.records {
                offset = offset.max(r.offset + 1);
                if r.control {
                    continue;
                }
                match offsets_record::decode(r.key.as_deref(), r.value.as_deref()) {
                    Ok(OffsetRecord::Commit(key, value)) => out.apply(r.offset, (key, value)),
                    Ok(OffsetRecord::Group(group, stored)) => {
                        out.apply_membership(r.offset, group, stored)
                    }
                    Ok(OffsetRecord::Other(_)) => {}
                    Err(e) => return Err(damaged(r.offset, e.to_string())),
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(offset: i64) -> Option<Committed> {
        Some(Committed {
            offset,
            leader_epoch: 0,
            metadata: None,
        })
    }

    fn key(g: &str, p: i32) -> OffsetKey {
        (g.into(), "t".into(), p)
    }

    #[test]
    fn the_newest_record_wins_whatever_order_they_are_applied_in() {
        let mut o = PartitionOffsets::default();
        o.apply(5, (key("g", 0), c(50)));
        o.apply(3, (key("g", 0), c(30)));
        assert_eq!(o.group_entries("g")[0].2.offset, 50);
        // A deletion at 7 holds against a commit at 6 applied after it.
        o.apply(7, (key("g", 0), None));
        o.apply(6, (key("g", 0), c(60)));
        assert!(o.group_entries("g").is_empty());
        assert!(!o.has(&key("g", 0)));
        o.apply(8, (key("g", 0), c(80)));
        assert_eq!(o.group_entries("g")[0].2.offset, 80);
    }

    #[test]
    fn group_entries_are_one_groups_only() {
        let mut o = PartitionOffsets::default();
        o.apply(0, (key("g", 0), c(1)));
        o.apply(1, (key("g", 1), c(2)));
        o.apply(2, (key("g2", 0), c(3)));
        o.apply(3, (key("h", 0), None));
        assert_eq!(o.group_entries("g").len(), 2);
        assert_eq!(o.groups(), vec!["g".to_string(), "g2".to_string()]);
    }

    #[test]
    fn a_batch_of_changes_loads_back_from_a_log() {
        let dir = tempfile::tempdir().unwrap();
        crate::test_executor::run(async {
            let caches = strata_engine::LogCaches::new(1 << 20, 4);
            let (log, _) =
                PartitionLog::open(dir.path(), strata_engine::LogConfig::default(), &caches)
                    .await
                    .unwrap();
            let first = batch_of(&[(key("g", 0), c(10)), (key("g", 1), c(11))], 1).unwrap();
            let second = batch_of(&[(key("g", 1), None), (key("g", 0), c(12))], 2).unwrap();
            for b in [first, second] {
                let appended = log.append(b).await.unwrap();
                log.wait_durable(appended.next_offset()).await.unwrap();
            }
            let got = load(&log, 0).await.unwrap();
            let entries = got.group_entries("g");
            assert_eq!(entries.len(), 1);
            assert_eq!((entries[0].1, entries[0].2.offset), (0, 12));
            log.close().await.unwrap();
        });
    }
}
