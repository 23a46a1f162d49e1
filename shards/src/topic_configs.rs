//! Every topic config Kafka knows: its type, the values it accepts, Kafka's documented default,
//! and what Strata does with it. CreateTopics, AlterConfigs and IncrementalAlterConfigs accept
//! any of them with a valid value; DescribeConfigs shows them all with their source.
//!
//! Strata honours `cleanup.policy` (compact topics refuse records without a key; compaction
//! itself is still to come), `compression.type`, `message.timestamp.type`, and the log settings
//! the engine has (`segment.bytes`, `segment.ms`, `max.message.bytes`, `retention.bytes`,
//! `retention.ms`). The rest are validated, stored and shown, and take effect when the feature
//! they govern exists (replication, tiered storage, compaction, throttling).

use std::collections::BTreeMap;

use crate::config::LogSettings;

/// What values a config takes.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Int {
        min: i64,
    },
    Long {
        min: i64,
    },
    /// A ratio within [0, 1].
    Ratio,
    Bool,
    /// One of these names.
    Choice(&'static [&'static str]),
    /// A comma-separated list of these names, at least one.
    ListOf(&'static [&'static str]),
    /// Throttled replicas: empty, `*`, or `partition:broker` pairs separated by commas.
    Replicas,
    /// A Kafka version such as `3.0-IV1` (the deprecated message.format.version).
    Version,
}

impl Kind {
    /// Kafka's ConfigType code for DescribeConfigs v3+.
    pub fn config_type(&self) -> i8 {
        match self {
            Kind::Bool => 1,
            Kind::Choice(_) | Kind::Version => 2,
            Kind::Int { .. } => 3,
            Kind::Long { .. } => 5,
            Kind::Ratio => 6,
            Kind::ListOf(_) | Kind::Replicas => 7,
        }
    }

    pub fn is_list(&self) -> bool {
        matches!(self, Kind::ListOf(_) | Kind::Replicas)
    }
}

/// One topic config.
#[derive(Debug, Clone, Copy)]
pub struct TopicConfig {
    pub name: &'static str,
    pub kind: Kind,
    /// Kafka's documented default.
    pub default: &'static str,
    /// The broker setting that gives the default here (Kafka's name), when there is one.
    pub broker_setting: Option<&'static str>,
    pub doc: &'static str,
}

const CODECS: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];
const LONG_MAX: &str = "9223372036854775807";

const fn int(min: i64) -> Kind {
    Kind::Int { min }
}
const fn long(min: i64) -> Kind {
    Kind::Long { min }
}

macro_rules! cfg {
    ($name:literal, $kind:expr, $default:expr, $broker:expr, $doc:literal) => {
        TopicConfig {
            name: $name,
            kind: $kind,
            default: $default,
            broker_setting: $broker,
            doc: $doc,
        }
    };
}

