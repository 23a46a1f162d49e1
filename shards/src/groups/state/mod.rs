//! The classic Kafka consumer-group state machine (Empty, PreparingRebalance, CompletingRebalance,
//! Stable, Dead), with no I/O and time passed in, so that it can be tested against random
//! sequences. Requests that must wait (JoinGroup until the rebalance completes, SyncGroup until
//! the leader sends the assignment) are recorded, and their answers come back as `Completion`s
//! from the call or `tick` that completes them. The assignment is chosen by the leader client;
//! the coordinator relays protocols and assignments as opaque bytes.

use std::collections::BTreeMap;

use bytes::Bytes;

pub use super::error::GroupError;
pub use membership::{LeavingMember, MemberRef};

mod membership;
mod session;
mod stored;
#[cfg(test)]
mod tests;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    /// The client id and address of its latest JoinGroup (DescribeGroups shows them).
    pub client: ClientInfo,
    pub session_timeout_ms: u64,
    pub rebalance_timeout_ms: u64,
    /// (protocol name, metadata), in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    last_heartbeat_ms: u64,
    awaiting_join: bool,
    awaiting_sync: bool,
}

impl Member {
    /// The member's metadata for `protocol` (empty if it does not support it).
    pub fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, b)| b.clone())
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResult {
    pub error: Option<GroupError>,
    pub generation: i32,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Every member and its metadata for the chosen protocol: for the leader only.
    pub members: Vec<(String, Option<String>, Bytes)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResult {
    pub error: Option<GroupError>,
    pub assignment: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    Join(String, JoinResult),
    Sync(String, SyncResult),
}

/// What a JoinGroup call gives back: an answer now, or a wait for a `Completion::Join`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinReply {
    Now(JoinResult),
    Wait { member_id: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncReply {
    Now(SyncResult),
    Wait,
}

/// Who a member's client is, as DescribeGroups shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client id of the request's header.
    pub client_id: String,
    /// The client's address, as Kafka prints it ("/127.0.0.1").
    pub host: String,
}

pub struct JoinRequest {
    pub client: ClientInfo,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    pub session_timeout_ms: u64,
    pub rebalance_timeout_ms: u64,
    /// JoinGroup v4+: a new member first gets MEMBER_ID_REQUIRED with its id (KIP-394).
    pub require_known_member_id: bool,
}

/// Coordinator-wide limits (Kafka's group.min/max.session.timeout.ms, initial delay).
#[derive(Debug, Clone, Copy)]
pub struct GroupLimits {
    pub min_session_timeout_ms: u64,
    pub max_session_timeout_ms: u64,
    pub initial_rebalance_delay_ms: u64,
    pub max_members: usize,
}

impl Default for GroupLimits {
    fn default() -> Self {
        GroupLimits {
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            initial_rebalance_delay_ms: 3_000,
            max_members: 1_000,
        }
    }
}

pub struct Group {
    pub id: String,
    pub state: GroupState,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED and not yet used, with when they lapse.
    pending_ids: BTreeMap<String, u64>,
    rebalance_deadline_ms: u64,
    initial_delay_until_ms: u64,
    next_member: u64,
    limits: GroupLimits,
}

/// The answer to a SyncGroup that failed.
pub(crate) fn error_sync(e: GroupError) -> SyncResult {
    SyncResult {
        error: Some(e),
        assignment: Bytes::new(),
    }
}

/// The answer to a JoinGroup that failed.
pub(crate) fn error_join(e: GroupError, member_id: &str) -> JoinResult {
    JoinResult {
        error: Some(e),
        generation: -1,
        protocol_name: None,
        leader: String::new(),
        member_id: member_id.to_string(),
        members: Vec::new(),
    }
}

impl Group {
    pub fn new(id: &str, limits: GroupLimits) -> Group {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: BTreeMap::new(),
            pending_ids: BTreeMap::new(),
            rebalance_deadline_ms: 0,
            initial_delay_until_ms: 0,
            next_member: 0,
            limits,
        }
    }

    fn new_member_id(&mut self, client: &str) -> String {
        self.next_member += 1;
        format!(
            "{client}-{}-{:016x}",
            self.next_member,
            self.next_member.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        )
    }

    /// Protocols every member (and the candidate) supports.
    fn supports(&self, protocols: &[(String, Bytes)]) -> bool {
        self.members.values().all(|m| {
            m.protocols
                .iter()
                .any(|(n, _)| protocols.iter().any(|(p, _)| p == n))
        })
    }

    pub fn join(&mut self, now_ms: u64, req: JoinRequest) -> (JoinReply, Vec<Completion>) {
        let mut done = Vec::new();
        if self.state == GroupState::Dead {
            return (
                JoinReply::Now(error_join(GroupError::CoordinatorGone, &req.member_id)),
                done,
            );
        }
        if !(self.limits.min_session_timeout_ms..=self.limits.max_session_timeout_ms)
            .contains(&req.session_timeout_ms)
        {
            return (
                JoinReply::Now(error_join(
                    GroupError::SessionTimeoutOutOfBounds,
                    &req.member_id,
                )),
                done,
            );
        }
        let type_ok = self.members.is_empty()
            || self.protocol_type.as_deref() == Some(req.protocol_type.as_str());
        if req.protocols.is_empty() || !type_ok || !self.supports(&req.protocols) {
            return (
                JoinReply::Now(error_join(GroupError::InconsistentProtocol, &req.member_id)),
                done,
            );
        }
        if !req.member_id.is_empty() {
            if let Err(e) = self.check_instance(&req.member_id, req.instance_id.as_deref()) {
                return (JoinReply::Now(error_join(e, &req.member_id)), done);
            }
        }
        // A static member that comes back replaces its old incarnation.
        let known_static = req.instance_id.as_ref().and_then(|i| {
            self.members
                .values()
                .find(|m| m.instance_id.as_ref() == Some(i))
                .map(|m| m.id.clone())
        });
        let member_id = if req.member_id.is_empty() {
            if let Some(old) = known_static {
                let new_id = self.new_member_id("static");
                if let Some(mut m) = self.members.remove(&old) {
                    m.id = new_id.clone();
                    m.protocols = req.protocols.clone();
                    m.last_heartbeat_ms = now_ms;
                    self.members.insert(new_id.clone(), m);
                }
                if self.leader.as_deref() == Some(old.as_str()) {
                    self.leader = Some(new_id.clone());
                }
                if self.state == GroupState::Stable {
                    return (JoinReply::Now(self.join_result(&new_id)), done);
                }
                new_id
            } else if req.require_known_member_id && req.instance_id.is_none() {
                let id = self.new_member_id("member");
                self.pending_ids
                    .insert(id.clone(), now_ms + req.session_timeout_ms);
                return (
                    JoinReply::Now(error_join(GroupError::MemberIdRequired, &id)),
                    done,
                );
            } else {
                self.new_member_id("member")
            }
        } else if self.members.contains_key(&req.member_id)
            || self.pending_ids.remove(&req.member_id).is_some()
        {
            req.member_id.clone()
        } else {
            return (
                JoinReply::Now(error_join(GroupError::UnknownMember, &req.member_id)),
                done,
            );
        };
        if !self.members.contains_key(&member_id) && self.members.len() >= self.limits.max_members {
            return (
                JoinReply::Now(error_join(GroupError::GroupFull, &member_id)),
                done,
            );
        }
        let existing = self.members.get(&member_id).map(|m| m.protocols.clone());
        let unchanged = existing.as_ref() == Some(&req.protocols);
        let is_leader = self.leader.as_deref() == Some(member_id.as_str());
        let member = self
            .members
            .entry(member_id.clone())
            .or_insert_with(|| Member {
                id: member_id.clone(),
                instance_id: req.instance_id.clone(),
                client: req.client.clone(),
                session_timeout_ms: req.session_timeout_ms,
                rebalance_timeout_ms: req.rebalance_timeout_ms,
                protocols: req.protocols.clone(),
                assignment: Bytes::new(),
                last_heartbeat_ms: now_ms,
                awaiting_join: false,
                awaiting_sync: false,
            });
        member.protocols = req.protocols.clone();
        member.client = req.client.clone();
        member.session_timeout_ms = req.session_timeout_ms;
        member.rebalance_timeout_ms = req.rebalance_timeout_ms;
        member.last_heartbeat_ms = now_ms;
        self.protocol_type = Some(req.protocol_type.clone());
        // A follower rejoining a stable group unchanged just gets the current generation.
        if self.state == GroupState::Stable && unchanged && !is_leader {
            return (JoinReply::Now(self.join_result(&member_id)), done);
        }
        if let Some(m) = self.members.get_mut(&member_id) {
            m.awaiting_join = true;
            m.awaiting_sync = false;
        }
        self.prepare_rebalance(now_ms, &mut done);
        self.maybe_complete_join(now_ms, &mut done);
        (JoinReply::Wait { member_id }, done)
    }

    fn prepare_rebalance(&mut self, now_ms: u64, done: &mut Vec<Completion>) {
        if self.state == GroupState::PreparingRebalance {
            return;
        }
        // Members waiting for a sync that will not come are told to rejoin.
        for m in self.members.values_mut() {
            if std::mem::take(&mut m.awaiting_sync) {
                done.push(Completion::Sync(
                    m.id.clone(),
                    error_sync(GroupError::Rebalancing),
                ));
            }
        }
        let delay = if self.state == GroupState::Empty {
            self.limits.initial_rebalance_delay_ms
        } else {
            0
        };
        let timeout = self
            .members
            .values()
            .map(|m| m.rebalance_timeout_ms)
            .max()
            .unwrap_or(0);
        // A new group's first rebalance waits for others to arrive (Kafka's
        // group.initial.rebalance.delay.ms); any rebalance ends at the members' timeout.
        self.initial_delay_until_ms = now_ms + delay;
        self.rebalance_deadline_ms = now_ms + timeout.max(delay);
        self.state = GroupState::PreparingRebalance;
    }

    fn maybe_complete_join(&mut self, now_ms: u64, done: &mut Vec<Completion>) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        let all_joined = self.members.values().all(|m| m.awaiting_join);
        let initial_delay_running = now_ms < self.initial_delay_until_ms;
        if (all_joined && !initial_delay_running) || now_ms >= self.rebalance_deadline_ms {
            self.complete_join(done);
        }
    }

    fn complete_join(&mut self, done: &mut Vec<Completion>) {
        self.members.retain(|_, m| m.awaiting_join);
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.generation += 1;
            self.leader = None;
            self.protocol_name = None;
            return;
        }
        self.generation += 1;
        if !self
            .leader
            .as_ref()
            .is_some_and(|l| self.members.contains_key(l))
        {
            self.leader = self.members.keys().next().cloned();
        }
        // Each member votes for its first protocol that all support; the most votes win.
        let mut votes: BTreeMap<String, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some((name, _)) = m.protocols.iter().find(|(n, _)| {
                self.members
                    .values()
                    .all(|o| o.protocols.iter().any(|(p, _)| p == n))
            }) {
                *votes.entry(name.clone()).or_default() += 1;
            }
        }
        self.protocol_name = votes.into_iter().max_by_key(|(_, v)| *v).map(|(n, _)| n);
        self.state = GroupState::CompletingRebalance;
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let result = self.join_result(&id);
            if let Some(m) = self.members.get_mut(&id) {
                m.awaiting_join = false;
                m.assignment = Bytes::new();
            }
            done.push(Completion::Join(id, result));
        }
    }

    fn join_result(&self, member_id: &str) -> JoinResult {
        let leader = self.leader.clone().unwrap_or_default();
        let members = if leader == member_id {
            let proto = self.protocol_name.clone().unwrap_or_default();
            self.members
                .values()
                .map(|m| (m.id.clone(), m.instance_id.clone(), m.metadata_for(&proto)))
                .collect()
        } else {
            Vec::new()
        };
        JoinResult {
            error: None,
            generation: self.generation,
            protocol_name: self.protocol_name.clone(),
            leader,
            member_id: member_id.to_string(),
            members,
        }
    }
}
