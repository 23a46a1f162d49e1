//! Requests that belong to one shard whatever shard received them: an idempotent producer's
//! epochs (kept by the shard that allocated its id) and a group's requests (served by the shard
//! that owns the group's partition of the offsets topic, when this broker leads it).

use super::Shard;
use crate::cluster::view::OFFSETS_TOPIC;
use crate::error::BrokerError;
use crate::groups::coordinator::Load;
use crate::groups::error::GroupError;
use crate::groups::offsets::OffsetKey;
use crate::router::{GroupAnswer, GroupOp, PartitionKey, ShardMsg};

impl Shard {
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

    pub(super) async fn bump_producer_epoch_local(
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

    /// A producer id unique in the cluster: from this shard's block, or a new block the
    /// controller hands out.
    pub async fn allocate_producer_id(&self) -> Result<i64, BrokerError> {
        self.producer_ids
            .allocate_with(|| self.reserve_producer_ids())
            .await
    }

    /// The controller quorum as this node knows it (from shard 0).
    pub async fn quorum_state(&self) -> crate::cluster::QuorumState {
        if self.id != 0 {
            return self
                .ask(0, |reply| ShardMsg::QuorumState { reply })
                .await
                .unwrap_or_default();
        }
        self.cluster().map(|c| c.quorum_state()).unwrap_or_default()
    }

    /// The first id of a new block of producer ids from the controller (through shard 0).
    pub async fn reserve_producer_ids(&self) -> Result<u64, BrokerError> {
        if self.id != 0 {
            return self
                .ask(0, |reply| ShardMsg::ReserveProducerIds { reply })
                .await?;
        }
        let cluster = self.cluster().ok_or(BrokerError::ShardGone(0))?;
        cluster.allocate_producer_ids(self).await
    }

    /// Runs a group request on the shard that owns the group's partition of the offsets topic,
    /// if this broker leads it.
    pub async fn group(&self, group: &str, op: GroupOp) -> GroupAnswer {
        let table = self.topics();
        let Some(spec) = table.topics.get(OFFSETS_TOPIC) else {
            // Its first use: clients retry (COORDINATOR_NOT_AVAILABLE) once it exists.
            self.request_offsets_topic();
            return GroupAnswer::Done(Err(GroupError::CoordinatorGone));
        };
        let p = strata_controller::coordinator::offsets_partition(group, spec.partitions);
        let key = PartitionKey {
            topic: OFFSETS_TOPIC.to_string(),
            partition: p,
        };
        if self.leads(&key).is_err() {
            return GroupAnswer::Done(Err(GroupError::NotCoordinator));
        }
        let owner = self.owner(&key);
        if owner == self.id {
            return self.group_local(group, p, op).await;
        }
        let group = group.to_string();
        self.ask(owner, |reply| ShardMsg::Group {
            group,
            partition: p,
            op,
            reply,
        })
        .await
        .unwrap_or(GroupAnswer::Done(Err(GroupError::CoordinatorGone)))
    }

    /// The broker that coordinates `group`: the leader of its partition of the offsets topic
    /// (Kafka's hash of the id), -1 while that leader is not live; None before the topic
    /// exists.
    pub fn coordinator_of(&self, group: &str) -> Option<i32> {
        let table = self.topics();
        let leaders = &table.cluster.offsets_leaders;
        if leaders.is_empty() {
            return None;
        }
        let p = strata_controller::coordinator::offsets_partition(group, leaders.len() as i32);
        let leader = leaders[p as usize];
        Some(if table.cluster.brokers.contains_key(&leader) {
            leader
        } else {
            -1
        })
    }

    /// Every shard's groups (ListGroups).
    pub async fn all_groups(&self) -> Vec<crate::router::ListedGroup> {
        let mut out = Vec::new();
        for s in 0..self.count {
            let answer = if s == self.id {
                self.group_local("", 0, GroupOp::List).await
            } else {
                self.ask(s, |reply| ShardMsg::Group {
                    group: String::new(),
                    partition: 0,
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

    /// Serves a group request for the group of offsets partition `p`, owned by this shard.
    pub(super) async fn group_local(&self, group: &str, p: i32, op: GroupOp) -> GroupAnswer {
        let Some(c) = self.groups.get() else {
            return GroupAnswer::Done(Err(GroupError::CoordinatorLoading));
        };
        if let GroupOp::List = op {
            return GroupAnswer::List(c.list());
        }
        let ready = match c.load_state(p) {
            Some(Load::Ready) => Ok(()),
            Some(Load::Loading) => Err(GroupError::CoordinatorLoading),
            Some(Load::Failed) => Err(GroupError::CoordinatorGone),
            // The table this request was routed by is newer than this shard's, or older.
            None => match self.leads(&PartitionKey {
                topic: OFFSETS_TOPIC.to_string(),
                partition: p,
            }) {
                Ok(()) => Err(GroupError::CoordinatorLoading),
                Err(_) => Err(GroupError::NotCoordinator),
            },
        };
        if let Err(e) = ready {
            return GroupAnswer::Done(Err(e));
        }
        match op {
            GroupOp::Join(req) => GroupAnswer::Join(c.join(group, req).await),
            // A group that settles or empties has its membership written first.
            GroupOp::Sync {
                member,
                assignments,
            } => {
                let answer = c.sync(group, &member, assignments).await;
                self.write_membership(p, group).await;
                GroupAnswer::Sync(answer)
            }
            GroupOp::Heartbeat { member } => {
                let answer = c.heartbeat(group, &member);
                self.write_membership(p, group).await;
                GroupAnswer::Done(answer)
            }
            GroupOp::Leave { members } => {
                let answer = c.leave(group, &members);
                self.write_membership(p, group).await;
                GroupAnswer::EachMember(answer)
            }
            GroupOp::Commit { member, items } => {
                if let Err(e) = c.may_commit(group, &member) {
                    return GroupAnswer::Done(Err(e));
                }
                let changes = items
                    .into_iter()
                    .map(|(t, part, committed)| ((group.to_string(), t, part), Some(committed)))
                    .collect();
                GroupAnswer::Done(self.write_offsets(p, changes).await)
            }
            GroupOp::Migrate { items } => {
                // Only what the offsets topic does not have: a commit made since wins.
                let changes: Vec<_> = items
                    .into_iter()
                    .map(|(t, part, committed)| ((group.to_string(), t, part), Some(committed)))
                    .filter(|(k, _)| !c.has_offset(p, k))
                    .collect();
                GroupAnswer::Done(self.write_offsets(p, changes).await)
            }
            GroupOp::Fetch => GroupAnswer::Offsets(c.committed(p, group)),
            GroupOp::Describe => GroupAnswer::View(c.view(group)),
            GroupOp::Delete => match c.delete(p, group) {
                Ok(keys) => GroupAnswer::Done(self.delete_offsets_of(p, keys).await),
                Err(e) => GroupAnswer::Done(Err(e)),
            },
            GroupOp::DeleteOffsets { keys } => match c.delete_offsets(p, group, keys) {
                Ok((deletable, each)) => match self.delete_offsets_of(p, deletable).await {
                    Ok(()) => GroupAnswer::EachPartition(each),
                    Err(e) => GroupAnswer::Done(Err(e)),
                },
                Err(e) => GroupAnswer::Done(Err(e)),
            },
            GroupOp::List => GroupAnswer::List(c.list()),
        }
    }

    async fn delete_offsets_of(&self, p: i32, keys: Vec<OffsetKey>) -> Result<(), GroupError> {
        self.write_offsets(p, keys.into_iter().map(|k| (k, None)).collect())
            .await
    }
}
