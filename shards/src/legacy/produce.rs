//! Produce v0-v2: the request carries message sets (magic 0/1). Each partition's set becomes
//! one v2 batch before the Produce handler sees it; a set that cannot be read is answered for
//! its partition alone (CORRUPT_MESSAGE or INVALID_RECORD), as Kafka does.
//!
//! Request: acks i16, timeout_ms i32, [topic string, [partition i32, records bytes]].
//! Response: [topic string, [partition i32, error_code i16, base_offset i64,
//! log_append_time_ms i64 (v2)]], throttle_time_ms i32 (v1+).

use bytes::{BufMut, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::message_set::{self, MessageSetError};
use super::wire::{WireError, WireReader, WireWrite};

/// A partition answered here, without reaching the log.
#[derive(Debug, Clone)]
pub struct Refused {
    pub topic: String,
    pub partition: i32,
    pub error_code: i16,
}

/// A compressed message may inflate to at most `max_inflated_bytes`.
pub fn decode(
    mut r: WireReader,
    max_inflated_bytes: usize,
) -> Result<(ProduceRequest, Vec<Refused>), WireError> {
    let acks = r.i16("acks")?;
    let timeout_ms = r.i32("timeout_ms")?;
    let mut refused = Vec::new();
    let topics = r.array("topics", 2 + 4, |r| {
        let name = r.string("topic")?;
        let partitions = r.array("partitions", 4 + 4, |r| {
            let index = r.i32("partition")?;
            let set = r.nullable_bytes("records")?;
            let converted = set.map(|set| {
                message_set::unpack(set, max_inflated_bytes).and_then(|u| message_set::to_batch(&u))
            });
            Ok(match converted {
                Some(Err(e)) => {
                    tracing::debug!(topic = %name, partition = index, "old-format produce refused: {e}");
                    refused.push(Refused {
                        topic: name.clone(),
                        partition: index,
                        error_code: error_code(&e),
                    });
                    None
                }
                converted => Some(
                    PartitionProduceData::default()
                        .with_index(index)
                        .with_records(converted.and_then(Result::ok).map(BytesMut::freeze)),
                ),
            })
        })?;
        Ok(TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(name)))
            .with_partition_data(partitions.into_iter().flatten().collect()))
    })?;
    r.finish()?;
    let request = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(timeout_ms)
        .with_topic_data(topics);
    Ok((request, refused))
}

fn error_code(e: &MessageSetError) -> i16 {
    match e {
        MessageSetError::Corrupt { .. } | MessageSetError::Stored(_) => {
            ResponseError::CorruptMessage.code()
        }
        MessageSetError::Invalid(_) => ResponseError::InvalidRecord.code(),
    }
}

pub fn encode(out: &mut BytesMut, version: i16, response: &ProduceResponse, refused: &[Refused]) {
    // Topics as answered, then those whose every partition was refused here.
    let mut names: Vec<&str> = response
        .responses
        .iter()
        .map(|t| t.name.0.as_str())
        .collect();
    for r in refused {
        if !names.contains(&r.topic.as_str()) {
            names.push(&r.topic);
        }
    }
    out.array_len(names.len());
    for name in names {
        out.string(name);
        let answered = response
            .responses
            .iter()
            .filter(|t| t.name.0.as_str() == name)
            .flat_map(|t| t.partition_responses.iter())
            .map(|p| (p.index, p.error_code, p.base_offset, p.log_append_time_ms));
        let here = refused
            .iter()
            .filter(|r| r.topic == name)
            .map(|r| (r.partition, r.error_code, -1, -1));
        let partitions: Vec<_> = answered.chain(here).collect();
        out.array_len(partitions.len());
        for (index, error_code, base_offset, log_append_time_ms) in partitions {
            out.put_i32(index);
            out.put_i16(error_code);
            out.put_i64(base_offset);
            if version >= 2 {
                out.put_i64(log_append_time_ms);
            }
        }
    }
    if version >= 1 {
        out.put_i32(response.throttle_time_ms);
    }
}
