//! A shard's fetcher for one leader broker: one connection, and one Fetch at a time that asks
//! for every partition this shard follows from that broker (Kafka's replica fetcher thread,
//! per shard here). What comes back is appended as the leader stored it; a divergence named by
//! the leader is cut away first (KIP-320). With `replication_durability = synced`, the next
//! fetch's offsets, which the leader takes as this replica's log ends, are only what this
//! replica has made durable.

use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use futures::future::Either;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::{ApiKey, BrokerId, FetchRequest, FetchResponse, ResponseKind};
use kafka_protocol::protocol::StrBytes;
use strata_client::Connection;
use strata_engine::{EngineError, PartitionLog};
use strata_runtime as rt;

use super::roles::Following;
use crate::config::ReplicationDurability;
use crate::router::PartitionKey;
use crate::shard::Shard;

/// The version followers fetch with: the first with `last_fetched_epoch` (KIP-320) that still
/// names topics rather than ids.
const FETCH_VERSION: i16 = 12;
/// Pause after a failed connection or a round in which the leader refused partitions.
const RETRY_MS: u64 = 200;
/// How long past its own wait a fetch may take before the connection is given up.
const ANSWER_GRACE_MS: u64 = 10_000;
const OFFSET_OUT_OF_RANGE: i16 = 1;

/// Runs until this shard follows nothing from `leader`.
pub async fn run(shard: &Rc<Shard>, leader: i32) {
    let mut conn: Option<Connection> = None;
    loop {
        let parts = shard.replicas.followed_from(leader);
        if parts.is_empty() {
            return;
        }
        if conn.is_none() {
            match connect(shard, leader).await {
                Ok(c) => conn = Some(c),
                Err(why) => {
                    tracing::debug!(shard = shard.id, leader, "replica fetcher: {why}");
                    rt::sleep(Duration::from_millis(RETRY_MS)).await;
                    continue;
                }
            }
        }
        let Some(c) = conn.as_ref() else { continue };
        let request = fetch_request(shard, &parts);
        let wait = Duration::from_millis(shard.config.replica_fetch_wait_max_ms + ANSWER_GRACE_MS);
        let answer = match rt::first(
            c.request(ApiKey::Fetch, FETCH_VERSION, &request),
            rt::sleep(wait),
        )
        .await
        {
            Either::Left(Ok(ResponseKind::Fetch(r))) => Ok(r),
            Either::Left(Ok(_)) => Err("an answer of another kind".to_string()),
            Either::Left(Err(e)) => Err(e.to_string()),
            Either::Right(_) => Err("no answer in time".to_string()),
        };
        match answer {
            Ok(response) => {
                if !apply(shard, leader, &parts, response).await {
                    rt::sleep(Duration::from_millis(RETRY_MS)).await;
                }
            }
            Err(why) => {
                tracing::info!(
                    shard = shard.id,
                    leader,
                    "replica fetcher: {why}; reconnecting"
                );
                conn = None;
                rt::sleep(Duration::from_millis(RETRY_MS)).await;
            }
        }
    }
}

async fn connect(shard: &Shard, leader: i32) -> Result<Connection, String> {
    let addr = shard
        .topics()
        .cluster
        .brokers
        .get(&leader)
        .map(|b| format!("{}:{}", b.host, b.port))
        .ok_or_else(|| format!("broker {leader} is not live"))?;
    Connection::connect(&addr).await.map_err(|e| e.to_string())
}

fn fetch_request(shard: &Shard, parts: &[(PartitionKey, Following)]) -> FetchRequest {
    let mut topics: Vec<FetchTopic> = Vec::new();
    for (key, following) in parts {
        let Some(log) = shard.log(key) else { continue };
        let partition = FetchPartition::default()
            .with_partition(key.partition)
            .with_current_leader_epoch(following.leader_epoch)
            .with_fetch_offset(log.log_end_offset())
            .with_last_fetched_epoch(log.latest_leader_epoch().unwrap_or(-1))
            .with_log_start_offset(log.log_start_offset())
            .with_partition_max_bytes(shard.config.replica_fetch_max_bytes as i32);
        match topics.iter_mut().find(|t| t.topic.0.as_str() == key.topic) {
            Some(t) => t.partitions.push(partition),
            None => topics.push(
                FetchTopic::default()
                    .with_topic(strata_client::topic_name(&key.topic))
                    .with_partitions(vec![partition]),
            ),
        }
    }
    FetchRequest::default()
        .with_replica_id(BrokerId(shard.identity.node_id))
        .with_max_wait_ms(shard.config.replica_fetch_wait_max_ms as i32)
        .with_min_bytes(1)
        .with_max_bytes(shard.config.max_frame_bytes.min(i32::MAX as usize) as i32 / 2)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_rack_id(StrBytes::from_static_str(""))
        .with_topics(topics)
}

