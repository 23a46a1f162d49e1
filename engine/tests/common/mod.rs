//! Helpers shared by the engine's integration tests.
#![allow(dead_code)]

use std::future::Future;
use std::path::Path;

use bytes::BytesMut;
use strata_engine::{LogCaches, LogConfig, PartitionLog, RecoveryReport};
use strata_record::batch;
use strata_runtime::{self as rt, ExecutorSettings};

/// Runs an async test body on a small executor (tests run two at a time on 2 cores, and
/// io_uring memory counts against `ulimit -l`).
pub fn run<T>(f: impl Future<Output = T>) -> T {
    let settings = ExecutorSettings {
        name: "test".into(),
        io_memory_bytes: 512 << 10,
        ring_depth: 64,
        ..Default::default()
    };
    rt::block_on(&settings, f).expect("executor starts")
}

pub fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 64 * 1024,
        index_interval_bytes: 512,
        max_batch_bytes: 32 * 1024,
        retention_ms: None,
        ..Default::default()
    }
}

pub async fn open(dir: &Path, config: LogConfig) -> (PartitionLog, RecoveryReport) {
    PartitionLog::open(dir, config, &LogCaches::new(1 << 20, 64))
        .await
        .expect("log opens")
}

/// A deterministic batch for (seed, n): `records` values whose bytes say who made them.
pub fn make_batch(seed: u64, n: u64, records: usize, value_len: usize, ts: i64) -> BytesMut {
    strata_record::testkit::batch_of(seed, n, records, value_len, ts)
}

/// Every batch from `from` to the high watermark, read in steps of `max_bytes`.
pub async fn read_all(log: &PartitionLog, from: i64, max_bytes: usize) -> Vec<bytes::Bytes> {
    let mut out = Vec::new();
    let mut offset = from;
    while offset < log.high_watermark() {
        let got = log.read(offset, max_bytes).await.expect("read");
        assert!(
            !got.batches.is_empty(),
            "empty read at {offset} below hw {}",
            log.high_watermark()
        );
        for b in got.batches {
            let h = batch::validate(&b, usize::MAX).expect("stored batch is valid");
            assert!(h.last_offset() >= offset);
            offset = h.next_offset();
            out.push(b);
        }
    }
    out
}

#[allow(unused_imports)]
pub use strata_record::testkit::without_offset;
