//! Pipelined produces of one connection are stored in the order sent, also for a partition
//! another shard owns: Kafka processes a connection's requests in order, and a producer without
//! idempotence relies on it (nothing else would put its batches back in order). Written after
//! a flaky old-format run stored a later batch before an earlier one (see issue 14's note), and
//! made to cross segment rolls after it happened again (issue 16's note): an append that rolls
//! holds the append lock across the roll's I/O, the appends behind it queue, and glommio's
//! semaphore let a newcomer take the released lock ahead of them.

mod common;
#[path = "common/raw.rs"]
mod raw;

use bytes::Bytes;
use common::*;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use raw::RawConn;

const REQUESTS: usize = 600;
const PARTITIONS: i32 = 4;
/// Each record's value: its request's number, padded so that the 600 requests cross about ten
/// segment rolls (64 KiB segments, the smallest allowed) in every partition.
const VALUE_BYTES: usize = 1000;

#[test]
fn pipelined_produces_of_one_connection_are_stored_in_the_order_sent() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start_with(
        &dir.path().join("data"),
        &format!("default_partitions = {PARTITIONS}\nshard_channel_capacity = 2\n[log]\nsegment_bytes = 65536\nmax_message_bytes = 65536\n"),
    );
    let mut c = RawConn::connect(broker.addr);
    // Create the topic first (auto-created by this produce).
    let batch = strata_record::batch::build(&[b"first"], 1);
    assert_eq!(c.produce("ordered", 0, batch, -1).0, 0);
    // Every request goes out before any answer is read: up to the broker's in-flight bound,
    // they are handled at once, for partitions on both shards.
    for i in 0..REQUESTS {
        let value = format!("{i:06}{}", "x".repeat(VALUE_BYTES - 6));
        let data = (0..PARTITIONS)
            .map(|p| {
                PartitionProduceData::default()
                    .with_index(p)
                    .with_records(Some(Bytes::from(strata_record::batch::build(
                        &[value.as_bytes()],
                        1,
                    ))))
            })
            .collect();
        let req = ProduceRequest::default()
            .with_acks(if i % 3 == 0 { -1 } else { 1 })
            .with_timeout_ms(30_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(strata_client::topic_name("ordered"))
                .with_partition_data(data)]);
        c.send(ApiKey::Produce, 7, &req);
    }
    for _ in 0..REQUESTS {
        let (_, r) = c.receive(ApiKey::Produce, 7).expect("an answer");
        let ResponseKind::Produce(r) = r else {
            panic!("unexpected {r:?}")
        };
        for p in &r.responses[0].partition_responses {
            assert_eq!(p.error_code, 0);
        }
    }
    let out = std::process::Command::new(kcat())
        .args(["-C", "-b", &broker.bootstrap(), "-t", "ordered", "-e", "-q"])
        .args(["-f", "%p %o %s\n"])
        .output()
        .unwrap();
    let mut last: std::collections::BTreeMap<i32, (i64, String)> = Default::default();
    let mut count = 0;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut it = line.splitn(3, ' ');
        let (p, o, v) = (
            it.next().unwrap().parse::<i32>().unwrap(),
            it.next().unwrap().parse::<i64>().unwrap(),
            // The request's number; the padding is the same in every record.
            it.next().unwrap().chars().take(6).collect::<String>(),
        );
        if v == "first" {
            continue;
        }
        if let Some((before_offset, before)) = last.get(&p) {
            assert!(
                v > *before,
                "partition {p}: {v} at offset {o} after {before} at {before_offset}"
            );
        }
        last.insert(p, (o, v));
        count += 1;
    }
    assert_eq!(
        count,
        REQUESTS * PARTITIONS as usize,
        "{}",
        output_text(&out)
    );
    for p in 0..PARTITIONS {
        let dir = broker.data_dir.join(format!("ordered-{p}"));
        let segments = std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".log"))
            })
            .count();
        assert!(segments >= 8, "partition {p}: {segments} segments");
    }
}
