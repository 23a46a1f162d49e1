//! Sparse indexes beside each segment: offset -> file position (`.index`) and
//! max timestamp so far -> offset (`.timeindex`). Entries are fixed-size, big-endian, and written
//! in whole blocks; an entry whose relative offset is 0 ends the file (the first batch of a
//! segment is never indexed, as position 0 needs no entry).

use strata_runtime::BLOCK_BYTES;

/// One fixed-size index entry.
pub trait IndexEntry: Copy + std::fmt::Debug {
    const BYTES: usize;
    fn relative_offset(&self) -> u32;
    fn encode(&self, out: &mut Vec<u8>);
    fn decode(b: &[u8]) -> Self;
    /// True when `self` may follow `prev` (both keys strictly increase).
    fn follows(&self, prev: &Self) -> bool;
}

/// `.index`: relative offset of a batch -> byte position of that batch in the segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetEntry {
    pub relative_offset: u32,
    pub position: u32,
}

impl IndexEntry for OffsetEntry {
    const BYTES: usize = 8;
    fn relative_offset(&self) -> u32 {
        self.relative_offset
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.relative_offset.to_be_bytes());
        out.extend_from_slice(&self.position.to_be_bytes());
    }
    fn decode(b: &[u8]) -> Self {
        OffsetEntry {
            relative_offset: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            position: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
    fn follows(&self, prev: &Self) -> bool {
        self.relative_offset > prev.relative_offset && self.position > prev.position
    }
}

/// `.timeindex`: largest timestamp seen so far -> relative offset of the batch that carried it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeEntry {
    pub max_timestamp: i64,
    pub relative_offset: u32,
}

impl IndexEntry for TimeEntry {
    const BYTES: usize = 16;
    fn relative_offset(&self) -> u32 {
        self.relative_offset
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.max_timestamp.to_be_bytes());
        out.extend_from_slice(&self.relative_offset.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
    }
    fn decode(b: &[u8]) -> Self {
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&b[..8]);
        TimeEntry {
            max_timestamp: i64::from_be_bytes(ts),
            relative_offset: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        }
    }
    fn follows(&self, prev: &Self) -> bool {
        self.relative_offset > prev.relative_offset && self.max_timestamp > prev.max_timestamp
    }
}

/// An in-memory sparse index with a record of how much of it is on disk.
#[derive(Debug, Clone)]
pub struct SparseIndex<E: IndexEntry> {
    entries: Vec<E>,
    /// Entries known to be on disk in whole blocks.
    persisted: usize,
}

impl<E: IndexEntry> Default for SparseIndex<E> {
    fn default() -> Self {
        SparseIndex {
            entries: Vec::new(),
            persisted: 0,
        }
    }
}

impl<E: IndexEntry> SparseIndex<E> {
    const PER_BLOCK: usize = BLOCK_BYTES as usize / E::BYTES;

