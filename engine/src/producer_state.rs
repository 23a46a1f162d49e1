//! Idempotent producers: per partition, the last batches of each producer id (their sequence
//! ranges and offsets), so that a retried batch is recognised and answered with its original
//! offsets instead of being appended twice, and a gap or an old epoch is refused.

use std::collections::{HashMap, VecDeque};

use crate::error::EngineError;
use strata_record::batch::BatchHeader;

/// Batches remembered per producer: Kafka clients keep at most five requests in flight.
pub const REMEMBERED_BATCHES: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BatchMeta {
    first_seq: i32,
    last_seq: i32,
    base_offset: i64,
    last_offset: i64,
}

#[derive(Debug, Clone)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchMeta>,
    last_seen_ms: i64,
    /// The max timestamp of its last batch.
    last_timestamp: i64,
}

/// An idempotent producer the partition knows (DescribeProducers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveProducer {
    pub producer_id: i64,
    pub epoch: i16,
    /// The sequence of its last record appended (-1 before any).
    pub last_sequence: i32,
    /// The max timestamp of its last batch.
    pub last_timestamp: i64,
}

/// What to do with an idempotent batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    Append,
    /// Already appended: these were its offsets.
    Duplicate {
        base_offset: i64,
        last_offset: i64,
    },
}

#[derive(Debug, Default, Clone)]
pub struct ProducerStateTable {
    producers: HashMap<i64, ProducerEntry>,
}

/// The sequence after `seq`: sequences wrap from i32::MAX to 0.
pub fn next_sequence(seq: i32) -> i32 {
    if seq == i32::MAX {
        0
    } else {
        seq + 1
    }
}

/// The sequence of a batch's last record.
pub fn last_sequence(h: &BatchHeader) -> i32 {
    ((i64::from(h.base_sequence) + i64::from(h.last_offset_delta)) % (i64::from(i32::MAX) + 1))
        as i32
}

