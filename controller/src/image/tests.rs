use proptest::prelude::*;

use super::*;

fn endpoint(id: i32) -> Endpoint {
    Endpoint {
        host: "127.0.0.1".into(),
        port: 9092 + id as u16,
    }
}

fn register(broker_id: i32, epoch: i64) -> MetadataRecord {
    MetadataRecord::RegisterBroker {
        broker_id,
        incarnation: format!("inc-{broker_id}-{epoch}"),
        epoch,
        endpoint: endpoint(broker_id),
        rack: None,
        shards: 2,
    }
}

fn batch(records: Vec<MetadataRecord>) -> MetadataBatch {
    MetadataBatch::new(records)
}

/// A cluster of brokers 0 and 1, unfenced, and topic "t" (id "t-id") of two partitions led by
/// 0 and 1.
fn two_brokers_one_topic() -> MetadataImage {
    let mut image = MetadataImage::default();
    let records = vec![
        register(0, 1),
        register(1, 2),
        MetadataRecord::UnfenceBroker {
            broker_id: 0,
            epoch: 1,
        },
        MetadataRecord::UnfenceBroker {
            broker_id: 1,
            epoch: 2,
        },
        MetadataRecord::Topic {
            name: "t".into(),
            topic_id: "t-id".into(),
        },
        MetadataRecord::Partition {
            topic_id: "t-id".into(),
            partition: 0,
            replicas: vec![0, 1],
            isr: vec![0, 1],
            leader: 0,
        },
        MetadataRecord::Partition {
            topic_id: "t-id".into(),
            partition: 1,
            replicas: vec![1],
            isr: vec![1],
            leader: 1,
        },
    ];
    image.apply(1, &batch(records)).unwrap();
    image
}

#[test]
fn a_new_leader_starts_a_leader_epoch_and_every_change_a_partition_epoch() {
    let mut image = two_brokers_one_topic();
    let change = |leader: Option<i32>, isr: Option<Vec<i32>>| MetadataRecord::PartitionChange {
        topic_id: "t-id".into(),
        partition: 0,
        leader,
        isr,
        replicas: None,
    };
    image
        .apply(2, &batch(vec![change(None, Some(vec![0]))]))
        .unwrap();
    image.apply(3, &batch(vec![change(Some(0), None)])).unwrap();
    let p = &image.topic_by_name("t").unwrap().partitions[&0];
    assert_eq!(
        (p.leader_epoch, p.partition_epoch),
        (0, 2),
        "same leader: no new leader epoch"
    );
    image
        .apply(4, &batch(vec![change(Some(-1), None)]))
        .unwrap();
    let p = &image.topic_by_name("t").unwrap().partitions[&0];
    assert_eq!((p.leader, p.leader_epoch, p.partition_epoch), (-1, 1, 3));
    // A leader outside the in-sync replicas is refused.
    let err = image
        .apply(5, &batch(vec![change(Some(1), None)]))
        .unwrap_err();
    assert!(err.reason.contains("not in sync"), "{err}");
}

#[test]
fn records_that_do_not_fit_the_image_are_refused_naming_why() {
    let mut image = two_brokers_one_topic();
    let refused = |image: &mut MetadataImage, record: MetadataRecord| {
        let before = image.clone();
        let err = image
            .apply(image.applied_index + 1, &batch(vec![record]))
            .unwrap_err();
        assert_eq!(*image, before);
        err.reason
    };
    let fence_stale = MetadataRecord::FenceBroker {
        broker_id: 0,
        epoch: 7,
    };
    assert!(refused(&mut image, fence_stale).contains("epoch 1, not 7"));
    assert!(refused(&mut image, register(0, 1)).contains("not above 1"));
    let again = MetadataRecord::Topic {
        name: "t".into(),
        topic_id: "other".into(),
    };
    assert!(refused(&mut image, again).contains("exists"));
    let gap = MetadataRecord::Partition {
        topic_id: "t-id".into(),
        partition: 5,
        replicas: vec![0],
        isr: vec![0],
        leader: 0,
    };
    assert!(refused(&mut image, gap).contains("the next one is 2"));
    let config = MetadataRecord::Config {
        resource: ConfigResource::Topic {
            name: "nope".into(),
        },
        name: "retention.ms".into(),
        value: Some("1".into()),
    };
    assert!(refused(&mut image, config).contains("no topic nope"));
    let pids = |next| MetadataRecord::ProducerIds {
        broker_id: 1,
        broker_epoch: 2,
        next_producer_id: next,
    };
    image.apply(2, &batch(vec![pids(1000)])).unwrap();
    assert!(refused(&mut image, pids(1000)).contains("handed out already"));
    let replay = image.apply(2, &batch(vec![])).unwrap_err();
    assert!(replay.reason.contains("already applied"));
}

