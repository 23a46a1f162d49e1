//! The topic controller: shard 0 decides topic changes (CreateTopics, DeleteTopics,
//! CreatePartitions, AlterConfigs) one at a time, saves the table, and every shard applies it
//! (opens the logs of its new partitions, closes and deletes those of removed ones, gives open
//! logs of altered topics their new settings). A change is all or
//! nothing: if any shard cannot open a partition, the old table is saved and applied again,
//! which closes and deletes whatever the change had opened, and every topic of the request gets
//! the error. Requests that would take more descriptors than the process may open are refused
//! before anything is done.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use strata_engine::PartitionLog;

use super::Shard;
use crate::broker_configs::{self, BrokerConfigError};
use crate::cluster::calls::{AdminAnswer, Answer, Call};
use crate::cluster::changes;
use crate::cluster::node::ProposeError;
use crate::cluster::publish::Applied;
use crate::cluster::view::{table_of, OFFSETS_TOPIC};
use crate::cluster::Cluster;
use crate::config::LogSettings;
use crate::error::BrokerError;
use crate::router::{
    AdminOp, AdminResult, PartitionKey, ShardMsg, TopicChange, TopicChangeError, TopicOutcome,
};
use crate::topic_configs::apply_change;
use crate::topics::{partition_dir, TopicSpec, TopicTable, MAX_PARTITIONS_PER_TOPIC};

/// Descriptors a new partition takes: its active segment's `.log`, `.index`, `.timeindex` and
/// `.tail`.
const FILES_PER_PARTITION: u64 = 4;

/// Every partition key of `table` absent from `than`.
fn partitions_beyond(table: &TopicTable, than: &TopicTable) -> Vec<PartitionKey> {
    let mut out = Vec::new();
    for spec in table.topics.values() {
        let before = than.topics.get(&spec.name).map_or(0, |t| t.partitions);
        for partition in before..spec.partitions {
            out.push(PartitionKey {
                topic: spec.name.clone(),
                partition,
            });
        }
    }
    out
}

/// Why `new_partitions` more partitions would not fit in the open-file limit, if they would not.
/// `sealed_files` is what every shard's sealed-segment files may take at most.
fn over_file_budget(new_partitions: u64, sealed_files: u64) -> Option<String> {
    let open = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
    let soft = crate::open_files::open_file_limit().ok()?;
    let need = new_partitions * FILES_PER_PARTITION;
    let reserved = crate::open_files::RESERVED_FILES + sealed_files;
    (open + need + reserved > soft).then(|| {
        format!(
            "{new_partitions} new partitions need {need} file descriptors; {open} of the \
             process's {soft} are open and {reserved} are kept free (sockets, and sealed \
             segments' files): raise the open-file limit (ulimit -n), lower \
             max_open_sealed_segments_per_shard, or ask for fewer partitions"
        )
    })
}

impl Shard {
    pub async fn admin(&self, op: AdminOp) -> Result<AdminResult, BrokerError> {
        if self.id == 0 {
            return Ok(self.admin_local(op).await);
        }
        self.ask(0, |reply| ShardMsg::Admin { op, reply }).await
    }

    /// A topic change, on shard 0: sent to the controller quorum's leader (this node's own
    /// controller when it leads), answered once this node's shards have applied it.
    pub(super) async fn admin_local(&self, op: AdminOp) -> AdminResult {
        let Some(cluster) = self.cluster() else {
            return Vec::new();
        };
        let names = op.names();
        let answer = cluster.call(self, Call::Admin(op)).await;
        match answer {
            Ok(Answer::Admin(AdminAnswer::Done { outcomes, index })) => {
                match cluster.published.wait_for(index, cluster.timeout).await {
                    Applied::Done => outcomes,
                    // Committed: the partitions that did not open here stay offline and are
                    // tried again; the client hears which (Kafka's offline log directory).
                    Applied::Failed { topics, why } => {
                        let (failed, fine): (Vec<_>, Vec<_>) =
                            outcomes.into_iter().partition(|o| topics.contains(&o.name));
                        let mut out = refuse_all(
                            failed,
                            TopicChangeError::Storage(format!(
                                "the change is made, but this broker could not open every \
                                 partition (it keeps trying): {why}"
                            )),
                        );
                        out.extend(fine);
                        out
                    }
                    Applied::TimedOut => refuse_all(
                        outcomes,
                        TopicChangeError::TimedOut(format!(
                            "the change is committed (metadata entry {index}) but this broker \
                             has not applied it yet"
                        )),
                    ),
                }
            }
            Ok(_) => refuse_names(
                names,
                TopicChangeError::NotController("no controller of the quorum answered".into()),
            ),
            Err(e) => refuse_names(
                names,
                TopicChangeError::NotController(format!(
                    "no controller of the quorum answered: {e}"
                )),
            ),
        }
    }

