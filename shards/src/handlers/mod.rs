//! One file per Kafka API. `handle` dispatches a decoded request to its handler and returns the
//! response body (None when none is owed: produce with acks=0) with a size hint for encoding.

pub mod alter_configs;
pub mod api_versions;
pub mod authorized;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod describe_producers;
pub mod describe_quorum;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod sync_group;
pub mod unserved;

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::{RequestKind, ResponseKind};

use crate::codec::Request;
use crate::error::BrokerError;
use crate::router::AdminOp;
use crate::shard::Shard;
use crate::topics::{invalid_topic_name, TopicSpec, TopicTable};

pub async fn handle(
    shard: &Shard,
    request: Request,
    peer: Option<std::net::SocketAddr>,
) -> Result<Option<(ResponseKind, usize)>, BrokerError> {
    let v = request.header.request_api_version;
    let client = || crate::groups::state::ClientInfo {
        client_id: request
            .header
            .client_id
            .as_ref()
            .map_or(String::new(), |c| c.to_string()),
        // Kafka prints the address as Java's InetAddress does.
        host: peer.map_or(String::new(), |p| format!("/{}", p.ip())),
    };
    let small = |r: ResponseKind| Ok(Some((r, 0)));
    match request.body {
        RequestKind::ApiVersions(r) => {
            small(ResponseKind::ApiVersions(api_versions::handle(&r, v)))
        }
        RequestKind::Metadata(r) => {
            small(ResponseKind::Metadata(metadata::handle(shard, r, v).await))
        }
        RequestKind::Produce(r) => Ok(produce::handle(shard, r, v)
            .await
            .map(|r| (ResponseKind::Produce(r), 0))),
        RequestKind::Fetch(r) => {
            let (response, record_bytes) = fetch::handle(shard, r, v).await;
            Ok(Some((ResponseKind::Fetch(response), record_bytes)))
        }
        RequestKind::ListOffsets(r) => small(ResponseKind::ListOffsets(
            list_offsets::handle(shard, r, v).await,
        )),
        RequestKind::OffsetForLeaderEpoch(r) => small(ResponseKind::OffsetForLeaderEpoch(
            offset_for_leader_epoch::handle(shard, r).await,
        )),
        RequestKind::CreateTopics(r) => small(ResponseKind::CreateTopics(
            create_topics::handle(shard, r, v).await?,
        )),
        RequestKind::DeleteTopics(r) => small(ResponseKind::DeleteTopics(
            delete_topics::handle(shard, r, v).await?,
        )),
        RequestKind::CreatePartitions(r) => small(ResponseKind::CreatePartitions(
            create_partitions::handle(shard, r).await?,
        )),
        RequestKind::DescribeConfigs(r) => small(ResponseKind::DescribeConfigs(
            describe_configs::handle(shard, r, v),
        )),
        RequestKind::AlterConfigs(r) => small(ResponseKind::AlterConfigs(
            alter_configs::handle(shard, r).await?,
        )),
        RequestKind::IncrementalAlterConfigs(r) => small(ResponseKind::IncrementalAlterConfigs(
            incremental_alter_configs::handle(shard, r).await?,
        )),
        RequestKind::DeleteRecords(r) => small(ResponseKind::DeleteRecords(
            delete_records::handle(shard, r).await,
        )),
        RequestKind::DescribeLogDirs(r) => small(ResponseKind::DescribeLogDirs(
            describe_log_dirs::handle(shard, r, v).await,
        )),
        RequestKind::DescribeProducers(r) => small(ResponseKind::DescribeProducers(
            describe_producers::handle(shard, r).await,
        )),
        RequestKind::DescribeCluster(r) => small(ResponseKind::DescribeCluster(
            describe_cluster::handle(shard, r, v),
        )),
        RequestKind::DescribeQuorum(r) => small(ResponseKind::DescribeQuorum(
            describe_quorum::handle(shard, r, v).await,
        )),
        RequestKind::FindCoordinator(r) => small(ResponseKind::FindCoordinator(
            find_coordinator::handle(shard, r, v).await,
        )),
        RequestKind::JoinGroup(r) => small(ResponseKind::JoinGroup(
            join_group::handle(shard, r, v, client()).await,
        )),
        RequestKind::SyncGroup(r) => small(ResponseKind::SyncGroup(
            sync_group::handle(shard, r, v).await,
        )),
        RequestKind::Heartbeat(r) => {
            small(ResponseKind::Heartbeat(heartbeat::handle(shard, r).await))
        }
        RequestKind::LeaveGroup(r) => small(ResponseKind::LeaveGroup(
            leave_group::handle(shard, r, v).await,
        )),
        RequestKind::OffsetCommit(r) => small(ResponseKind::OffsetCommit(
            offset_commit::handle(shard, r).await,
        )),
        RequestKind::OffsetFetch(r) => small(ResponseKind::OffsetFetch(
            offset_fetch::handle(shard, r, v).await,
        )),
        RequestKind::ListGroups(r) => small(ResponseKind::ListGroups(
            list_groups::handle(shard, r, v).await,
        )),
        RequestKind::DescribeGroups(r) => small(ResponseKind::DescribeGroups(
            describe_groups::handle(shard, r, v).await,
        )),
        RequestKind::DeleteGroups(r) => small(ResponseKind::DeleteGroups(
            delete_groups::handle(shard, r).await,
        )),
        RequestKind::OffsetDelete(r) => small(ResponseKind::OffsetDelete(
            offset_delete::handle(shard, r).await,
        )),
        RequestKind::InitProducerId(r) => small(ResponseKind::InitProducerId(
            init_producer_id::handle(shard, r, v).await,
        )),
        other => match unserved::answer(other) {
            Some(r) => small(r),
            None => Err(BrokerError::BadRequest(format!(
                "no handler for API {:?}",
                request.api
            ))),
        },
    }
}

/// The topic table after creating those of `names` that do not exist, when auto-creation is on
/// and `allowed`. Invalid names are left out (callers report them).
pub async fn ensure_topics(shard: &Shard, names: &[String], allowed: bool) -> Arc<TopicTable> {
    let table = shard.topics();
    if !(allowed && shard.config.auto_create_topics) {
        return table;
    }
    let missing: Vec<TopicSpec> = names
        .iter()
        .filter(|n| !table.topics.contains_key(*n) && invalid_topic_name(n).is_none())
        .map(|n| {
            let mut spec =
                TopicSpec::new(n.clone(), shard.config.default_partitions, BTreeMap::new());
            spec.replication_factor = shard.config.default_replication_factor;
            spec
        })
        .collect();
    if missing.is_empty() {
        return table;
    }
    tracing::info!(topics = ?missing.iter().map(|t| &t.name).collect::<Vec<_>>(), "auto-creating topics");
    if let Err(e) = shard
        .admin(AdminOp::CreateTopics {
            topics: missing,
            validate_only: false,
        })
        .await
    {
        tracing::error!("auto-creating topics: {e}");
    }
    shard.topics()
}
