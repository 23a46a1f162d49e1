//! A full disk: appends fail with a clear disk-full error, nothing acknowledged is lost, the log
//! refuses further appends instead of serving what it may not hold, and after space is freed a
//! reopen recovers every acknowledged batch. Runs on a small ext4 file system of its own (a loop
//! mount: the tests run as root, as CI does).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use strata_engine::{batch, EngineError, LogConfig};

struct SmallDisk {
    mount: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    fn new(mib: u64) -> SmallDisk {
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
        run(Command::new(mkfs).args(["-q", "-F"]).arg(&image));
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
        let (log, _) = open(&dir, config.clone()).await;
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
        let (log, _) = open(&dir, config.clone()).await;
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
