//! A bare Kafka connection for tests that must send what no real client would.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ResponseKind};
use kafka_protocol::protocol::Encodable;

pub struct RawConn {
    pub stream: TcpStream,
    next_correlation: i32,
}

impl RawConn {
    pub fn connect(addr: SocketAddr) -> RawConn {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        RawConn {
            stream,
            next_correlation: 1,
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }

    /// Sends a request; returns its correlation id. Encoding is the load generator's client's
    /// (one Kafka client in the project); this type only adds a blocking socket that can also
    /// send bytes no client would.
    pub fn send<R: Encodable>(&mut self, api: ApiKey, version: i16, body: &R) -> i32 {
        let correlation = self.next_correlation;
        self.next_correlation += 1;
        let frame = strata_client::Connection::encode(api, version, correlation, body).unwrap();
        self.send_raw(&frame);
        correlation
    }

    /// Reads one response frame; None when the broker closed the connection.
    pub fn read_frame(&mut self) -> Option<Bytes> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).ok()?;
        let mut frame = vec![0u8; i32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut frame).ok()?;
        Some(Bytes::from(frame))
    }

    /// Reads a response to `api` at `version`: (correlation id, body).
    pub fn receive(&mut self, api: ApiKey, version: i16) -> Option<(i32, ResponseKind)> {
        let mut frame = self.read_frame()?;
        let correlation = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
        strata_client::conn::strip_header(api, version, &mut frame).unwrap();
        let body = strata_client::conn::decode_response(api, version, &mut frame).unwrap();
        Some((correlation, body))
    }

    pub fn request<R: Encodable>(&mut self, api: ApiKey, version: i16, body: &R) -> ResponseKind {
        let c = self.send(api, version, body);
        let (got, body) = self.receive(api, version).expect("a response");
        assert_eq!(got, c, "responses come in request order");
        body
    }

    /// Produces `records` (one or more batches) to one partition with Produce v7: the partition's
    /// error code and base offset.
    pub fn produce(
        &mut self,
        topic: &str,
        partition: i32,
        records: Vec<u8>,
        acks: i16,
    ) -> (i16, i64) {
        let req = ProduceRequest::default()
            .with_acks(acks)
            .with_timeout_ms(5000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(strata_client::topic_name(topic))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(Bytes::from(records)))])]);
        match self.request(ApiKey::Produce, 7, &req) {
            ResponseKind::Produce(r) => {
                let p = &r.responses[0].partition_responses[0];
                (p.error_code, p.base_offset)
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Asks FindCoordinator for `group` until it names a coordinator, as every real client does
    /// before its first group request: the first ask creates `__consumer_offsets`, and until its
    /// partition is led and loaded the answer is COORDINATOR_NOT_AVAILABLE (15), as in Kafka.
    pub fn wait_for_coordinator(&mut self, group: &str) {
        use kafka_protocol::messages::FindCoordinatorRequest;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let req = FindCoordinatorRequest::default().with_key(
            kafka_protocol::protocol::StrBytes::from_string(group.to_string()),
        );
        loop {
            let code = match self.request(ApiKey::FindCoordinator, 3, &req) {
                ResponseKind::FindCoordinator(r) => r.error_code,
                other => panic!("unexpected {other:?}"),
            };
            if code == 0 {
                return;
            }
            assert_eq!(
                code, 15,
                "only COORDINATOR_NOT_AVAILABLE is expected while it loads"
            );
            assert!(
                std::time::Instant::now() < deadline,
                "no coordinator for {group} in 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The partition's latest offset (ListOffsets v1, timestamp -1).
    pub fn latest_offset(&mut self, topic: &str, partition: i32) -> i64 {
        use kafka_protocol::messages::list_offsets_request::{
            ListOffsetsPartition, ListOffsetsTopic,
        };
        use kafka_protocol::messages::{BrokerId, ListOffsetsRequest};
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(strata_client::topic_name(topic))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(partition)
                    .with_timestamp(-1)])]);
        match self.request(ApiKey::ListOffsets, 1, &req) {
            ResponseKind::ListOffsets(r) => r.topics[0].partitions[0].offset,
            other => panic!("unexpected {other:?}"),
        }
    }

    /// True if the broker closed the connection (EOF or reset); false if it is still open
    /// after the read timeout.
    pub fn closed_by_broker(&mut self) -> bool {
        let mut b = [0u8; 1];
        match self.stream.read(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        }
    }

    /// Ends the sending side: the broker sees end of stream after what was sent.
    pub fn finish_sending(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
    }
}
