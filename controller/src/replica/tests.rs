use std::collections::{BTreeMap, VecDeque};

use super::*;
use crate::records::MetadataRecord;

fn topic(name: &str) -> MetadataBatch {
    MetadataBatch::new(vec![MetadataRecord::Topic {
        name: name.into(),
        topic_id: format!("{name}-id"),
    }])
}

/// Replicas exchanging messages in memory; `cut` nodes neither send nor receive.
struct Network {
    replicas: BTreeMap<i32, Replica>,
    in_flight: VecDeque<Message>,
    cut: Vec<i32>,
}

impl Network {
    fn new(nodes: &[i32]) -> Network {
        Network {
            replicas: nodes
                .iter()
                .map(|n| (*n, Replica::new(*n, nodes).unwrap()))
                .collect(),
            in_flight: VecDeque::new(),
            cut: Vec::new(),
        }
    }

    /// Handles every Ready and delivers every message until nothing moves.
    fn settle(&mut self) {
        for _ in 0..10_000 {
            for replica in self.replicas.values_mut() {
                self.in_flight.extend(replica.handle_ready().unwrap());
            }
            let Some(m) = self.in_flight.pop_front() else {
                return;
            };
            let (from, to) = (m.from as i32 - 1, m.to as i32 - 1);
            if self.cut.contains(&from) || self.cut.contains(&to) {
                continue;
            }
            self.replicas.get_mut(&to).unwrap().step(m).unwrap();
        }
        panic!("the network did not settle");
    }

    fn tick_all(&mut self, ticks: usize) {
        for _ in 0..ticks {
            for replica in self.replicas.values_mut() {
                replica.tick();
            }
            self.settle();
        }
    }

    fn leader(&self) -> Option<i32> {
        let leaders: Vec<i32> = self
            .replicas
            .iter()
            .filter(|(n, r)| r.is_leader() && !self.cut.contains(n))
            .map(|(n, _)| *n)
            .collect();
        assert!(leaders.len() <= 1, "two leaders reachable: {leaders:?}");
        leaders.first().copied()
    }
}

#[test]
fn a_quorum_of_one_leads_at_once_and_applies_what_it_proposes() {
    let mut replica = Replica::new(0, &[0]).unwrap();
    replica.campaign().unwrap();
    assert!(replica.handle_ready().unwrap().is_empty());
    assert!(replica.is_leader());
    assert_eq!(replica.leader(), Some(0));
    replica.propose(&topic("t")).unwrap();
    replica.handle_ready().unwrap();
    assert!(replica.image().topic_by_name("t").is_some());
    assert_eq!(
        replica.image().applied_index,
        2,
        "after the leader's empty entry"
    );
}

#[test]
fn three_replicas_elect_one_leader_and_apply_the_same_entries() {
    let mut net = Network::new(&[0, 1, 2]);
    net.tick_all(30);
    let leader = net.leader().expect("a leader after 30 ticks");
    for name in ["a", "b", "c"] {
        net.replicas
            .get_mut(&leader)
            .unwrap()
            .propose(&topic(name))
            .unwrap();
    }
    net.settle();
    // Followers learn the commit index with the next append or heartbeat.
    net.tick_all(3);
    let images: Vec<&MetadataImage> = net.replicas.values().map(|r| r.image()).collect();
    assert!(images[0].topic_by_name("c").is_some(), "{:?}", images[0]);
    assert!(images.iter().all(|i| *i == images[0]), "{images:?}");
    // A follower refuses proposals: only the leader writes.
    let follower = *net.replicas.keys().find(|n| **n != leader).unwrap();
    let refused = net
        .replicas
        .get_mut(&follower)
        .unwrap()
        .propose(&topic("x"));
    assert!(
        matches!(refused, Err(ReplicaError::NotLeader { leader: Some(l) }) if l == leader),
        "{refused:?}"
    );
}

#[test]
fn a_cut_off_leader_is_replaced_and_its_lone_proposal_never_commits() {
    let mut net = Network::new(&[0, 1, 2]);
    net.tick_all(30);
    let old = net.leader().unwrap();
    net.cut = vec![old];
    // Still leader as far as it knows: it takes the proposal, but no one hears of it.
    net.replicas
        .get_mut(&old)
        .unwrap()
        .propose(&topic("lost"))
        .unwrap();
    net.tick_all(40);
    let new = net.leader().expect("the two others elect a leader");
    assert_ne!(new, old);
    net.replicas
        .get_mut(&new)
        .unwrap()
        .propose(&topic("kept"))
        .unwrap();
    net.settle();
    net.cut.clear();
    net.tick_all(40);
    for (n, replica) in &net.replicas {
        let image = replica.image();
        assert!(image.topic_by_name("kept").is_some(), "node {n}: {image:?}");
        assert!(
            image.topic_by_name("lost").is_none(),
            "node {n} applied a proposal of a cut-off leader"
        );
    }
}
