//! Which brokers are alive, as the active controller sees it: each heartbeat restarts a
//! broker's session; a broker whose session (`broker_session_timeout_ms`) runs out is fenced,
//! and the partitions it leads get another in-sync, unfenced leader, or none (offline, which
//! clients see as LEADER_NOT_AVAILABLE) when it was their only replica. Time is passed in, so
//! the decisions are pure and tested without waiting.
//!
//! The sessions live in the active controller's memory only: a new leader of the quorum
//! `restart`s them, giving every broker a full session before it can be fenced.
//!
//! Controlled shutdown (KIP-631's `want_shut_down`): a broker about to stop says so in its
//! heartbeats; each such heartbeat takes one step (`shut_down_step`): its leaderships move to
//! another in-sync broker and it leaves the ISRs where others are in sync; once nothing is left
//! to move, it is fenced, and the controller tells it to stop. Which brokers are shutting down
//! is memory too: the broker keeps asking, so a new active controller learns it again.

use std::collections::{BTreeMap, BTreeSet};

use crate::image::MetadataImage;
use crate::records::MetadataRecord;

pub struct Liveness {
    session_timeout_ms: u64,
    /// Broker id -> the time of its last heartbeat.
    last_heard: BTreeMap<i32, u64>,
    /// Brokers in controlled shutdown: no leadership goes to them.
    shutting_down: BTreeSet<i32>,
}

impl Liveness {
    pub fn new(session_timeout_ms: u64) -> Liveness {
        Liveness {
            session_timeout_ms,
            last_heard: BTreeMap::new(),
            shutting_down: BTreeSet::new(),
        }
    }

    /// Every registered broker starts a full session at `now_ms` (this node just became the
    /// active controller and has heard no one yet).
    pub fn restart(&mut self, image: &MetadataImage, now_ms: u64) {
        self.last_heard = image.brokers.keys().map(|id| (*id, now_ms)).collect();
        self.shutting_down.clear();
    }

    /// The broker asked to shut down; until it registers again it gets no leadership.
    pub fn begin_shut_down(&mut self, broker_id: i32) {
        self.shutting_down.insert(broker_id);
    }

    pub fn shutting_down(&self) -> &BTreeSet<i32> {
        &self.shutting_down
    }

    pub fn is_shutting_down(&self, broker_id: i32) -> bool {
        self.shutting_down.contains(&broker_id)
    }

    /// A new incarnation of the broker registered: whatever the last one asked is over.
    pub fn registered(&mut self, broker_id: i32) {
        self.shutting_down.remove(&broker_id);
    }

    /// The next step of `broker_id`'s controlled shutdown: every leadership it holds moved to
    /// another in-sync broker that is live and not shutting down, and its removal from the
    /// ISRs where others are in sync; once nothing of that is left, its fencing (`fence`: a
    /// partition only it has in sync goes offline, as when it is lost, and comes back with
    /// it).
    pub fn shut_down_step(&self, image: &MetadataImage, broker_id: i32) -> Vec<MetadataRecord> {
        let usable = |b: &i32| {
            *b != broker_id
                && !self.shutting_down.contains(b)
                && image.brokers.get(b).is_some_and(|x| !x.fenced)
        };
        let mut records = Vec::new();
        for topic in image.topics.values() {
            for (partition, p) in &topic.partitions {
                if !p.isr.contains(&broker_id) {
                    continue;
                }
                let others: Vec<i32> = p.isr.iter().copied().filter(|r| *r != broker_id).collect();
                let leader = if p.leader == broker_id {
                    match others.iter().find(|r| usable(r)) {
                        Some(next) => Some(*next),
                        // No one else can take it: it stays, and goes offline with the fence.
                        None => continue,
                    }
                } else if others.is_empty() {
                    continue;
                } else {
                    None
                };
                records.push(MetadataRecord::PartitionChange {
                    topic_id: topic.topic_id.clone(),
                    partition: *partition,
                    leader,
                    isr: Some(others),
                    replicas: None,
                });
            }
        }
        if records.is_empty() {
            self.fence(image, &[broker_id])
        } else {
            records
        }
    }

    pub fn heartbeat(&mut self, broker_id: i32, now_ms: u64) {
        self.last_heard.insert(broker_id, now_ms);
    }

    /// The records that fence every unfenced broker whose session ran out by `now_ms` and move
    /// the leadership of its partitions, in one batch.
    pub fn expired(&self, image: &MetadataImage, now_ms: u64) -> Vec<MetadataRecord> {
        let lost: Vec<i32> = image
            .brokers
            .iter()
            .filter(|(id, b)| {
                !b.fenced
                    && self
                        .last_heard
                        .get(id)
                        .is_none_or(|heard| now_ms.saturating_sub(*heard) > self.session_timeout_ms)
            })
            .map(|(id, _)| *id)
            .collect();
        self.fence(image, &lost)
    }

