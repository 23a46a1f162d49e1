//! Starting this node's part in the cluster, on shard 0: the metadata log and its Raft node
//! (on voters), the controller listener and peers (in a quorum of several), the publisher, and
//! registration. A node alone is its own quorum: it registers, is unfenced and has its shards
//! serving its metadata before the broker answers anyone. In a quorum, registration goes on in
//! the background until a controller answers.
//!
//! Once, on the first start of this version over an older data directory, the topics of
//! `topics.json` become metadata records (one entry: all or nothing), and the file is renamed
//! `topics.json.migrated`.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata_runtime as rt;

use super::membership::Membership;
use super::metadata_log::MetadataLog;
use super::node::Node;
use super::peers::RaftPeers;
use super::publish::{start_publisher, Applied, ImageSink, Published};
use super::quorum::{self, Voter};
use super::{changes, Cluster};
use crate::error::BrokerError;
use crate::shard::Shard;
use crate::topics::{PartitionPlace, TopicTable};

/// How long a node alone may take to register and be unfenced before start-up fails.
const ALONE_READY_WITHIN: Duration = Duration::from_secs(30);

pub async fn start(shard: Rc<Shard>, legacy: Arc<TopicTable>) -> Result<(), BrokerError> {
    let config = shard.config.clone();
    let me = config.node_id;
    let configured = quorum::parse(&config.controller_quorum)?;
    let alone = configured.is_empty();
    let voters = if alone {
        vec![Voter {
            node_id: me,
            addr: String::new(),
        }]
    } else {
        configured
    };
    let cluster_id = shard.identity.cluster_id.clone();
    let (sink, images) = ImageSink::new();
    let published = Rc::new(Published::default());
    start_publisher(shard.clone(), me, images, published.clone());
    let node = match voters.iter().find(|v| v.node_id == me) {
        Some(_) => {
            let ids: Vec<i32> = voters.iter().map(|v| v.node_id).collect();
            let dir = config.data_dir.join("__cluster_metadata");
            let log = MetadataLog::open(&dir, me, &ids)
                .await
                .map_err(|e| BrokerError::Config(format!("the metadata log: {e}")))?;
            let peers = (!alone).then(|| RaftPeers::start(me, &voters, &cluster_id));
            Some(Node::start(
                me,
                log,
                peers,
                sink.clone(),
                config.broker_session_timeout_ms,
                config.metadata_snapshot_every_entries,
            ))
        }
        None => None,
    };
    let recovered = node
        .as_ref()
        .map_or(0, |n| n.state.image.borrow().applied_index);
    let my_addr = voters
        .iter()
        .find(|v| v.node_id == me)
        .map(|v| v.addr.clone());
    let cluster = Rc::new(Cluster::new(
        me,
        voters,
        cluster_id,
        node,
        published.clone(),
        sink,
        Duration::from_millis(config.controller_request_timeout_ms),
        Duration::from_millis((config.broker_session_timeout_ms / 3).clamp(100, 5000)),
        config.max_frame_bytes,
    ));
    shard.set_cluster(cluster.clone());
    if let (false, Some(addr)) = (alone, my_addr) {
        super::listener::start(shard.clone(), &addr)?;
    }
    // The metadata this node had applied before it stopped: its shards open their partitions.
    if recovered > 0 && published.wait_for(recovered, ALONE_READY_WITHIN).await == Applied::TimedOut
    {
        return Err(BrokerError::Config(
            "the recovered metadata was not applied in time".into(),
        ));
    }
    let membership = Rc::new(Membership::new());
    if alone {
        let epoch = membership.register(&shard).await;
        await_unfenced(&shard, &membership, epoch).await?;
        migrate(&shard, &cluster, &legacy).await?;
        keep_file_producer_ids(&shard, &cluster).await?;
        rt::spawn_detached(membership.run(shard.clone(), epoch));
    } else {
        if !legacy.topics.is_empty() {
            tracing::warn!(
                "topics.json is not migrated into a quorum of several nodes; start the node \
                 alone once to migrate it"
            );
        }
        let shard = shard.clone();
        rt::spawn_detached(async move {
            let epoch = membership.register(&shard).await;
            membership.run(shard, epoch).await;
        });
    }
    Ok(())
}

