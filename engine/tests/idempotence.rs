//! Idempotent producers at the log: a retried batch is not appended twice, even after a
//! reopen; gaps and old epochs are refused and change nothing.

mod common;

use bytes::BytesMut;
use common::*;
use strata_engine::EngineError;
use strata_record::batch;

fn idempotent(n: u64, pid: i64, epoch: i16, seq: i32) -> BytesMut {
    let mut b = make_batch(3, n, 3, 50, 1);
    b[43..51].copy_from_slice(&pid.to_be_bytes());
    b[51..53].copy_from_slice(&epoch.to_be_bytes());
    b[53..57].copy_from_slice(&seq.to_be_bytes());
    let crc = batch::compute_crc(&b);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

#[test]
fn retries_are_answered_with_their_first_offsets_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let (log, _) = open(dir.path(), small_config()).await;
        let a = log
            .append_and_wait(idempotent(0, 5, 0, 0), true)
            .await
            .unwrap();
        let b = log
            .append_and_wait(idempotent(1, 5, 0, 3), true)
            .await
            .unwrap();
        assert_eq!((a.base_offset, b.base_offset, a.duplicate), (0, 3, false));
        let again = log
            .append_and_wait(idempotent(0, 5, 0, 0), true)
            .await
            .unwrap();
        assert_eq!(
            (again.base_offset, again.last_offset, again.duplicate),
            (0, 2, true)
        );
        assert_eq!(log.log_end_offset(), 6, "nothing appended twice");
        assert!(matches!(
            log.append(idempotent(2, 5, 0, 9)).await,
            Err(EngineError::OutOfOrderSequence {
                expected: 6,
                got: 9,
                ..
            })
        ));
        log.append_and_wait(idempotent(2, 5, 1, 0), true)
            .await
            .unwrap();
        assert!(matches!(
            log.append(idempotent(3, 5, 0, 6)).await,
            Err(EngineError::InvalidProducerEpoch { .. })
        ));
        assert_eq!(log.log_end_offset(), 9);
        drop(log);
    });
    run(async {
        let (log, _) = open(dir.path(), small_config()).await;
        assert_eq!(log.producer_count(), 1);
        let again = log
            .append_and_wait(idempotent(2, 5, 1, 0), true)
            .await
            .unwrap();
        assert_eq!(
            (again.base_offset, again.duplicate),
            (6, true),
            "recognised after a reopen"
        );
        assert_eq!(log.log_end_offset(), 9);
        let next = log
            .append_and_wait(idempotent(3, 5, 1, 3), true)
            .await
            .unwrap();
        assert_eq!(next.base_offset, 9);
    });
}

/// Eight producers take turns, each batch numbered in its producer's sequence.
async fn append_round(
    log: &strata_engine::PartitionLog,
    round: u64,
    per_producer: i32,
) -> Vec<i64> {
    let mut last_bases = vec![0; 8];
    for k in 0..per_producer {
        for (pid, last) in last_bases.iter_mut().enumerate() {
            let seq = (round as i32 * per_producer + k) * 3;
            let a = log
                .append_and_wait(idempotent(round, 100 + pid as i64, 0, seq), k % 40 == 0)
                .await
                .unwrap();
            assert!(!a.duplicate);
            *last = a.base_offset;
        }
    }
    last_bases
}

#[test]
fn producer_state_is_rebuilt_from_a_tail_spanning_index_blocks_and_a_roll() {
    let dir = tempfile::tempdir().unwrap();
    let config = strata_engine::LogConfig {
        segment_bytes: 512 * 1024,
        index_interval_bytes: 128,
        producer_state_scan_bytes: 256 * 1024,
        ..small_config()
    };
    let per_producer = 300;
    for round in 0..4u64 {
        run(async {
            let (log, _) = open(dir.path(), config).await;
            if round > 0 {
                assert_eq!(log.producer_count(), 8, "round {round}");
            }
            let last = append_round(&log, round, per_producer).await;
            assert!(log.size_bytes() > (round + 1) * 500 * 1024);
            if round % 2 == 0 {
                log.close().await.unwrap();
            } else {
                log.sync().await.unwrap();
                drop(log);
            }
            let (log, _) = open(dir.path(), config).await;
            // Each producer's last batch, sent again, is recognised with its first offset.
            let seq = ((round as i32 + 1) * per_producer - 1) * 3;
            for (pid, base) in last.iter().enumerate() {
                let again = log
                    .append_and_wait(idempotent(round, 100 + pid as i64, 0, seq), false)
                    .await
                    .unwrap();
                assert_eq!((again.duplicate, again.base_offset), (true, *base));
            }
            log.close().await.unwrap();
        });
    }
}

#[test]
fn a_corrupt_batch_in_the_scanned_tail_fails_the_open() {
    let dir = tempfile::tempdir().unwrap();
    let config = strata_engine::LogConfig {
        index_interval_bytes: 128,
        ..small_config()
    };
    run(async {
        let (log, _) = open(dir.path(), config).await;
        for n in 0..100 {
            log.append_and_wait(idempotent(n, 7, 0, n as i32 * 3), false)
                .await
                .unwrap();
        }
        log.close().await.unwrap();
    });
    // A byte inside the 10th batch's records: before the last index entry, so recovery's scan of
    // the active segment does not see it, but the producer-state walk does.
    let path = dir.path().join(format!("{:020}.log", 0));
    let mut bytes = std::fs::read(&path).unwrap();
    let batch_len = bytes.len() / 100;
    bytes[9 * batch_len + 70] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    run(async {
        let opened = strata_engine::PartitionLog::open(
            dir.path(),
            config,
            &strata_engine::LogCaches::new(1 << 20, 64),
        )
        .await;
        match opened {
            Err(e @ EngineError::Corrupt { .. }) => {
                assert!(e.to_string().contains("producers"), "{e}");
                assert!(e.to_string().contains("00000000000000000000.log"), "{e}");
            }
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("opened with a corrupt batch in the producer-state tail"),
        }
    });
}
