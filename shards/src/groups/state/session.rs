//! A group's members after they joined: SyncGroup (the leader's assignment), heartbeats,
//! leaving, and session expiry on `tick`.

use kafka_protocol::error::ResponseError;

use super::*;

impl Group {
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
