//! Upgrading a data directory from before the metadata log: its `topics.json` (topics, their
//! ids and configs, the broker's dynamic settings) and the shards' producer-id files become the
//! metadata log's first entries at the first start, the partitions' records stay readable, and
//! the file is kept as `topics.json.migrated`. A second start changes nothing.
//!
//! Upgrading a data directory whose groups' committed offsets are in the per-shard stores of
//! brokers before `__consumer_offsets` (`.groups.shard<N>`): they move into the offsets topic
//! at the first start, clients read them as before, and the old stores are removed.

mod common;
#[path = "common/raw.rs"]
mod raw;

use std::collections::BTreeMap;

use common::*;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use raw::RawConn;
use strata_client::topic_name;

const PARTITIONS: i32 = 3;
const RECORDS_PER_PARTITION: i64 = 100;

/// A topic's id and partition count from Metadata (v10 carries ids).
fn topic_in_metadata(c: &mut RawConn, name: &str) -> Option<(uuid::Uuid, usize)> {
    let req = MetadataRequest::default()
        .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
        )
        .with_name(Some(topic_name(name)))]))
        .with_allow_auto_topic_creation(false);
    match c.request(ApiKey::Metadata, 10, &req) {
        ResponseKind::Metadata(r) => {
            let t = &r.topics[0];
            (t.error_code == 0).then_some((t.topic_id, t.partitions.len()))
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// One config's value as DescribeConfigs shows it (resource type 2: topic, 4: broker).
fn config(c: &mut RawConn, resource_type: i8, resource: &str, key: &str) -> Option<String> {
    let req =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(StrBytes::from_string(resource.to_string()))
            .with_configuration_keys(Some(vec![StrBytes::from_string(key.to_string())]))]);
    match c.request(ApiKey::DescribeConfigs, 4, &req) {
        ResponseKind::DescribeConfigs(r) => r.results[0]
            .configs
            .iter()
            .find(|e| e.name.as_str() == key)
            .and_then(|e| e.value.as_ref().map(|v| v.to_string())),
        other => panic!("unexpected {other:?}"),
    }
}

fn producer_id(c: &mut RawConn) -> i64 {
    let req = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    match c.request(ApiKey::InitProducerId, 4, &req) {
        ResponseKind::InitProducerId(r) => {
            assert_eq!(r.error_code, 0);
            r.producer_id.0
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_data_directory_from_before_the_metadata_log_is_migrated_once_and_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Partitions with records, as any version wrote them (their files did not change).
    let mut broker = BrokerProcess::start(&data);
    let mut c = RawConn::connect(broker.addr);
    let create = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic_name("kept"))
            .with_num_partitions(PARTITIONS)
            .with_replication_factor(1)
            .with_configs(vec![CreatableTopicConfig::default()
                .with_name(StrBytes::from_static_str("retention.ms"))
                .with_value(Some(StrBytes::from_static_str("123456789")))])]);
    match c.request(ApiKey::CreateTopics, 5, &create) {
        ResponseKind::CreateTopics(r) => assert_eq!(r.topics[0].error_code, 0),
        other => panic!("unexpected {other:?}"),
    }
    for p in 0..PARTITIONS {
        for i in 0..RECORDS_PER_PARTITION {
            let batch = strata_record::batch::build(&[format!("p{p}-{i}").as_bytes()], 1);
            assert_eq!(c.produce("kept", p, batch, 1).0, 0);
        }
    }
    let (topic_id, _) = topic_in_metadata(&mut c, "kept").unwrap();
    drop(c);
    broker.stop();

    // What the version before the metadata log had instead of it.
    std::fs::remove_dir_all(data.join("__cluster_metadata")).unwrap();
    let topics_json = serde_json::json!({
        "topics": {"kept": {
            "name": "kept", "partitions": PARTITIONS, "topic_id": topic_id.to_string(),
            "configs": {"retention.ms": "123456789"}
        }},
        "broker_configs": {"log.retention.ms": "987654321"}
    });
    std::fs::write(data.join("topics.json"), topics_json.to_string()).unwrap();
    // Shard 0 had handed out 7 blocks of producer ids.
    std::fs::write(data.join(".producer-ids.shard0"), "7\n").unwrap();

    broker.restart();
    assert!(broker
        .log_text()
        .contains("topics.json migrated into the metadata log"));
    assert!(!data.join("topics.json").exists());
    assert!(data.join("topics.json.migrated").exists());
    for round in ["after the migration", "after another restart"] {
        let mut c = RawConn::connect(broker.addr);
        assert_eq!(
            topic_in_metadata(&mut c, "kept"),
            Some((topic_id, PARTITIONS as usize)),
            "{round}"
        );
        for p in 0..PARTITIONS {
            assert_eq!(c.latest_offset("kept", p), RECORDS_PER_PARTITION, "{round}");
        }
        assert_eq!(
            config(&mut c, 2, "kept", "retention.ms").as_deref(),
            Some("123456789"),
            "{round}"
        );
        assert_eq!(
            config(&mut c, 4, "0", "log.retention.ms").as_deref(),
            Some("987654321"),
            "{round}"
        );
        // Above every id the files handed out: 7 blocks of 1000, the shard in 10 low bits.
        assert!(producer_id(&mut c) >= 7000 << 10, "{round}");
        drop(c);
        broker.restart();
    }
}

