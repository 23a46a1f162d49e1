//! The disk model: a durable image plus a volatile write cache of 4 KiB blocks, like a drive's
//! cache. A flush writes the cache back; a power cut loses it, except a chosen share of its
//! blocks that "the drive had already written back", in no particular order (a real cache writes
//! back whenever it likes, so any subset of unflushed blocks may survive).

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

pub const BLOCK_BYTES: u64 = 4096;

/// Counters a test reports after a cut.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    pub flushes: u64,
    /// Blocks written back on their own because the cache was full.
    pub evicted_blocks: u64,
    /// Blocks the last cut threw away.
    pub dropped_blocks: u64,
    /// Blocks the last cut kept (written back before the power went).
    pub kept_blocks: u64,
    pub cuts: u64,
    /// Blocks lost over all cuts.
    pub dropped_blocks_total: u64,
}

pub struct WriteCache {
    image: File,
    size_bytes: u64,
    dirty: BTreeMap<u64, Box<[u8]>>,
    max_dirty_blocks: usize,
    powered: bool,
    stats: CacheStats,
}

impl WriteCache {
    /// `max_dirty_bytes` bounds the cache: past it, every dirty block is written back, as a
    /// drive does when its cache fills (legal: unflushed writes may reach the media any time).
    pub fn new(image: File, size_bytes: u64, max_dirty_bytes: u64) -> Self {
        Self {
            image,
            size_bytes,
            dirty: BTreeMap::new(),
            max_dirty_blocks: (max_dirty_bytes / BLOCK_BYTES).max(1) as usize,
            powered: true,
            stats: CacheStats::default(),
        }
    }

    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    pub fn powered(&self) -> bool {
        self.powered
    }

    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    pub fn read(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        self.check_powered()?;
        let end = (offset + len as u64).min(self.size_bytes);
        let mut out = Vec::with_capacity(end.saturating_sub(offset) as usize);
        let mut at = offset;
        while at < end {
            let block = at / BLOCK_BYTES;
            let within = (at % BLOCK_BYTES) as usize;
            let take = ((BLOCK_BYTES as usize - within) as u64).min(end - at) as usize;
            let data = self.block(block)?;
            out.extend_from_slice(&data[within..within + take]);
            at += take as u64;
        }
        Ok(out)
    }

    /// Writes into the cache.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> io::Result<usize> {
        self.check_powered()?;
        if offset + data.len() as u64 > self.size_bytes {
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        let mut done = 0usize;
        while done < data.len() {
            let at = offset + done as u64;
            let block = at / BLOCK_BYTES;
            let within = (at % BLOCK_BYTES) as usize;
            let take = (BLOCK_BYTES as usize - within).min(data.len() - done);
            let mut bytes = match self.dirty.remove(&block) {
                Some(bytes) => bytes,
                None => self.block(block)?,
            };
            bytes[within..within + take].copy_from_slice(&data[done..done + take]);
            self.dirty.insert(block, bytes);
            done += take;
        }
        if self.dirty.len() > self.max_dirty_blocks {
            self.stats.evicted_blocks += self.dirty.len() as u64;
            self.write_back_all()?;
        }
        Ok(data.len())
    }

    /// A flush: everything written so far is on the media when this returns.
    pub fn flush(&mut self) -> io::Result<()> {
        self.check_powered()?;
        self.stats.flushes += 1;
        self.write_back_all()
    }

    /// The power goes: each dirty block survives with probability `keep_share` (decided by
    /// `seed`), the rest are lost. Until `power_on` every request fails with EIO: with the power
    /// the computer went too, so nothing the program does after the cut may look successful (a
    /// flush that "succeeded" after the cut would let it acknowledge writes that are gone).
    pub fn cut_power(&mut self, keep_share: f64, seed: u64) -> io::Result<()> {
        let mut rng = SplitMix64(seed);
        let dirty = std::mem::take(&mut self.dirty);
        self.stats.dropped_blocks = 0;
        self.stats.kept_blocks = 0;
        for (block, bytes) in dirty {
            if rng.next_unit() < keep_share {
                self.image.write_all_at(&bytes, block * BLOCK_BYTES)?;
                self.stats.kept_blocks += 1;
            } else {
                self.stats.dropped_blocks += 1;
            }
        }
        self.stats.cuts += 1;
        self.stats.dropped_blocks_total += self.stats.dropped_blocks;
        self.powered = false;
        Ok(())
    }

