//! The tail-block guard: where a segment's partially filled last block lives on disk.
//!
//! O_DIRECT writes whole blocks, so a naive log rewrites its last block in place on every
//! flush; a crash during that rewrite can tear bytes that were already reported durable. We never
//! do that. The segment file only ever receives whole blocks, each written once. The partial last
//! block goes to one of four slots of a small `.tail` file beside the segment, and a flush
//! writes neither the slot holding the newest synced image, nor the one holding the newest
//! written image, nor the one an fdatasync running meanwhile is making durable (flushes go on
//! while a sync runs: the fourth slot). So whatever a crash tears, the newest synced image survives (acks=all), and so
//! does the newest image whose write completed (acks=1): a flush writes its full blocks and its
//! new image at once, and a crash may keep the image and lose the blocks, whose bytes the
//! previous image still holds. Recovery lays the valid slot images over the segment file (bytes
//! at a position of the log never change, so laying an older image is harmless).
//!
//! Slot layout, `SLOT_BYTES` each: magic u32 | crc32c u32 (of all that follows, data included) |
//! seq u64 | segment base offset i64 | block position u64 | data length u32 | 0 u32 | data.

use strata_runtime::{BlockBuf, DirectFile, BLOCK_BYTES};

pub const SLOT_BYTES: u64 = 2 * BLOCK_BYTES;
/// Slots in a `.tail` file (files from before the fourth slot have two or three; all decode).
pub const SLOTS: u64 = 4;
const MAGIC: u32 = 0x5354_544c; // "STTL"
const HEADER_BYTES: usize = 40;

/// A valid slot read back from disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotImage {
    pub seq: u64,
    pub block_position: u64,
    pub data: Vec<u8>,
}

/// Which slot to write next, and the sequence numbers that order images.
#[derive(Debug, Clone)]
pub struct TailSlots {
    next_seq: u64,
    /// Slot holding the newest image known to be synced; flushes write the other one.
    durable_slot: u64,
    /// Slot of the newest image written (synced or not).
    last_written_slot: u64,
    /// Slot of the image a running fdatasync makes durable (the newest written when it began).
    syncing_slot: Option<u64>,
}

impl TailSlots {
    pub fn new(next_seq: u64) -> Self {
        TailSlots {
            next_seq,
            durable_slot: 1,
            last_written_slot: 1,
            syncing_slot: None,
        }
    }

    /// Prepares the image of the partial block at `block_position`: the file position and the
    /// aligned buffer to write there.
    pub fn prepare(
        &mut self,
        file: &DirectFile,
        segment_base: i64,
        block_position: u64,
        data: &[&[u8]],
    ) -> (u64, BlockBuf) {
        debug_assert!(data.iter().map(|d| d.len()).sum::<usize>() < BLOCK_BYTES as usize);
        let slot = self.next_slot();
        let seq = self.next_seq;
        self.next_seq += 1;
        self.last_written_slot = slot;
        let header = encode_header(seq, segment_base, block_position, data);
        let mut parts = Vec::with_capacity(data.len() + 1);
        parts.push(&header[..]);
        parts.extend_from_slice(data);
        (slot * SLOT_BYTES, file.block_buf(&parts))
    }

    /// The first slot after the newest written one that holds neither the newest synced image,
    /// nor the newest written one, nor the one being synced. At most three are kept, of four.
    fn next_slot(&self) -> u64 {
        (1..=SLOTS)
            .map(|i| (self.last_written_slot + i) % SLOTS)
            .find(|&s| {
                s != self.durable_slot
                    && s != self.last_written_slot
                    && Some(s) != self.syncing_slot
            })
            .expect("four slots, at most three kept")
    }

    /// Records that everything written so far is synced.
    pub fn mark_synced(&mut self) {
        self.durable_slot = self.last_written_slot;
    }

    /// An fdatasync begins: the newest image written so far is the one it makes durable, and
    /// no flush may write its slot until it ends. Returns that slot, for `end_sync`.
    pub fn begin_sync(&mut self) -> u64 {
        debug_assert!(self.syncing_slot.is_none(), "one sync at a time");
        self.syncing_slot = Some(self.last_written_slot);
        self.last_written_slot
    }

    /// The fdatasync begun with `begin_sync` ended: its image is the newest synced one if it
    /// succeeded.
    pub fn end_sync(&mut self, slot: u64, synced: bool) {
        if synced {
            self.durable_slot = slot;
        }
        self.syncing_slot = None;
    }

    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
}

