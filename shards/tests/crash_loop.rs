//! The crash-consistency harness (tests/interop/crash_loop.py), short: the broker under a
//! librdkafka producer and a consumer group, SIGKILLed at random moments and restarted on the
//! same directory; every acknowledged record must then be at its acknowledged offset. The long
//! run is in the README ("Reliability"). Reproduce a run with STRATA_TEST_SEED.

mod common;

use std::process::Command;

use common::*;

fn crash_loop(mode: &str, cycles: u32, segment_bytes: u64) {
    let seed = std::env::var("STRATA_TEST_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_secs())
        });
    println!("STRATA_TEST_SEED={seed}");
    let work = tempfile::tempdir().unwrap();
    let out = Command::new(python())
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/crash_loop.py"))
        .args(["--broker", env!("CARGO_BIN_EXE_strata")])
        .args(["--mode", mode])
        .args(["--cycles", &cycles.to_string()])
        .args(["--seed", &seed.to_string()])
        .args(["--rate", "10000"])
        .args(["--segment-bytes", &segment_bytes.to_string()])
        .arg("--work-dir")
        .arg(work.path())
        .output()
        .expect("python runs");
    let text = output_text(&out);
    println!("{text}");
    assert!(out.status.success(), "crash loop failed:\n{text}");
    assert!(text.contains("\"lost\": 0"), "{text}");
}

#[test]
fn sigkill_loop_with_an_idempotent_producer_loses_nothing_acknowledged() {
    crash_loop("idempotent", 6, 0);
}

#[test]
fn sigkill_loop_with_acks_1_and_small_segments_loses_nothing_acknowledged() {
    crash_loop("acks1", 5, 1 << 20);
}
