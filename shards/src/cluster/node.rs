//! The controller node: one task on shard 0 that owns this node's replica of the metadata log
//! and drives it (ticks, peers' messages, proposals), then hands each newly applied image to the
//! publisher. While it leads, it also decides broker liveness: registrations, unfencing once a
//! broker has caught up, fencing after `broker_session_timeout_ms` of silence.
//!
//! Everything else reaches it through `NodeHandle`: a channel in, a oneshot reply out. A
//! proposal's reply waits until its entry is committed and applied here, with the term it was
//! proposed in (else the leadership changed and the entry was lost: NOT_CONTROLLER).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::channel::{mpsc, oneshot};
use futures::future::Either;
use futures::StreamExt;
use raft::eraftpb::Message;
use strata_controller::liveness::{self, Liveness};
use strata_controller::replica::ReplicaError;
use strata_controller::{Endpoint, MetadataBatch, MetadataImage, MetadataRecord};
use strata_runtime::{self as rt, first};

use super::metadata_log::MetadataLog;
use super::peers::RaftPeers;
use super::publish::ImageSink;

/// Raft's clock: elections after 10-20 ticks (1-2 s), heartbeats every 2.
const TICK: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, thiserror::Error)]
pub enum ProposeError {
    #[error("this node does not lead the controller quorum (the leader is {leader:?})")]
    NotController { leader: Option<i32> },
    #[error("refused by the metadata: {0}")]
    Invalid(String),
    #[error("broker {broker_id} is not registered at epoch {epoch}")]
    StaleEpoch { broker_id: i32, epoch: i64 },
    #[error("the controller node has stopped")]
    Stopped,
}

/// A broker's registration as the controller takes it.
#[derive(Debug, Clone)]
pub struct Registration {
    pub broker_id: i32,
    pub incarnation: String,
    pub endpoint: Endpoint,
    pub rack: Option<String>,
    pub shards: u32,
}

/// The controller's answer to a heartbeat.
#[derive(Debug, Clone, Copy)]
pub struct HeartbeatAnswer {
    pub fenced: bool,
    /// A broker in controlled shutdown may stop: it leads nothing another could, and is fenced.
    pub shut_down: bool,
}

enum Input {
    Raft(Message),
    Propose {
        records: Vec<MetadataRecord>,
        reply: oneshot::Sender<Result<u64, ProposeError>>,
    },
    Register {
        registration: Registration,
        reply: oneshot::Sender<Result<u64, ProposeError>>,
    },
    Heartbeat {
        broker_id: i32,
        epoch: i64,
        applied: u64,
        want_shut_down: bool,
        reply: oneshot::Sender<Result<HeartbeatAnswer, ProposeError>>,
    },
    AllocateProducerIds {
        broker_id: i32,
        epoch: i64,
        /// Replies with the block's first id.
        reply: oneshot::Sender<Result<u64, ProposeError>>,
    },
}

/// What the node shows the rest of shard 0, updated after every round.
#[derive(Default)]
pub struct NodeState {
    pub image: RefCell<Arc<MetadataImage>>,
    pub leader: Cell<Option<i32>>,
    /// The Raft term (KRaft's leader epoch).
    pub term: Cell<u64>,
    /// This node's last log index.
    pub log_end: Cell<u64>,
    /// While leading: each voter and the last index it is known to hold.
    pub progress: RefCell<Vec<(i32, u64)>>,
    /// While leading: the brokers in controlled shutdown (AlterPartition adds none of them).
    pub shutting_down: RefCell<std::collections::BTreeSet<i32>>,
}

#[derive(Clone)]
pub struct NodeHandle {
    inbox: mpsc::UnboundedSender<Input>,
    pub state: Rc<NodeState>,
}

impl NodeHandle {
    pub fn is_leader(&self, me: i32) -> bool {
        self.state.leader.get() == Some(me)
    }

    pub fn raft(&self, message: Message) {
        let _ = self.inbox.unbounded_send(Input::Raft(message));
    }

    /// Commits `records` as one entry: its index once applied here.
    pub async fn propose(&self, records: Vec<MetadataRecord>) -> Result<u64, ProposeError> {
        self.ask(|reply| Input::Propose { records, reply }).await
    }

