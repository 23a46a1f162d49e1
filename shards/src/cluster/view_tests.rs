//! The image as the shards see it, and topic changes as records: placed over live brokers,
//! applied back to the same table, partitions added and removed by topic id.

use std::collections::BTreeMap;

use strata_controller::{Endpoint, MetadataBatch, MetadataImage, MetadataRecord};

use super::changes::{offsets_topic, records_between};
use super::view::{change_between, table_of, OFFSETS_TOPIC};
use crate::router::PartitionKey;
use crate::topics::{TopicSpec, TopicTable};

fn cluster(brokers: &[(i32, bool)]) -> MetadataImage {
    let mut image = MetadataImage::default();
    let mut records = Vec::new();
    for (id, live) in brokers {
        records.push(MetadataRecord::RegisterBroker {
            broker_id: *id,
            incarnation: format!("i{id}"),
            epoch: 1,
            endpoint: Endpoint {
                host: "127.0.0.1".into(),
                port: 9092 + *id as u16,
            },
            rack: None,
            shards: 2,
        });
        if *live {
            records.push(MetadataRecord::UnfenceBroker {
                broker_id: *id,
                epoch: 1,
            });
        }
    }
    image.apply(1, &MetadataBatch::new(records)).unwrap();
    image
}

/// Decides on `image`'s table with `change`, commits the records: the new image.
fn commit(image: &MetadataImage, change: impl FnOnce(&mut TopicTable)) -> MetadataImage {
    let old = table_of(image, 0);
    let mut new = old.clone();
    change(&mut new);
    let records = records_between(&old, &new, image).unwrap();
    let mut next = image.clone();
    next.apply(image.applied_index + 1, &MetadataBatch::new(records))
        .unwrap();
    next
}

fn create(table: &mut TopicTable, name: &str, partitions: i32) {
    let spec = TopicSpec::new(name.into(), partitions, BTreeMap::new());
    table.topics.insert(name.into(), spec);
}

#[test]
fn a_created_topic_is_spread_over_the_live_brokers_and_reads_back_as_decided() {
    let image = cluster(&[(0, true), (1, true), (2, true), (3, false)]);
    let image = commit(&image, |t| {
        create(t, "orders", 12);
        t.topics
            .get_mut("orders")
            .unwrap()
            .configs
            .insert("retention.ms".into(), "1000".into());
        t.broker_configs
            .insert("log.retention.ms".into(), "5000".into());
    });
    let table = table_of(&image, 1);
    let spec = &table.topics["orders"];
    assert_eq!(spec.partitions, 12);
    assert_eq!(spec.configs["retention.ms"], "1000");
    assert_eq!(table.broker_configs["log.retention.ms"], "5000");
    let mut led = BTreeMap::new();
    for p in &spec.places {
        assert_eq!(p.replicas, vec![p.leader]);
        *led.entry(p.leader).or_insert(0) += 1;
    }
    // Four each over the three live brokers; the fenced one gets none.
    assert_eq!(led, BTreeMap::from([(0, 4), (1, 4), (2, 4)]));
    assert_eq!(
        table.cluster.brokers.keys().copied().collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert_eq!(table.cluster.controller_id, 1);
}

#[test]
fn growing_altering_and_deleting_are_the_records_of_the_difference() {
    let image = cluster(&[(0, true), (1, true)]);
    let image = commit(&image, |t| create(t, "a", 2));
    let image = commit(&image, |t| {
        let a = t.topics.get_mut("a").unwrap();
        a.partitions = 5;
        a.configs.insert("cleanup.policy".into(), "compact".into());
    });
    let table = table_of(&image, 0);
    assert_eq!(table.topics["a"].places.len(), 5);
    assert_eq!(table.topics["a"].configs["cleanup.policy"], "compact");
    let image = commit(&image, |t| {
        t.topics.get_mut("a").unwrap().configs.clear();
    });
    assert!(table_of(&image, 0).topics["a"].configs.is_empty());
    let image = commit(&image, |t| {
        t.topics.remove("a");
    });
    assert!(table_of(&image, 0).topics.is_empty());
}

#[test]
fn a_topic_deleted_and_created_again_under_its_name_is_new_to_its_brokers() {
    let image = cluster(&[(0, true)]);
    let first = commit(&image, |t| create(t, "t", 1));
    let gone = commit(&first, |t| {
        t.topics.remove("t");
    });
    let again = commit(&gone, |t| create(t, "t", 1));
    let key = PartitionKey {
        topic: "t".into(),
        partition: 0,
    };
    // Seen only before and after (the deletion missed): removed and added both.
    let change = change_between(&table_of(&first, 0), &table_of(&again, 0), 0);
    assert_eq!(change.removed, vec![key.clone()]);
    assert_eq!(change.added, vec![key]);
    // Another broker keeps no replica of it: nothing changes there.
    let elsewhere = change_between(&table_of(&first, 0), &table_of(&again, 0), 7);
    assert!(elsewhere.removed.is_empty() && elsewhere.added.is_empty());
}

#[test]
fn the_offsets_topic_sets_coordinators_and_is_a_replicated_topic_kept_for_good() {
    let image = cluster(&[(0, true), (1, true), (2, true)]);
    let mut next = image.clone();
    let records = offsets_topic(&image, 50, 3, 100 << 20).unwrap();
    next.apply(2, &MetadataBatch::new(records)).unwrap();
    let table = table_of(&next, 0);
    let spec = &table.topics[OFFSETS_TOPIC];
    assert_eq!(spec.replication_factor, 3);
    assert!(spec.places.iter().all(|p| p.replicas.len() == 3));
    assert_eq!(spec.configs["retention.ms"], "-1");
    assert_eq!(spec.configs["segment.bytes"], "104857600");
    assert_eq!(table.cluster.offsets_leaders.len(), 50);
    for b in 0..3 {
        let n = table
            .cluster
            .offsets_leaders
            .iter()
            .filter(|l| **l == b)
            .count();
        assert!((16..=17).contains(&n), "broker {b} coordinates {n} of 50");
    }
}

#[test]
fn without_live_brokers_a_topic_is_refused_not_placed() {
    let image = cluster(&[(0, false)]);
    let old = table_of(&image, 0);
    let mut new = old.clone();
    create(&mut new, "t", 1);
    assert!(records_between(&old, &new, &image).is_err());
}
