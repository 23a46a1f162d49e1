//! Producer ids for idempotent producers, unique across shards and restarts: each shard hands
//! out ids from blocks it reserves by persisting the next block number first
//! (`.producer-ids.shard<N>`, written atomically), and the shard number is part of every id.
//!
//! The shard whose number an id carries also keeps the newest epoch it gave that id when a
//! producer re-initialised it (KIP-360), and the one before, in `.producer-epochs.shard<N>`: a
//! producer presenting an epoch already superseded is fenced, also after a restart, except the
//! one just before, whose re-init may be a retry whose answer was lost (as Kafka does).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use strata_runtime::FifoLock;

use crate::error::BrokerError;
use crate::topics::{read_state_file, write_atomically};

pub const IDS_PER_BLOCK: u64 = 1000;

/// Ids below this were handed out by the shards' own files (before the controller handed out
/// blocks): the first controller block starts above them (`crate::cluster` migrates it).
/// Every possible shard's file is read: the shard count may have been larger then.
pub fn handed_out_by_files(data_dir: &Path) -> u64 {
    (0..MAX_SHARDS)
        .map(|s| data_dir.join(format!(".producer-ids.shard{s}")))
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|t| t.trim().parse::<u64>().ok())
        .max()
        .map_or(0, |blocks| blocks * IDS_PER_BLOCK)
}
/// Shard numbers take the low bits of an id.
const SHARD_BITS: u32 = 10;
/// The most shards a broker may run: every shard number must fit in `SHARD_BITS`.
pub const MAX_SHARDS: usize = 1 << SHARD_BITS;

/// The shard that allocated `producer_id` (and keeps its epochs), among `shards`.
pub fn owner_of(producer_id: i64, shards: usize) -> usize {
    ((producer_id as u64) & ((1 << SHARD_BITS) - 1)) as usize % shards.max(1)
}

/// What re-initialising a producer id gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bump {
    /// The id's next epoch.
    Epoch(i16),
    /// The presented epoch was already superseded: that producer is a zombie.
    Fenced { current: i16 },
    /// The epochs of this id are used up: the producer needs a new id.
    Exhausted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Epochs {
    /// The newest epoch given on a re-init.
    current: i16,
    /// The epoch that re-init was presented with.
    previous: i16,
    /// When, in ms since the Unix epoch.
    at_ms: i64,
}

pub struct ProducerIds {
    path: PathBuf,
    epochs_path: PathBuf,
    shard: u64,
    next: Cell<u64>,
    block_end: Cell<u64>,
    /// Producer id -> its epochs, loaded at the first re-init.
    epochs: RefCell<Option<HashMap<i64, Epochs>>>,
    /// Held across a change and the write that persists it, so that changes apply in order and
    /// the state above is only borrowed between awaits.
    changing: FifoLock,
}

impl ProducerIds {
    pub fn new(data_dir: &Path, shard: usize) -> Self {
        ProducerIds {
            path: data_dir.join(format!(".producer-ids.shard{shard}")),
            epochs_path: data_dir.join(format!(".producer-epochs.shard{shard}")),
            shard: shard as u64,
            next: Cell::new(0),
            block_end: Cell::new(0),
            epochs: RefCell::new(None),
            changing: FifoLock::new(),
        }
    }

    /// A producer id never handed out before, from blocks this shard reserves in its own file
    /// (a broker without the cluster's metadata, as in unit tests).
    pub async fn allocate(&self) -> Result<i64, BrokerError> {
        self.allocate_with(|| self.reserve_from_file()).await
    }

    /// A producer id never handed out before: from the current block, or from a new block of
    /// `IDS_PER_BLOCK` ids that `reserve` returns the first of (the controller hands blocks out
    /// cluster-wide: AllocateProducerIds).
    pub async fn allocate_with<F, Fut>(&self, reserve: F) -> Result<i64, BrokerError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<u64, BrokerError>>,
    {
        let _one_at_a_time = self.changing.lock().await;
        if self.next.get() >= self.block_end.get() {
            let start = reserve().await?;
            self.next.set(start);
            self.block_end.set(start + IDS_PER_BLOCK);
        }
        let n = self.next.get();
        self.next.set(n + 1);
        Ok(((n << SHARD_BITS) | self.shard) as i64)
    }

    /// The first id of a block reserved in this shard's file, persisted before it is used.
    async fn reserve_from_file(&self) -> Result<u64, BrokerError> {
        {
            let block = match read_state_file(&self.path).await? {
                Some(bytes) => String::from_utf8_lossy(&bytes)
                    .trim()
                    .parse::<u64>()
                    .map_err(|e| BrokerError::CorruptState {
                        path: self.path.clone(),
                        position: "line 1".into(),
                        reason: e.to_string(),
                    })?,
                None => 0,
            };
            // Persisted before any id of the block is handed out.
            write_atomically(&self.path, format!("{}\n", block + 1).into_bytes()).await?;
            Ok(block * IDS_PER_BLOCK)
        }
    }

