//! Topics and the broker's identity, as kept on disk: `topics.json` (names, partition counts,
//! ids, config overrides) and `cluster.json` (cluster id, node id). Shard 0 owns the files and
//! is the only writer; every shard holds a copy of the table, replaced whenever it changes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use strata_runtime as rt;

use serde::{Deserialize, Serialize};

use crate::error::BrokerError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    pub topic_id: uuid::Uuid,
    /// Overrides of the log defaults, in Kafka's names (`retention.ms`, ...).
    pub configs: BTreeMap<String, String>,
    /// Where each partition lives, from the cluster's metadata (empty in a request to create,
    /// unless it assigns replicas itself).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub places: Vec<PartitionPlace>,
    /// Replicas per partition: asked for in a request to create, that of the places after.
    #[serde(default = "one")]
    pub replication_factor: i32,
}

fn one() -> i32 {
    1
}

/// Where a partition lives: its replicas, its leader (-1: none, the partition is offline) and
/// the leader's epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionPlace {
    pub replicas: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
    /// The in-sync replicas, as the controller last committed them.
    #[serde(default)]
    pub isr: Vec<i32>,
    /// Bumped by every change of the partition (AlterPartition names the one it changes).
    #[serde(default)]
    pub partition_epoch: i32,
}

impl TopicSpec {
    /// A topic to create: no places yet (the controller places it).
    pub fn new(name: String, partitions: i32, configs: BTreeMap<String, String>) -> TopicSpec {
        TopicSpec {
            name,
            partitions,
            topic_id: uuid::Uuid::new_v4(),
            configs,
            places: Vec::new(),
            replication_factor: 1,
        }
    }

    /// Whether `node` keeps a replica of `partition` (and so its log).
    pub fn has_replica(&self, partition: i32, node: i32) -> bool {
        self.place(partition)
            .is_some_and(|p| p.replicas.contains(&node))
    }

    pub fn place(&self, partition: i32) -> Option<&PartitionPlace> {
        usize::try_from(partition)
            .ok()
            .and_then(|p| self.places.get(p))
    }
}

/// The cluster around the topics: live brokers, the controller, the group coordinators.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterView {
    /// Unfenced brokers by id: where clients reach them.
    pub brokers: BTreeMap<i32, BrokerAddress>,
    /// The controller quorum's leader, -1 while there is none.
    pub controller_id: i32,
    /// The leader of each partition of the offsets topic (group coordinators); empty until the
    /// topic exists.
    pub offsets_leaders: Vec<i32>,
    /// The metadata log's entry this view is of.
    pub applied_index: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddress {
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicTable {
    pub topics: BTreeMap<String, TopicSpec>,
    /// The broker's dynamic settings (`crate::broker_configs`), in the broker's names.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub broker_configs: BTreeMap<String, String>,
    /// From the cluster's metadata; never in topics.json.
    #[serde(skip)]
    pub cluster: ClusterView,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterIdentity {
    pub cluster_id: String,
    pub node_id: i32,
}

/// Why a topic name is refused (Kafka's rules), or None. Names become directory names, so
/// this is also what keeps them inside the data directory.
pub fn invalid_topic_name(name: &str) -> Option<String> {
    if name.is_empty() || name == "." || name == ".." {
        return Some(format!("topic name {name:?} is not allowed"));
    }
    if name.len() > 249 {
        return Some("topic names are at most 249 characters".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Some(format!(
            "topic name {name:?} has {c:?}: only ASCII letters, digits, '.', '_' and '-'"
        ));
    }
    None
}

/// Why a topic config is refused, or None.
pub fn invalid_topic_config(key: &str, value: &str) -> Option<String> {
    crate::topic_configs::invalid(key, value)
}

/// Replaces `path` with `bytes` so that a crash leaves the old file or the new one, never a mix
/// (a temporary file, synced, renamed over, the directory synced), off the shard's thread.
pub(crate) async fn write_atomically(path: &Path, bytes: Vec<u8>) -> Result<(), BrokerError> {
    rt::fs::write_durably(path, &temp_path(path), bytes)
        .await
        .map_err(|e| BrokerError::io(format!("replace {}", path.display()), e))
}

/// As `write_atomically`, for start-up, before any shard runs (blocking is harmless there).
fn write_atomically_at_start(path: &Path, bytes: &[u8]) -> Result<(), BrokerError> {
    let tmp = temp_path(path);
    let io = |what: &str, e| BrokerError::io(format!("{what} {}", tmp.display()), e);
    std::fs::write(&tmp, bytes).map_err(|e| io("write", e))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| io("fsync", e))?;
    std::fs::rename(&tmp, path).map_err(|e| io("rename", e))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| BrokerError::io(format!("fsync {}", dir.display()), e))
}

/// The bytes of `path`, or None if there is no such file (a first start). For start-up.
pub(crate) fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>, BrokerError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(BrokerError::io(format!("read {}", path.display()), e)),
    }
}

/// As `read_if_exists`, off the shard's thread.
pub(crate) async fn read_state_file(path: &Path) -> Result<Option<Vec<u8>>, BrokerError> {
    rt::fs::read_if_exists(path)
        .await
        .map_err(|e| BrokerError::io(format!("read {}", path.display()), e))
}

/// `path` with `.tmp` added to its whole name. Not `with_extension`: that would give
/// `.producer-ids.shard0` and `.producer-ids.shard1` the same temporary file, and shards write
/// theirs from different threads.
fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

