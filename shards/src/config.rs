//! The broker's settings: every limit in one place, read from a TOML file and the command line,
//! checked before anything starts. Unknown keys and bad values are refused with the key named.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use strata_engine::{FlushPolicy, LogConfig};

use crate::error::BrokerError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerConfig {
    /// This broker's id in Metadata.
    pub node_id: i32,
    /// Address every shard listens on (SO_REUSEPORT).
    pub listen: String,
    /// HOST:PORT returned in Metadata, when clients reach us through another address.
    pub advertise: Option<String>,
    pub data_dir: PathBuf,
    /// Shards (pinned executors); 0 means one per core.
    pub shards: usize,
    /// Largest request frame accepted, checked before the frame is read. Also the most one
    /// batch's (or old-format message's) records may inflate to when the broker decompresses
    /// them (`crate::inflate`).
    pub max_frame_bytes: usize,
    /// Requests read ahead on one connection before its responses are written.
    pub max_in_flight_requests_per_connection: usize,
    pub max_connections_per_shard: usize,
    /// A request's bytes, once its first byte has come, must all arrive within this long, or the
    /// connection is closed (a stalled or trickled upload holds nothing for long).
    pub request_read_timeout_ms: u64,
    /// A connection with no request for this long is closed (Kafka's connections.max.idle.ms).
    pub connections_max_idle_ms: u64,
    /// Rejected frames and closed connections logged per client address per minute; the rest
    /// are counted and summed up in the next line that is logged.
    pub log_lines_per_client_per_minute: u32,
    /// Messages queued from one shard to another before the sender waits.
    pub shard_channel_capacity: usize,
    pub batch_cache_bytes_per_shard: usize,
    /// Sealed segments' `.log` files a shard keeps open for reads (least recently used closed
    /// first); the rest are opened when read. Bounds descriptors whatever the segment count.
    pub max_open_sealed_segments_per_shard: usize,
    pub auto_create_topics: bool,
    /// Partitions of an auto-created topic, and of CreateTopics asking for the default (-1).
    pub default_partitions: i32,
    /// Bytes of io_uring registered memory per shard (counts against `ulimit -l`).
    pub io_memory_bytes_per_shard: usize,
    /// How often each shard applies retention to its partitions.
    pub retention_check_interval_ms: u64,
    /// How long a stopping broker waits for connections to finish their requests.
    pub shutdown_grace_ms: u64,
    /// Every this often (and when it stops), each shard prints its requests' stage timings
    /// (`latency.rs`) to stderr and starts them afresh; 0: no report (they are still kept).
    pub latency_report_interval_ms: u64,
    /// How long a stopping broker of a cluster waits for the controller to move its
    /// leaderships away (controlled shutdown) before it stops anyway; 0: it does not ask.
    pub controlled_shutdown_timeout_ms: u64,
    /// Consumer groups: a new group's first rebalance waits this long for more members.
    pub group_initial_rebalance_delay_ms: u64,
    pub group_min_session_timeout_ms: u64,
    pub group_max_session_timeout_ms: u64,
    pub group_max_members: usize,
    /// No longer used (committed offsets live in `__consumer_offsets`); accepted, with a
    /// warning, so that an older config file still loads.
    pub offsets_compact_above_bytes: Option<u64>,
    /// Replicas of each partition of the offsets topic (Kafka's
    /// offsets.topic.replication.factor), at most the cluster's size (its voters, or the brokers
    /// registered if more); the topic is created once that many brokers are live.
    pub offsets_topic_replication_factor: i32,
    /// Segment size of the offsets topic's partitions (Kafka's offsets.topic.segment.bytes).
    pub offsets_topic_segment_bytes: u64,
    /// Idempotent producers idle this long are forgotten (Kafka's producer.id.expiration.ms).
    pub producer_id_expiry_ms: u64,
    /// The controller quorum's voters, `ID@HOST:PORT,...` (`crate::cluster::quorum`); each voter
    /// serves the controller on its own address there. Empty: this node alone is its quorum.
    pub controller_quorum: String,
    /// The rack (or zone) this broker is in, as Metadata shows it (Kafka's broker.rack).
    pub rack: Option<String>,
    /// This node runs no controller: it registers with the quorum's and follows its metadata.
    pub broker_only: bool,
    /// How often a broker heartbeats to the controller (Kafka's broker.heartbeat.interval.ms).
    pub broker_heartbeat_interval_ms: u64,
    /// A broker not heard from for this long is fenced; the partitions it leads go offline until
    /// it returns (Kafka's broker.session.timeout.ms).
    pub broker_session_timeout_ms: u64,
    /// Partitions of the internal offsets topic that spreads group coordinators over brokers
    /// (Kafka's offsets.topic.num.partitions); fixed once the topic exists.
    pub offsets_topic_num_partitions: i32,
    /// How long a topic change waits for the controller quorum before REQUEST_TIMED_OUT.
    pub controller_request_timeout_ms: u64,
    /// The metadata image is snapshotted, and the log before it dropped, every this many
    /// entries: a restart reads the snapshot and the log's tail.
    pub metadata_snapshot_every_entries: u64,
    /// Replicas of a topic created without one (CreateTopics' -1, auto-created topics).
    pub default_replication_factor: i32,
    /// acks=all needs at least this many in-sync replicas (a topic's `min.insync.replicas`
    /// overrides it); fewer: NOT_ENOUGH_REPLICAS.
    pub min_insync_replicas: i32,
    /// A follower that has not caught up with its leader for this long leaves the in-sync set.
    pub replica_lag_time_max_ms: u64,
    /// Bytes per partition a follower asks for in one fetch from its leader.
    pub replica_fetch_max_bytes: usize,
    /// How long a follower's fetch waits at its leader for new records.
    pub replica_fetch_wait_max_ms: u64,
    /// How often each shard writes its partitions' high watermarks (`high-watermarks.shard<N>`,
    /// Kafka's replica.high.watermark.checkpoint.interval.ms).
    pub replica_high_watermark_checkpoint_interval_ms: u64,
    /// What a follower reports as having: `synced` (made durable by fdatasync, so an
    /// acknowledged acks=all record is on the disk of every in-sync replica) or `written`
    /// (Kafka's default: written, not synced; faster, and a power loss of every in-sync
    /// replica at once can lose acknowledged records).
    pub replication_durability: ReplicationDurability,
    /// FOR TESTS OF THE FAULT CHECKER ONLY: a leader's high watermark is its own log end, its
    /// followers ignored, so acks=all loses records when a leader fails. Refused unless the
    /// environment has STRATA_ALLOW_UNSAFE_TESTING=1.
    pub testing_unsafe_high_watermark: bool,
    pub log: LogSettings,
}

