//! Restarts of logs whose segments hold several blocks of index entries (an offset-index block
//! holds 512 entries, a time-index block 256): every offset reads back after every reopen, clean
//! or after a crash, and the index files on disk agree with the log.

mod common;

use common::*;
use strata_engine::LogConfig;
use strata_record::{batch, testkit};

/// Small batches and a small index interval: one index entry for every batch or two, so a few
/// thousand batches cross several index blocks without a large log.
fn dense_index_config(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        index_interval_bytes: 128,
        max_batch_bytes: 32 * 1024,
        retention_ms: None,
        ..Default::default()
    }
}

/// Appends `count` batches of stream `seed`, continuing at batch number `from`.
async fn append_stream(log: &strata_engine::PartitionLog, seed: u64, from: u64, count: u64) {
    for n in from..from + count {
        let b = testkit::batch_of(seed, n, 1 + (n % 3) as usize, 40, n as i64);
        log.append_and_wait(b, n % 50 == 0).await.expect("append");
    }
}

/// Every batch from the start is batch `n` of the stream, and every offset finds its batch.
async fn check_log(log: &strata_engine::PartitionLog, seed: u64, batches: u64, step: usize) {
    let all = read_all(log, 0, 64 * 1024).await;
    assert_eq!(all.len() as u64, batches, "batches read back from offset 0");
    for (n, b) in all.iter().enumerate() {
        let n = n as u64;
        let expect = testkit::batch_of(seed, n, 1 + (n % 3) as usize, 40, n as i64);
        assert_eq!(
            testkit::without_offset(b),
            testkit::without_offset(&expect),
            "batch {n}"
        );
    }
    for offset in (0..log.high_watermark()).step_by(step) {
        let got = log.read(offset, 1).await.expect("read");
        assert_eq!(got.batches.len(), 1, "offset {offset}: one batch");
        let h = batch::validate(&got.batches[0], usize::MAX).unwrap();
        assert!(h.base_offset <= offset && offset <= h.last_offset());
    }
}

fn index_entries(dir: &std::path::Path, ext: &str, entry_bytes: usize) -> Vec<Vec<u8>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            let bytes = std::fs::read(p).unwrap();
            let live = bytes
                .chunks_exact(entry_bytes)
                .take_while(|c| c.iter().any(|&b| b != 0))
                .count();
            bytes[..live * entry_bytes].to_vec()
        })
        .collect()
}

fn restart_cycles(segment_bytes: u64, crash: bool) {
    let dir = tempfile::tempdir().unwrap();
    let config = dense_index_config(segment_bytes);
    let seed = 7;
    let per_round = 2500u64;
    let mut appended = 0u64;
    let mut indexes_after_first_reopen = None;
    for round in 0..4 {
        run(async {
            let (log, report) = open(dir.path(), config).await;
            assert!(report.truncations.is_empty(), "round {round}: {report:?}");
            assert!(
                report.rebuilt_indexes.is_empty(),
                "round {round}: {report:?}"
            );
            check_log(&log, seed, appended, 97).await;
            append_stream(&log, seed, appended, per_round).await;
            appended += per_round;
            check_log(&log, seed, appended, 89).await;
            if crash {
                log.sync().await.unwrap();
                drop(log);
            } else {
                log.close().await.unwrap();
            }
        });
        if round == 0 {
            indexes_after_first_reopen = Some(index_entries(dir.path(), "index", 8));
        }
    }
    // Reopening without appending leaves the index files as they were.
    run(async {
        let (log, report) = open(dir.path(), config).await;
        assert!(report.rebuilt_indexes.is_empty(), "{report:?}");
        check_log(&log, seed, appended, 31).await;
        log.close().await.unwrap();
    });
    let before = index_entries(dir.path(), "index", 8);
    run(async {
        let (log, _) = open(dir.path(), config).await;
        log.close().await.unwrap();
    });
    assert_eq!(index_entries(dir.path(), "index", 8), before);
    let first = indexes_after_first_reopen.unwrap();
    assert!(
        first.iter().map(|f| f.len() / 8).max().unwrap() > 1024,
        "the test crosses several offset-index blocks"
    );
}

#[test]
fn offsets_read_back_after_clean_restarts_of_a_large_active_segment() {
    restart_cycles(1 << 30, false);
}