    /// Decides `op` on the committed metadata and commits what it changes, on the quorum's
    /// leader: the outcomes, and the entry that holds the change (0 when nothing changed).
    pub async fn decide_and_commit(&self, cluster: &Cluster, op: AdminOp) -> (AdminResult, u64) {
        let Some(node) = &cluster.node else {
            return (Vec::new(), 0);
        };
        let _one_at_a_time = cluster.admin_lock.lock().await;
        let image = node.state.image.borrow().clone();
        let old = table_of(&image, cluster.me);
        let records = if let AdminOp::CreateOffsetsTopic = op {
            if image.topic_by_name(OFFSETS_TOPIC).is_some() {
                return (Vec::new(), 0);
            }
            let Some(rf) = offsets_replication_factor(&image, cluster, &self.config) else {
                return (Vec::new(), 0);
            };
            match changes::offsets_topic(
                &image,
                self.config.offsets_topic_num_partitions,
                rf,
                self.config.offsets_topic_segment_bytes,
            ) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!("creating the offsets topic: {e}");
                    return (Vec::new(), 0);
                }
            }
        } else {
            let mut table = old.clone();
            let results = decide(&mut table, op, &self.config.log);
            if table == old {
                return (results, 0);
            }
            let added = partitions_beyond(&table, &old);
            if let Some(why) = over_file_budget(
                added.len() as u64,
                self.count as u64 * self.caches.sealed_files.max_open() as u64,
            ) {
                return (
                    refuse_all(results, TopicChangeError::OverFileBudget(why)),
                    0,
                );
            }
            match changes::records_between(&old, &table, &image) {
                Ok(records) => {
                    return match node.propose(records).await {
                        Ok(index) => (results, index),
                        Err(e) => (refuse_all(results, propose_error(e)), 0),
                    }
                }
                Err(e) => return (refuse_all(results, e), 0),
            }
        };
        match node.propose(records).await {
            Ok(index) => (Vec::new(), index),
            Err(e) => {
                tracing::warn!("creating the offsets topic: {e}");
                (Vec::new(), 0)
            }
        }
    }

    /// Gives every shard the new table and waits until each has applied the change.
    pub async fn broadcast_topics(
        &self,
        table: Arc<TopicTable>,
        change: TopicChange,
    ) -> Result<(), BrokerError> {
        let others = (0..self.count).filter(|&s| s != self.id).map(|s| {
            let (table, change) = (table.clone(), change.clone());
            async move {
                self.ask(s, |reply| ShardMsg::ApplyTopics {
                    table,
                    change,
                    reply,
                })
                .await
                .and_then(|r| r)
            }
        });
        let mine = self.apply_topics(table.clone(), change.clone());
        let (mine, others) = futures::join!(mine, futures::future::join_all(others));
        mine?;
        others
            .into_iter()
            .collect::<Result<Vec<()>, BrokerError>>()
            .map(|_| ())
    }

    /// Closes and deletes the owned partitions the change removes (their directories too, when
    /// a failed open left one without a log), then opens the logs of owned partitions that the
    /// table has and this shard has not (a directory of another topic id is removed first:
    /// `open_log`). A partition that does not
    /// open stays offline (KAFKA_STORAGE_ERROR) and is tried again at the next table: the rest
    /// open and the table is taken whatever fails; the error names the partitions that failed.
    pub async fn apply_topics(
        &self,
        table: Arc<TopicTable>,
        change: TopicChange,
    ) -> Result<(), BrokerError> {
        let owned = |k: &PartitionKey| self.owner(k) == self.id;
        for key in change.removed.iter().filter(|k| owned(k)) {
            let log = self.logs.borrow_mut().remove(key);
            if let Some(log) = log {
                if let Err(e) = log.close().await {
                    tracing::warn!(topic = %key.topic, partition = key.partition, "closing a removed partition: {e}");
                }
            }
            self.remove_partition_dir(key, "removing a partition").await;
        }
        // A deletion that a crash cut short (committed, the directory not yet removed) must not
        // hand its records to a new topic of the same name: `open_log` removes a directory
        // whose `partition.metadata` names another topic id. A partition new to this node is
        // not wiped blindly: it may be one whose records the node has (a migrated topic).
        let added = change.added.iter().filter(|k| owned(k)).count();
        if added > 0 {
            tracing::debug!(shard = self.id, added, "partitions new to this shard");
        }
        let mut failed: Option<BrokerError> = None;
        let mut failures = 0;
        let mut failed_topics: Vec<String> = Vec::new();
        for spec in table.topics.values() {
            for p in 0..spec.partitions {
                let key = PartitionKey {
                    topic: spec.name.clone(),
                    partition: p,
                };
                if self.owner(&key) != self.id
                    || !spec.has_replica(p, self.identity.node_id)
                    || self.logs.borrow().contains_key(&key)
                    || self.closing.get()
                {
                    continue;
                }
                match self.open_log(&table, spec, p).await {
                    // The shard closed its logs while this one opened: it is closed too, not
                    // kept (and left unsealed at exit).
                    Ok(log) if self.closing.get() => {
                        if let Err(e) = log.close().await {
                            tracing::warn!(topic = %key.topic, partition = key.partition, "closing a log opened during shutdown: {e}");
                        }
                    }
                    Ok(log) => {
                        self.logs.borrow_mut().insert(key, log);
                    }
                    Err(e) => {
                        failures += 1;
                        let e = BrokerError::PartitionOpen {
                            shard: self.id,
                            topic: spec.name.clone(),
                            partition: p,
                            source: Box::new(e),
                        };
                        tracing::error!("a partition stays offline: {e}");
                        if !failed_topics.contains(&spec.name) {
                            failed_topics.push(spec.name.clone());
                        }
                        failed.get_or_insert(e);
                    }
                }
            }
        }
        self.set_leader_epochs(&table).await;
        self.update_roles(&table);
        self.update_coordination(&table);
        let reconfigured = self.reconfigure_altered(&table);
        *self.topics.borrow_mut() = table;
        reconfigured?;
        match failed {
            None => Ok(()),
            Some(first) => Err(BrokerError::PartitionsOffline {
                topics: failed_topics,
                count: failures,
                first: Box::new(first),
            }),
        }
    }

    /// Gives every open log this node leads its leader epoch from the table, stamped on the
    /// batches appended from now on (a failure is logged: the batches keep the last epoch).
    async fn set_leader_epochs(&self, table: &TopicTable) {
        let me = self.identity.node_id;
        for (key, log) in self.owned_logs() {
            let Some(place) = table
                .topics
                .get(&key.topic)
                .and_then(|t| t.place(key.partition))
            else {
                continue;
            };
            if place.leader != me || log.leader_epoch() == Some(place.leader_epoch) {
                continue;
            }
            if let Err(e) = log.set_leader_epoch(place.leader_epoch).await {
                tracing::error!(topic = %key.topic, partition = key.partition, "recording the leader epoch: {e}");
            }
        }
    }

    /// The `[log]` settings with the table's dynamic broker settings over them.
    fn log_settings(&self, table: &TopicTable) -> LogSettings {
        broker_configs::effective(&self.config.log, &table.broker_configs)
    }

    /// Gives the open logs of topics whose configs `table` changes (or all, when it changes the
    /// broker's dynamic settings) their new settings.
    fn reconfigure_altered(&self, table: &TopicTable) -> Result<(), BrokerError> {
        let before = self.topics();
        let broker_altered = before.broker_configs != table.broker_configs;
        for spec in table.topics.values() {
            let own_altered = before
                .topics
                .get(&spec.name)
                .is_some_and(|b| b.configs != spec.configs);
            if !(own_altered || broker_altered) {
                continue;
            }
            let config = self.log_settings(table).engine_config(&spec.configs)?;
            for (key, log) in self.logs.borrow().iter() {
                if key.topic == spec.name {
                    log.set_config(config)?;
                }
            }
            if own_altered {
                tracing::info!(topic = %spec.name, configs = ?spec.configs, "topic configs altered");
            }
        }
        Ok(())
    }

    async fn remove_partition_dir(&self, key: &PartitionKey, what: &str) {
        let dir = partition_dir(&self.config.data_dir, &key.topic, key.partition);
        match PartitionLog::remove_dir(&dir, &self.caches).await {
            Ok(true) => tracing::info!(dir = %dir.display(), "{what}"),
            Ok(false) => {}
            Err(e) => tracing::warn!(dir = %dir.display(), "{what}: {e}"),
        }
    }

    async fn open_log(
        &self,
        table: &TopicTable,
        spec: &TopicSpec,
        partition: i32,
    ) -> Result<PartitionLog, BrokerError> {
        let config = self.log_settings(table).engine_config(&spec.configs)?;
        let dir: PathBuf = partition_dir(&self.config.data_dir, &spec.name, partition);
        let marked = match crate::partition_marker::topic_of(&dir).await {
            Some(id) if id == spec.topic_id => true,
            Some(other) if !spec.topic_id.is_nil() => {
                tracing::warn!(
                    dir = %dir.display(),
                    deleted = %other,
                    topic_id = %spec.topic_id,
                    "the directory of a deleted topic of this name is in the way: removed"
                );
                PartitionLog::remove_dir(&dir, &self.caches).await?;
                false
            }
            _ => false,
        };
        let (log, report) = PartitionLog::open(&dir, config, &self.caches).await?;
        if !report.truncations.is_empty() || !report.rebuilt_indexes.is_empty() {
            tracing::warn!(topic = %spec.name, partition, "recovered: {report:?}");
        }
        if !marked && !spec.topic_id.is_nil() {
            crate::partition_marker::mark(&dir, spec.topic_id).await;
        }
        Ok(log)
    }
}

