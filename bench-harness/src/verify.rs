//! Verification: every acknowledged record arrives once, in order per partition.

use std::collections::HashMap;

use serde::Serialize;

use crate::record::Stamp;

/// What one consumer saw, per (producer, partition).
#[derive(Debug, Default)]
pub struct Verifier {
    streams: HashMap<(u32, u32), Stream>,
}

#[derive(Debug, Default)]
struct Stream {
    next: u64,
    seen: Vec<u64>,
    duplicates: u64,
    reordered: u64,
}

impl Stream {
    fn seen(&self, seq: u64) -> bool {
        self.seen
            .get((seq / 64) as usize)
            .is_some_and(|w| w & (1 << (seq % 64)) != 0)
    }
    fn mark(&mut self, seq: u64) {
        let i = (seq / 64) as usize;
        if self.seen.len() <= i {
            self.seen.resize(i + 1, 0);
        }
        self.seen[i] |= 1 << (seq % 64);
    }
}

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct VerifyReport {
    pub acknowledged: u64,
    pub received_unique: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub reordered: u64,
}

impl Verifier {
    pub fn record(&mut self, s: &Stamp) {
        let st = self.streams.entry((s.producer, s.partition)).or_default();
        if st.seen(s.seq) {
            st.duplicates += 1;
            return;
        }
        if s.seq < st.next {
            st.reordered += 1;
        }
        st.mark(s.seq);
        st.next = st.next.max(s.seq + 1);
    }

    /// Compares with what producers had acknowledged: `acked[(producer, partition)]` records,
    /// sequence numbers 0..n.
    pub fn report(&self, acked: &HashMap<(u32, u32), u64>) -> VerifyReport {
        let mut r = VerifyReport::default();
        for (key, &n) in acked {
            r.acknowledged += n;
            let Some(st) = self.streams.get(key) else {
                r.lost += n;
                continue;
            };
            let unique = (0..n).filter(|&s| st.seen(s)).count() as u64;
            r.received_unique += unique;
            r.lost += n - unique;
        }
        for st in self.streams.values() {
            r.duplicates += st.duplicates;
            r.reordered += st.reordered;
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(seq: u64) -> Stamp {
        Stamp {
            send_us: 0,
            producer: 0,
            partition: 1,
            seq,
        }
    }

    #[test]
    fn loss_duplicates_and_reordering_are_told_apart() {
        let mut v = Verifier::default();
        for seq in [0, 1, 2, 4, 3, 3, 6] {
            v.record(&stamp(seq));
        }
        let acked = HashMap::from([((0, 1), 8), ((0, 2), 2)]);
        let r = v.report(&acked);
        assert_eq!(
            r,
            VerifyReport {
                acknowledged: 10,
                received_unique: 6,
                lost: 4,
                duplicates: 1,
                reordered: 1
            }
        );
    }
}