    /// Registers a broker: its new epoch (the index of its registration).
    pub async fn register(&self, registration: Registration) -> Result<u64, ProposeError> {
        self.ask(|reply| Input::Register {
            registration,
            reply,
        })
        .await
    }

    pub async fn heartbeat(
        &self,
        broker_id: i32,
        epoch: i64,
        applied: u64,
        want_shut_down: bool,
    ) -> Result<HeartbeatAnswer, ProposeError> {
        self.ask(|reply| Input::Heartbeat {
            broker_id,
            epoch,
            applied,
            want_shut_down,
            reply,
        })
        .await
    }

    /// A block of `IDS_PER_BLOCK` producer ids for the broker: its first id.
    pub async fn allocate_producer_ids(
        &self,
        broker_id: i32,
        epoch: i64,
    ) -> Result<u64, ProposeError> {
        self.ask(|reply| Input::AllocateProducerIds {
            broker_id,
            epoch,
            reply,
        })
        .await
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, ProposeError>>) -> Input,
    ) -> Result<T, ProposeError> {
        let (tx, rx) = oneshot::channel();
        self.inbox
            .unbounded_send(make(tx))
            .map_err(|_| ProposeError::Stopped)?;
        rx.await.unwrap_or(Err(ProposeError::Stopped))
    }
}

enum Waiter {
    Index(oneshot::Sender<Result<u64, ProposeError>>),
    /// Answered with the value, not the index, once committed.
    Value(oneshot::Sender<Result<u64, ProposeError>>, u64),
    /// Liveness's own proposals (fence, unfence): nobody waits, but the next one waits for it.
    Liveness,
}

struct Pending {
    index: u64,
    term: u64,
    waiter: Waiter,
}

pub struct Node {
    me: i32,
    log: MetadataLog,
    peers: Option<RaftPeers>,
    state: Rc<NodeState>,
    sink: ImageSink,
    liveness: Liveness,
    started: Instant,
    pending: Vec<Pending>,
    /// Brokers whose unfencing is proposed and not yet applied.
    unfencing: BTreeMap<i32, u64>,
    /// A fencing proposal not yet applied.
    fencing: Option<u64>,
    /// Brokers whose next controlled-shutdown step is proposed and not yet applied.
    shutting_down: BTreeMap<i32, u64>,
    was_leader: bool,
    /// The end of the last block of producer ids proposed while leading.
    producer_ids_proposed: i64,
    /// Entries between snapshots.
    snapshot_every: u64,
}

impl Node {
    /// Starts the node's task; the handle reaches it.
    pub fn start(
        me: i32,
        log: MetadataLog,
        peers: Option<RaftPeers>,
        sink: ImageSink,
        session_timeout_ms: u64,
        snapshot_every: u64,
    ) -> NodeHandle {
        let (tx, rx) = mpsc::unbounded();
        let state = Rc::new(NodeState::default());
        let mut node = Node {
            me,
            log,
            peers,
            state: state.clone(),
            sink,
            liveness: Liveness::new(session_timeout_ms),
            started: Instant::now(),
            pending: Vec::new(),
            unfencing: BTreeMap::new(),
            shutting_down: BTreeMap::new(),
            fencing: None,
            was_leader: false,
            producer_ids_proposed: 0,
            snapshot_every,
        };
        node.after_round();
        rt::spawn_detached(node.run(rx));
        NodeHandle { inbox: tx, state }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    async fn run(mut self, mut inbox: mpsc::UnboundedReceiver<Input>) {
        let mut next_tick = Instant::now() + TICK;
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            match first(inbox.next(), rt::sleep(wait)).await {
                Either::Left(None) => return,
                Either::Left(Some(input)) => self.take(input),
                Either::Right(()) => {}
            }
            while let Ok(input) = inbox.try_recv() {
                self.take(input);
            }
            if Instant::now() >= next_tick {
                next_tick = Instant::now() + TICK;
                self.log.replica_mut().tick();
                self.check_liveness();
            }
            let round = match self.log.run_ready().await {
                Ok(out) => {
                    self.send(out);
                    self.log.compact_if_due(self.snapshot_every).await
                }
                Err(e) => Err(e),
            };
            match round {
                Ok(()) => {}
                Err(e) => {
                    // The metadata log cannot be written or applied: stop this node rather
                    // than answer from a state the quorum does not have (KRaft does the same).
                    tracing::error!("the controller's metadata log failed, stopping: {e}");
                    std::process::exit(70);
                }
            }
            self.after_round();
        }
    }

