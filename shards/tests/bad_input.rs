//! Bad input: each gets a Kafka error code or a logged close of that one connection, never a
//! crash, and never harms other connections.

mod common;
#[path = "common/legacy_wire.rs"]
mod legacy_wire;
#[path = "common/raw.rs"]
mod raw;

use common::*;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use raw::RawConn;
use strata_client::topic_name;

/// Produces with acks=1: the partition's error code.
fn produce(conn: &mut RawConn, name: &str, partition: i32, records: Vec<u8>) -> i16 {
    conn.produce(name, partition, records, 1).0
}

/// The broker still answers a well-formed request on a fresh connection.
fn still_serves(broker: &BrokerProcess) {
    let mut c = RawConn::connect(broker.addr);
    match c.request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default()) {
        ResponseKind::ApiVersions(r) => assert_eq!(r.error_code, 0),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn malformed_frames_close_only_their_connection() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = BrokerProcess::start(&dir.path().join("data"));
    let mut bystander = RawConn::connect(broker.addr);
    bystander.request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());

    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "unknown API key",
            [
                &12i32.to_be_bytes()[..],
                &[0x03, 0xe7, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0],
            ]
            .concat(),
        ),
        (
            "frame over the limit",
            0x7fff_ffffi32.to_be_bytes().to_vec(),
        ),
        ("negative length", (-5i32).to_be_bytes().to_vec()),
        (
            "frame shorter than a header",
            [&3i32.to_be_bytes()[..], &[0, 18, 0]].concat(),
        ),
        (
            "truncated body",
            [&10i32.to_be_bytes()[..], &[0, 3, 0, 1, 0, 0, 0, 9, 0, 9]].concat(),
        ),
        // Produce v2 (magic v1 batches) is advertised for librdkafka's sake but not served.
        (
            "produce v2",
            [
                &10i32.to_be_bytes()[..],
                &[0, 0, 0, 2, 0, 0, 0, 1, 0xff, 0xff],
            ]
            .concat(),
        ),
        // Metadata v1 claiming 2^31-1 topics in a 14-byte frame.
        (
            "array length bomb",
            [
                &14i32.to_be_bytes()[..],
                &[0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff],
            ]
            .concat(),
        ),
        (
            "random bytes",
            (0..200u32).map(|i| (i * 7919 % 251) as u8).collect(),
        ),
    ];
    for (name, bytes) in cases {
        let mut c = RawConn::connect(broker.addr);
        c.send_raw(&bytes);
        // Only cases that can be judged whole are left open-ended; the others end here.
        if name == "random bytes" {
            c.finish_sending();
        }
        assert!(c.closed_by_broker(), "{name}: connection left open");
        assert!(broker.alive(), "{name}: broker died: {}", broker.log_text());
        still_serves(&broker);
    }
    // The connection opened before all this is unharmed.
    bystander.request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    let log = broker.log_text();
    assert!(log.contains("unknown API key"), "{log}");
    assert!(log.contains("frame length 2147483647 is outside"), "{log}");
    broker.stop();
}

