//! Partition access: produce, read, wait for data and list offsets, run on the shard that owns
//! the partition (locally, or forwarded through the mesh with a typed reply).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures::future::{select, select_all, Either};
use futures::FutureExt;
use strata_engine::{EngineError, PartitionLog};
use strata_runtime::{self as rt, timings};

use crate::latency;

use super::Shard;
use crate::router::{
    Acks, FoundOffset, OffsetQuery, PartitionError, PartitionFacts, PartitionKey, PartitionRead,
    PartitionReadResult, ProduceOutcome, Produced, ShardMsg,
};

impl Shard {
    pub async fn produce(
        &self,
        key: PartitionKey,
        records: BytesMut,
        acks: Acks,
    ) -> ProduceOutcome {
        let owner = self.owner(&key);
        if owner == self.id {
            return self.produce_local(&key, records, acks).await;
        }
        let sent_at = Instant::now();
        self.ask(owner, |reply| ShardMsg::Produce {
            key,
            records,
            acks,
            sent_at,
            reply,
        })
        .await
        .unwrap_or(Err(PartitionError::OwnerGone))
    }

    pub(super) async fn produce_local(
        &self,
        key: &PartitionKey,
        records: BytesMut,
        acks: Acks,
    ) -> ProduceOutcome {
        let log = self.led_log(key)?;
        // Replicated (a leader's state here): acks=all needs enough in-sync replicas.
        let in_sync = self.in_sync_count(key);
        let min_insync = self.min_insync_replicas(key);
        if let (Acks::All, Some(isr)) = (acks, in_sync) {
            if isr < min_insync {
                return Err(PartitionError::NotEnoughReplicas {
                    isr,
                    min: min_insync,
                });
            }
        }
        let appending = Instant::now();
        let appended = log.append(records).await.inspect_err(|e| {
            tracing::debug!(topic = %key.topic, partition = key.partition, "append refused: {e}");
        })?;
        let appended_at = Instant::now();
        timings::record(latency::PRODUCE_APPEND, appended_at - appending);
        let end = appended.next_offset();
        let waited = match (acks, in_sync) {
            (Acks::None, None) => Ok(()),
            (Acks::All, _) => {
                let r = log.wait_durable(end).await;
                timings::record_since(latency::PRODUCE_WAIT_DURABLE, appended_at);
                r
            }
            // acks=1, and replicated acks=0: once written, the high watermark may move (at once
            // for a leader alone in its ISR).
            _ => {
                let r = log.wait_written(end).await;
                timings::record_since(latency::PRODUCE_WAIT_WRITTEN, appended_at);
                if let Some(at) = log.last_written_at().filter(|&at| at > appended_at) {
                    timings::record_since(latency::PRODUCE_WOKEN, at);
                }
                r
            }
        };
        waited.inspect_err(|e| {
            tracing::error!(topic = %key.topic, partition = key.partition, "append not stored: {e}");
        })?;
        if in_sync.is_some() {
            self.advance_high_watermark(key, &log);
            if acks == Acks::All {
                let timeout_ms = self.config.replica_lag_time_max_ms;
                let waiting = Instant::now();
                let replicated = self
                    .wait_replicated(key, &log, end, min_insync, timeout_ms)
                    .await;
                timings::record_since(latency::PRODUCE_WAIT_REPLICATED, waiting);
                replicated?;
            }
        }
        Ok(Produced {
            base_offset: appended.base_offset,
            log_start_offset: log.log_start_offset(),
            log_append_time: log
                .config()
                .log_append_time
                .then_some(appended.max_timestamp),
        })
    }

    /// acks=all's bound on in-sync replicas: the topic's `min.insync.replicas`, else the
    /// broker's.
    fn min_insync_replicas(&self, key: &PartitionKey) -> usize {
        let table = self.topics();
        table
            .topics
            .get(&key.topic)
            .and_then(|t| t.configs.get("min.insync.replicas"))
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(self.config.min_insync_replicas.max(1) as usize)
    }

    /// Reads many partitions, each on its owner, all at once; results in the order asked.
    pub async fn read(&self, reads: Vec<PartitionRead>) -> Vec<PartitionReadResult> {
        let started = Instant::now();
        let out = self.read_on_owners(reads).await;
        timings::record_since(latency::FETCH_READ, started);
        out
    }

