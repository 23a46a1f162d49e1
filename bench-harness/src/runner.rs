//! A run: sets up the topic, starts the executors with their producers and consumers, prints a
//! progress line a second, stops after warm-up + duration, and writes the results.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use strata_runtime::{self as rt, ExecutorSettings};

use crate::stats::{write_hgrm, Percentiles, Recorder};
use crate::verify::{Verifier, VerifyReport};
use crate::workload::Params;
use crate::{consumer, producer, Clock};
use strata_client::{ensure_topic, latest_offsets_of, partition_leaders, Connection};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub preset: String,
    pub broker: String,
    pub commit: String,
    pub host_cores: usize,
    pub params: serde_json::Value,
    pub started_at_unix_s: u64,
    pub measured_s: f64,
    pub produced_records: u64,
    pub produced_records_per_s: f64,
    pub produced_mb_per_s: f64,
    pub consumed_records_per_s: f64,
    pub errors: u64,
    pub produce_latency_us: Percentiles,
    pub e2e_latency_us: Percentiles,
    pub verify: Option<VerifyReport>,
}

enum Msg {
    Interval(Recorder),
    ProducersDone(producer::Acked),
    ConsumersDone(Vec<Verifier>),
    Failed(String),
}

pub struct RunOptions {
    pub preset: String,
    pub bootstrap: String,
    pub params: Params,
    pub out: PathBuf,
}

fn commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

