//! A test instrument, not part of the broker: a disk that loses what was not flushed when a test
//! cuts its power. It is a FUSE file (`<mount>/disk`) backed by an image file and a volatile
//! write cache; a loop device on it carries a real file system (ext4), so the broker under test
//! runs unchanged, O_DIRECT and io_uring included, while flushes (fdatasync, the journal's
//! barriers) are what decides what survives. This kernel has no device-mapper (`flakey`,
//! `log-writes`), nbd or ublk, which would otherwise do this job.
//!
//! Must never: be linked into the broker, or claim a write durable before a flush.

mod fs;
pub mod write_cache;

use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use fuser::{BackgroundSession, Config, MountOption};

pub use write_cache::{CacheStats, WriteCache};

/// A mounted fault disk; dropping it unmounts it (after the loop device on it is detached).
pub struct FaultDisk {
    mountpoint: PathBuf,
    cache: Arc<Mutex<WriteCache>>,
    _session: BackgroundSession,
}

impl FaultDisk {
    /// Mounts a disk of `size_bytes` at `mountpoint`, durable contents in `image` (created
    /// sparse if missing, kept across mounts). The cache writes itself back past
    /// `max_dirty_bytes`.
    pub fn mount(
        image: &Path,
        size_bytes: u64,
        mountpoint: &Path,
        max_dirty_bytes: u64,
    ) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(image)?;
        let cache = Arc::new(Mutex::new(WriteCache::new(
            file,
            size_bytes,
            max_dirty_bytes,
        )));
        let mut config = Config::default();
        config.mount_options = vec![MountOption::FSName("faultdisk".into())];
        let session = fuser::spawn_mount(
            fs::FaultFs {
                cache: cache.clone(),
            },
            mountpoint,
            &config,
        )?;
        Ok(Self {
            mountpoint: mountpoint.to_path_buf(),
            cache,
            _session: session,
        })
    }

    /// The file to put a loop device on.
    pub fn disk_path(&self) -> PathBuf {
        self.mountpoint.join("disk")
    }

    /// The file that takes `cut <keep_share> <seed>` and `on`.
    pub fn control_path(&self) -> PathBuf {
        self.mountpoint.join("control")
    }

    pub fn stats(&self) -> CacheStats {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).stats()
    }
}
