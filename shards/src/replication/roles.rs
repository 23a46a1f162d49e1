//! Each replicated partition an owner shard keeps is either led here (a `LeaderState` that sets
//! its log's high watermark) or followed from another broker (fetched by this shard's fetcher
//! for that broker). Roles follow the topic table: every new table calls `update_roles`. A
//! partition with one replica has no role here: its log serves as before, its high watermark
//! being what is written.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use strata_engine::PartitionLog;

use strata_controller::isr::IsrChange;

use super::leader_state::LeaderState;
use crate::router::{PartitionError, PartitionKey};
use crate::shard::Shard;
use crate::topics::TopicTable;

/// What a follower fetches a partition as: from which broker, in which leader epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Following {
    pub leader: i32,
    pub leader_epoch: i32,
}

#[derive(Default)]
pub struct Roles {
    pub(crate) leading: RefCell<HashMap<PartitionKey, LeaderState>>,
    pub(crate) following: RefCell<HashMap<PartitionKey, Following>>,
    /// Brokers this shard runs a fetcher for.
    pub(crate) fetchers: RefCell<HashSet<i32>>,
}

impl Roles {
    pub fn clear(&self) {
        self.leading.borrow_mut().clear();
        self.following.borrow_mut().clear();
    }

    /// The partitions followed from `leader`.
    pub fn followed_from(&self, leader: i32) -> Vec<(PartitionKey, Following)> {
        self.following
            .borrow()
            .iter()
            .filter(|(_, f)| f.leader == leader)
            .map(|(k, f)| (k.clone(), *f))
            .collect()
    }
}

pub fn now_ms() -> i64 {
    strata_record::clock::unix_ms()
}

impl Shard {
    /// Gives every owned log its role in `table`: leader (its state started when the leadership
    /// is new, its ISR taken otherwise), follower (fetched from its leader), or none.
    pub(crate) fn update_roles(&self, table: &TopicTable) {
        let me = self.identity.node_id;
        let now = now_ms();
        let mut fetch_from = HashSet::new();
        for (key, log) in self.owned_logs() {
            let place = table
                .topics
                .get(&key.topic)
                .and_then(|t| t.place(key.partition));
            let Some(place) = place.filter(|p| p.replicas.len() > 1) else {
                self.replicas.leading.borrow_mut().remove(&key);
                self.replicas.following.borrow_mut().remove(&key);
                continue;
            };
            if place.leader == me {
                self.replicas.following.borrow_mut().remove(&key);
                let mut leading = self.replicas.leading.borrow_mut();
                match leading.get_mut(&key) {
                    Some(s) if s.leader_epoch == place.leader_epoch => s.update(place),
                    _ => {
                        // A new leadership: its high watermark starts where this replica's was
                        // (nothing of what it has is known to be on the others yet).
                        let hw = log
                            .replicated_high_watermark()
                            .unwrap_or_else(|| self.starting_high_watermark(table, &key, &log));
                        let mut state = LeaderState::new(me, place, hw, now);
                        state.unsafe_leader_only = self.config.testing_unsafe_high_watermark;
                        log.set_high_watermark(state.high_watermark());
                        leading.insert(key.clone(), state);
                    }
                }
                let state = leading.get_mut(&key).expect("just inserted");
                if state.advance(log.written_offset()) {
                    log.set_high_watermark(state.high_watermark());
                }
            } else {
                let was_leader = self.replicas.leading.borrow_mut().remove(&key).is_some();
                if was_leader {
                    // Producers waiting for replication look again and find they no longer lead.
                    log.wake_waiters();
                }
                if log.replicated_high_watermark().is_none() {
                    log.set_high_watermark(self.starting_high_watermark(table, &key, &log));
                }
                let live = table.cluster.brokers.contains_key(&place.leader);
                if place.leader >= 0 && live {
                    self.replicas.following.borrow_mut().insert(
                        key.clone(),
                        Following {
                            leader: place.leader,
                            leader_epoch: place.leader_epoch,
                        },
                    );
                    fetch_from.insert(place.leader);
                } else {
                    self.replicas.following.borrow_mut().remove(&key);
                }
            }
        }
        for leader in fetch_from {
            self.start_fetcher(leader);
        }
    }

    /// After records reached the disk of a partition led here: the high watermark moves if the
    /// in-sync replicas allow it (a leader alone in its ISR moves it to its own end).
    pub(crate) fn advance_high_watermark(&self, key: &PartitionKey, log: &PartitionLog) {
        let mut leading = self.replicas.leading.borrow_mut();
        if let Some(state) = leading.get_mut(key) {
            if state.advance(log.written_offset()) {
                log.set_high_watermark(state.high_watermark());
            }
        }
    }

