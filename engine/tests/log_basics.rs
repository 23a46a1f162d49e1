//! Appends, reads, rolls, reopen, bad input, time lookup and retention of one partition log.

mod common;

use common::*;
use strata_engine::{EngineError, FlushPolicy, LogConfig};
use strata_record::batch;

#[test]
fn appended_batches_read_back_in_order_with_assigned_offsets_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let (log, _) = open(dir.path(), small_config()).await;
        let mut appended = Vec::new();
        for n in 0..300u64 {
            let b = make_batch(
                1,
                n,
                1 + (n % 5) as usize,
                100 + (n as usize * 37) % 900,
                n as i64,
            );
            appended.push(without_offset(&b));
            let a = log.append_and_wait(b, n % 7 == 0).await.unwrap();
            assert_eq!(a.last_offset + 1, log.log_end_offset());
        }
        assert!(log.segment_count() > 1, "small segments rolled");
        let got = read_all(&log, 0, 3000).await;
        assert_eq!(got.len(), appended.len());
        let mut next = 0;
        for (g, a) in got.iter().zip(&appended) {
            assert_eq!(&without_offset(g), a);
            let h = batch::validate(g, usize::MAX).unwrap();
            assert_eq!(h.base_offset, next);
            next = h.next_offset();
        }
        let end = log.log_end_offset();
        log.close().await.unwrap();

        let (log, report) = open(dir.path(), small_config()).await;
        assert!(report.truncations.is_empty(), "{report:?}");
        assert_eq!(log.log_end_offset(), end);
        let again = read_all(&log, 0, 1 << 20).await;
        assert_eq!(again.len(), appended.len());
        for (g, a) in again.iter().zip(&appended) {
            assert_eq!(&without_offset(g), a);
        }
        // Appending after reopen continues the offsets.
        let a = log
            .append_and_wait(make_batch(1, 999, 2, 10, 5), true)
            .await
            .unwrap();
        assert_eq!(a.base_offset, end);
    });
}

#[test]
fn reads_from_disk_when_the_cache_is_cold() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let cache = strata_engine::LogCaches::new(0, 64);
        let (log, _) = strata_engine::PartitionLog::open(dir.path(), small_config(), &cache)
            .await
            .unwrap();
        for n in 0..200u64 {
            log.append_and_wait(make_batch(2, n, 3, 200, n as i64), false)
                .await
                .unwrap();
        }
        // Every offset, not only batch starts, finds the batch that holds it.
        for offset in (0..log.high_watermark()).step_by(7) {
            let got = log.read(offset, 1).await.unwrap();
            assert_eq!(got.batches.len(), 1, "one batch even with max_bytes 1");
            let h = batch::validate(&got.batches[0], usize::MAX).unwrap();
            assert!(h.base_offset <= offset && offset <= h.last_offset());
        }
        assert_eq!(read_all(&log, 0, 5000).await.len(), 200);
    });
}

#[test]
fn bad_batches_are_refused_and_leave_the_log_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let (log, _) = open(dir.path(), small_config()).await;
        log.append_and_wait(make_batch(3, 0, 2, 50, 1), true)
            .await
            .unwrap();
        let before = (log.log_end_offset(), log.size_bytes());
        let good = make_batch(3, 1, 2, 50, 1);

        let mut bad_crc = good.clone();
        let last = bad_crc.len() - 1;
        bad_crc[last] ^= 0xff;
        let mut bad_magic = good.clone();
        bad_magic[16] = 1;
        let truncated = bytes::BytesMut::from(&good[..good.len() - 3]);
        let mut absurd = good.clone();
        absurd[8..12].copy_from_slice(&i32::MAX.to_be_bytes());
        let mut zero = good.clone();
        zero[57..61].copy_from_slice(&0i32.to_be_bytes());
        let crc = batch::compute_crc(&zero);
        zero[17..21].copy_from_slice(&crc.to_be_bytes());
        // A good batch followed by a bad one: all or nothing.
        let mut mixed = good.clone();
        mixed.extend_from_slice(&bad_crc);

        for (name, b) in [
            ("crc", bad_crc),
            ("magic", bad_magic),
            ("truncated", truncated),
            ("absurd length", absurd),
            ("zero records", zero),
            ("mixed", mixed),
            ("empty", bytes::BytesMut::new()),
        ] {
            let err = log.append(b).await.expect_err(name);
            assert!(
                matches!(
                    err,
                    EngineError::InvalidBatch { .. } | EngineError::EmptyAppend
                ),
                "{name}: {err}"
            );
            assert_eq!(
                (log.log_end_offset(), log.size_bytes()),
                before,
                "{name} changed the log"
            );
        }
        log.append_and_wait(good, true).await.unwrap();
        assert_eq!(read_all(&log, 0, 1 << 20).await.len(), 2);
    });
}

