//! `strata cluster describe`: what a cluster is, asked of any of its brokers with Kafka's own
//! requests (Metadata for brokers and partition leaders, DescribeQuorum for the controller),
//! through our client. Printed for people, or as JSON for scripts.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::*;
use serde::Serialize;
use strata_client::{topic_name, ClientError, Connection};
use strata_runtime::{self as rt, ExecutorSettings};

#[derive(Debug, Serialize)]
pub struct ClusterDescription {
    pub cluster_id: Option<String>,
    /// The controller quorum's leader (-1: none).
    pub controller: i32,
    pub leader_epoch: i32,
    /// The last metadata entry the answering broker applied.
    pub metadata_offset: i64,
    pub voters: Vec<Voter>,
    pub brokers: Vec<Broker>,
    /// Topic -> each partition's leader (-1: offline) and replicas.
    pub topics: BTreeMap<String, Vec<Partition>>,
}

#[derive(Debug, Serialize)]
pub struct Voter {
    pub id: i32,
    /// -1: unknown to the broker asked.
    pub log_end: i64,
}

#[derive(Debug, Serialize)]
pub struct Broker {
    pub id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Partition {
    pub partition: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
}

/// Asks the broker at `bootstrap`.
pub fn describe(bootstrap: &str) -> Result<ClusterDescription, String> {
    let settings = ExecutorSettings {
        name: "strata-cli".into(),
        io_memory_bytes: 256 << 10,
        ..Default::default()
    };
    let addr = bootstrap.to_string();
    rt::block_on(&settings, async move { ask(&addr).await })
        .map_err(|e| format!("starting: {e}"))?
        .map_err(|e| format!("{bootstrap}: {e}"))
}

async fn ask(addr: &str) -> Result<ClusterDescription, ClientError> {
    let conn = Connection::connect(addr).await?;
    let ResponseKind::Metadata(md) = conn
        .request(
            ApiKey::Metadata,
            9,
            &MetadataRequest::default().with_topics(None),
        )
        .await?
    else {
        return Err(ClientError::Protocol("not a metadata response".into()));
    };
    let quorum = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
        .with_topic_name(topic_name("__cluster_metadata"))
        .with_partitions(vec![PartitionData::default().with_partition_index(0)])]);
    let ResponseKind::DescribeQuorum(q) = conn.request(ApiKey::DescribeQuorum, 1, &quorum).await?
    else {
        return Err(ClientError::Protocol(
            "not a describe quorum response".into(),
        ));
    };
    let part = q.topics.first().and_then(|t| t.partitions.first());
    let mut topics = BTreeMap::new();
    for t in &md.topics {
        let Some(name) = &t.name else { continue };
        let mut partitions: Vec<Partition> = t
            .partitions
            .iter()
            .map(|p| Partition {
                partition: p.partition_index,
                leader: p.leader_id.0,
                replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
            })
            .collect();
        partitions.sort_by_key(|p| p.partition);
        topics.insert(name.0.to_string(), partitions);
    }
    Ok(ClusterDescription {
        cluster_id: md.cluster_id.map(|c| c.to_string()),
        controller: part.map_or(-1, |p| p.leader_id.0),
        leader_epoch: part.map_or(-1, |p| p.leader_epoch),
        metadata_offset: part.map_or(-1, |p| p.high_watermark),
        voters: part
            .map(|p| {
                p.current_voters
                    .iter()
                    .map(|v| Voter {
                        id: v.replica_id.0,
                        log_end: v.log_end_offset,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        brokers: {
            let mut b: Vec<Broker> = md
                .brokers
                .iter()
                .map(|b| Broker {
                    id: b.node_id.0,
                    host: b.host.to_string(),
                    port: b.port,
                    rack: b.rack.as_ref().map(|r| r.to_string()),
                })
                .collect();
            b.sort_by_key(|b| b.id);
            b
        },
        topics,
    })
}

impl ClusterDescription {
    /// For people.
    pub fn text(&self) -> String {
        let mut out = format!(
            "cluster {}\ncontroller: node {} (leader epoch {}, metadata offset {})\nvoters:",
            self.cluster_id.as_deref().unwrap_or("?"),
            self.controller,
            self.leader_epoch,
            self.metadata_offset
        );
        for v in &self.voters {
            out.push_str(&format!(" {} (log end {})", v.id, v.log_end));
        }
        out.push_str("\nbrokers:\n");
        for b in &self.brokers {
            out.push_str(&format!("  {} at {}:{}\n", b.id, b.host, b.port));
        }
        for (name, partitions) in &self.topics {
            out.push_str(&format!("topic {name}: {} partitions\n", partitions.len()));
            for p in partitions {
                let leader = match p.leader {
                    -1 => "none (offline)".to_string(),
                    l => l.to_string(),
                };
                out.push_str(&format!(
                    "  partition {}: leader {leader}, replicas {:?}\n",
                    p.partition, p.replicas
                ));
            }
        }
        out
    }
}
