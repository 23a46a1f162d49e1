//! Torn and corrupt tails, and corrupt or missing indexes: recovery keeps every batch before the
//! damage, drops the rest with a report, and serves nothing that fails its checks.

mod common;

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use common::*;
use strata_engine::{tail_slots, EngineError, LogConfig};
use strata_record::{batch, testkit};

const BATCHES: u64 = 40;

fn seg_file(dir: &Path, base: i64, ext: &str) -> PathBuf {
    dir.join(format!("{base:020}.{ext}"))
}

/// The batches of these tests: sample batches, but the last of the reference log is small, so
/// that cutting or flipping each of its bytes stays quick.
fn sample(n: u64) -> bytes::BytesMut {
    if n == BATCHES - 1 {
        testkit::batch_of(11, n, 3, 40, 1)
    } else {
        testkit::sample_batch(11, n)
    }
}

/// Equal but for the fields the leader sets: base offset and partition leader epoch.
fn same_batch(stored: &[u8], sent: &[u8]) -> bool {
    let mask = |b: &[u8]| {
        let mut v = testkit::without_offset(b);
        v[12..16].fill(0);
        v
    };
    mask(stored) == mask(sent)
}

fn copy_dir(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.path().join(p.file_name().unwrap())).unwrap();
    }
    to
}

/// A closed log of `BATCHES` sample batches in one segment; returns its dir and batch sizes.
fn reference_log() -> (tempfile::TempDir, Vec<usize>) {
    let dir = tempfile::tempdir().unwrap();
    let sizes = run(async {
        let (log, _) = open(dir.path(), small_config_big_segments()).await;
        let mut sizes = Vec::new();
        for n in 0..BATCHES {
            let b = sample(n);
            sizes.push(b.len());
            log.append_and_wait(b, false).await.unwrap();
        }
        log.close().await.unwrap();
        sizes
    });
    (dir, sizes)
}

fn small_config_big_segments() -> LogConfig {
    LogConfig {
        segment_bytes: 4 << 20,
        ..small_config()
    }
}

/// Opens the log in `dir` and checks that it holds exactly the first `expect` sample batches.
fn check_holds(dir: &Path, expect: u64) -> strata_engine::RecoveryReport {
    run(async {
        let (log, report) = open(dir, small_config_big_segments()).await;
        let got = read_all(&log, 0, 1 << 20).await;
        assert_eq!(got.len() as u64, expect, "{report:?}");
        for (n, b) in got.iter().enumerate() {
            assert!(same_batch(b, &sample(n as u64)), "batch {n} differs");
        }
        // The log takes appends again after recovery, at the right offset.
        let end = log.log_end_offset();
        let a = log.append_and_wait(sample(999), true).await.unwrap();
        assert_eq!(a.base_offset, end);
        report
    })
}

#[test]
fn a_tail_cut_at_every_byte_of_the_last_batch_keeps_everything_before_it() {
    let (reference, sizes) = reference_log();
    let total: usize = sizes.iter().sum();
    let last_start = total - sizes[sizes.len() - 1];
    for cut in last_start..total {
        let dir = copy_dir(reference.path());
        OpenOptions::new()
            .write(true)
            .open(seg_file(dir.path(), 0, "log"))
            .unwrap()
            .set_len(cut as u64)
            .unwrap();
        let report = check_holds(dir.path(), BATCHES - 1);
        if cut > last_start {
            assert_eq!(report.truncations.len(), 1, "cut at {cut}: {report:?}");
            assert_eq!(report.truncations[0].position, last_start as u64);
        }
    }
}

#[test]
fn a_flipped_byte_anywhere_in_the_last_batch_drops_only_that_batch() {
    let (reference, sizes) = reference_log();
    let total: usize = sizes.iter().sum();
    let last_start = total - sizes[sizes.len() - 1];
    for at in last_start..total {
        let dir = copy_dir(reference.path());
        let path = seg_file(dir.path(), 0, "log");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[at] ^= 0x5a;
        std::fs::write(&path, &bytes).unwrap();
        // The partition leader epoch (bytes 12..16) is outside the CRC in Kafka's format: a flip
        // there is not detectable, and the batch is kept.
        let rel = at - last_start;
        let expect = if (12..16).contains(&rel) {
            BATCHES
        } else {
            BATCHES - 1
        };
        let report = check_holds(dir.path(), expect);
        if expect < BATCHES {
            assert_eq!(report.truncations.len(), 1, "flip at {at}");
        }
    }
}

/// Appends and syncs `durable_batches`, then appends and writes (without sync) `more` batches,
/// then stops as a crash would: no close. Returns the durable byte size.
fn crash_after_unsynced_writes(dir: &Path, durable_batches: u64, more: u64) -> u64 {
    run(async {
        let (log, _) = open(dir, small_config_big_segments()).await;
        let mut durable_bytes = 0;
        for n in 0..durable_batches {
            let b = sample(n);
            durable_bytes += b.len() as u64;
            log.append(b).await.unwrap();
        }
        log.sync().await.unwrap();
        for n in durable_batches..durable_batches + more {
            log.append_and_wait(sample(n), false).await.unwrap();
        }
        durable_bytes
    })
}