#[test]
fn offsets_read_back_after_crash_restarts_of_a_large_active_segment() {
    restart_cycles(1 << 30, true);
}

#[test]
fn offsets_read_back_after_restarts_with_sealed_segments() {
    restart_cycles(512 * 1024, false);
    restart_cycles(512 * 1024, true);
}

/// Damages every `.index` and `.timeindex` file as the old recovery did: the blocks after the
/// first moved to the start of the file, the first block gone.
fn drop_first_index_blocks(dir: &std::path::Path) -> usize {
    let mut damaged = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if !path
            .extension()
            .is_some_and(|e| e == "index" || e == "timeindex")
        {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        if bytes.len() > 4096 {
            std::fs::write(&path, &bytes[4096..]).unwrap();
            damaged += 1;
        }
    }
    damaged
}

#[test]
fn an_index_that_lost_its_first_blocks_is_rebuilt_on_open() {
    for segment_bytes in [1 << 30, 256 * 1024] {
        let dir = tempfile::tempdir().unwrap();
        let config = dense_index_config(segment_bytes);
        run(async {
            let (log, _) = open(dir.path(), config).await;
            append_stream(&log, 9, 0, 4000).await;
            log.close().await.unwrap();
        });
        assert!(drop_first_index_blocks(dir.path()) >= 2);
        run(async {
            let (log, report) = open(dir.path(), config).await;
            assert!(!report.rebuilt_indexes.is_empty(), "{report:?}");
            assert!(report.truncations.is_empty(), "{report:?}");
            check_log(&log, 9, 4000, 13).await;
            // Time lookups find the first batch at or after a timestamp (batch n is stamped n).
            for ts in [0i64, 1, 777, 2500, 3999] {
                let offset = log.offset_for_timestamp(ts).await.unwrap().unwrap();
                let got = log.read(offset, 1).await.unwrap();
                let h = batch::validate(&got.batches[0], usize::MAX).unwrap();
                assert_eq!(h.max_timestamp, ts, "timestamp {ts}");
            }
            log.close().await.unwrap();
        });
        // The rebuilt indexes check out: the next open trusts them.
        run(async {
            let (log, report) = open(dir.path(), config).await;
            assert!(report.rebuilt_indexes.is_empty(), "{report:?}");
            check_log(&log, 9, 4000, 101).await;
            drop(log);
        });
    }
}

#[test]
fn a_sealed_segment_whose_index_lost_its_last_blocks_is_rebuilt_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let config = dense_index_config(512 * 1024);
    run(async {
        let (log, _) = open(dir.path(), config).await;
        append_stream(&log, 3, 0, 6000).await;
        assert!(log.segment_count() > 1);
        log.close().await.unwrap();
    });
    let first = dir.path().join(format!("{:020}.index", 0));
    let bytes = std::fs::read(&first).unwrap();
    std::fs::write(&first, &bytes[..4096]).unwrap();
    run(async {
        let (log, report) = open(dir.path(), config).await;
        assert_eq!(report.rebuilt_indexes.len(), 1, "{report:?}");
        check_log(&log, 3, 6000, 7).await;
        drop(log);
    });
}

#[test]
fn a_segment_indexed_with_a_larger_interval_reads_back_after_the_interval_shrinks() {
    let dir = tempfile::tempdir().unwrap();
    let sparse = LogConfig {
        index_interval_bytes: 200_000,
        ..dense_index_config(1 << 30)
    };
    // Today's settings: entries may be up to 128 B + 256 KiB apart, so the old index is trusted,
    // but a read's first window (64 KiB) can end before the batch it looks for.
    let dense = LogConfig {
        max_batch_bytes: 256 * 1024,
        ..dense_index_config(1 << 30)
    };
    run(async {
        let (log, _) = open(dir.path(), sparse).await;
        append_stream(&log, 5, 0, 6000).await;
        log.close().await.unwrap();
    });
    run(async {
        let (log, report) = open(dir.path(), dense).await;
        assert!(report.rebuilt_indexes.is_empty(), "{report:?}");
        check_log(&log, 5, 6000, 1).await;
        drop(log);
    });
}

