//! Preallocated segment files: the active `.log` is allocated ahead of its writes in steps of
//! `preallocate_bytes`, and neither a crash nor a clean close lets the allocated, never written
//! rest pass for damage or data.

mod common;

use std::path::Path;

use common::*;
use strata_engine::LogConfig;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 1 << 20,
        preallocate_bytes: 64 << 10,
        ..small_config()
    }
}

fn log_size(dir: &Path, base: i64) -> u64 {
    std::fs::metadata(dir.join(format!("{base:020}.log")))
        .unwrap()
        .len()
}

/// Appends `batches` batches of about 3 KiB, each made durable (as acks=all would).
async fn append_durably(log: &strata_engine::PartitionLog, from: u64, batches: u64) -> u64 {
    let mut bytes = 0;
    for n in from..from + batches {
        let b = make_batch(7, n, 3, 1000, 1_000 + n as i64);
        bytes += b.len() as u64;
        log.append_and_wait(b, true).await.unwrap();
    }
    bytes
}

#[test]
fn crashes_with_a_preallocated_active_segment_keep_every_batch_and_report_no_damage() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let (log, _) = open(dir.path(), config()).await;
        // ~300 KiB: several preallocation steps, in the first segment.
        let written = append_durably(&log, 0, 100).await;
        let size = log_size(dir.path(), 0);
        assert!(
            size > strata_runtime::align_down(written) && size.is_multiple_of(64 << 10),
            "the .log is allocated ahead: {size} bytes for {written} written"
        );
        let end = log.log_end_offset();
        drop(log); // a crash: no seal, no cut

        let (log, report) = open(dir.path(), config()).await;
        assert!(report.truncations.is_empty(), "{report:?}");
        assert!(report.rebuilt_indexes.is_empty(), "{report:?}");
        assert_eq!(log.log_end_offset(), end);
        assert_eq!(read_all(&log, 0, 64 << 20).await.len() as u64, 100);
        // Recovery left the .log holding its whole blocks only, as before preallocation.
        assert_eq!(log_size(dir.path(), 0), strata_runtime::align_down(written));

        // On past the segment's size (a roll), crash again mid-way through the next segment.
        let more = append_durably(&log, 100, 400).await;
        assert!(more > 1 << 20);
        let end = log.log_end_offset();
        drop(log);
        let (log, report) = open(dir.path(), config()).await;
        assert!(report.truncations.is_empty(), "{report:?}");
        assert_eq!(log.log_end_offset(), end);
        let all = read_all(&log, 0, 64 << 20).await;
        assert_eq!(all.len() as u64, 500);
        for (n, b) in all.iter().enumerate() {
            let sent = make_batch(7, n as u64, 3, 1000, 1_000 + n as i64);
            assert_eq!(
                strata_record::testkit::without_offset(b),
                strata_record::testkit::without_offset(&sent),
                "batch {n}"
            );
        }
        // A clean close seals: the sealed segments hold exactly their batches.
        log.close().await.unwrap();
    });
    let mut sizes = 0;
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "log") {
            sizes += std::fs::metadata(&p).unwrap().len();
        }
    }
    let expected: u64 = (0..500)
        .map(|n| make_batch(7, n, 3, 1000, 1_000 + n as i64).len() as u64)
        .sum();
    assert_eq!(
        sizes, expected,
        "sealed .log files are cut to their batches"
    );
}

#[test]
fn without_preallocation_the_log_file_grows_with_its_writes() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let config = LogConfig {
            preallocate_bytes: 0,
            ..config()
        };
        let (log, _) = open(dir.path(), config).await;
        let written = append_durably(&log, 0, 20).await;
        assert_eq!(log_size(dir.path(), 0), strata_runtime::align_down(written));
    });
}
