//! Every API the broker advertises in ApiVersions is served at every version it advertises: the
//! test asks ApiVersions, then sends each API, at each version, a minimal valid request, and
//! checks that an answer comes back on the same connection and decodes at that version.
//!
//! Versions older than kafka-protocol reads (Produce v0-v2, Fetch v0-v3, OffsetCommit v0-v1,
//! CreateTopics v0-v1) are sent as laid out in `common/legacy_wire.rs`, and their answers read
//! whole there.

mod common;
#[path = "common/legacy_wire.rs"]
mod legacy_wire;
#[path = "common/raw.rs"]
mod raw;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use raw::RawConn;

use common::*;

/// A minimal valid request for `api` at `version`: defaults, plus what a default would leave
/// unanswered or slow (acks=0 gets no answer; a valid JoinGroup waits for a rebalance).
fn minimal(api: ApiKey, version: i16) -> RequestKind {
    let s = StrBytes::from_static_str;
    match api {
        ApiKey::Produce => RequestKind::Produce(ProduceRequest::default().with_acks(1)),
        ApiKey::Fetch => RequestKind::Fetch(FetchRequest::default().with_max_wait_ms(0)),
        ApiKey::ListOffsets => RequestKind::ListOffsets(ListOffsetsRequest::default()),
        ApiKey::OffsetForLeaderEpoch => {
            RequestKind::OffsetForLeaderEpoch(OffsetForLeaderEpochRequest::default())
        }
        ApiKey::Metadata => RequestKind::Metadata(MetadataRequest::default()),
        ApiKey::ApiVersions => RequestKind::ApiVersions(if version >= 3 {
            ApiVersionsRequest::default()
                .with_client_software_name(s("walker"))
                .with_client_software_version(s("1"))
        } else {
            ApiVersionsRequest::default()
        }),
        ApiKey::CreateTopics => RequestKind::CreateTopics(CreateTopicsRequest::default()),
        ApiKey::DeleteTopics => RequestKind::DeleteTopics(DeleteTopicsRequest::default()),
        ApiKey::CreatePartitions => {
            RequestKind::CreatePartitions(CreatePartitionsRequest::default())
        }
        ApiKey::DescribeConfigs => RequestKind::DescribeConfigs(DescribeConfigsRequest::default()),
        ApiKey::AlterConfigs => RequestKind::AlterConfigs(AlterConfigsRequest::default()),
        ApiKey::IncrementalAlterConfigs => {
            RequestKind::IncrementalAlterConfigs(IncrementalAlterConfigsRequest::default())
        }
        ApiKey::FindCoordinator => RequestKind::FindCoordinator(if version >= 4 {
            FindCoordinatorRequest::default().with_coordinator_keys(vec![s("walker")])
        } else {
            FindCoordinatorRequest::default().with_key(s("walker"))
        }),
        // A session timeout out of bounds: answered at once, with no rebalance to wait for.
        ApiKey::JoinGroup => RequestKind::JoinGroup(
            JoinGroupRequest::default()
                .with_group_id(GroupId(s("walker")))
                .with_protocol_type(s("consumer"))
                .with_session_timeout_ms(1),
        ),
        ApiKey::SyncGroup => {
            RequestKind::SyncGroup(SyncGroupRequest::default().with_group_id(GroupId(s("walker"))))
        }
        ApiKey::Heartbeat => {
            RequestKind::Heartbeat(HeartbeatRequest::default().with_group_id(GroupId(s("walker"))))
        }
        ApiKey::LeaveGroup => RequestKind::LeaveGroup(
            LeaveGroupRequest::default().with_group_id(GroupId(s("walker"))),
        ),
        ApiKey::OffsetCommit => RequestKind::OffsetCommit(
            OffsetCommitRequest::default().with_group_id(GroupId(s("walker"))),
        ),
        ApiKey::OffsetFetch => RequestKind::OffsetFetch(if version >= 8 {
            OffsetFetchRequest::default().with_groups(vec![
                offset_fetch_request::OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(s("walker"))),
            ])
        } else {
            OffsetFetchRequest::default().with_group_id(GroupId(s("walker")))
        }),
        ApiKey::ListGroups => RequestKind::ListGroups(ListGroupsRequest::default()),
        ApiKey::DescribeGroups => RequestKind::DescribeGroups(
            DescribeGroupsRequest::default().with_groups(vec![GroupId(s("walker"))]),
        ),
        ApiKey::DeleteGroups => RequestKind::DeleteGroups(
            DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("walker"))]),
        ),
        ApiKey::OffsetDelete => RequestKind::OffsetDelete(
            OffsetDeleteRequest::default().with_group_id(GroupId(s("walker"))),
        ),
        ApiKey::InitProducerId => RequestKind::InitProducerId(
            InitProducerIdRequest::default().with_transaction_timeout_ms(60_000),
        ),
        ApiKey::DeleteRecords => RequestKind::DeleteRecords(DeleteRecordsRequest::default()),
        ApiKey::DescribeLogDirs => RequestKind::DescribeLogDirs(DescribeLogDirsRequest::default()),
        ApiKey::DescribeProducers => {
            RequestKind::DescribeProducers(DescribeProducersRequest::default())
        }
        ApiKey::DescribeCluster => RequestKind::DescribeCluster(if version >= 1 {
            DescribeClusterRequest::default().with_endpoint_type(1)
        } else {
            DescribeClusterRequest::default()
        }),
        ApiKey::DescribeQuorum => {
            RequestKind::DescribeQuorum(DescribeQuorumRequest::default().with_topics(vec![
                describe_quorum_request::TopicData::default()
                    .with_topic_name(TopicName(s("__cluster_metadata")))
                    .with_partitions(vec![describe_quorum_request::PartitionData::default()]),
            ]))
        }
        other => panic!(
            "the broker advertises {other:?}, which this test does not know: add a minimal \
             request for it here"
        ),
    }
}