    fn send(&self, out: Vec<Message>) {
        if let Some(peers) = &self.peers {
            for message in out {
                peers.send(message);
            }
        }
    }

    fn take(&mut self, input: Input) {
        match input {
            Input::Raft(message) => {
                if let Err(e) = self.log.replica_mut().step(message) {
                    tracing::debug!("a Raft message was refused: {e}");
                }
            }
            Input::Propose { records, reply } => {
                self.propose(records, Waiter::Index(reply));
            }
            Input::Register {
                registration: r,
                reply,
            } => {
                if !self.log.replica_mut().is_leader() {
                    let _ = reply.send(Err(self.not_controller()));
                    return;
                }
                let (epoch, _) = self.log.replica_mut().next_index_and_term();
                let now = self.now_ms();
                self.liveness.heartbeat(r.broker_id, now);
                self.liveness.registered(r.broker_id);
                let record = MetadataRecord::RegisterBroker {
                    broker_id: r.broker_id,
                    incarnation: r.incarnation,
                    epoch: epoch as i64,
                    endpoint: r.endpoint,
                    rack: r.rack,
                    shards: r.shards,
                };
                self.propose(vec![record], Waiter::Index(reply));
            }
            Input::Heartbeat {
                broker_id,
                epoch,
                applied,
                want_shut_down,
                reply,
            } => {
                let _ = reply.send(self.heartbeat(broker_id, epoch, applied, want_shut_down));
            }
            Input::AllocateProducerIds {
                broker_id,
                epoch,
                reply,
            } => {
                if !self.log.replica_mut().is_leader() {
                    let _ = reply.send(Err(self.not_controller()));
                    return;
                }
                if self.log.image().brokers.get(&broker_id).map(|b| b.epoch) != Some(epoch) {
                    let _ = reply.send(Err(ProposeError::StaleEpoch { broker_id, epoch }));
                    return;
                }
                // Blocks proposed and not yet applied count too: two in flight never overlap.
                let start = self
                    .log
                    .image()
                    .next_producer_id
                    .max(self.producer_ids_proposed) as u64;
                let next = start + crate::producer_ids::IDS_PER_BLOCK;
                let record = MetadataRecord::ProducerIds {
                    broker_id,
                    broker_epoch: epoch,
                    next_producer_id: next as i64,
                };
                if self
                    .propose(vec![record], Waiter::Value(reply, start))
                    .is_some()
                {
                    self.producer_ids_proposed = next as i64;
                }
            }
        }
    }

    fn not_controller(&mut self) -> ProposeError {
        ProposeError::NotController {
            leader: self.log.replica_mut().leader(),
        }
    }

    fn heartbeat(
        &mut self,
        broker_id: i32,
        epoch: i64,
        applied: u64,
        want_shut_down: bool,
    ) -> Result<HeartbeatAnswer, ProposeError> {
        if !self.log.replica_mut().is_leader() {
            return Err(self.not_controller());
        }
        let image = self.log.image();
        let fenced = match image.brokers.get(&broker_id) {
            Some(b) if b.epoch == epoch => b.fenced,
            _ => return Err(ProposeError::StaleEpoch { broker_id, epoch }),
        };
        let now = self.now_ms();
        self.liveness.heartbeat(broker_id, now);
        if want_shut_down {
            self.liveness.begin_shut_down(broker_id);
        }
        if self.liveness.is_shutting_down(broker_id) {
            // One step per heartbeat that asks, each once the last is applied; never unfenced.
            if want_shut_down && !fenced && !self.shutting_down.contains_key(&broker_id) {
                let records = self.liveness.shut_down_step(image, broker_id);
                tracing::info!(broker_id, ?records, "controlled shutdown");
                if let Some(index) = self.propose(records, Waiter::Liveness) {
                    self.shutting_down.insert(broker_id, index);
                }
            }
            return Ok(HeartbeatAnswer {
                fenced,
                shut_down: fenced && want_shut_down,
            });
        }
        // Unfenced once it has applied the metadata up to its own registration.
        if fenced && applied >= epoch as u64 && !self.unfencing.contains_key(&broker_id) {
            let records = liveness::unfence(image, broker_id, epoch);
            if let Some(index) = self.propose(records, Waiter::Liveness) {
                self.unfencing.insert(broker_id, index);
            }
        }
        Ok(HeartbeatAnswer {
            fenced,
            shut_down: false,
        })
    }

