//! Which shard owns a partition, and the messages shards send each other.
//!
//! Ownership is a pure function: partition `p` of topic `t` lives on shard
//! `(fnv1a(t) + p) % shards`. The topic's hash spreads topics; adding `p` puts consecutive
//! partitions of one topic on consecutive shards, so a topic's load spreads evenly.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::channel::oneshot;

use crate::error::BrokerError;
use crate::topics::{TopicSpec, TopicTable};

pub fn owner_shard(topic: &str, partition: i32, shards: usize) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in topic.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h.wrapping_add(partition as u64) % shards as u64) as usize
}

/// A partition named by topic and index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionKey {
    pub topic: String,
    pub partition: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    None,
    Leader,
    All,
}

/// Why an operation on a partition failed. Below the handlers errors stay typed; the handlers
/// turn them into Kafka codes through `error::partition_error_code`, the one place that does.
#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    #[error("no such topic or partition here")]
    Unknown,
    /// Another broker leads it (clients refresh their metadata and go there).
    #[error("broker {leader} leads this partition, not this one")]
    NotLeader { leader: i32 },
    /// This broker leads it, but its log did not open (tried again at every new table).
    #[error("the partition's log did not open here: it is offline")]
    Offline,
    /// No live broker leads it: it is offline until its broker returns.
    #[error("the partition has no live leader")]
    LeaderNotAvailable,
    #[error("the shard that owns the partition is gone (shutting down)")]
    OwnerGone,
    /// acks=all with fewer in-sync replicas than `min.insync.replicas`: nothing appended.
    #[error("{isr} in-sync replicas, {min} needed")]
    NotEnoughReplicas { isr: usize, min: usize },
    /// Appended, but the in-sync replicas fell below `min.insync.replicas` before it was
    /// replicated.
    #[error("appended, but the in-sync replicas fell to {isr}, {min} needed")]
    NotEnoughReplicasAfterAppend { isr: usize, min: usize },
    /// The in-sync replicas did not all have the records in time.
    #[error("not replicated to every in-sync replica within {ms} ms")]
    ReplicationTimedOut { ms: u64 },
    /// A request of an older leader epoch than the partition's.
    #[error("leader epoch {asked} is older than the partition's {current}")]
    FencedLeaderEpoch { asked: i32, current: i32 },
    /// A request of a newer leader epoch than this broker knows (its metadata is behind).
    #[error("leader epoch {asked} is newer than the {current} this broker knows")]
    UnknownLeaderEpoch { asked: i32, current: i32 },
    #[error(transparent)]
    Engine(#[from] strata_engine::EngineError),
    #[error(transparent)]
    UndecodableBatch(#[from] crate::record_time::UndecodableBatch),
}

/// A partition's size on disk and the idempotent producers it remembers.
#[derive(Debug, Clone)]
pub struct PartitionFacts {
    pub size_bytes: u64,
    pub producers: Vec<strata_engine::producer_state::ActiveProducer>,
}

/// Where an append went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Produced {
    pub base_offset: i64,
    pub log_start_offset: i64,
    /// The time the batches were stamped with, for a LogAppendTime topic.
    pub log_append_time: Option<i64>,
}

/// Result of an append on the owning shard.
pub type ProduceOutcome = Result<Produced, PartitionError>;

/// Which offset ListOffsets asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetQuery {
    Earliest,
    Latest,
    /// The first record whose timestamp is at or after this one (ms).
    AtTime(i64),
    /// The (first) record with the largest timestamp (KIP-734).
    MaxTimestamp,
}

/// An offset found for an `OffsetQuery`, with the timestamp that matched (for `AtTime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FoundOffset {
    pub timestamp: Option<i64>,
    pub offset: i64,
    /// The leader epoch of the batch holding it (-1: the log has none).
    pub leader_epoch: i32,
}

#[derive(Debug, Clone)]
pub struct PartitionRead {
    pub key: PartitionKey,
    pub offset: i64,
    pub max_bytes: usize,
    /// The leader epoch the consumer believes current (Fetch v9+); -1: not given.
    pub current_leader_epoch: i32,
}

#[derive(Debug, Default)]
pub struct PartitionReadResult {
    pub error: Option<PartitionError>,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    pub batches: Vec<Bytes>,
}