#[test]
fn api_versions_newer_than_ours_gets_unsupported_version_and_our_list() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start(&dir.path().join("data"));
    let mut c = RawConn::connect(broker.addr);
    // A v99 request: the header is v2 (flexible), the answer comes at v0.
    c.send(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    let mut frame = c.read_frame().unwrap();
    let _ = frame.split_to(4);
    c.send_raw(&{
        let mut f = vec![0, 0, 0, 12, 0, 18, 0, 99, 0, 0, 0, 7, 0, 0, 0, 0];
        f.truncate(16);
        f
    });
    let (correlation, body) = c.receive(ApiKey::ApiVersions, 0).unwrap();
    assert_eq!(correlation, 7);
    match body {
        ResponseKind::ApiVersions(r) => {
            assert_eq!(r.error_code, 35, "UNSUPPORTED_VERSION");
            assert!(r
                .api_keys
                .iter()
                .any(|k| k.api_key == ApiKey::Produce as i16));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn corrupt_and_oversized_batches_get_error_codes_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start(&dir.path().join("data"));
    let mut c = RawConn::connect(broker.addr);
    let create = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic_name("small"))
            .with_num_partitions(2)
            .with_replication_factor(1)
            .with_configs(vec![CreatableTopicConfig::default()
                .with_name(StrBytes::from_static_str("max.message.bytes"))
                .with_value(Some(StrBytes::from_static_str("1024")))])]);
    match c.request(ApiKey::CreateTopics, 5, &create) {
        ResponseKind::CreateTopics(r) => assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0]),
        other => panic!("unexpected {other:?}"),
    }
    let good = strata_record::batch::build(&[b"hello"], 1);
    assert_eq!(produce(&mut c, "small", 0, good.clone()), 0);
    let mut bad_crc = good.clone();
    *bad_crc.last_mut().unwrap() ^= 1;
    assert_eq!(produce(&mut c, "small", 0, bad_crc), 2, "CORRUPT_MESSAGE");
    let big = strata_record::batch::build(&[&[7u8; 2000][..]], 1);
    assert_eq!(produce(&mut c, "small", 1, big), 10, "MESSAGE_TOO_LARGE");
    assert_eq!(
        produce(&mut c, "small", 1, good[..20].to_vec()),
        2,
        "truncated batch: CORRUPT_MESSAGE"
    );
    assert_eq!(
        produce(&mut c, "small", 5, good.clone()),
        3,
        "no partition 5: UNKNOWN_TOPIC_OR_PARTITION"
    );
    assert_eq!(
        c.latest_offset("small", 0),
        1,
        "only the good batch was stored"
    );
    assert_eq!(c.latest_offset("small", 1), 0);
    // The same connection keeps working after all of these.
    assert_eq!(produce(&mut c, "small", 1, good), 0);
}

#[test]
fn unknown_topics_are_errors_when_auto_creation_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let broker =
        BrokerProcess::start_with(&dir.path().join("data"), "auto_create_topics = false\n");
    let mut c = RawConn::connect(broker.addr);
    let good = strata_record::batch::build(&[b"x"], 1);
    assert_eq!(
        produce(&mut c, "nope", 0, good),
        3,
        "UNKNOWN_TOPIC_OR_PARTITION"
    );
    let req = MetadataRequest::default().with_topics(Some(vec![
        kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
            .with_name(Some(topic_name("nope"))),
        kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
            .with_name(Some(topic_name("bad/name"))),
    ]));
    match c.request(ApiKey::Metadata, 9, &req) {
        ResponseKind::Metadata(r) => {
            assert_eq!(r.topics[0].error_code, 3);
            assert_eq!(r.topics[1].error_code, 17, "INVALID_TOPIC_EXCEPTION");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn apis_we_do_not_serve_get_an_error_response_not_a_dropped_connection() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start(&dir.path().join("data"));
    let mut c = RawConn::connect(broker.addr);
    // Transactions are not served: a transactional InitProducerId gets an error, not a close.
    let txn = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("t"))))
        .with_transaction_timeout_ms(1000);
    match c.request(ApiKey::InitProducerId, 4, &txn) {
        ResponseKind::InitProducerId(r) => assert_eq!(r.error_code, 35),
        other => panic!("unexpected {other:?}"),
    }
    match c.request(ApiKey::SaslHandshake, 1, &SaslHandshakeRequest::default()) {
        ResponseKind::SaslHandshake(r) => assert_eq!(r.error_code, 35),
        other => panic!("unexpected {other:?}"),
    }
    // Still the same connection.
    c.request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
}