/// The offsets topic's replication factor: the configured one, at most the cluster's size (its
/// voters, or its registered brokers if more). None while fewer brokers are live than that: the
/// topic waits for them (clients retry), rather than staying under-replicated for good.
fn offsets_replication_factor(
    image: &strata_controller::MetadataImage,
    cluster: &Cluster,
    config: &crate::config::BrokerConfig,
) -> Option<i32> {
    let size = cluster.voters.len().max(image.brokers.len()).max(1);
    let rf = (config.offsets_topic_replication_factor.max(1) as usize).min(size);
    let live = image.brokers.values().filter(|b| !b.fenced).count();
    if live < rf {
        tracing::info!(
            live,
            replication_factor = rf,
            "the offsets topic waits for enough live brokers"
        );
        return None;
    }
    Some(rf as i32)
}

/// Applies the request to `table` as far as each topic allows; one result per topic.
/// Applies `op` to `table` (unless only validating). `file_log` is the config file's `[log]`;
/// topics are checked against it with the table's dynamic broker settings over it.
fn decide(table: &mut TopicTable, op: AdminOp, file_log: &LogSettings) -> AdminResult {
    let log = &broker_configs::effective(file_log, &table.broker_configs);
    let mut results = Vec::new();
    let mut outcome = |name: &str, result| {
        results.push(TopicOutcome {
            name: name.to_string(),
            result,
        })
    };
    match op {
        AdminOp::CreateTopics {
            topics,
            validate_only,
        } => {
            for t in topics {
                if table.topics.contains_key(&t.name) || t.name == OFFSETS_TOPIC {
                    outcome(
                        &t.name,
                        Err(TopicChangeError::AlreadyExists(t.name.clone())),
                    );
                    continue;
                }
                if let Err(e) = log.engine_config(&t.configs) {
                    outcome(&t.name, Err(TopicChangeError::InvalidConfig(e.to_string())));
                    continue;
                }
                outcome(&t.name, Ok(()));
                if !validate_only {
                    table.topics.insert(t.name.clone(), t);
                }
            }
        }
        AdminOp::DeleteTopics { names } => {
            for name in names {
                if name == OFFSETS_TOPIC {
                    outcome(&name, Err(TopicChangeError::Internal(name.clone())));
                } else if table.topics.remove(&name).is_some() {
                    outcome(&name, Ok(()));
                } else {
                    outcome(&name, Err(TopicChangeError::Unknown(name.clone())));
                }
            }
        }
        AdminOp::CreatePartitions {
            name,
            count,
            validate_only,
        } => match table.topics.get_mut(&name) {
            _ if name == OFFSETS_TOPIC => {
                outcome(&name, Err(TopicChangeError::Internal(name.clone())))
            }
            None => outcome(&name, Err(TopicChangeError::Unknown(name.clone()))),
            Some(t) if count <= t.partitions => outcome(
                &name,
                Err(TopicChangeError::InvalidPartitions(format!(
                    "topic {name} has {} partitions; the count can only grow",
                    t.partitions
                ))),
            ),
            Some(_) if count > MAX_PARTITIONS_PER_TOPIC => outcome(
                &name,
                Err(TopicChangeError::InvalidPartitions(format!(
                    "at most {MAX_PARTITIONS_PER_TOPIC} partitions"
                ))),
            ),
            Some(t) => {
                if !validate_only {
                    t.partitions = count;
                }
                outcome(&name, Ok(()));
            }
        },
        AdminOp::AlterConfigs {
            topic,
            change,
            validate_only,
        } => match table.topics.get_mut(&topic) {
            None => outcome(&topic, Err(TopicChangeError::Unknown(topic.clone()))),
            Some(t) => {
                let altered = apply_change(&t.configs, &change).and_then(|configs| {
                    log.engine_config(&configs)
                        .map(|_| configs)
                        .map_err(|e| e.to_string())
                });
                match altered {
                    Err(why) => outcome(&topic, Err(TopicChangeError::InvalidConfig(why))),
                    Ok(configs) => {
                        if !validate_only {
                            t.configs = configs;
                        }
                        outcome(&topic, Ok(()));
                    }
                }
            }
        },
        AdminOp::CreateOffsetsTopic => {}
        AdminOp::AlterBrokerConfigs {
            change,
            validate_only,
        } => match alter_broker_configs(table, &change, file_log) {
            Err(e) => outcome("", Err(e)),
            Ok(dynamic) => {
                if !validate_only {
                    tracing::info!(settings = ?dynamic, "the broker's dynamic settings altered");
                    table.broker_configs = dynamic;
                }
                outcome("", Ok(()));
            }
        },
    }
    results
}