/// Topic changes, decided by shard 0.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum AdminOp {
    CreateTopics {
        topics: Vec<TopicSpec>,
        validate_only: bool,
    },
    DeleteTopics {
        names: Vec<String>,
    },
    CreatePartitions {
        name: String,
        count: i32,
        validate_only: bool,
    },
    AlterConfigs {
        topic: String,
        change: crate::topic_configs::ConfigChange,
        validate_only: bool,
    },
    /// The broker's dynamic settings (`crate::broker_configs`); its outcome is named "".
    AlterBrokerConfigs {
        change: crate::topic_configs::ConfigChange,
        validate_only: bool,
    },
    /// The internal offsets topic, placed over the live brokers, unless it exists (no outcome).
    CreateOffsetsTopic,
}

impl AdminOp {
    /// The topics the operation names, in its order ("" for the broker's settings).
    pub fn names(&self) -> Vec<String> {
        match self {
            AdminOp::CreateTopics { topics, .. } => topics.iter().map(|t| t.name.clone()).collect(),
            AdminOp::DeleteTopics { names } => names.clone(),
            AdminOp::CreatePartitions { name, .. } => vec![name.clone()],
            AdminOp::AlterConfigs { topic, .. } => vec![topic.clone()],
            AdminOp::AlterBrokerConfigs { .. } => vec![String::new()],
            AdminOp::CreateOffsetsTopic => Vec::new(),
        }
    }
}

/// Why a topic change was refused for one topic; the message is for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum TopicChangeError {
    #[error("topic {0} exists")]
    AlreadyExists(String),
    #[error("no topic {0}")]
    Unknown(String),
    #[error("{0}")]
    InvalidConfig(String),
    /// A broker setting that is read at start only.
    #[error("{0}")]
    NotDynamic(String),
    #[error("{0}")]
    InvalidPartitions(String),
    /// It would need more file descriptors than the limit leaves.
    #[error("{0}")]
    OverFileBudget(String),
    /// The table could not be saved, or a partition could not be opened.
    #[error("{0}")]
    Storage(String),
    /// More replicas than live brokers, or none.
    #[error("{0}")]
    InvalidReplicationFactor(String),
    /// The controller quorum has no leader, or lost it before the change was committed.
    #[error("{0}")]
    NotController(String),
    /// The controller did not answer in time (no quorum).
    #[error("{0}")]
    TimedOut(String),
    /// The internal offsets topic: its partitions are how groups are found, and its records
    /// are every group's committed offsets.
    #[error("{0} is internal: it cannot be deleted or given partitions")]
    Internal(String),
}

/// What a topic change did to one topic it names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TopicOutcome {
    pub name: String,
    pub result: Result<(), TopicChangeError>,
}

/// One outcome per topic named in the operation.
pub type AdminResult = Vec<TopicOutcome>;

/// The partitions a new topic table removes and adds, for the shards that own them.
#[derive(Debug, Clone, Default)]
pub struct TopicChange {
    /// To close and delete (of deleted topics, or of a change being undone).
    pub removed: Vec<PartitionKey>,
    /// New to this node (a directory a deleted topic of the same name left is removed by its
    /// `partition.metadata`, not by being new: a migrated topic's partitions are new too).
    pub added: Vec<PartitionKey>,
}

/// Requests about a group, served by the shard that owns the group.
pub enum GroupOp {
    Join(crate::groups::state::JoinRequest),
    Sync {
        member: crate::groups::state::MemberRef,
        assignments: Vec<(String, Bytes)>,
    },
    Heartbeat {
        member: crate::groups::state::MemberRef,
    },
    Leave {
        members: Vec<crate::groups::state::LeavingMember>,
    },
    Commit {
        member: crate::groups::state::MemberRef,
        items: Vec<(String, i32, crate::groups::offsets::Committed)>,
    },
    /// Offsets kept by an older broker's store: committed unless the group has one there.
    Migrate {
        items: Vec<(String, i32, crate::groups::offsets::Committed)>,
    },
    Fetch,
    Describe,
    Delete,
    DeleteOffsets {
        keys: Vec<(String, i32)>,
    },
    List,
}

/// A group as ListGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    pub id: String,
    /// Kafka's name of its state ("Stable", "Empty", ...).
    pub state: &'static str,
    pub protocol_type: String,
}

pub enum GroupAnswer {
    Join(crate::groups::state::JoinResult),
    Sync(crate::groups::state::SyncResult),
    /// The outcome of a request that returns nothing else, or why any group request failed.
    Done(Result<(), crate::groups::error::GroupError>),
    /// OffsetDelete: one outcome per partition.
    EachPartition(Vec<((String, i32), Result<(), crate::groups::error::GroupError>)>),
    /// LeaveGroup: one outcome per member, in the request's order.
    EachMember(Vec<Result<(), crate::groups::error::GroupError>>),
    Offsets(Vec<(String, i32, crate::groups::offsets::Committed)>),
    View(Option<crate::groups::coordinator::GroupView>),
    List(Vec<ListedGroup>),
}

