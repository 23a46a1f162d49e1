//! Truncating a log's end (a follower's divergence from its leader): what goes with the cut
//! batches besides their bytes. The model test (`model.rs`) checks the bytes, with crashes at
//! each step of a truncation; here: idempotent producers' state, leader epochs, readers waiting
//! for data, and a cut into a sealed segment followed by a restart.

mod common;

use common::*;
use strata_engine::EngineError;
use strata_record::batch;

/// An idempotent producer's batch of 3 records with sequence `seq`.
fn idempotent(n: u64, pid: i64, seq: i32) -> bytes::BytesMut {
    let mut b = make_batch(5, n, 3, 400, 1);
    b[43..51].copy_from_slice(&pid.to_be_bytes());
    b[51..53].copy_from_slice(&0i16.to_be_bytes());
    b[53..57].copy_from_slice(&seq.to_be_bytes());
    let crc = batch::compute_crc(&b);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

#[test]
fn a_truncation_takes_the_cut_batches_producers_and_epochs_with_it() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let (log, _) = open(dir.path(), small_config()).await;
        log.set_leader_epoch(1).await.unwrap();
        for n in 0..100u64 {
            log.append_and_wait(idempotent(n, 42, (n * 3) as i32), false)
                .await
                .unwrap();
        }
        let epoch2_start = log.log_end_offset();
        log.set_leader_epoch(2).await.unwrap();
        for n in 100..200u64 {
            log.append_and_wait(idempotent(n, 42, (n * 3) as i32), false)
                .await
                .unwrap();
        }
        assert!(log.segment_count() >= 4, "{} segments", log.segment_count());
        let before = read_all(&log, 0, 1 << 20).await;
        assert_eq!(log.leader_epochs(), vec![(1, 0), (2, epoch2_start)]);

        // A reader waiting past the end is woken by the truncation.
        let woken = log.data_written();
        // Offset 151 lies inside batch 50 (offsets 150..=152), in a sealed segment: the whole
        // batch goes.
        let end = log.truncate_to(151).await.unwrap();
        assert_eq!(end, 150);
        woken.await;
        assert_eq!(log.log_end_offset(), 150);
        assert_eq!(log.high_watermark(), 150);
        assert_eq!(read_all(&log, 0, 1 << 20).await, before[..50]);
        assert_eq!(log.leader_epochs(), vec![(1, 0)]);
        assert!(matches!(
            log.read(151, 100).await,
            Err(EngineError::OffsetOutOfRange { .. })
        ));

        // The producer is where batch 49 left it: batch 50 is new again, 49 a duplicate, 52 a gap.
        let dup = log.append(idempotent(49, 42, 49 * 3)).await.unwrap();
        assert!(dup.duplicate);
        let gap = log.append(idempotent(52, 42, 52 * 3)).await;
        assert!(gap.is_err(), "{gap:?}");
        log.set_leader_epoch(3).await.unwrap();
        let again = log.append(idempotent(50, 42, 50 * 3)).await.unwrap();
        assert!(!again.duplicate);
        assert_eq!(again.base_offset, 150);
        for n in 51..120u64 {
            log.append(idempotent(n, 42, (n * 3) as i32)).await.unwrap();
        }
        log.sync().await.unwrap();
        let after = read_all(&log, 0, 1 << 20).await;
        assert_eq!(after.len(), 120);
        assert_eq!(log.leader_epochs(), vec![(1, 0), (3, 150)]);
        drop(log); // a crash: everything was synced

        // A restart reads the same log, producers and epochs.
        let (log, report) = open(dir.path(), small_config()).await;
        assert!(report.truncations.is_empty(), "{report:?}");
        assert_eq!(read_all(&log, 0, 1 << 20).await, after);
        assert_eq!(log.leader_epochs(), vec![(1, 0), (3, 150)]);
        let dup = log.append(idempotent(119, 42, 119 * 3)).await.unwrap();
        assert!(dup.duplicate);
        // Every offset still reads through the indexes rebuilt for the cut segment.
        for offset in (0..log.log_end_offset()).step_by(7) {
            let got = log.read(offset, 1).await.unwrap();
            let h = batch::validate(&got.batches[0], usize::MAX).unwrap();
            assert!(h.base_offset <= offset && offset <= h.last_offset());
        }
        log.close().await.unwrap();
    });
}

#[test]
fn truncating_at_or_below_the_start_empties_the_log_there() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let (log, _) = open(dir.path(), small_config()).await;
        for n in 0..60u64 {
            log.append(make_batch(7, n, 2, 900, 1)).await.unwrap();
        }
        log.delete_records_before(40).await.unwrap();
        // A follower whose leader's log starts past its own end starts again at the leader's
        // start, here 30 (below ours, 40: DeleteRecords' start must not hide what comes next).
        assert_eq!(log.truncate_to(30).await.unwrap(), 30);
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (30, 30));
        assert_eq!(log.segment_count(), 1);
        let a = log.append(make_batch(8, 0, 2, 900, 1)).await.unwrap();
        assert_eq!(a.base_offset, 30);
        log.sync().await.unwrap();
        drop(log);
        let (log, _) = open(dir.path(), small_config()).await;
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (30, 32));
        assert_eq!(read_all(&log, 30, 1 << 20).await.len(), 1);
        log.close().await.unwrap();
    });
}