#[test]
fn group_requests_from_strangers_and_stale_members_get_group_error_codes() {
    use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
    use kafka_protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start_with(
        &dir.path().join("data"),
        "group_initial_rebalance_delay_ms = 0\n",
    );
    let mut c = RawConn::connect(broker.addr);
    // The commits below name topic t: it exists, so they are judged on the member alone (a
    // partition of an unknown topic is refused before the group is asked, as in Kafka).
    let batch = strata_record::batch::build(&[b"x"], 1);
    assert_eq!(c.produce("t", 0, batch, 1).0, 0);
    c.wait_for_coordinator("bad");
    let group = GroupId(StrBytes::from_static_str("bad"));
    let join = |member: &str| {
        JoinGroupRequest::default()
            .with_group_id(group.clone())
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_member_id(StrBytes::from_string(member.to_string()))
            .with_protocol_type(StrBytes::from_static_str("consumer"))
            .with_protocols(vec![
                JoinGroupRequestProtocol::default().with_name(StrBytes::from_static_str("range"))
            ])
    };
    let ResponseKind::JoinGroup(r) = c.request(ApiKey::JoinGroup, 5, &join("stranger")) else {
        panic!()
    };
    assert_eq!(r.error_code, 25, "UNKNOWN_MEMBER_ID");
    let ResponseKind::JoinGroup(r) = c.request(ApiKey::JoinGroup, 5, &join("")) else {
        panic!()
    };
    assert_eq!(r.error_code, 79, "MEMBER_ID_REQUIRED");
    let member = r.member_id.to_string();
    let ResponseKind::JoinGroup(r) = c.request(ApiKey::JoinGroup, 5, &join(&member)) else {
        panic!()
    };
    assert_eq!(r.error_code, 0);
    let generation = r.generation_id;
    let hb = |m: &str, g: i32| {
        HeartbeatRequest::default()
            .with_group_id(group.clone())
            .with_member_id(StrBytes::from_string(m.to_string()))
            .with_generation_id(g)
    };
    let ResponseKind::Heartbeat(h) = c.request(ApiKey::Heartbeat, 3, &hb(&member, generation - 1))
    else {
        panic!()
    };
    assert_eq!(h.error_code, 22, "ILLEGAL_GENERATION");
    let ResponseKind::Heartbeat(h) = c.request(ApiKey::Heartbeat, 3, &hb("nobody", generation))
    else {
        panic!()
    };
    assert_eq!(h.error_code, 25);
    let commit = |m: &str, g: i32, metadata: String| {
        OffsetCommitRequest::default()
            .with_group_id(group.clone())
            .with_member_id(StrBytes::from_string(m.to_string()))
            .with_generation_id_or_member_epoch(g)
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(5)
                    .with_committed_metadata(Some(StrBytes::from_string(
                        metadata,
                    )))])])
    };
    let code = |r: ResponseKind| match r {
        ResponseKind::OffsetCommit(r) => r.topics[0].partitions[0].error_code,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(
        code(c.request(
            ApiKey::OffsetCommit,
            7,
            &commit("nobody", generation, String::new())
        )),
        25,
        "commit from a non-member"
    );
    assert_eq!(
        code(c.request(ApiKey::OffsetCommit, 7, &commit("", -1, String::new()))),
        25,
        "simple commit into a live group"
    );
    assert_eq!(
        code(c.request(
            ApiKey::OffsetCommit,
            7,
            &commit(&member, generation + 3, String::new())
        )),
        22
    );
    assert_eq!(
        code(c.request(
            ApiKey::OffsetCommit,
            7,
            &commit(&member, generation, "x".repeat(5000))
        )),
        12,
        "OFFSET_METADATA_TOO_LARGE"
    );
    // The group is still consistent: the member syncs and commits normally.
    let sync = SyncGroupRequest::default()
        .with_group_id(group.clone())
        .with_member_id(StrBytes::from_string(member.clone()))
        .with_generation_id(generation);
    let ResponseKind::SyncGroup(s) = c.request(ApiKey::SyncGroup, 3, &sync) else {
        panic!()
    };
    assert_eq!(s.error_code, 0);
    assert_eq!(
        code(c.request(
            ApiKey::OffsetCommit,
            7,
            &commit(&member, generation, "ok".into())
        )),
        0
    );
    let ResponseKind::DeleteGroups(d) = c.request(
        ApiKey::DeleteGroups,
        1,
        &DeleteGroupsRequest::default().with_groups_names(vec![group.clone()]),
    ) else {
        panic!()
    };
    assert_eq!(d.results[0].error_code, 68, "NON_EMPTY_GROUP");
}

