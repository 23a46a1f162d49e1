//! Idempotent producers at the log: a retried batch is not appended twice, even after a
//! reopen; gaps and old epochs are refused and change nothing.

mod common;

use bytes::BytesMut;
use common::*;
use strata_engine::{batch, EngineError};

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