fn encode_header(
    seq: u64,
    segment_base: i64,
    block_position: u64,
    data: &[&[u8]],
) -> [u8; HEADER_BYTES] {
    let len: usize = data.iter().map(|d| d.len()).sum();
    let mut h = [0u8; HEADER_BYTES];
    h[0..4].copy_from_slice(&MAGIC.to_be_bytes());
    h[8..16].copy_from_slice(&seq.to_be_bytes());
    h[16..24].copy_from_slice(&segment_base.to_be_bytes());
    h[24..32].copy_from_slice(&block_position.to_be_bytes());
    h[32..36].copy_from_slice(&(len as u32).to_be_bytes());
    let crc = data.iter().fold(crc32c::crc32c(&h[8..]), |crc, d| {
        crc32c::crc32c_append(crc, d)
    });
    h[4..8].copy_from_slice(&crc.to_be_bytes());
    h
}

/// Decodes the valid images in a `.tail` file's bytes for the segment at `segment_base`,
/// oldest first. Torn, foreign or empty slots are skipped.
pub fn decode(bytes: &[u8], segment_base: i64) -> Vec<SlotImage> {
    let mut images: Vec<SlotImage> = bytes
        .chunks(SLOT_BYTES as usize)
        .filter_map(|slot| decode_slot(slot, segment_base))
        .collect();
    images.sort_by_key(|i| i.seq);
    images
}

fn decode_slot(slot: &[u8], segment_base: i64) -> Option<SlotImage> {
    if slot.len() < HEADER_BYTES {
        return None;
    }
    let u32_at =
        |at: usize| u32::from_be_bytes([slot[at], slot[at + 1], slot[at + 2], slot[at + 3]]);
    let u64_at = |at: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&slot[at..at + 8]);
        u64::from_be_bytes(a)
    };
    if u32_at(0) != MAGIC {
        return None;
    }
    let len = u32_at(32) as usize;
    if len >= BLOCK_BYTES as usize || HEADER_BYTES + len > slot.len() {
        return None;
    }
    let data = &slot[HEADER_BYTES..HEADER_BYTES + len];
    let crc = crc32c::crc32c_append(crc32c::crc32c(&slot[8..HEADER_BYTES]), data);
    if crc != u32_at(4) || u64_at(16) as i64 != segment_base {
        return None;
    }
    let block_position = u64_at(24);
    if block_position % BLOCK_BYTES != 0 {
        return None;
    }
    Some(SlotImage {
        seq: u64_at(8),
        block_position,
        data: data.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flushes_during_a_sync_never_write_a_kept_slot_and_use_every_slot() {
        let mut s = TailSlots::new(1);
        let mut seen = std::collections::BTreeSet::new();
        let mut syncing = None;
        for step in 0..500u64 {
            let r = strata_record::testkit::splitmix(step);
            match r % 4 {
                0 if syncing.is_none() => syncing = Some(s.begin_sync()),
                1 => {
                    if let Some(slot) = syncing.take() {
                        s.end_sync(slot, r % 16 != 1);
                    }
                }
                _ => {
                    let kept = (s.durable_slot, s.last_written_slot, s.syncing_slot);
                    let slot = s.next_slot();
                    assert!(
                        slot != kept.0 && slot != kept.1 && Some(slot) != kept.2,
                        "step {step}: wrote {slot} of kept {kept:?}"
                    );
                    s.last_written_slot = slot;
                    seen.insert(slot);
                }
            }
        }
        assert_eq!(seen.len(), SLOTS as usize);
    }

    #[test]
    fn a_flush_never_writes_the_newest_synced_or_the_newest_written_slot() {
        let mut s = TailSlots::new(1);
        let mut seen = std::collections::BTreeSet::new();
        for step in 0..50u64 {
            let (durable, last) = (s.durable_slot, s.last_written_slot);
            let slot = s.next_slot();
            assert!(slot != durable && slot != last, "step {step}: {slot}");
            s.last_written_slot = slot;
            seen.insert(slot);
            if step % 7 == 3 {
                s.mark_synced();
            }
        }
        assert_eq!(seen.len(), SLOTS as usize);
    }

    #[test]
    fn header_round_trips_and_rejects_torn_bytes() {
        let data = vec![7u8; 1000];
        let h = encode_header(9, 100, 8192, &[&data[..400], &data[400..]]);
        let mut slot = h.to_vec();
        slot.extend_from_slice(&data);
        slot.resize(SLOT_BYTES as usize, 0);
        let img = decode_slot(&slot, 100).unwrap();
        assert_eq!(
            (img.seq, img.block_position, img.data.len()),
            (9, 8192, 1000)
        );
        assert!(decode_slot(&slot, 101).is_none(), "foreign segment");
        for at in [0usize, 5, 12, 30, 40, 500, 1039] {
            let mut torn = slot.clone();
            torn[at] ^= 0x40;
            assert!(decode_slot(&torn, 100).is_none(), "flip at {at} accepted");
        }
    }
}
