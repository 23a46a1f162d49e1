//! Producer ids for idempotent producers, unique across shards and restarts: each shard hands
//! out ids from blocks it reserves by persisting the next block number first
//! (`.producer-ids.shard<N>`, written atomically), and the shard number is part of every id.

use std::cell::Cell;
use std::path::{Path, PathBuf};

use crate::error::BrokerError;

const IDS_PER_BLOCK: u64 = 1000;
/// Shard numbers take the low bits of an id.
const SHARD_BITS: u32 = 10;

pub struct ProducerIds {
    path: PathBuf,
    shard: u64,
    next: Cell<u64>,
    block_end: Cell<u64>,
}

impl ProducerIds {
    pub fn new(data_dir: &Path, shard: usize) -> Self {
        ProducerIds {
            path: data_dir.join(format!(".producer-ids.shard{shard}")),
            shard: shard as u64,
            next: Cell::new(0),
            block_end: Cell::new(0),
        }
    }

    /// A producer id never handed out before by this broker.
    pub fn allocate(&self) -> Result<i64, BrokerError> {
        if self.next.get() >= self.block_end.get() {
            let block = match std::fs::read_to_string(&self.path) {
                Ok(s) => s
                    .trim()
                    .parse::<u64>()
                    .map_err(|e| BrokerError::Config(format!("{}: {e}", self.path.display())))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
                Err(e) => return Err(BrokerError::io(format!("read {}", self.path.display()), e)),
            };
            // Persisted before any id of the block is handed out.
            crate::topics::write_atomically(&self.path, format!("{}\n", block + 1).as_bytes())?;
            self.next.set(block * IDS_PER_BLOCK);
            self.block_end.set((block + 1) * IDS_PER_BLOCK);
        }
        let n = self.next.get();
        self.next.set(n + 1);
        Ok(((n << SHARD_BITS) | self.shard) as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_across_shards_and_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for _restart in 0..3 {
            for shard in 0..2 {
                let ids = ProducerIds::new(dir.path(), shard);
                for _ in 0..1500 {
                    assert!(seen.insert(ids.allocate().unwrap()));
                }
            }
        }
        assert!(seen.iter().all(|&id| id >= 0));
    }
}