pub struct TopicStore {
    path: PathBuf,
}

impl TopicStore {
    pub fn new(data_dir: &Path) -> Self {
        TopicStore {
            path: data_dir.join("topics.json"),
        }
    }

    pub fn load(&self) -> Result<TopicTable, BrokerError> {
        match read_if_exists(&self.path)? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| corrupt_json(&self.path, e)),
            None => Ok(TopicTable::default()),
        }
    }

    pub async fn save(&self, table: &TopicTable) -> Result<(), BrokerError> {
        let bytes = serde_json::to_vec_pretty(table).map_err(BrokerError::encode("topics"))?;
        write_atomically(&self.path, bytes).await
    }
}

/// Loads the cluster identity, creating it on first start. A node id that differs from the
/// configured one is refused: the directory belongs to another broker.
/// `cluster_id` is the id a quorum's nodes share (`crate::cluster::quorum::cluster_id_of`); a
/// node alone makes one up at its first start.
pub fn load_identity(
    data_dir: &Path,
    node_id: i32,
    cluster_id: Option<&str>,
) -> Result<ClusterIdentity, BrokerError> {
    let path = data_dir.join("cluster.json");
    match read_if_exists(&path)? {
        Some(bytes) => {
            let id: ClusterIdentity =
                serde_json::from_slice(&bytes).map_err(|e| corrupt_json(&path, e))?;
            if id.node_id != node_id {
                return Err(BrokerError::Config(format!(
                    "node_id = {node_id}, but {} belongs to node {}",
                    data_dir.display(),
                    id.node_id
                )));
            }
            if let Some(wanted) = cluster_id.filter(|w| *w != id.cluster_id) {
                return Err(BrokerError::Config(format!(
                    "{} belongs to cluster {}, but controller_quorum makes this cluster {wanted} \
                     (another quorum): start it with its own quorum, or from an empty data_dir",
                    data_dir.display(),
                    id.cluster_id
                )));
            }
            Ok(id)
        }
        None => {
            let id = ClusterIdentity {
                cluster_id: cluster_id.map_or_else(
                    || uuid::Uuid::new_v4().simple().to_string()[..22].to_string(),
                    str::to_string,
                ),
                node_id,
            };
            let bytes =
                serde_json::to_vec_pretty(&id).map_err(BrokerError::encode("cluster identity"))?;
            write_atomically_at_start(&path, &bytes)?;
            Ok(id)
        }
    }
}

fn corrupt_json(path: &Path, e: serde_json::Error) -> BrokerError {
    BrokerError::CorruptState {
        path: path.to_path_buf(),
        position: format!("line {} column {}", e.line(), e.column()),
        reason: e.to_string(),
    }
}

/// The most partitions a topic may have (CreateTopics, CreatePartitions, default_partitions).
pub const MAX_PARTITIONS_PER_TOPIC: i32 = 100_000;

/// The directory of a partition's log.
pub fn partition_dir(data_dir: &Path, topic: &str, partition: i32) -> PathBuf {
    data_dir.join(format!("{topic}-{partition}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_writing_their_files_at_once_never_mix_them() {
        let dir = tempfile::tempdir().unwrap();
        assert_ne!(
            temp_path(&dir.path().join(".producer-ids.shard0")),
            temp_path(&dir.path().join(".producer-ids.shard1"))
        );
        let writers: Vec<_> = (0..2)
            .map(|shard| {
                let path = dir.path().join(format!(".producer-epochs.shard{shard}"));
                std::thread::spawn(move || {
                    let settings = rt::ExecutorSettings {
                        io_memory_bytes: 64 << 10,
                        ..Default::default()
                    };
                    rt::block_on(&settings, async move {
                        for i in 0..200 {
                            let text = format!("shard {shard} write {i}");
                            write_atomically(&path, text.into_bytes()).await.unwrap();
                        }
                    })
                    .unwrap();
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        for shard in 0..2 {
            let path = dir.path().join(format!(".producer-epochs.shard{shard}"));
            assert_eq!(
                std::fs::read_to_string(path).unwrap(),
                format!("shard {shard} write 199")
            );
        }
    }

    #[test]
    fn topic_names_follow_kafka_rules_and_stay_in_the_data_dir() {
        assert!(invalid_topic_name("orders.v1_A-2").is_none());
        for bad in ["", ".", "..", "a/b", "../x", "a b", "é", &"x".repeat(250)] {
            assert!(invalid_topic_name(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn tables_and_identity_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let store = TopicStore::new(dir.path());
        assert!(store.load().unwrap().topics.is_empty());
        let mut t = TopicTable::default();
        t.topics.insert(
            "a".into(),
            TopicSpec {
                name: "a".into(),
                partitions: 3,
                topic_id: uuid::Uuid::new_v4(),
                configs: Default::default(),
                places: Vec::new(),
                replication_factor: 1,
            },
        );
        let settings = rt::ExecutorSettings {
            io_memory_bytes: 64 << 10,
            ..Default::default()
        };
        rt::block_on(&settings, store.save(&t)).unwrap().unwrap();
        assert_eq!(store.load().unwrap(), t);
        let id = load_identity(dir.path(), 1, None).unwrap();
        assert_eq!(
            load_identity(dir.path(), 1, None).unwrap().cluster_id,
            id.cluster_id
        );
        assert!(load_identity(dir.path(), 2, None).is_err());
        assert!(load_identity(dir.path(), 1, Some("another")).is_err());
    }
}
