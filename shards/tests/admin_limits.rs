//! Topic changes are committed to the metadata log before brokers open partitions (as in
//! Kafka's KRaft): a CreateTopics or CreatePartitions whose partition cannot open here is made,
//! answered with KAFKA_STORAGE_ERROR naming it, and that partition stays offline
//! (KAFKA_STORAGE_ERROR) while the broker tries it again, serving as soon as it opens. A change
//! that would need more descriptors than the process may open is refused before anything is
//! done.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};
#[path = "common/raw.rs"]
mod raw;

use common::*;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::*;
use raw::RawConn;
use strata_client::topic_name;

fn create_topic(c: &mut RawConn, name: &str, partitions: i32) -> (i16, Option<String>) {
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic_name(name))
            .with_num_partitions(partitions)
            .with_replication_factor(1)]);
    match c.request(ApiKey::CreateTopics, 5, &req) {
        ResponseKind::CreateTopics(r) => (
            r.topics[0].error_code,
            r.topics[0].error_message.as_ref().map(|m| m.to_string()),
        ),
        other => panic!("unexpected {other:?}"),
    }
}

fn create_partitions(c: &mut RawConn, name: &str, count: i32) -> i16 {
    let req = CreatePartitionsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![CreatePartitionsTopic::default()
            .with_name(topic_name(name))
            .with_count(count)]);
    match c.request(ApiKey::CreatePartitions, 1, &req) {
        ResponseKind::CreatePartitions(r) => r.results[0].error_code,
        other => panic!("unexpected {other:?}"),
    }
}

/// Partitions Metadata lists for `name` (None: no such topic).
fn partitions(c: &mut RawConn, name: &str) -> Option<usize> {
    let req = MetadataRequest::default()
        .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
        )
        .with_name(Some(topic_name(name)))]))
        .with_allow_auto_topic_creation(false);
    match c.request(ApiKey::Metadata, 9, &req) {
        ResponseKind::Metadata(r) => {
            let t = &r.topics[0];
            (t.error_code == 0).then_some(t.partitions.len())
        }
        other => panic!("unexpected {other:?}"),
    }
}

fn dirs_of(data: &std::path::Path, topic: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(&format!("{topic}-")))
        .collect();
    names.sort();
    names
}

