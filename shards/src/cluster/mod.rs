//! The cluster: this node's part in the controller quorum and its membership as a broker.
//!
//! - `quorum`: the configured voters; `metadata_log`: this node's durable replica of the log;
//!   `node`: the Raft loop on shard 0 (proposals, liveness); `peers` and `listener`: Raft
//!   messages and calls between nodes (`frames`, `calls`).
//! - `publish` and `view`: applied metadata handed to the shards as the topic table;
//!   `changes`: topic changes as metadata records; `membership`: registration and heartbeats.
//!
//! Everything here runs on shard 0; the other shards see the cluster through their table.

pub mod alter_partition;
pub mod calls;
pub mod changes;
pub mod frames;
pub mod listener;
pub mod membership;
pub mod metadata_log;
pub mod node;
pub mod peers;
pub mod publish;
pub mod quorum;
pub mod shutdown;
mod startup;
pub mod view;
#[cfg(test)]
mod view_tests;

pub use startup::start;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use strata_controller::wire::Hello;

use self::calls::{AdminAnswer, Answer, Call, CallError, ImageAnswer};
use self::node::{NodeHandle, ProposeError, Registration};
use self::publish::{ImageSink, Published};
use self::quorum::Voter;
use crate::shard::Shard;

/// Kafka's error codes the controller answers registrations and heartbeats with.
pub(crate) const NOT_CONTROLLER: i16 = 41;
const INVALID_REQUEST: i16 = 42;
const STALE_BROKER_EPOCH: i16 = 77;

pub struct Cluster {
    pub me: i32,
    pub voters: Vec<Voter>,
    pub cluster_id: String,
    /// This node's controller; None on a broker that runs none.
    pub node: Option<NodeHandle>,
    pub published: Rc<Published>,
    pub sink: ImageSink,
    /// The voter that last answered as the controller's leader.
    leader_hint: Cell<Option<i32>>,
    pub timeout: Duration,
    /// How long one voter may take to answer before the next is tried: under half a broker
    /// session, so that a voter that hangs (paused, or cut off without a reset) never holds a
    /// heartbeat until the broker is fenced.
    pub attempt_timeout: Duration,
    max_frame_bytes: usize,
    /// Topic changes are decided one at a time, on the leader.
    pub admin_lock: futures::lock::Mutex<()>,
    /// This broker's epoch, once registered (0 before).
    pub epoch: Cell<i64>,
}

