//! A full disk: appends fail with a clear disk-full error, nothing acknowledged is lost, the log
//! refuses further appends instead of serving what it may not hold, and after space is freed a
//! reopen recovers every acknowledged batch. Runs on a small ext4 file system of its own (a loop
//! mount: the tests run as root, as CI does).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use strata_engine::{EngineError, LogConfig};
use strata_record::batch;

struct SmallDisk {
    mount: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    fn new(mib: u64) -> SmallDisk {
        Self::with_mkfs_args(mib, &[])
    }

    /// A small disk made with extra `mkfs.ext4` arguments (`-N 32`: few inodes).
    fn with_mkfs_args(mib: u64, mkfs_args: &[&str]) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("disk.img");
        let mount = dir.path().join("mnt");
        std::fs::create_dir(&mount).unwrap();
        std::fs::File::create(&image)
            .unwrap()
            .set_len(mib << 20)
            .unwrap();
        let run = |cmd: &mut Command| {
            let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
            assert!(
                out.status.success(),
                "{cmd:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        // /usr/sbin may be missing from a non-login PATH.
        let mkfs = ["/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or("mkfs.ext4");
        run(Command::new(mkfs)
            .args(["-q", "-F"])
            .args(mkfs_args)
            .arg(&image));
        run(Command::new("mount")
            .args(["-o", "loop"])
            .arg(&image)
            .arg(&mount));
        SmallDisk { mount, _dir: dir }
    }

    fn path(&self) -> &Path {
        &self.mount
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: a test that failed half-way may still hold files open there.
        let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
    }
}

#[test]
fn a_full_disk_fails_appends_cleanly_and_loses_nothing_acknowledged() {
    let disk = SmallDisk::new(8);
    let dir = disk.path().join("log");
    // Space to give back once the disk is full, as an operator would.
    let filler = disk.path().join("filler");
    std::fs::write(&filler, vec![1u8; 1 << 20]).unwrap();
    let config = LogConfig {
        segment_bytes: 1 << 20,
        ..small_config()
    };
    let acknowledged = run(async {
        let (log, _) = open(&dir, config).await;
        let mut acknowledged = 0u64;
        let err = loop {
            match log
                .append_and_wait(make_batch(4, acknowledged, 4, 2000, 1), true)
                .await
            {
                Ok(_) => acknowledged += 1,
                Err(e) => break e,
            }
            assert!(acknowledged < 10_000, "the disk never filled");
        };
        assert!(err.is_disk_full(), "expected a disk-full error, got: {err}");
        assert!(err.to_string().contains("No space left"), "{err}");
        // The log now refuses appends rather than pretend.
        let again = log
            .append(make_batch(4, 99_999, 1, 10, 1))
            .await
            .unwrap_err();
        assert!(matches!(again, EngineError::Failed { .. }), "{again}");
        acknowledged
    });
    assert!(
        acknowledged > 100,
        "only {acknowledged} appends before the disk filled"
    );
    // Free space, reopen: every acknowledged batch is there and intact.
    std::fs::remove_file(&filler).unwrap();
    run(async {
        let (log, _) = open(&dir, config).await;
        let got = read_all(&log, 0, 1 << 20).await;
        assert!(
            got.len() as u64 >= acknowledged,
            "{} of {acknowledged} acknowledged batches",
            got.len()
        );
        for (n, b) in got.iter().enumerate() {
            assert_eq!(
                without_offset(b),
                without_offset(&make_batch(4, n as u64, 4, 2000, 1)),
                "batch {n}"
            );
            batch::validate(b, usize::MAX).unwrap();
        }
        // Retention frees space; appends work again.
        let config = LogConfig {
            retention_bytes: Some(1 << 20),
            ..config
        };
        drop(log);
        let (log, _) = open(&dir, config).await;
        log.enforce_retention(0).await.unwrap();
        log.append_and_wait(make_batch(4, 1, 1, 10, 1), true)
            .await
            .unwrap();
    });
}

#[test]
fn a_segment_roll_that_cannot_create_its_files_fails_the_append_and_heals_later() {
    // Few inodes: space for data, but a new segment's four files cannot all be made.
    let disk = SmallDisk::with_mkfs_args(8, &["-N", "32"]);
    let dir = disk.path().join("log");
    let config = LogConfig {
        segment_bytes: 64 * 1024,
        ..small_config()
    };
    let fillers = disk.path().join("fillers");
    std::fs::create_dir(&fillers).unwrap();
    run(async {
        let (log, _) = open(&dir, config).await;
        // Take every free inode but two.
        let mut made = 0;
        while std::fs::write(fillers.join(made.to_string()), b"x").is_ok() {
            made += 1;
        }
        for n in 0..2 {
            std::fs::remove_file(fillers.join((made - 1 - n).to_string())).unwrap();
        }
        let mut appended = 0u64;
        let err = loop {
            match log
                .append_and_wait(make_batch(6, appended, 2, 1000, 1), true)
                .await
            {
                Ok(_) => appended += 1,
                Err(e) => break e,
            }
            assert!(appended < 1000, "the roll never failed");
        };
        assert!(log.segment_count() == 1, "{err}");
        assert!(err.to_string().contains("create"), "{err}");
        // The operator frees inodes: the next append, small enough to fit the sealed segment,
        // still goes to a new one, which the roll now makes.
        std::fs::remove_dir_all(&fillers).unwrap();
        log.append_and_wait(make_batch(6, appended, 1, 1, 1), true)
            .await
            .unwrap();
        appended += 1;
        assert_eq!(log.segment_count(), 2);
        assert_eq!(read_all(&log, 0, 1 << 20).await.len() as u64, appended);
        println!("{appended} batches; the roll failed with: {err}");
        log.close().await.unwrap();
        let (log, report) = open(&dir, config).await;
        assert!(report.truncations.is_empty(), "{report:?}");
        assert_eq!(read_all(&log, 0, 1 << 20).await.len() as u64, appended);
    });
}
