//! One shard: the partitions it owns, its copy of the topic table, and its channels to the
//! other shards. Its jobs live in one file each: partition access, run locally or forwarded to
//! the owner (`partitions.rs`); producer epochs and group requests, routed to the shard that
//! keeps them (`coordination.rs`); the mailbox that serves other shards (`mailbox.rs`); topic
//! changes (`topic_controller.rs`). This file holds the state, retention and shutdown.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use futures::channel::oneshot;
use strata_engine::{LogCaches, PartitionLog};

use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::router::{owner_shard, PartitionKey, ShardMsg};
use crate::topics::{ClusterIdentity, TopicStore, TopicTable};
use strata_runtime::ShardSenders;

mod coordination;
mod mailbox;
mod partitions;
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