impl Cluster {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        me: i32,
        voters: Vec<Voter>,
        cluster_id: String,
        node: Option<NodeHandle>,
        published: Rc<Published>,
        sink: ImageSink,
        timeout: Duration,
        attempt_timeout: Duration,
        max_frame_bytes: usize,
    ) -> Cluster {
        Cluster {
            me,
            voters,
            cluster_id,
            node,
            published,
            sink,
            leader_hint: Cell::new(None),
            timeout,
            attempt_timeout,
            max_frame_bytes,
            admin_lock: futures::lock::Mutex::new(()),
            epoch: Cell::new(0),
        }
    }

    pub fn is_voter(&self, node_id: i32) -> bool {
        self.voters.iter().any(|v| v.node_id == node_id)
    }

    fn hello(&self) -> Hello {
        Hello {
            cluster_id: self.cluster_id.clone(),
            node_id: self.me,
        }
    }

    /// The controller quorum's leader as this node knows it.
    pub fn controller(&self) -> Option<i32> {
        match &self.node {
            Some(node) => node.state.leader.get(),
            None => self.leader_hint.get(),
        }
    }

    /// The controller quorum as this node knows it (DescribeQuorum).
    pub fn quorum_state(&self) -> QuorumState {
        let voters = self.voters.iter().map(|v| v.node_id).collect();
        match &self.node {
            Some(node) => QuorumState {
                leader: node.state.leader.get().unwrap_or(-1),
                term: node.state.term.get(),
                high_watermark: node.state.image.borrow().applied_index,
                voters,
                log_ends: node.state.progress.borrow().clone(),
                own_log_end: Some((self.me, node.state.log_end.get())),
            },
            None => QuorumState {
                leader: self.leader_hint.get().unwrap_or(-1),
                term: 0,
                high_watermark: self.published.index(),
                voters,
                log_ends: Vec::new(),
                own_log_end: None,
            },
        }
    }

    /// Sends `call` to the quorum's leader: this node's controller when it leads, else the
    /// voters, the last known leader first. Voters that are not the leader are skipped.
    pub async fn call(&self, shard: &Shard, call: Call) -> Result<Answer, CallError> {
        if self.node.as_ref().is_some_and(|n| n.is_leader(self.me)) {
            let answer = self.answer(shard, call).await;
            if !is_not_controller(&answer) {
                return Ok(answer);
            }
            return Err(CallError::Undecodable("leadership changed".into()));
        }
        let hint = self.controller().or(self.leader_hint.get());
        let mut order: Vec<&Voter> = self
            .voters
            .iter()
            .filter(|v| v.node_id != self.me)
            .collect();
        order.sort_by_key(|v| Some(v.node_id) != hint);
        let mut last = CallError::Closed;
        for voter in order {
            match calls::call(
                &voter.addr,
                &self.hello(),
                &call,
                self.timeout.min(self.attempt_timeout),
                self.max_frame_bytes,
            )
            .await
            {
                Ok(answer) if is_not_controller(&answer) => {
                    last = CallError::Undecodable(format!(
                        "node {} is not the controller",
                        voter.node_id
                    ));
                }
                Ok(answer) => {
                    self.leader_hint.set(Some(voter.node_id));
                    return Ok(answer);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// A block of producer ids for this broker: its first id.
    pub async fn allocate_producer_ids(
        &self,
        shard: &Shard,
    ) -> Result<u64, crate::error::BrokerError> {
        use kafka_protocol::messages::{AllocateProducerIdsRequest, BrokerId};
        let request = AllocateProducerIdsRequest::default()
            .with_broker_id(BrokerId(self.me))
            .with_broker_epoch(self.epoch.get());
        let failed = |why: String| {
            crate::error::BrokerError::Config(format!("no block of producer ids: {why}"))
        };
        match self.call(shard, Call::AllocateProducerIds(request)).await {
            Ok(Answer::AllocateProducerIds(a)) if a.error_code == 0 => {
                Ok(a.producer_id_start.0 as u64)
            }
            Ok(Answer::AllocateProducerIds(a)) => {
                Err(failed(format!("error code {}", a.error_code)))
            }
            Ok(_) => Err(failed("an answer of another kind".into())),
            Err(e) => Err(failed(e.to_string())),
        }
    }

    /// Answers a call as this node's controller.
    pub async fn answer(&self, shard: &Shard, call: Call) -> Answer {
        use kafka_protocol::messages::{BrokerHeartbeatResponse, BrokerRegistrationResponse};
        let Some(node) = &self.node else {
            return not_controller(&call, None);
        };
        match call {
            Call::Register(r) => {
                let listener = r.listeners.first();
                let registration = Registration {
                    broker_id: r.broker_id.0,
                    incarnation: r.incarnation_id.to_string(),
                    endpoint: strata_controller::Endpoint {
                        host: listener.map(|l| l.host.to_string()).unwrap_or_default(),
                        port: listener.map_or(0, |l| l.port),
                    },
                    rack: r
                        .rack
                        .as_ref()
                        .map(|r| r.to_string())
                        .filter(|r| !r.is_empty()),
                    shards: r
                        .features
                        .iter()
                        .find(|f| f.name.as_str() == membership::SHARDS_FEATURE)
                        .map_or(0, |f| f.max_supported_version as u32),
                };
                let response = BrokerRegistrationResponse::default();
                Answer::Register(match node.register(registration).await {
                    Ok(epoch) => response.with_broker_epoch(epoch as i64),
                    Err(ProposeError::NotController { .. } | ProposeError::Stopped) => {
                        response.with_error_code(NOT_CONTROLLER)
                    }
                    Err(e) => {
                        tracing::warn!("refused a broker's registration: {e}");
                        response.with_error_code(INVALID_REQUEST)
                    }
                })
            }
            Call::Heartbeat(h) => {
                let response = BrokerHeartbeatResponse::default();
                let applied = u64::try_from(h.current_metadata_offset).unwrap_or(0);
                Answer::Heartbeat(
                    match node
                        .heartbeat(h.broker_id.0, h.broker_epoch, applied, h.want_shut_down)
                        .await
                    {
                        Ok(a) => response
                            .with_is_fenced(a.fenced)
                            .with_is_caught_up(!a.fenced)
                            .with_should_shut_down(a.shut_down),
                        Err(ProposeError::StaleEpoch { .. }) => {
                            response.with_error_code(STALE_BROKER_EPOCH)
                        }
                        Err(_) => response.with_error_code(NOT_CONTROLLER),
                    },
                )
            }
            Call::AllocateProducerIds(a) => {
                use kafka_protocol::messages::{AllocateProducerIdsResponse, ProducerId};
                let response = AllocateProducerIdsResponse::default();
                Answer::AllocateProducerIds(
                    match node
                        .allocate_producer_ids(a.broker_id.0, a.broker_epoch)
                        .await
                    {
                        Ok(start) => response
                            .with_producer_id_start(ProducerId(start as i64))
                            .with_producer_id_len(crate::producer_ids::IDS_PER_BLOCK as i32),
                        Err(ProposeError::StaleEpoch { .. }) => {
                            response.with_error_code(STALE_BROKER_EPOCH)
                        }
                        Err(ProposeError::NotController { .. } | ProposeError::Stopped) => {
                            response.with_error_code(NOT_CONTROLLER)
                        }
                        Err(e) => {
                            tracing::warn!("refused a block of producer ids: {e}");
                            response.with_error_code(INVALID_REQUEST)
                        }
                    },
                )
            }
            Call::AlterPartition(request) => {
                Answer::AlterPartition(alter_partition::answer(node, request).await)
            }
            Call::Admin(op) => {
                if !node.is_leader(self.me) {
                    return not_controller(&Call::Admin(op), node.state.leader.get());
                }
                let (outcomes, index) = shard.decide_and_commit(self, op).await;
                Answer::Admin(AdminAnswer::Done { outcomes, index })
            }
            Call::FetchImage { since } => {
                let image = node.state.image.borrow().clone();
                Answer::Image(ImageAnswer {
                    controller: node.state.leader.get().unwrap_or(-1),
                    image: (image.applied_index > since).then(|| (*image).clone()),
                })
            }
        }
    }
}

/// The controller quorum as one node knows it.
#[derive(Debug, Clone, Default)]
pub struct QuorumState {
    /// -1: none known.
    pub leader: i32,
    pub term: u64,
    /// The last metadata entry applied here.
    pub high_watermark: u64,
    pub voters: Vec<i32>,
    /// While this node leads: each voter's last index known to be in its log.
    pub log_ends: Vec<(i32, u64)>,
    /// This node's own, when it is a voter.
    pub own_log_end: Option<(i32, u64)>,
}

fn not_controller(call: &Call, leader: Option<i32>) -> Answer {
    use kafka_protocol::messages::{BrokerHeartbeatResponse, BrokerRegistrationResponse};
    match call {
        Call::Register(_) => {
            Answer::Register(BrokerRegistrationResponse::default().with_error_code(NOT_CONTROLLER))
        }
        Call::Heartbeat(_) => {
            Answer::Heartbeat(BrokerHeartbeatResponse::default().with_error_code(NOT_CONTROLLER))
        }
        Call::AllocateProducerIds(_) => Answer::AllocateProducerIds(
            kafka_protocol::messages::AllocateProducerIdsResponse::default()
                .with_error_code(NOT_CONTROLLER),
        ),
        Call::AlterPartition(_) => Answer::AlterPartition(
            kafka_protocol::messages::AlterPartitionResponse::default()
                .with_error_code(NOT_CONTROLLER),
        ),
        Call::Admin(_) => Answer::Admin(AdminAnswer::NotController { leader }),
        Call::FetchImage { .. } => Answer::Image(ImageAnswer {
            controller: -1,
            image: None,
        }),
    }
}

fn is_not_controller(answer: &Answer) -> bool {
    match answer {
        Answer::Register(r) => r.error_code == NOT_CONTROLLER,
        Answer::Heartbeat(h) => h.error_code == NOT_CONTROLLER,
        Answer::AllocateProducerIds(a) => a.error_code == NOT_CONTROLLER,
        Answer::AlterPartition(a) => a.error_code == NOT_CONTROLLER,
        Answer::Admin(a) => matches!(a, AdminAnswer::NotController { .. }),
        Answer::Image(_) => false,
    }
}