/// The dynamic broker settings after `change`, if every topic's log is still valid under them.
fn alter_broker_configs(
    table: &TopicTable,
    change: &crate::topic_configs::ConfigChange,
    file_log: &LogSettings,
) -> Result<BTreeMap<String, String>, TopicChangeError> {
    let dynamic = broker_configs::apply_broker_change(&table.broker_configs, change).map_err(
        |e| match e {
            BrokerConfigError::NotDynamic(_) => TopicChangeError::NotDynamic(e.to_string()),
            BrokerConfigError::Invalid(why) => TopicChangeError::InvalidConfig(why),
        },
    )?;
    let log = broker_configs::effective(file_log, &dynamic);
    for spec in table.topics.values() {
        if let Err(e) = log.engine_config(&spec.configs) {
            return Err(TopicChangeError::InvalidConfig(format!(
                "topic {} would be left invalid: {e}",
                spec.name
            )));
        }
    }
    Ok(dynamic)
}

/// Every topic named gets `error`.
fn refuse_names(names: Vec<String>, error: TopicChangeError) -> AdminResult {
    names
        .into_iter()
        .map(|name| TopicOutcome {
            name,
            result: Err(error.clone()),
        })
        .collect()
}

fn propose_error(e: ProposeError) -> TopicChangeError {
    match e {
        ProposeError::NotController { .. } | ProposeError::Stopped => {
            TopicChangeError::NotController(e.to_string())
        }
        ProposeError::Invalid(why) => TopicChangeError::InvalidConfig(why),
        ProposeError::StaleEpoch { .. } => TopicChangeError::Storage(e.to_string()),
    }
}

/// Every topic of the request that had no error of its own gets `error`.
fn refuse_all(results: AdminResult, error: TopicChangeError) -> AdminResult {
    results
        .into_iter()
        .map(|o| TopicOutcome {
            result: o.result.and(Err(error.clone())),
            ..o
        })
        .collect()
}
