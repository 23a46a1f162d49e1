//! Kafka record batches, magic v2: the unit the engine stores.
//!
//! Layout (big-endian), as in Kafka's `DefaultRecordBatch`:
//! `baseOffset i64 | batchLength i32 | partitionLeaderEpoch i32 | magic i8 | crc u32 |
//!  attributes i16 | lastOffsetDelta i32 | firstTimestamp i64 | maxTimestamp i64 |
//!  producerId i64 | producerEpoch i16 | baseSequence i32 | recordsCount i32 | records...`
//! `batchLength` counts the bytes after itself; the CRC32C covers `attributes` to the end, so the
//! leader may rewrite `baseOffset` (and the leader epoch) without touching the CRC.

use thiserror::Error;

/// Bytes before the records: the fixed header of a v2 batch.
pub const HEADER_LEN: usize = 61;
/// `baseOffset` and `batchLength`: the part of the header not counted by `batchLength`.
pub const LOG_OVERHEAD: usize = 12;

const BATCH_LENGTH_AT: usize = 8;
const LEADER_EPOCH_AT: usize = 12;
const MAGIC_AT: usize = 16;
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const LAST_OFFSET_DELTA_AT: usize = 23;
const FIRST_TIMESTAMP_AT: usize = 27;
const MAX_TIMESTAMP_AT: usize = 35;
const PRODUCER_ID_AT: usize = 43;
const PRODUCER_EPOCH_AT: usize = 51;
const BASE_SEQUENCE_AT: usize = 53;
const RECORDS_COUNT_AT: usize = 57;

/// Why a batch was refused. Positions are relative to the start of the batch.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BatchError {
    #[error("batch is {len} bytes, shorter than the {HEADER_LEN}-byte v2 header")]
    TooShort { len: usize },
    #[error("batch length field says {declared} bytes but {available} bytes are present")]
    LengthMismatch { declared: i64, available: usize },
    #[error("batch of {len} bytes is over the limit of {limit} bytes")]
    TooLarge { len: usize, limit: usize },
    #[error("magic byte is {0}, only v2 record batches (magic 2) are stored")]
    BadMagic(i8),
    #[error("CRC32C mismatch: header says {stored:#010x}, bytes give {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    #[error("batch declares {0} records; a batch must hold at least one")]
    NoRecords(i32),
    #[error("last offset delta {last_offset_delta} does not match {records} records")]
    OffsetDeltaMismatch {
        last_offset_delta: i32,
        records: i32,
    },
}

/// The header fields of a v2 batch, read without copying the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    /// Whole size of the batch in bytes, header included.
    pub size_bytes: usize,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub first_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

impl BatchHeader {
    /// Offset of the batch's last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// Offset after the batch's last record.
    pub fn next_offset(&self) -> i64 {
        self.last_offset() + 1
    }

    /// Compression codec bits of the attributes (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    pub fn compression(&self) -> i16 {
        self.attributes & 0x7
    }
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// The whole size (header included) that the batch starting at `buf` declares, if its first
/// twelve bytes are present. The value is untrusted: callers bound it before using it.
pub fn declared_size(buf: &[u8]) -> Option<i64> {
    if buf.len() < LOG_OVERHEAD {
        return None;
    }
    Some(i64::from(be_i32(buf, BATCH_LENGTH_AT)) + LOG_OVERHEAD as i64)
}

/// The only record-batch format stored.
pub const MAGIC: i8 = 2;

/// The base offset and magic byte of the batch starting at `buf`, if that much of it is present:
/// enough to tell whether a position is the start of the batch an index entry names.
pub fn parse_header_fields(buf: &[u8]) -> Option<(i64, i8)> {
    (buf.len() > MAGIC_AT).then(|| (be_i64(buf, 0), buf[MAGIC_AT] as i8))
}

