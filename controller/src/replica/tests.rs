use std::collections::{BTreeMap, VecDeque};

use super::*;
use crate::records::MetadataRecord;

fn topic(name: &str) -> MetadataBatch {
    MetadataBatch::new(vec![MetadataRecord::Topic {
        name: name.into(),
        topic_id: format!("{name}-id"),
    }])
}

/// Handles `replica`'s Ready, writing its records to `disk` (synced once written): the
/// messages to send.
fn handle_and_store(replica: &mut Replica, disk: &mut Vec<u8>) -> Vec<Message> {
    let (messages, records) = replica.handle_ready().unwrap();
    for r in &records {
        crate::wal_format::encode(r, disk);
    }
    messages
}

/// As `handle_and_store`, a snapshot the leader sent replacing `snapshot` and the log's file.
fn handle_and_store_with_snapshot(
    replica: &mut Replica,
    disk: &mut Vec<u8>,
    snapshot: &mut Option<Snapshot>,
) -> Vec<Message> {
    let Some(ready) = replica.ready().unwrap() else {
        return Vec::new();
    };
    let mut messages = ready.send_now;
    if let Some(s) = ready.snapshot {
        *snapshot = Some(s);
        disk.clear();
    }
    for r in &ready.to_store {
        crate::wal_format::encode(r, disk);
    }
    messages.extend(replica.stored().unwrap());
    messages
}

/// Replicas exchanging messages in memory, each with a "disk" (its log file's bytes, synced
/// when written); `cut` nodes neither send nor receive.
struct Network {
    nodes: Vec<i32>,
    replicas: BTreeMap<i32, Replica>,
    disks: BTreeMap<i32, Vec<u8>>,
    /// Each node's snapshot file.
    snapshots: BTreeMap<i32, Option<Snapshot>>,
    in_flight: VecDeque<Message>,
    cut: Vec<i32>,
}

impl Network {
    fn new(nodes: &[i32]) -> Network {
        Network {
            nodes: nodes.to_vec(),
            replicas: nodes
                .iter()
                .map(|n| (*n, Replica::new(*n, nodes).unwrap()))
                .collect(),
            disks: nodes.iter().map(|n| (*n, Vec::new())).collect(),
            snapshots: nodes.iter().map(|n| (*n, None)).collect(),
            in_flight: VecDeque::new(),
            cut: Vec::new(),
        }
    }

    /// The node stops and starts again from what its disk holds.
    fn restart(&mut self, node: i32) {
        let mut recovered = crate::wal_format::recover(&self.disks[&node]).unwrap();
        recovered.snapshot = self.snapshots[&node].clone();
        let replica = Replica::restore(node, &self.nodes, recovered).unwrap();
        self.replicas.insert(node, replica);
    }

