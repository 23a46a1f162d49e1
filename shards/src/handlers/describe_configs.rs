//! DescribeConfigs for topics (every Kafka topic config, with its value, where the value comes
//! from, and, when asked, its synonyms, type and documentation) and for this broker (its basics
//! and its log settings, dynamic ones marked as such).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use std::collections::BTreeMap;

use crate::broker_configs;
use crate::config::LogSettings;
use crate::shard::Shard;
use crate::topic_configs::{broker_value, TOPIC_CONFIGS};
use crate::topics::TopicSpec;

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
/// Kafka's ConfigSource values.
const SOURCE_TOPIC: i8 = 1;
const SOURCE_DYNAMIC_DEFAULT_BROKER: i8 = 3;
const SOURCE_STATIC_BROKER: i8 = 4;
const SOURCE_DEFAULT: i8 = 5;

fn entry(name: &str, value: String, source: i8) -> DescribeConfigsResourceResult {
    DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_string(name.to_string()))
        .with_value(Some(StrBytes::from_string(value)))
        .with_config_source(source)
        .with_read_only(source != SOURCE_TOPIC)
}

/// What the request asks to see beside each value.
#[derive(Clone, Copy)]
struct Detail {
    synonyms: bool,
    documentation: bool,
    /// Version 3+: the config's type.
    types: bool,
}

fn synonym(name: &str, value: &str, source: i8) -> DescribeConfigsSynonym {
    DescribeConfigsSynonym::default()
        .with_name(StrBytes::from_string(name.to_string()))
        .with_value(Some(StrBytes::from_string(value.to_string())))
        .with_source(source)
}

/// Where the broker's value of `setting` comes from.
fn broker_source(setting: &str, dynamic: &BTreeMap<String, String>) -> i8 {
    if dynamic.contains_key(setting) {
        SOURCE_DYNAMIC_DEFAULT_BROKER
    } else {
        SOURCE_STATIC_BROKER
    }
}

/// Every topic config of `spec`: its own value, else the broker's (dynamic or from its config
/// file), else Kafka's default.
fn topic_entries(
    spec: &TopicSpec,
    log: &LogSettings,
    dynamic: &BTreeMap<String, String>,
    detail: Detail,
) -> Vec<DescribeConfigsResourceResult> {
    TOPIC_CONFIGS
        .iter()
        .map(|c| {
            let own = spec.configs.get(c.name);
            let from_broker = c
                .broker_setting
                .map_or(SOURCE_STATIC_BROKER, |s| broker_source(s, dynamic));
            let broker = broker_value(c, log)
                .filter(|v| v != c.default || from_broker == SOURCE_DYNAMIC_DEFAULT_BROKER);
            let (value, source) = match (own, &broker) {
                (Some(v), _) => (v.clone(), SOURCE_TOPIC),
                (None, Some(v)) => (v.clone(), from_broker),
                (None, None) => (c.default.to_string(), SOURCE_DEFAULT),
            };
            let mut e = entry(c.name, value, source).with_read_only(false);
            if detail.synonyms {
                let mut synonyms = Vec::new();
                if let Some(v) = own {
                    synonyms.push(synonym(c.name, v, SOURCE_TOPIC));
                }
                if let (Some(v), Some(setting)) = (&broker, c.broker_setting) {
                    synonyms.push(synonym(setting, v, from_broker));
                }
                synonyms.push(synonym(
                    c.broker_setting.unwrap_or(c.name),
                    c.default,
                    SOURCE_DEFAULT,
                ));
                e = e.with_synonyms(synonyms);
            }
            if detail.types {
                e = e.with_config_type(c.kind.config_type());
                if detail.documentation {
                    e = e.with_documentation(Some(StrBytes::from_static_str(c.doc)));
                }
            }
            e
        })
        .collect()
}

/// The broker's log settings: those that can change while it runs are not read-only.
fn broker_log_entries(
    log: &LogSettings,
    dynamic: &BTreeMap<String, String>,
) -> Vec<DescribeConfigsResourceResult> {
    broker_configs::DYNAMIC
        .iter()
        .filter_map(|setting| {
            let c = TOPIC_CONFIGS
                .iter()
                .find(|c| c.broker_setting == Some(*setting))?;
            let value = broker_value(c, log)?;
            Some(entry(setting, value, broker_source(setting, dynamic)).with_read_only(false))
        })
        .collect()
}

pub fn handle(
    shard: &Shard,
    request: DescribeConfigsRequest,
    version: i16,
) -> DescribeConfigsResponse {
    let detail = Detail {
        synonyms: request.include_synonyms,
        documentation: request.include_documentation,
        types: version >= 3,
    };
    let table = shard.topics();
    let dynamic = &table.broker_configs;
    let log = &broker_configs::effective(&shard.config.log, dynamic);
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
                    Some(t) => topic_entries(t, log, dynamic, detail),
                },
                RESOURCE_BROKER => [
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
                ]
                .into_iter()
                .chain(broker_log_entries(log, dynamic))
                .collect(),
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
