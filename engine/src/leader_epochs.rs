//! A partition's leader epochs: for each epoch, the first offset written in it (Kafka's
//! `LeaderEpochFileCache`, KIP-101). It answers "where does epoch E end in this log", which a
//! follower or a returning old leader asks to find where its log diverges from the leader's
//! (OffsetForLeaderEpoch, Fetch's diverging epoch). Kept in `leader-epoch-checkpoint` in
//! Kafka's text format (version, count, then `epoch offset` lines).
//!
//! Pure: no I/O. `PartitionLog` owns one and writes its file.

/// Kafka's "no epoch" and "no offset" answers.
pub const UNDEFINED_EPOCH: i32 = -1;
pub const UNDEFINED_OFFSET: i64 = -1;

const FORMAT_VERSION: u32 = 0;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderEpochs {
    /// (epoch, start offset), both strictly increasing.
    entries: Vec<(i32, i64)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("leader-epoch checkpoint: {0}")]
pub struct CheckpointError(pub String);

impl LeaderEpochs {
    pub fn latest(&self) -> Option<(i32, i64)> {
        self.entries.last().copied()
    }

    pub fn entries(&self) -> &[(i32, i64)] {
        &self.entries
    }

    /// Records that `epoch` starts at `start_offset`: whether anything changed. Entries of this
    /// epoch or later, or starting at or after `start_offset`, give way (as Kafka's `assign`:
    /// after a truncation, an epoch may start again lower).
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 {
            return false;
        }
        if let Some((e, s)) = self.latest() {
            if e == epoch && s <= start_offset {
                return false;
            }
        }
        self.entries
            .retain(|(e, s)| *e < epoch && *s < start_offset);
        self.entries.push((epoch, start_offset));
        true
    }

    /// Where `epoch` ends in a log whose next offset is `log_end`: the largest epoch at or
    /// below it, and the first offset after it (Kafka's `endOffsetFor`).
    pub fn end_offset_for(&self, epoch: i32, log_end: i64) -> (i32, i64) {
        let undefined = (UNDEFINED_EPOCH, UNDEFINED_OFFSET);
        if epoch == UNDEFINED_EPOCH {
            return undefined;
        }
        match self.latest() {
            None => undefined,
            Some((latest, _)) if latest == epoch => (epoch, log_end),
            Some(_) => {
                let Some(&(_, higher_start)) = self.entries.iter().find(|(e, _)| *e > epoch) else {
                    // Above every epoch this log knows.
                    return undefined;
                };
                match self.entries.iter().rev().find(|(e, _)| *e <= epoch) {
                    Some(&(floor, _)) => (floor, higher_start),
                    // Below the first epoch kept: it ended where the first kept one starts.
                    None => (epoch, higher_start),
                }
            }
        }
    }

    /// The log now ends before `offset` (a truncation): epochs starting at or after it go.
    pub fn truncate_from_end(&mut self, offset: i64) {
        self.entries.retain(|(_, s)| *s < offset);
    }

    /// The log now starts at `offset` (retention, DeleteRecords): the epoch holding it starts
    /// there, the ones before go.
    pub fn truncate_from_start(&mut self, offset: i64) {
        let Some(holding) = self.entries.iter().rposition(|(_, s)| *s <= offset) else {
            return;
        };
        self.entries.drain(..holding);
        self.entries[0].1 = offset;
    }

    /// Kafka's checkpoint text: `0`, the count, then `epoch offset` per line.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = format!("{FORMAT_VERSION}\n{}\n", self.entries.len());
        for (e, s) in &self.entries {
            out.push_str(&format!("{e} {s}\n"));
        }
        out.into_bytes()
    }

    pub fn decode(bytes: &[u8]) -> Result<LeaderEpochs, CheckpointError> {
        let bad = |why: String| CheckpointError(why);
        let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8".into()))?;
        let mut lines = text.lines();
        let version = lines.next().unwrap_or_default().trim();
        if version != FORMAT_VERSION.to_string() {
            return Err(bad(format!("version {version:?}, not {FORMAT_VERSION}")));
        }
        let count: usize = lines
            .next()
            .and_then(|c| c.trim().parse().ok())
            .ok_or_else(|| bad("no entry count".into()))?;
        let mut out = LeaderEpochs::default();
        for line in lines.by_ref().take(count) {
            let mut parts = line.split_whitespace();
            let (Some(e), Some(s), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(bad(format!("line {line:?}")));
            };
            let e: i32 = e.parse().map_err(|_| bad(format!("epoch {e:?}")))?;
            let s: i64 = s.parse().map_err(|_| bad(format!("offset {s:?}")))?;
            if out.latest().is_some_and(|(le, ls)| e <= le || s < ls) {
                return Err(bad(format!("entry {e} {s} does not follow the one before")));
            }
            out.entries.push((e, s));
        }
        if out.entries.len() != count {
            return Err(bad(format!("{} entries of {count}", out.entries.len())));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epochs(entries: &[(i32, i64)]) -> LeaderEpochs {
        let mut e = LeaderEpochs::default();
        for (epoch, start) in entries {
            e.assign(*epoch, *start);
        }
        e
    }

    #[test]
    fn an_epoch_ends_where_the_next_starts_and_the_latest_at_the_log_end() {
        let e = epochs(&[(0, 0), (2, 10), (5, 25)]);
        assert_eq!(e.end_offset_for(5, 40), (5, 40));
        assert_eq!(e.end_offset_for(2, 40), (2, 25));
        assert_eq!(e.end_offset_for(0, 40), (0, 10));
        // An epoch this log never had: the one below it, ending where the next starts.
        assert_eq!(e.end_offset_for(3, 40), (2, 25));
        assert_eq!(e.end_offset_for(1, 40), (0, 10));
        // Above every epoch, or undefined: undefined.
        assert_eq!(e.end_offset_for(6, 40), (UNDEFINED_EPOCH, UNDEFINED_OFFSET));
        assert_eq!(
            e.end_offset_for(-1, 40),
            (UNDEFINED_EPOCH, UNDEFINED_OFFSET)
        );
        assert_eq!(
            LeaderEpochs::default().end_offset_for(0, 5),
            (UNDEFINED_EPOCH, UNDEFINED_OFFSET)
        );
    }

    #[test]
    fn assigning_keeps_epochs_and_offsets_increasing() {
        let mut e = epochs(&[(0, 0), (2, 10)]);
        assert!(!e.assign(2, 15), "the same epoch, later: nothing new");
        assert!(e.assign(3, 20));
        // After a truncation to 12, epoch 4 starts at 12: epoch 3 (at 20) gives way.
        assert!(e.assign(4, 12));
        assert_eq!(e.entries(), &[(0, 0), (2, 10), (4, 12)]);
        assert!(!e.assign(-1, 30), "no epoch: nothing");
    }

    #[test]
    fn truncations_cut_from_either_end() {
        let mut e = epochs(&[(0, 0), (2, 10), (5, 25)]);
        e.truncate_from_end(25);
        assert_eq!(e.entries(), &[(0, 0), (2, 10)]);
        e.truncate_from_start(12);
        assert_eq!(e.entries(), &[(2, 12)]);
        e.truncate_from_start(5);
        assert_eq!(
            e.entries(),
            &[(2, 12)],
            "before the first start: nothing to cut"
        );
    }

    #[test]
    fn the_checkpoint_reads_back_and_refuses_what_is_not_one() {
        let e = epochs(&[(0, 0), (2, 10), (5, 25)]);
        let bytes = e.encode();
        assert_eq!(String::from_utf8_lossy(&bytes), "0\n3\n0 0\n2 10\n5 25\n");
        assert_eq!(LeaderEpochs::decode(&bytes).unwrap(), e);
        for bad in [
            "1\n0\n",
            "0\n2\n0 0\n",
            "0\n2\n3 0\n2 5\n",
            "0\nx\n",
            "0\n1\n0\n",
            "",
        ] {
            assert!(LeaderEpochs::decode(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }
}
