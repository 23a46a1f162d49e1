//! The partitions of `__consumer_offsets` this shard owns, as group coordination sees them:
//! reading one back when this broker becomes its leader (its groups answer
//! COORDINATOR_LOAD_IN_PROGRESS meanwhile), dropping its groups when the leadership goes, and
//! writing committed offsets to it with acks=all, so that a commit acknowledged is on every
//! in-sync replica and survives the coordinator's failover.

use std::cell::Cell;

use super::Shard;
use crate::cluster::view::OFFSETS_TOPIC;
use crate::groups::error::GroupError;
use crate::groups::offsets::{self, OffsetChange};
use crate::router::{Acks, AdminOp, PartitionError, PartitionKey};
use crate::topics::TopicTable;

/// Whether this shard has asked for the offsets topic and not heard back yet.
#[derive(Default)]
pub struct OffsetsTopicAsked(Cell<bool>);

impl Shard {
    /// Asks the controller for the offsets topic (its first use), once at a time, in the
    /// background: the request that needed it has already been answered "retry".
    pub(crate) fn request_offsets_topic(&self) {
        if self.offsets_topic_asked.0.replace(true) {
            return;
        }
        let Some(shard) = self.itself.get().and_then(|w| w.upgrade()) else {
            self.offsets_topic_asked.0.set(false);
            return;
        };
        strata_runtime::spawn_detached(async move {
            if let Err(e) = shard.admin(AdminOp::CreateOffsetsTopic).await {
                tracing::warn!("creating the offsets topic: {e}");
            }
            shard.offsets_topic_asked.0.set(false);
        });
    }

    /// Follows the offsets topic's leaders in `table` for the partitions this shard owns: reads
    /// back each partition newly led here (in a task of its own), and forgets the groups of
    /// each one no longer led here.
    pub(crate) fn update_coordination(&self, table: &TopicTable) {
        let Some(c) = self.groups.get() else {
            return;
        };
        let me = self.identity.node_id;
        let spec = table.topics.get(OFFSETS_TOPIC);
        let count = spec.map_or(0, |s| s.partitions);
        let belongs = |p: i32| {
            move |g: &str| {
                count == 0 || strata_controller::coordinator::offsets_partition(g, count) == p
            }
        };
        for (p, epoch) in c.held() {
            let still = spec
                .and_then(|s| s.place(p))
                .is_some_and(|place| place.leader == me && place.leader_epoch == epoch);
            if !still {
                c.unload(p, belongs(p));
            }
        }
        let Some(spec) = spec else {
            return;
        };
        for p in 0..spec.partitions {
            let key = PartitionKey {
                topic: OFFSETS_TOPIC.to_string(),
                partition: p,
            };
            let Some(place) = spec.place(p) else {
                continue;
            };
            if self.owner(&key) != self.id || place.leader != me {
                continue;
            }
            let Some(log) = self.log(&key) else {
                continue;
            };
            let epoch = place.leader_epoch;
            if !c.begin_load(p, epoch) {
                continue;
            }
            let Some(shard) = self.itself.get().and_then(|w| w.upgrade()) else {
                continue;
            };
            let count = spec.partitions;
            strata_runtime::spawn_detached(async move {
                let started = std::time::Instant::now();
                let mut read = offsets::load(&log, p).await;
                if let Ok(loaded) = &read {
                    let migrated = shard
                        .migrate_legacy_offsets(p, count, epoch, |k| loaded.seen(k))
                        .await;
                    match migrated {
                        None => return,
                        Some(true) => read = offsets::load(&log, p).await,
                        Some(false) => {}
                    }
                }
                if let Some(c) = shard.groups.get() {
                    if read.is_ok() {
                        tracing::debug!(
                            partition = p,
                            epoch,
                            ms = started.elapsed().as_millis() as u64,
                            "loaded the committed offsets"
                        );
                    }
                    c.finish_load(p, epoch, read);
                }
            });
        }
    }

    /// Writes the group's membership to partition `p` of the offsets topic (acks=all) when it
    /// settled or emptied since its last record, so that a new coordinator goes on with it.
    /// A failure is logged: the group's members then rejoin after a coordinator moves.
    pub(crate) async fn write_membership(&self, p: i32, group: &str) {
        let Some(c) = self.groups.get() else {
            return;
        };
        let Some(stored) = c.membership_to_write(group) else {
            return;
        };
        let key = PartitionKey {
            topic: OFFSETS_TOPIC.to_string(),
            partition: p,
        };
        let written = match offsets::membership_batch(
            group,
            Some(&stored),
            strata_record::clock::unix_ms(),
        ) {
            Ok(batch) => self
                .produce_local(&key, batch, Acks::All)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match written {
            Ok(_) => c.membership_written(group, &stored),
            Err(e) => tracing::warn!(partition = p, group, "writing a group's membership: {e}"),
        }
    }

    /// Appends changes of committed offsets to partition `p` of the offsets topic, led here, and
    /// applies them once every in-sync replica has them (acks=all).
    pub(crate) async fn write_offsets(
        &self,
        p: i32,
        changes: Vec<OffsetChange>,
    ) -> Result<(), GroupError> {
        if changes.is_empty() {
            return Ok(());
        }
        let key = PartitionKey {
            topic: OFFSETS_TOPIC.to_string(),
            partition: p,
        };
        let batch = offsets::batch_of(&changes, strata_record::clock::unix_ms()).map_err(|e| {
            tracing::error!("{e}");
            GroupError::Storage
        })?;
        let produced = self
            .produce_local(&key, batch, Acks::All)
            .await
            .map_err(|e| {
                tracing::warn!(partition = p, "writing committed offsets: {e}");
                commit_error(&e)
            })?;
        if let Some(c) = self.groups.get() {
            c.apply(p, produced.base_offset, changes);
        }
        Ok(())
    }
}

/// What a failed append to the offsets topic means to the client, as Kafka maps it: another
/// broker leads (NOT_COORDINATOR), too few replicas for now (COORDINATOR_NOT_AVAILABLE), a commit
/// too large (INVALID_COMMIT_OFFSET_SIZE), else the disk (KAFKA_STORAGE_ERROR).
fn commit_error(e: &PartitionError) -> GroupError {
    use PartitionError as P;
    match e {
        P::NotLeader { .. } | P::Unknown | P::LeaderNotAvailable | P::OwnerGone => {
            GroupError::NotCoordinator
        }
        P::NotEnoughReplicas { .. }
        | P::NotEnoughReplicasAfterAppend { .. }
        | P::ReplicationTimedOut { .. }
        | P::FencedLeaderEpoch { .. }
        | P::UnknownLeaderEpoch { .. } => GroupError::CoordinatorGone,
        P::Engine(strata_engine::EngineError::InvalidBatch {
            source: strata_record::batch::BatchError::TooLarge { .. },
            ..
        }) => GroupError::CommitTooLarge,
        _ => GroupError::Storage,
    }
}
