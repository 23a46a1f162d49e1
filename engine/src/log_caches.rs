//! What the partition logs of one shard share: the batch cache and the open sealed-segment
//! files. One per shard (thread); cloning shares it.

use std::rc::Rc;

use crate::cache::BatchCache;
use crate::sealed_files::SealedFiles;

#[derive(Clone)]
pub struct LogCaches {
    pub batches: Rc<BatchCache>,
    pub sealed_files: Rc<SealedFiles>,
}

impl LogCaches {
    pub fn new(batch_cache_bytes: usize, max_open_sealed_files: usize) -> Self {
        Self {
            batches: Rc::new(BatchCache::new(batch_cache_bytes)),
            sealed_files: Rc::new(SealedFiles::new(max_open_sealed_files)),
        }
    }
}