/// What a follower has to have done with records before its leader counts them as replicated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplicationDurability {
    Synced,
    Written,
}

/// Defaults of every topic's log; a topic may override them with Kafka's config names.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub segment_bytes: u64,
    pub segment_ms: u64,
    pub index_interval_bytes: u64,
    /// Largest record batch (Kafka's max.message.bytes).
    pub max_message_bytes: usize,
    /// -1: no limit.
    pub retention_bytes: i64,
    /// -1: no limit.
    pub retention_ms: i64,
    /// acks=1 answers once the batch is written; these say when writes happen (0, 0: at once).
    pub flush_max_unflushed_bytes: u64,
    pub flush_max_delay_ms: u64,
    /// The active segment file is allocated this far ahead of its writes (0: not at all), so
    /// that O_DIRECT writes do not extend it (extending writes go through io_uring's worker
    /// threads on ext4). Kafka's `preallocate`, in steps as Redpanda allocates.
    pub preallocate_bytes: u64,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            node_id: 0,
            listen: "127.0.0.1:9092".into(),
            advertise: None,
            data_dir: PathBuf::from("./strata-data"),
            shards: 0,
            max_frame_bytes: 100 << 20,
            max_in_flight_requests_per_connection: 32,
            max_connections_per_shard: 10_000,
            request_read_timeout_ms: 30_000,
            connections_max_idle_ms: 600_000,
            log_lines_per_client_per_minute: 10,
            shard_channel_capacity: 1024,
            batch_cache_bytes_per_shard: 256 << 20,
            max_open_sealed_segments_per_shard: 1024,
            auto_create_topics: true,
            default_partitions: 1,
            io_memory_bytes_per_shard: 2 << 20,
            retention_check_interval_ms: 300_000,
            shutdown_grace_ms: 10_000,
            latency_report_interval_ms: 0,
            controlled_shutdown_timeout_ms: 30_000,
            group_initial_rebalance_delay_ms: 3_000,
            group_min_session_timeout_ms: 6_000,
            group_max_session_timeout_ms: 1_800_000,
            group_max_members: 1_000,
            offsets_compact_above_bytes: None,
            offsets_topic_replication_factor: 3,
            offsets_topic_segment_bytes: 100 << 20,
            default_replication_factor: 1,
            min_insync_replicas: 1,
            replica_lag_time_max_ms: 30_000,
            replica_fetch_max_bytes: 1 << 20,
            replica_fetch_wait_max_ms: 500,
            replica_high_watermark_checkpoint_interval_ms: 5_000,
            replication_durability: ReplicationDurability::Synced,
            testing_unsafe_high_watermark: false,
            producer_id_expiry_ms: 86_400_000,
            controller_quorum: String::new(),
            broker_only: false,
            rack: None,
            broker_heartbeat_interval_ms: 2_000,
            broker_session_timeout_ms: 9_000,
            offsets_topic_num_partitions: 50,
            controller_request_timeout_ms: 30_000,
            metadata_snapshot_every_entries: 1_000,
            log: LogSettings::default(),
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            index_interval_bytes: 4096,
            max_message_bytes: 1 << 20,
            retention_bytes: -1,
            retention_ms: 7 * 24 * 3600 * 1000,
            flush_max_unflushed_bytes: 0,
            flush_max_delay_ms: 0,
            preallocate_bytes: 16 << 20,
        }
    }
}