#[test]
fn a_batch_is_applied_whole_or_not_at_all() {
    let mut image = two_brokers_one_topic();
    let before = image.clone();
    let records = vec![
        MetadataRecord::Topic {
            name: "u".into(),
            topic_id: "u-id".into(),
        },
        MetadataRecord::Partition {
            topic_id: "missing".into(),
            partition: 0,
            replicas: vec![0],
            isr: vec![0],
            leader: 0,
        },
    ];
    let err = image.apply(2, &batch(records)).unwrap_err();
    assert_eq!(err.record, 1);
    assert_eq!(image, before, "the topic of record 0 is not left behind");
}

/// What a controller might do next; `entry_for` turns it into records valid for the image at
/// hand (or none), as the controller only writes records that fit.
#[derive(Debug, Clone)]
enum Op {
    Register(i32),
    Unfence(i32),
    Fence(i32),
    CreateTopic(u8, u8),
    Lead(u8, u8, i32),
    Shrink(u8, u8),
    Remove(u8),
    Config(Option<u8>, Option<u16>),
    ProducerIds(i32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3i32).prop_map(Op::Register),
        (0..3i32).prop_map(Op::Unfence),
        (0..3i32).prop_map(Op::Fence),
        (0..4u8, 1..4u8).prop_map(|(t, n)| Op::CreateTopic(t, n)),
        (0..4u8, 0..4u8, -1..3i32).prop_map(|(t, p, l)| Op::Lead(t, p, l)),
        (0..4u8, 0..4u8).prop_map(|(t, p)| Op::Shrink(t, p)),
        (0..4u8).prop_map(Op::Remove),
        (
            proptest::option::of(0..4u8),
            proptest::option::of(0..100u16)
        )
            .prop_map(|(t, v)| Op::Config(t, v)),
        (0..3i32).prop_map(Op::ProducerIds),
    ]
}

fn entry_for(image: &MetadataImage, op: &Op, seq: usize) -> Vec<MetadataRecord> {
    let topic = |t: u8| image.topic_by_name(&format!("topic-{t}"));
    match op {
        Op::Register(b) => {
            let epoch = image.brokers.get(b).map_or(0, |x| x.epoch) + 1;
            vec![register(*b, epoch)]
        }
        Op::Unfence(b) | Op::Fence(b) => match image.brokers.get(b) {
            Some(x) if matches!(op, Op::Unfence(_)) => {
                vec![MetadataRecord::UnfenceBroker {
                    broker_id: *b,
                    epoch: x.epoch,
                }]
            }
            Some(x) => vec![MetadataRecord::FenceBroker {
                broker_id: *b,
                epoch: x.epoch,
            }],
            None => vec![],
        },
        Op::CreateTopic(t, n) => {
            if topic(*t).is_some() || image.brokers.is_empty() {
                return vec![];
            }
            let topic_id = format!("id-{seq}");
            let brokers: Vec<i32> = image.brokers.keys().copied().collect();
            let mut records = vec![MetadataRecord::Topic {
                name: format!("topic-{t}"),
                topic_id: topic_id.clone(),
            }];
            for p in 0..*n as i32 {
                let leader = brokers[p as usize % brokers.len()];
                records.push(MetadataRecord::Partition {
                    topic_id: topic_id.clone(),
                    partition: p,
                    replicas: brokers.clone(),
                    isr: brokers.clone(),
                    leader,
                });
            }
            records
        }
        Op::Lead(t, p, leader) => {
            match topic(*t).and_then(|x| x.partitions.get(&(*p as i32)).map(|q| (x, q))) {
                Some((x, q)) if *leader == -1 || q.isr.contains(leader) => {
                    vec![MetadataRecord::PartitionChange {
                        topic_id: x.topic_id.clone(),
                        partition: *p as i32,
                        leader: Some(*leader),
                        isr: None,
                        replicas: None,
                    }]
                }
                _ => vec![],
            }
        }
        Op::Shrink(t, p) => {
            match topic(*t).and_then(|x| x.partitions.get(&(*p as i32)).map(|q| (x, q))) {
                Some((x, q)) => {
                    let isr: Vec<i32> = q
                        .isr
                        .iter()
                        .copied()
                        .filter(|r| *r == q.leader || q.leader == -1)
                        .collect();
                    vec![MetadataRecord::PartitionChange {
                        topic_id: x.topic_id.clone(),
                        partition: *p as i32,
                        leader: None,
                        isr: Some(isr),
                        replicas: None,
                    }]
                }
                None => vec![],
            }
        }
        Op::Remove(t) => topic(*t)
            .map(|x| {
                vec![MetadataRecord::RemoveTopic {
                    topic_id: x.topic_id.clone(),
                }]
            })
            .unwrap_or_default(),
        Op::Config(t, v) => {
            let resource = match t {
                Some(t) if topic(*t).is_some() => ConfigResource::Topic {
                    name: format!("topic-{t}"),
                },
                Some(_) => return vec![],
                None => ConfigResource::Broker { id: None },
            };
            vec![MetadataRecord::Config {
                resource,
                name: "retention.ms".into(),
                value: v.map(|v| v.to_string()),
            }]
        }
        Op::ProducerIds(b) => match image.brokers.get(b) {
            Some(x) => vec![MetadataRecord::ProducerIds {
                broker_id: *b,
                broker_epoch: x.epoch,
                next_producer_id: image.next_producer_id + 1000,
            }],
            None => vec![],
        },
    }
}

