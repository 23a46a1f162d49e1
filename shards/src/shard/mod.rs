//! One shard: the partitions it owns, its copy of the topic table, and its channels to the
//! other shards. Its jobs live in one file each: partition access, run locally or forwarded to
//! the owner (`partitions.rs`); producer epochs and group requests, routed to the shard that
//! keeps them (`coordination.rs`); the mailbox that serves other shards (`mailbox.rs`); topic
//! changes (`topic_controller.rs`). This file holds the state, retention and shutdown.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use futures::channel::oneshot;
use strata_engine::{LogCaches, PartitionLog};

use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::router::{owner_shard, PartitionKey, ShardMsg};
use crate::topics::{ClusterIdentity, TopicTable};
use strata_runtime::ShardSenders;

mod coordination;
mod mailbox;
mod offsets_migration;
mod offsets_topic;
mod partitions;
mod topic_controller;

pub use offsets_migration::LegacyGroups;

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
    /// Shard 0 only: this node's part in the cluster (controller, membership); set at start.
    cluster: std::cell::OnceCell<Rc<crate::cluster::Cluster>>,
    /// Idempotent producers' ids handed out by this shard.
    pub producer_ids: crate::producer_ids::ProducerIds,
    /// The groups this shard coordinates; set once at start.
    pub groups: std::cell::OnceCell<crate::groups::coordinator::GroupCoordinator>,
    /// Replicated partitions this shard owns, by role (`crate::replication::roles`).
    pub(crate) replicas: crate::replication::roles::Roles,
    /// This shard itself, for the tasks it starts (its fetchers); set at start.
    pub(crate) itself: std::cell::OnceCell<std::rc::Weak<Shard>>,
    offsets_topic_asked: offsets_topic::OffsetsTopicAsked,
    /// Shard 0 only: an older broker's committed offsets not yet in the offsets topic.
    legacy_offsets: offsets_migration::Pending,
    /// Set when the shard closes its logs: a topic change still being applied opens no more
    /// (a log opened after the close would be left unsealed).
    closing: std::cell::Cell<bool>,
    pub(crate) hw_checkpoint: crate::replication::hw_checkpoint::HwCheckpoint,
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
            cluster: std::cell::OnceCell::new(),
            groups: std::cell::OnceCell::new(),
            replicas: Default::default(),
            itself: std::cell::OnceCell::new(),
            offsets_topic_asked: Default::default(),
            legacy_offsets: Default::default(),
            closing: Default::default(),
            hw_checkpoint: Default::default(),
            producer_ids: crate::producer_ids::ProducerIds::new(&data_dir, id),
        })
    }

    pub fn topics(&self) -> Arc<TopicTable> {
        self.topics.borrow().clone()
    }

    /// This node's part in the cluster; shard 0 only, once started.
    pub fn cluster(&self) -> Option<&Rc<crate::cluster::Cluster>> {
        self.cluster.get()
    }

    pub fn set_cluster(&self, cluster: Rc<crate::cluster::Cluster>) {
        let _ = self.cluster.set(cluster);
    }

    /// The brokers that may be given partitions: the live ones (this one, before it knows).
    pub fn live_brokers(&self) -> Vec<i32> {
        let table = self.topics();
        if table.cluster.brokers.is_empty() {
            return vec![self.identity.node_id];
        }
        table.cluster.brokers.keys().copied().collect()
    }

    /// The live brokers as clients reach them: id, host, port, rack (this broker alone, before
    /// it has the cluster's metadata).
    pub fn broker_addresses(&self) -> Vec<(i32, crate::topics::BrokerAddress)> {
        let table = self.topics();
        if table.cluster.brokers.is_empty() {
            let (host, port) = self.advertised.clone();
            return vec![(
                self.identity.node_id,
                crate::topics::BrokerAddress {
                    host,
                    port,
                    rack: None,
                },
            )];
        }
        table
            .cluster
            .brokers
            .iter()
            .map(|(id, a)| (*id, a.clone()))
            .collect()
    }

    /// The controller as Metadata names it to clients: this broker. Any broker forwards topic
    /// changes to the quorum's leader (KRaft's brokers name a live broker too), so an admin
    /// client never sends them to a node that died since its last metadata.
    pub fn controller_for_clients(&self) -> i32 {
        self.identity.node_id
    }

    /// The controller quorum's leader when it is a live broker, else this broker (DescribeCluster,
    /// for operators).
    pub fn controller_id(&self) -> i32 {
        let table = self.topics();
        let leader = table.cluster.controller_id;
        if table.cluster.brokers.contains_key(&leader) {
            leader
        } else {
            self.identity.node_id
        }
    }

    /// Whether this broker leads the partition (by its table): else why not.
    pub fn leads(&self, key: &PartitionKey) -> Result<(), crate::router::PartitionError> {
        use crate::router::PartitionError;
        let table = self.topics();
        let place = table
            .topics
            .get(&key.topic)
            .and_then(|t| t.place(key.partition))
            .ok_or(PartitionError::Unknown)?;
        if place.leader == self.identity.node_id {
            Ok(())
        } else if place.leader < 0 || !table.cluster.brokers.contains_key(&place.leader) {
            Err(PartitionError::LeaderNotAvailable)
        } else {
            Err(PartitionError::NotLeader {
                leader: place.leader,
            })
        }
    }

    pub fn owner(&self, key: &PartitionKey) -> usize {
        owner_shard(&key.topic, key.partition, self.count)
    }

    pub(crate) fn log(&self, key: &PartitionKey) -> Option<PartitionLog> {
        self.logs.borrow().get(key).cloned()
    }

    /// The log of a partition this broker leads, or why there is none to serve.
    pub(crate) fn led_log(
        &self,
        key: &PartitionKey,
    ) -> Result<PartitionLog, crate::router::PartitionError> {
        self.leads(key)?;
        // Led here and in the table, but its log did not open: offline until it does.
        self.log(key).ok_or(crate::router::PartitionError::Offline)
    }

    pub fn owned_logs(&self) -> Vec<(PartitionKey, PartitionLog)> {
        self.logs
            .borrow()
            .iter()
            .map(|(k, l)| (k.clone(), l.clone()))
            .collect()
    }

    pub(crate) async fn ask<T>(
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
        self.closing.set(true);
        // The high watermarks the logs end with, for the next start.
        self.write_hw_checkpoint().await;
        // Fetchers stop at their next round.
        self.replicas.clear();
        let logs: Vec<(PartitionKey, PartitionLog)> = self.logs.borrow_mut().drain().collect();
        for (key, log) in logs {
            if let Err(e) = log.close().await {
                tracing::error!(topic = %key.topic, partition = key.partition, "close: {e}");
            }
        }
        self.peers.close();
    }
}