#[test]
fn out_of_range_reads_are_errors_and_the_end_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let (log, _) = open(dir.path(), small_config()).await;
        log.append_and_wait(make_batch(4, 0, 3, 10, 1), false)
            .await
            .unwrap();
        assert!(log.read(3, 100).await.unwrap().batches.is_empty());
        assert!(matches!(
            log.read(4, 100).await,
            Err(EngineError::OffsetOutOfRange { .. })
        ));
        assert!(matches!(
            log.read(-1, 100).await,
            Err(EngineError::OffsetOutOfRange { .. })
        ));
    });
}

#[test]
fn timestamp_lookup_finds_the_first_batch_at_or_after() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let (log, _) = open(dir.path(), small_config()).await;
        let mut bases = Vec::new();
        for n in 0..400u64 {
            let a = log
                .append_and_wait(make_batch(5, n, 2, 300, 1000 + 10 * n as i64), false)
                .await
                .unwrap();
            bases.push(a.base_offset);
        }
        for n in [0u64, 1, 57, 200, 333, 399] {
            let ts = 1000 + 10 * n as i64;
            assert_eq!(
                log.offset_for_timestamp(ts).await.unwrap(),
                Some(bases[n as usize]),
                "ts {ts}"
            );
            assert_eq!(
                log.offset_for_timestamp(ts - 5).await.unwrap(),
                Some(bases[n as usize])
            );
        }
        assert_eq!(log.offset_for_timestamp(0).await.unwrap(), Some(0));
        assert_eq!(log.offset_for_timestamp(1_000_000).await.unwrap(), None);
    });
}

#[test]
fn retention_deletes_whole_oldest_segments_by_size_and_by_age() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let config = LogConfig {
            retention_bytes: Some(200 * 1024),
            ..small_config()
        };
        let (log, _) = open(dir.path(), config).await;
        for n in 0..600u64 {
            log.append_and_wait(make_batch(6, n, 1, 1000, n as i64), false)
                .await
                .unwrap();
        }
        let segments = log.segment_count();
        let r = log.enforce_retention(0).await.unwrap();
        assert!(!r.deleted_segments.is_empty());
        assert!(
            log.size_bytes() <= 200 * 1024 + 64 * 1024,
            "size {}",
            log.size_bytes()
        );
        assert!(log.size_bytes() >= 200 * 1024);
        assert_eq!(log.segment_count(), segments - r.deleted_segments.len());
        assert_eq!(r.log_start_offset, log.log_start_offset());
        assert!(matches!(
            log.read(0, 100).await,
            Err(EngineError::OffsetOutOfRange { .. })
        ));
        let rest = read_all(&log, log.log_start_offset(), 1 << 20).await;
        assert_eq!(
            batch::validate(&rest[0], usize::MAX).unwrap().base_offset,
            r.log_start_offset
        );
        log.close().await.unwrap();
        // Reopen: the start offset is where retention left it.
        let config = LogConfig {
            retention_ms: Some(100),
            ..small_config()
        };
        let (log, _) = open(dir.path(), config).await;
        assert_eq!(log.log_start_offset(), r.log_start_offset);
        // By age: every record has a timestamp < 600 ms since the epoch; all sealed segments go.
        let r = log.enforce_retention(10_000).await.unwrap();
        assert_eq!(log.segment_count(), 1);
        assert!(!r.deleted_segments.is_empty());
    });
}

#[test]
fn interval_flush_policies_write_without_being_asked() {
    for policy in [
        FlushPolicy::every_ms(5),
        FlushPolicy::every_bytes(10_000, 50),
    ] {
        let dir = tempfile::tempdir().unwrap();
        run(async {
            let config = LogConfig {
                flush: policy,
                ..small_config()
            };
            let (log, _) = open(dir.path(), config).await;
            let a = log.append(make_batch(7, 0, 1, 100, 1)).await.unwrap();
            assert_eq!(
                log.high_watermark(),
                0,
                "not written before the policy says"
            );
            log.wait_written(a.next_offset()).await.unwrap();
            assert_eq!(log.high_watermark(), a.next_offset());
            log.wait_durable(a.next_offset()).await.unwrap();
            assert_eq!(log.durable_offset(), a.next_offset());
        });
    }
}