    fn check_liveness(&mut self) {
        if !self.log.replica_mut().is_leader() || self.fencing.is_some() {
            return;
        }
        // This node runs the check: it is alive, whatever its own heartbeats' delays.
        let now = self.now_ms();
        self.liveness.heartbeat(self.me, now);
        let records = self.liveness.expired(self.log.image(), now);
        if !records.is_empty() {
            tracing::warn!(?records, "brokers missed their heartbeats: fencing them");
            self.fencing = self.propose(records, Waiter::Liveness);
        }
    }

    /// Proposes `records` as one entry unless they do not apply to the image (then the waiter
    /// hears why, and nothing is proposed): the index it will have.
    fn propose(&mut self, records: Vec<MetadataRecord>, waiter: Waiter) -> Option<u64> {
        let refuse = |waiter: Waiter, e: ProposeError| {
            if let Waiter::Index(reply) | Waiter::Value(reply, _) = waiter {
                let _ = reply.send(Err(e));
            }
            None
        };
        let replica = self.log.replica_mut();
        if !replica.is_leader() {
            let e = self.not_controller();
            return refuse(waiter, e);
        }
        let (index, term) = replica.next_index_and_term();
        let batch = MetadataBatch::new(records);
        // Entries the quorum commits must apply on every node: check this one first.
        let mut scratch = self.log.image().clone();
        if let Err(e) = scratch.apply(index, &batch) {
            return refuse(waiter, ProposeError::Invalid(e.reason));
        }
        match self.log.replica_mut().propose(&batch) {
            Ok(()) => {
                self.pending.push(Pending {
                    index,
                    term,
                    waiter,
                });
                Some(index)
            }
            Err(ReplicaError::NotLeader { leader }) => {
                refuse(waiter, ProposeError::NotController { leader })
            }
            Err(e) => refuse(waiter, ProposeError::Invalid(e.to_string())),
        }
    }

    /// Shows the new state, answers the proposals now applied and hands a new image on.
    fn after_round(&mut self) {
        let replica = self.log.replica_mut();
        let leader = replica.leader();
        let is_leader = replica.is_leader();
        let applied = self.log.image().applied_index;
        if is_leader && !self.was_leader {
            tracing::info!(node = self.me, "leading the controller quorum");
            let now = self.now_ms();
            self.liveness.restart(self.log.image(), now);
            self.unfencing.clear();
            self.shutting_down.clear();
            self.fencing = None;
            self.producer_ids_proposed = 0;
        }
        self.was_leader = is_leader;
        let mut still = Vec::new();
        for p in std::mem::take(&mut self.pending) {
            if p.index > applied {
                still.push(p);
                continue;
            }
            let kept = self.log.replica_mut().term_at(p.index) == Some(p.term);
            let lost = || Err(ProposeError::NotController { leader });
            match p.waiter {
                Waiter::Index(reply) => {
                    let _ = reply.send(if kept { Ok(p.index) } else { lost() });
                }
                Waiter::Value(reply, value) => {
                    let _ = reply.send(if kept { Ok(value) } else { lost() });
                }
                Waiter::Liveness => {}
            }
        }
        self.pending = still;
        self.unfencing.retain(|_, index| *index > applied);
        self.shutting_down.retain(|_, index| *index > applied);
        if self.fencing.is_some_and(|i| i <= applied) {
            self.fencing = None;
        }
        *self.state.shutting_down.borrow_mut() = self.liveness.shutting_down().clone();
        let replica = self.log.replica_mut();
        self.state.term.set(replica.term());
        self.state.log_end.set(replica.last_index());
        *self.state.progress.borrow_mut() = replica.progress();
        let changed =
            self.state.image.borrow().applied_index != applied || self.state.leader.get() != leader;
        self.state.leader.set(leader);
        if changed {
            let image = Arc::new(self.log.image().clone());
            *self.state.image.borrow_mut() = image.clone();
            self.sink.publish(image, leader.unwrap_or(-1));
        }
    }
}
