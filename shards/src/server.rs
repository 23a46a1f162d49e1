//! Starting and stopping the broker: one pinned executor per shard, each with its partitions,
//! its mesh channels to the others and its own listening socket (SO_REUSEPORT).

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::channel::oneshot;
use futures::{FutureExt, StreamExt};
use strata_runtime::{self as rt, ExecutorSettings};

use crate::client_log::ClientLog;
use crate::config::BrokerConfig;
use crate::connection::{self, ShutdownSignal};
use crate::error::BrokerError;
use crate::router::ShardMsg;
use crate::shard::Shard;
use crate::topics::{load_identity, TopicStore};
use strata_runtime::{first, Budget, Listener, Mesh};

/// Connections the kernel queues per shard before they are accepted.
const LISTEN_BACKLOG: i32 = 1024;

/// A running broker: its shard threads and the means to stop them.
pub struct Broker {
    /// Held for the broker's life: no second broker opens the same data directory.
    _data_dir_lock: std::fs::File,
    threads: Vec<std::thread::JoinHandle<Result<(), BrokerError>>>,
    stops: Vec<oneshot::Sender<()>>,
    /// Shard 0's controlled shutdown: asked with where to say it is done.
    leave: Option<oneshot::Sender<std::sync::mpsc::Sender<()>>>,
    controlled_shutdown_timeout: Duration,
    pub local_addr: SocketAddr,
}