fn garble(path: &Path, from: u64, len: u64, seed: u64) {
    let mut f = OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(from)).unwrap();
    let junk: Vec<u8> = (0..len)
        .map(|i| testkit::splitmix(seed ^ i) as u8)
        .collect();
    f.write_all(&junk).unwrap();
}

/// What a crash may tear of the writes after the durable end `durable_bytes`: every tail slot
/// but those whose image `kept` says is the durable one, and the `.log` from the durable end's
/// block on. `seeds`: the junk's seeds, the slots' (plus the slot number) and the log's.
fn tear_after_durable(
    dir: &Path,
    durable_bytes: u64,
    kept: impl Fn(&tail_slots::SlotImage) -> bool,
    seeds: (u64, u64),
) {
    let tail = seg_file(dir, 0, "tail");
    let slot_bytes = tail_slots::SLOT_BYTES as usize;
    let mut image = std::fs::read(&tail).unwrap();
    image.resize((tail_slots::SLOTS * tail_slots::SLOT_BYTES) as usize, 0);
    for slot in 0..tail_slots::SLOTS {
        let at = slot as usize * slot_bytes;
        let holds_durable = tail_slots::decode(&image[at..at + slot_bytes], 0)
            .first()
            .is_some_and(&kept);
        if !holds_durable {
            garble(
                &tail,
                slot * tail_slots::SLOT_BYTES,
                tail_slots::SLOT_BYTES,
                seeds.0 + slot,
            );
        }
    }
    let log_path = seg_file(dir, 0, "log");
    let log_len = std::fs::metadata(&log_path).unwrap().len();
    let block = durable_bytes / 4096 * 4096;
    if log_len > block {
        garble(&log_path, block, log_len - block, seeds.1);
    }
}

#[test]
fn a_torn_write_after_the_last_sync_never_loses_durable_batches() {
    // The durable end lands at many different places within a block.
    for durable_batches in [1u64, 2, 3, 5, 8, 13] {
        let dir = tempfile::tempdir().unwrap();
        let durable_bytes = crash_after_unsynced_writes(dir.path(), durable_batches, 6);
        // Everything written after the sync may be torn: every tail slot but the one holding
        // the synced image (the oldest: each flush after the sync wrote one of the others), and
        // every block of the .log from the durable end's block on.
        let tail = seg_file(dir.path(), 0, "tail");
        let images = tail_slots::decode(&std::fs::read(&tail).unwrap(), 0);
        assert_eq!(
            images.len(),
            tail_slots::SLOTS as usize,
            "every slot holds an image"
        );
        let synced_seq = images[0].seq;
        tear_after_durable(
            dir.path(),
            durable_bytes,
            |i| i.seq == synced_seq,
            (durable_batches, durable_batches + 1),
        );
        let report = check_holds_at_least(dir.path(), durable_batches);
        println!("durable {durable_batches}: {report:?}");
    }
}

#[test]
fn the_torn_write_test_can_fail_losing_every_image_loses_data() {
    let dir = tempfile::tempdir().unwrap();
    let durable_bytes = crash_after_unsynced_writes(dir.path(), 3, 6);
    assert!(!durable_bytes.is_multiple_of(4096));
    // Every slot torn, the synced one too.
    tear_after_durable(dir.path(), durable_bytes, |_| false, (7, 8));
    run(async {
        let (log, _) = open(dir.path(), small_config_big_segments()).await;
        assert!(
            read_all(&log, 0, 1 << 20).await.len() < 3,
            "without the guard the durable tail is lost"
        );
    });
}

/// Opens the log and checks it holds at least the first `min` sample batches, all intact.
fn check_holds_at_least(dir: &Path, min: u64) -> strata_engine::RecoveryReport {
    run(async {
        let (log, report) = open(dir, small_config_big_segments()).await;
        let got = read_all(&log, 0, 1 << 20).await;
        assert!(
            got.len() as u64 >= min,
            "only {} of {min} durable batches survived: {report:?}",
            got.len()
        );
        for (n, b) in got.iter().enumerate() {
            assert!(same_batch(b, &sample(n as u64)), "batch {n} differs");
        }
        report
    })
}