    pub fn power_on(&mut self) {
        debug_assert!(self.dirty.is_empty());
        self.powered = true;
    }

    fn check_powered(&self) -> io::Result<()> {
        if self.powered {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(libc::EIO))
        }
    }

    fn write_back_all(&mut self) -> io::Result<()> {
        for (block, bytes) in std::mem::take(&mut self.dirty) {
            self.image.write_all_at(&bytes, block * BLOCK_BYTES)?;
        }
        Ok(())
    }

    fn block(&self, block: u64) -> io::Result<Box<[u8]>> {
        if let Some(bytes) = self.dirty.get(&block) {
            return Ok(bytes.clone());
        }
        let mut bytes = vec![0u8; BLOCK_BYTES as usize].into_boxed_slice();
        let mut filled = 0;
        // The image is sparse and may be shorter than the disk: past its end reads as zeros.
        while filled < bytes.len() {
            let n = self
                .image
                .read_at(&mut bytes[filled..], block * BLOCK_BYTES + filled as u64)?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        Ok(bytes)
    }
}

/// A small seeded generator, so that a cut is reproducible from the seed a test prints.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> (tempfile::TempDir, WriteCache) {
        let dir = tempfile::tempdir().unwrap();
        let image = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join("image"))
            .unwrap();
        (dir, WriteCache::new(image, 1 << 20, 1 << 16))
    }

    #[test]
    fn flushed_writes_survive_a_cut_and_unflushed_ones_do_not() {
        let (_dir, mut c) = cache();
        c.write(10, b"synced").unwrap();
        c.flush().unwrap();
        c.write(5000, b"lost").unwrap();
        c.write(12, b"XX").unwrap();
        c.cut_power(0.0, 1).unwrap();
        assert!(c.write(0, b"after the cut").is_err());
        assert!(c.flush().is_err());
        assert!(c.read(0, 1).is_err());
        c.power_on();
        assert_eq!(c.read(10, 6).unwrap(), b"synced");
        assert_eq!(c.read(5000, 4).unwrap(), vec![0; 4]);
        assert_eq!(c.read(0, 5).unwrap(), vec![0; 5]);
        assert_eq!(c.stats().dropped_blocks, 2);
    }

    #[test]
    fn reads_see_the_cache_before_a_flush_and_across_blocks() {
        let (_dir, mut c) = cache();
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        c.write(4000, &data).unwrap();
        assert_eq!(c.read(4000, data.len()).unwrap(), data);
        c.flush().unwrap();
        assert_eq!(c.read(4000, data.len()).unwrap(), data);
    }

    #[test]
    fn a_cut_keeps_about_the_share_asked_for() {
        let (_dir, mut c) = cache();
        for block in 0..15u64 {
            c.write(block * BLOCK_BYTES, &[1; 16]).unwrap();
        }
        c.cut_power(1.0, 3).unwrap();
        assert_eq!(c.stats().kept_blocks, 15);
        c.power_on();
        assert_eq!(c.read(14 * BLOCK_BYTES, 16).unwrap(), vec![1; 16]);
    }

    #[test]
    fn a_full_cache_writes_back_on_its_own() {
        let (_dir, mut c) = cache();
        for block in 0..17u64 {
            c.write(block * BLOCK_BYTES, &[2; 8]).unwrap();
        }
        c.cut_power(0.0, 1).unwrap();
        c.power_on();
        assert_eq!(c.read(0, 8).unwrap(), vec![2; 8]);
        assert_eq!(c.stats().evicted_blocks, 17);
    }

    #[test]
    fn writes_past_the_end_are_refused() {
        let (_dir, mut c) = cache();
        assert!(c.write((1 << 20) - 2, b"abc").is_err());
    }
}