    async fn read_on_owners(&self, reads: Vec<PartitionRead>) -> Vec<PartitionReadResult> {
        let mut by_owner: HashMap<usize, Vec<(usize, PartitionRead)>> = HashMap::new();
        for (i, r) in reads.into_iter().enumerate() {
            by_owner.entry(self.owner(&r.key)).or_default().push((i, r));
        }
        let n = by_owner.values().map(Vec::len).sum();
        let calls = by_owner.into_iter().map(|(owner, items)| async move {
            let (idx, reads): (Vec<usize>, Vec<PartitionRead>) = items.into_iter().unzip();
            let results = if owner == self.id {
                self.read_local(reads).await
            } else {
                let count = reads.len();
                self.ask(owner, |reply| ShardMsg::Read { reads, reply })
                    .await
                    .unwrap_or_else(|_| {
                        (0..count)
                            .map(|_| PartitionReadResult {
                                error: Some(PartitionError::OwnerGone),
                                ..Default::default()
                            })
                            .collect()
                    })
            };
            idx.into_iter().zip(results).collect::<Vec<_>>()
        });
        let mut out: Vec<PartitionReadResult> = (0..n).map(|_| Default::default()).collect();
        for part in futures::future::join_all(calls).await {
            for (i, r) in part {
                out[i] = r;
            }
        }
        out
    }

    pub(super) async fn read_local(&self, reads: Vec<PartitionRead>) -> Vec<PartitionReadResult> {
        let mut out = Vec::with_capacity(reads.len());
        for r in reads {
            let log = match self
                .check_leader_epoch(&r.key, r.current_leader_epoch)
                .and_then(|()| self.led_log(&r.key))
            {
                Ok(log) => log,
                Err(e) => {
                    out.push(PartitionReadResult {
                        error: Some(e),
                        ..Default::default()
                    });
                    continue;
                }
            };
            let mut result = PartitionReadResult {
                error: None,
                high_watermark: log.high_watermark(),
                log_start_offset: log.log_start_offset(),
                batches: Vec::new(),
            };
            match log.read(r.offset, r.max_bytes).await {
                Ok(got) => {
                    result.high_watermark = got.high_watermark;
                    result.log_start_offset = got.log_start_offset;
                    result.batches = got.batches;
                }
                Err(e) => {
                    if !matches!(e, EngineError::OffsetOutOfRange { .. }) {
                        tracing::error!(topic = %r.key.topic, partition = r.key.partition, "read failed: {e}");
                    }
                    result.error = Some(e.into());
                }
            }
            out.push(result);
        }
        out
    }

    /// Returns when any partition has data past its offset (below the high watermark, or with
    /// `written`, as a follower reads, anywhere written), or after `max_wait`.
    pub async fn wait_for_data(
        &self,
        partitions: Vec<(PartitionKey, i64)>,
        max_wait: Duration,
        written: bool,
    ) {
        let mut by_owner: HashMap<usize, Vec<(PartitionKey, i64)>> = HashMap::new();
        for p in partitions {
            by_owner.entry(self.owner(&p.0)).or_default().push(p);
        }
        let waits: Vec<_> = by_owner
            .into_iter()
            .map(|(owner, parts)| {
                async move {
                    if owner == self.id {
                        self.wait_local(parts, max_wait, written).await;
                    } else {
                        let _ = self
                            .ask(owner, |reply| ShardMsg::WaitForData {
                                partitions: parts,
                                max_wait,
                                written,
                                reply,
                            })
                            .await;
                    }
                }
                .boxed_local()
            })
            .collect();
        if waits.is_empty() {
            rt::sleep(max_wait).await;
            return;
        }
        let timer = rt::sleep(max_wait).boxed_local();
        let _ = select(select_all(waits), timer).await;
    }

    pub(super) async fn wait_local(
        &self,
        partitions: Vec<(PartitionKey, i64)>,
        max_wait: Duration,
        written: bool,
    ) {
        let mut listeners = Vec::new();
        let mut logs = Vec::new();
        for (key, offset) in &partitions {
            let readable = |log: &PartitionLog| {
                if written {
                    log.written_offset()
                } else {
                    log.high_watermark()
                }
            };
            match self.log(key) {
                Some(log) if readable(&log) > *offset => return,
                Some(log) => {
                    listeners.push(log.data_written().boxed_local());
                    logs.push(log);
                }
                None => {}
            }
        }
        let timer = rt::sleep(max_wait).boxed_local();
        if listeners.is_empty() {
            timer.await;
            return;
        }
        if let Either::Left(_) = select(select_all(listeners), timer).await {
            // Woken by a write: how long after it this wait runs again.
            if let Some(at) = logs.iter().filter_map(|l| l.last_written_at()).max() {
                timings::record_since(latency::FETCH_WOKEN, at);
            }
        }
    }