/// Kafka 3.9's topic configs.
pub const TOPIC_CONFIGS: &[TopicConfig] = &[
    cfg!("cleanup.policy", Kind::ListOf(&["delete", "compact"]), "delete", None,
        "delete: old segments are removed by retention; compact: the latest record per key is kept (records need a key)."),
    cfg!("compression.type", Kind::Choice(CODECS), "producer", None,
        "Codec batches are stored with; producer keeps what the producer sent, any other value has the broker recompress."),
    cfg!("compression.gzip.level", int(-1), "-1", None, "gzip level when the broker compresses (-1: the codec's default; 1 to 9)."),
    cfg!("compression.lz4.level", int(1), "9", None, "lz4 level when the broker compresses (1 to 17)."),
    cfg!("compression.zstd.level", int(-131072), "3", None, "zstd level when the broker compresses (-131072 to 22)."),
    cfg!("delete.retention.ms", long(0), "86400000", None, "How long delete tombstones are kept in compacted topics."),
    cfg!("file.delete.delay.ms", long(0), "60000", None, "Delay before a removed segment's files are deleted."),
    cfg!("flush.messages", long(1), LONG_MAX, None, "Messages between forced flushes (Strata flushes by its own policy)."),
    cfg!("flush.ms", long(0), LONG_MAX, None, "Time between forced flushes (Strata flushes by its own policy)."),
    cfg!("follower.replication.throttled.replicas", Kind::Replicas, "", None, "Replicas whose follower replication is throttled."),
    cfg!("index.interval.bytes", int(0), "4096", Some("log.index.interval.bytes"), "Bytes between offset index entries (the broker's setting applies)."),
    cfg!("leader.replication.throttled.replicas", Kind::Replicas, "", None, "Replicas whose leader replication is throttled."),
    cfg!("local.retention.bytes", long(-2), "-2", None, "Local bytes kept with tiered storage (-2: retention.bytes)."),
    cfg!("local.retention.ms", long(-2), "-2", None, "Local time kept with tiered storage (-2: retention.ms)."),
    cfg!("max.compaction.lag.ms", long(1), LONG_MAX, None, "Longest a record stays uncompacted."),
    cfg!("max.message.bytes", int(0), "1048588", Some("message.max.bytes"), "Largest record batch accepted."),
    cfg!("message.downconversion.enable", Kind::Bool, "true", None, "Whether old fetch versions get down-converted batches."),
    cfg!("message.format.version", Kind::Version, "3.0-IV1", None, "Deprecated; ignored since message format v2."),
    cfg!("message.timestamp.after.max.ms", long(0), LONG_MAX, None, "How far ahead of the broker's clock a record's timestamp may be."),
    cfg!("message.timestamp.before.max.ms", long(0), LONG_MAX, None, "How far behind the broker's clock a record's timestamp may be."),
    cfg!("message.timestamp.difference.max.ms", long(0), LONG_MAX, None, "Deprecated: see message.timestamp.before/after.max.ms."),
    cfg!("message.timestamp.type", Kind::Choice(&["CreateTime", "LogAppendTime"]), "CreateTime", None,
        "CreateTime keeps the producer's timestamps; LogAppendTime has the broker stamp each batch when it appends it."),
    cfg!("min.cleanable.dirty.ratio", Kind::Ratio, "0.5", None, "Share of a compacted log that must be dirty before it is cleaned."),
    cfg!("min.compaction.lag.ms", long(0), "0", None, "Shortest a record stays uncompacted."),
    cfg!("min.insync.replicas", int(1), "1", None, "Replicas that must have a write for acks=all to succeed."),
    cfg!("preallocate", Kind::Bool, "false", None, "Whether segment files are preallocated."),
    cfg!("remote.log.copy.disable", Kind::Bool, "false", None, "Stops copying segments to tiered storage."),
    cfg!("remote.log.delete.on.disable", Kind::Bool, "false", None, "Deletes tiered data when tiered storage is turned off."),
    cfg!("remote.storage.enable", Kind::Bool, "false", None, "Tiered storage for the topic (not available in Strata)."),
    cfg!("retention.bytes", long(-1), "-1", Some("log.retention.bytes"), "Largest size of a partition's log before old segments go (-1: none)."),
    cfg!("retention.ms", long(-1), "604800000", Some("log.retention.ms"), "Longest a segment is kept after its newest record (-1: forever)."),
    cfg!("segment.bytes", int(14), "1073741824", Some("log.segment.bytes"), "Size at which a segment is rolled."),
    cfg!("segment.index.bytes", int(4), "10485760", None, "Size of a segment's index files (Strata's grow as needed)."),
    cfg!("segment.jitter.ms", long(0), "0", None, "Random jitter subtracted from segment.ms."),
    cfg!("segment.ms", long(1), "604800000", Some("log.roll.ms"), "Age at which a segment is rolled."),
    cfg!("unclean.leader.election.enable", Kind::Bool, "false", None, "Whether an out-of-sync replica may become leader."),
];

pub fn lookup(name: &str) -> Option<&'static TopicConfig> {
    TOPIC_CONFIGS.iter().find(|c| c.name == name)
}

/// This broker's value for a config whose default comes from a broker setting, when it has one.
pub fn broker_value(config: &TopicConfig, log: &LogSettings) -> Option<String> {
    Some(match config.name {
        "segment.bytes" => log.segment_bytes.to_string(),
        "segment.ms" => log.segment_ms.to_string(),
        "max.message.bytes" => log.max_message_bytes.to_string(),
        "retention.bytes" => log.retention_bytes.to_string(),
        "retention.ms" => log.retention_ms.to_string(),
        "index.interval.bytes" => log.index_interval_bytes.to_string(),
        _ => return None,
    })
}

