//! A group's members after they joined: SyncGroup (the leader's assignment), heartbeats,
//! leaving, and session expiry on `tick`.

use super::*;

impl Group {
    pub fn sync(
        &mut self,
        now_ms: u64,
        who: &MemberRef,
        assignments: Vec<(String, Bytes)>,
    ) -> (SyncReply, Vec<Completion>) {
        let mut done = Vec::new();
        let fail = |e: GroupError| SyncReply::Now(error_sync(e));
        if let Err(e) = self.check_member(who) {
            return (fail(e), done);
        }
        let member_id = who.member_id.as_str();
        if let Some(m) = self.members.get_mut(member_id) {
            m.last_heartbeat_ms = now_ms;
        }
        match self.state {
            GroupState::PreparingRebalance => (fail(GroupError::Rebalancing), done),
            GroupState::Stable => {
                let assignment = self
                    .members
                    .get(member_id)
                    .map(|m| m.assignment.clone())
                    .unwrap_or_default();
                (
                    SyncReply::Now(SyncResult {
                        error: None,
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
                                    error: None,
                                    assignment: m.assignment.clone(),
                                },
                            ));
                        }
                    }
                    (
                        SyncReply::Now(SyncResult {
                            error: None,
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
            GroupState::Empty | GroupState::Dead => (fail(GroupError::UnknownMember), done),
        }
    }

    /// Whether `who` may commit offsets now. As in Kafka, a member may commit while a rebalance
    /// is being prepared (cooperative consumers commit then), not while the group waits for the
    /// leader's assignment; a client that assigns its own partitions (no member id, generation
    /// -1) may commit only while the group has no members.
    pub fn may_commit(&self, who: &MemberRef) -> Result<(), GroupError> {
        if who.generation < 0 && who.member_id.is_empty() {
            return match self.members.is_empty() {
                true => Ok(()),
                false => Err(GroupError::UnknownMember),
            };
        }
        // As Kafka: who is asking first, then whether the group can take a commit now.
        self.check_member(who)?;
        match self.state {
            GroupState::CompletingRebalance => Err(GroupError::Rebalancing),
            _ => Ok(()),
        }
    }

    pub fn heartbeat(&mut self, now_ms: u64, who: &MemberRef) -> Result<(), GroupError> {
        self.check_member(who)?;
        if let Some(m) = self.members.get_mut(&who.member_id) {
            m.last_heartbeat_ms = now_ms;
        }
        match self.state {
            GroupState::PreparingRebalance => Err(GroupError::Rebalancing),
            _ => Ok(()),
        }
    }

    /// Removes members (by id, or by instance id when the id is empty); an outcome per member.
    pub fn leave(
        &mut self,
        now_ms: u64,
        leaving: &[LeavingMember],
    ) -> (Vec<Result<(), GroupError>>, Vec<Completion>) {
        let mut done = Vec::new();
        let mut outcomes = Vec::new();
        for LeavingMember {
            member_id: id,
            instance_id: instance,
        } in leaving
        {
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
                    outcomes.push(Ok(()));
                    // Whoever still waits on the member's behalf gets an answer.
                    if m.awaiting_join {
                        done.push(Completion::Join(
                            m.id.clone(),
                            error_join(GroupError::UnknownMember, &m.id),
                        ));
                    }
                    if m.awaiting_sync {
                        let r = error_sync(GroupError::UnknownMember);
                        done.push(Completion::Sync(m.id.clone(), r));
                    }
                }
                None => outcomes.push(Err(GroupError::UnknownMember)),
            }
        }
        if outcomes.iter().any(Result::is_ok) {
            self.after_removal(now_ms, &mut done);
        }
        (outcomes, done)
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
                            error_sync(GroupError::UnknownMember),
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
