//! The shard's batch cache: recently appended batches of all the shard's logs, kept in memory up
//! to a byte budget so that tailing consumers never touch the disk. It stands in for the kernel
//! page cache, which O_DIRECT bypasses. Oldest insertions are evicted first.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};

use bytes::Bytes;

struct CachedBatch {
    last_offset: i64,
    bytes: Bytes,
}

struct CacheInner {
    budget_bytes: usize,
    used_bytes: usize,
    logs: HashMap<u64, BTreeMap<i64, CachedBatch>>,
    /// Insertion order, for eviction: (log id, base offset, size).
    order: VecDeque<(u64, i64, usize)>,
}

/// Shared by the logs of one shard (one thread): `Rc<BatchCache>`.
pub struct BatchCache {
    inner: RefCell<CacheInner>,
}

impl BatchCache {
    pub fn new(budget_bytes: usize) -> Self {
        BatchCache {
            inner: RefCell::new(CacheInner {
                budget_bytes,
                used_bytes: 0,
                logs: HashMap::new(),
                order: VecDeque::new(),
            }),
        }
    }

    pub fn used_bytes(&self) -> usize {
        self.inner.borrow().used_bytes
    }

    pub fn insert(&self, log: u64, base_offset: i64, last_offset: i64, bytes: Bytes) {
        let mut c = self.inner.borrow_mut();
        let size = bytes.len();
        if size > c.budget_bytes {
            return;
        }
        while c.used_bytes + size > c.budget_bytes {
            let Some((l, base, sz)) = c.order.pop_front() else {
                break;
            };
            if let Some(m) = c.logs.get_mut(&l) {
                if m.remove(&base).is_some() {
                    c.used_bytes -= sz;
                }
            }
        }
        c.logs
            .entry(log)
            .or_default()
            .insert(base_offset, CachedBatch { last_offset, bytes });
        c.order.push_back((log, base_offset, size));
        c.used_bytes += size;
    }

    /// Consecutive cached batches starting with the one that holds `offset`, stopping before
    /// `end_offset`, and once `max_bytes` is reached (the first batch is returned whatever its
    /// size, as Kafka does). Empty when the batch holding `offset` is not cached.
    pub fn get_run(&self, log: u64, offset: i64, end_offset: i64, max_bytes: usize) -> Vec<Bytes> {
        let c = self.inner.borrow();
        let mut out = Vec::new();
        let Some(m) = c.logs.get(&log) else {
            return out;
        };
        let Some((&first_base, first)) = m.range(..=offset).next_back() else {
            return out;
        };
        if first.last_offset < offset {
            return out;
        }
        let mut expect = first_base;
        let mut total = 0usize;
        for (&base, b) in m.range(first_base..) {
            if base != expect || b.last_offset >= end_offset {
                break;
            }
            if !out.is_empty() && total + b.bytes.len() > max_bytes {
                break;
            }
            total += b.bytes.len();
            out.push(b.bytes.clone());
            expect = b.last_offset + 1;
        }
        out
    }

    /// Forgets a log's batches from `offset` on (after a truncation) or all of them (`i64::MIN`).
    pub fn remove_from(&self, log: u64, offset: i64) {
        let mut c = self.inner.borrow_mut();
        let c = &mut *c;
        if let Some(m) = c.logs.get_mut(&log) {
            let gone = m.split_off(&offset);
            c.used_bytes -= gone.values().map(|b| b.bytes.len()).sum::<usize>();
            if m.is_empty() {
                c.logs.remove(&log);
            }
        }
    }

    /// Forgets a log's batches that end before `offset` (after retention deleted them).
    pub fn remove_below(&self, log: u64, offset: i64) {
        let mut c = self.inner.borrow_mut();
        let c = &mut *c;
        if let Some(m) = c.logs.get_mut(&log) {
            let keep = m.split_off(&offset);
            c.used_bytes -= m.values().map(|b| b.bytes.len()).sum::<usize>();
            *m = keep;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_consecutive_runs_and_evicts_oldest_within_budget() {
        let c = BatchCache::new(300);
        for i in 0..5i64 {
            c.insert(1, i * 10, i * 10 + 9, Bytes::from(vec![i as u8; 100]));
        }
        assert!(c.used_bytes() <= 300);
        assert!(c.get_run(1, 5, 1000, 1000).is_empty(), "evicted");
        let run = c.get_run(1, 25, 1000, 1000);
        assert_eq!(run.len(), 3);
        assert_eq!(run[0][0], 2);
        assert_eq!(c.get_run(1, 25, 1000, 150).len(), 1);
        assert_eq!(
            c.get_run(1, 25, 39, 1000).len(),
            1,
            "stops before end offset"
        );
        c.remove_from(1, 30);
        assert_eq!(c.get_run(1, 25, 1000, 1000).len(), 1);
        c.remove_below(1, 30);
        assert!(c.get_run(1, 25, 1000, 1000).is_empty());
        assert_eq!(c.used_bytes(), 0);
    }
}