impl Broker {
    /// Starts every shard and returns once all of them listen.
    pub fn start(config: BrokerConfig) -> Result<Broker, BrokerError> {
        config.validate()?;
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| BrokerError::io(format!("create {}", config.data_dir.display()), e))?;
        let data_dir_lock = crate::exclusive::lock_data_dir(&config.data_dir)?;
        let voters = crate::cluster::quorum::parse(&config.controller_quorum)?;
        let shared_id =
            (!voters.is_empty()).then(|| crate::cluster::quorum::cluster_id_of(&voters));
        let identity = load_identity(&config.data_dir, config.node_id, shared_id.as_deref())?;
        // Topics of a broker from before the metadata log: migrated into it at start.
        let table = Arc::new(TopicStore::new(&config.data_dir).load()?);
        let shards = config.shard_count();
        crate::open_files::log_open_file_budget(config.max_open_sealed_segments_per_shard, shards);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut addr = config.listen_addr()?;
        crate::exclusive::check_address_free(addr)?;
        let config = Arc::new(config);
        let mesh = Mesh::<ShardMsg>::new(shards, config.shard_channel_capacity);
        // Shards that have opened their partitions and groups: none serves before all have.
        let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (ready_tx, ready_rx) =
            std::sync::mpsc::channel::<Result<SocketAddr, Arc<BrokerError>>>();
        // Shard 0 binds first: with port 0 the others must bind the port it got.
        let mut threads = Vec::new();
        let mut stops = Vec::new();
        let (leave_tx, leave_rx) = oneshot::channel();
        let mut leave_rx = Some(leave_rx);
        for id in 0..shards {
            let (stop_tx, stop_rx) = oneshot::channel();
            stops.push(stop_tx);
            let leave = leave_rx.take();
            let settings = ExecutorSettings {
                name: format!("shard-{id}"),
                cpu: (shards <= cores).then_some(id),
                io_memory_bytes: config.io_memory_bytes_per_shard,
                ring_depth: 128,
            };
            let (config, identity, table, mesh, ready) = (
                config.clone(),
                identity.clone(),
                table.clone(),
                mesh.clone(),
                ready_tx.clone(),
            );
            let (bound_tx, bound_rx) = std::sync::mpsc::channel();
            let started = started.clone();
            let thread = rt::spawn_executor(&settings, move || async move {
                let result = run_shard(
                    config,
                    identity,
                    table,
                    mesh,
                    shards,
                    addr,
                    stop_rx.shared(),
                    leave,
                    &ready,
                    bound_tx,
                    started,
                )
                .await;
                match result {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        let e = Arc::new(e);
                        let _ = ready.send(Err(e.clone()));
                        Err(BrokerError::Shard {
                            shard: id,
                            source: e,
                        })
                    }
                }
            })
            .map_err(|e| BrokerError::io("starting a shard thread", e))?;
            threads.push(thread);
            if id == 0 {
                match bound_rx.recv() {
                    Ok(bound) => addr = bound,
                    Err(_) => {
                        return Err(match ready_rx.recv().ok().and_then(|r| r.err()) {
                            Some(source) => BrokerError::Shard { shard: 0, source },
                            None => BrokerError::ShardGone(0),
                        });
                    }
                }
            }
        }
        drop(ready_tx);
        for _ in 0..shards {
            match ready_rx.recv() {
                Ok(Ok(_)) => {}
                Ok(Err(source)) => return Err(BrokerError::Startup(source)),
                Err(_) => return Err(BrokerError::Startup(Arc::new(BrokerError::ShardGone(0)))),
            }
        }
        tracing::info!(%addr, shards, "strata is serving");
        Ok(Broker {
            _data_dir_lock: data_dir_lock,
            threads,
            stops,
            leave: Some(leave_tx),
            controlled_shutdown_timeout: Duration::from_millis(
                config.controlled_shutdown_timeout_ms,
            ),
            local_addr: addr,
        })
    }

    /// Asks every shard to stop: no new connections or requests, in-flight requests finish,
    /// logs are flushed, synced and closed. A broker of a cluster first has the controller move
    /// its leaderships away (`cluster::shutdown`), serving meanwhile.
    pub fn stop(&mut self) {
        if let Some(leave) = self.leave.take() {
            let (done_tx, done_rx) = std::sync::mpsc::channel();
            if leave.send(done_tx).is_ok() {
                // It bounds itself; the margin only guards against a shard that never answers.
                let _ =
                    done_rx.recv_timeout(self.controlled_shutdown_timeout + Duration::from_secs(5));
            }
        }
        for s in self.stops.drain(..) {
            let _ = s.send(());
        }
    }

    /// Waits for every shard to stop; the first error any of them had.
    pub fn wait(self) -> Result<(), BrokerError> {
        let mut first = Ok(());
        for t in self.threads {
            let r = t
                .join()
                .map_err(|_| BrokerError::ShardPanicked)
                .and_then(|r| r);
            if let (Err(e), Ok(())) = (r, &first) {
                first = Err(e);
            }
        }
        first
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_shard(
    config: Arc<BrokerConfig>,
    identity: crate::topics::ClusterIdentity,
    table: Arc<crate::topics::TopicTable>,
    mesh: Mesh<ShardMsg>,
    shards: usize,
    addr: SocketAddr,
    shutdown: ShutdownSignal,
    leave: Option<oneshot::Receiver<std::sync::mpsc::Sender<()>>>,
    ready: &std::sync::mpsc::Sender<Result<SocketAddr, Arc<BrokerError>>>,
    bound: std::sync::mpsc::Sender<SocketAddr>,
    started: Arc<std::sync::atomic::AtomicUsize>,
) -> Result<(), BrokerError> {
    // Bind before joining the mesh: shard 0's port (when asked for port 0) is what the others
    // bind, and they start only once shard 0 has it.
    let listener = Listener::bind(addr, LISTEN_BACKLOG)
        .map_err(|e| BrokerError::io(format!("listen on {addr}"), e))?;
    let local = listener
        .local_addr()
        .map_err(|e| BrokerError::io("reading the bound address", e))?;
    let _ = bound.send(local);
    let (senders, mut receivers) = mesh.join().await?;
    let id = senders.my_id();
    let shard = Rc::new(Shard::new(config.clone(), identity, senders, shards)?);
    let _ = shard.itself.set(Rc::downgrade(&shard));
    // Before the mailbox serves: the first topic table gives partitions their roles.
    shard.load_hw_checkpoint().await;
    // The mailbox: messages from other shards are served as they come, in order, at most
    // `shard_channel_capacity` at once; past that this shard stops taking messages, its
    // channels fill, and the senders wait. So the channel bound is the owner's bound.
    let serving = Budget::new(config.shard_channel_capacity as u64);
    for (_, mut stream) in receivers.streams() {
        let (shard, serving) = (shard.clone(), serving.clone());
        rt::spawn_detached(async move {
            while let Some(msg) = stream.next().await {
                let slot = serving.take(1).await;
                let shard = shard.clone();
                rt::spawn_detached(async move {
                    shard.serve(msg).await;
                    drop(slot);
                });
            }
        });
    }
    let limits = crate::groups::state::GroupLimits {
        initial_rebalance_delay_ms: config.group_initial_rebalance_delay_ms,
        min_session_timeout_ms: config.group_min_session_timeout_ms,
        max_session_timeout_ms: config.group_max_session_timeout_ms,
        max_members: config.group_max_members,
    };
    let _ = shard
        .groups
        .set(crate::groups::coordinator::GroupCoordinator::new(limits));
    {
        let (shard, shutdown) = (shard.clone(), shutdown.clone());
        rt::spawn_detached(async move {
            let every = crate::groups::coordinator::GroupCoordinator::tick_interval();
            while let futures::future::Either::Left(_) =
                first(rt::sleep(every), shutdown.clone()).await
            {
                if let Some(c) = shard.groups.get() {
                    c.tick();
                }
            }
        });
    }
    {
        // Leaders' in-sync sets: followers that lag leave, those caught up join.
        let (shard, shutdown) = (shard.clone(), shutdown.clone());
        let every = Duration::from_millis((config.replica_lag_time_max_ms / 4).clamp(1, 250));
        rt::spawn_detached(async move {
            while let futures::future::Either::Left(_) =
                first(rt::sleep(every), shutdown.clone()).await
            {
                shard.check_isr().await;
            }
        });
    }
    {
        let (shard, shutdown) = (shard.clone(), shutdown.clone());
        let every = Duration::from_millis(config.replica_high_watermark_checkpoint_interval_ms);
        rt::spawn_detached(async move {
            while let futures::future::Either::Left(_) =
                first(rt::sleep(every), shutdown.clone()).await
            {
                shard.write_hw_checkpoint().await;
            }
        });
    }
    if config.latency_report_interval_ms > 0 {
        let shutdown = shutdown.clone();
        let every = Duration::from_millis(config.latency_report_interval_ms);
        rt::spawn_detached(async move {
            while let futures::future::Either::Left(_) =
                first(rt::sleep(every), shutdown.clone()).await
            {
                crate::latency::print_report(id);
            }
        });
    }
    {
        let (shard, shutdown) = (shard.clone(), shutdown.clone());
        let every = Duration::from_millis(config.retention_check_interval_ms);
        rt::spawn_detached(async move {
            loop {
                if matches!(
                    first(rt::sleep(every), shutdown.clone()).await,
                    futures::future::Either::Right(_)
                ) {
                    break;
                }
                shard.enforce_retention().await;
            }
        });
    }
    // Shard 0 runs this node's part in the cluster; its first metadata opens every shard's
    // partitions before any serves.
    if id == 0 {
        if config.offsets_compact_above_bytes.is_some() {
            tracing::warn!(
                "offsets_compact_above_bytes is no longer used: committed offsets live in \
                 __consumer_offsets"
            );
        }
        shard.read_legacy_offsets().await?;
        crate::cluster::start(shard.clone(), table).await?;
    }
    if let Some(leave) = leave {
        let shard = shard.clone();
        rt::spawn_detached(async move {
            if let Ok(done) = leave.await {
                crate::cluster::shutdown::leave(&shard).await;
                let _ = done.send(());
            }
        });
    }
    // Wait for every shard, so that no request is forwarded to a shard still opening its logs.
    started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    while started.load(std::sync::atomic::Ordering::SeqCst) < shards {
        rt::sleep(Duration::from_millis(1)).await;
    }
    let _ = ready.send(Ok(local));

    let shard_bytes = Budget::new((config.max_frame_bytes as u64 * 4).max(256 << 20));
    let open_connections = Rc::new(Cell::new(0usize));
    let client_log = Rc::new(ClientLog::new(config.log_lines_per_client_per_minute));
    loop {
        let accepted = match first(listener.accept(), shutdown.clone()).await {
            futures::future::Either::Left(r) => r,
            futures::future::Either::Right(_) => break,
        };
        let stream = match accepted {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(shard = id, "accept: {e}");
                continue;
            }
        };
        if open_connections.get() >= config.max_connections_per_shard {
            tracing::warn!(
                shard = id,
                "connection limit reached; refusing a connection"
            );
            drop(stream);
            continue;
        }
        open_connections.set(open_connections.get() + 1);
        let (shard, budget, shutdown, open, log) = (
            shard.clone(),
            shard_bytes.clone(),
            shutdown.clone(),
            open_connections.clone(),
            client_log.clone(),
        );
        rt::spawn_detached(async move {
            connection::serve(shard, stream, budget, shutdown, log).await;
            open.set(open.get() - 1);
        });
    }
    drop(listener);
    let deadline = Instant::now() + Duration::from_millis(config.shutdown_grace_ms);
    while open_connections.get() > 0 && Instant::now() < deadline {
        rt::sleep(Duration::from_millis(10)).await;
    }
    shard.close_logs().await;
    if config.latency_report_interval_ms > 0 {
        crate::latency::print_report(id);
    }
    tracing::info!(shard = id, "stopped");
    Ok(())
}
