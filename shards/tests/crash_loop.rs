//! The crash-consistency harness (tests/interop/crash_loop.py), short: the broker under a
//! librdkafka producer and a consumer group, crashed at random moments and restarted on the same
//! directory; every acknowledged record must then be at its acknowledged offset. The long runs
//! are in the README ("Reliability"). Reproduce a run with STRATA_TEST_SEED.
//!
//! Two faults: SIGKILL (a process crash), and a power cut: the data directory on an ext4 on a
//! loop device on a fault disk (the faultdisk crate: a FUSE file whose write cache the harness
//! cuts, losing what was not flushed), remounted (ext4 replays its journal) before the restart.
//! With power cuts, every record acknowledged with acks=all must survive and every record in the
//! log must be whole. Power cuts need root (mount, losetup), as CI has.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use strata_faultdisk::FaultDisk;

const FAULT_DISK_BYTES: u64 = 2 << 30;
const FAULT_DISK_MAX_DIRTY_BYTES: u64 = 256 << 20;

/// Runs the harness; with `fault_disk`, cutting that disk's power instead of only killing.
fn crash_loop(mode: &str, cycles: u32, segment_bytes: u64, fault_disk: Option<&Path>) -> String {
    let seed = test_seed();
    let work = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(python());
    cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/crash_loop.py"))
        .args(["--broker", env!("CARGO_BIN_EXE_strata")])
        .args(["--mode", mode])
        .args(["--cycles", &cycles.to_string()])
        .args(["--seed", &seed.to_string()])
        .args(["--rate", "10000"])
        .args(["--segment-bytes", &segment_bytes.to_string()])
        .arg("--work-dir")
        .arg(work.path());
    if let Some(disk) = fault_disk {
        cmd.args(["--fault", "power", "--fault-disk"]).arg(disk);
    }
    let out = cmd.output().expect("python runs");
    let text = output_text(&out);
    println!("{text}");
    assert!(out.status.success(), "crash loop failed:\n{text}");
    text
}

/// The harness with power cuts, on a fault disk mounted for this test.
fn power_loss_loop(mode: &str, cycles: u32, segment_bytes: u64) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("faultdisk");
    std::fs::create_dir(&mount).unwrap();
    let disk = FaultDisk::mount(
        &dir.path().join("disk.img"),
        FAULT_DISK_BYTES,
        &mount,
        FAULT_DISK_MAX_DIRTY_BYTES,
    )
    .expect("mounting the fault disk (needs root and /dev/fuse)");
    let text = crash_loop(mode, cycles, segment_bytes, Some(&mount));
    println!("{:?}", disk.stats());
    // Every cycle cut this disk's power, and a last cut came before the check.
    assert_eq!(
        disk.stats().cuts,
        u64::from(cycles) + 1,
        "{:?}",
        disk.stats()
    );
    text
}

#[test]
fn sigkill_loop_with_an_idempotent_producer_loses_nothing_acknowledged() {
    let text = crash_loop("idempotent", 6, 0, None);
    assert!(text.contains("\"lost\": 0"), "{text}");
}

#[test]
fn sigkill_loop_with_acks_1_and_small_segments_loses_nothing_acknowledged() {
    let text = crash_loop("acks1", 5, 1 << 20, None);
    assert!(text.contains("\"lost\": 0"), "{text}");
}

#[test]
fn power_cuts_with_an_idempotent_producer_and_small_segments_lose_nothing_acknowledged() {
    let text = power_loss_loop("idempotent", 4, 1 << 20);
    assert!(text.contains("\"lost\": 0"), "{text}");
}

#[test]
fn power_cuts_with_acks_1_leave_only_whole_records() {
    let text = power_loss_loop("acks1", 3, 0);
    assert!(text.contains("every record whole"), "{text}");
}
