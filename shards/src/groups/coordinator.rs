//! The group coordinator of one shard: the partitions of `__consumer_offsets` it leads, their
//! groups (a group belongs to partition `offsets_partition(group)`, served by that partition's
//! owner shard), the requests waiting on them, and their committed offsets as read from the
//! partitions' logs. Writing offsets is the shard's (`Shard::write_offsets`): this state is
//! changed only once a change is in the log.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::channel::oneshot;

use super::error::GroupError;
use super::offsets::{Committed, OffsetChange, OffsetKey, PartitionOffsets};
use super::offsets_record::StoredGroup;
use super::state::{
    error_join, error_sync, Completion, Group, GroupLimits, GroupState, JoinReply, JoinRequest,
    JoinResult, LeavingMember, MemberRef, SyncReply, SyncResult,
};

enum Waiter {
    Join(oneshot::Sender<JoinResult>),
    Sync(oneshot::Sender<SyncResult>),
}

/// A group as DescribeGroups and ListGroups show it.
#[derive(Debug, Clone)]
pub struct GroupView {
    pub id: String,
    pub state: &'static str,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberView>,
}

/// A member as DescribeGroups shows it.
#[derive(Debug, Clone)]
pub struct MemberView {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client: super::state::ClientInfo,
    /// Its metadata for the group's protocol.
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// Where a led partition of the offsets topic is in being read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    Loading,
    Ready,
    /// Its log could not be read (logged): its groups stay unavailable until the next leadership.
    Failed,
}

/// A partition of the offsets topic led here, in one leader epoch.
struct OffsetsPartition {
    leader_epoch: i32,
    load: Load,
    offsets: PartitionOffsets,
}

pub struct GroupCoordinator {
    groups: RefCell<HashMap<String, Group>>,
    waiters: RefCell<HashMap<(String, String), Waiter>>,
    partitions: RefCell<HashMap<i32, OffsetsPartition>>,
    /// Per group: the generation, and whether it was empty, of its last membership record in
    /// the offsets topic (written or loaded).
    memberships: RefCell<HashMap<String, (i32, bool)>>,
    limits: GroupLimits,
    start: Instant,
}

fn state_name(s: GroupState) -> &'static str {
    match s {
        GroupState::Empty => "Empty",
        GroupState::PreparingRebalance => "PreparingRebalance",
        GroupState::CompletingRebalance => "CompletingRebalance",
        GroupState::Stable => "Stable",
        GroupState::Dead => "Dead",
    }
}

