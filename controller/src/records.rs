//! The records of the metadata log, named and shaped after Kafka's KRaft records
//! (RegisterBrokerRecord, TopicRecord, PartitionRecord, PartitionChangeRecord, ConfigRecord,
//! FenceBrokerRecord, ProducerIdsRecord, ...), so that a later switch to Kafka's own encoding
//! is mechanical. A Raft entry holds one `MetadataBatch`, applied all or nothing.

use serde::{Deserialize, Serialize};

/// Where clients reach a broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

/// What a config record sets.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConfigResource {
    Topic {
        name: String,
    },
    /// `None`: the cluster-wide default (Kafka's empty broker name).
    Broker {
        id: Option<i32>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum MetadataRecord {
    /// A broker process (re)registers; `epoch` grows with each registration. It stays fenced
    /// (leads nothing) until unfenced.
    RegisterBroker {
        broker_id: i32,
        incarnation: String,
        epoch: i64,
        endpoint: Endpoint,
        rack: Option<String>,
        shards: u32,
    },
    UnfenceBroker {
        broker_id: i32,
        epoch: i64,
    },
    /// The broker missed its heartbeats: it leads nothing until it registers again.
    FenceBroker {
        broker_id: i32,
        epoch: i64,
    },
    Topic {
        name: String,
        topic_id: String,
    },
    /// A new partition of a topic, with its replicas and first leader.
    Partition {
        topic_id: String,
        partition: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        leader: i32,
    },
    /// A change of a partition's leader or replicas; `None` leaves a field as it is. A new
    /// leader (or none, -1) starts a new leader epoch; every change starts a new partition epoch.
    PartitionChange {
        topic_id: String,
        partition: i32,
        leader: Option<i32>,
        isr: Option<Vec<i32>>,
        replicas: Option<Vec<i32>>,
    },
    RemoveTopic {
        topic_id: String,
    },
    /// Sets a config (or removes it, `value: None`).
    Config {
        resource: ConfigResource,
        name: String,
        value: Option<String>,
    },
    /// A block of producer ids handed to a broker: ids below `next_producer_id` are taken.
    ProducerIds {
        broker_id: i32,
        broker_epoch: i64,
        next_producer_id: i64,
    },
}

/// The records of one Raft entry, applied together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataBatch {
    /// The encoding's version: a reader refuses one it does not know rather than skip records.
    pub v: u32,
    pub records: Vec<MetadataRecord>,
}

pub const BATCH_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("metadata entry does not decode: {0}")]
    Json(#[from] serde_json::Error),
    #[error("metadata entry of encoding v{0}; this build reads v{BATCH_VERSION}")]
    Version(u32),
}

impl MetadataBatch {
    pub fn new(records: Vec<MetadataRecord>) -> Self {
        MetadataBatch {
            v: BATCH_VERSION,
            records,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        // A batch is plain data: serializing it cannot fail.
        serde_json::to_vec(self).expect("metadata records serialize")
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let batch: MetadataBatch = serde_json::from_slice(bytes)?;
        if batch.v != BATCH_VERSION {
            return Err(DecodeError::Version(batch.v));
        }
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_read_back_and_unknown_versions_and_records_are_refused() {
        let batch = MetadataBatch::new(vec![
            MetadataRecord::Topic {
                name: "t".into(),
                topic_id: "id-1".into(),
            },
            MetadataRecord::Config {
                resource: ConfigResource::Broker { id: None },
                name: "log.retention.ms".into(),
                value: Some("1000".into()),
            },
        ]);
        assert_eq!(MetadataBatch::decode(&batch.encode()).unwrap(), batch);
        let later = br#"{"v":2,"records":[]}"#;
        assert!(matches!(
            MetadataBatch::decode(later),
            Err(DecodeError::Version(2))
        ));
        let unknown = br#"{"v":1,"records":[{"type":"AccessControlEntry"}]}"#;
        assert!(matches!(
            MetadataBatch::decode(unknown),
            Err(DecodeError::Json(_))
        ));
    }
}
