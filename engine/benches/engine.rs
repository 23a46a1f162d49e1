//! Engine benchmarks (`cargo bench -p strata-engine --bench engine -- [append|durable|logsize] [DIR]`).
//!
//! - append: MB/s and batches/s for 1, 16 and 64 KiB batches, written (no fsync).
//! - durable: the same with every append waiting for fdatasync, 64 concurrent appenders sharing
//!   fdatasyncs (group commit).
//! - logsize: append rate and random-offset read latency (cold: no batch cache) at 1 GiB and at
//!   16 GiB of log, and their ratios: O(1) means about 1.0.
//!
//! DIR (default ./target/bench-data) must be on the disk under test. Figures are printed one per
//! line as `name value unit` so that runs can be compared by a script.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use strata_engine::{LogCaches, LogConfig, PartitionLog};
use strata_record::testkit;
use strata_runtime::{self as rt, ExecutorSettings};

const GIB: u64 = 1 << 30;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: GIB,
        max_batch_bytes: 1 << 20,
        retention_ms: None,
        ..Default::default()
    }
}

/// One batch of about `bytes` bytes (100-byte records), built once and appended again and again.
fn batch_of_size(bytes: usize) -> bytes::BytesMut {
    let records = (bytes / 110).max(1);
    testkit::batch_of(1, 1, records, bytes / records - 10, 1)
}

async fn fresh_log(dir: &Path, cache_bytes: usize) -> PartitionLog {
    let _ = std::fs::remove_dir_all(dir);
    PartitionLog::open(dir, config(), &LogCaches::new(cache_bytes, 64))
        .await
        .expect("log opens")
        .0
}

/// Appends `batch` for `duration` keeping up to 1 MiB unwritten; returns (batches, bytes, secs).
/// Appends `batch` for `duration` or `max_bytes`, as a producer with several requests in flight
/// would: it waits only when more than 4 MiB are unwritten. Returns (batches, bytes, secs).
async fn append_for(
    log: &PartitionLog,
    batch: &bytes::BytesMut,
    duration: Duration,
    max_bytes: u64,
) -> (u64, u64, f64) {
    const MARK_BYTES: u64 = 1 << 20;
    const MARKS_IN_FLIGHT: usize = 4;
    let start = Instant::now();
    let (mut batches, mut bytes, mut since_mark) = (0u64, 0u64, 0u64);
    let mut marks = std::collections::VecDeque::new();
    while start.elapsed() < duration && bytes < max_bytes {
        let a = log.append(batch.clone()).await.expect("append");
        batches += 1;
        bytes += batch.len() as u64;
        since_mark += batch.len() as u64;
        if since_mark >= MARK_BYTES {
            marks.push_back(a.next_offset());
            since_mark = 0;
            if marks.len() > MARKS_IN_FLIGHT {
                let oldest = marks.pop_front().unwrap_or_default();
                log.wait_written(oldest).await.expect("write");
            }
        }
    }
    log.flush().await.expect("flush");
    (batches, bytes, start.elapsed().as_secs_f64())
}

async fn bench_append(dir: &Path) {
    for size in [1024usize, 16 * 1024, 64 * 1024] {
        let log = fresh_log(dir, 64 << 20).await;
        let batch = batch_of_size(size);
        let (batches, bytes, secs) =
            append_for(&log, &batch, Duration::from_secs(4), 8 * GIB).await;
        println!(
            "append_{}k_mb_per_s {:.1} MB/s",
            size / 1024,
            bytes as f64 / secs / 1e6
        );
        println!(
            "append_{}k_batches_per_s {:.0} batches/s",
            size / 1024,
            batches as f64 / secs
        );
    }
}

