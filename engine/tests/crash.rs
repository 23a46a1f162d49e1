//! Crash tests: a child process appends and is killed with SIGKILL at random moments, over and
//! over in the same directory. After each kill, every append the child reported acknowledged
//! (durable, as acks=all; or written, as acks=1) must be there, intact, and the log must be
//! consistent. Reproduce a run with STRATA_TEST_SEED.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use strata_record::{batch, testkit};

fn test_seed() -> u64 {
    std::env::var("STRATA_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
}

/// Starts the writer, lets it run `run_ms`, kills it; returns the highest offset it reported
/// acknowledged (`ack`: "durable" or "written").
fn run_writer_and_kill(dir: &std::path::Path, stream: u64, run_ms: u64, ack: &str) -> i64 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_strata-crash-writer"))
        .arg(dir)
        .arg(stream.to_string())
        .arg(ack)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("writer starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(n) = line
                .strip_prefix("acked ")
                .and_then(|n| n.parse::<i64>().ok())
            {
                let _ = tx.send(n);
            }
        }
    });
    std::thread::sleep(Duration::from_millis(run_ms));
    child.kill().expect("SIGKILL");
    let status = child.wait().unwrap();
    assert!(!status.success(), "writer exited by itself: {status}");
    reader.join().unwrap();
    rx.try_iter().max().unwrap_or(0)
}

#[test]
fn every_durable_append_survives_sigkill_and_the_log_stays_consistent() {
    kill_loop("durable", 8);
}

#[test]
fn every_written_append_survives_sigkill_and_the_log_stays_consistent() {
    kill_loop("written", 12);
}

fn kill_loop(ack: &str, rounds: u64) {
    let seed = test_seed();
    println!("STRATA_TEST_SEED={seed}");
    let dir = tempfile::tempdir().unwrap();
    let stream = seed % 1000;
    let mut last_durable = 0;
    let mut total_rounds_with_progress = 0;
    for round in 0..rounds {
        let run_ms = 150 + testkit::splitmix(seed ^ round) % 600;
        let durable = run_writer_and_kill(dir.path(), stream, run_ms, ack);
        if durable > last_durable {
            total_rounds_with_progress += 1;
        }
        last_durable = last_durable.max(durable);
        run(async {
            let (log, report) = open(dir.path(), small_config_for_writer()).await;
            assert!(
                log.log_end_offset() >= last_durable,
                "round {round}: log ends at {} but {last_durable} was reported {ack} ({report:?})",
                log.log_end_offset()
            );
            // Every batch present, durable or not, is exactly the one the writer sent.
            let batches = read_all(&log, 0, 1 << 20).await;
            let mut next = 0;
            for (n, b) in batches.iter().enumerate() {
                let h = batch::validate(b, usize::MAX).unwrap();
                assert_eq!(h.base_offset, next, "round {round}: offsets contiguous");
                next = h.next_offset();
                assert_eq!(
                    testkit::without_offset(b),
                    testkit::without_offset(&testkit::sample_batch(stream, n as u64)),
                    "round {round}: batch {n} differs"
                );
            }
            assert_eq!(next, log.log_end_offset());
            // Close without a clean seal would be the next crash; drop it as a crash would.
            drop(log);
        });
    }
    assert!(
        total_rounds_with_progress >= 4,
        "the writer made too little progress to test anything"
    );
    println!("final durable offset {last_durable}");
}

fn small_config_for_writer() -> strata_engine::LogConfig {
    strata_engine::LogConfig {
        segment_bytes: 256 * 1024,
        index_interval_bytes: 1024,
        max_batch_bytes: 64 * 1024,
        retention_ms: None,
        ..Default::default()
    }
}