/// The smallest segment the engine takes (`LogConfig::validate`): index positions and the
/// read window assume at least this much.
const MIN_SEGMENT_BYTES: u64 = 64 * 1024;

impl BrokerConfig {
    /// Reads a TOML file; every key must be known.
    pub fn from_file(path: &Path) -> Result<Self, BrokerError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| BrokerError::Config(format!("{}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| BrokerError::Config(format!("{}: {e}", path.display())))
    }

    pub fn shard_count(&self) -> usize {
        if self.shards == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            self.shards
        }
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, BrokerError> {
        self.listen
            .parse()
            .map_err(|e| BrokerError::Config(format!("listen = {:?}: {e}", self.listen)))
    }

    /// (host, port) that Metadata names for this broker.
    pub fn advertised(&self) -> Result<(String, i32), BrokerError> {
        let text = self.advertise.as_deref().unwrap_or(&self.listen);
        let (host, port) = text.rsplit_once(':').ok_or_else(|| {
            BrokerError::Config(format!("advertise = {text:?}: expected HOST:PORT"))
        })?;
        let port: u16 = port
            .parse()
            .map_err(|e| BrokerError::Config(format!("advertise = {text:?}: port: {e}")))?;
        Ok((host.trim_matches(['[', ']']).to_string(), i32::from(port)))
    }

    pub fn validate(&self) -> Result<(), BrokerError> {
        let bad = |key: &str, why: &str| Err(BrokerError::Config(format!("{key}: {why}")));
        self.listen_addr()?;
        self.advertised()?;
        if self.node_id < 0 {
            return bad("node_id", "must be >= 0");
        }
        if self.shards > crate::producer_ids::MAX_SHARDS {
            // Producer ids carry the shard number in their low bits.
            return bad("shards", "must be at most 1024");
        }
        if self.max_frame_bytes < 1024 || self.max_frame_bytes > 1 << 30 {
            return bad("max_frame_bytes", "must be within [1024, 1073741824]");
        }
        if self.max_in_flight_requests_per_connection == 0 {
            return bad("max_in_flight_requests_per_connection", "must be positive");
        }
        if self.max_connections_per_shard == 0 {
            return bad("max_connections_per_shard", "must be positive");
        }
        if self.request_read_timeout_ms == 0 {
            return bad("request_read_timeout_ms", "must be positive");
        }
        if self.connections_max_idle_ms == 0 {
            return bad("connections_max_idle_ms", "must be positive");
        }
        if self.max_open_sealed_segments_per_shard == 0 {
            return bad("max_open_sealed_segments_per_shard", "must be positive");
        }
        if self.shard_channel_capacity == 0 {
            return bad("shard_channel_capacity", "must be positive");
        }
        let max = crate::topics::MAX_PARTITIONS_PER_TOPIC;
        if self.default_partitions < 1 || self.default_partitions > max {
            return bad("default_partitions", &format!("must be within [1, {max}]"));
        }
        if self.retention_check_interval_ms == 0 {
            return bad("retention_check_interval_ms", "must be positive");
        }
        let voters = crate::cluster::quorum::parse(&self.controller_quorum)?;
        let named = voters.iter().any(|v| v.node_id == self.node_id);
        if !voters.is_empty() && !named && !self.broker_only {
            return bad(
                "controller_quorum",
                &format!(
                    "node {} is not one of its voters; a broker that runs no controller says \
                     broker_only = true (--broker-only)",
                    self.node_id
                ),
            );
        }
        if self.broker_only && (voters.is_empty() || named) {
            return bad(
                "broker_only",
                "needs a controller_quorum that does not name this node",
            );
        }
        if self.broker_heartbeat_interval_ms == 0 {
            return bad("broker_heartbeat_interval_ms", "must be positive");
        }
        if self.broker_session_timeout_ms <= self.broker_heartbeat_interval_ms {
            return bad(
                "broker_session_timeout_ms",
                "must be longer than broker_heartbeat_interval_ms",
            );
        }
        if self.controlled_shutdown_timeout_ms > 600_000 {
            return bad(
                "controlled_shutdown_timeout_ms",
                "must be at most 600000 (10 minutes)",
            );
        }
        if !(1..=16).contains(&self.offsets_topic_replication_factor) {
            return bad("offsets_topic_replication_factor", "must be within [1, 16]");
        }
        if self.offsets_topic_segment_bytes < (1 << 20) {
            return bad("offsets_topic_segment_bytes", "must be at least 1048576");
        }
        if self.offsets_topic_num_partitions < 1 || self.offsets_topic_num_partitions > max {
            return bad(
                "offsets_topic_num_partitions",
                &format!("must be within [1, {max}]"),
            );
        }
        if self.metadata_snapshot_every_entries == 0 {
            return bad("metadata_snapshot_every_entries", "must be positive");
        }
        if self.controller_request_timeout_ms == 0 {
            return bad("controller_request_timeout_ms", "must be positive");
        }
        if self.default_replication_factor < 1 {
            return bad("default_replication_factor", "must be at least 1");
        }
        if self.min_insync_replicas < 1 {
            return bad("min_insync_replicas", "must be at least 1");
        }
        if self.replica_lag_time_max_ms == 0 {
            return bad("replica_lag_time_max_ms", "must be positive");
        }
        if self.replica_fetch_max_bytes < 1024
            || self.replica_fetch_max_bytes > self.max_frame_bytes
        {
            return bad(
                "replica_fetch_max_bytes",
                "must be within [1024, max_frame_bytes]",
            );
        }
        if self.testing_unsafe_high_watermark
            && std::env::var("STRATA_ALLOW_UNSAFE_TESTING").as_deref() != Ok("1")
        {
            return bad(
                "testing_unsafe_high_watermark",
                "loses acknowledged records; it is only for testing the fault checker, and needs \
                 STRATA_ALLOW_UNSAFE_TESTING=1 in the environment",
            );
        }
        if !(100..=3_600_000).contains(&self.replica_high_watermark_checkpoint_interval_ms) {
            return bad(
                "replica_high_watermark_checkpoint_interval_ms",
                "must be within [100, 3600000]",
            );
        }
        if self.replica_fetch_wait_max_ms == 0 {
            return bad("replica_fetch_wait_max_ms", "must be positive");
        }
        if self.io_memory_bytes_per_shard < 64 * 1024 {
            return bad("io_memory_bytes_per_shard", "must be at least 65536");
        }
        self.log.engine_config(&Default::default()).and_then(|c| {
            c.validate()
                .map_err(|e| BrokerError::Config(format!("log.{e}")))
        })
    }
}

impl LogSettings {
    /// The engine's config for a topic: these defaults with the topic's overrides (Kafka names).
    pub fn engine_config(
        &self,
        overrides: &std::collections::BTreeMap<String, String>,
    ) -> Result<LogConfig, BrokerError> {
        let get = |key: &str, default: i64| -> Result<i64, BrokerError> {
            match overrides.get(key) {
                None => Ok(default),
                Some(v) => v
                    .parse::<i64>()
                    .map_err(|_| BrokerError::Config(format!("{key} = {v:?}: not a number"))),
            }
        };
        let positive = |key: &str, v: i64| -> Result<u64, BrokerError> {
            u64::try_from(v).map_err(|_| BrokerError::Config(format!("{key} = {v}: must be >= 0")))
        };
        let segment_bytes = positive(
            "segment.bytes",
            get("segment.bytes", self.segment_bytes as i64)?,
        )?;
        let segment_ms = positive("segment.ms", get("segment.ms", self.segment_ms as i64)?)?;
        let max_message_bytes = positive(
            "max.message.bytes",
            get("max.message.bytes", self.max_message_bytes as i64)?,
        )?;
        // The engine's own bounds, said in Kafka's names (its error would name its fields).
        if segment_bytes < MIN_SEGMENT_BYTES {
            return Err(BrokerError::Config(format!(
                "segment.bytes (the broker's [log] segment_bytes) = {segment_bytes}: must be at \
                 least {MIN_SEGMENT_BYTES} here"
            )));
        }
        if max_message_bytes > segment_bytes {
            return Err(BrokerError::Config(format!(
                "max.message.bytes (the broker's [log] max_message_bytes) = {max_message_bytes} \
                 is larger than segment.bytes = {segment_bytes}: a batch must fit in a segment"
            )));
        }
        let retention_bytes = get("retention.bytes", self.retention_bytes)?;
        let retention_ms = get("retention.ms", self.retention_ms)?;
        let flush = if self.flush_max_unflushed_bytes == 0 && self.flush_max_delay_ms == 0 {
            FlushPolicy::EVERY_APPEND
        } else {
            FlushPolicy {
                max_unflushed_bytes: self.flush_max_unflushed_bytes,
                max_delay_ms: self.flush_max_delay_ms,
            }
        };
        let config = LogConfig {
            segment_bytes,
            segment_ms,
            index_interval_bytes: self.index_interval_bytes,
            max_batch_bytes: max_message_bytes as usize,
            retention_bytes: u64::try_from(retention_bytes).ok(),
            retention_ms: u64::try_from(retention_ms).ok(),
            flush,
            log_append_time: overrides
                .get("message.timestamp.type")
                .is_some_and(|t| t.trim() == "LogAppendTime"),
            preallocate_bytes: self.preallocate_bytes,
            ..LogConfig::default()
        };
        config
            .validate()
            .map_err(|e| BrokerError::Config(e.to_string()))?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_and_bad_values_are_refused_naming_the_key() {
        let err = toml::from_str::<BrokerConfig>("lissen = \"1.2.3.4:1\"").unwrap_err();
        assert!(err.to_string().contains("lissen"), "{err}");
        let err = toml::from_str::<BrokerConfig>("[log]\nsegment_byte = 5").unwrap_err();
        assert!(err.to_string().contains("segment_byte"), "{err}");
        let c: BrokerConfig = toml::from_str("default_partitions = 0").unwrap();
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("default_partitions"));
        let c: BrokerConfig = toml::from_str("[log]\nsegment_bytes = 10").unwrap();
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("segment_bytes"));
        let c: BrokerConfig = toml::from_str("listen = \"nowhere\"").unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("listen"));
        assert!(BrokerConfig::default().validate().is_ok());
        // A quorum that does not parse, or does not name this node, stops the start.
        let c: BrokerConfig = toml::from_str("controller_quorum = \"0@nowhere\"").unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("HOST:PORT"));
        let c: BrokerConfig =
            toml::from_str("node_id = 5\ncontroller_quorum = \"0@h:1,1@h:2\"").unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("node 5 is not one of its voters"), "{e}");
        let c: BrokerConfig =
            toml::from_str("node_id = 5\nbroker_only = true\ncontroller_quorum = \"0@h:1,1@h:2\"")
                .unwrap();
        assert!(c.validate().is_ok());
        let c: BrokerConfig = toml::from_str("broker_only = true").unwrap();
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("broker_only"));
    }
}
