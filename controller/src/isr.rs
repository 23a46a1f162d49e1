//! A leader's request to change a partition's in-sync replicas (Kafka's AlterPartition,
//! KIP-497), decided against the committed image: only the partition's current leader, in its
//! current leader epoch, naming the partition epoch it last saw, may change it; the new set
//! keeps the leader, stays within the replicas, and adds no fenced broker and no broker in
//! controlled shutdown (KIP-841's INELIGIBLE_REPLICA).

use std::collections::BTreeSet;

use crate::image::MetadataImage;
use crate::records::MetadataRecord;

/// Kafka's error codes for a refused change.
pub const NOT_LEADER_OR_FOLLOWER: i16 = 6;
pub const FENCED_LEADER_EPOCH: i16 = 74;
pub const UNKNOWN_TOPIC_ID: i16 = 100;
pub const INELIGIBLE_REPLICA: i16 = 107;
pub const INVALID_UPDATE_VERSION: i16 = 108;
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

/// One partition's requested change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrChange {
    pub topic_id: String,
    pub partition: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub new_isr: Vec<i32>,
}

/// The record that makes the change, or the error code that refuses it.
pub fn decide(
    image: &MetadataImage,
    broker: i32,
    change: &IsrChange,
) -> Result<MetadataRecord, i16> {
    decide_excluding(image, broker, change, &BTreeSet::new())
}

/// As `decide`, with `stopping` the brokers in controlled shutdown: kept where they are in
/// sync, never added (else a leader would take back a broker the controller just took out).
pub fn decide_excluding(
    image: &MetadataImage,
    broker: i32,
    change: &IsrChange,
    stopping: &BTreeSet<i32>,
) -> Result<MetadataRecord, i16> {
    let topic = image.topics.get(&change.topic_id).ok_or(UNKNOWN_TOPIC_ID)?;
    let p = topic
        .partitions
        .get(&change.partition)
        .ok_or(UNKNOWN_TOPIC_OR_PARTITION)?;
    if p.leader != broker {
        return Err(NOT_LEADER_OR_FOLLOWER);
    }
    if change.leader_epoch != p.leader_epoch {
        return Err(FENCED_LEADER_EPOCH);
    }
    if change.partition_epoch != p.partition_epoch {
        return Err(INVALID_UPDATE_VERSION);
    }
    let eligible = |r: &i32| {
        p.replicas.contains(r)
            && (p.isr.contains(r)
                || (!stopping.contains(r) && image.brokers.get(r).is_some_and(|b| !b.fenced)))
    };
    if !change.new_isr.contains(&broker) || !change.new_isr.iter().all(eligible) {
        return Err(INELIGIBLE_REPLICA);
    }
    Ok(MetadataRecord::PartitionChange {
        topic_id: change.topic_id.clone(),
        partition: change.partition,
        leader: None,
        isr: Some(change.new_isr.clone()),
        replicas: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{Endpoint, MetadataBatch};

    fn image() -> MetadataImage {
        let mut image = MetadataImage::default();
        let mut records = Vec::new();
        for id in 1..=3 {
            records.push(MetadataRecord::RegisterBroker {
                broker_id: id,
                incarnation: format!("i{id}"),
                epoch: i64::from(id),
                endpoint: Endpoint {
                    host: "h".into(),
                    port: 1,
                },
                rack: None,
                shards: 1,
            });
        }
        records.push(MetadataRecord::Topic {
            name: "t".into(),
            topic_id: "id".into(),
        });
        records.push(MetadataRecord::Partition {
            topic_id: "id".into(),
            partition: 0,
            replicas: vec![1, 2, 3],
            isr: vec![1, 2, 3],
            leader: 1,
        });
        image.apply(1, &MetadataBatch::new(records)).unwrap();
        for id in 1..=3 {
            let epoch = image.brokers[&id].epoch;
            image
                .apply(
                    image.applied_index + 1,
                    &MetadataBatch::new(vec![MetadataRecord::UnfenceBroker {
                        broker_id: id,
                        epoch,
                    }]),
                )
                .unwrap();
        }
        image
    }

    fn change(new_isr: &[i32], leader_epoch: i32, partition_epoch: i32) -> IsrChange {
        IsrChange {
            topic_id: "id".into(),
            partition: 0,
            leader_epoch,
            partition_epoch,
            new_isr: new_isr.to_vec(),
        }
    }

    #[test]
    fn only_the_current_leader_of_the_current_epochs_changes_the_isr() {
        let image = image();
        let p = &image.topics["id"].partitions[&0];
        let (le, pe) = (p.leader_epoch, p.partition_epoch);
        assert!(decide(&image, 1, &change(&[1, 2], le, pe)).is_ok());
        assert_eq!(
            decide(&image, 2, &change(&[1, 2], le, pe)),
            Err(NOT_LEADER_OR_FOLLOWER)
        );
        assert_eq!(
            decide(&image, 1, &change(&[1, 2], le + 1, pe)),
            Err(FENCED_LEADER_EPOCH)
        );
        assert_eq!(
            decide(&image, 1, &change(&[1, 2], le, pe + 1)),
            Err(INVALID_UPDATE_VERSION)
        );
        assert_eq!(
            decide(&image, 1, &change(&[2, 3], le, pe)),
            Err(INELIGIBLE_REPLICA)
        );
        assert_eq!(
            decide(&image, 1, &change(&[1, 4], le, pe)),
            Err(INELIGIBLE_REPLICA)
        );
    }

    #[test]
    fn a_fenced_broker_may_stay_but_not_join() {
        let mut image = image();
        let shrink = decide(&image, 1, &change(&[1, 2], 0, 0)).unwrap();
        image
            .apply(image.applied_index + 1, &MetadataBatch::new(vec![shrink]))
            .unwrap();
        let epoch = image.brokers[&3].epoch;
        image
            .apply(
                image.applied_index + 1,
                &MetadataBatch::new(vec![MetadataRecord::FenceBroker {
                    broker_id: 3,
                    epoch,
                }]),
            )
            .unwrap();
        let pe = image.topics["id"].partitions[&0].partition_epoch;
        assert_eq!(
            decide(&image, 1, &change(&[1, 2, 3], 0, pe)),
            Err(INELIGIBLE_REPLICA)
        );
        assert!(decide(&image, 1, &change(&[1], 0, pe)).is_ok());
    }

    #[test]
    fn a_broker_in_controlled_shutdown_is_not_taken_back_into_the_isr() {
        let mut image = image();
        let shrink = decide(&image, 1, &change(&[1, 3], 0, 0)).unwrap();
        image
            .apply(image.applied_index + 1, &MetadataBatch::new(vec![shrink]))
            .unwrap();
        let pe = image.topics["id"].partitions[&0].partition_epoch;
        let stopping: BTreeSet<i32> = [2, 3].into();
        assert_eq!(
            decide_excluding(&image, 1, &change(&[1, 2, 3], 0, pe), &stopping),
            Err(INELIGIBLE_REPLICA),
            "2 may not join"
        );
        assert!(
            decide_excluding(&image, 1, &change(&[1, 3], 0, pe), &stopping).is_ok(),
            "3 may stay"
        );
        assert!(decide_excluding(&image, 1, &change(&[1, 2, 3], 0, pe), &BTreeSet::new()).is_ok());
    }
}
