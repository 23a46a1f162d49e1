//! The fault checker (`faultcheck/`, issue 15), run on the broker under test: its checks
//! against handmade histories; a short seeded schedule of kills, pauses and network partitions
//! of three brokers in their own network namespaces, under which no acknowledged record may be
//! lost; and the same checker run on brokers whose high watermark ignores their followers
//! (`testing_unsafe_high_watermark`), where it must report lost records: it can fail.
//!
//! Needs root (network namespaces, iptables), as CI has. The seed is printed; set
//! FAULTCHECK_SEED to replay one.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../faultcheck")
}

fn out_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/faultcheck")
}

fn require_root() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "the fault checker needs root (network namespaces, iptables); run the tests as root"
    );
    for tool in ["ip", "iptables"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(found, "{tool} is missing (scripts/test.sh installs it)");
    }
}

/// Runs faultcheck.py with `args`; its exit status and output.
fn faultcheck(args: &[&str]) -> (bool, String) {
    let seed = std::env::var("FAULTCHECK_SEED")
        .unwrap_or_else(|_| (std::process::id() as u64 * 7919 % 100_000).to_string());
    let out = Command::new(python())
        .current_dir(dir())
        .arg("faultcheck.py")
        .args(["--strata", env!("CARGO_BIN_EXE_strata"), "--seed", &seed])
        .arg("--out")
        .arg(out_dir())
        .args(args)
        .output()
        .expect("python runs");
    let text = output_text(&out);
    println!("{text}");
    (out.status.success(), text)
}

#[test]
fn the_checks_find_every_kind_of_broken_promise_in_handmade_histories() {
    let out = Command::new(python())
        .current_dir(dir())
        .args(["-m", "unittest", "-v", "test_checks"])
        .output()
        .expect("python runs");
    assert!(out.status.success(), "{}", output_text(&out));
}

/// One after the other: each run has three brokers and three clients on the machine's two
/// cores.
#[test]
fn kills_pauses_and_partitions_lose_no_record_and_an_unsafe_high_watermark_is_caught() {
    require_root();
    let (ok, text) = faultcheck(&["--schedule", "short"]);
    assert!(ok, "the fault checker found problems:\n{text}");
    assert!(text.contains("\"problems\": {}"), "{text}");

    // The checker can fail: leaders that acknowledge on their own write, then lose their
    // place to a partition, lose acknowledged records, and it says so.
    let (ok, text) = faultcheck(&[
        "--schedule",
        "short",
        "--faults",
        "isolate-leader",
        "--unsafe-high-watermark",
        "--expect-loss",
    ]);
    assert!(ok, "the checker did not report lost records:\n{text}");
    assert!(text.contains("\"lost\""), "{text}");
}
