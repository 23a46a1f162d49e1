//! The FUSE file system: a root directory with two files. `disk` is the disk image behind the
//! write cache (put a loop device on it, and a file system on that); `control` takes commands:
//! `cut <keep_share> <seed>` cuts the power, `on` restores it. Reading `control` gives the state.

use std::ffi::OsStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner,
    OpenFlags, ReplyAttr, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyWrite,
    Request, WriteFlags,
};

use crate::write_cache::WriteCache;

const DISK: INodeNo = INodeNo(2);
const CONTROL: INodeNo = INodeNo(3);
const CONTROL_BYTES: u64 = 4096;
// Attributes never change behind the kernel's back but for the control file's contents, which
// are read with direct I/O; a short TTL keeps a remount from seeing stale ones.
const TTL: Duration = Duration::from_secs(1);

pub struct FaultFs {
    pub cache: Arc<Mutex<WriteCache>>,
}

impl FaultFs {
    fn attr(&self, ino: INodeNo) -> Option<FileAttr> {
        let (kind, perm, size) = match ino {
            INodeNo::ROOT => (FileType::Directory, 0o755, 0),
            DISK => (FileType::RegularFile, 0o600, self.lock().size_bytes()),
            CONTROL => (FileType::RegularFile, 0o600, CONTROL_BYTES),
            _ => return None,
        };
        Some(FileAttr {
            ino,
            size,
            blocks: size.div_ceil(512),
            atime: UNIX_EPOCH,
            mtime: UNIX_EPOCH,
            ctime: UNIX_EPOCH,
            crtime: UNIX_EPOCH,
            kind,
            perm,
            nlink: if kind == FileType::Directory { 2 } else { 1 },
            uid: 0,
            gid: 0,
            rdev: 0,
            flags: 0,
            blksize: 4096,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WriteCache> {
        // A panic while holding the lock already ended the test; keep serving what is there.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn control(&self, command: &[u8]) -> Result<(), Errno> {
        let text = std::str::from_utf8(command).map_err(|_| Errno::EINVAL)?;
        let words: Vec<&str> = text.split_whitespace().collect();
        let mut cache = self.lock();
        match words.as_slice() {
            ["on"] => cache.power_on(),
            ["cut", keep, seed] => {
                let keep: f64 = keep.parse().map_err(|_| Errno::EINVAL)?;
                let seed: u64 = seed.parse().map_err(|_| Errno::EINVAL)?;
                cache.cut_power(keep, seed).map_err(Errno::from)?;
            }
            _ => return Err(Errno::EINVAL),
        }
        Ok(())
    }

    fn status(&self) -> String {
        let cache = self.lock();
        let s = cache.stats();
        format!(
            "powered={} flushes={} evicted_blocks={} dropped_blocks={} kept_blocks={} cuts={}\n",
            u8::from(cache.powered()),
            s.flushes,
            s.evicted_blocks,
            s.dropped_blocks,
            s.kept_blocks,
            s.cuts
        )
    }
}

impl Filesystem for FaultFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let ino = match (parent, name.to_str()) {
            (INodeNo::ROOT, Some("disk")) => DISK,
            (INodeNo::ROOT, Some("control")) => CONTROL,
            _ => return reply.error(Errno::ENOENT),
        };
        match self.attr(ino) {
            Some(attr) => reply.entry(&TTL, &attr, Generation(0)),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.attr(ino) {
            Some(attr) => reply.attr(&TTL, &attr),
            None => reply.error(Errno::ENOENT),
        }
    }

    // Truncation (an `open(..., "w")` of the control file) changes nothing: sizes are fixed.
    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        _size: Option<u64>,
        _atime: Option<fuser::TimeOrNow>,
        _mtime: Option<fuser::TimeOrNow>,
        _ctime: Option<std::time::SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<std::time::SystemTime>,
        _chgtime: Option<std::time::SystemTime>,
        _bkuptime: Option<std::time::SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        match self.attr(ino) {
            Some(attr) => reply.attr(&TTL, &attr),
            None => reply.error(Errno::ENOENT),
        }
    }

    // Direct I/O: no page cache between the loop device and the write cache, so what the
    // kernel writes reaches the model at once and a cut loses exactly the model's dirty blocks.
    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match ino {
            DISK | CONTROL => reply.opened(FileHandle(0), FopenFlags::FOPEN_DIRECT_IO),
            _ => reply.error(Errno::EISDIR),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match ino {
            DISK => match self.lock().read(offset, size as usize) {
                Ok(data) => reply.data(&data),
                Err(e) => reply.error(Errno::from(e)),
            },
            CONTROL => {
                let status = self.status();
                let bytes = status.as_bytes();
                let from = (offset as usize).min(bytes.len());
                reply.data(&bytes[from..(from + size as usize).min(bytes.len())]);
            }
            _ => reply.error(Errno::ENOENT),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let result = match ino {
            DISK => self.lock().write(offset, data).map_err(Errno::from),
            CONTROL => self.control(data).map(|()| data.len()),
            _ => Err(Errno::ENOENT),
        };
        match result {
            Ok(n) => reply.written(n as u32),
            Err(e) => reply.error(e),
        }
    }

    // close(2) is not a durability point; only fsync is.
    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        if ino != DISK {
            return reply.ok();
        }
        match self.lock().flush() {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(Errno::from(e)),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        if ino != INodeNo::ROOT {
            return reply.error(Errno::ENOTDIR);
        }
        let entries = [
            (INodeNo::ROOT, FileType::Directory, "."),
            (INodeNo::ROOT, FileType::Directory, ".."),
            (DISK, FileType::RegularFile, "disk"),
            (CONTROL, FileType::RegularFile, "control"),
        ];
        for (i, (ino, kind, name)) in entries.iter().enumerate().skip(offset as usize) {
            if reply.add(*ino, (i + 1) as u64, *kind, name) {
                break;
            }
        }
        reply.ok();
    }
}
