//! Test tool for the crash tests: appends `testkit::sample_batch(seed, n)` batches to the log in
//! DIR forever, continuing after whatever the log already holds, and prints `acked N` each time
//! every offset below N is acknowledged: durable (fdatasync'ed, as acks=all), or with `written`,
//! written (as acks=1, which a process crash must not take back either). The test kills it with
//! SIGKILL and checks the log.
//!
//! Usage: strata-crash-writer DIR SEED [durable|written]

use std::io::Write;
use std::path::PathBuf;

use strata_engine::{LogCaches, LogConfig, PartitionLog};
use strata_record::testkit;
use strata_runtime::{self as rt, ExecutorSettings};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(seed)) = (args.next(), args.next()) else {
        eprintln!("usage: strata-crash-writer DIR SEED");
        std::process::exit(2);
    };
    let Ok(seed) = seed.parse::<u64>() else {
        eprintln!("SEED must be a number");
        std::process::exit(2);
    };
    let written_only = args.next().as_deref() == Some("written");
    let dir = PathBuf::from(dir);
    let settings = ExecutorSettings {
        io_memory_bytes: 512 << 10,
        ..Default::default()
    };
    let result = rt::block_on(&settings, async move {
        let config = LogConfig {
            segment_bytes: 256 * 1024,
            index_interval_bytes: 1024,
            max_batch_bytes: 64 * 1024,
            retention_ms: None,
            ..Default::default()
        };
        let (log, _) = PartitionLog::open(&dir, config, &LogCaches::new(4 << 20, 64)).await?;
        // Count what is there: the stream continues from batch number `n`.
        let mut n = 0u64;
        let mut offset = log.log_start_offset();
        while offset < log.high_watermark() {
            let got = log.read(offset, 1 << 20).await?;
            for b in got.batches {
                offset = strata_record::batch::parse_header(&b, usize::MAX)
                    .map_or(offset + 1, |h| h.next_offset());
                n += 1;
            }
        }
        let mut out = std::io::stdout();
        loop {
            // A few appends in flight, then one durable wait that covers them all.
            let burst = 1 + testkit::splitmix(seed ^ n) % 4;
            let mut last = None;
            for _ in 0..burst {
                last = Some(log.append(testkit::sample_batch(seed, n)).await?);
                n += 1;
            }
            if let Some(a) = last {
                if written_only {
                    log.wait_written(a.next_offset()).await?;
                } else {
                    log.wait_durable(a.next_offset()).await?;
                }
                let _ = writeln!(out, "acked {}", a.next_offset());
                let _ = out.flush();
            }
        }
        #[allow(unreachable_code)]
        Ok::<(), strata_engine::EngineError>(())
    });
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            eprintln!("strata-crash-writer: {e}");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("strata-crash-writer: executor: {e}");
            std::process::exit(1);
        }
    }
}