    /// The records that fence the brokers `lost` and move the leadership of their partitions
    /// to in-sync brokers that are live and not shutting down (none when `lost` is empty).
    pub fn fence(&self, image: &MetadataImage, lost: &[i32]) -> Vec<MetadataRecord> {
        let mut records: Vec<MetadataRecord> = lost
            .iter()
            .map(|id| MetadataRecord::FenceBroker {
                broker_id: *id,
                epoch: image.brokers[id].epoch,
            })
            .collect();
        let usable = |b: &i32| {
            !lost.contains(b)
                && !self.shutting_down.contains(b)
                && image.brokers.get(b).is_some_and(|x| !x.fenced)
        };
        for topic in image.topics.values() {
            for (partition, p) in &topic.partitions {
                if !lost.contains(&p.leader) {
                    // A lost follower leaves the ISR (as KRaft's controller does on fencing), so
                    // that acks=all need not wait for it; the leader takes it back once it has
                    // caught up again.
                    if p.isr.iter().any(|r| lost.contains(r)) {
                        let isr: Vec<i32> = p
                            .isr
                            .iter()
                            .copied()
                            .filter(|r| !lost.contains(r))
                            .collect();
                        if !isr.is_empty() {
                            records.push(MetadataRecord::PartitionChange {
                                topic_id: topic.topic_id.clone(),
                                partition: *partition,
                                leader: None,
                                isr: Some(isr),
                                replicas: None,
                            });
                        }
                    }
                    continue;
                }
                let isr: Vec<i32> = p.isr.iter().copied().filter(|r| usable(r)).collect();
                let unclean = topic
                    .configs
                    .get("unclean.leader.election.enable")
                    .is_some_and(|v| v == "true");
                let (leader, isr) = match isr.first() {
                    Some(first) => (*first, isr.clone()),
                    // A topic that prefers availability to its acknowledged records (Kafka's
                    // unclean.leader.election.enable) takes any live replica.
                    None if unclean => match p.replicas.iter().find(|r| usable(r)) {
                        Some(any) => (*any, vec![*any]),
                        None => (-1, p.isr.clone()),
                    },
                    // With no one else in sync, the ISR keeps the last leader: it holds every
                    // acknowledged record, so only it may lead again.
                    None => (-1, p.isr.clone()),
                };
                records.push(MetadataRecord::PartitionChange {
                    topic_id: topic.topic_id.clone(),
                    partition: *partition,
                    leader: Some(leader),
                    isr: Some(isr),
                    replicas: None,
                });
            }
        }
        if lost.is_empty() {
            Vec::new()
        } else {
            records
        }
    }
}