/// Why `value` is refused for the topic config `name`, in Kafka's words; None when it is valid.
pub fn invalid(name: &str, value: &str) -> Option<String> {
    let Some(config) = lookup(name) else {
        return Some(format!("Unknown topic config name: {name}"));
    };
    let bad = |why: String| {
        Some(format!(
            "Invalid value {value} for configuration {name}: {why}"
        ))
    };
    match config.kind {
        Kind::Int { min } | Kind::Long { min } => {
            let max = match config.kind {
                Kind::Int { .. } => i64::from(i32::MAX),
                _ => i64::MAX,
            };
            match value.trim().parse::<i64>() {
                Err(_) => bad("Not a number of the right type".into()),
                Ok(v) if v < min => bad(format!("Value must be at least {min}")),
                Ok(v) if v > max => bad(format!("Value must be no more than {max}")),
                Ok(_) => None,
            }
        }
        Kind::Ratio => match value.trim().parse::<f64>() {
            Ok(v) if (0.0..=1.0).contains(&v) => None,
            _ => bad("Value must be a number between 0 and 1".into()),
        },
        Kind::Bool => match value.trim().to_ascii_lowercase().as_str() {
            "true" | "false" => None,
            _ => bad("Expected value to be either true or false".into()),
        },
        Kind::Choice(names) => match names.contains(&value.trim()) {
            true => None,
            false => bad(format!("String must be one of: {}", names.join(", "))),
        },
        Kind::ListOf(names) => {
            let items: Vec<&str> = value.split(',').map(str::trim).collect();
            if items.iter().all(|i| names.contains(i)) {
                None
            } else {
                bad(format!("Each item must be one of: {}", names.join(", ")))
            }
        }
        Kind::Replicas => {
            let ok = value.trim().is_empty()
                || value.trim() == "*"
                || value.split(',').all(|pair| {
                    let mut it = pair.trim().split(':');
                    let (Some(p), Some(b), None) = (it.next(), it.next(), it.next()) else {
                        return false;
                    };
                    p.parse::<u32>().is_ok() && b.parse::<u32>().is_ok()
                });
            match ok {
                true => None,
                false => bad("Must be empty, * or a list of partition:broker pairs".into()),
            }
        }
        Kind::Version => {
            let (number, iv) = value.split_once("-IV").unwrap_or((value, "0"));
            let parts: Vec<&str> = number.split('.').collect();
            let ok = (2..=3).contains(&parts.len())
                && parts.iter().all(|p| p.parse::<u32>().is_ok())
                && iv.parse::<u32>().is_ok();
            match ok {
                true => None,
                false => bad("Not a Kafka version".into()),
            }
        }
    }
    .or_else(|| unavailable(name, value))
}

/// Values Kafka accepts in general that this broker cannot serve.
fn unavailable(name: &str, value: &str) -> Option<String> {
    (name == "remote.storage.enable" && value.trim().eq_ignore_ascii_case("true")).then(|| {
        "Tiered Storage functionality is disabled in the broker: remote.storage.enable cannot be \
         true"
            .to_string()
    })
}

/// A change of a topic's configs: AlterConfigs replaces them all (the ones it leaves out go back
/// to their defaults); IncrementalAlterConfigs edits some.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ConfigChange {
    Replace(BTreeMap<String, String>),
    Edit(Vec<ConfigEdit>),
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConfigEdit {
    pub name: String,
    pub op: EditOp,
    pub value: Option<String>,
}

/// IncrementalAlterConfigs' operations (their Kafka codes are 0 to 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum EditOp {
    Set,
    Delete,
    /// Add items to a list config (kept once each).
    Append,
    /// Remove items from a list config.
    Subtract,
}

