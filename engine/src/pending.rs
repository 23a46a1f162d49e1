//! The bytes of the active segment that are not yet in its file in whole blocks: the stored
//! batches themselves (shared with the batch cache, not copied), by file position.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

#[derive(Debug, Default)]
pub struct PendingBytes {
    /// (file position, bytes), contiguous; the first may begin before `start`.
    chunks: VecDeque<(u64, Bytes)>,
    /// Block-aligned: everything before it is in the file.
    start: u64,
    end: u64,
}

impl PendingBytes {
    pub fn new(start: u64) -> Self {
        PendingBytes {
            chunks: VecDeque::new(),
            start,
            end: start,
        }
    }

    /// Pending bytes `bytes` starting at `start`.
    pub fn with(start: u64, bytes: Bytes) -> Self {
        let mut p = PendingBytes::new(start);
        p.push(bytes);
        p
    }

    pub fn start(&self) -> u64 {
        self.start
    }

    pub fn push(&mut self, bytes: Bytes) {
        if !bytes.is_empty() {
            let len = bytes.len() as u64;
            self.chunks.push_back((self.end, bytes));
            self.end += len;
        }
    }

    /// Slices covering `[from, to)`, which must lie within `[start, end)`.
    pub fn parts(&self, from: u64, to: u64) -> Vec<&[u8]> {
        debug_assert!(
            self.start <= from && to <= self.end,
            "[{from}, {to}) outside pending"
        );
        self.chunks
            .iter()
            .filter(|(pos, b)| *pos < to && pos + b.len() as u64 > from)
            .map(|(pos, b)| {
                let s = from.saturating_sub(*pos) as usize;
                let e = ((to - pos) as usize).min(b.len());
                &b[s..e]
            })
            .collect()
    }

    /// `[from, to)` as one buffer: a slice when one chunk holds it, else a copy.
    pub fn copy(&self, from: u64, to: u64) -> Bytes {
        let parts = self.parts(from, to);
        if let [only] = parts.as_slice() {
            if let Some((pos, b)) = self
                .chunks
                .iter()
                .find(|(p, b)| *p <= from && p + b.len() as u64 >= to)
            {
                return b.slice((from - pos) as usize..(to - pos) as usize);
            }
            return Bytes::copy_from_slice(only);
        }
        let mut out = BytesMut::with_capacity((to - from) as usize);
        for p in parts {
            out.extend_from_slice(p);
        }
        out.freeze()
    }

    /// Forgets what is now in the file, up to block-aligned `new_start`.
    pub fn advance_to(&mut self, new_start: u64) {
        while let Some((pos, b)) = self.chunks.front() {
            if pos + b.len() as u64 <= new_start {
                self.chunks.pop_front();
            } else {
                break;
            }
        }
        self.start = self.start.max(new_start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_and_copies_cover_exactly_the_range() {
        let mut p = PendingBytes::new(4096);
        p.push(Bytes::from(vec![1u8; 3000]));
        p.push(Bytes::from(vec![2u8; 3000]));
        p.push(Bytes::from(vec![3u8; 3000]));
        let all: Vec<u8> = p.parts(4096, 13096).concat();
        assert_eq!(all.len(), 9000);
        assert_eq!((all[2999], all[3000], all[6000]), (1, 2, 3));
        let c = p.copy(7100, 8100);
        assert!(c.iter().all(|&b| b == 2) && c.len() == 1000);
        assert_eq!(p.copy(6500, 7500).len(), 1000);
        p.advance_to(8192);
        assert_eq!(p.start(), 8192);
        let rest: Vec<u8> = p.parts(8192, 13096).concat();
        assert_eq!(rest.len(), 13096 - 8192);
        assert_eq!(rest[0], 2);
    }
}
