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
