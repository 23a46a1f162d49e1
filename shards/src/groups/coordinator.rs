//! The group coordinator of one shard: the groups it owns (a group lives on shard
//! `owner_shard(group_id, 0, shards)`), the requests waiting on them, and their committed offsets.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::channel::oneshot;

use super::error::GroupError;
use super::offsets::{Committed, OffsetStore};
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

pub struct GroupCoordinator {
    groups: RefCell<HashMap<String, Group>>,
    waiters: RefCell<HashMap<(String, String), Waiter>>,
    pub offsets: futures::lock::Mutex<OffsetStore>,
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
    pub fn new(offsets: OffsetStore, limits: GroupLimits) -> Self {
        GroupCoordinator {
            groups: RefCell::new(HashMap::new()),
            waiters: RefCell::new(HashMap::new()),
            offsets: futures::lock::Mutex::new(offsets),
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

    pub async fn commit(
        &self,
        group_id: &str,
        items: Vec<(String, i32, Committed)>,
    ) -> Result<(), crate::error::BrokerError> {
        self.offsets.lock().await.commit(group_id, items).await
    }

    pub async fn committed(&self, group_id: &str) -> Vec<(String, i32, Committed)> {
        self.offsets.lock().await.group_entries(group_id)
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
    pub async fn list(&self) -> Vec<crate::router::ListedGroup> {
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
        for ((g, _, _), _) in self.offsets.lock().await.entries.iter() {
            out.entry(g.clone()).or_insert(("Empty", String::new()));
        }
        out.into_iter()
            .map(|(id, (state, protocol_type))| crate::router::ListedGroup {
                id,
                state,
                protocol_type,
            })
            .collect()
    }

    /// Deletes an empty group and its offsets.
    pub async fn delete(&self, group_id: &str) -> Result<(), GroupError> {
        if self
            .groups
            .borrow()
            .get(group_id)
            .is_some_and(|g| !g.members.is_empty())
        {
            return Err(GroupError::NotEmpty);
        }
        let mut offsets = self.offsets.lock().await;
        let keys: Vec<_> = offsets
            .group_entries(group_id)
            .into_iter()
            .map(|(t, p, _)| (group_id.to_string(), t, p))
            .collect();
        let known = self.groups.borrow_mut().remove(group_id).is_some() || !keys.is_empty();
        if !known {
            return Err(GroupError::NotFound);
        }
        offsets.delete(keys).await.map_err(|e| {
            tracing::error!(group = group_id, "deleting offsets: {e}");
            GroupError::Storage
        })
    }

    /// Deletes some of a group's offsets (OffsetDelete), with an outcome per partition: refused
    /// (GROUP_SUBSCRIBED_TO_TOPIC) for topics a member of a consumer group subscribes to, as
    /// Kafka does. A group of another protocol with members keeps all its offsets.
    pub async fn delete_offsets(
        &self,
        group_id: &str,
        keys: Vec<(String, i32)>,
    ) -> Result<Vec<((String, i32), Result<(), GroupError>)>, GroupError> {
        let subscribed = match self.groups.borrow().get(group_id) {
            Some(g) if !g.members.is_empty() => {
                if g.protocol_type.as_deref() != Some("consumer") {
                    return Err(GroupError::NotEmpty);
                }
                Some(g.subscribed_topics())
            }
            _ => None,
        };
        let mut offsets = self.offsets.lock().await;
        if subscribed.is_none()
            && offsets.group_entries(group_id).is_empty()
            && !self.groups.borrow().contains_key(group_id)
        {
            return Err(GroupError::NotFound);
        }
        let refused = |t: &String| subscribed.as_ref().is_some_and(|s| s.contains(t));
        let deletable = keys
            .iter()
            .filter(|(t, _)| !refused(t))
            .map(|(t, p)| (group_id.to_string(), t.clone(), *p))
            .collect();
        offsets.delete(deletable).await.map_err(|e| {
            tracing::error!(group = group_id, "deleting offsets: {e}");
            GroupError::Storage
        })?;
        Ok(keys
            .into_iter()
            .map(|key| {
                let outcome = match refused(&key.0) {
                    true => Err(GroupError::SubscribedToTopic),
                    false => Ok(()),
                };
                (key, outcome)
            })
            .collect())
    }

    pub fn tick_interval() -> Duration {
        Duration::from_millis(100)
    }
}