/// Reads the header of the batch at the start of `buf` and checks that the whole batch is
/// present and no larger than `max_batch_bytes`. Does not check the CRC.
pub fn parse_header(buf: &[u8], max_batch_bytes: usize) -> Result<BatchHeader, BatchError> {
    if buf.len() < HEADER_LEN {
        return Err(BatchError::TooShort { len: buf.len() });
    }
    let declared = declared_size(buf).unwrap_or(0);
    if declared < HEADER_LEN as i64 {
        return Err(BatchError::LengthMismatch {
            declared,
            available: buf.len(),
        });
    }
    if declared as u64 > max_batch_bytes as u64 {
        return Err(BatchError::TooLarge {
            len: declared as usize,
            limit: max_batch_bytes,
        });
    }
    if declared > buf.len() as i64 {
        return Err(BatchError::LengthMismatch {
            declared,
            available: buf.len(),
        });
    }
    Ok(BatchHeader {
        base_offset: be_i64(buf, 0),
        size_bytes: declared as usize,
        partition_leader_epoch: be_i32(buf, LEADER_EPOCH_AT),
        magic: buf[MAGIC_AT] as i8,
        crc: be_u32(buf, CRC_AT),
        attributes: be_i16(buf, ATTRIBUTES_AT),
        last_offset_delta: be_i32(buf, LAST_OFFSET_DELTA_AT),
        first_timestamp: be_i64(buf, FIRST_TIMESTAMP_AT),
        max_timestamp: be_i64(buf, MAX_TIMESTAMP_AT),
        producer_id: be_i64(buf, PRODUCER_ID_AT),
        producer_epoch: be_i16(buf, PRODUCER_EPOCH_AT),
        base_sequence: be_i32(buf, BASE_SEQUENCE_AT),
        records_count: be_i32(buf, RECORDS_COUNT_AT),
    })
}

/// The CRC32C that the batch at the start of `batch` should carry (over attributes..end).
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[ATTRIBUTES_AT..])
}

/// Fully validates the batch at the start of `buf`: header, length, magic, CRC, record count and
/// offset delta. Returns its header; the batch is `buf[..header.size_bytes]`.
pub fn validate(buf: &[u8], max_batch_bytes: usize) -> Result<BatchHeader, BatchError> {
    let header = parse_header(buf, max_batch_bytes)?;
    if header.magic != MAGIC {
        return Err(BatchError::BadMagic(header.magic));
    }
    let computed = compute_crc(&buf[..header.size_bytes]);
    if computed != header.crc {
        return Err(BatchError::CrcMismatch {
            stored: header.crc,
            computed,
        });
    }
    if header.records_count <= 0 {
        return Err(BatchError::NoRecords(header.records_count));
    }
    if i64::from(header.last_offset_delta) != i64::from(header.records_count) - 1 {
        return Err(BatchError::OffsetDeltaMismatch {
            last_offset_delta: header.last_offset_delta,
            records: header.records_count,
        });
    }
    Ok(header)
}

/// Attribute bit saying the broker set the batch's timestamp at append (LogAppendTime).
pub const LOG_APPEND_TIME_FLAG: i16 = 0x8;

/// Stamps the batch with the broker's append time, as Kafka does for topics with
/// `message.timestamp.type=LogAppendTime`: the timestamp-type bit is set, the max timestamp
/// becomes `now_ms` (readers give every record that time), and the CRC is computed again.
pub fn set_log_append_time(batch: &mut [u8], now_ms: i64) {
    let attributes = be_i16(batch, ATTRIBUTES_AT) | LOG_APPEND_TIME_FLAG;
    batch[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
    batch[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&now_ms.to_be_bytes());
    let crc = compute_crc(batch);
    batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Sets the batch's base offset; the CRC does not cover it, so the batch stays valid.
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[..8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Sets a batch's partition leader epoch (outside the CRC, like the base offset).
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    batch[LEADER_EPOCH_AT..LEADER_EPOCH_AT + 4].copy_from_slice(&epoch.to_be_bytes());
}

/// Builds a valid v2 batch of `records` uncompressed records with the given values, timestamps
/// `timestamp_ms` and base offset 0. For tests, benchmarks and tools; the broker stores what
/// clients send and never builds batches itself.
pub fn build(values: &[&[u8]], timestamp_ms: i64) -> Vec<u8> {
    let mut records = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let mut body = Vec::with_capacity(value.len() + 16);
        body.push(0); // record attributes
        put_varint(&mut body, 0); // timestamp delta
        put_varint(&mut body, i as i64); // offset delta
        put_varint(&mut body, -1); // key: null
        put_varint(&mut body, value.len() as i64);
        body.extend_from_slice(value);
        put_varint(&mut body, 0); // headers
        put_varint(&mut records, body.len() as i64);
        records.extend_from_slice(&body);
    }
    let count = values.len() as i32;
    let mut batch = Vec::with_capacity(HEADER_LEN + records.len());
    batch.extend_from_slice(&0i64.to_be_bytes());
    batch.extend_from_slice(&((HEADER_LEN - LOG_OVERHEAD + records.len()) as i32).to_be_bytes());
    batch.extend_from_slice(&0i32.to_be_bytes()); // partition leader epoch
    batch.push(2);
    batch.extend_from_slice(&0u32.to_be_bytes()); // crc, filled below
    batch.extend_from_slice(&0i16.to_be_bytes());
    batch.extend_from_slice(&(count - 1).to_be_bytes());
    batch.extend_from_slice(&timestamp_ms.to_be_bytes());
    batch.extend_from_slice(&timestamp_ms.to_be_bytes());
    batch.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    batch.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    batch.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    batch.extend_from_slice(&count.to_be_bytes());
    batch.extend_from_slice(&records);
    let crc = compute_crc(&batch);
    batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    batch
}

/// Reads a zigzag varint at `at`: (value, bytes read).
pub fn read_varint(b: &[u8], at: usize) -> Option<(i64, usize)> {
    let mut v: u64 = 0;
    for i in 0..10 {
        let byte = *b.get(at + i)?;
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((((v >> 1) as i64) ^ -((v & 1) as i64), i + 1));
        }
    }
    None
}