fn frame(api: ApiKey, version: i16, correlation: i32, body: &RequestKind) -> BytesMut {
    let header = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation)
        .with_client_id(Some(StrBytes::from_static_str("walker")));
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    header
        .encode(&mut buf, api.request_header_version(version))
        .unwrap();
    body.encode(&mut buf, version)
        .unwrap_or_else(|e| panic!("encoding {api:?} v{version}: {e}"));
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    buf
}

#[test]
fn every_advertised_api_answers_a_minimal_request_at_every_advertised_version() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start(&dir.path().join("data"));
    let mut c = RawConn::connect(broker.addr);
    let advertised = match c.request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default()) {
        ResponseKind::ApiVersions(r) => r.api_keys,
        other => panic!("ApiVersions answered {other:?}"),
    };
    assert!(advertised.len() >= 27, "{} APIs", advertised.len());
    let mut served = 0;
    let mut correlation = 1000;
    for key in &advertised {
        let api = ApiKey::try_from(key.api_key).expect("a known API key");
        let decodable = api.valid_versions();
        assert!(
            key.min_version <= key.max_version && key.max_version <= decodable.max,
            "{api:?} advertised v{}-{}, the codec reads up to v{}",
            key.min_version,
            key.max_version,
            decodable.max
        );
        for version in key.min_version..=key.max_version {
            correlation += 1;
            if version < decodable.min {
                let body = legacy_wire::minimal(api, version).unwrap_or_else(|| {
                    panic!("{api:?} v{version} is advertised, below what kafka-protocol reads")
                });
                c.send_raw(&legacy_wire::frame(api, version, correlation, &body));
                let mut answer = c.read_frame().unwrap_or_else(|| {
                    panic!(
                        "{api:?} v{version}: the broker closed the connection\n{}",
                        broker.log_text()
                    )
                });
                assert_eq!(answer.get_i32(), correlation, "{api:?} v{version}");
                let codes = legacy_wire::read_answer(api, version, answer);
                assert!(
                    !codes.is_empty() && codes.iter().all(|&c| c == 0),
                    "{api:?} v{version}: error codes {codes:?}"
                );
                served += 1;
                continue;
            }
            c.send_raw(&frame(api, version, correlation, &minimal(api, version)));
            let mut answer: Bytes = c.read_frame().unwrap_or_else(|| {
                panic!(
                    "{api:?} v{version}: the broker closed the connection\n{}",
                    broker.log_text()
                )
            });
            let got = i32::from_be_bytes([answer[0], answer[1], answer[2], answer[3]]);
            assert_eq!(got, correlation, "{api:?} v{version}: answer out of order");
            strata_client::conn::strip_header(api, version, &mut answer)
                .unwrap_or_else(|e| panic!("{api:?} v{version}: header: {e}"));
            strata_client::conn::decode_response(api, version, &mut answer)
                .unwrap_or_else(|e| panic!("{api:?} v{version}: body does not decode: {e}"));
            served += 1;
        }
    }
    println!("{served} (API, version) pairs answered");
}

/// A topic with message.downconversion.enable=false answers fetches that would need its batches
/// converted (v0-v3) with UNSUPPORTED_VERSION, as Kafka does; modern fetches read it as usual.
#[test]
fn a_topic_that_refuses_down_conversion_answers_old_fetches_unsupported_version() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start(&dir.path().join("data"));
    let mut c = RawConn::connect(broker.addr);
    let s = StrBytes::from_static_str;
    let create = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![create_topics_request::CreatableTopic::default()
            .with_name(TopicName(s("kept-format")))
            .with_num_partitions(1)
            .with_replication_factor(1)
            .with_configs(vec![
                create_topics_request::CreatableTopicConfig::default()
                    .with_name(s("message.downconversion.enable"))
                    .with_value(Some(s("false"))),
            ])]);
    match c.request(ApiKey::CreateTopics, 5, &create) {
        ResponseKind::CreateTopics(r) => assert_eq!(r.topics[0].error_code, 0, "{r:?}"),
        other => panic!("{other:?}"),
    }
    let batch = strata_record::batch::build(&[b"kept"], 1);
    assert_eq!(c.produce("kept-format", 0, batch, 1).0, 0);
    for version in 0..=3 {
        let body = legacy_wire::fetch_body(version, "kept-format");
        c.send_raw(&legacy_wire::frame(ApiKey::Fetch, version, 9, &body));
        let mut answer = c.read_frame().expect("an answer");
        assert_eq!(answer.get_i32(), 9);
        let codes = legacy_wire::read_answer(ApiKey::Fetch, version, answer);
        assert_eq!(codes, vec![35], "Fetch v{version}: UNSUPPORTED_VERSION");
    }
    let fetch = FetchRequest::default()
        .with_max_bytes(1 << 20)
        .with_topics(vec![fetch_request::FetchTopic::default()
            .with_topic(TopicName(s("kept-format")))
            .with_partitions(vec![fetch_request::FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    match c.request(ApiKey::Fetch, 11, &fetch) {
        ResponseKind::Fetch(r) => {
            let p = &r.responses[0].partitions[0];
            assert_eq!(p.error_code, 0);
            assert!(p.records.as_ref().is_some_and(|r| !r.is_empty()));
        }
        other => panic!("{other:?}"),
    }
}
