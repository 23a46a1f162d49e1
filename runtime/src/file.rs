//! Files written and read with O_DIRECT through io_uring: aligned buffers, block-sized I/O.

use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use glommio::io::{DmaFile, OpenOptions};

use crate::executor::blocking;
use crate::fs::remove_file;

/// The block size of every O_DIRECT write and read. 4 KiB covers the logical block size of the
/// disks we run on (512 B or 4 KiB); a larger device block would be refused at open.
pub const BLOCK_BYTES: u64 = 4096;

pub fn align_down(v: u64) -> u64 {
    v & !(BLOCK_BYTES - 1)
}

pub fn align_up(v: u64) -> u64 {
    align_down(v + BLOCK_BYTES - 1)
}

/// A file opened for O_DIRECT reads and writes. Opened read+write always: glommio's iopoll
/// probe fails on write-only files and then disables the poll ring.
pub struct DirectFile {
    file: DmaFile,
    path: PathBuf,
}

pub type SharedFile = Rc<DirectFile>;

thread_local! {
    static PROBED_DIRS: std::cell::RefCell<std::collections::HashSet<PathBuf>> = Default::default();
}

/// glommio decides once per device whether to use its io_uring poll ring (IOPOLL), by reading the
/// first DMA file opened there. If that file is empty, the read ends at EOF without reaching the
/// device and "succeeds", so glommio picks the poll ring, and every later read on a device without
/// poll queues (virtio-blk here: queue/io_poll is 0) fails with EOPNOTSUPP. So the first DMA file
/// opened in a directory is a probe file with real data in it.
async fn probe_device(dir: &Path) -> io::Result<()> {
    if PROBED_DIRS.with(|p| p.borrow().contains(dir)) {
        return Ok(());
    }
    // One name per process and thread: shards of one process may probe the same directory.
    let thread = format!("{:?}", std::thread::current().id());
    let thread: String = thread.chars().filter(char::is_ascii_digit).collect();
    let name = format!("{PROBE_PREFIX}{}-{thread}", std::process::id());
    let probe = dir.join(name);
    let (d, p) = (dir.to_path_buf(), probe.clone());
    blocking(move || {
        remove_stale_probes(&d);
        std::fs::write(&p, vec![0u8; BLOCK_BYTES as usize])?;
        std::fs::File::open(&p)?.sync_all()
    })
    .await?;
    let opened = OpenOptions::new()
        .read(true)
        .write(true)
        .dma_open(&probe)
        .await;
    let _ = remove_file(&probe).await;
    opened
        .map_err(io::Error::from)?
        .close()
        .await
        .map_err(io::Error::from)?;
    PROBED_DIRS.with(|p| p.borrow_mut().insert(dir.to_path_buf()));
    Ok(())
}

const PROBE_PREFIX: &str = ".iopoll-probe-";

/// Probe files that an earlier process left behind when it crashed between writing and removing
/// one (seen after power cuts). Runs on the blocking-call thread.
fn remove_stale_probes(dir: &Path) {
    let mine = format!("{PROBE_PREFIX}{}-", std::process::id());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(PROBE_PREFIX) && !name.starts_with(&mine) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

impl DirectFile {
    pub async fn open(path: &Path, create: bool) -> io::Result<DirectFile> {
        if let Some(dir) = path.parent() {
            probe_device(if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            })
            .await?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .dma_open(path)
            .await
            .map_err(io::Error::from)?;
        if file.alignment() > BLOCK_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "device needs {}-byte alignment, more than {BLOCK_BYTES}",
                    file.alignment()
                ),
            ));
        }
        Ok(DirectFile {
            file,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Copies `parts` into one aligned buffer for a write, the last block padded with zeros.
    /// Done before awaiting so that callers need not keep their own buffers borrowed.
    pub fn block_buf(&self, parts: &[&[u8]]) -> BlockBuf {
        let data_len: usize = parts.iter().map(|p| p.len()).sum();
        let len = align_up(data_len as u64) as usize;
        let mut buf = self.file.alloc_dma_buffer(len);
        let bytes = buf.as_bytes_mut();
        let mut at = 0;
        for p in parts {
            bytes[at..at + p.len()].copy_from_slice(p);
            at += p.len();
        }
        bytes[at..].fill(0);
        BlockBuf(buf)
    }

    /// Writes `data` at `pos`; `pos` must be block-aligned. The last block is padded with zeros.
    pub async fn write_blocks(&self, pos: u64, data: &[u8]) -> io::Result<()> {
        let buf = self.block_buf(&[data]);
        self.write_buf(pos, buf).await
    }

    /// Writes a prepared buffer at block-aligned `pos`.
    pub async fn write_buf(&self, pos: u64, buf: BlockBuf) -> io::Result<()> {
        assert_eq!(
            pos % BLOCK_BYTES,
            0,
            "unaligned O_DIRECT write position {pos}"
        );
        let len = buf.0.len();
        let written = self
            .file
            .write_at(buf.0, pos)
            .await
            .map_err(io::Error::from)?;
        if written != len {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("short write: {written} of {len} bytes at {pos}"),
            ));
        }
        Ok(())
    }

    /// Reads up to `len` bytes from `pos` (any alignment); shorter at end of file.
    pub async fn read(&self, pos: u64, len: usize) -> io::Result<Vec<u8>> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let start = align_down(pos);
        let end = align_up(pos + len as u64);
        let got = self
            .file
            .read_at_aligned(start, (end - start) as usize)
            .await
            .map_err(io::Error::from)?;
        let skip = (pos - start) as usize;
        if got.len() <= skip {
            return Ok(Vec::new());
        }
        let take = (got.len() - skip).min(len);
        Ok(got[skip..skip + take].to_vec())
    }

    pub async fn sync(&self) -> io::Result<()> {
        self.file.fdatasync().await.map_err(io::Error::from)
    }

    pub async fn truncate(&self, len: u64) -> io::Result<()> {
        self.file.truncate(len).await.map_err(io::Error::from)
    }

    /// Allocates the file's blocks up to `len` (fallocate, mode 0: the size becomes `len` if
    /// larger; new blocks read as zeros). O_DIRECT writes inside the allocated size are
    /// overwrites that io_uring issues at once; a write that extends a file makes ext4 refuse
    /// the non-blocking attempt, and io_uring then hands it to a worker thread.
    pub async fn preallocate(&self, len: u64) -> io::Result<()> {
        self.file
            .pre_allocate(len, false)
            .await
            .map_err(io::Error::from)
    }

    pub async fn size(&self) -> io::Result<u64> {
        self.file.file_size().await.map_err(io::Error::from)
    }
}

/// An aligned buffer ready for an O_DIRECT write.
pub struct BlockBuf(glommio::io::DmaBuffer);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::{block_on, ExecutorSettings};

    #[test]
    fn write_then_read_back_any_range() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let settings = ExecutorSettings {
            io_memory_bytes: 512 << 10,
            ..Default::default()
        };
        block_on(&settings, async {
            let f = DirectFile::open(&path, true).await.unwrap();
            let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
            f.write_blocks(0, &data).await.unwrap();
            f.truncate(10_000).await.unwrap();
            let got = f.read(100, 9_000).await.unwrap();
            assert_eq!(&got[..], &data[100..9_100]);
            let tail = f.read(9_000, 5_000).await.unwrap();
            assert_eq!(&tail[..], &data[9_000..]);
        })
        .unwrap();
    }
}