#[test]
fn many_concurrent_durable_appends_share_fdatasyncs() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let (log, _) = open(dir.path(), small_config()).await;
        let tasks: Vec<_> = (0..64u64)
            .map(|n| {
                let log = log.clone();
                strata_runtime::spawn(async move {
                    log.append_and_wait(make_batch(8, n, 1, 100, 1), true).await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(log.durable_offset(), 64);
        assert!(
            log.sync_count() < 16,
            "{} fdatasyncs for 64 appends",
            log.sync_count()
        );
        assert_eq!(read_all(&log, 0, 1 << 20).await.len(), 64);
    });
}

#[test]
fn segments_roll_by_age() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let config = LogConfig {
            segment_ms: 30,
            ..small_config()
        };
        let (log, _) = open(dir.path(), config).await;
        log.append_and_wait(make_batch(9, 0, 1, 10, 1), false)
            .await
            .unwrap();
        log.append_and_wait(make_batch(9, 1, 1, 10, 1), false)
            .await
            .unwrap();
        assert_eq!(log.segment_count(), 1);
        strata_runtime::sleep(std::time::Duration::from_millis(40)).await;
        log.append_and_wait(make_batch(9, 2, 1, 10, 1), false)
            .await
            .unwrap();
        assert_eq!(log.segment_count(), 2);
        assert_eq!(read_all(&log, 0, 1 << 20).await.len(), 3);
    });
}

#[test]
fn bad_configurations_are_refused_with_the_setting_named() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let cache = strata_engine::LogCaches::new(0, 64);
        for (config, name) in [
            (
                LogConfig {
                    segment_bytes: 100,
                    ..small_config()
                },
                "segment_bytes",
            ),
            (
                LogConfig {
                    index_interval_bytes: 0,
                    ..small_config()
                },
                "index_interval_bytes",
            ),
            (
                LogConfig {
                    max_batch_bytes: 10,
                    ..small_config()
                },
                "max_batch_bytes",
            ),
        ] {
            let err = strata_engine::PartitionLog::open(dir.path(), config, &cache)
                .await
                .err()
                .expect(name);
            assert!(err.to_string().contains(name), "{err}");
        }
    });
}

#[test]
fn a_waiter_cancelled_half_way_does_not_wedge_the_log() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let (log, _) = open(dir.path(), small_config()).await;
        // Start durable appends and drop their tasks at once: they stop at their first await,
        // some of them holding the I/O token.
        for n in 0..20u64 {
            let log = log.clone();
            let task = strata_runtime::spawn(async move {
                log.append_and_wait(make_batch(10, n, 1, 100, 1), true)
                    .await
            });
            strata_runtime::yield_now().await;
            drop(task);
        }
        // The log still flushes and syncs for everyone else.
        let a = log
            .append_and_wait(make_batch(10, 99, 1, 100, 1), true)
            .await
            .unwrap();
        assert!(log.durable_offset() > a.last_offset);
    });
}

#[test]
fn appends_issued_in_order_get_offsets_in_that_order_across_rolls() {
    // Pipelined produce requests of one connection reach the log as appends issued in order;
    // those queued behind a segment roll must not overtake each other (Kafka keeps a
    // connection's requests in order, and clients without idempotence rely on it).
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let (log, _) = open(dir.path(), small_config()).await;
        // Issued over time, as requests arrive: waiters come and go while rolls hold the lock.
        let mut tasks = Vec::new();
        for n in 0..2000u64 {
            let log = log.clone();
            let b = make_batch(2, n, 3, 900, n as i64);
            tasks.push(strata_runtime::spawn(async move {
                log.append(b).await.unwrap().base_offset
            }));
            if n % 7 == 0 {
                strata_runtime::yield_now().await;
            }
        }
        let mut offsets = Vec::new();
        for t in tasks {
            offsets.push(t.await);
        }
        assert!(log.segment_count() > 5, "{} segments", log.segment_count());
        let out_of_order = offsets.windows(2).filter(|w| w[0] > w[1]).count();
        assert_eq!(out_of_order, 0, "{offsets:?}");
    });
}

