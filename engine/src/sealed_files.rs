//! The shard's open sealed-segment files: a bounded, least-recently-used set of `.log`
//! descriptors, opened on first read. A sealed segment holds no descriptor of its own, so the
//! number of partitions times segments is not capped by the open-file limit: only the active
//! segments (4 descriptors each) and this cache count against it.

use std::cell::{Cell, RefCell};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use lru::LruCache;

use crate::error::{EngineError, Result};
use strata_runtime::{DirectFile, SharedFile};

pub struct SealedFiles {
    open: RefCell<LruCache<PathBuf, SharedFile>>,
    opens: Cell<u64>,
}

impl SealedFiles {
    /// At most `max_open` descriptors (at least 1).
    pub fn new(max_open: usize) -> Self {
        let cap = NonZeroUsize::new(max_open).unwrap_or(NonZeroUsize::MIN);
        Self {
            open: RefCell::new(LruCache::new(cap)),
            opens: Cell::new(0),
        }
    }

    pub fn max_open(&self) -> usize {
        self.open.borrow().cap().get()
    }

    /// Descriptors held now.
    pub fn open_count(&self) -> usize {
        self.open.borrow().len()
    }

    /// Files opened since the start (misses), for tests and metrics.
    pub fn opens(&self) -> u64 {
        self.opens.get()
    }

    /// The open file for a sealed segment's `.log`, opening it (and closing the least recently
    /// used one past the bound) on a miss. A reader keeps its handle until it is done, so an
    /// eviction never closes a file under a read in flight.
    pub async fn get(&self, path: &Path) -> Result<SharedFile> {
        if let Some(f) = self.open.borrow_mut().get(path) {
            return Ok(f.clone());
        }
        let file = Rc::new(
            DirectFile::open(path, false)
                .await
                .map_err(|e| EngineError::io("open", path, e))?,
        );
        self.opens.set(self.opens.get() + 1);
        // Two reads that missed together both opened it: the later one's handle stays.
        self.open.borrow_mut().put(path.to_path_buf(), file.clone());
        Ok(file)
    }

    /// Keeps a file that is already open (a segment just sealed: its readers are likely near).
    pub fn keep(&self, path: &Path, file: SharedFile) {
        self.open.borrow_mut().put(path.to_path_buf(), file);
    }

    /// Closes the file of a segment being removed, so its space is freed with it.
    pub fn forget(&self, path: &Path) {
        self.open.borrow_mut().pop(path);
    }

    /// Closes every file under `dir` (a partition being deleted).
    pub fn forget_under(&self, dir: &Path) {
        let mut open = self.open.borrow_mut();
        let doomed: Vec<PathBuf> = open
            .iter()
            .filter(|(p, _)| p.starts_with(dir))
            .map(|(p, _)| p.clone())
            .collect();
        for p in doomed {
            open.pop(&p);
        }
    }
}
