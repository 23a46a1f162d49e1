//! The broker's dynamic settings: Kafka's cluster-wide dynamic broker configs for the topic
//! defaults the log has (`log.retention.ms`, `log.segment.bytes`, ...). AlterConfigs and
//! IncrementalAlterConfigs on the broker resource set them; they are kept in the topic table,
//! so they are saved and handed to every shard with it, and the open logs of topics without a
//! value of their own take them at once. They override the config file's `[log]` settings; the
//! rest of the config file is read at start only, and refused here by name, as Kafka refuses
//! configs that are not dynamic.
//!
//! When the cluster has a metadata log (issue 14) these belong in it, as Kafka's ConfigRecords.

use std::collections::BTreeMap;

use crate::config::LogSettings;
use crate::topic_configs::{apply_change, ConfigChange, ConfigEdit, TOPIC_CONFIGS};

/// The broker settings that can change while the broker runs.
pub const DYNAMIC: &[&str] = &[
    "log.index.interval.bytes",
    "log.retention.bytes",
    "log.retention.ms",
    "log.roll.ms",
    "log.segment.bytes",
    "message.max.bytes",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerConfigError {
    /// Kafka: INVALID_REQUEST.
    #[error("Cannot update these configs dynamically: {0:?}")]
    NotDynamic(Vec<String>),
    /// Kafka: INVALID_CONFIG.
    #[error("{0}")]
    Invalid(String),
}

/// The topic config a dynamic broker setting is the default of.
fn topic_name_of(setting: &str) -> Option<&'static str> {
    if !DYNAMIC.contains(&setting) {
        return None;
    }
    TOPIC_CONFIGS
        .iter()
        .find(|c| c.broker_setting == Some(setting))
        .map(|c| c.name)
}

/// The dynamic settings after `change` (keyed by the broker's names), each value checked as the
/// topic config it is the default of.
pub fn apply_broker_change(
    current: &BTreeMap<String, String>,
    change: &ConfigChange,
) -> Result<BTreeMap<String, String>, BrokerConfigError> {
    let names: Vec<&String> = match change {
        ConfigChange::Replace(all) => all.keys().collect(),
        ConfigChange::Edit(edits) => edits.iter().map(|e| &e.name).collect(),
    };
    let not_dynamic: Vec<String> = names
        .iter()
        .filter(|n| topic_name_of(n).is_none())
        .map(|n| n.to_string())
        .collect();
    if !not_dynamic.is_empty() {
        return Err(BrokerConfigError::NotDynamic(not_dynamic));
    }
    // Checked and edited in the topic configs' names, then named back.
    let to_topic = |m: &BTreeMap<String, String>| -> BTreeMap<String, String> {
        m.iter()
            .filter_map(|(k, v)| topic_name_of(k).map(|t| (t.to_string(), v.clone())))
            .collect()
    };
    let topic_change = match change {
        ConfigChange::Replace(all) => ConfigChange::Replace(to_topic(all)),
        ConfigChange::Edit(edits) => ConfigChange::Edit(
            edits
                .iter()
                .map(|e| ConfigEdit {
                    name: topic_name_of(&e.name).unwrap_or_default().to_string(),
                    ..e.clone()
                })
                .collect(),
        ),
    };
    let edited =
        apply_change(&to_topic(current), &topic_change).map_err(BrokerConfigError::Invalid)?;
    Ok(DYNAMIC
        .iter()
        .filter_map(|setting| {
            let topic = topic_name_of(setting)?;
            edited.get(topic).map(|v| (setting.to_string(), v.clone()))
        })
        .collect())
}

/// The config file's `[log]` settings with the dynamic ones over them.
pub fn effective(file: &LogSettings, dynamic: &BTreeMap<String, String>) -> LogSettings {
    let mut log = file.clone();
    for (setting, value) in dynamic {
        // Values were checked when set; one that no longer parses keeps the file's.
        let Ok(v) = value.trim().parse::<i64>() else {
            continue;
        };
        let unsigned = u64::try_from(v).ok();
        match setting.as_str() {
            "log.index.interval.bytes" => {
                log.index_interval_bytes = unsigned.unwrap_or(log.index_interval_bytes)
            }
            "log.retention.bytes" => log.retention_bytes = v,
            "log.retention.ms" => log.retention_ms = v,
            "log.roll.ms" => log.segment_ms = unsigned.unwrap_or(log.segment_ms),
            "log.segment.bytes" => log.segment_bytes = unsigned.unwrap_or(log.segment_bytes),
            "message.max.bytes" => {
                log.max_message_bytes = usize::try_from(v).unwrap_or(log.max_message_bytes)
            }
            _ => {}
        }
    }
    log
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic_configs::EditOp;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_dynamic_setting_is_the_default_of_a_topic_config() {
        for setting in DYNAMIC {
            assert!(topic_name_of(setting).is_some(), "{setting}");
        }
    }

    #[test]
    fn settings_are_checked_edited_and_named_as_the_broker_names_them() {
        let now = map(&[("log.retention.ms", "1000")]);
        let set = |name: &str, op, value: Option<&str>| ConfigEdit {
            name: name.into(),
            op,
            value: value.map(str::to_string),
        };
        let edited = apply_broker_change(
            &now,
            &ConfigChange::Edit(vec![
                set("log.retention.ms", EditOp::Delete, None),
                set("log.segment.bytes", EditOp::Set, Some("1048576")),
            ]),
        )
        .unwrap();
        assert_eq!(edited, map(&[("log.segment.bytes", "1048576")]));
        let refused = apply_broker_change(
            &now,
            &ConfigChange::Replace(map(&[("num.partitions", "3"), ("log.roll.ms", "5")])),
        );
        assert_eq!(
            refused,
            Err(BrokerConfigError::NotDynamic(vec!["num.partitions".into()]))
        );
        let bad = apply_broker_change(
            &now,
            &ConfigChange::Replace(map(&[("log.retention.ms", "-7")])),
        );
        assert!(matches!(bad, Err(BrokerConfigError::Invalid(m)) if m.contains("retention.ms")));
    }

    #[test]
    fn dynamic_settings_override_the_files() {
        let file = LogSettings::default();
        let log = effective(
            &file,
            &map(&[("log.retention.ms", "5000"), ("message.max.bytes", "2048")]),
        );
        assert_eq!((log.retention_ms, log.max_message_bytes), (5000, 2048));
        assert_eq!(log.segment_bytes, file.segment_bytes);
    }
}