pub enum ShardMsg {
    Group {
        group: String,
        /// The group's partition of the offsets topic, which the receiving shard owns.
        partition: i32,
        op: GroupOp,
        reply: oneshot::Sender<GroupAnswer>,
    },
    Produce {
        key: PartitionKey,
        records: BytesMut,
        acks: Acks,
        /// When the asking shard sent it (stage `produce.forward`).
        sent_at: std::time::Instant,
        reply: oneshot::Sender<ProduceOutcome>,
    },
    Read {
        reads: Vec<PartitionRead>,
        reply: oneshot::Sender<Vec<PartitionReadResult>>,
    },
    /// Answer when any of these partitions has data past the offset, or after `max_wait`
    /// (`written`: data written, past the high watermark, as a follower reads).
    WaitForData {
        partitions: Vec<(PartitionKey, i64)>,
        max_wait: Duration,
        written: bool,
        reply: oneshot::Sender<()>,
    },
    /// To shard 0 only: a leader's ISR changes for the controller (AlterPartition); each
    /// change's error code.
    AlterIsr {
        changes: Vec<strata_controller::isr::IsrChange>,
        reply: oneshot::Sender<Result<Vec<i16>, String>>,
    },
    /// A follower's fetch of partitions this shard owns.
    ReplicaRead {
        follower: i32,
        reads: Vec<crate::replication::serve::ReplicaFetch>,
        reply: oneshot::Sender<Vec<crate::replication::serve::ReplicaFetched>>,
    },
    /// OffsetForLeaderEpoch: where `epoch` ends in the partition's log, if the asker's
    /// `current` epoch is the leader's.
    EpochEnd {
        key: PartitionKey,
        current: i32,
        epoch: i32,
        reply: oneshot::Sender<Result<(i32, i64), PartitionError>>,
    },
    ListOffset {
        key: PartitionKey,
        query: OffsetQuery,
        reply: oneshot::Sender<Result<Option<FoundOffset>, PartitionError>>,
    },
    /// DescribeLogDirs and DescribeProducers: what the owner knows of a partition.
    PartitionFacts {
        key: PartitionKey,
        reply: oneshot::Sender<Result<PartitionFacts, PartitionError>>,
    },
    /// DeleteRecords: the partition's new log start offset.
    DeleteRecords {
        key: PartitionKey,
        before: i64,
        reply: oneshot::Sender<Result<i64, PartitionError>>,
    },
    /// To the shard whose number the producer id carries.
    BumpProducerEpoch {
        producer_id: i64,
        epoch: i16,
        reply: oneshot::Sender<Result<crate::producer_ids::Bump, BrokerError>>,
    },
    /// To shard 0 only: the controller quorum as this node knows it.
    QuorumState {
        reply: oneshot::Sender<crate::cluster::QuorumState>,
    },
    /// To shard 0 only: an older broker's committed offsets of the groups of one partition of
    /// the offsets topic (`shard::offsets_migration`).
    LegacyGroups {
        partition: i32,
        count: i32,
        reply: oneshot::Sender<crate::shard::LegacyGroups>,
    },
    /// To shard 0 only: these groups' older offsets are in the offsets topic.
    LegacyMigrated {
        groups: Vec<String>,
        reply: oneshot::Sender<()>,
    },
    /// To shard 0 only: a block of producer ids from the controller (its first id).
    ReserveProducerIds {
        reply: oneshot::Sender<Result<u64, BrokerError>>,
    },
    /// To shard 0 only.
    Admin {
        op: AdminOp,
        reply: oneshot::Sender<AdminResult>,
    },
    /// From shard 0: the new topic table; open and close partition logs to match it.
    ApplyTopics {
        table: Arc<TopicTable>,
        change: TopicChange,
        reply: oneshot::Sender<Result<(), BrokerError>>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topics_partitions_spread_over_all_shards() {
        for shards in 1..6 {
            let mut seen = vec![0; shards];
            for p in 0..(shards as i32 * 4) {
                seen[owner_shard("orders", p, shards)] += 1;
            }
            assert!(seen.iter().all(|&n| n == 4), "{seen:?}");
        }
        assert_eq!(owner_shard("a", 3, 7), owner_shard("a", 3, 7));
    }
}
