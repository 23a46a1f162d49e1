//! A lean Kafka client: a pipelined connection and the requests the load generator, the tests,
//! and the tools to come need (produce, fetch, metadata, admin). It speaks only the wire
//! protocol (kafka-protocol), so it drives any Kafka-compatible broker.
//!
//! It must never depend on the broker's code or the storage engine: only the runtime seam (for
//! its sockets) and the record batch.

pub mod conn;

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

pub use conn::{ClientError, Connection};

pub fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// Creates the topic if it does not exist; returns its partition count. An existing topic is
/// only looked up, so that brokers which refuse or lack CreateTopics (librdkafka's mock cluster
/// knows no v5, a locked-down Kafka refuses it) serve topics made beforehand.
pub async fn ensure_topic(
    conn: &Connection,
    name: &str,
    partitions: i32,
) -> Result<i32, ClientError> {
    if let Ok(n) = partition_count(conn, name).await {
        return Ok(n);
    }
    let create = CreateTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic_name(name))
            .with_num_partitions(partitions)
            .with_replication_factor(1)]);
    if let ResponseKind::CreateTopics(r) = conn.request(ApiKey::CreateTopics, 5, &create).await? {
        let code = r.topics.first().map_or(0, |t| t.error_code);
        if code != 0 && code != 36 {
            return Err(ClientError::Broker(format!(
                "creating {name}: error {code}"
            )));
        }
    }
    partition_count(conn, name).await
}

/// The topic's partition count from Metadata (never auto-creating it); an error if it is
/// unknown.
async fn partition_count(conn: &Connection, name: &str) -> Result<i32, ClientError> {
    let md = MetadataRequest::default()
        .with_allow_auto_topic_creation(false)
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(topic_name(name)))
        ]));
    match conn.request(ApiKey::Metadata, 9, &md).await? {
        ResponseKind::Metadata(r) => {
            let t = r
                .topics
                .first()
                .ok_or_else(|| ClientError::Broker("no topic in metadata".into()))?;
            if t.error_code != 0 {
                return Err(ClientError::Broker(format!(
                    "metadata for {name}: error {}",
                    t.error_code
                )));
            }
            Ok(t.partitions.len() as i32)
        }
        _ => Err(ClientError::Protocol("not a metadata response".into())),
    }
}

/// Each partition's leader, as `host:port` (from Metadata), in partition order; a partition
/// without a leader is an error.
pub async fn partition_leaders(conn: &Connection, name: &str) -> Result<Vec<String>, ClientError> {
    let md = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(topic_name(name)))
    ]));
    let ResponseKind::Metadata(r) = conn.request(ApiKey::Metadata, 9, &md).await? else {
        return Err(ClientError::Protocol("not a metadata response".into()));
    };
    let topic = r
        .topics
        .first()
        .ok_or_else(|| ClientError::Broker("no topic in metadata".into()))?;
    let mut partitions: Vec<_> = topic.partitions.iter().collect();
    partitions.sort_by_key(|p| p.partition_index);
    partitions
        .iter()
        .map(|p| {
            r.brokers
                .iter()
                .find(|b| b.node_id == p.leader_id)
                .map(|b| format!("{}:{}", b.host, b.port))
                .ok_or_else(|| {
                    ClientError::Broker(format!(
                        "partition {} of {name} has no live leader",
                        p.partition_index
                    ))
                })
        })
        .collect()
}

/// Latest offset (high watermark) of each partition.
pub async fn latest_offsets(
    conn: &Connection,
    name: &str,
    partitions: i32,
) -> Result<Vec<i64>, ClientError> {
    let all: Vec<i32> = (0..partitions).collect();
    let found = latest_offsets_of(conn, name, &all).await?;
    let mut out = vec![0; partitions as usize];
    for (p, offset) in found {
        if let Some(slot) = out.get_mut(p as usize) {
            *slot = offset;
        }
    }
    Ok(out)
}

/// Latest offset (high watermark) of each of `partitions`, from the broker that leads them.
pub async fn latest_offsets_of(
    conn: &Connection,
    name: &str,
    partitions: &[i32],
) -> Result<Vec<(i32, i64)>, ClientError> {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name(name))
            .with_partitions(
                partitions
                    .iter()
                    .map(|&p| {
                        ListOffsetsPartition::default()
                            .with_partition_index(p)
                            .with_timestamp(-1)
                    })
                    .collect(),
            )]);
    match conn.request(ApiKey::ListOffsets, 1, &req).await? {
        ResponseKind::ListOffsets(r) => {
            let mut out = Vec::new();
            for p in r.topics.iter().flat_map(|t| t.partitions.iter()) {
                if p.error_code != 0 {
                    return Err(ClientError::Broker(format!(
                        "list offsets: error {}",
                        p.error_code
                    )));
                }
                out.push((p.partition_index, p.offset));
            }
            Ok(out)
        }
        _ => Err(ClientError::Protocol("not a list offsets response".into())),
    }
}

/// A new idempotent producer id and epoch (InitProducerId without a transactional id).
pub async fn init_producer_id(conn: &Connection) -> Result<(i64, i16), ClientError> {
    let req = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    match conn.request(ApiKey::InitProducerId, 4, &req).await? {
        ResponseKind::InitProducerId(r) if r.error_code == 0 => {
            Ok((r.producer_id.0, r.producer_epoch))
        }
        ResponseKind::InitProducerId(r) => Err(ClientError::Broker(format!(
            "init producer id: error {}",
            r.error_code
        ))),
        other => Err(ClientError::Broker(format!(
            "init producer id: unexpected {other:?}"
        ))),
    }
}
