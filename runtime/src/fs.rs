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