/// What unfencing `broker_id` (caught up after registering at `epoch`) writes: the unfence, and
/// the leadership back for every partition left without a leader that has it in its ISR (with
/// one replica, the partitions it took offline when it was lost).
pub fn unfence(image: &MetadataImage, broker_id: i32, epoch: i64) -> Vec<MetadataRecord> {
    let mut records = vec![MetadataRecord::UnfenceBroker { broker_id, epoch }];
    for topic in image.topics.values() {
        for (partition, p) in &topic.partitions {
            if p.leader == -1 && p.isr.contains(&broker_id) {
                records.push(MetadataRecord::PartitionChange {
                    topic_id: topic.topic_id.clone(),
                    partition: *partition,
                    leader: Some(broker_id),
                    isr: None,
                    replicas: None,
                });
            }
        }
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{Endpoint, MetadataBatch};

    fn image() -> MetadataImage {
        let mut image = MetadataImage::default();
        let mut records = Vec::new();
        for b in 0..3 {
            records.push(MetadataRecord::RegisterBroker {
                broker_id: b,
                incarnation: format!("i{b}"),
                epoch: 1,
                endpoint: Endpoint {
                    host: "127.0.0.1".into(),
                    port: 9092,
                },
                rack: None,
                shards: 2,
            });
            records.push(MetadataRecord::UnfenceBroker {
                broker_id: b,
                epoch: 1,
            });
        }
        records.push(MetadataRecord::Topic {
            name: "t".into(),
            topic_id: "t-id".into(),
        });
        // Partition 0 on broker 1 alone; partition 1 led by 1 with 2 in sync; 2 led by 0.
        for (p, replicas, leader) in [(0, vec![1], 1), (1, vec![1, 2], 1), (2, vec![0, 1], 0)] {
            records.push(MetadataRecord::Partition {
                topic_id: "t-id".into(),
                partition: p,
                replicas: replicas.clone(),
                isr: replicas,
                leader,
            });
        }
        image.apply(1, &MetadataBatch::new(records)).unwrap();
        image
    }

    #[test]
    fn an_unclean_election_takes_a_live_replica_out_of_sync_only_where_the_topic_allows_it() {
        let mut image = image();
        // Partition 2's ISR is its leader alone; broker 1 is a replica out of sync.
        let shrink = MetadataRecord::PartitionChange {
            topic_id: "t-id".into(),
            partition: 2,
            leader: None,
            isr: Some(vec![0]),
            replicas: None,
        };
        image.apply(2, &MetadataBatch::new(vec![shrink])).unwrap();
        let mut live = Liveness::new(9_000);
        live.restart(&image, 0);
        live.heartbeat(1, 9_500);
        live.heartbeat(2, 9_500);
        let clean = live.expired(&image, 10_000);
        assert!(clean.iter().any(|r| matches!(
            r,
            MetadataRecord::PartitionChange {
                partition: 2,
                leader: Some(-1),
                ..
            }
        )));
        let allow = MetadataRecord::Config {
            resource: crate::records::ConfigResource::Topic { name: "t".into() },
            name: "unclean.leader.election.enable".into(),
            value: Some("true".into()),
        };
        image.apply(3, &MetadataBatch::new(vec![allow])).unwrap();
        let unclean = live.expired(&image, 10_000);
        assert!(
            unclean.iter().any(|r| matches!(r,
            MetadataRecord::PartitionChange { partition: 2, leader: Some(1), isr: Some(isr), .. }
                if *isr == vec![1])),
            "{unclean:?}"
        );
    }

    #[test]
    fn a_broker_that_stops_heartbeating_is_fenced_and_its_partitions_move_or_go_offline() {
        let mut image = image();
        let mut live = Liveness::new(9_000);
        live.restart(&image, 0);
        assert!(
            live.expired(&image, 9_000).is_empty(),
            "a full session first"
        );
        live.heartbeat(0, 5_000);
        live.heartbeat(2, 5_000);
        let records = live.expired(&image, 12_000);
        assert!(matches!(
            records[0],
            MetadataRecord::FenceBroker {
                broker_id: 1,
                epoch: 1
            }
        ));
        image.apply(2, &MetadataBatch::new(records)).unwrap();
        assert!(image.brokers[&1].fenced);
        let t = image.topic_by_name("t").unwrap();
        let (p0, p1, p2) = (&t.partitions[&0], &t.partitions[&1], &t.partitions[&2]);
        assert_eq!(
            (p0.leader, p0.isr.clone()),
            (-1, vec![1]),
            "its only replica: offline"
        );
        assert_eq!(
            (p1.leader, p1.isr.clone(), p1.leader_epoch),
            (2, vec![2], 1)
        );
        assert_eq!(
            (p2.leader, p2.leader_epoch),
            (0, 0),
            "led elsewhere: untouched"
        );
        // Fenced already: not fenced again.
        assert!(live
            .expired(&image, 20_000)
            .iter()
            .all(|r| !matches!(r, MetadataRecord::FenceBroker { broker_id: 1, .. })));
    }

    #[test]
    fn a_broker_shutting_down_hands_its_leaderships_on_then_is_fenced() {
        let mut image = image();
        let mut live = Liveness::new(9_000);
        live.restart(&image, 0);
        live.begin_shut_down(1);
        let moves = live.shut_down_step(&image, 1);
        assert!(
            moves
                .iter()
                .all(|r| !matches!(r, MetadataRecord::FenceBroker { .. })),
            "leaderships move before the fence: {moves:?}"
        );
        image.apply(2, &MetadataBatch::new(moves)).unwrap();
        let t = image.topic_by_name("t").unwrap();
        let (p0, p1, p2) = (&t.partitions[&0], &t.partitions[&1], &t.partitions[&2]);
        assert_eq!(
            (p1.leader, p1.isr.clone(), p1.leader_epoch),
            (2, vec![2], 1)
        );
        assert_eq!((p2.leader, p2.isr.clone()), (0, vec![0]), "out of the ISR");
        assert_eq!(
            (p0.leader, p0.isr.clone()),
            (1, vec![1]),
            "only it: kept for now"
        );
        let fence = live.shut_down_step(&image, 1);
        assert!(matches!(
            fence[0],
            MetadataRecord::FenceBroker { broker_id: 1, .. }
        ));
        image.apply(3, &MetadataBatch::new(fence)).unwrap();
        assert!(image.brokers[&1].fenced);
        let p0 = &image.topic_by_name("t").unwrap().partitions[&0];
        assert_eq!(
            (p0.leader, p0.isr.clone()),
            (-1, vec![1]),
            "offline until it returns"
        );
    }

    #[test]
    fn no_leadership_goes_to_a_broker_that_is_shutting_down() {
        let image = image();
        let mut live = Liveness::new(9_000);
        live.restart(&image, 0);
        live.begin_shut_down(2);
        live.begin_shut_down(1);
        // Partition 1's other in-sync broker (2) is stopping too: it stays with 1.
        let moves = live.shut_down_step(&image, 1);
        assert!(
            moves
                .iter()
                .all(|r| !matches!(r, MetadataRecord::PartitionChange { partition: 1, .. })),
            "{moves:?}"
        );
        // Nor does a fence elect it.
        live.heartbeat(0, 9_500);
        live.heartbeat(2, 9_500);
        let fenced = live.expired(&image, 10_000);
        assert!(
            fenced.iter().any(|r| matches!(
                r,
                MetadataRecord::PartitionChange {
                    partition: 1,
                    leader: Some(-1),
                    ..
                }
            )),
            "{fenced:?}"
        );
        live.registered(2);
        assert!(!live.is_shutting_down(2));
    }
}
