//! Controlled shutdown: before a broker of a cluster stops, it asks the controller, in its
//! heartbeats (`want_shut_down`, KIP-631), to move its leaderships to other in-sync brokers and
//! to take it out of the ISRs; it keeps serving meanwhile, so clients are told where the
//! partitions went (NOT_LEADER_OR_FOLLOWER, then metadata) instead of finding it gone. It stops
//! when the controller answers `should_shut_down`, or after `controlled_shutdown_timeout_ms`,
//! or when no controller has answered for a broker session (nobody could move anything).

use std::time::{Duration, Instant};

use kafka_protocol::messages::{BrokerHeartbeatRequest, BrokerId};
use strata_runtime as rt;

use super::calls::{Answer, Call};
use crate::shard::Shard;

/// Asks the controller to move this broker's leaderships away and waits until it has (or
/// until a bound): the caller then stops the broker.
pub async fn leave(shard: &Shard) {
    let Some(cluster) = shard.cluster() else {
        return;
    };
    let me = shard.identity.node_id;
    let bound = Duration::from_millis(shard.config.controlled_shutdown_timeout_ms);
    let alone = !shard.topics().cluster.brokers.keys().any(|b| *b != me);
    if bound.is_zero() || alone || cluster.epoch.get() == 0 {
        return;
    }
    let started = Instant::now();
    let every =
        Duration::from_millis((shard.config.broker_heartbeat_interval_ms / 4).clamp(20, 500));
    let session = Duration::from_millis(shard.config.broker_session_timeout_ms);
    let mut last_answer = Instant::now();
    tracing::info!("controlled shutdown: asking the controller to move this broker's partitions");
    loop {
        let request = BrokerHeartbeatRequest::default()
            .with_broker_id(BrokerId(me))
            .with_broker_epoch(cluster.epoch.get())
            .with_current_metadata_offset(cluster.published.index() as i64)
            .with_want_shut_down(true);
        match cluster.call(shard, Call::Heartbeat(request)).await {
            Ok(Answer::Heartbeat(h)) if h.error_code == 0 => {
                last_answer = Instant::now();
                if h.should_shut_down {
                    tracing::info!(
                        ms = started.elapsed().as_millis() as u64,
                        "controlled shutdown: the controller moved this broker's partitions"
                    );
                    return;
                }
            }
            Ok(Answer::Heartbeat(h)) => {
                tracing::debug!(
                    code = h.error_code,
                    "controlled shutdown: heartbeat refused"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::debug!("controlled shutdown: {e}"),
        }
        if last_answer.elapsed() >= session {
            tracing::warn!("controlled shutdown: no controller answers; stopping without it");
            return;
        }
        if started.elapsed() >= bound {
            tracing::warn!(
                ms = bound.as_millis() as u64,
                "controlled shutdown did not finish within controlled_shutdown_timeout_ms; \
                 stopping anyway (the controller fences this broker when its session ends)"
            );
            return;
        }
        rt::sleep(every).await;
    }
}