/// Applies a fetch's answer to this shard's follower logs; `false` when the leader refused a
/// partition (its metadata may be behind: the next round waits a little).
async fn apply(
    shard: &Shard,
    leader: i32,
    parts: &[(PartitionKey, Following)],
    response: FetchResponse,
) -> bool {
    let mut all_served = true;
    let mut appended: Vec<PartitionLog> = Vec::new();
    for topic in &response.responses {
        for p in &topic.partitions {
            let key = PartitionKey {
                topic: topic.topic.0.to_string(),
                partition: p.partition_index,
            };
            let Some((_, asked)) = parts.iter().find(|(k, _)| *k == key) else {
                continue;
            };
            // Followed from this leader, in this epoch, still: a newer table may have moved it.
            let still = shard.replicas.following.borrow().get(&key) == Some(asked);
            let Some(log) = shard.log(&key).filter(|_| still) else {
                continue;
            };
            match apply_partition(&log, p).await {
                Ok(true) => appended.push(log),
                Ok(false) => {}
                Err(why) => {
                    all_served = false;
                    tracing::debug!(
                        shard = shard.id, leader, topic = %key.topic, partition = key.partition,
                        "replica fetch: {why}"
                    );
                }
            }
        }
    }
    if shard.config.replication_durability == ReplicationDurability::Synced {
        let syncs = appended.iter().map(|log| log.sync());
        for r in futures::future::join_all(syncs).await {
            if let Err(e) = r {
                tracing::error!(shard = shard.id, "replica sync: {e}");
            }
        }
    }
    all_served
}

/// One partition of an answer: truncation, records, high watermark. `Ok(true)` if records were
/// appended.
async fn apply_partition(log: &PartitionLog, p: &PartitionData) -> Result<bool, String> {
    if p.error_code == OFFSET_OUT_OF_RANGE {
        // The leader's log starts past this one's end (retention there), or ends before it.
        let target = if p.log_start_offset > log.log_end_offset() {
            p.log_start_offset
        } else {
            p.high_watermark
        };
        if target >= 0 {
            let end = log.truncate_to(target).await.map_err(|e| e.to_string())?;
            tracing::warn!(log = %log.dir().display(), "out of range at the leader: truncated to {end}");
        }
        return Ok(false);
    }
    if p.error_code != 0 {
        return Err(format!("error code {}", p.error_code));
    }
    if p.diverging_epoch.epoch >= 0 {
        // Where this log's own history of that epoch ends (or, when its epoch there is an
        // older one, where that ends: Kafka's rule); the next fetch checks again from there.
        let before = log.log_end_offset();
        let (epoch, end) = log.end_offset_for(p.diverging_epoch.epoch);
        let mut target = if epoch >= 0 {
            p.diverging_epoch.end_offset.min(end)
        } else {
            p.diverging_epoch.end_offset.min(log.high_watermark())
        };
        if target >= before {
            // Nothing to cut by the epochs, yet the leader says the logs differ: back to what
            // this replica knows was replicated.
            target = log.high_watermark();
        }
        let end = log.truncate_to(target).await.map_err(|e| e.to_string())?;
        tracing::info!(
            log = %log.dir().display(),
            "diverged from the leader after epoch {}: truncated to {end}",
            p.diverging_epoch.epoch
        );
        return Ok(false);
    }
    let mut got = false;
    if let Some(records) = p.records.as_ref().filter(|r| !r.is_empty()) {
        match log.append_replicated(BytesMut::from(&records[..])).await {
            Ok(_) => got = true,
            // Fetched from an offset this log has since passed (two answers crossed): the next
            // fetch asks from the log's end.
            Err(EngineError::NotContiguous { .. }) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    if p.high_watermark >= 0 {
        log.set_high_watermark(p.high_watermark.min(log.log_end_offset()));
    }
    Ok(got)
}
