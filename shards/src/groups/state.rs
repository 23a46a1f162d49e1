//! The classic Kafka consumer-group state machine (Empty, PreparingRebalance, CompletingRebalance,
//! Stable, Dead), with no I/O and time passed in, so that it can be tested against random
//! sequences. Requests that must wait (JoinGroup until the rebalance completes, SyncGroup until
//! the leader sends the assignment) are recorded, and their answers come back as `Completion`s
//! from the call or `tick` that completes them. The assignment is chosen by the leader client;
//! the coordinator relays protocols and assignments as opaque bytes.

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;

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
    pub error: i16,
    pub generation: i32,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Every member and its metadata for the chosen protocol: for the leader only.
    pub members: Vec<(String, Option<String>, Bytes)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResult {
    pub error: i16,
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

pub struct JoinRequest {
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

fn code(e: ResponseError) -> i16 {
    e.code()
}

/// The answer to a JoinGroup that failed.
pub(crate) fn error_join(e: ResponseError, member_id: &str) -> JoinResult {
    JoinResult {
        error: code(e),
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
                JoinReply::Now(error_join(
                    ResponseError::CoordinatorNotAvailable,
                    &req.member_id,
                )),
                done,
            );
        }
        if !(self.limits.min_session_timeout_ms..=self.limits.max_session_timeout_ms)
            .contains(&req.session_timeout_ms)
        {
            return (
                JoinReply::Now(error_join(
                    ResponseError::InvalidSessionTimeout,
                    &req.member_id,
                )),
                done,
            );
        }
        let type_ok = self.members.is_empty()
            || self.protocol_type.as_deref() == Some(req.protocol_type.as_str());
        if req.protocols.is_empty() || !type_ok || !self.supports(&req.protocols) {
            return (
                JoinReply::Now(error_join(
                    ResponseError::InconsistentGroupProtocol,
                    &req.member_id,
                )),
                done,
            );
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
                    JoinReply::Now(error_join(ResponseError::MemberIdRequired, &id)),
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
                JoinReply::Now(error_join(ResponseError::UnknownMemberId, &req.member_id)),
                done,
            );
        };
        if !self.members.contains_key(&member_id) && self.members.len() >= self.limits.max_members {
            return (
                JoinReply::Now(error_join(ResponseError::GroupMaxSizeReached, &member_id)),
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
                session_timeout_ms: req.session_timeout_ms,
                rebalance_timeout_ms: req.rebalance_timeout_ms,
                protocols: req.protocols.clone(),
                assignment: Bytes::new(),
                last_heartbeat_ms: now_ms,
                awaiting_join: false,
                awaiting_sync: false,
            });
        member.protocols = req.protocols.clone();
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
                    SyncResult {
                        error: code(ResponseError::RebalanceInProgress),
                        assignment: Bytes::new(),
                    },
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
            error: 0,
            generation: self.generation,
            protocol_name: self.protocol_name.clone(),
            leader,
            member_id: member_id.to_string(),
            members,
        }
    }

    fn check_member(&self, member_id: &str, generation: i32) -> Result<(), i16> {
        if !self.members.contains_key(member_id) {
            return Err(code(ResponseError::UnknownMemberId));
        }
        if generation != self.generation {
            return Err(code(ResponseError::IllegalGeneration));
        }
        Ok(())
    }

    pub fn sync(
        &mut self,
        now_ms: u64,
        member_id: &str,
        generation: i32,
        assignments: Vec<(String, Bytes)>,
    ) -> (SyncReply, Vec<Completion>) {
        let mut done = Vec::new();
        let fail = |e: i16| {
            SyncReply::Now(SyncResult {
                error: e,
                assignment: Bytes::new(),
            })
        };
        if let Err(e) = self.check_member(member_id, generation) {
            return (fail(e), done);
        }
        if let Some(m) = self.members.get_mut(member_id) {
            m.last_heartbeat_ms = now_ms;
        }
        match self.state {
            GroupState::PreparingRebalance => {
                (fail(code(ResponseError::RebalanceInProgress)), done)
            }
            GroupState::Stable => {
                let assignment = self
                    .members
                    .get(member_id)
                    .map(|m| m.assignment.clone())
                    .unwrap_or_default();
                (
                    SyncReply::Now(SyncResult {
                        error: 0,
                        assignment,
                    }),
                    done,
                )
            }
            GroupState::CompletingRebalance => {
                if self.leader.as_deref() == Some(member_id) {
                    for (id, a) in assignments {
                        if let Some(m) = self.members.get_mut(&id) {
                            m.assignment = a;
                        }
                    }
                    self.state = GroupState::Stable;
                    let mine = self
                        .members
                        .get(member_id)
                        .map(|m| m.assignment.clone())
                        .unwrap_or_default();
                    for m in self.members.values_mut() {
                        if std::mem::take(&mut m.awaiting_sync) {
                            done.push(Completion::Sync(
                                m.id.clone(),
                                SyncResult {
                                    error: 0,
                                    assignment: m.assignment.clone(),
                                },
                            ));
                        }
                    }
                    (
                        SyncReply::Now(SyncResult {
                            error: 0,
                            assignment: mine,
                        }),
                        done,
                    )
                } else {
                    if let Some(m) = self.members.get_mut(member_id) {
                        m.awaiting_sync = true;
                    }
                    (SyncReply::Wait, done)
                }
            }
            GroupState::Empty | GroupState::Dead => {
                (fail(code(ResponseError::UnknownMemberId)), done)
            }
        }
    }

    pub fn heartbeat(&mut self, now_ms: u64, member_id: &str, generation: i32) -> i16 {
        if let Err(e) = self.check_member(member_id, generation) {
            return e;
        }
        if let Some(m) = self.members.get_mut(member_id) {
            m.last_heartbeat_ms = now_ms;
        }
        match self.state {
            GroupState::PreparingRebalance => code(ResponseError::RebalanceInProgress),
            _ => 0,
        }
    }

    /// Removes members (by id, or by instance id when the id is empty); an error code per member.
    pub fn leave(
        &mut self,
        now_ms: u64,
        leaving: &[(String, Option<String>)],
    ) -> (Vec<i16>, Vec<Completion>) {
        let mut done = Vec::new();
        let mut codes = Vec::new();
        for (id, instance) in leaving {
            let id = if id.is_empty() {
                instance
                    .as_ref()
                    .and_then(|i| {
                        self.members
                            .values()
                            .find(|m| m.instance_id.as_ref() == Some(i))
                    })
                    .map(|m| m.id.clone())
            } else {
                Some(id.clone())
            };
            match id.and_then(|id| self.members.remove(&id)) {
                Some(m) => {
                    codes.push(0);
                    // Whoever still waits on the member's behalf gets an answer.
                    if m.awaiting_join {
                        done.push(Completion::Join(
                            m.id.clone(),
                            error_join(ResponseError::UnknownMemberId, &m.id),
                        ));
                    }
                    if m.awaiting_sync {
                        let r = SyncResult {
                            error: code(ResponseError::UnknownMemberId),
                            assignment: Bytes::new(),
                        };
                        done.push(Completion::Sync(m.id.clone(), r));
                    }
                }
                None => codes.push(code(ResponseError::UnknownMemberId)),
            }
        }
        if codes.contains(&0) {
            self.after_removal(now_ms, &mut done);
        }
        (codes, done)
    }

    fn after_removal(&mut self, now_ms: u64, done: &mut Vec<Completion>) {
        if self.members.is_empty() && self.state != GroupState::PreparingRebalance {
            self.state = GroupState::Empty;
            self.leader = None;
            self.protocol_name = None;
            self.generation += 1;
            return;
        }
        self.prepare_rebalance(now_ms, done);
        self.maybe_complete_join(now_ms, done);
    }

    /// Expires members whose session lapsed and finishes rebalances whose time is up.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Completion> {
        let mut done = Vec::new();
        self.pending_ids.retain(|_, until| *until > now_ms);
        let preparing = self.state == GroupState::PreparingRebalance;
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| {
                !(preparing && m.awaiting_join)
                    && m.last_heartbeat_ms + m.session_timeout_ms <= now_ms
            })
            .map(|m| m.id.clone())
            .collect();
        if !expired.is_empty() {
            for id in &expired {
                if let Some(m) = self.members.remove(id) {
                    if m.awaiting_sync {
                        done.push(Completion::Sync(
                            m.id,
                            SyncResult {
                                error: code(ResponseError::UnknownMemberId),
                                assignment: Bytes::new(),
                            },
                        ));
                    }
                }
            }
            self.after_removal(now_ms, &mut done);
        }
        self.maybe_complete_join(now_ms, &mut done);
        done
    }

    /// Members waiting for an answer, for checks: (join, sync).
    pub fn waiting(&self) -> (usize, usize) {
        let join = self.members.values().filter(|m| m.awaiting_join).count();
        let sync = self.members.values().filter(|m| m.awaiting_sync).count();
        (join, sync)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SESSION: u64 = 10_000;

    fn limits() -> GroupLimits {
        GroupLimits {
            initial_rebalance_delay_ms: 100,
            ..Default::default()
        }
    }

    fn join_req(member_id: &str, instance: Option<&str>) -> JoinRequest {
        JoinRequest {
            member_id: member_id.to_string(),
            instance_id: instance.map(str::to_string),
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::from_static(b"m"))],
            session_timeout_ms: SESSION,
            rebalance_timeout_ms: 5_000,
            require_known_member_id: true,
        }
    }

    /// Drives one member through MEMBER_ID_REQUIRED and its join; returns its id.
    fn join_new(g: &mut Group, now: u64) -> (String, Vec<Completion>) {
        let (reply, _) = g.join(now, join_req("", None));
        let JoinReply::Now(r) = reply else {
            panic!("expected MEMBER_ID_REQUIRED")
        };
        assert_eq!(r.error, ResponseError::MemberIdRequired.code());
        let (reply, done) = g.join(now, join_req(&r.member_id, None));
        assert!(matches!(reply, JoinReply::Wait { .. }));
        (r.member_id, done)
    }

    #[test]
    fn three_members_join_sync_and_become_stable() {
        let mut g = Group::new("g", limits());
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(join_new(&mut g, 0).0);
        }
        assert_eq!(g.state, GroupState::PreparingRebalance);
        let done = g.tick(100);
        assert_eq!(done.len(), 3, "every join answered after the initial delay");
        assert_eq!(g.state, GroupState::CompletingRebalance);
        let leader = g.leader.clone().unwrap();
        let followers: Vec<&String> = ids.iter().filter(|i| **i != leader).collect();
        for f in &followers {
            assert_eq!(g.sync(110, f, g.generation, vec![]).0, SyncReply::Wait);
        }
        let assignments = ids
            .iter()
            .map(|i| (i.clone(), Bytes::from(i.clone())))
            .collect();
        let gen = g.generation;
        let (reply, done) = g.sync(120, &leader, gen, assignments);
        assert!(matches!(reply, SyncReply::Now(SyncResult { error: 0, .. })));
        assert_eq!(done.len(), 2);
        assert_eq!(g.state, GroupState::Stable);
        for c in done {
            let Completion::Sync(id, r) = c else { panic!() };
            assert_eq!(r.assignment, Bytes::from(id));
        }
    }

    #[test]
    fn a_silent_member_is_removed_after_its_session_and_the_group_rebalances() {
        let mut g = Group::new("g", limits());
        let (a, _) = join_new(&mut g, 0);
        let (b, _) = join_new(&mut g, 0);
        g.tick(100);
        let gen = g.generation;
        let leader = g.leader.clone().unwrap();
        g.sync(100, &leader, gen, vec![]);
        let other = if leader == a { b.clone() } else { a.clone() };
        g.sync(100, &other, gen, vec![]);
        assert_eq!(g.state, GroupState::Stable);
        // Only the leader keeps heartbeating.
        for t in (1_000..=SESSION + 100).step_by(1_000) {
            assert_eq!(g.heartbeat(t, &leader, gen), 0);
        }
        g.tick(SESSION + 200);
        assert!(!g.members.contains_key(&other));
        assert_eq!(g.state, GroupState::PreparingRebalance);
        assert_eq!(
            g.heartbeat(SESSION + 300, &leader, gen),
            ResponseError::RebalanceInProgress.code()
        );
        let (reply, done) = g.join(SESSION + 400, join_req(&leader, None));
        assert!(matches!(reply, JoinReply::Wait { .. }));
        assert_eq!(
            done.len(),
            1,
            "the only member rejoined: the rebalance completes"
        );
        assert_eq!(g.generation, gen + 1);
    }

    #[test]
    fn stale_generations_and_unknown_members_are_refused() {
        let mut g = Group::new("g", limits());
        let (a, _) = join_new(&mut g, 0);
        g.tick(100);
        assert_eq!(
            g.heartbeat(100, &a, g.generation - 1),
            ResponseError::IllegalGeneration.code()
        );
        assert_eq!(
            g.heartbeat(100, "nobody", g.generation),
            ResponseError::UnknownMemberId.code()
        );
        let (r, _) = g.join(100, join_req("nobody", None));
        assert!(matches!(r, JoinReply::Now(JoinResult { error: 25, .. })));
        let mut bad = join_req("", None);
        bad.session_timeout_ms = 1;
        assert!(matches!(
            g.join(100, bad).0,
            JoinReply::Now(JoinResult { error: 26, .. })
        ));
    }

    #[test]
    fn a_static_member_that_restarts_keeps_its_place_without_a_rebalance() {
        let mut g = Group::new("g", limits());
        let (reply, _) = g.join(0, join_req("", Some("host-1")));
        assert!(matches!(reply, JoinReply::Wait { .. }));
        g.tick(100);
        let leader = g.leader.clone().unwrap();
        let gen = g.generation;
        g.sync(
            100,
            &leader,
            gen,
            vec![(leader.clone(), Bytes::from_static(b"p0"))],
        );
        assert_eq!(g.state, GroupState::Stable);
        let (reply, done) = g.join(200, join_req("", Some("host-1")));
        let JoinReply::Now(r) = reply else {
            panic!("answered at once")
        };
        assert_eq!((r.error, r.generation), (0, gen));
        assert!(done.is_empty());
        assert_eq!(g.state, GroupState::Stable);
        assert_eq!(g.members.len(), 1);
    }

    #[derive(Debug, Clone)]
    enum Op {
        JoinNew,
        Rejoin(usize),
        Sync(usize),
        Heartbeat(usize),
        Leave(usize),
        Advance(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            2 => Just(Op::JoinNew),
            2 => (0usize..6).prop_map(Op::Rejoin),
            3 => (0usize..6).prop_map(Op::Sync),
            3 => (0usize..6).prop_map(Op::Heartbeat),
            1 => (0usize..6).prop_map(Op::Leave),
            3 => (1u64..8_000).prop_map(Op::Advance),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
        #[test]
        fn the_group_stays_consistent_under_random_members(ops in prop::collection::vec(op(), 1..200)) {
            let mut g = Group::new("g", limits());
            let mut now = 0u64;
            let mut known: Vec<String> = Vec::new();
            let mut waiting_join: std::collections::BTreeSet<String> = Default::default();
            let mut waiting_sync: std::collections::BTreeSet<String> = Default::default();
            let mut last_generation = g.generation;
            for op in ops {
                let done = match op {
                    Op::JoinNew => {
                        let (id, done) = join_new(&mut g, now);
                        known.push(id.clone());
                        waiting_join.insert(id);
                        done
                    }
                    Op::Rejoin(i) => match known.get(i).cloned() {
                        Some(id) if g.members.contains_key(&id) && !waiting_join.contains(&id) => {
                            let (reply, done) = g.join(now, join_req(&id, None));
                            if let JoinReply::Wait { .. } = reply { waiting_join.insert(id.clone()); waiting_sync.remove(&id); }
                            done
                        }
                        _ => vec![],
                    },
                    Op::Sync(i) => match known.get(i).cloned() {
                        Some(id) if g.members.contains_key(&id) && !waiting_join.contains(&id) && !waiting_sync.contains(&id) => {
                            let assignments = g.members.keys().map(|m| (m.clone(), Bytes::from(m.clone()))).collect();
                            let (reply, done) = g.sync(now, &id, g.generation, assignments);
                            if reply == SyncReply::Wait { waiting_sync.insert(id); }
                            done
                        }
                        _ => vec![],
                    },
                    Op::Heartbeat(i) => {
                        if let Some(id) = known.get(i) { g.heartbeat(now, id, g.generation); }
                        vec![]
                    }
                    Op::Leave(i) => match known.get(i).cloned() {
                        Some(id) => g.leave(now, &[(id.clone(), None)]).1,
                        None => vec![],
                    },
                    Op::Advance(ms) => { now += ms; g.tick(now) }
                };
                for c in done {
                    match c {
                        Completion::Join(id, r) => {
                            prop_assert!(waiting_join.remove(&id), "join answer for {} who was not waiting", id);
                            if r.error == 0 {
                                prop_assert_eq!(r.generation, g.generation);
                                prop_assert_eq!(r.members.is_empty(), g.leader.as_deref() != Some(id.as_str()));
                            }
                        }
                        Completion::Sync(id, _) => prop_assert!(waiting_sync.remove(&id), "sync answer for {} who was not waiting", id),
                    }
                }
                // Invariants.
                prop_assert!(g.generation >= last_generation);
                last_generation = g.generation;
                let (wj, ws) = g.waiting();
                prop_assert_eq!(wj, waiting_join.iter().filter(|id| g.members.contains_key(*id)).count());
                prop_assert_eq!(ws, waiting_sync.iter().filter(|id| g.members.contains_key(*id)).count());
                waiting_join.retain(|id| g.members.contains_key(id));
                waiting_sync.retain(|id| g.members.contains_key(id));
                match g.state {
                    GroupState::Empty => prop_assert!(g.members.is_empty() && g.leader.is_none()),
                    GroupState::Stable | GroupState::CompletingRebalance => {
                        prop_assert!(!g.members.is_empty());
                        prop_assert!(g.leader.as_ref().is_some_and(|l| g.members.contains_key(l)));
                        prop_assert_eq!(wj, 0, "nobody waits to join outside a rebalance");
                    }
                    GroupState::PreparingRebalance => prop_assert_eq!(ws, 0, "nobody waits to sync while preparing"),
                    GroupState::Dead => prop_assert!(false, "no op kills a group"),
                }
                if g.state == GroupState::Stable { prop_assert_eq!(ws, 0); }
            }
            // Enough time passes: no member is left waiting.
            g.tick(now + 60_000);
            let (wj, ws) = g.waiting();
            prop_assert_eq!((wj, ws), (0, 0));
        }
    }
}
