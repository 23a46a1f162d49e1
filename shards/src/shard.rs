//! One shard: the partitions it owns, its copy of the topic table, and its channels to the
//! other shards. Operations on partitions go through `Shard::produce`, `read`, `wait_for_data`
//! and `list_offset`, which run locally for owned partitions and forward the rest.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use futures::channel::oneshot;
use futures::future::{select, select_all};
use futures::FutureExt;
use kafka_protocol::error::ResponseError;
use strata_engine::{LogCaches, PartitionLog};
use strata_runtime as rt;

use crate::config::BrokerConfig;
use crate::error::{error_code, BrokerError};
use crate::router::{
    owner_shard, Acks, GroupAnswer, GroupOp, PartitionKey, PartitionRead, PartitionReadResult,
    ProduceOutcome, ShardMsg,
};
use crate::topics::{ClusterIdentity, TopicStore, TopicTable};
use strata_runtime::ShardSenders;

mod topic_controller;

pub struct Shard {
    pub id: usize,
    pub count: usize,
    pub config: Arc<BrokerConfig>,
    pub identity: ClusterIdentity,
    pub advertised: (String, i32),
    topics: RefCell<Arc<TopicTable>>,
    logs: RefCell<HashMap<PartitionKey, PartitionLog>>,
    caches: LogCaches,
    peers: ShardSenders<ShardMsg>,
    /// Shard 0 only: the topic file, and a lock that makes topic changes one at a time.
    store: Option<(TopicStore, futures::lock::Mutex<()>)>,
    /// Idempotent producers' ids handed out by this shard.
    pub producer_ids: crate::producer_ids::ProducerIds,
    /// The groups this shard coordinates; set once at start.
    pub groups: std::cell::OnceCell<crate::groups::coordinator::GroupCoordinator>,
}

fn unknown() -> i16 {
    ResponseError::UnknownTopicOrPartition.code()
}

impl Shard {
    pub fn new(
        config: Arc<BrokerConfig>,
        identity: ClusterIdentity,
        peers: ShardSenders<ShardMsg>,
        count: usize,
    ) -> Result<Self, BrokerError> {
        let id = peers.my_id();
        let advertised = config.advertised()?;
        let data_dir = config.data_dir.clone();
        let store = (id == 0).then(|| {
            (
                TopicStore::new(&config.data_dir),
                futures::lock::Mutex::new(()),
            )
        });
        Ok(Shard {
            id,
            count,
            caches: LogCaches::new(
                config.batch_cache_bytes_per_shard,
                crate::open_files::sealed_files_per_shard(
                    config.max_open_sealed_segments_per_shard,
                    count,
                ),
            ),
            config,
            identity,
            advertised,
            topics: RefCell::new(Arc::new(TopicTable::default())),
            logs: RefCell::new(HashMap::new()),
            peers,
            store,
            groups: std::cell::OnceCell::new(),
            producer_ids: crate::producer_ids::ProducerIds::new(&data_dir, id),
        })
    }

    pub fn topics(&self) -> Arc<TopicTable> {
        self.topics.borrow().clone()
    }

    pub fn owner(&self, key: &PartitionKey) -> usize {
        owner_shard(&key.topic, key.partition, self.count)
    }

    fn log(&self, key: &PartitionKey) -> Option<PartitionLog> {
        self.logs.borrow().get(key).cloned()
    }

    pub fn owned_logs(&self) -> Vec<(PartitionKey, PartitionLog)> {
        self.logs
            .borrow()
            .iter()
            .map(|(k, l)| (k.clone(), l.clone()))
            .collect()
    }

    async fn ask<T>(
        &self,
        to: usize,
        make: impl FnOnce(oneshot::Sender<T>) -> ShardMsg,
    ) -> Result<T, BrokerError> {
        let (tx, rx) = oneshot::channel();
        if self.peers.send(to, make(tx)).await.is_err() {
            return Err(BrokerError::ShardGone(to));
        }
        rx.await.map_err(|_| BrokerError::ShardGone(to))
    }