#[test]
fn settings_changed_on_an_open_log_apply_to_what_comes_next_and_old_batches_still_read() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        // A cold cache, so reads go to disk and walk the index.
        let cache = strata_engine::LogCaches::new(0, 64);
        // Index entries far apart (256 KiB, several 64 KiB read windows), so a read walks on
        // from its floor entry across windows, checking the gap against the settings.
        let config = LogConfig {
            segment_bytes: 4 << 20,
            index_interval_bytes: 256 * 1024,
            ..small_config()
        };
        let (log, _) = strata_engine::PartitionLog::open(dir.path(), config, &cache)
            .await
            .unwrap();
        for n in 0..60u64 {
            log.append_and_wait(make_batch(3, n, 4, 7_000, 1_000 + n as i64), false)
                .await
                .unwrap();
        }
        // Smaller batches and a denser index from now on (a topic's configs altered).
        let altered = LogConfig {
            index_interval_bytes: 256,
            max_batch_bytes: 2 * 1024,
            log_append_time: true,
            ..config
        };
        log.set_config(altered).unwrap();
        assert_eq!(log.config(), altered);
        assert!(log
            .set_config(LogConfig {
                segment_bytes: 10,
                ..altered
            })
            .is_err());
        // Batches indexed under the old settings still read, from every offset.
        for offset in (0..log.high_watermark()).step_by(5) {
            let got = log.read(offset, 1).await.unwrap();
            let h = batch::validate(&got.batches[0], usize::MAX).unwrap();
            assert!(h.base_offset <= offset && offset <= h.last_offset());
        }
        assert!(log.append(make_batch(3, 99, 4, 7_000, 5)).await.is_err());
        let before = strata_record::clock::unix_ms();
        let a = log
            .append_and_wait(make_batch(3, 100, 2, 100, 5), false)
            .await
            .unwrap();
        let got = log.read(a.base_offset, 1).await.unwrap();
        let h = batch::validate(&got.batches[0], usize::MAX).unwrap();
        assert_eq!(
            h.attributes & batch::LOG_APPEND_TIME_FLAG,
            batch::LOG_APPEND_TIME_FLAG
        );
        assert!(h.max_timestamp >= before && a.max_timestamp == h.max_timestamp);
        assert_eq!(h.first_timestamp, 5, "records keep their own deltas");
        // A restart checks every stored batch's CRC: the stamped one, rewritten, passes, and
        // the old segments (indexed under the wider settings) still read from every offset.
        let (stamped_at, stamped) = (a.base_offset, got.batches[0].clone());
        log.close().await.unwrap();
        let (log, report) = strata_engine::PartitionLog::open(dir.path(), altered, &cache)
            .await
            .unwrap();
        assert!(report.truncations.is_empty(), "{report:?}");
        assert_eq!(&log.read(stamped_at, 1).await.unwrap().batches[0], &stamped);
        for offset in (0..stamped_at).step_by(5) {
            let got = log.read(offset, 1).await.unwrap();
            let h = batch::validate(&got.batches[0], usize::MAX).unwrap();
            assert!(h.base_offset <= offset && offset <= h.last_offset());
        }
    });
}

#[test]
fn records_deleted_below_an_offset_stay_deleted_across_retention_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let (log, _) = open(dir.path(), small_config()).await;
        for n in 0..200u64 {
            log.append_and_wait(make_batch(4, n, 2, 500, n as i64), false)
                .await
                .unwrap();
        }
        let segments = log.segment_count();
        assert!(segments > 3);
        // Offset 301 lies inside a batch (two records each) and inside a segment.
        assert_eq!(log.delete_records_before(301).await.unwrap(), 301);
        assert!(log.segment_count() < segments, "whole segments below went");
        assert!(log.read(300, 1).await.is_err());
        let got = log.read(301, 1).await.unwrap();
        let h = batch::validate(&got.batches[0], usize::MAX).unwrap();
        assert_eq!(
            h.base_offset, 300,
            "the batch holding the start is served whole"
        );
        assert_eq!(
            log.delete_records_before(10).await.unwrap(),
            301,
            "never backwards"
        );
        assert!(log
            .delete_records_before(log.high_watermark() + 1)
            .await
            .is_err());
        log.enforce_retention(0).await.unwrap();
        assert_eq!(log.log_start_offset(), 301);
        log.close().await.unwrap();
        let (log, _) = open(dir.path(), small_config()).await;
        assert_eq!(log.log_start_offset(), 301);
        assert_eq!(read_all(&log, 301, 5000).await.len(), 50);
        // Two deletions at once: the higher start is what a restart finds, whichever write ends
        // first.
        let (a, b) = futures::join!(
            log.delete_records_before(350),
            log.delete_records_before(340)
        );
        assert_eq!((a.unwrap(), b.unwrap()), (350, 350));
        log.close().await.unwrap();
        let (log, _) = open(dir.path(), small_config()).await;
        assert_eq!(log.log_start_offset(), 350);
    });
}
