//! Deterministic batches for tests, benchmarks and the crash-test writer: the same (seed, n)
//! always gives the same bytes, so a reader can check every stored batch without a copy.

use bytes::BytesMut;

use crate::batch;

/// Batch number `n` of the stream `seed`: 1 to 5 records of 10 to ~3000 bytes whose values say
/// which stream, batch and record they are.
pub fn sample_batch(seed: u64, n: u64) -> BytesMut {
    let mix = splitmix(seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let records = 1 + (mix % 5) as usize;
    let value_len = 10 + ((mix >> 8) % 3000) as usize;
    batch_of(
        seed,
        n,
        records,
        value_len,
        (mix >> 20) as i64 & 0xffff_ffff,
    )
}

/// A batch of `records` values of `value_len` bytes, stamped `timestamp_ms`.
pub fn batch_of(
    seed: u64,
    n: u64,
    records: usize,
    value_len: usize,
    timestamp_ms: i64,
) -> BytesMut {
    let values: Vec<Vec<u8>> = (0..records)
        .map(|r| {
            let mut v = format!("{seed}:{n}:{r}:").into_bytes();
            v.resize(value_len.max(v.len()), b'a' + (n % 26) as u8);
            v
        })
        .collect();
    let refs: Vec<&[u8]> = values.iter().map(|v| v.as_slice()).collect();
    BytesMut::from(&batch::build(&refs, timestamp_ms)[..])
}

/// The batch bytes with the base offset cleared, to compare a stored batch with what was sent.
pub fn without_offset(b: &[u8]) -> Vec<u8> {
    let mut v = b.to_vec();
    v[..8].fill(0);
    v
}

/// A small, good-enough mixer for reproducible random choices (not for security).
pub fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
