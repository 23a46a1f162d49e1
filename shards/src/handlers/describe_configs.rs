//! DescribeConfigs for topics (their effective log settings) and for this broker (its basics).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::shard::Shard;

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
/// Kafka's ConfigSource values.
const SOURCE_TOPIC: i8 = 1;
const SOURCE_STATIC_BROKER: i8 = 4;
const SOURCE_DEFAULT: i8 = 5;

fn entry(name: &str, value: String, source: i8) -> DescribeConfigsResourceResult {
    DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_string(name.to_string()))
        .with_value(Some(StrBytes::from_string(value)))
        .with_config_source(source)
        .with_read_only(source != SOURCE_TOPIC)
}

pub fn handle(shard: &Shard, request: DescribeConfigsRequest) -> DescribeConfigsResponse {
    let log = &shard.config.log;
    let table = shard.topics();
    let results = request
        .resources
        .iter()
        .map(|r| {
            let name = r.resource_name.to_string();
            let result = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            let entries = match r.resource_type {
                RESOURCE_TOPIC => match table.topics.get(&name) {
                    None => {
                        return result
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_error_message(Some(StrBytes::from_string(format!(
                                "no topic {name}"
                            ))))
                    }
                    Some(t) => {
                        let get = |k: &str, default: String| match t.configs.get(k) {
                            Some(v) => entry(k, v.clone(), SOURCE_TOPIC),
                            None => entry(k, default, SOURCE_DEFAULT),
                        };
                        vec![
                            get("segment.bytes", log.segment_bytes.to_string()),
                            get("segment.ms", log.segment_ms.to_string()),
                            get("max.message.bytes", log.max_message_bytes.to_string()),
                            get("retention.bytes", log.retention_bytes.to_string()),
                            get("retention.ms", log.retention_ms.to_string()),
                            entry("cleanup.policy", "delete".into(), SOURCE_DEFAULT),
                        ]
                    }
                },
                RESOURCE_BROKER => vec![
                    entry(
                        "broker.id",
                        shard.identity.node_id.to_string(),
                        SOURCE_STATIC_BROKER,
                    ),
                    entry(
                        "num.partitions",
                        shard.config.default_partitions.to_string(),
                        SOURCE_STATIC_BROKER,
                    ),
                    entry(
                        "auto.create.topics.enable",
                        shard.config.auto_create_topics.to_string(),
                        SOURCE_STATIC_BROKER,
                    ),
                    entry(
                        "log.segment.bytes",
                        log.segment_bytes.to_string(),
                        SOURCE_STATIC_BROKER,
                    ),
                    entry(
                        "log.retention.ms",
                        log.retention_ms.to_string(),
                        SOURCE_STATIC_BROKER,
                    ),
                    entry(
                        "log.retention.bytes",
                        log.retention_bytes.to_string(),
                        SOURCE_STATIC_BROKER,
                    ),
                    entry(
                        "message.max.bytes",
                        log.max_message_bytes.to_string(),
                        SOURCE_STATIC_BROKER,
                    ),
                ],
                _ => {
                    return result
                        .with_error_code(ResponseError::InvalidRequest.code())
                        .with_error_message(Some(StrBytes::from_static_str(
                            "only topic and broker resources",
                        )))
                }
            };
            let keys = r.configuration_keys.as_ref();
            let entries = entries
                .into_iter()
                .filter(|e| {
                    keys.is_none_or(|keys| keys.iter().any(|k| k.as_str() == e.name.as_str()))
                })
                .collect();
            result.with_configs(entries)
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}
