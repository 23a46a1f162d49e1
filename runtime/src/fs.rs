//! Directory and file-name operations (sync, create, rename, remove), run on the executor's
//! blocking-call thread so that a slow disk never stalls a shard: io_uring has no form of most
//! of them, and an fsync of a directory can take as long as a data sync.

use std::io;
use std::path::{Path, PathBuf};

use crate::executor::blocking;

/// Makes a directory's entries (created, renamed or removed files) durable.
pub async fn sync_dir(dir: &Path) -> io::Result<()> {
    let dir = dir.to_path_buf();
    blocking(move || std::fs::File::open(&dir)?.sync_all()).await
}

pub async fn create_dir_all(dir: &Path) -> io::Result<()> {
    let dir = dir.to_path_buf();
    blocking(move || std::fs::create_dir_all(&dir)).await
}

/// Whether a removal removed something; what was already gone is not an error.
fn removed(result: io::Result<()>) -> io::Result<bool> {
    match result {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Removes a file; one that is already gone is not an error.
pub async fn remove_file(path: &Path) -> io::Result<()> {
    let path = path.to_path_buf();
    blocking(move || removed(std::fs::remove_file(&path)).map(|_| ())).await
}

/// Removes a directory and everything in it: `false` when it was not there.
pub async fn remove_dir_all(dir: &Path) -> io::Result<bool> {
    let dir = dir.to_path_buf();
    blocking(move || removed(std::fs::remove_dir_all(&dir))).await
}

/// The file names in `dir`.
pub async fn list_dir(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let dir = dir.to_path_buf();
    blocking(move || {
        std::fs::read_dir(&dir)?
            .map(|e| e.map(|e| e.path()))
            .collect()
    })
    .await
}

/// The contents of `path`, or None if there is no such file.
pub async fn read_if_exists(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let path = path.to_path_buf();
    blocking(move || match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    })
    .await
}

/// Replaces `path` with `bytes` so that a crash leaves the old contents or the new, whole: a
/// temporary file beside it, synced, renamed over it, and the directory synced. `tmp` must be
/// unique to the writer (two writers sharing one would interleave).
pub async fn write_durably(path: &Path, tmp: &Path, bytes: Vec<u8>) -> io::Result<()> {
    let (path, tmp) = (path.to_path_buf(), tmp.to_path_buf());
    blocking(move || {
        std::fs::write(&tmp, &bytes)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::File::open(dir)?.sync_all()
    })
    .await
}

/// A file system's size and the bytes an unprivileged writer may still use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskSpace {
    pub total_bytes: u64,
    pub usable_bytes: u64,
}

/// The space of the file system holding `path` (statvfs).
pub async fn space(path: &Path) -> io::Result<DiskSpace> {
    let path = path.to_path_buf();
    blocking(move || {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(path.as_os_str().as_bytes())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statvfs.
        if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let block = st.f_frsize as u64;
        Ok(DiskSpace {
            total_bytes: st.f_blocks as u64 * block,
            usable_bytes: st.f_bavail as u64 * block,
        })
    })
    .await
}

/// A file written only at its end and synced whole, such as a write-ahead log: its appends,
/// syncs and truncations run on the blocking-call thread. Appends are positional (at the
/// length this handle knows), so nothing depends on the file's cursor.
pub struct AppendFile {
    file: std::sync::Arc<std::fs::File>,
    len: u64,
}

impl AppendFile {
    /// Opens `path`, creating it empty if it is not there; the handle and what the file holds.
    pub async fn open(path: &Path) -> io::Result<(AppendFile, Vec<u8>)> {
        let path = path.to_path_buf();
        blocking(move || {
            use std::io::Read;
            let mut file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)?;
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            let len = bytes.len() as u64;
            let file = std::sync::Arc::new(file);
            Ok((AppendFile { file, len }, bytes))
        })
        .await
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes `bytes` at the end and syncs the file's data: once this returns, they survive a
    /// crash or a power cut.
    pub async fn append_synced(&mut self, bytes: Vec<u8>) -> io::Result<()> {
        let (file, at) = (self.file.clone(), self.len);
        let added = bytes.len() as u64;
        blocking(move || {
            use std::os::unix::fs::FileExt;
            file.write_all_at(&bytes, at)?;
            file.sync_data()
        })
        .await?;
        self.len += added;
        Ok(())
    }

    /// Cuts the file to `len` bytes (a torn end found when it was read back) and syncs it.
    pub async fn truncate(&mut self, len: u64) -> io::Result<()> {
        let file = self.file.clone();
        blocking(move || {
            file.set_len(len)?;
            file.sync_all()
        })
        .await?;
        self.len = len;
        Ok(())
    }
}