    /// How many replicas are in sync for a partition led here (`None`: unreplicated).
    pub(crate) fn in_sync_count(&self, key: &PartitionKey) -> Option<usize> {
        self.replicas.leading.borrow().get(key).map(|s| s.isr.len())
    }

    /// Waits until the high watermark of a partition led here reaches `end` (every in-sync
    /// replica has the records), the leadership is lost, or `timeout_ms` passes.
    pub(crate) async fn wait_replicated(
        &self,
        key: &PartitionKey,
        log: &PartitionLog,
        end: i64,
        min_insync: usize,
        timeout_ms: u64,
    ) -> Result<(), PartitionError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(timeout_ms);
        loop {
            let wait = log.data_written();
            let epoch = match self.replicas.leading.borrow().get(key) {
                Some(s) => s.leader_epoch,
                None => {
                    // No longer led here (or no longer replicated): the table says why.
                    self.leads(key)?;
                    return Err(PartitionError::NotLeader { leader: -1 });
                }
            };
            self.advance_high_watermark(key, log);
            if log.high_watermark() >= end {
                let isr = self.in_sync_count(key).unwrap_or(0);
                if isr < min_insync {
                    return Err(PartitionError::NotEnoughReplicasAfterAppend {
                        isr,
                        min: min_insync,
                    });
                }
                return Ok(());
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(PartitionError::ReplicationTimedOut { ms: timeout_ms });
            }
            let _ = strata_runtime::first(wait, strata_runtime::sleep(left)).await;
            let still = self
                .replicas
                .leading
                .borrow()
                .get(key)
                .is_some_and(|s| s.leader_epoch == epoch);
            if !still {
                self.leads(key)?;
                return Err(PartitionError::NotLeader { leader: -1 });
            }
        }
    }

    /// Asks the controller for the in-sync sets that lag and catch-up call for, for the
    /// partitions led here (`LeaderState::isr_change`); a refused or lost request is asked again
    /// once its lag time has passed.
    pub async fn check_isr(&self) {
        let now = now_ms();
        let lag_ms = self.config.replica_lag_time_max_ms as i64;
        let table = self.topics();
        let mut changes = Vec::new();
        for (key, state) in self.replicas.leading.borrow_mut().iter_mut() {
            let Some(isr) = state.isr_change(now, lag_ms) else {
                continue;
            };
            let Some(spec) = table.topics.get(&key.topic) else {
                continue;
            };
            tracing::info!(
                topic = %key.topic, partition = key.partition,
                "asking the controller to change the in-sync replicas {:?} -> {isr:?}",
                state.isr
            );
            changes.push(IsrChange {
                topic_id: spec.topic_id.to_string(),
                partition: key.partition,
                leader_epoch: state.leader_epoch,
                partition_epoch: state.partition_epoch,
                new_isr: isr.clone(),
            });
            state.proposed(isr, now);
        }
        if changes.is_empty() {
            return;
        }
        match self.alter_isr(changes.clone()).await {
            Ok(codes) => {
                for (c, code) in changes.iter().zip(codes) {
                    if code != 0 {
                        tracing::info!(
                            topic_id = %c.topic_id, partition = c.partition,
                            "the controller refused an ISR change: error code {code}"
                        );
                    }
                }
            }
            Err(e) => tracing::info!("ISR changes not sent to the controller: {e}"),
        }
    }

    /// AlterPartition through shard 0, which talks to the controller.
    pub(crate) async fn alter_isr(&self, changes: Vec<IsrChange>) -> Result<Vec<i16>, String> {
        if self.id == 0 {
            let cluster = self.cluster().ok_or("the cluster has not started")?.clone();
            return cluster.alter_partition(self, &changes).await;
        }
        self.ask(0, |reply| crate::router::ShardMsg::AlterIsr {
            changes,
            reply,
        })
        .await
        .map_err(|e| e.to_string())?
    }

    fn start_fetcher(&self, leader: i32) {
        if !self.replicas.fetchers.borrow_mut().insert(leader) {
            return;
        }
        let Some(shard) = self.itself.get().and_then(std::rc::Weak::upgrade) else {
            self.replicas.fetchers.borrow_mut().remove(&leader);
            return;
        };
        strata_runtime::spawn_detached(async move {
            super::fetcher::run(&shard, leader).await;
            shard.replicas.fetchers.borrow_mut().remove(&leader);
        });
    }
}
