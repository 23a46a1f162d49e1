//! This broker's membership: it registers with the controller (a new incarnation each start),
//! then heartbeats every `broker_heartbeat_interval_ms` with how far it has applied the
//! metadata; the controller unfences it once it has caught up. A broker that runs no
//! controller also fetches the metadata image with each heartbeat when the controller is ahead.
//! While no controller answers, it keeps trying and says so every few seconds.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::broker_registration_request::{Feature, Listener};
use kafka_protocol::messages::{BrokerHeartbeatRequest, BrokerId, BrokerRegistrationRequest};
use kafka_protocol::protocol::StrBytes;
use strata_runtime as rt;

use super::calls::{Answer, Call};
use crate::shard::Shard;

/// How a broker tells the controller its shard count (a feature range of one value).
pub const SHARDS_FEATURE: &str = "strata.shards";
const RETRY: Duration = Duration::from_millis(300);
const COMPLAIN_EVERY: Duration = Duration::from_secs(5);
const STALE_BROKER_EPOCH: i16 = 77;

/// Where membership stands, for start-up to wait on.
pub struct Membership {
    incarnation: uuid::Uuid,
}

impl Default for Membership {
    fn default() -> Self {
        Self::new()
    }
}

impl Membership {
    pub fn new() -> Membership {
        Membership {
            incarnation: uuid::Uuid::new_v4(),
        }
    }

    fn registration(&self, shard: &Shard) -> BrokerRegistrationRequest {
        let (host, port) = &shard.advertised;
        BrokerRegistrationRequest::default()
            .with_broker_id(BrokerId(shard.identity.node_id))
            .with_cluster_id(StrBytes::from_string(shard.identity.cluster_id.clone()))
            .with_incarnation_id(self.incarnation)
            .with_listeners(vec![Listener::default()
                .with_name(StrBytes::from_static_str("PLAINTEXT"))
                .with_host(StrBytes::from_string(host.clone()))
                .with_port(*port as u16)])
            .with_rack(shard.config.rack.clone().map(StrBytes::from_string))
            .with_features(vec![Feature::default()
                .with_name(StrBytes::from_static_str(SHARDS_FEATURE))
                .with_min_supported_version(shard.count as i16)
                .with_max_supported_version(shard.count as i16)])
    }

    /// Registers, retrying until a controller takes it: the broker's epoch.
    pub async fn register(&self, shard: &Shard) -> i64 {
        let Some(cluster) = shard.cluster() else {
            return 0;
        };
        let mut complained = Instant::now();
        loop {
            let why = match cluster
                .call(shard, Call::Register(self.registration(shard)))
                .await
            {
                Ok(Answer::Register(r)) if r.error_code == 0 => {
                    tracing::info!(epoch = r.broker_epoch, "registered with the controller");
                    cluster.epoch.set(r.broker_epoch);
                    return r.broker_epoch;
                }
                Ok(Answer::Register(r)) => format!("error code {}", r.error_code),
                Ok(_) => "an answer of another kind".to_string(),
                Err(e) => e.to_string(),
            };
            if complained.elapsed() >= COMPLAIN_EVERY {
                tracing::warn!(
                    quorum = %shard.config.controller_quorum,
                    "cannot register: no controller of the quorum answers ({why}); still trying"
                );
                complained = Instant::now();
            }
            rt::sleep(RETRY).await;
        }
    }

    /// One heartbeat: whether this broker is unfenced, or None when it must register again
    /// (or no controller answered).
    pub async fn heartbeat(&self, shard: &Shard, epoch: i64) -> Result<bool, HeartbeatFailed> {
        let Some(cluster) = shard.cluster() else {
            return Ok(true);
        };
        let request = BrokerHeartbeatRequest::default()
            .with_broker_id(BrokerId(shard.identity.node_id))
            .with_broker_epoch(epoch)
            .with_current_metadata_offset(cluster.published.index() as i64);
        match cluster.call(shard, Call::Heartbeat(request)).await {
            Ok(Answer::Heartbeat(h)) if h.error_code == 0 => Ok(!h.is_fenced),
            Ok(Answer::Heartbeat(h)) if h.error_code == STALE_BROKER_EPOCH => {
                Err(HeartbeatFailed::Reregister)
            }
            Ok(_) => Err(HeartbeatFailed::NoController("no controller".into())),
            Err(e) => Err(HeartbeatFailed::NoController(e.to_string())),
        }
    }

    /// Heartbeats (and, without a controller of its own, fetches metadata) for the broker's
    /// life, registering again whenever the controller no longer knows this incarnation.
    pub async fn run(self: Rc<Self>, shard: Rc<Shard>, mut epoch: i64) {
        let every = Duration::from_millis(shard.config.broker_heartbeat_interval_ms);
        let mut complained = Instant::now();
        loop {
            match self.heartbeat(&shard, epoch).await {
                Ok(_) => {}
                Err(HeartbeatFailed::Reregister) => {
                    tracing::warn!(epoch, "the controller no longer knows this broker's epoch");
                    epoch = self.register(&shard).await;
                    continue;
                }
                Err(HeartbeatFailed::NoController(why)) => {
                    if complained.elapsed() >= COMPLAIN_EVERY {
                        tracing::warn!("cannot heartbeat: {why}; still trying");
                        complained = Instant::now();
                    }
                }
            }
            fetch_image(&shard).await;
            rt::sleep(every).await;
        }
    }
}

#[derive(Debug)]
pub enum HeartbeatFailed {
    Reregister,
    NoController(String),
}

/// On a broker without a controller of its own: the controller's image, when it is ahead.
pub async fn fetch_image(shard: &Shard) {
    let Some(cluster) = shard.cluster() else {
        return;
    };
    if cluster.node.is_some() {
        return;
    }
    let since = cluster.published.index();
    if let Ok(Answer::Image(answer)) = cluster.call(shard, Call::FetchImage { since }).await {
        if let Some(image) = answer.image {
            cluster.sink.publish(Arc::new(image), answer.controller);
        }
    }
}