impl GroupCoordinator {
    pub fn new(limits: GroupLimits) -> Self {
        GroupCoordinator {
            groups: RefCell::new(HashMap::new()),
            waiters: RefCell::new(HashMap::new()),
            partitions: RefCell::new(HashMap::new()),
            memberships: RefCell::new(HashMap::new()),
            limits,
            start: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn deliver(&self, group: &str, done: Vec<Completion>) {
        let mut waiters = self.waiters.borrow_mut();
        for c in done {
            match c {
                Completion::Join(member, r) => {
                    if let Some(Waiter::Join(tx)) = waiters.remove(&(group.to_string(), member)) {
                        let _ = tx.send(r);
                    }
                }
                Completion::Sync(member, r) => {
                    if let Some(Waiter::Sync(tx)) = waiters.remove(&(group.to_string(), member)) {
                        let _ = tx.send(r);
                    }
                }
            }
        }
    }

    pub async fn join(&self, group_id: &str, req: JoinRequest) -> JoinResult {
        let now = self.now_ms();
        let (reply, done) = {
            let mut groups = self.groups.borrow_mut();
            let group = groups
                .entry(group_id.to_string())
                .or_insert_with(|| Group::new(group_id, self.limits));
            group.join(now, req)
        };
        let member_id = match reply {
            JoinReply::Now(r) => {
                self.deliver(group_id, done);
                return r;
            }
            JoinReply::Wait { member_id } => member_id,
        };
        let (tx, rx) = oneshot::channel();
        // A member that sends a second JoinGroup replaces its first wait.
        self.waiters
            .borrow_mut()
            .insert((group_id.to_string(), member_id.clone()), Waiter::Join(tx));
        self.deliver(group_id, done);
        rx.await
            .unwrap_or_else(|_| error_join(GroupError::Rebalancing, &member_id))
    }

    pub async fn sync(
        &self,
        group_id: &str,
        who: &MemberRef,
        assignments: Vec<(String, Bytes)>,
    ) -> SyncResult {
        let member = who.member_id.as_str();
        let now = self.now_ms();
        let result = {
            let mut groups = self.groups.borrow_mut();
            match groups.get_mut(group_id) {
                None => return error_sync(GroupError::UnknownMember),
                Some(g) => g.sync(now, who, assignments),
            }
        };
        let (reply, done) = result;
        match reply {
            SyncReply::Now(r) => {
                self.deliver(group_id, done);
                r
            }
            SyncReply::Wait => {
                let (tx, rx) = oneshot::channel();
                self.waiters
                    .borrow_mut()
                    .insert((group_id.to_string(), member.to_string()), Waiter::Sync(tx));
                self.deliver(group_id, done);
                rx.await
                    .unwrap_or_else(|_| error_sync(GroupError::Rebalancing))
            }
        }
    }

    pub fn heartbeat(&self, group_id: &str, who: &MemberRef) -> Result<(), GroupError> {
        let now = self.now_ms();
        match self.groups.borrow_mut().get_mut(group_id) {
            None => Err(GroupError::UnknownMember),
            Some(g) => g.heartbeat(now, who),
        }
    }

    pub fn leave(&self, group_id: &str, members: &[LeavingMember]) -> Vec<Result<(), GroupError>> {
        let now = self.now_ms();
        let (outcomes, done) = match self.groups.borrow_mut().get_mut(group_id) {
            None => (
                vec![Err(GroupError::UnknownMember); members.len()],
                Vec::new(),
            ),
            Some(g) => g.leave(now, members),
        };
        self.deliver(group_id, done);
        outcomes
    }

    /// Expires sessions and finishes rebalances whose time is up, for every group.
    pub fn tick(&self) {
        let now = self.now_ms();
        let mut all = Vec::new();
        for (id, g) in self.groups.borrow_mut().iter_mut() {
            let done = g.tick(now);
            if !done.is_empty() {
                all.push((id.clone(), done));
            }
        }
        for (id, done) in all {
            self.deliver(&id, done);
        }
    }

    /// Checks that a commit may be made (`Group::may_commit`); into a group this coordinator
    /// does not know, only by a client that assigns its own partitions.
    pub fn may_commit(&self, group_id: &str, who: &MemberRef) -> Result<(), GroupError> {
        match self.groups.borrow().get(group_id) {
            Some(g) => g.may_commit(who),
            None if who.generation < 0 && who.member_id.is_empty() => Ok(()),
            None => Err(GroupError::UnknownMember),
        }
    }

    /// Starts leading partition `p` in `leader_epoch`: true when its log must be read (a new
    /// leadership), false when it is already loaded or loading in that epoch.
    pub fn begin_load(&self, p: i32, leader_epoch: i32) -> bool {
        let mut partitions = self.partitions.borrow_mut();
        if partitions
            .get(&p)
            .is_some_and(|s| s.leader_epoch == leader_epoch)
        {
            return false;
        }
        partitions.insert(
            p,
            OffsetsPartition {
                leader_epoch,
                load: Load::Loading,
                offsets: PartitionOffsets::default(),
            },
        );
        true
    }

    /// What reading partition `p` gave, if it is still led in the epoch it was read for.
    pub fn finish_load(
        &self,
        p: i32,
        leader_epoch: i32,
        read: Result<PartitionOffsets, crate::error::BrokerError>,
    ) {
        let mut partitions = self.partitions.borrow_mut();
        let Some(s) = partitions.get_mut(&p) else {
            return;
        };
        if s.leader_epoch != leader_epoch || s.load != Load::Loading {
            return;
        }
        match read {
            Ok(mut offsets) => {
                // Groups go on where their last membership record left them.
                let now = self.now_ms();
                let mut groups = self.groups.borrow_mut();
                let mut memberships = self.memberships.borrow_mut();
                for (id, stored) in offsets.take_memberships() {
                    memberships.insert(id.clone(), (stored.generation, false));
                    groups
                        .entry(id.clone())
                        .or_insert_with(|| Group::restore(&id, self.limits, stored, now));
                }
                s.offsets = offsets;
                s.load = Load::Ready;
            }
            Err(e) => {
                tracing::error!(partition = p, "loading the committed offsets: {e}");
                s.load = Load::Failed;
            }
        }
    }

    /// Stops leading partition `p`: its groups and offsets go (the new leader reads them back),
    /// and requests waiting on its groups end.
    pub fn unload(&self, p: i32, belongs: impl Fn(&str) -> bool) {
        if self.partitions.borrow_mut().remove(&p).is_none() {
            return;
        }
        self.groups.borrow_mut().retain(|g, _| !belongs(g));
        self.waiters.borrow_mut().retain(|(g, _), _| !belongs(g));
        self.memberships.borrow_mut().retain(|g, _| !belongs(g));
    }

    /// The group's membership to write to the offsets topic, when it settled (Stable) or
    /// emptied since its last record; None when there is nothing new to write.
    pub fn membership_to_write(&self, group_id: &str) -> Option<StoredGroup> {
        let stored = self.groups.borrow().get(group_id)?.stored()?;
        let now = (stored.generation, stored.members.is_empty());
        match self.memberships.borrow().get(group_id) {
            Some(last) if *last == now => None,
            // An empty group that never had a record has nothing to say.
            None if now.1 => None,
            _ => Some(stored),
        }
    }

    /// The membership record is in the offsets topic.
    pub fn membership_written(&self, group_id: &str, stored: &StoredGroup) {
        self.memberships.borrow_mut().insert(
            group_id.to_string(),
            (stored.generation, stored.members.is_empty()),
        );
    }

    /// The offsets partitions this coordinator holds, with their leader epochs.
    pub fn held(&self) -> Vec<(i32, i32)> {
        self.partitions
            .borrow()
            .iter()
            .map(|(p, s)| (*p, s.leader_epoch))
            .collect()
    }

    /// Whether partition `p` is loaded here: None when it is not led here at all.
    pub fn load_state(&self, p: i32) -> Option<Load> {
        self.partitions.borrow().get(&p).map(|s| s.load)
    }

    /// Applies changes now in partition `p`'s log from `base_offset` on, in order.
    pub fn apply(&self, p: i32, base_offset: i64, changes: Vec<OffsetChange>) {
        if let Some(s) = self.partitions.borrow_mut().get_mut(&p) {
            for (i, change) in changes.into_iter().enumerate() {
                s.offsets.apply(base_offset + i as i64, change);
            }
        }
    }

    pub fn committed(&self, p: i32, group_id: &str) -> Vec<(String, i32, Committed)> {
        self.partitions
            .borrow()
            .get(&p)
            .map(|s| s.offsets.group_entries(group_id))
            .unwrap_or_default()
    }

    /// Whether `key` has a committed offset (in partition `p`).
    pub fn has_offset(&self, p: i32, key: &OffsetKey) -> bool {
        self.partitions
            .borrow()
            .get(&p)
            .is_some_and(|s| s.offsets.has(key))
    }

    pub fn view(&self, group_id: &str) -> Option<GroupView> {
        let groups = self.groups.borrow();
        let g = groups.get(group_id)?;
        let proto = g.protocol_name.clone().unwrap_or_default();
        Some(GroupView {
            id: g.id.clone(),
            state: state_name(g.state),
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: proto.clone(),
            members: g
                .members
                .values()
                .map(|m| MemberView {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client: m.client.clone(),
                    metadata: m.metadata_for(&proto),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        })
    }

    /// Groups with members or committed offsets.
    pub fn list(&self) -> Vec<crate::router::ListedGroup> {
        let mut out: HashMap<String, (&'static str, String)> = HashMap::new();
        for (id, g) in self.groups.borrow().iter() {
            out.insert(
                id.clone(),
                (
                    state_name(g.state),
                    g.protocol_type.clone().unwrap_or_default(),
                ),
            );
        }
        for s in self.partitions.borrow().values() {
            for g in s.offsets.groups() {
                out.entry(g).or_insert(("Empty", String::new()));
            }
        }
        out.into_iter()
            .map(|(id, (state, protocol_type))| crate::router::ListedGroup {
                id,
                state,
                protocol_type,
            })
            .collect()
    }

    /// Removes an empty group: the keys of its offsets, to be deleted from the log.
    pub fn delete(&self, p: i32, group_id: &str) -> Result<Vec<OffsetKey>, GroupError> {
        if self
            .groups
            .borrow()
            .get(group_id)
            .is_some_and(|g| !g.members.is_empty())
        {
            return Err(GroupError::NotEmpty);
        }
        let keys: Vec<OffsetKey> = self
            .committed(p, group_id)
            .into_iter()
            .map(|(t, p, _)| (group_id.to_string(), t, p))
            .collect();
        let known = self.groups.borrow_mut().remove(group_id).is_some() || !keys.is_empty();
        if !known {
            return Err(GroupError::NotFound);
        }
        Ok(keys)
    }

    /// Decides which of a group's offsets OffsetDelete may delete, with an outcome per
    /// partition: refused (GROUP_SUBSCRIBED_TO_TOPIC) for topics a member of a consumer group
    /// subscribes to, as Kafka does. A group of another protocol with members keeps all its
    /// offsets. The keys returned are to be deleted from the log.
    #[allow(clippy::type_complexity)]
    pub fn delete_offsets(
        &self,
        p: i32,
        group_id: &str,
        keys: Vec<(String, i32)>,
    ) -> Result<(Vec<OffsetKey>, Vec<((String, i32), Result<(), GroupError>)>), GroupError> {
        let subscribed = match self.groups.borrow().get(group_id) {
            Some(g) if !g.members.is_empty() => {
                if g.protocol_type.as_deref() != Some("consumer") {
                    return Err(GroupError::NotEmpty);
                }
                Some(g.subscribed_topics())
            }
            _ => None,
        };
        if subscribed.is_none()
            && self.committed(p, group_id).is_empty()
            && !self.groups.borrow().contains_key(group_id)
        {
            return Err(GroupError::NotFound);
        }
        let refused = |t: &String| subscribed.as_ref().is_some_and(|s| s.contains(t));
        let deletable = keys
            .iter()
            .filter(|(t, _)| !refused(t))
            .map(|(t, part)| (group_id.to_string(), t.clone(), *part))
            .filter(|k| self.has_offset(p, k))
            .collect();
        let outcomes = keys
            .into_iter()
            .map(|key| {
                let outcome = match refused(&key.0) {
                    true => Err(GroupError::SubscribedToTopic),
                    false => Ok(()),
                };
                (key, outcome)
            })
            .collect();
        Ok((deletable, outcomes))
    }

    pub fn tick_interval() -> Duration {
        Duration::from_millis(100)
    }
}