#[test]
fn a_partition_directory_of_another_topic_id_is_not_taken_for_this_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut broker = BrokerProcess::start(&data);
    let mut c = RawConn::connect(broker.addr);
    for i in 0..10 {
        let batch = strata_record::batch::build(&[format!("r{i}").as_bytes()], 1);
        // Auto-created with one partition.
        assert_eq!(c.produce("reused", 0, batch, 1).0, 0);
    }
    let (topic_id, _) = topic_in_metadata(&mut c, "reused").unwrap();
    drop(c);
    broker.stop();
    let marker = data.join("reused-0").join("partition.metadata");
    let text = std::fs::read_to_string(&marker).unwrap();
    assert!(text.contains(&topic_id.to_string()), "{text}");
    // As a topic of this name deleted (its directory's removal cut short by a crash) and
    // created again would find it: the directory names another topic.
    let deleted = uuid::Uuid::new_v4();
    std::fs::write(&marker, format!("version: 0\ntopic_id: {deleted}\n")).unwrap();
    broker.restart();
    let mut c = RawConn::connect(broker.addr);
    assert_eq!(
        c.latest_offset("reused", 0),
        0,
        "the other topic's records are gone"
    );
    assert!(broker.log_text().contains("directory of a deleted topic"));
    let batch = strata_record::batch::build(&[b"fresh"], 1);
    assert_eq!(c.produce("reused", 0, batch, 1).0, 0);
    assert_eq!(c.latest_offset("reused", 0), 1);
}

/// The fixture: the data directory of a 2-shard broker of commit 3796c19 (the last with
/// per-shard group stores), SIGKILLed after `legacy-group-a` committed offsets 10..13 and
/// `legacy-group-b` 50..53 on partitions 0..3 of `legacy-t` (fixtures/README.md).
fn committed_in(broker: &BrokerProcess, client: &str, group: &str) -> BTreeMap<i32, i64> {
    let out = common::cluster::cluster_py(&[
        "committed",
        "--client",
        client,
        "--bootstrap",
        &broker.bootstrap(),
        "--group",
        group,
        "--topic",
        "legacy-t",
        "--partitions",
        "4",
    ]);
    let got: BTreeMap<String, i64> = serde_json::from_str(&out).expect("committed prints JSON");
    got.into_iter()
        .map(|(p, o)| (p.parse().unwrap(), o))
        .collect()
}

#[test]
fn committed_offsets_of_an_older_broker_move_into_the_offsets_topic_and_survive_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/legacy-offsets-data.tar.gz");
    let status = std::process::Command::new("tar")
        .arg("xzf")
        .arg(&fixture)
        .arg("-C")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let data = dir.path().join("data");
    let legacy_stores = || {
        std::fs::read_dir(&data)
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().starts_with(".groups.shard")
            })
            .count()
    };
    assert_eq!(legacy_stores(), 2, "the fixture holds both shards' stores");
    let a: BTreeMap<i32, i64> = (0..4).map(|p| (p, 10 + p as i64)).collect();
    let b: BTreeMap<i32, i64> = (0..4).map(|p| (p, 50 + p as i64)).collect();
    let mut broker = BrokerProcess::start(&data);
    // librdkafka asks the coordinator, kafka-python lists the group's offsets (OffsetFetch).
    assert_eq!(committed_in(&broker, "confluent", "legacy-group-a"), a);
    assert_eq!(committed_in(&broker, "kafka-python", "legacy-group-b"), b);
    // Every group moved: the old stores go.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while legacy_stores() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the old group stores are still there: {}",
            broker.log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(data.join("__consumer_offsets-0").exists());
    // From the offsets topic alone, after a clean stop and after a SIGKILL.
    broker.restart();
    assert_eq!(committed_in(&broker, "confluent", "legacy-group-a"), a);
    assert_eq!(committed_in(&broker, "confluent", "legacy-group-b"), b);
    broker.kill_and_restart();
    assert_eq!(committed_in(&broker, "kafka-python", "legacy-group-a"), a);
    assert_eq!(committed_in(&broker, "kafka-python", "legacy-group-b"), b);
}