/// (start, length) of every record value in an uncompressed v2 batch, in order; stops at the
/// first record that does not parse. Null values are left out.
pub fn record_values(batch: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = HEADER_LEN;
    while at < batch.len() {
        let Some((len, n)) = read_varint(batch, at) else {
            break;
        };
        let end = at + n + len.max(0) as usize;
        let mut p = at + n + 1; // after the record's attributes byte
        let next = |p: &mut usize| -> Option<i64> {
            let (v, n) = read_varint(batch, *p)?;
            *p += n;
            Some(v)
        };
        let parsed = (|| {
            next(&mut p)?; // timestamp delta
            next(&mut p)?; // offset delta
            let key = next(&mut p)?;
            if key > 0 {
                p += key as usize;
            }
            next(&mut p)
        })();
        match parsed {
            Some(vlen) if vlen >= 0 && p + vlen as usize <= end && end <= batch.len() => {
                out.push((p, vlen as usize))
            }
            Some(-1) if end <= batch.len() => {}
            _ => break,
        }
        at = end;
    }
    out
}

fn put_varint(out: &mut Vec<u8>, value: i64) {
    let mut v = ((value << 1) ^ (value >> 63)) as u64;
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_batch_validates_and_offset_rewrite_keeps_crc() {
        let mut b = build(&[b"a", b"bc", b"def"], 1_000);
        let h = validate(&b, 1 << 20).unwrap();
        assert_eq!(h.records_count, 3);
        assert_eq!(h.size_bytes, b.len());
        set_base_offset(&mut b, 42);
        let h = validate(&b, 1 << 20).unwrap();
        assert_eq!((h.base_offset, h.last_offset()), (42, 44));
    }

    #[test]
    fn bad_batches_are_refused_with_a_reason() {
        let good = build(&[b"x"], 5);
        let mut bad_crc = good.clone();
        *bad_crc.last_mut().unwrap() ^= 1;
        assert!(matches!(
            validate(&bad_crc, 1 << 20),
            Err(BatchError::CrcMismatch { .. })
        ));
        let mut bad_magic = good.clone();
        bad_magic[MAGIC_AT] = 1;
        assert_eq!(validate(&bad_magic, 1 << 20), Err(BatchError::BadMagic(1)));
        assert!(matches!(
            validate(&good[..40], 1 << 20),
            Err(BatchError::TooShort { .. })
        ));
        assert!(matches!(
            validate(&good[..good.len() - 1], 1 << 20),
            Err(BatchError::LengthMismatch { .. })
        ));
        assert!(matches!(
            validate(&good, 16),
            Err(BatchError::TooLarge { .. })
        ));
        let mut absurd = good.clone();
        absurd[BATCH_LENGTH_AT..BATCH_LENGTH_AT + 4].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(matches!(
            validate(&absurd, 1 << 20),
            Err(BatchError::TooLarge { .. })
        ));
        absurd[BATCH_LENGTH_AT..BATCH_LENGTH_AT + 4].copy_from_slice(&(-5i32).to_be_bytes());
        assert!(matches!(
            validate(&absurd, 1 << 20),
            Err(BatchError::LengthMismatch { .. })
        ));
    }

    #[test]
    fn zero_records_and_inconsistent_delta_are_refused() {
        let mut zero = build(&[b"x"], 5);
        zero[RECORDS_COUNT_AT..RECORDS_COUNT_AT + 4].copy_from_slice(&0i32.to_be_bytes());
        let crc = compute_crc(&zero);
        zero[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(validate(&zero, 1 << 20), Err(BatchError::NoRecords(0)));

        let mut delta = build(&[b"x", b"y"], 5);
        delta[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4].copy_from_slice(&7i32.to_be_bytes());
        let crc = compute_crc(&delta);
        delta[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        assert!(matches!(
            validate(&delta, 1 << 20),
            Err(BatchError::OffsetDeltaMismatch { .. })
        ));
    }
}