/// Produces one record to a partition until it is taken (the broker retries opening it every
/// second); the last error code.
fn produce_within(c: &mut RawConn, topic: &str, partition: i32, limit: Duration) -> i16 {
    let deadline = Instant::now() + limit;
    loop {
        let batch = strata_record::batch::build(&[b"after"], 1);
        let code = c.produce(topic, partition, batch, 1).0;
        if code == 0 || Instant::now() > deadline {
            return code;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_partition_that_cannot_open_stays_offline_and_serves_once_it_can() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let broker = BrokerProcess::start(&data);
    let mut c = RawConn::connect(broker.addr);
    // A file where partition 3's directory would go: opening that partition fails.
    std::fs::write(data.join("undone-3"), b"in the way").unwrap();
    let (code, message) = create_topic(&mut c, "undone", 8);
    assert_eq!(code, 56, "KAFKA_STORAGE_ERROR: {message:?}");
    assert!(message.unwrap_or_default().contains("undone-3"));
    assert_eq!(partitions(&mut c, "undone"), Some(8), "the topic is made");
    let batch = strata_record::batch::build(&[b"offline"], 1);
    assert_eq!(
        c.produce("undone", 3, batch, 1).0,
        56,
        "partition 3 is offline"
    );
    let batch = strata_record::batch::build(&[b"online"], 1);
    assert_eq!(c.produce("undone", 2, batch, 1).0, 0, "the others serve");
    // Other topics are still created, and partition 3 serves once the way is clear.
    assert_eq!(create_topic(&mut c, "other", 4).0, 0);
    std::fs::remove_file(data.join("undone-3")).unwrap();
    assert_eq!(
        produce_within(&mut c, "undone", 3, Duration::from_secs(10)),
        0
    );

    // CreatePartitions: the same for the partitions it adds.
    assert_eq!(create_topic(&mut c, "grow", 2).0, 0);
    std::fs::write(data.join("grow-5"), b"in the way").unwrap();
    assert_eq!(create_partitions(&mut c, "grow", 8), 56);
    assert_eq!(partitions(&mut c, "grow"), Some(8));
    let batch = strata_record::batch::build(&[b"offline"], 1);
    assert_eq!(c.produce("grow", 5, batch, 1).0, 56);
    std::fs::remove_file(data.join("grow-5")).unwrap();
    assert_eq!(
        produce_within(&mut c, "grow", 5, Duration::from_secs(10)),
        0
    );
    drop(c);
    // The metadata on disk agrees: after a restart, the same topics, every partition serving.
    let mut broker = broker;
    broker.restart();
    let mut c = RawConn::connect(broker.addr);
    assert_eq!(partitions(&mut c, "undone"), Some(8));
    assert_eq!(partitions(&mut c, "grow"), Some(8));
    assert_eq!(produce_within(&mut c, "grow", 5, Duration::from_secs(5)), 0);
}

#[test]
fn a_topic_change_past_the_open_file_limit_is_refused_before_anything_is_done() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let broker = BrokerProcess::start_limited(&data, "", Some(1500));
    let mut c = RawConn::connect(broker.addr);
    let (code, message) = create_topic(&mut c, "huge", 5000);
    assert_eq!(code, 44, "POLICY_VIOLATION: {message:?}");
    let message = message.unwrap_or_default();
    assert!(message.contains("file descriptors"), "{message}");
    assert_eq!(partitions(&mut c, "huge"), None);
    assert!(dirs_of(&data, "huge").is_empty());
    assert_eq!(create_topic(&mut c, "small", 8).0, 0);
    assert_eq!(create_topic(&mut c, "grown", 1).0, 0);
    assert_eq!(create_partitions(&mut c, "grown", 4000), 44);
    assert_eq!(partitions(&mut c, "grown"), Some(1));
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn a_topic_created_again_never_gets_what_a_cut_short_deletion_left() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let broker = BrokerProcess::start(&data);
    let mut c = RawConn::connect(broker.addr);
    assert_eq!(create_topic(&mut c, "again", 2).0, 0);
    for n in 0..5 {
        let batch = strata_record::batch::build(&[format!("old {n}").as_bytes()], 1);
        assert_eq!(c.produce("again", 0, batch, -1).0, 0);
    }
    assert_eq!(c.latest_offset("again", 0), 5);
    let saved = dir.path().join("saved-again-0");
    copy_dir(&data.join("again-0"), &saved);
    let delete = DeleteTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topic_names(vec![topic_name("again")]);
    match c.request(ApiKey::DeleteTopics, 4, &delete) {
        ResponseKind::DeleteTopics(r) => assert_eq!(r.responses[0].error_code, 0),
        other => panic!("unexpected {other:?}"),
    }
    // What a crash between saving the table and removing the directory leaves.
    copy_dir(&saved, &data.join("again-0"));
    assert_eq!(create_topic(&mut c, "again", 2).0, 0);
    assert_eq!(c.latest_offset("again", 0), 0, "the new topic starts empty");
}

/// Descriptors the process holds.
fn open_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

#[test]
fn more_sealed_segments_than_the_open_file_limit_are_written_and_read_back() {
    const LIMIT: u64 = 1200;
    const PARTITIONS: i32 = 4;
    const BATCHES_PER_PARTITION: usize = 660; // two 30 KiB batches per 64 KiB segment
    const RECORDS_PER_BATCH: usize = 30;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let extra = "max_open_sealed_segments_per_shard = 8\n\
                 [log]\nsegment_bytes = 65536\nmax_message_bytes = 65536\n";
    let mut broker = BrokerProcess::start_limited(&data, extra, Some(LIMIT));
    let mut c = RawConn::connect(broker.addr);
    assert_eq!(create_topic(&mut c, "many", PARTITIONS).0, 0);
    let value = vec![b'v'; 1000];
    for n in 0..BATCHES_PER_PARTITION {
        for p in 0..PARTITIONS {
            let records: Vec<&[u8]> = vec![&value[..]; RECORDS_PER_BATCH];
            let batch = strata_record::batch::build(&records, n as i64);
            let (code, _) = c.produce("many", p, batch.to_vec(), 1);
            assert_eq!(code, 0, "partition {p} batch {n}");
        }
    }
    let segments: usize = dirs_of(&data, "many")
        .iter()
        .map(|d| {
            std::fs::read_dir(data.join(d))
                .unwrap()
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
                .count()
        })
        .sum();
    assert!(segments as u64 > LIMIT, "{segments} segments");
    let expected = BATCHES_PER_PARTITION * RECORDS_PER_BATCH;
    for round in 0..2 {
        // Every record of every partition through librdkafka, from the first segment on.
        let out = Command::new(kcat())
            .args([
                "-b",
                &broker.bootstrap(),
                "-C",
                "-t",
                "many",
                "-o",
                "beginning",
            ])
            .args(["-e", "-q", "-f", "%p %o\n"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "round {round}: {}\nbroker log:\n{}",
            output_text(&out),
            broker.log_text()
        );
        let text = String::from_utf8_lossy(&out.stdout);
        for p in 0..PARTITIONS {
            let offsets: Vec<usize> = text
                .lines()
                .filter_map(|l| l.split_once(' '))
                .filter(|(part, _)| *part == p.to_string())
                .map(|(_, o)| o.parse().unwrap())
                .collect();
            assert_eq!(offsets.len(), expected, "round {round}, partition {p}");
            assert!(offsets.iter().enumerate().all(|(i, o)| i == *o));
        }
        let fds = open_descriptors(broker.pid().unwrap());
        // Sockets, 4 per partition, at most 8 sealed files per shard: far below the segments.
        assert!(fds < 200, "{fds} descriptors open with {segments} segments");
        // The second round reads after a restart, which checks every segment on open.
        if round == 0 {
            broker.kill_and_restart();
        }
    }
}