pub fn run(opts: RunOptions) -> Result<Summary, String> {
    let p = opts.params.clone();
    p.validate()?;
    std::fs::create_dir_all(&opts.out).map_err(|e| format!("{}: {e}", opts.out.display()))?;
    // Topic and starting offsets, from a short-lived executor of its own.
    let (addr, topic, wanted) = (opts.bootstrap.clone(), p.topic.clone(), p.partitions);
    let settings = ExecutorSettings {
        name: "bench-setup".into(),
        io_memory_bytes: 256 << 10,
        ..Default::default()
    };
    let (start_offsets, leaders) = rt::block_on(&settings, async move {
        let conn = Connection::connect(&addr).await?;
        let n = ensure_topic(&conn, &topic, wanted).await?;
        // In a cluster each producer connection goes to the broker that leads its partitions.
        // A topic just created may not have reached every broker yet: asked again briefly.
        let mut tries = 0;
        loop {
            match leaders_and_offsets(&conn, &topic, n).await {
                Ok(found) => break Ok::<_, strata_client::ClientError>(found),
                Err(_) if tries < 50 => {
                    tries += 1;
                    rt::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => break Err(e),
            }
        }
    })
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    if leaders.len() > 1 && p.consumers > 0 {
        return Err(format!(
            "the topic's partitions are led by {} brokers; consumers read from one broker, so \
             run presets with consumers against a single broker",
            leaders.len()
        ));
    }
    let leaders: Vec<(String, Vec<i32>)> = leaders.into_iter().collect();

    let clock = Clock::new();
    let stop_producers = Arc::new(AtomicBool::new(false));
    let stop_consumers = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<Msg>();
    let mut threads = Vec::new();
    let mut with_producers = 0;
    let mut with_consumers = 0;
    for k in 0..p.threads {
        let producers: Vec<u32> = (0..p.producers as u32)
            .filter(|i| *i as usize % p.threads == k)
            .collect();
        let consumers = (0..p.consumers).filter(|i| i % p.threads == k).count();
        with_producers += usize::from(!producers.is_empty());
        with_consumers += usize::from(consumers > 0);
        let settings = ExecutorSettings {
            name: format!("bench-{k}"),
            cpu: p.first_core.map(|c| c + k),
            io_memory_bytes: 512 << 10,
            ring_depth: 128,
        };
        let (p, tx, sp, sc, addr, offsets) = (
            p.clone(),
            tx.clone(),
            stop_producers.clone(),
            stop_consumers.clone(),
            opts.bootstrap.clone(),
            start_offsets.clone(),
        );
        let leaders = leaders.clone();
        let thread = rt::spawn_executor(&settings, move || async move {
            executor_main(
                p, producers, consumers, leaders, offsets, addr, clock, sp, sc, tx,
            )
            .await
        })
        .map_err(|e| e.to_string())?;
        threads.push(thread);
    }
    drop(tx);

    let started = Instant::now();
    let mut total = Recorder::default();
    let mut intervals: Vec<(f64, Recorder)> = Vec::new();
    let mut acked: HashMap<(u32, u32), u64> = HashMap::new();
    let mut verifiers = Vec::new();
    let (mut producers_done, mut consumers_done) = (0, 0);
    let mut drain_started: Option<Instant> = None;
    let mut quiet_since: Option<Instant> = None;
    let run_for = Duration::from_secs(p.warmup_s + p.duration_s);
    let mut failure = None;
    let mut tick = Instant::now();
    loop {
        let mut second = Recorder::default();
        while tick.elapsed() < Duration::from_secs(1) {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(Msg::Interval(r)) => second.add(&r),
                Ok(Msg::ProducersDone(a)) => {
                    producers_done += 1;
                    acked.extend(a);
                }
                Ok(Msg::ConsumersDone(v)) => {
                    consumers_done += 1;
                    verifiers.extend(v);
                }
                Ok(Msg::Failed(e)) => failure = Some(e),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        tick = Instant::now();
        let t = started.elapsed().as_secs_f64();
        let measured = t > p.warmup_s as f64 + 0.5 && !stop_producers.load(Ordering::Relaxed);
        println!(
            "{:6.1}s {} {:>10.0} rec/s {:>8.1} MB/s  produce p99 {:>8.3} ms  e2e p99 {:>8.3} ms  consumed {:>10.0} rec/s  errors {}",
            t,
            if measured {
                "run  "
            } else if stop_producers.load(Ordering::Relaxed) {
                "drain"
            } else {
                "warm "
            },
            second.produced_records as f64,
            second.produced_bytes as f64 / 1e6,
            second.produce_us.value_at_quantile(0.99) as f64 / 1000.0,
            second.e2e_us.value_at_quantile(0.99) as f64 / 1000.0,
            second.consumed_records as f64,
            second.errors
        );
        let consumed_this_second = second.consumed_records;
        if measured {
            total.add(&second);
            intervals.push((t, second));
        }
        if failure.is_some() || started.elapsed() >= run_for {
            stop_producers.store(true, Ordering::Relaxed);
        }
        // Consumers stop once producers are done and nothing more arrives for a second (or
        // after 15 s of draining).
        if producers_done >= with_producers && stop_producers.load(Ordering::Relaxed) {
            let since = *drain_started.get_or_insert_with(Instant::now);
            if consumed_this_second > 0 {
                quiet_since = None;
            } else {
                quiet_since.get_or_insert_with(Instant::now);
            }
            let quiet = quiet_since.is_some_and(|q| q.elapsed() >= Duration::from_secs(1));
            if with_consumers == 0 || quiet || since.elapsed() >= Duration::from_secs(15) {
                stop_consumers.store(true, Ordering::Relaxed);
            }
        }
        if producers_done >= with_producers
            && consumers_done >= with_consumers
            && stop_consumers.load(Ordering::Relaxed)
        {
            break;
        }
    }
    for t in threads {
        let _ = t.join();
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let measured_s = intervals.len() as f64;
    let verify = p.verify.then(|| {
        verifiers
            .first()
            .map(|v| v.report(&acked))
            .unwrap_or_default()
    });
    let summary = Summary {
        preset: opts.preset.clone(),
        broker: opts.bootstrap.clone(),
        commit: commit(),
        host_cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        params: serde_json::to_value(&p).map_err(|e| e.to_string())?,
        started_at_unix_s: clock.now_us() / 1_000_000,
        measured_s,
        produced_records: total.produced_records,
        produced_records_per_s: total.produced_records as f64 / measured_s.max(1.0),
        produced_mb_per_s: total.produced_bytes as f64 / measured_s.max(1.0) / 1e6,
        consumed_records_per_s: total.consumed_records as f64 / measured_s.max(1.0),
        errors: total.errors,
        produce_latency_us: Percentiles::of(&total.produce_us),
        e2e_latency_us: Percentiles::of(&total.e2e_us),
        verify,
    };
    write_results(&opts.out, &summary, &total, &intervals)
        .map_err(|e| format!("{}: {e}", opts.out.display()))?;
    Ok(summary)
}

/// Partitions grouped by the broker that leads them, and each partition's latest offset.
async fn leaders_and_offsets(
    conn: &Connection,
    topic: &str,
    partitions: i32,
) -> Result<(Vec<i64>, BTreeMap<String, Vec<i32>>), strata_client::ClientError> {
    let mut by_leader: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for (p, leader) in partition_leaders(conn, topic)
        .await?
        .into_iter()
        .enumerate()
    {
        by_leader.entry(leader).or_default().push(p as i32);
    }
    let mut offsets = vec![0; partitions as usize];
    for (leader, parts) in &by_leader {
        let at = Connection::connect(leader).await?;
        for (p, offset) in latest_offsets_of(&at, topic, parts).await? {
            if let Some(slot) = offsets.get_mut(p as usize) {
                *slot = offset;
            }
        }
    }
    Ok((offsets, by_leader))
}

#[allow(clippy::too_many_arguments)]
async fn executor_main(
    p: Params,
    producers: Vec<u32>,
    consumers: usize,
    leaders: Vec<(String, Vec<i32>)>,
    offsets: Vec<i64>,
    addr: String,
    clock: Clock,
    stop_producers: Arc<AtomicBool>,
    stop_consumers: Arc<AtomicBool>,
    tx: mpsc::Sender<Msg>,
) {
    let recorder = Rc::new(RefCell::new(Recorder::default()));
    let (sp, sc) = (Rc::new(Cell::new(false)), Rc::new(Cell::new(false)));
    let finished = Rc::new(Cell::new(false));
    {
        // Watches the run's stop flags and ships this executor's interval every second.
        let (recorder, sp, sc, tx, finished) = (
            recorder.clone(),
            sp.clone(),
            sc.clone(),
            tx.clone(),
            finished.clone(),
        );
        rt::spawn_detached(async move {
            let mut last = Instant::now();
            while !finished.get() {
                rt::sleep(Duration::from_millis(10)).await;
                sp.set(stop_producers.load(Ordering::Relaxed));
                sc.set(stop_consumers.load(Ordering::Relaxed));
                if last.elapsed() >= Duration::from_millis(250) {
                    last = Instant::now();
                    let r = std::mem::take(&mut *recorder.borrow_mut());
                    let _ = tx.send(Msg::Interval(r));
                }
            }
        });
    }
    // A producer is a connection per broker leading its partitions (one on a single broker).
    let producer_tasks: Vec<_> = producers
        .into_iter()
        .flat_map(|id| leaders.iter().map(move |l| (id, l)))
        .map(|(id, (leader, partitions))| {
            rt::spawn(producer::run(producer::ProducerSetup {
                id,
                addr: leader.clone(),
                params: p.clone(),
                partitions: partitions.clone(),
                recorder: recorder.clone(),
                stop: sp.clone(),
                clock,
            }))
        })
        .collect();
    let consumer_tasks: Vec<_> = (0..consumers)
        .map(|_| {
            rt::spawn(consumer::run(consumer::ConsumerSetup {
                addr: addr.clone(),
                params: p.clone(),
                start_offsets: offsets.clone(),
                recorder: recorder.clone(),
                stop: sc.clone(),
                clock,
            }))
        })
        .collect();
    let had_producers = !producer_tasks.is_empty();
    let mut acked = producer::Acked::new();
    for t in producer_tasks {
        match t.await {
            Ok(a) => acked.extend(a),
            Err(e) => {
                let _ = tx.send(Msg::Failed(format!("producer: {e}")));
            }
        }
    }
    if had_producers {
        let _ = tx.send(Msg::ProducersDone(acked));
    }
    let had_consumers = !consumer_tasks.is_empty();
    let mut verifiers = Vec::new();
    for t in consumer_tasks {
        match t.await {
            Ok(v) => verifiers.push(v),
            Err(e) => {
                let _ = tx.send(Msg::Failed(format!("consumer: {e}")));
            }
        }
    }
    let r = std::mem::take(&mut *recorder.borrow_mut());
    let _ = tx.send(Msg::Interval(r));
    if had_consumers {
        let _ = tx.send(Msg::ConsumersDone(verifiers));
    }
    finished.set(true);
}

fn write_results(
    out: &Path,
    summary: &Summary,
    total: &Recorder,
    intervals: &[(f64, Recorder)],
) -> std::io::Result<()> {
    std::fs::write(
        out.join("summary.json"),
        serde_json::to_vec_pretty(summary)?,
    )?;
    write_hgrm(
        &total.produce_us,
        &mut std::fs::File::create(out.join("produce.hgrm"))?,
    )?;
    write_hgrm(
        &total.e2e_us,
        &mut std::fs::File::create(out.join("e2e.hgrm"))?,
    )?;
    for (name, pick) in [("produce", 0), ("e2e", 1)] {
        let mut file =
            std::io::BufWriter::new(std::fs::File::create(out.join(format!("{name}.hlog")))?);
        let mut serializer = hdrhistogram::serialization::V2Serializer::new();
        let mut log = hdrhistogram::serialization::interval_log::IntervalLogWriterBuilder::new()
            .add_comment(&format!("strata-bench {} latency, microseconds", name))
            .with_max_value_divisor(1000.0)
            .begin_log_with(&mut file, &mut serializer)
            .map_err(std::io::Error::other)?;
        for (t, r) in intervals {
            let h = if pick == 0 { &r.produce_us } else { &r.e2e_us };
            log.write_histogram(
                h,
                Duration::from_secs_f64(t - 1.0),
                Duration::from_secs(1),
                None,
            )
            .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
        }
    }
    Ok(())
}
