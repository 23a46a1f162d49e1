use super::*;
use proptest::prelude::*;

const SESSION: u64 = 10_000;

fn limits() -> GroupLimits {
    GroupLimits {
        initial_rebalance_delay_ms: 100,
        ..Default::default()
    }
}

/// A request from member `id` of `generation`, with no static instance id.
fn at(id: &str, generation: i32) -> MemberRef {
    MemberRef {
        member_id: id.to_string(),
        instance_id: None,
        generation,
    }
}

fn join_req(member_id: &str, instance: Option<&str>) -> JoinRequest {
    JoinRequest {
        client: ClientInfo::default(),
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
    assert_eq!(r.error, Some(GroupError::MemberIdRequired));
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
        assert_eq!(g.sync(110, &at(f, g.generation), vec![]).0, SyncReply::Wait);
    }
    let assignments = ids
        .iter()
        .map(|i| (i.clone(), Bytes::from(i.clone())))
        .collect();
    let gen = g.generation;
    let (reply, done) = g.sync(120, &at(&leader, gen), assignments);
    assert!(matches!(
        reply,
        SyncReply::Now(SyncResult { error: None, .. })
    ));
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
    g.sync(100, &at(&leader, gen), vec![]);
    let other = if leader == a { b.clone() } else { a.clone() };
    g.sync(100, &at(&other, gen), vec![]);
    assert_eq!(g.state, GroupState::Stable);
    // Only the leader keeps heartbeating.
    for t in (1_000..=SESSION + 100).step_by(1_000) {
        assert_eq!(g.heartbeat(t, &at(&leader, gen)), Ok(()));
    }
    g.tick(SESSION + 200);
    assert!(!g.members.contains_key(&other));
    assert_eq!(g.state, GroupState::PreparingRebalance);
    assert_eq!(
        g.heartbeat(SESSION + 300, &at(&leader, gen)),
        Err(GroupError::Rebalancing)
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
        g.heartbeat(100, &at(&a, g.generation - 1)),
        Err(GroupError::StaleGeneration)
    );
    assert_eq!(
        g.heartbeat(100, &at("nobody", g.generation)),
        Err(GroupError::UnknownMember)
    );
    let (r, _) = g.join(100, join_req("nobody", None));
    assert!(matches!(
        r,
        JoinReply::Now(JoinResult {
            error: Some(GroupError::UnknownMember),
            ..
        })
    ));
    let mut bad = join_req("", None);
    bad.session_timeout_ms = 1;
    assert!(matches!(
        g.join(100, bad).0,
        JoinReply::Now(JoinResult {
            error: Some(GroupError::SessionTimeoutOutOfBounds),
            ..
        })
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
        &at(&leader, gen),
        vec![(leader.clone(), Bytes::from_static(b"p0"))],
    );
    assert_eq!(g.state, GroupState::Stable);
    let (reply, done) = g.join(200, join_req("", Some("host-1")));
    let JoinReply::Now(r) = reply else {
        panic!("answered at once")
    };
    assert_eq!((r.error, r.generation), (None, gen));
    assert!(done.is_empty());
    assert_eq!(g.state, GroupState::Stable);
    assert_eq!(g.members.len(), 1);
    // The old incarnation is fenced, not told to rejoin (which would displace the new one).
    let old = MemberRef {
        instance_id: Some("host-1".into()),
        ..at(&leader, gen)
    };
    let new = MemberRef {
        member_id: r.member_id.clone(),
        ..old.clone()
    };
    assert_eq!(g.heartbeat(300, &old), Err(GroupError::FencedInstance));
    assert_eq!(g.may_commit(&old), Err(GroupError::FencedInstance));
    assert_eq!(
        g.sync(300, &old, vec![]).0,
        SyncReply::Now(error_sync(GroupError::FencedInstance))
    );
    let (reply, _) = g.join(300, join_req(&leader, Some("host-1")));
    assert!(matches!(
        reply,
        JoinReply::Now(JoinResult {
            error: Some(GroupError::FencedInstance),
            ..
        })
    ));
    assert_eq!(g.heartbeat(300, &new), Ok(()));
    assert_eq!(g.may_commit(&new), Ok(()));
}

#[test]
fn members_commit_while_a_rebalance_is_prepared_but_not_while_it_completes() {
    let mut g = Group::new("g", limits());
    let (a, _) = join_new(&mut g, 0);
    g.tick(100);
    let gen = g.generation;
    g.sync(100, &at(&a, gen), vec![]);
    assert_eq!(g.state, GroupState::Stable);
    assert_eq!(g.may_commit(&at(&a, gen)), Ok(()));
    // A second member's join starts a rebalance: the first may still commit its progress.
    join_new(&mut g, 200);
    assert_eq!(g.state, GroupState::PreparingRebalance);
    assert_eq!(g.may_commit(&at(&a, gen)), Ok(()));
    assert_eq!(
        g.may_commit(&at(&a, gen - 1)),
        Err(GroupError::StaleGeneration)
    );
    // Once everyone has joined, the generation moves on and the old one is refused; the new
    // one waits for the leader's assignment.
    g.join(210, join_req(&a, None));
    assert_eq!(g.state, GroupState::CompletingRebalance);
    assert_eq!(
        g.may_commit(&at(&a, g.generation)),
        Err(GroupError::Rebalancing)
    );
    assert_eq!(g.may_commit(&at(&a, gen)), Err(GroupError::StaleGeneration));
    // A client that assigns its own partitions may not commit into a group with members.
    assert_eq!(g.may_commit(&at("", -1)), Err(GroupError::UnknownMember));
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
                        let (reply, done) = g.sync(now, &at(&id, g.generation), assignments);
                        if reply == SyncReply::Wait { waiting_sync.insert(id); }
                        done
                    }
                    _ => vec![],
                },
                Op::Heartbeat(i) => {
                    if let Some(id) = known.get(i) { let _ = g.heartbeat(now, &at(id, g.generation)); }
                    vec![]
                }
                Op::Leave(i) => match known.get(i).cloned() {
                    Some(id) => g.leave(now, &[LeavingMember { member_id: id.clone(), instance_id: None }]).1,
                    None => vec![],
                },
                Op::Advance(ms) => { now += ms; g.tick(now) }
            };
            for c in done {
                match c {
                    Completion::Join(id, r) => {
                        prop_assert!(waiting_join.remove(&id), "join answer for {} who was not waiting", id);
                        if r.error.is_none() {
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