/// An old-format (Produce v2) compressed message that inflates past max_frame_bytes: refused
/// for its partition (CORRUPT_MESSAGE) before it is all in memory; the connection goes on.
#[test]
fn an_old_format_message_that_inflates_past_the_frame_limit_is_refused() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start_with(&dir.path().join("data"), "max_frame_bytes = 1048576\n");
    // One message holding 8 MiB of zeros, gzipped into a wrapper of a few KiB.
    let inner = legacy_wire::message(1, &vec![0u8; 8 << 20]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&inner).unwrap();
    let wrapped = gz.finish().unwrap();
    assert!(wrapped.len() < 64 << 10, "{} bytes", wrapped.len());
    let bomb = legacy_wire::message_with(1, 1, &wrapped);
    let mut c = RawConn::connect(broker.addr);
    for (set, expected) in [(bomb, 2), (legacy_wire::message(1, b"small"), 0)] {
        let body = legacy_wire::produce_body(&set);
        c.send_raw(&legacy_wire::frame(ApiKey::Produce, 2, 7, &body));
        let mut answer = c.read_frame().expect("an answer, the connection open");
        bytes::Buf::advance(&mut answer, 4);
        let codes = legacy_wire::read_answer(ApiKey::Produce, 2, answer);
        assert_eq!(codes, vec![expected], "{}", broker.log_text());
    }
    still_serves(&broker);
}

/// v2 batches that inflate past max_frame_bytes: a topic that re-encodes batches refuses one
/// (CORRUPT_MESSAGE) instead of inflating it; one stored as sent (nothing decodes it on the way
/// in) gets an error from ListOffsets by timestamp, which must look inside it. The broker serves
/// on.
#[test]
fn batches_that_inflate_past_the_frame_limit_are_not_inflated() {
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start_with(&dir.path().join("data"), "max_frame_bytes = 1048576\n");
    let record = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: 1_000,
        key: Some(bytes::Bytes::from_static(b"k")),
        value: Some(bytes::Bytes::from(vec![0u8; 8 << 20])),
        headers: Default::default(),
    };
    let mut bomb = bytes::BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::Gzip,
    };
    RecordBatchEncoder::encode(&mut bomb, [&record], &options).unwrap();
    assert!(bomb.len() < 64 << 10, "{} bytes", bomb.len());
    let mut c = RawConn::connect(broker.addr);
    let create = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(topic_name("recoded"))
                .with_num_partitions(1)
                .with_replication_factor(1)
                .with_configs(vec![CreatableTopicConfig::default()
                    .with_name(StrBytes::from_static_str("compression.type"))
                    .with_value(Some(StrBytes::from_static_str("lz4")))]),
            CreatableTopic::default()
                .with_name(topic_name("as-sent"))
                .with_num_partitions(1)
                .with_replication_factor(1),
        ]);
    match c.request(ApiKey::CreateTopics, 5, &create) {
        ResponseKind::CreateTopics(r) => {
            assert!(r.topics.iter().all(|t| t.error_code == 0), "{r:?}")
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        produce(&mut c, "recoded", 0, bomb.to_vec()),
        2,
        "CORRUPT_MESSAGE"
    );
    assert_eq!(produce(&mut c, "as-sent", 0, bomb.to_vec()), 0);
    let list = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name("as-sent"))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(500)])]);
    match c.request(ApiKey::ListOffsets, 7, &list) {
        ResponseKind::ListOffsets(r) => {
            let code = r.topics[0].partitions[0].error_code;
            assert_ne!(
                code, 0,
                "a batch that inflates past the limit is not looked into"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    still_serves(&broker);
}