    /// Handles every Ready (writing its records to the node's disk) and delivers every message
    /// until nothing moves.
    fn settle(&mut self) {
        for _ in 0..10_000 {
            for (n, replica) in self.replicas.iter_mut() {
                let disk = self.disks.get_mut(n).unwrap();
                let snapshot = self.snapshots.get_mut(n).unwrap();
                self.in_flight
                    .extend(handle_and_store_with_snapshot(replica, disk, snapshot));
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

    /// The node takes a snapshot and keeps only the log after it, as its files would.
    fn compact(&mut self, node: i32) {
        let (snapshot, kept) = self
            .replicas
            .get_mut(&node)
            .unwrap()
            .take_snapshot()
            .unwrap();
        let disk = self.disks.get_mut(&node).unwrap();
        disk.clear();
        for r in &kept {
            crate::wal_format::encode(r, disk);
        }
        self.snapshots.insert(node, Some(snapshot));
    }

    fn tick_all(&mut self, ticks: usize) {
        for _ in 0..ticks {
            for replica in self.replicas.values_mut() {
                replica.tick();
            }
            self.settle();
        }
    }

    /// Proposes a topic of `name` on `node`, which must take it.
    fn propose(&mut self, node: i32, name: &str) {
        self.replicas
            .get_mut(&node)
            .unwrap()
            .propose(&topic(name))
            .unwrap();
    }

    /// Ticks until a leader is reachable (elections are randomised; a split vote takes
    /// another round): the leader.
    fn elect(&mut self) -> i32 {
        for _ in 0..300 {
            if let Some(leader) = self.leader() {
                return leader;
            }
            self.tick_all(1);
        }
        panic!("no leader after 300 ticks");
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
    assert!(replica.handle_ready().unwrap().0.is_empty());
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
    let leader = net.elect();
    for name in ["a", "b", "c"] {
        net.propose(leader, name);
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
    let old = net.elect();
    net.cut = vec![old];
    // Still leader as far as it knows: it takes the proposal, but no one hears of it.
    net.propose(old, "lost");
    net.tick_all(20);
    let new = net.elect();
    assert_ne!(new, old);
    net.propose(new, "kept");
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

#[test]
fn a_quorum_of_one_restarts_from_its_file_with_what_it_committed() {
    let mut disk = Vec::new();
    let run = |replica: &mut Replica, disk: &mut Vec<u8>| {
        assert!(
            handle_and_store(replica, disk).is_empty(),
            "a quorum of one sends nothing"
        );
    };
    let mut replica = Replica::new(0, &[0]).unwrap();
    replica.campaign().unwrap();
    run(&mut replica, &mut disk);
    replica.propose(&topic("t")).unwrap();
    run(&mut replica, &mut disk);
    replica.propose(&topic("u")).unwrap();
    run(&mut replica, &mut disk);
    run(&mut replica, &mut disk);
    let before = replica.image().clone();
    let recovered = crate::wal_format::recover(&disk).unwrap();
    let mut again = Replica::restore(0, &[0], recovered).unwrap();
    again.campaign().unwrap();
    run(&mut again, &mut disk);
    assert!(again.is_leader());
    assert_eq!(again.image().topics, before.topics);
    again.propose(&topic("v")).unwrap();
    run(&mut again, &mut disk);
    assert!(again.image().topic_by_name("v").is_some());
}

#[test]
fn replicas_restarted_from_their_files_catch_up_and_agree() {
    let mut net = Network::new(&[0, 1, 2]);
    let leader = net.elect();
    for name in ["a", "b"] {
        net.propose(leader, name);
    }
    net.settle();
    net.tick_all(3);
    // A follower restarts; then the leader, taking a Ready whose records never reach its disk
    // (the crash came before the sync): only what it sent before storing went out.
    let follower = *net.replicas.keys().find(|n| **n != leader).unwrap();
    net.restart(follower);
    net.propose(leader, "c");
    let taken = net.replicas.get_mut(&leader).unwrap().ready().unwrap();
    if let Some(taken) = taken {
        net.in_flight.extend(taken.send_now);
    }
    net.restart(leader);
    net.tick_all(20);
    let new_leader = net.elect();
    net.propose(new_leader, "d");
    net.settle();
    net.tick_all(5);
    let images: Vec<&MetadataImage> = net.replicas.values().map(|r| r.image()).collect();
    for name in ["a", "b", "d"] {
        assert!(
            images.iter().all(|i| i.topic_by_name(name).is_some()),
            "{name}: {images:?}"
        );
    }
    assert!(
        images.iter().all(|i| i.topics == images[0].topics),
        "{images:?}"
    );
}

#[test]
fn a_follower_behind_the_leaders_snapshot_catches_up_from_it_and_restarts_from_its_files() {
    let mut net = Network::new(&[0, 1, 2]);
    let leader = net.elect();
    let behind = *net.nodes.iter().find(|n| **n != leader).unwrap();
    let other = *net
        .nodes
        .iter()
        .find(|n| **n != leader && **n != behind)
        .unwrap();
    net.cut = vec![behind];
    for i in 0..5 {
        net.propose(leader, &format!("t{i}"));
        net.settle();
    }
    net.tick_all(3);
    assert!(net.replicas[&leader].snapshot_due(5));
    // Both live nodes drop the log the cut one lacks: only a snapshot can bring it back.
    net.compact(leader);
    net.compact(other);
    assert!(!net.replicas[&leader].snapshot_due(5));
    net.cut.clear();
    net.tick_all(40);
    let want = net.replicas[&leader].image().clone();
    assert_eq!(want.topic_ids.len(), 5);
    assert_eq!(*net.replicas[&behind].image(), want);
    assert!(
        net.snapshots[&behind].is_some(),
        "installed from the snapshot"
    );
    // The log goes on after the snapshot, and every node restarts from its files.
    net.propose(leader, "after");
    net.settle();
    net.tick_all(3);
    for node in net.nodes.clone() {
        net.restart(node);
    }
    net.elect();
    net.tick_all(20);
    for (n, replica) in &net.replicas {
        let image = replica.image();
        assert_eq!(image.topic_ids.len(), 6, "node {n}: {image:?}");
        assert!(image.topic_by_name("after").is_some(), "node {n}");
    }
}
