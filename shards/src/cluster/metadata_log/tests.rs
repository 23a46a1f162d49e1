use strata_controller::MetadataRecord;

use super::*;
use crate::test_executor::run;

fn topic(name: &str) -> MetadataBatch {
    MetadataBatch::new(vec![MetadataRecord::Topic {
        name: name.into(),
        topic_id: format!("{name}-id"),
    }])
}

#[test]
fn a_node_alone_commits_at_once_and_keeps_its_entries_across_restarts_and_a_torn_end() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().join("__cluster_metadata");
    run(async {
        let mut log = MetadataLog::open(&dir, 0, &[0]).await.unwrap();
        assert!(log.replica_mut().is_leader());
        let first = log.propose_alone(&topic("a")).await.unwrap();
        let second = log.propose_alone(&topic("b")).await.unwrap();
        assert_eq!(second, first + 1);
        drop(log);

        let mut log = MetadataLog::open(&dir, 0, &[0]).await.unwrap();
        let names: Vec<&String> = log.image().topic_ids.keys().collect();
        assert_eq!(names, ["a", "b"]);
        log.propose_alone(&topic("c")).await.unwrap();
        drop(log);

        // A crash in the middle of an append leaves part of a record at the end.
        let path = dir.join("log");
        let mut bytes = std::fs::read(&path).unwrap();
        let whole = bytes.len();
        bytes.extend_from_slice(&[0, 0, 0, 40, 1, 2, 3]);
        std::fs::write(&path, &bytes).unwrap();
        let log = MetadataLog::open(&dir, 0, &[0]).await.unwrap();
        assert_eq!(log.image().topic_ids.len(), 3);
        drop(log);
        let after = std::fs::read(&path).unwrap();
        assert!(
            !after[whole..].starts_with(&[0, 0, 0, 40, 1, 2, 3]),
            "the torn end was cut"
        );
        let recovered = wal_format::recover(&after).unwrap();
        assert_eq!(
            recovered.valid_len,
            after.len(),
            "the file ends with whole records"
        );
    });
}

#[test]
fn damage_in_the_middle_of_the_log_stops_the_open_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().join("__cluster_metadata");
    run(async {
        let mut log = MetadataLog::open(&dir, 0, &[0]).await.unwrap();
        for name in ["a", "b", "c"] {
            log.propose_alone(&topic(name)).await.unwrap();
        }
    });
    let path = dir.join("log");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[20] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let err = run(async { MetadataLog::open(&dir, 0, &[0]).await.err() }).expect("refused");
    let text = err.to_string();
    assert!(text.contains("log") && text.contains("damaged"), "{text}");
}

#[test]
fn snapshots_cut_the_log_and_a_restart_reads_the_snapshot_then_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().join("__cluster_metadata");
    run(async {
        let mut log = MetadataLog::open(&dir, 0, &[0]).await.unwrap();
        for i in 0..10 {
            log.propose_alone(&topic(&format!("t{i}"))).await.unwrap();
            log.compact_if_due(4).await.unwrap();
        }
        assert!(dir.join("snapshot").exists());
        // At most the entries since the last snapshot stay in the log's file.
        let recovered = wal_format::recover(&std::fs::read(dir.join("log")).unwrap()).unwrap();
        assert!(recovered.entries.len() <= 5, "{}", recovered.entries.len());
        let before = log.image().clone();
        drop(log);
        let mut log = MetadataLog::open(&dir, 0, &[0]).await.unwrap();
        assert_eq!(log.image().topic_ids, before.topic_ids);
        log.propose_alone(&topic("t10")).await.unwrap();
        drop(log);
        let log = MetadataLog::open(&dir, 0, &[0]).await.unwrap();
        assert_eq!(log.image().topic_ids.len(), 11);
        drop(log);
        // A damaged snapshot stops the open, naming the file.
        let path = dir.join("snapshot");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[6] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        let refused = MetadataLog::open(&dir, 0, &[0])
            .await
            .err()
            .expect("refused");
        assert!(refused.to_string().contains("snapshot"), "{refused}");
    });
}