#[test]
fn batches_larger_than_a_lowered_max_batch_bytes_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = dense_index_config(1 << 30);
    run(async {
        let (log, _) = open(dir.path(), config).await;
        for n in 0..200u64 {
            let b = testkit::batch_of(4, n, 2, 3000, n as i64);
            log.append_and_wait(b, false).await.unwrap();
        }
        // A crash: the active segment is scanned on the next open.
        log.sync().await.unwrap();
        drop(log);
    });
    let lowered = LogConfig {
        max_batch_bytes: 1024,
        ..config
    };
    run(async {
        let (log, report) = open(dir.path(), lowered).await;
        assert!(report.truncations.is_empty(), "{report:?}");
        assert_eq!(log.log_end_offset(), 400);
        assert_eq!(read_all(&log, 0, 1).await.len(), 200);
        drop(log);
    });
}

/// Descriptors this process holds on files in `dir`, by extension.
fn open_files_in(dir: &std::path::Path) -> std::collections::BTreeMap<String, usize> {
    let mut by_ext = std::collections::BTreeMap::new();
    for e in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Ok(target) = std::fs::read_link(e.path()) else {
            continue;
        };
        if target.starts_with(dir) {
            let ext = target
                .extension()
                .map_or(String::new(), |e| e.to_string_lossy().to_string());
            *by_ext.entry(ext).or_insert(0) += 1;
        }
    }
    by_ext
}

/// Descriptors this process holds on files that were deleted.
fn open_deleted_files() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter(|t| t.to_string_lossy().ends_with(" (deleted)"))
        .count()
}

#[test]
fn sealed_segments_are_read_through_a_bounded_set_of_open_files() {
    const MAX_OPEN: usize = 3;
    let dir = tempfile::tempdir().unwrap();
    let config = dense_index_config(64 * 1024);
    // No batch cache: every read goes to the segment files.
    let caches = || strata_engine::LogCaches::new(0, MAX_OPEN);
    let settle = || strata_runtime::sleep(std::time::Duration::from_millis(5));
    run(async {
        let c = caches();
        let (log, _) = strata_engine::PartitionLog::open(dir.path(), config, &c)
            .await
            .unwrap();
        append_stream(&log, 8, 0, 3000).await;
        let segments = log.segment_count();
        assert!(segments > 2 * MAX_OPEN, "{segments} segments");
        settle().await;
        let open_now = open_files_in(dir.path());
        // The active segment's four, and at most MAX_OPEN sealed `.log` files.
        assert!(open_now["log"] <= 1 + MAX_OPEN, "{open_now:?}");
        assert_eq!(open_now.get("index"), Some(&1), "{open_now:?}");
        assert_eq!(open_now.get("timeindex"), Some(&1), "{open_now:?}");
        // Reading every segment opens the sealed ones again, never more than the bound at once.
        check_log(&log, 8, 3000, 17).await;
        settle().await;
        assert!(c.sealed_files.opens() as usize >= segments - 1 - MAX_OPEN);
        assert!(c.sealed_files.open_count() <= MAX_OPEN);
        assert!(open_files_in(dir.path())["log"] <= 1 + MAX_OPEN);
        log.close().await.unwrap();
        drop(c);

        // Reopened: checked sealed segments are closed again, and still read back.
        let c = caches();
        let (log, _) = strata_engine::PartitionLog::open(dir.path(), config, &c)
            .await
            .unwrap();
        settle().await;
        let reopened = open_files_in(dir.path());
        assert!(reopened["log"] <= 1 + MAX_OPEN, "{reopened:?}");
        assert_eq!(reopened.get("index"), Some(&1), "{reopened:?}");
        check_log(&log, 8, 3000, 17).await;
        assert!(c.sealed_files.open_count() <= MAX_OPEN);

        // Retention closes the files of the segments it deletes, so their space is freed.
        drop(log);
        drop(c);
        settle().await;
        let deleted_before = open_deleted_files();
        let retained = LogConfig {
            retention_bytes: Some(128 * 1024),
            ..config
        };
        let c = caches();
        let (log, _) = strata_engine::PartitionLog::open(dir.path(), retained, &c)
            .await
            .unwrap();
        let _ = read_all(&log, log.log_start_offset(), 64 * 1024).await;
        let report = log.enforce_retention(i64::MAX).await.unwrap();
        assert!(report.deleted_segments.len() >= segments - 4, "{report:?}");
        settle().await;
        assert_eq!(open_deleted_files(), deleted_before);
        let left = read_all(&log, log.log_start_offset(), 64 * 1024).await;
        assert!(!left.is_empty());
        drop(log);
    });
}