impl ProducerStateTable {
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    pub fn check(&self, h: &BatchHeader) -> Result<SequenceCheck, EngineError> {
        if h.producer_id < 0 {
            return Ok(SequenceCheck::Append);
        }
        let Some(e) = self.producers.get(&h.producer_id) else {
            return if h.base_sequence == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(EngineError::UnknownProducerId {
                    producer_id: h.producer_id,
                })
            };
        };
        if h.producer_epoch < e.epoch {
            return Err(EngineError::InvalidProducerEpoch {
                producer_id: h.producer_id,
                epoch: h.producer_epoch,
                current: e.epoch,
            });
        }
        if h.producer_epoch > e.epoch {
            // A new epoch starts its sequences again.
            return if h.base_sequence == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(EngineError::OutOfOrderSequence {
                    producer_id: h.producer_id,
                    expected: 0,
                    got: h.base_sequence,
                })
            };
        }
        let last = last_sequence(h);
        if let Some(b) = e
            .batches
            .iter()
            .find(|b| b.first_seq == h.base_sequence && b.last_seq == last)
        {
            return Ok(SequenceCheck::Duplicate {
                base_offset: b.base_offset,
                last_offset: b.last_offset,
            });
        }
        let expected = e.batches.back().map_or(0, |b| next_sequence(b.last_seq));
        if h.base_sequence == expected {
            Ok(SequenceCheck::Append)
        } else {
            Err(EngineError::OutOfOrderSequence {
                producer_id: h.producer_id,
                expected,
                got: h.base_sequence,
            })
        }
    }

    /// Records an appended idempotent batch (its header carries the assigned base offset).
    pub fn record(&mut self, h: &BatchHeader, now_ms: i64) {
        if h.producer_id < 0 {
            return;
        }
        let e = self
            .producers
            .entry(h.producer_id)
            .or_insert(ProducerEntry {
                epoch: h.producer_epoch,
                batches: VecDeque::new(),
                last_seen_ms: now_ms,
                last_timestamp: -1,
            });
        if h.producer_epoch != e.epoch {
            e.epoch = h.producer_epoch;
            e.batches.clear();
        }
        e.last_seen_ms = e.last_seen_ms.max(now_ms);
        e.last_timestamp = h.max_timestamp;
        e.batches.push_back(BatchMeta {
            first_seq: h.base_sequence,
            last_seq: last_sequence(h),
            base_offset: h.base_offset,
            last_offset: h.last_offset(),
        });
        while e.batches.len() > REMEMBERED_BATCHES {
            e.batches.pop_front();
        }
    }

    /// Every producer remembered, by id.
    pub fn active(&self) -> Vec<ActiveProducer> {
        let mut out: Vec<ActiveProducer> = self
            .producers
            .iter()
            .map(|(&producer_id, e)| ActiveProducer {
                producer_id,
                epoch: e.epoch,
                last_sequence: e.batches.back().map_or(-1, |b| b.last_seq),
                last_timestamp: e.last_timestamp,
            })
            .collect();
        out.sort_by_key(|p| p.producer_id);
        out
    }

    /// Forgets producers not seen since `before_ms`; returns how many.
    pub fn expire(&mut self, before_ms: i64) -> usize {
        let n = self.producers.len();
        self.producers.retain(|_, e| e.last_seen_ms >= before_ms);
        n - self.producers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pid: i64, epoch: i16, seq: i32, records: i32, base_offset: i64) -> BatchHeader {
        BatchHeader {
            base_offset,
            size_bytes: 100,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: records - 1,
            first_timestamp: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            records_count: records,
        }
    }

    #[test]
    fn duplicates_gaps_epochs_and_wraparound() {
        let mut t = ProducerStateTable::default();
        let b0 = header(7, 0, 0, 10, 100);
        assert_eq!(t.check(&b0).unwrap(), SequenceCheck::Append);
        t.record(&b0, 1);
        let b1 = header(7, 0, 10, 5, 110);
        assert_eq!(t.check(&b1).unwrap(), SequenceCheck::Append);
        t.record(&b1, 2);
        // A retry of either batch gets its original offsets.
        assert_eq!(
            t.check(&header(7, 0, 0, 10, -1)).unwrap(),
            SequenceCheck::Duplicate {
                base_offset: 100,
                last_offset: 109
            }
        );
        assert_eq!(
            t.check(&header(7, 0, 10, 5, -1)).unwrap(),
            SequenceCheck::Duplicate {
                base_offset: 110,
                last_offset: 114
            }
        );
        // A gap.
        assert!(matches!(
            t.check(&header(7, 0, 16, 1, -1)),
            Err(EngineError::OutOfOrderSequence {
                expected: 15,
                got: 16,
                ..
            })
        ));
        // An old epoch is fenced; a new one starts at 0.
        t.record(&header(7, 1, 0, 1, 120), 3);
        assert!(matches!(
            t.check(&header(7, 0, 15, 1, -1)),
            Err(EngineError::InvalidProducerEpoch { current: 1, .. })
        ));
        assert!(matches!(
            t.check(&header(7, 2, 5, 1, -1)),
            Err(EngineError::OutOfOrderSequence { expected: 0, .. })
        ));
        // Unknown producers must start at 0.
        assert!(matches!(
            t.check(&header(8, 0, 3, 1, -1)),
            Err(EngineError::UnknownProducerId { .. })
        ));
        // Sequences wrap from i32::MAX to 0.
        let mut w = ProducerStateTable::default();
        let near = header(9, 0, 0, 1, 0);
        w.record(&near, 0);
        let top = header(9, 0, i32::MAX - 1, 2, 1);
        w.producers
            .get_mut(&9)
            .unwrap()
            .batches
            .back_mut()
            .unwrap()
            .last_seq = i32::MAX - 2;
        assert_eq!(w.check(&top).unwrap(), SequenceCheck::Append);
        w.record(&top, 0);
        assert_eq!(last_sequence(&top), i32::MAX);
        assert_eq!(
            w.check(&header(9, 0, 0, 1, 3)).unwrap(),
            SequenceCheck::Append,
            "after i32::MAX comes 0"
        );
        // Only the last five batches are remembered.
        let mut f = ProducerStateTable::default();
        for i in 0..7 {
            f.record(&header(1, 0, i, 1, i64::from(i)), 0);
        }
        assert!(matches!(
            f.check(&header(1, 0, 0, 1, -1)),
            Err(EngineError::OutOfOrderSequence { .. })
        ));
        assert_eq!(
            f.check(&header(1, 0, 3, 1, -1)).unwrap(),
            SequenceCheck::Duplicate {
                base_offset: 3,
                last_offset: 3
            }
        );
        assert_eq!(f.expire(1), 1);
        assert!(f.is_empty());
    }
}
