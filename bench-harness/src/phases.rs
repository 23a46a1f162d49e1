//! Presets that run in phases on one executor: `catch-up` (write a backlog, then read it all from
//! the start, cold) and `log-size` (append and random-offset fetch rates at two log sizes).

use std::cell::{Cell, RefCell};
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, BrokerId, FetchRequest, ResponseKind};
use serde::{Deserialize, Serialize};
use strata_runtime::{self as rt, ExecutorSettings};

use crate::stats::{histogram, Percentiles, Recorder};
use crate::workload::Params;
use crate::{consumer, producer, Clock};
use strata_client::{ensure_topic, latest_offsets, topic_name, ClientError, Connection};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CatchUpResult {
    pub backlog_bytes: u64,
    pub read_bytes: u64,
    pub read_s: f64,
    pub read_mb_per_s: f64,
    pub read_records_per_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SizePoint {
    pub log_bytes: u64,
    pub append_mb_per_s: f64,
    pub random_fetches_per_s: f64,
    pub random_fetch_us: Percentiles,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogSizeResult {
    pub small: SizePoint,
    pub large: SizePoint,
    pub append_ratio: f64,
    pub fetch_rate_ratio: f64,
    pub fetch_p99_ratio: f64,
}

fn settings(p: &Params) -> ExecutorSettings {
    ExecutorSettings {
        name: "bench-phases".into(),
        cpu: p.first_core,
        io_memory_bytes: 512 << 10,
        ring_depth: 128,
    }
}

/// Produces closed loop until `until_bytes` more bytes are acknowledged (or `max_time`); returns
/// (bytes, seconds).
async fn produce_until(
    addr: &str,
    p: &Params,
    partitions: i32,
    until_bytes: u64,
    max_time: Duration,
    id: u32,
) -> Result<(u64, f64), ClientError> {
    let recorder = Rc::new(RefCell::new(Recorder::default()));
    let stop = Rc::new(Cell::new(false));
    let task = rt::spawn(producer::run(producer::ProducerSetup {
        id,
        addr: addr.to_string(),
        params: p.clone(),
        partitions: (0..partitions).collect(),
        recorder: recorder.clone(),
        stop: stop.clone(),
        clock: Clock::new(),
    }));
    let start = Instant::now();
    let mut last_print = Instant::now();
    while recorder.borrow().produced_bytes < until_bytes && start.elapsed() < max_time {
        rt::sleep(Duration::from_millis(20)).await;
        if until_bytes < u64::MAX && last_print.elapsed() >= Duration::from_secs(1) {
            last_print = Instant::now();
            let b = recorder.borrow().produced_bytes;
            println!(
                "  produced {:.2} GiB of {:.2} GiB",
                b as f64 / (1u64 << 30) as f64,
                until_bytes as f64 / (1u64 << 30) as f64
            );
        }
    }
    stop.set(true);
    task.await?;
    let bytes = recorder.borrow().produced_bytes;
    Ok((bytes, start.elapsed().as_secs_f64()))
}

pub fn catch_up(
    addr: &str,
    p: &Params,
    backlog_bytes: u64,
    out: &Path,
) -> Result<CatchUpResult, String> {
    let (addr, p2) = (addr.to_string(), p.clone());
    let result = rt::block_on(&settings(p), async move {
        let conn = Connection::connect(&addr).await?;
        let partitions = ensure_topic(&conn, &p2.topic, p2.partitions).await?;
        let start_offsets = latest_offsets(&conn, &p2.topic, partitions).await?;
        println!(
            "writing a backlog of {:.1} GiB",
            backlog_bytes as f64 / (1u64 << 30) as f64
        );
        produce_until(
            &addr,
            &p2,
            partitions,
            backlog_bytes,
            Duration::from_secs(3600),
            0,
        )
        .await?;
        let end_offsets = latest_offsets(&conn, &p2.topic, partitions).await?;
        let total: i64 = end_offsets
            .iter()
            .zip(&start_offsets)
            .map(|(e, s)| e - s)
            .sum();
        println!("reading {total} records back from the start");
        let recorder = Rc::new(RefCell::new(Recorder::default()));
        let stop = Rc::new(Cell::new(false));
        let task = rt::spawn(consumer::run(consumer::ConsumerSetup {
            addr: addr.clone(),
            params: Params {
                fetch_max_wait_ms: 10,
                ..p2.clone()
            },
            start_offsets,
            recorder: recorder.clone(),
            stop: stop.clone(),
            clock: Clock::new(),
        }));
        let start = Instant::now();
        while (recorder.borrow().consumed_records as i64) < total
            && start.elapsed() < Duration::from_secs(3600)
        {
            rt::sleep(Duration::from_millis(5)).await;
        }
        let read_s = start.elapsed().as_secs_f64();
        stop.set(true);
        task.await?;
        let r = recorder.borrow();
        Ok::<_, ClientError>(CatchUpResult {
            backlog_bytes,
            read_bytes: r.consumed_bytes,
            read_s,
            read_mb_per_s: r.consumed_bytes as f64 / read_s / 1e6,
            read_records_per_s: r.consumed_records as f64 / read_s,
        })
    })
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    std::fs::create_dir_all(out).map_err(|e| e.to_string())?;
    std::fs::write(
        out.join("catch-up.json"),
        serde_json::to_vec_pretty(&result).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    Ok(result)
}

/// `count` fetches of 64 KiB at uniformly random offsets of random partitions, no waiting.
async fn random_fetches(
    conn: &Connection,
    p: &Params,
    partitions: i32,
    count: u64,
    seed: u64,
) -> Result<(f64, Percentiles), ClientError> {
    let ends = latest_offsets(conn, &p.topic, partitions).await?;
    let mut hist = histogram();
    let mut x = seed | 1;
    let start = Instant::now();
    for _ in 0..count {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let part = (x % partitions as u64) as usize;
        let offset = ((x >> 8) % ends[part].max(1) as u64) as i64;
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(0)
            .with_max_bytes(1 << 20)
            .with_topics(vec![FetchTopic::default()
                .with_topic(topic_name(&p.topic))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(part as i32)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(64 << 10)])]);
        let t = Instant::now();
        match conn.request(ApiKey::Fetch, 11, &req).await? {
            ResponseKind::Fetch(r) => {
                let got = r.responses.first().and_then(|t| t.partitions.first());
                if got.is_none_or(|g| {
                    g.error_code != 0 || g.records.as_ref().is_none_or(|b| b.is_empty())
                }) {
                    return Err(ClientError::Broker(format!(
                        "random fetch at {part}/{offset} returned nothing"
                    )));
                }
            }
            _ => return Err(ClientError::Protocol("not a fetch response".into())),
        }
        let _ = hist.record((t.elapsed().as_micros() as u64).max(1));
    }
    Ok((
        count as f64 / start.elapsed().as_secs_f64(),
        Percentiles::of(&hist),
    ))
}

pub fn log_size(
    addr: &str,
    p: &Params,
    small: u64,
    large: u64,
    measure: Duration,
    out: &Path,
) -> Result<LogSizeResult, String> {
    let (addr, p2) = (addr.to_string(), p.clone());
    let result = rt::block_on(&settings(p), async move {
        let conn = Connection::connect(&addr).await?;
        let partitions = ensure_topic(&conn, &p2.topic, p2.partitions).await?;
        let mut points = Vec::new();
        let mut written = 0u64;
        for (i, target) in [small, large].into_iter().enumerate() {
            println!(
                "filling the log to {:.1} GiB",
                target as f64 / (1u64 << 30) as f64
            );
            let (b, _) = produce_until(
                &addr,
                &p2,
                partitions,
                target.saturating_sub(written),
                Duration::from_secs(3600),
                2 * i as u32,
            )
            .await?;
            written += b;
            let (b, s) =
                produce_until(&addr, &p2, partitions, u64::MAX, measure, 2 * i as u32 + 1).await?;
            written += b;
            let (rate, lat) =
                random_fetches(&conn, &p2, partitions, 2000, 0x9e37_79b9 + i as u64).await?;
            let point = SizePoint {
                log_bytes: written,
                append_mb_per_s: b as f64 / s / 1e6,
                random_fetches_per_s: rate,
                random_fetch_us: lat,
            };
            println!(
                "  at {:.1} GiB: append {:.1} MB/s, random fetches {:.0}/s, p50 {} us, p99 {} us",
                written as f64 / (1u64 << 30) as f64,
                point.append_mb_per_s,
                rate,
                point.random_fetch_us.p50,
                point.random_fetch_us.p99
            );
            points.push(point);
        }
        let (small, large) = (points[0].clone(), points[1].clone());
        Ok::<_, ClientError>(LogSizeResult {
            append_ratio: large.append_mb_per_s / small.append_mb_per_s,
            fetch_rate_ratio: large.random_fetches_per_s / small.random_fetches_per_s,
            fetch_p99_ratio: large.random_fetch_us.p99 as f64
                / small.random_fetch_us.p99.max(1) as f64,
            small,
            large,
        })
    })
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    std::fs::create_dir_all(out).map_err(|e| e.to_string())?;
    std::fs::write(
        out.join("log-size.json"),
        serde_json::to_vec_pretty(&result).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    Ok(result)
}
