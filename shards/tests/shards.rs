//! Requests that span partitions owned by several shards, pipelined on one connection: every
//! part is answered correctly and the responses come back in request order.

mod common;
#[path = "common/raw.rs"]
mod raw;

use bytes::Bytes;
use common::*;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use raw::RawConn;
use strata_shards::router::owner_shard;

const PARTITIONS: i32 = 8;
const REQUESTS: usize = 60;

fn name() -> TopicName {
    TopicName(StrBytes::from_static_str("spread"))
}

fn value(p: i32, r: usize) -> Vec<u8> {
    format!("p{p}-r{r}").into_bytes()
}

#[test]
fn pipelined_requests_across_shards_are_answered_in_order() {
    assert!(
        (0..PARTITIONS)
            .map(|p| owner_shard("spread", p, 2))
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            == 2
    );
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start(&dir.path().join("data"));
    let mut c = RawConn::connect(broker.addr);
    let create = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(name())
            .with_num_partitions(PARTITIONS)
            .with_replication_factor(1)]);
    c.request(ApiKey::CreateTopics, 5, &create);

    // Send every request before reading any response; acks alternate between 1 and all.
    let mut sent = Vec::new();
    for r in 0..REQUESTS {
        let parts = (0..PARTITIONS)
            .map(|p| {
                let batch = strata_record::batch::build(&[&value(p, r)], r as i64);
                PartitionProduceData::default()
                    .with_index(p)
                    .with_records(Some(Bytes::from(batch)))
            })
            .collect();
        let req = ProduceRequest::default()
            .with_acks(if r % 2 == 0 { 1 } else { -1 })
            .with_timeout_ms(5000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(name())
                .with_partition_data(parts)]);
        sent.push(c.send(ApiKey::Produce, 8, &req));
    }
    for (r, expected) in sent.iter().enumerate() {
        let (correlation, body) = c.receive(ApiKey::Produce, 8).expect("a response");
        assert_eq!(correlation, *expected, "response {r} out of order");
        let ResponseKind::Produce(resp) = body else {
            panic!("not a produce response")
        };
        let parts = &resp.responses[0].partition_responses;
        assert_eq!(parts.len(), PARTITIONS as usize);
        for (p, part) in parts.iter().enumerate() {
            assert_eq!(part.index, p as i32);
            assert_eq!(part.error_code, 0);
            assert_eq!(
                part.base_offset, r as i64,
                "partition {p}: one record per request, in order"
            );
        }
    }

    // One fetch over all partitions (both shards) returns every record, in order.
    let fetch = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(100)
        .with_max_bytes(10 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name())
            .with_partitions(
                (0..PARTITIONS)
                    .map(|p| {
                        FetchPartition::default()
                            .with_partition(p)
                            .with_fetch_offset(0)
                            .with_partition_max_bytes(1 << 20)
                    })
                    .collect(),
            )]);
    let ResponseKind::Fetch(resp) = c.request(ApiKey::Fetch, 11, &fetch) else {
        panic!("not a fetch response")
    };
    for part in &resp.responses[0].partitions {
        assert_eq!(part.error_code, 0);
        assert_eq!(part.high_watermark, REQUESTS as i64);
        let mut records = part.records.clone().unwrap_or_default();
        let mut r = 0usize;
        while !records.is_empty() {
            let h = strata_record::batch::validate(&records, usize::MAX).unwrap();
            let batch = records.split_to(h.size_bytes);
            assert_eq!(h.base_offset, r as i64);
            let want = value(part.partition_index, r);
            assert!(
                batch.windows(want.len()).any(|w| w == &want[..]),
                "partition {} record {r}",
                part.partition_index
            );
            r += 1;
        }
        assert_eq!(r, REQUESTS, "partition {}", part.partition_index);
    }
}

#[test]
fn a_fetch_waits_for_data_without_polling_and_wakes_on_produce() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start_with(&dir.path().join("data"), "default_partitions = 4\n");
    let mut producer = RawConn::connect(broker.addr);
    let mut consumer = RawConn::connect(broker.addr);
    // Create the topic through a produce to partition 3.
    let produce = |c: &mut RawConn, v: &[u8]| {
        let req = ProduceRequest::default()
            .with_acks(1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str("wait")))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(3)
                    .with_records(Some(Bytes::from(strata_record::batch::build(
                        &[v],
                        1,
                    ))))])]);
        c.request(ApiKey::Produce, 8, &req)
    };
    produce(&mut producer, b"first");
    let fetch = |offset: i64, wait_ms: i32| {
        FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_static_str("wait")))
                .with_partitions(
                    (0..4)
                        .map(|p| {
                            FetchPartition::default()
                                .with_partition(p)
                                .with_fetch_offset(if p == 3 { offset } else { 0 })
                                .with_partition_max_bytes(1 << 20)
                        })
                        .collect(),
                )])
    };
    // Nothing new: the fetch is held for max_wait, then answered empty.
    let t = std::time::Instant::now();
    let ResponseKind::Fetch(empty) = consumer.request(ApiKey::Fetch, 11, &fetch(1, 300)) else {
        panic!()
    };
    assert!(
        t.elapsed() >= std::time::Duration::from_millis(250),
        "answered before max_wait: {:?}",
        t.elapsed()
    );
    assert!(empty.responses[0]
        .partitions
        .iter()
        .all(|p| p.records.as_ref().is_none_or(|r| r.is_empty())));
    // A long wait is cut short by a produce on another connection.
    let corr = consumer.send(ApiKey::Fetch, 11, &fetch(1, 20_000));
    std::thread::sleep(std::time::Duration::from_millis(100));
    let t = std::time::Instant::now();
    produce(&mut producer, b"second");
    let (got, body) = consumer.receive(ApiKey::Fetch, 11).unwrap();
    assert_eq!(got, corr);
    assert!(
        t.elapsed() < std::time::Duration::from_secs(10),
        "the fetch was not woken by the produce"
    );
    let ResponseKind::Fetch(resp) = body else {
        panic!()
    };
    let p3 = resp.responses[0]
        .partitions
        .iter()
        .find(|p| p.partition_index == 3)
        .unwrap();
    let records = p3.records.clone().unwrap();
    assert!(records.windows(6).any(|w| w == b"second"));
}