/// The topic's configs after `change`, or why it is refused (in Kafka's words).
pub fn apply_change(
    current: &BTreeMap<String, String>,
    change: &ConfigChange,
) -> Result<BTreeMap<String, String>, String> {
    let checked = |name: &str, value: &str| match invalid(name, value) {
        Some(why) => Err(why),
        None => Ok((name.to_string(), value.trim().to_string())),
    };
    match change {
        ConfigChange::Replace(all) => all.iter().map(|(k, v)| checked(k, v)).collect(),
        ConfigChange::Edit(edits) => {
            let mut out = current.clone();
            for e in edits {
                let Some(config) = lookup(&e.name) else {
                    return Err(format!("Unknown topic config name: {}", e.name));
                };
                let value = e.value.clone().unwrap_or_default();
                match e.op {
                    EditOp::Set => {
                        let (k, v) = checked(&e.name, &value)?;
                        out.insert(k, v);
                    }
                    EditOp::Delete => {
                        out.remove(&e.name);
                    }
                    EditOp::Append | EditOp::Subtract if !config.kind.is_list() => {
                        return Err(format!(
                            "Config value append or subtract is not allowed for config key {}",
                            e.name
                        ));
                    }
                    EditOp::Append | EditOp::Subtract => {
                        let now = out
                            .get(&e.name)
                            .cloned()
                            .unwrap_or_else(|| config.default.to_string());
                        let mut items: Vec<String> = split_list(&now);
                        for item in split_list(&value) {
                            let present = items.contains(&item);
                            match e.op {
                                EditOp::Append if !present => items.push(item),
                                EditOp::Subtract => items.retain(|i| *i != item),
                                _ => {}
                            }
                        }
                        let (k, v) = checked(&e.name, &items.join(","))?;
                        out.insert(k, v);
                    }
                }
            }
            Ok(out)
        }
    }
}

fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_is_valid_and_names_are_unique() {
        let mut names = std::collections::BTreeSet::new();
        for c in TOPIC_CONFIGS {
            assert!(names.insert(c.name), "{} twice", c.name);
            assert_eq!(invalid(c.name, c.default), None, "{}", c.name);
        }
    }

    #[test]
    fn values_are_checked_against_each_kind() {
        assert!(invalid("retention.ms", "-2")
            .unwrap()
            .contains("at least -1"));
        assert!(invalid("segment.bytes", "4294967296").is_some());
        assert!(invalid("cleanup.policy", "compact,delete").is_none());
        assert!(invalid("cleanup.policy", "compact,shred").is_some());
        assert!(invalid("compression.type", "brotli").is_some());
        assert!(invalid("min.cleanable.dirty.ratio", "1.5").is_some());
        assert!(invalid("preallocate", "yes").is_some());
        assert!(invalid("leader.replication.throttled.replicas", "0:1,1:0").is_none());
        assert!(invalid("leader.replication.throttled.replicas", "0-1").is_some());
        assert!(invalid("message.format.version", "2.8-IV1").is_none());
        assert!(invalid("remote.storage.enable", "true").is_some());
        assert!(invalid("no.such.config", "1").is_some());
    }

    #[test]
    fn edits_set_delete_append_and_subtract() {
        let mut now = BTreeMap::new();
        now.insert("retention.ms".to_string(), "1000".to_string());
        let edit = |name: &str, op, value: Option<&str>| ConfigEdit {
            name: name.into(),
            op,
            value: value.map(str::to_string),
        };
        let change = ConfigChange::Edit(vec![
            edit("retention.ms", EditOp::Delete, None),
            edit("cleanup.policy", EditOp::Append, Some("compact")),
            edit("segment.ms", EditOp::Set, Some(" 5000 ")),
        ]);
        let after = apply_change(&now, &change).unwrap();
        assert_eq!(after.get("retention.ms"), None);
        assert_eq!(after["cleanup.policy"], "delete,compact");
        assert_eq!(after["segment.ms"], "5000");
        let back = ConfigChange::Edit(vec![edit(
            "cleanup.policy",
            EditOp::Subtract,
            Some("delete"),
        )]);
        assert_eq!(
            apply_change(&after, &back).unwrap()["cleanup.policy"],
            "compact"
        );
        let bad = ConfigChange::Edit(vec![edit("segment.ms", EditOp::Append, Some("1"))]);
        assert!(apply_change(&after, &bad)
            .unwrap_err()
            .contains("not allowed"));
        let replace = ConfigChange::Replace([("segment.ms".to_string(), "x".to_string())].into());
        assert!(apply_change(&after, &replace).is_err());
    }
}