#[test]
fn a_corrupt_byte_in_a_sealed_segment_is_reported_with_file_and_position() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let (log, _) = open(dir.path(), small_config()).await;
        for n in 0..100 {
            log.append_and_wait(testkit::sample_batch(12, n), false)
                .await
                .unwrap();
        }
        assert!(log.segment_count() >= 3);
        log.close().await.unwrap();
    });
    let first = seg_file(dir.path(), 0, "log");
    let len = std::fs::metadata(&first).unwrap().len();
    garble(&first, len / 2, 1, 3);
    // The producer-state walk on open covers only the last segment here; a corrupt batch within
    // its span fails the open instead (tests/idempotence.rs).
    let config = strata_engine::LogConfig {
        producer_state_scan_bytes: 64 * 1024,
        ..small_config()
    };
    run(async {
        let cache = strata_engine::LogCaches::new(0, 64);
        let (log, report) = strata_engine::PartitionLog::open(dir.path(), config, &cache)
            .await
            .unwrap();
        assert!(
            report.truncations.is_empty(),
            "sealed segments are not scanned on open"
        );
        let mut offset = 0;
        let err = loop {
            match log.read(offset, 1 << 20).await {
                Ok(got) => {
                    let last = got.batches.last().expect("a batch before the corrupt one");
                    offset = batch::parse_header(last, usize::MAX).unwrap().next_offset();
                }
                Err(e) => break e,
            }
        };
        match &err {
            EngineError::Corrupt { path, position, .. } => {
                assert_eq!(path, &first);
                assert!(*position <= len / 2, "position {position}");
            }
            other => panic!("expected a corrupt-data error, got {other}"),
        }
        assert!(
            err.to_string().contains("00000000000000000000.log"),
            "{err}"
        );
    });
}

#[test]
fn missing_or_garbled_indexes_are_rebuilt_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let (log, _) = open(dir.path(), small_config()).await;
        for n in 0..100 {
            log.append_and_wait(testkit::sample_batch(13, n), false)
                .await
                .unwrap();
        }
        log.close().await.unwrap();
    });
    std::fs::remove_file(seg_file(dir.path(), 0, "index")).unwrap();
    let idx = seg_file(dir.path(), 0, "timeindex");
    let len = std::fs::metadata(&idx).unwrap().len();
    garble(&idx, 0, len.min(64), 4);
    run(async {
        let cache = strata_engine::LogCaches::new(0, 64);
        let (log, report) = strata_engine::PartitionLog::open(dir.path(), small_config(), &cache)
            .await
            .unwrap();
        assert!(!report.rebuilt_indexes.is_empty(), "{report:?}");
        let got = read_all(&log, 0, 1 << 20).await;
        assert_eq!(got.len(), 100);
        for offset in (0..log.high_watermark()).step_by(13) {
            let b = &log.read(offset, 1).await.unwrap().batches[0];
            let h = batch::parse_header(b, usize::MAX).unwrap();
            assert!(h.base_offset <= offset && offset <= h.last_offset());
        }
    });
}

#[test]
fn flushes_while_a_sync_runs_never_tear_the_image_it_makes_durable() {
    let mut overlapped = 0;
    for round in 0..20u64 {
        let dir = tempfile::tempdir().unwrap();
        // A sync of a few batches, and flushes of more started while it runs.
        let (durable, sync_ran_alone) = run(async {
            let (log, _) = open(dir.path(), small_config_big_segments()).await;
            let log = std::rc::Rc::new(log);
            for n in 0..3 + round % 5 {
                log.append(sample(n)).await.unwrap();
            }
            let synced = std::rc::Rc::new(std::cell::Cell::new(false));
            let sync = {
                let (log, synced) = (log.clone(), synced.clone());
                strata_runtime::spawn(async move {
                    log.sync().await.unwrap();
                    synced.set(true);
                })
            };
            let mut alone = true;
            for n in 3 + round % 5..3 + round % 5 + 6 {
                log.append_and_wait(sample(n), false).await.unwrap();
                // Written before the sync ended: the flush ran beside the fdatasync.
                if !synced.get() {
                    alone = false;
                }
            }
            sync.await;
            (log.durable_offset(), alone)
        });
        if !sync_ran_alone {
            overlapped += 1;
        }
        // What the sync made durable, in batches and bytes.
        let (mut batches, mut bytes, mut offset) = (0u64, 0u64, 0i64);
        loop {
            let b = sample(batches);
            let h = batch::validate(&b, usize::MAX).unwrap();
            if offset + i64::from(h.records_count) > durable {
                break;
            }
            offset += i64::from(h.records_count);
            bytes += b.len() as u64;
            batches += 1;
        }
        assert_eq!(offset, durable, "the durable end is a batch boundary");
        // A crash tears everything written after the sync began: every slot but the one
        // holding the image of the durable end, and the .log from the durable end's block.
        let block = bytes / 4096 * 4096;
        tear_after_durable(
            dir.path(),
            bytes,
            |i| i.block_position == block && i.data.len() as u64 == bytes - block,
            (round, round + 100),
        );
        check_holds_at_least(dir.path(), batches);
    }
    // The case this test is for happened: flushes completed while the sync ran (before the
    // fourth slot, they waited for it).
    assert!(overlapped > 0, "no flush ran beside a sync in 20 rounds");
    println!("{overlapped} of 20 rounds flushed beside a running sync");
}
