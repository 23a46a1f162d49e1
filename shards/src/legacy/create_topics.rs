//! CreateTopics v0-v1 (what kafka-go 0.2.1 sends): served by the CreateTopics handler as v2.
//!
//! Request: [topic string, num_partitions i32, replication_factor i16, [partition i32,
//! [broker_id i32]], [config name string, config value nullable string]], timeout_ms i32,
//! validate_only bool (v1).
//! Response: [topic string, error_code i16, error_message nullable string (v1)].

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::{BrokerId, CreateTopicsRequest, CreateTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::wire::{WireError, WireReader, WireWrite};

/// The version modern handlers serve in place of these.
pub const SERVED_AS: i16 = 2;

pub fn decode(version: i16, mut r: WireReader) -> Result<CreateTopicsRequest, WireError> {
    let topics = r.array("topics", 2 + 4 + 2 + 4 + 4, |r| {
        let name = r.string("topic")?;
        let num_partitions = r.i32("num_partitions")?;
        let replication_factor = r.i16("replication_factor")?;
        let assignments = r.array("assignments", 4 + 4, |r| {
            let partition_index = r.i32("partition")?;
            let broker_ids = r.array("broker_ids", 4, |r| Ok(BrokerId(r.i32("broker_id")?)))?;
            Ok(CreatableReplicaAssignment::default()
                .with_partition_index(partition_index)
                .with_broker_ids(broker_ids))
        })?;
        let configs = r.array("configs", 2 + 2, |r| {
            let config_name = r.string("config name")?;
            let value = r.nullable_string("config value")?;
            Ok(CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(config_name))
                .with_value(value.map(StrBytes::from_string)))
        })?;
        Ok(CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(name)))
            .with_num_partitions(num_partitions)
            .with_replication_factor(replication_factor)
            .with_assignments(assignments)
            .with_configs(configs))
    })?;
    let timeout_ms = r.i32("timeout_ms")?;
    let validate_only = if version >= 1 {
        r.bool("validate_only")?
    } else {
        false
    };
    r.finish()?;
    Ok(CreateTopicsRequest::default()
        .with_topics(topics)
        .with_timeout_ms(timeout_ms)
        .with_validate_only(validate_only))
}

pub fn encode(out: &mut BytesMut, version: i16, response: &CreateTopicsResponse) {
    out.array_len(response.topics.len());
    for t in &response.topics {
        out.string(t.name.0.as_str());
        out.put_i16(t.error_code);
        if version >= 1 {
            out.nullable_string(t.error_message.as_deref());
        }
    }
}