    // ---- partition operations, routed to the owner ----

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
        self.ask(owner, |reply| ShardMsg::Produce {
            key,
            records,
            acks,
            reply,
        })
        .await
        .unwrap_or(Err(ResponseError::NotLeaderOrFollower.code()))
    }

    async fn produce_local(
        &self,
        key: &PartitionKey,
        records: BytesMut,
        acks: Acks,
    ) -> ProduceOutcome {
        let log = self.log(key).ok_or_else(unknown)?;
        let appended = log.append(records).await.map_err(|e| {
            tracing::debug!(topic = %key.topic, partition = key.partition, "append refused: {e}");
            error_code(&e)
        })?;
        let waited = match acks {
            Acks::None => Ok(()),
            Acks::Leader => log.wait_written(appended.next_offset()).await,
            Acks::All => log.wait_durable(appended.next_offset()).await,
        };
        waited.map_err(|e| {
            tracing::error!(topic = %key.topic, partition = key.partition, "append not stored: {e}");
            error_code(&e)
        })?;
        Ok((appended.base_offset, log.log_start_offset()))
    }

    /// Reads many partitions, each on its owner, all at once; results in the order asked.
    pub async fn read(&self, reads: Vec<PartitionRead>) -> Vec<PartitionReadResult> {
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
                        vec![
                            PartitionReadResult {
                                error_code: ResponseError::NotLeaderOrFollower.code(),
                                ..Default::default()
                            };
                            count
                        ]
                    })
            };
            idx.into_iter().zip(results).collect::<Vec<_>>()
        });
        let mut out = vec![PartitionReadResult::default(); n];
        for part in futures::future::join_all(calls).await {
            for (i, r) in part {
                out[i] = r;
            }
        }
        out
    }

    async fn read_local(&self, reads: Vec<PartitionRead>) -> Vec<PartitionReadResult> {
        let mut out = Vec::with_capacity(reads.len());
        for r in reads {
            let Some(log) = self.log(&r.key) else {
                out.push(PartitionReadResult {
                    error_code: unknown(),
                    ..Default::default()
                });
                continue;
            };
            let mut result = PartitionReadResult {
                error_code: 0,
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
                    if !matches!(e, strata_engine::EngineError::OffsetOutOfRange { .. }) {
                        tracing::error!(topic = %r.key.topic, partition = r.key.partition, "read failed: {e}");
                    }
                    result.error_code = error_code(&e);
                }
            }
            out.push(result);
        }
        out
    }

    /// Returns when any partition has data past its offset, or after `max_wait`.
    pub async fn wait_for_data(&self, partitions: Vec<(PartitionKey, i64)>, max_wait: Duration) {
        let mut by_owner: HashMap<usize, Vec<(PartitionKey, i64)>> = HashMap::new();
        for p in partitions {
            by_owner.entry(self.owner(&p.0)).or_default().push(p);
        }
        let waits: Vec<_> = by_owner
            .into_iter()
            .map(|(owner, parts)| {
                async move {
                    if owner == self.id {
                        self.wait_local(parts, max_wait).await;
                    } else {
                        let _ = self
                            .ask(owner, |reply| ShardMsg::WaitForData {
                                partitions: parts,
                                max_wait,
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

    async fn wait_local(&self, partitions: Vec<(PartitionKey, i64)>, max_wait: Duration) {
        let mut listeners = Vec::new();
        for (key, offset) in &partitions {
            match self.log(key) {
                Some(log) if log.high_watermark() > *offset => return,
                Some(log) => listeners.push(log.data_written().boxed_local()),
                None => {}
            }
        }
        let timer = rt::sleep(max_wait).boxed_local();
        if listeners.is_empty() {
            timer.await;
            return;
        }
        let _ = select(select_all(listeners), timer).await;
    }

    /// (timestamp, offset) for ListOffsets: -2 earliest, -1 latest, else the first batch at or
    /// after the timestamp ((-1, -1) when there is none).
    pub async fn list_offset(&self, key: PartitionKey, timestamp: i64) -> Result<(i64, i64), i16> {
        let owner = self.owner(&key);
        if owner != self.id {
            return self
                .ask(owner, |reply| ShardMsg::ListOffset {
                    key,
                    timestamp,
                    reply,
                })
                .await
                .unwrap_or(Err(ResponseError::NotLeaderOrFollower.code()));
        }
        let log = self.log(&key).ok_or_else(unknown)?;
        match timestamp {
            -2 => Ok((-1, log.log_start_offset())),
            -1 => Ok((-1, log.high_watermark())),
            ts if ts >= 0 => match log.offset_for_timestamp(ts).await {
                Ok(Some(offset)) => {
                    let got = log.read(offset, 1).await.map_err(|e| error_code(&e))?;
                    let ts = got
                        .batches
                        .first()
                        .and_then(|b| strata_record::batch::parse_header(b, usize::MAX).ok())
                        .map_or(-1, |h| h.max_timestamp);
                    Ok((ts, offset))
                }
                Ok(None) => Ok((-1, -1)),
                Err(e) => Err(error_code(&e)),
            },
            _ => Err(ResponseError::InvalidRequest.code()),
        }
    }

    // ---- topics ----

    /// Runs a topic change on shard 0, from any shard.
    /// Re-initialises an idempotent producer's id on the shard that allocated it, which keeps
    /// the id's epochs; Err is the reason it could not be done.
    pub async fn bump_producer_epoch(
        &self,
        producer_id: i64,
        epoch: i16,
    ) -> Result<crate::producer_ids::Bump, BrokerError> {
        let owner = crate::producer_ids::owner_of(producer_id, self.count);
        if owner == self.id {
            return self.bump_producer_epoch_local(producer_id, epoch).await;
        }
        self.ask(owner, |reply| ShardMsg::BumpProducerEpoch {
            producer_id,
            epoch,
            reply,
        })
        .await
        .unwrap_or_else(Err)
    }

    async fn bump_producer_epoch_local(
        &self,
        producer_id: i64,
        epoch: i16,
    ) -> Result<crate::producer_ids::Bump, BrokerError> {
        let now_ms = strata_record::clock::unix_ms();
        self.producer_ids
            .bump(
                producer_id,
                epoch,
                now_ms,
                self.config.producer_id_expiry_ms as i64,
            )
            .await
    }

    /// Runs a group request on the shard that owns the group.
    pub async fn group(&self, group: &str, op: GroupOp) -> GroupAnswer {
        let owner = owner_shard(group, 0, self.count);
        if owner == self.id {
            return self.group_local(group, op).await;
        }
        let group = group.to_string();
        self.ask(owner, |reply| ShardMsg::Group { group, op, reply })
            .await
            .unwrap_or(GroupAnswer::Code(
                ResponseError::CoordinatorNotAvailable.code(),
            ))
    }

    /// Every shard's groups (ListGroups).
    pub async fn all_groups(&self) -> Vec<(String, &'static str, String)> {
        let mut out = Vec::new();
        for s in 0..self.count {
            let answer = if s == self.id {
                self.group_local("", GroupOp::List).await
            } else {
                self.ask(s, |reply| ShardMsg::Group {
                    group: String::new(),
                    op: GroupOp::List,
                    reply,
                })
                .await
                .unwrap_or(GroupAnswer::List(Vec::new()))
            };
            if let GroupAnswer::List(l) = answer {
                out.extend(l);
            }
        }
        out
    }

    async fn group_local(&self, group: &str, op: GroupOp) -> GroupAnswer {
        let Some(c) = self.groups.get() else {
            return GroupAnswer::Code(ResponseError::CoordinatorLoadInProgress.code());
        };
        match op {
            GroupOp::Join(req) => GroupAnswer::Join(c.join(group, req).await),
            GroupOp::Sync {
                member,
                generation,
                assignments,
            } => GroupAnswer::Sync(c.sync(group, &member, generation, assignments).await),
            GroupOp::Heartbeat { member, generation } => {
                GroupAnswer::Code(c.heartbeat(group, &member, generation))
            }
            GroupOp::Leave { members } => GroupAnswer::Codes(c.leave(group, &members)),
            GroupOp::Commit {
                member,
                generation,
                items,
            } => {
                let code = c.may_commit(group, &member, generation);
                if code != 0 {
                    return GroupAnswer::Code(code);
                }
                match c.commit(group, items).await {
                    Ok(()) => GroupAnswer::Code(0),
                    Err(e) => {
                        tracing::error!(group, "storing offsets: {e}");
                        GroupAnswer::Code(ResponseError::KafkaStorageError.code())
                    }
                }
            }
            GroupOp::Fetch => GroupAnswer::Offsets(c.committed(group).await),
            GroupOp::Describe => GroupAnswer::View(c.view(group)),
            GroupOp::Delete => GroupAnswer::Code(c.delete(group).await),
            GroupOp::DeleteOffsets { keys } => {
                GroupAnswer::Code(c.delete_offsets(group, keys).await)
            }
            GroupOp::List => GroupAnswer::List(c.list().await),
        }
    }

    /// Serves a message from another shard.
    pub async fn serve(&self, msg: ShardMsg) {
        match msg {
            ShardMsg::Group { group, op, reply } => {
                let _ = reply.send(self.group_local(&group, op).await);
            }
            ShardMsg::BumpProducerEpoch {
                producer_id,
                epoch,
                reply,
            } => {
                let _ = reply.send(self.bump_producer_epoch_local(producer_id, epoch).await);
            }
            ShardMsg::Produce {
                key,
                records,
                acks,
                reply,
            } => {
                let _ = reply.send(self.produce_local(&key, records, acks).await);
            }
            ShardMsg::Read { reads, reply } => {
                let _ = reply.send(self.read_local(reads).await);
            }
            ShardMsg::WaitForData {
                partitions,
                max_wait,
                reply,
            } => {
                self.wait_local(partitions, max_wait).await;
                let _ = reply.send(());
            }
            ShardMsg::ListOffset {
                key,
                timestamp,
                reply,
            } => {
                let _ = reply.send(self.list_offset(key, timestamp).await);
            }
            ShardMsg::Admin { op, reply } => {
                let _ = reply.send(self.admin_local(op).await);
            }
            ShardMsg::ApplyTopics {
                table,
                change,
                reply,
            } => {
                let _ = reply.send(self.apply_topics(table, change).await);
            }
        }
    }

    /// Deletes what retention no longer keeps, on every owned partition.
    pub async fn enforce_retention(&self) {
        let now_ms = strata_record::clock::unix_ms();
        let expiry = self.config.producer_id_expiry_ms as i64;
        for (key, log) in self.owned_logs() {
            if let Err(e) = log.enforce_retention(now_ms).await {
                tracing::error!(topic = %key.topic, partition = key.partition, "retention: {e}");
            }
            log.expire_producers(now_ms.saturating_sub(expiry));
        }
    }

    /// Flushes, syncs and closes every owned log.
    pub async fn close_logs(&self) {
        let logs: Vec<(PartitionKey, PartitionLog)> = self.logs.borrow_mut().drain().collect();
        for (key, log) in logs {
            if let Err(e) = log.close().await {
                tracing::error!(topic = %key.topic, partition = key.partition, "close: {e}");
            }
        }
        if let Some(c) = self.groups.get() {
            // Waits for a commit in progress; every acknowledged commit is already durable.
            drop(c.offsets.lock().await);
        }
        self.peers.close();
    }
}