/// Heartbeats until this node, alone, is unfenced and its shards see it.
async fn await_unfenced(
    shard: &Shard,
    membership: &Membership,
    epoch: i64,
) -> Result<(), BrokerError> {
    let cluster = shard.cluster().expect("set above");
    let deadline = Instant::now() + ALONE_READY_WITHIN;
    while Instant::now() < deadline {
        let applied = cluster
            .node
            .as_ref()
            .map_or(0, |n| n.state.image.borrow().applied_index);
        cluster
            .published
            .wait_for(applied, Duration::from_secs(5))
            .await;
        let me_live = shard
            .topics()
            .cluster
            .brokers
            .contains_key(&shard.identity.node_id);
        if me_live {
            return Ok(());
        }
        let _ = membership.heartbeat(shard, epoch).await;
        rt::sleep(Duration::from_millis(5)).await;
    }
    Err(BrokerError::Config(
        "this node did not become a live broker of its own quorum in time".into(),
    ))
}

/// Producer ids the shards' own files handed out before the controller did stay taken: the
/// controller's blocks start above them.
async fn keep_file_producer_ids(shard: &Shard, cluster: &Cluster) -> Result<(), BrokerError> {
    let node = cluster
        .node
        .as_ref()
        .expect("a node alone runs its controller");
    let next = node.state.image.borrow().next_producer_id;
    // Once the controller has handed out ids (or kept this floor), the floor is behind them:
    // the files, no longer written, need not be read at every start.
    if next > 0 {
        return Ok(());
    }
    let dir = shard.config.data_dir.clone();
    let floor = rt::blocking(move || crate::producer_ids::handed_out_by_files(&dir)).await;
    if floor == 0 {
        return Ok(());
    }
    let record = strata_controller::MetadataRecord::ProducerIds {
        broker_id: cluster.me,
        broker_epoch: cluster.epoch.get(),
        next_producer_id: floor as i64,
    };
    let index = node
        .propose(vec![record])
        .await
        .map_err(|e| BrokerError::Config(format!("keeping the files' producer ids: {e}")))?;
    cluster.published.wait_for(index, ALONE_READY_WITHIN).await;
    tracing::info!(
        floor,
        "producer ids now come from the controller, above the files' ones"
    );
    Ok(())
}

/// Moves the topics of an older `topics.json` into the metadata log, once.
async fn migrate(shard: &Shard, cluster: &Cluster, legacy: &TopicTable) -> Result<(), BrokerError> {
    let path = shard.config.data_dir.join("topics.json");
    if !path.exists() {
        return Ok(());
    }
    let node = cluster
        .node
        .as_ref()
        .expect("a node alone runs its controller");
    let image = node.state.image.borrow().clone();
    let has_metadata = !image.topics.is_empty() || !image.cluster_configs.is_empty();
    if !has_metadata && (!legacy.topics.is_empty() || !legacy.broker_configs.is_empty()) {
        let mut placed = legacy.clone();
        for spec in placed.topics.values_mut() {
            spec.places = (0..spec.partitions)
                .map(|_| PartitionPlace {
                    replicas: vec![cluster.me],
                    leader: cluster.me,
                    leader_epoch: 0,
                    isr: vec![cluster.me],
                    partition_epoch: 0,
                })
                .collect();
        }
        let records = changes::records_between(&TopicTable::default(), &placed, &image)
            .map_err(|e| BrokerError::Config(format!("migrating topics.json: {e}")))?;
        let index = node
            .propose(records)
            .await
            .map_err(|e| BrokerError::Config(format!("migrating topics.json: {e}")))?;
        cluster.published.wait_for(index, ALONE_READY_WITHIN).await;
        tracing::info!(
            topics = legacy.topics.len(),
            index,
            "topics.json migrated into the metadata log"
        );
    }
    let moved = path.with_file_name("topics.json.migrated");
    rt::blocking(move || std::fs::rename(&path, &moved))
        .await
        .map_err(|e| BrokerError::io("renaming topics.json after its migration", e))
}