/// The entries a controller writes for `ops`, in log order (indexes from 1).
fn log_of(ops: &[Op]) -> Vec<MetadataBatch> {
    let mut image = MetadataImage::default();
    let mut log = Vec::new();
    for (seq, op) in ops.iter().enumerate() {
        let records = entry_for(&image, op, seq);
        if records.is_empty() {
            continue;
        }
        let entry = batch(records);
        image
            .apply(log.len() as u64 + 1, &entry)
            .unwrap_or_else(|e| panic!("the model wrote a record that does not fit: {e}"));
        log.push(entry);
    }
    log
}

fn replay(entries: &[MetadataBatch], from: MetadataImage, first_index: u64) -> MetadataImage {
    let mut image = from;
    for (i, entry) in entries.iter().enumerate() {
        image.apply(first_index + i as u64, entry).unwrap();
    }
    image
}

proptest! {
    /// An image saved at any entry (as a snapshot is, serialized) and given the rest equals the
    /// image that applied them all; entries travel encoded, as they do in the log.
    #[test]
    fn a_snapshot_plus_the_rest_of_the_log_is_the_whole_log(ops in proptest::collection::vec(op(), 1..60), cut in 0usize..60) {
        let log: Vec<MetadataBatch> = log_of(&ops)
            .iter()
            .map(|e| MetadataBatch::decode(&e.encode()).unwrap())
            .collect();
        let whole = replay(&log, MetadataImage::default(), 1);
        let cut = cut.min(log.len());
        let at_cut = replay(&log[..cut], MetadataImage::default(), 1);
        let snapshot: MetadataImage =
            serde_json::from_slice(&serde_json::to_vec(&at_cut).unwrap()).unwrap();
        prop_assert_eq!(replay(&log[cut..], snapshot, cut as u64 + 1), whole);
    }

    /// Epochs only grow: a partition's leader epoch with each new leader, its partition epoch
    /// with each change; a broker's epoch with each registration.
    #[test]
    fn epochs_only_grow(ops in proptest::collection::vec(op(), 1..80)) {
        let log = log_of(&ops);
        let mut image = MetadataImage::default();
        for (i, entry) in log.iter().enumerate() {
            let before = image.clone();
            image.apply(i as u64 + 1, entry).unwrap();
            for (id, topic) in &image.topics {
                for (p, now) in &topic.partitions {
                    if let Some(was) = before.topics.get(id).and_then(|t| t.partitions.get(p)) {
                        let changes = entry.records.iter().filter(|r| matches!(r,
                            MetadataRecord::PartitionChange { topic_id, partition, .. }
                                if topic_id == id && partition == p)).count() as i32;
                        prop_assert_eq!(now.partition_epoch, was.partition_epoch + changes);
                        prop_assert!(now.leader_epoch >= was.leader_epoch);
                        prop_assert_eq!(now.leader_epoch > was.leader_epoch, now.leader != was.leader);
                    }
                }
            }
            for (id, b) in &image.brokers {
                if let Some(was) = before.brokers.get(id) {
                    prop_assert!(b.epoch >= was.epoch);
                }
            }
        }
    }
}