/// Concurrent appenders in the durable benchmark (STRATA_BENCH_WRITERS, default 64).
fn durable_writers() -> usize {
    std::env::var("STRATA_BENCH_WRITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

async fn bench_durable(dir: &Path) {
    for size in [1024usize, 16 * 1024, 64 * 1024] {
        let log = fresh_log(dir, 64 << 20).await;
        let batch = batch_of_size(size);
        let start = Instant::now();
        let deadline = Duration::from_secs(4);
        let writers: Vec<_> = (0..durable_writers())
            .map(|_| {
                let (log, batch) = (log.clone(), batch.clone());
                rt::spawn(async move {
                    let mut n = 0u64;
                    while start.elapsed() < deadline {
                        log.append_and_wait(batch.clone(), true)
                            .await
                            .expect("durable append");
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let mut batches = 0;
        for w in writers {
            batches += w.await;
        }
        let secs = start.elapsed().as_secs_f64();
        let bytes = batches * batch.len() as u64;
        println!(
            "durable_{}k_mb_per_s {:.1} MB/s",
            size / 1024,
            bytes as f64 / secs / 1e6
        );
        println!(
            "durable_{}k_batches_per_s {:.0} batches/s",
            size / 1024,
            batches as f64 / secs
        );
        println!(
            "durable_{}k_appends_per_fdatasync {:.1} appends",
            size / 1024,
            batches as f64 / log.sync_count() as f64
        );
    }
}

/// Append MB/s over 512 MiB, and p50/p99 of cold random-offset reads, at the log's current size.
async fn measure_at_size(
    log: &PartitionLog,
    batch: &bytes::BytesMut,
    label: &str,
    seed: u64,
) -> (f64, u64, u64) {
    let (_, bytes, secs) = append_for(log, batch, Duration::from_secs(60), GIB / 2).await;
    let mb_per_s = bytes as f64 / secs / 1e6;
    let mut hist = hdrhistogram::Histogram::<u64>::new(3).expect("histogram");
    let end = log.high_watermark();
    for i in 0..2000u64 {
        let offset = (testkit::splitmix(seed ^ i) % end as u64) as i64;
        let t = Instant::now();
        let got = log.read(offset, 64 * 1024).await.expect("read");
        assert!(!got.batches.is_empty());
        hist.record(t.elapsed().as_micros() as u64).expect("record");
    }
    let (p50, p99) = (hist.value_at_quantile(0.5), hist.value_at_quantile(0.99));
    println!("logsize_{label}_append_mb_per_s {mb_per_s:.1} MB/s");
    println!("logsize_{label}_read_p50 {p50} us");
    println!("logsize_{label}_read_p99 {p99} us");
    (mb_per_s, p50, p99)
}

async fn bench_log_size(dir: &Path) {
    // No batch cache: every read goes to the disk through the index.
    let log = fresh_log(dir, 0).await;
    let batch = batch_of_size(64 * 1024);
    append_for(&log, &batch, Duration::from_secs(600), GIB).await;
    let small = measure_at_size(&log, &batch, "1g", 7).await;
    append_for(&log, &batch, Duration::from_secs(600), 14 * GIB + GIB / 2).await;
    println!("logsize_bytes {} bytes", log.size_bytes());
    let large = measure_at_size(&log, &batch, "16g", 7).await;
    println!("logsize_append_ratio_16g_to_1g {:.3} x", large.0 / small.0);
    println!(
        "logsize_read_p50_ratio_16g_to_1g {:.3} x",
        large.1 as f64 / small.1 as f64
    );
    println!(
        "logsize_read_p99_ratio_16g_to_1g {:.3} x",
        large.2 as f64 / small.2 as f64
    );
    drop(log);
    let _ = std::fs::remove_dir_all(dir);
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let what = args.first().cloned().unwrap_or_else(|| "append".into());
    let dir = args
        .get(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/bench-data"));
    let settings = ExecutorSettings {
        name: "bench".into(),
        cpu: Some(0),
        ..Default::default()
    };
    rt::block_on(&settings, async move {
        match what.as_str() {
            "append" => bench_append(&dir.join("append")).await,
            "durable" => bench_durable(&dir.join("durable")).await,
            "logsize" => bench_log_size(&dir.join("logsize")).await,
            other => eprintln!("unknown benchmark {other}: append, durable or logsize"),
        }
    })
    .expect("executor starts");
}
