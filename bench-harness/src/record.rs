//! Record batches built once and patched for every send: each record's value starts with a
//! 24-byte stamp (send time in µs, producer, partition, sequence) that the consumer reads back for
//! end-to-end latency and for verification. Patching rewrites the stamps, the batch timestamps
//! and the CRC; nothing is allocated.

use strata_record::batch;

/// Bytes of the stamp at the start of every value.
pub const STAMP_BYTES: usize = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub send_us: u64,
    pub producer: u32,
    pub partition: u32,
    pub seq: u64,
}

impl Stamp {
    pub fn write(&self, out: &mut [u8]) {
        out[0..8].copy_from_slice(&self.send_us.to_be_bytes());
        out[8..12].copy_from_slice(&self.producer.to_be_bytes());
        out[12..16].copy_from_slice(&self.partition.to_be_bytes());
        out[16..24].copy_from_slice(&self.seq.to_be_bytes());
    }

    pub fn read(v: &[u8]) -> Option<Stamp> {
        if v.len() < STAMP_BYTES {
            return None;
        }
        let u64_at = |a: usize| u64::from_be_bytes(v[a..a + 8].try_into().unwrap_or([0; 8]));
        let u32_at = |a: usize| u32::from_be_bytes(v[a..a + 4].try_into().unwrap_or([0; 4]));
        Some(Stamp {
            send_us: u64_at(0),
            producer: u32_at(8),
            partition: u32_at(12),
            seq: u64_at(16),
        })
    }
}

/// A batch of `records` values of `value_bytes` each, and where each value starts.
#[derive(Debug, Clone)]
pub struct BatchTemplate {
    pub bytes: Vec<u8>,
    value_positions: Vec<usize>,
}

impl BatchTemplate {
    pub fn new(records: usize, value_bytes: usize) -> BatchTemplate {
        let value = vec![b'.'; value_bytes.max(STAMP_BYTES)];
        let values: Vec<&[u8]> = (0..records.max(1)).map(|_| value.as_slice()).collect();
        let bytes = batch::build(&values, 0);
        let value_positions = value_positions(&bytes);
        debug_assert_eq!(value_positions.len(), records.max(1));
        BatchTemplate {
            bytes,
            value_positions,
        }
    }

    pub fn records(&self) -> usize {
        self.value_positions.len()
    }

    /// Stamps record `i` of `batch` (a copy of this template's bytes, wherever it lives).
    pub fn stamp(&self, batch: &mut [u8], i: usize, stamp: &Stamp) {
        let at = self.value_positions[i];
        stamp.write(&mut batch[at..at + STAMP_BYTES]);
    }

    /// Marks the batch as an idempotent producer's, with the sequence of its first record.
    pub fn set_producer(batch: &mut [u8], producer_id: i64, epoch: i16, base_sequence: i32) {
        batch[43..51].copy_from_slice(&producer_id.to_be_bytes());
        batch[51..53].copy_from_slice(&epoch.to_be_bytes());
        batch[53..57].copy_from_slice(&base_sequence.to_be_bytes());
    }

    /// Sets the batch timestamps and recomputes the CRC, after the stamps are written.
    pub fn seal(batch: &mut [u8], timestamp_ms: i64) {
        batch[27..35].copy_from_slice(&timestamp_ms.to_be_bytes());
        batch[35..43].copy_from_slice(&timestamp_ms.to_be_bytes());
        let crc = batch::compute_crc(batch);
        batch[17..21].copy_from_slice(&crc.to_be_bytes());
    }
}

pub use batch::{read_varint as varint, record_values as values};

fn value_positions(batch: &[u8]) -> Vec<usize> {
    values(batch).into_iter().map(|(p, _)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamped_batches_stay_valid_and_read_back() {
        let t = BatchTemplate::new(50, 100);
        let mut b = t.bytes.clone();
        for i in 0..t.records() {
            t.stamp(
                &mut b,
                i,
                &Stamp {
                    send_us: 1000 + i as u64,
                    producer: 3,
                    partition: 7,
                    seq: i as u64,
                },
            );
        }
        BatchTemplate::seal(&mut b, 1234);
        let h = batch::validate(&b, usize::MAX).unwrap();
        assert_eq!((h.records_count, h.max_timestamp), (50, 1234));
        let vals = values(&b);
        assert_eq!(vals.len(), 50);
        for (i, (p, len)) in vals.iter().enumerate() {
            assert_eq!(*len, 100);
            let s = Stamp::read(&b[*p..]).unwrap();
            assert_eq!(
                (s.send_us, s.producer, s.partition, s.seq),
                (1000 + i as u64, 3, 7, i as u64)
            );
        }
    }
}