    /// Decodes index file bytes; stops at the first zero entry and refuses an index whose keys
    /// do not strictly increase (the caller then rebuilds it from the log).
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut entries: Vec<E> = Vec::with_capacity(bytes.len() / E::BYTES);
        for chunk in bytes.chunks_exact(E::BYTES) {
            let e = E::decode(chunk);
            if e.relative_offset() == 0 {
                break;
            }
            if let Some(prev) = entries.last() {
                if !e.follows(prev) {
                    return Err(format!(
                        "entry {} ({e:?}) does not follow {prev:?}",
                        entries.len()
                    ));
                }
            }
            entries.push(e);
        }
        let persisted = entries.len() - entries.len() % Self::PER_BLOCK;
        Ok(SparseIndex { entries, persisted })
    }

    pub fn entries(&self) -> &[E] {
        &self.entries
    }

    pub fn first(&self) -> Option<&E> {
        self.entries.first()
    }

    pub fn last(&self) -> Option<&E> {
        self.entries.last()
    }

    /// Adds an entry; keys must strictly increase, or the index would send reads to wrong places.
    pub fn push(&mut self, e: E) {
        if let Some(prev) = self.entries.last() {
            assert!(
                e.follows(prev),
                "index entry {e:?} does not follow {prev:?}"
            );
        }
        self.entries.push(e);
    }

    /// The last entry for which `below(entry)` holds, given that it holds for a prefix.
    pub fn last_where(&self, below: impl Fn(&E) -> bool) -> Option<&E> {
        let n = self.entries.partition_point(below);
        n.checked_sub(1).map(|i| &self.entries[i])
    }

    /// Drops the entries for which `keep` is false, from the first such on.
    pub fn truncate_where(&mut self, keep: impl Fn(&E) -> bool) {
        let n = self.entries.partition_point(keep);
        self.entries.truncate(n);
        self.persisted = self.persisted.min(n - n % Self::PER_BLOCK);
    }

    /// Bytes to write so that the file holds every whole block of entries (`all`: every entry,
    /// the last block padded with the zero terminator): the block-aligned file position and data.
    pub fn unpersisted(&self, all: bool) -> Option<(u64, Vec<u8>)> {
        let end = if all {
            self.entries.len()
        } else {
            self.entries.len() - self.entries.len() % Self::PER_BLOCK
        };
        let start = self.persisted - self.persisted % Self::PER_BLOCK;
        if end <= self.persisted && !(all && self.persisted < self.entries.len()) {
            return None;
        }
        let mut out = Vec::with_capacity((end - start) * E::BYTES);
        for e in &self.entries[start..end] {
            e.encode(&mut out);
        }
        Some(((start * E::BYTES) as u64, out))
    }

    /// What rewriting the file after recovery takes: the position of the first block that is not
    /// wholly on disk (the file is cut there, so no stale entry survives past the new end) and
    /// every entry from that block on. Blocks before it are on disk as they are in memory, so the
    /// rewrite is O(1) in the size of the index.
    pub fn rewrite_from(&self) -> (u64, Vec<u8>) {
        let start = self.persisted - self.persisted % Self::PER_BLOCK;
        let mut out = Vec::with_capacity((self.entries.len() - start) * E::BYTES);
        for e in &self.entries[start..] {
            e.encode(&mut out);
        }
        ((start * E::BYTES) as u64, out)
    }

    /// Records that the entries returned by `unpersisted(all)` are on disk.
    pub fn mark_persisted(&mut self, all: bool) {
        self.persisted = if all {
            self.entries.len()
        } else {
            self.entries.len() - self.entries.len() % Self::PER_BLOCK
        };
    }
}

pub type OffsetIndex = SparseIndex<OffsetEntry>;
pub type TimeIndex = SparseIndex<TimeEntry>;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn offset_index_round_trips_and_finds_floor(steps in prop::collection::vec((1u32..50, 1u32..5000), 0..2000), probe in 0u32..100_000) {
            let mut idx = OffsetIndex::default();
            let (mut rel, mut pos) = (0u32, 0u32);
            for (dr, dp) in &steps {
                rel += dr; pos += dp;
                idx.push(OffsetEntry { relative_offset: rel, position: pos });
            }
            let (_, bytes) = idx.unpersisted(true).unwrap_or((0, Vec::new()));
            let back = OffsetIndex::decode(&bytes).unwrap();
            prop_assert_eq!(back.entries(), idx.entries());
            let floor = idx.last_where(|e| e.relative_offset <= probe);
            let expect = idx.entries().iter().rfind(|e| e.relative_offset <= probe);
            prop_assert_eq!(floor, expect);
        }
    }

    #[test]
    fn persisting_writes_whole_blocks_then_the_rest() {
        let mut idx = OffsetIndex::default();
        for i in 1..=600u32 {
            idx.push(OffsetEntry {
                relative_offset: i,
                position: i * 10,
            });
        }
        let (pos, data) = idx.unpersisted(false).unwrap();
        assert_eq!((pos, data.len()), (0, 4096));
        idx.mark_persisted(false);
        assert!(idx.unpersisted(false).is_none());
        let (pos, data) = idx.unpersisted(true).unwrap();
        assert_eq!((pos, data.len()), (4096, 88 * 8));
        idx.mark_persisted(true);
        assert!(idx.unpersisted(true).is_none());
    }

    #[test]
    fn non_monotonic_index_is_refused() {
        let mut bytes = Vec::new();
        OffsetEntry {
            relative_offset: 5,
            position: 100,
        }
        .encode(&mut bytes);
        OffsetEntry {
            relative_offset: 3,
            position: 200,
        }
        .encode(&mut bytes);
        assert!(OffsetIndex::decode(&bytes).is_err());
    }
}