    /// Whether the asker's idea of the partition's leader epoch (`asked`, -1: none) is this
    /// broker's: older is FENCED_LEADER_EPOCH, newer UNKNOWN_LEADER_EPOCH (this broker's
    /// metadata is behind; the client retries).
    pub fn check_leader_epoch(&self, key: &PartitionKey, asked: i32) -> Result<(), PartitionError> {
        if asked < 0 {
            return Ok(());
        }
        let table = self.topics();
        let Some(current) = table
            .topics
            .get(&key.topic)
            .and_then(|t| t.place(key.partition))
            .map(|p| p.leader_epoch)
        else {
            return Ok(());
        };
        if asked < current {
            Err(PartitionError::FencedLeaderEpoch { asked, current })
        } else if asked > current {
            Err(PartitionError::UnknownLeaderEpoch { asked, current })
        } else {
            Ok(())
        }
    }

    /// OffsetForLeaderEpoch on the partition's owner: the largest epoch at or below `epoch` in
    /// the leader's log and where it ends.
    pub async fn epoch_end(
        &self,
        key: PartitionKey,
        current: i32,
        epoch: i32,
    ) -> Result<(i32, i64), PartitionError> {
        let owner = self.owner(&key);
        if owner != self.id {
            return self
                .ask(owner, |reply| ShardMsg::EpochEnd {
                    key,
                    current,
                    epoch,
                    reply,
                })
                .await
                .unwrap_or(Err(PartitionError::OwnerGone));
        }
        self.check_leader_epoch(&key, current)?;
        let log = self.led_log(&key)?;
        Ok(log.end_offset_for(epoch))
    }

    /// The offset `query` asks for; `None` when no batch reaches the timestamp.
    pub async fn list_offset(
        &self,
        key: PartitionKey,
        query: OffsetQuery,
    ) -> Result<Option<FoundOffset>, PartitionError> {
        let owner = self.owner(&key);
        if owner != self.id {
            return self
                .ask(owner, |reply| ShardMsg::ListOffset { key, query, reply })
                .await
                .unwrap_or(Err(PartitionError::OwnerGone));
        }
        let log = self.led_log(&key)?;
        let at = |offset| {
            Some(FoundOffset {
                timestamp: None,
                offset,
                leader_epoch: -1,
            })
        };
        let found = match query {
            OffsetQuery::Earliest => at(log.log_start_offset()),
            OffsetQuery::Latest => at(log.high_watermark()),
            OffsetQuery::AtTime(ts) => record_at(&log, ts, self.config.max_frame_bytes).await?,
            OffsetQuery::MaxTimestamp => match log.max_timestamp() {
                Some(max) => record_at(&log, max, self.config.max_frame_bytes).await?,
                None => None,
            },
        };
        // The epoch of the batch holding the offset (of the last batch, for the log's end), as
        // Kafka answers: a consumer validates its position with it after a leader change.
        Ok(found.map(|f| FoundOffset {
            leader_epoch: log.epoch_at(f.offset).unwrap_or(-1),
            ..f
        }))
    }

    /// A partition's size and idempotent producers, from its owner.
    pub async fn partition_facts(
        &self,
        key: PartitionKey,
    ) -> Result<PartitionFacts, PartitionError> {
        let owner = self.owner(&key);
        if owner != self.id {
            return self
                .ask(owner, |reply| ShardMsg::PartitionFacts { key, reply })
                .await
                .unwrap_or(Err(PartitionError::OwnerGone));
        }
        let log = self.log(&key).ok_or(PartitionError::Unknown)?;
        Ok(PartitionFacts {
            size_bytes: log.size_bytes(),
            producers: log.producers(),
        })
    }

    /// Deletes the records of a partition below `before` (-1: the high watermark), on its owner;
    /// the new log start offset.
    pub async fn delete_records(
        &self,
        key: PartitionKey,
        before: i64,
    ) -> Result<i64, PartitionError> {
        let owner = self.owner(&key);
        if owner != self.id {
            return self
                .ask(owner, |reply| ShardMsg::DeleteRecords {
                    key,
                    before,
                    reply,
                })
                .await
                .unwrap_or(Err(PartitionError::OwnerGone));
        }
        let log = self.led_log(&key)?;
        let before = if before == -1 {
            log.high_watermark()
        } else {
            before
        };
        let start = log.delete_records_before(before).await?;
        tracing::info!(topic = %key.topic, partition = key.partition, start, "records deleted");
        Ok(start)
    }
}

/// The first record of `log` at or after timestamp `ts`, inside the batch that reaches it.
async fn record_at(
    log: &PartitionLog,
    ts: i64,
    max_inflated_bytes: usize,
) -> Result<Option<FoundOffset>, PartitionError> {
    let Some((header, batch)) = log.batch_at_timestamp(ts).await? else {
        return Ok(None);
    };
    let start = log.log_start_offset();
    let found = crate::record_time::first_record_at(&header, batch, ts, start, max_inflated_bytes)?;
    Ok(found.map(|(offset, timestamp)| FoundOffset {
        timestamp: Some(timestamp),
        offset,
        leader_epoch: -1,
    }))
}
