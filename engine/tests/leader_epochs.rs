//! Leader epochs in the log: a leader's epoch is stamped on every batch it appends (the
//! client's is replaced), each epoch's start offset is kept in `leader-epoch-checkpoint`
//! (Kafka's format) across restarts, and the log answers where an epoch ends
//! (OffsetForLeaderEpoch) after rolls, restarts and DeleteRecords.

mod common;

use common::*;
use strata_record::batch;

/// Appends `n` one-record batches, durably; the log end after them.
async fn append(log: &strata_engine::PartitionLog, seed: u64, n: u64) -> i64 {
    for i in 0..n {
        log.append_and_wait(make_batch(seed, i, 1, 2000, i as i64), true)
            .await
            .unwrap();
    }
    log.log_end_offset()
}

#[test]
fn a_leaders_epochs_are_stamped_kept_across_restarts_and_answer_where_they_end() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let (log, _) = open(dir.path(), small_config()).await;
        // Before any epoch is set (a log of an older version), batches keep theirs.
        append(&log, 1, 5).await;
        assert!(log.leader_epochs().is_empty());
        log.set_leader_epoch(0).await.unwrap();
        let epoch3_start = append(&log, 2, 40).await;
        log.set_leader_epoch(3).await.unwrap();
        log.set_leader_epoch(3).await.unwrap();
        let end = append(&log, 3, 40).await;
        assert!(log.segment_count() > 1, "small segments rolled");
        assert_eq!(log.leader_epochs(), vec![(0, 5), (3, epoch3_start)]);
        assert_eq!(log.end_offset_for(0), (0, epoch3_start));
        assert_eq!(log.end_offset_for(2), (0, epoch3_start));
        assert_eq!(log.end_offset_for(3), (3, end));
        assert_eq!(log.end_offset_for(4), (-1, -1));
        // The batches carry the epoch they were appended in.
        for b in read_all(&log, 5, 1 << 20).await {
            let h = batch::validate(&b, usize::MAX).unwrap();
            let want = if h.base_offset < epoch3_start { 0 } else { 3 };
            assert_eq!(h.partition_leader_epoch, want, "batch at {}", h.base_offset);
        }
        log.close().await.unwrap();

        let file = dir.path().join("leader-epoch-checkpoint");
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text, format!("0\n2\n0 5\n3 {epoch3_start}\n"));
        let (log, _) = open(dir.path(), small_config()).await;
        assert_eq!(log.leader_epochs(), vec![(0, 5), (3, epoch3_start)]);
        assert_eq!(log.end_offset_for(3), (3, end));
        // Records deleted from the front take the epochs that started there with them.
        let start = log.delete_records_before(epoch3_start + 2).await.unwrap();
        assert_eq!(log.leader_epochs(), vec![(3, start)]);
        log.close().await.unwrap();

        // An epoch recorded past the log's end (its batches lost to a crash) is dropped, and a
        // file that does not read is as none.
        std::fs::write(&file, format!("0\n2\n3 {start}\n7 {}\n", end + 10)).unwrap();
        let (log, _) = open(dir.path(), small_config()).await;
        assert_eq!(log.leader_epochs(), vec![(3, start)]);
        log.close().await.unwrap();
        std::fs::write(&file, "garbage").unwrap();
        let (log, _) = open(dir.path(), small_config()).await;
        assert!(log.leader_epochs().is_empty());
        log.set_leader_epoch(5).await.unwrap();
        assert_eq!(log.leader_epochs(), vec![(5, end)]);
        log.close().await.unwrap();
    });
}

/// An idempotent producer's batch of 3 records (as `idempotence.rs` makes them).
fn idempotent(n: u64, pid: i64, seq: i32) -> bytes::BytesMut {
    let mut b = make_batch(3, n, 3, 50, 1);
    b[43..51].copy_from_slice(&pid.to_be_bytes());
    b[51..53].copy_from_slice(&0i16.to_be_bytes());
    b[53..57].copy_from_slice(&seq.to_be_bytes());
    let crc = batch::compute_crc(&b);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

/// Hands every batch of `leader` from `from` to `follower` as fetched, a few at a time.
async fn replicate(
    leader: &strata_engine::PartitionLog,
    follower: &strata_engine::PartitionLog,
    from: i64,
) {
    let batches = read_all(leader, from, 1 << 20).await;
    for chunk in batches.chunks(3) {
        let mut bytes = bytes::BytesMut::new();
        for b in chunk {
            bytes.extend_from_slice(b);
        }
        follower.append_replicated(bytes).await.unwrap();
    }
}

#[test]
fn a_follower_stores_what_its_leader_stored_and_can_lead_after_it() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run(async {
        let (leader, _) = open(a.path(), small_config()).await;
        let (follower, _) = open(b.path(), small_config()).await;
        leader.set_leader_epoch(0).await.unwrap();
        for seq in 0..20 {
            let batch = idempotent(seq as u64, 77, seq * 3);
            leader.append_and_wait(batch, true).await.unwrap();
        }
        replicate(&leader, &follower, 0).await;
        let middle = leader.log_end_offset();
        leader.set_leader_epoch(4).await.unwrap();
        append(&leader, 9, 60).await;
        replicate(&leader, &follower, middle).await;
        follower.sync().await.unwrap();
        assert!(
            follower.segment_count() > 1,
            "the follower rolled its own segments"
        );
        // Byte for byte, offsets and epochs as the leader's.
        assert_eq!(
            read_all(&follower, 0, 1 << 20).await,
            read_all(&leader, 0, 1 << 20).await
        );
        assert_eq!(follower.log_end_offset(), leader.log_end_offset());
        assert_eq!(follower.leader_epochs(), vec![(0, 0), (4, middle)]);
        // Batches that do not start at the log end are refused, and change nothing.
        let again = read_all(&leader, 0, 1 << 20).await;
        let refused = follower
            .append_replicated(bytes::BytesMut::from(&again[1][..]))
            .await;
        assert!(
            matches!(
                refused,
                Err(strata_engine::EngineError::NotContiguous { .. })
            ),
            "{refused:?}"
        );
        assert_eq!(follower.log_end_offset(), leader.log_end_offset());
        let end = follower.log_end_offset();
        follower.close().await.unwrap();

        // Restarted, then leading: its epochs and producers are the leader's.
        let (follower, _) = open(b.path(), small_config()).await;
        assert_eq!(follower.leader_epochs(), vec![(0, 0), (4, middle)]);
        follower.set_leader_epoch(5).await.unwrap();
        let retry = follower.append(idempotent(19, 77, 19 * 3)).await.unwrap();
        assert!(
            retry.duplicate,
            "a retry of the producer's last batch is known"
        );
        let next = follower.append(idempotent(20, 77, 20 * 3)).await.unwrap();
        assert_eq!(next.base_offset, end);
        assert_eq!(
            follower.leader_epochs(),
            vec![(0, 0), (4, middle), (5, end)]
        );
        assert_eq!(follower.end_offset_for(4), (4, end));
    });
}
