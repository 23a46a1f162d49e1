//! AppendFile: appends land at the end and read back after reopening; a truncation cuts the
//! file and later appends follow it.

use strata_runtime::fs::AppendFile;
use strata_runtime::{block_on, ExecutorSettings};

#[test]
fn appends_read_back_after_reopening_and_a_truncation_cuts_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    // Small, as tests run two at a time and io_uring memory counts against `ulimit -l`.
    let settings = ExecutorSettings {
        name: "test".into(),
        io_memory_bytes: 512 << 10,
        ring_depth: 64,
        ..Default::default()
    };
    block_on(&settings, async {
        let (mut file, held) = AppendFile::open(&path).await.unwrap();
        assert!(held.is_empty() && file.is_empty());
        file.append_synced(b"first ".to_vec()).await.unwrap();
        file.append_synced(b"second".to_vec()).await.unwrap();
        drop(file);
        let (mut file, held) = AppendFile::open(&path).await.unwrap();
        assert_eq!(held, b"first second");
        assert_eq!(file.len(), 12);
        file.truncate(6).await.unwrap();
        file.append_synced(b"third".to_vec()).await.unwrap();
        drop(file);
        let (_, held) = AppendFile::open(&path).await.unwrap();
        assert_eq!(held, b"first third");
    })
    .unwrap();
}