    /// Re-initialises `producer_id` presented with `epoch`: the next epoch, persisted before it is
    /// given, unless a newer one was given already. Entries idle for `expiry_ms` are forgotten.
    pub async fn bump(
        &self,
        producer_id: i64,
        epoch: i16,
        now_ms: i64,
        expiry_ms: i64,
    ) -> Result<Bump, BrokerError> {
        let _one_at_a_time = self.changing.lock().await;
        if self.epochs.borrow().is_none() {
            let loaded = self.load_epochs().await?;
            *self.epochs.borrow_mut() = Some(loaded);
        }
        let known = self
            .epochs
            .borrow()
            .as_ref()
            .and_then(|m| m.get(&producer_id).copied());
        if let Some(e) = known {
            if epoch == e.previous {
                // A retry of the re-init that gave `current`: the same answer.
                return Ok(Bump::Epoch(e.current));
            }
            if epoch < e.current {
                return Ok(Bump::Fenced { current: e.current });
            }
        }
        if epoch >= i16::MAX - 1 {
            return Ok(Bump::Exhausted);
        }
        let next = epoch + 1;
        // A copy, swapped in only once it is on disk.
        let mut updated = self.epochs.borrow().clone().unwrap_or_default();
        updated.retain(|_, e| now_ms.saturating_sub(e.at_ms) < expiry_ms);
        updated.insert(
            producer_id,
            Epochs {
                current: next,
                previous: epoch,
                at_ms: now_ms,
            },
        );
        let text: String = updated
            .iter()
            .map(|(id, e)| format!("{id} {} {} {}\n", e.current, e.previous, e.at_ms))
            .collect();
        write_atomically(&self.epochs_path, text.into_bytes()).await?;
        *self.epochs.borrow_mut() = Some(updated);
        Ok(Bump::Epoch(next))
    }

    async fn load_epochs(&self) -> Result<HashMap<i64, Epochs>, BrokerError> {
        let Some(bytes) = read_state_file(&self.epochs_path).await? else {
            return Ok(HashMap::new());
        };
        let text = String::from_utf8_lossy(&bytes);
        let bad = |line: &str| BrokerError::CorruptState {
            path: self.epochs_path.clone(),
            position: format!("line {line:?}"),
            reason: "expected: producer id, current epoch, previous epoch, ms".into(),
        };
        let mut out = HashMap::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let fields: Vec<i64> = line
                .split_whitespace()
                .map(str::parse::<i64>)
                .collect::<Result<_, _>>()
                .map_err(|_| bad(line))?;
            let epoch = |v: i64| i16::try_from(v).map_err(|_| bad(line));
            match fields[..] {
                [id, current, previous, at_ms] => {
                    let e = Epochs {
                        current: epoch(current)?,
                        previous: epoch(previous)?,
                        at_ms,
                    };
                    out.insert(id, e);
                }
                _ => return Err(bad(line)),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_executor::run;

    #[test]
    fn ids_are_unique_across_shards_and_restarts() {
        run(ids_are_unique_across_shards_and_restarts_async());
    }

    async fn ids_are_unique_across_shards_and_restarts_async() {
        let dir = tempfile::tempdir().unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for _restart in 0..3 {
            for shard in 0..2 {
                let ids = ProducerIds::new(dir.path(), shard);
                for _ in 0..1500 {
                    assert!(seen.insert(ids.allocate().await.unwrap()));
                }
            }
        }
        assert!(seen.iter().all(|&id| id >= 0));
    }

    #[test]
    fn a_reinit_bumps_the_epoch_and_fences_an_older_one_across_restarts() {
        run(reinit_bumps_async());
    }

    async fn reinit_bumps_async() {
        let dir = tempfile::tempdir().unwrap();
        let day = 86_400_000;
        let ids = ProducerIds::new(dir.path(), 1);
        let id = ids.allocate().await.unwrap();
        assert_eq!(owner_of(id, 2), 1);
        assert_eq!(ids.bump(id, 0, 1000, day).await.unwrap(), Bump::Epoch(1));
        assert_eq!(ids.bump(id, 1, 1000, day).await.unwrap(), Bump::Epoch(2));
        // A producer still holding epoch 0 is a zombie, also after a restart; one presenting 1
        // is retrying the re-init that gave 2, and gets 2 again.
        let ids = ProducerIds::new(dir.path(), 1);
        assert_eq!(
            ids.bump(id, 0, 2000, day).await.unwrap(),
            Bump::Fenced { current: 2 }
        );
        assert_eq!(ids.bump(id, 1, 2000, day).await.unwrap(), Bump::Epoch(2));
        assert_eq!(ids.bump(id, 2, 2000, day).await.unwrap(), Bump::Epoch(3));
        assert_eq!(
            ids.bump(id, i16::MAX - 1, 2000, day).await.unwrap(),
            Bump::Exhausted
        );
        // Idle entries are forgotten at the next bump.
        let other = ids.allocate().await.unwrap();
        assert_eq!(
            ids.bump(other, 0, 2000 + day, day).await.unwrap(),
            Bump::Epoch(1)
        );
        let ids = ProducerIds::new(dir.path(), 1);
        assert_eq!(
            ids.bump(id, 0, 3000 + day, day).await.unwrap(),
            Bump::Epoch(1)
        );
        // A garbled file is an error naming it, not a silent reset.
        std::fs::write(dir.path().join(".producer-epochs.shard1"), "1 2 x 3\n").unwrap();
        let ids = ProducerIds::new(dir.path(), 1);
        assert!(ids
            .bump(id, 0, 0, day)
            .await
            .unwrap_err()
            .to_string()
            .contains(".producer-epochs"));
    }
}
