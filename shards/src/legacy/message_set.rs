//! Message sets, Kafka's record formats before v2 (magic 0 and 1), converted at the edge: the
//! log stores only v2 batches. A produced set becomes one v2 batch (`unpack`, `to_batch`); the
//! v2 batches a fetch returns become messages of the magic the fetch version reads
//! (`from_batches`), uncompressed, as Kafka's down-conversion does.
//!
//! A message: offset i64, size i32, then crc u32 (CRC-32 of the rest), magic i8, attributes i8
//! (codec in the low 3 bits; bit 3 = LogAppendTime), timestamp i64 (magic 1 only), key and
//! value (i32 length, -1 for null). A compressed message's value is a whole inner message set.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::records::{Compression, Record, TimestampType};
use thiserror::Error;

use super::wire::{WireReader, WireWrite};
use crate::inflate::{decode_batch, inflate};
use crate::plain_batch::{self, PlainRecord};

/// Offset, size, crc, magic, attributes, key length, value length.
const MIN_ENTRY_BYTES: usize = 8 + 4 + 4 + 1 + 1 + 4 + 4;
const CODEC_MASK: i8 = 0x07;
const LOG_APPEND_TIME_BIT: i8 = 0x08;
/// Magic 0 has no timestamp: up-converted records carry Kafka's "no timestamp".
const NO_TIMESTAMP: i64 = -1;

#[derive(Debug, Error)]
pub enum MessageSetError {
    /// The bytes are not a message set (Kafka: CORRUPT_MESSAGE).
    #[error("message at byte {at}: {reason}")]
    Corrupt { at: usize, reason: String },
    /// Well-formed, but not allowed here (Kafka: INVALID_RECORD).
    #[error("{0}")]
    Invalid(String),
    /// A stored batch could not be read back for an old client.
    #[error("converting a stored batch: {0}")]
    Stored(String),
}

/// One message of an old-format set.
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyMessage {
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
}

/// The messages of a produced set, compressed wrappers opened, and the codec they came in.
#[derive(Debug)]
pub struct Unpacked {
    pub messages: Vec<LegacyMessage>,
    pub codec: Compression,
}

/// Reads a produced message set. Offsets are ignored: the log assigns them. A compressed
/// message may inflate to at most `max_inflated_bytes`.
pub fn unpack(set: Bytes, max_inflated_bytes: usize) -> Result<Unpacked, MessageSetError> {
    let mut unpacked = Unpacked {
        messages: Vec::new(),
        codec: Compression::None,
    };
    read_set(set, false, max_inflated_bytes, &mut unpacked)?;
    if unpacked.messages.is_empty() {
        return Err(MessageSetError::Invalid(
            "the message set holds no message".into(),
        ));
    }
    Ok(unpacked)
}

fn corrupt(at: usize, reason: impl Into<String>) -> MessageSetError {
    MessageSetError::Corrupt {
        at,
        reason: reason.into(),
    }
}

fn read_set(
    set: Bytes,
    inner: bool,
    max_inflated_bytes: usize,
    out: &mut Unpacked,
) -> Result<(), MessageSetError> {
    let total = set.len();
    let mut r = WireReader::new(set);
    while r.remaining() > 0 {
        let at = total - r.remaining();
        if r.remaining() < MIN_ENTRY_BYTES {
            return Err(corrupt(
                at,
                format!("{} bytes cannot hold a message", r.remaining()),
            ));
        }
        let _offset = r.i64("offset").map_err(|e| corrupt(at, e.to_string()))?;
        let size = r
            .i32("message size")
            .map_err(|e| corrupt(at, e.to_string()))?;
        let body = take(&mut r, size).map_err(|e| corrupt(at, e))?;
        read_message(body, inner, at, max_inflated_bytes, out)?;
    }
    Ok(())
}

fn take(r: &mut WireReader, size: i32) -> Result<Bytes, String> {
    let smallest = MIN_ENTRY_BYTES - 12;
    if size < smallest as i32 || size as usize > r.remaining() {
        return Err(format!(
            "size {size} is outside [{smallest}, {}]",
            r.remaining()
        ));
    }
    r.raw(size as usize).map_err(|e| e.to_string())
}

fn read_message(
    body: Bytes,
    inner: bool,
    at: usize,
    max_inflated_bytes: usize,
    out: &mut Unpacked,
) -> Result<(), MessageSetError> {
    let expected_crc = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
    let actual_crc = crc32fast::hash(&body[4..]);
    if expected_crc != actual_crc {
        return Err(corrupt(
            at,
            format!("CRC {actual_crc:#010x} does not match the stored {expected_crc:#010x}"),
        ));
    }
    let mut r = WireReader::new(body.slice(4..));
    let field = |e: super::wire::WireError| corrupt(at, e.to_string());
    let magic = r.i8("magic").map_err(field)?;
    if !(0..=1).contains(&magic) {
        return Err(MessageSetError::Invalid(format!(
            "magic {magic} in a request whose version carries only magic 0 and 1"
        )));
    }
    let attributes = r.i8("attributes").map_err(field)?;
    let timestamp = if magic == 1 {
        r.i64("timestamp").map_err(field)?
    } else {
        NO_TIMESTAMP
    };
    let key = r.nullable_bytes("key").map_err(field)?;
    let value = r.nullable_bytes("value").map_err(field)?;
    r.finish().map_err(field)?;
    let codec = match attributes & CODEC_MASK {
        0 => Compression::None,
        1 => Compression::Gzip,
        2 => Compression::Snappy,
        3 => Compression::Lz4,
        other => {
            return Err(MessageSetError::Invalid(format!(
                "compression codec {other} does not exist in message format v{magic}"
            )))
        }
    };
    if codec == Compression::None {
        out.messages.push(LegacyMessage {
            timestamp,
            key,
            value,
        });
        return Ok(());
    }
    if inner {
        return Err(MessageSetError::Invalid(
            "a compressed message inside a compressed message".into(),
        ));
    }
    let Some(mut compressed) = value else {
        return Err(corrupt(at, "a compressed message without a value"));
    };
    if codec == Compression::Lz4 && magic == 0 {
        compressed = mend_lz4_header_checksum(compressed);
    }
    let inner_set = inflate(&compressed, codec, max_inflated_bytes).map_err(|e| corrupt(at, e))?;
    out.codec = codec;
    read_set(inner_set, true, max_inflated_bytes, out)
}

/// Clients of message format v0 (Kafka 0.9's Java client, librdkafka as to 0.9) write LZ4 frames
/// whose header checksum also covers the frame's magic number (KAFKA-1493), which the LZ4
/// decoder refuses. The checksum is set again as the LZ4 frame format defines it: the second
/// byte of the xxHash-32 of the frame descriptor (flags, block descriptor, optional content
/// size and dictionary id). A frame too short to hold its descriptor is left for the decoder
/// to refuse.
fn mend_lz4_header_checksum(frame: Bytes) -> Bytes {
    const DESCRIPTOR_START: usize = 4;
    let Some(&flags) = frame.get(DESCRIPTOR_START) else {
        return frame;
    };
    let content_size = if flags & 0x08 != 0 { 8 } else { 0 };
    let dictionary_id = if flags & 0x01 != 0 { 4 } else { 0 };
    let checksum_at = DESCRIPTOR_START + 2 + content_size + dictionary_id;
    if frame.len() <= checksum_at {
        return frame;
    }
    let mut mended = BytesMut::from(&frame[..]);
    let hash = xxhash_rust::xxh32::xxh32(&frame[DESCRIPTOR_START..checksum_at], 0);
    mended[checksum_at] = (hash >> 8) as u8;
    mended.freeze()
}

/// One v2 batch holding the messages, in the codec they were sent in.
pub fn to_batch(unpacked: &Unpacked) -> Result<BytesMut, MessageSetError> {
    let records = unpacked.messages.iter().map(|m| PlainRecord {
        timestamp: m.timestamp,
        key: m.key.clone(),
        value: m.value.clone(),
    });
    plain_batch::encode(records, unpacked.codec)
        .map_err(|e| MessageSetError::Invalid(format!("building a v2 batch: {e}")))
}

/// The records of `batches` (v2, as stored; a partial batch at the end is left out) from
/// `fetch_offset` on, as uncompressed messages of `magic`, up to `max_bytes` but at least one
/// message so that the reader moves on. Control records and headers have no place in the old
/// formats and are left out, as Kafka does.
pub fn from_batches(
    batches: &[u8],
    magic: i8,
    fetch_offset: i64,
    max_bytes: usize,
    max_inflated_bytes: usize,
) -> Result<BytesMut, MessageSetError> {
    let mut out = BytesMut::new();
    let mut pos = 0;
    while let Some(size) = strata_record::batch::declared_size(&batches[pos..]) {
        let size = size as usize;
        if size > batches.len() - pos {
            break;
        }
        let mut one = Bytes::copy_from_slice(&batches[pos..pos + size]);
        pos += size;
        let set = decode_batch(&mut one, max_inflated_bytes)
            .map_err(|e| MessageSetError::Stored(format!("{e:#}")))?;
        for record in set.records.iter().filter(|r| !r.control) {
            if record.offset < fetch_offset {
                continue;
            }
            let message = encode_message(record, magic);
            if !out.is_empty() && out.len() + message.len() > max_bytes {
                return Ok(out);
            }
            out.extend_from_slice(&message);
        }
    }
    Ok(out)
}

fn encode_message(record: &Record, magic: i8) -> BytesMut {
    let mut body = BytesMut::new();
    body.put_i8(magic);
    if magic == 1 {
        let stamped = record.timestamp_type == TimestampType::LogAppend;
        body.put_i8(if stamped { LOG_APPEND_TIME_BIT } else { 0 });
        body.put_i64(record.timestamp);
    } else {
        body.put_i8(0);
    }
    body.nullable_bytes(record.key.as_deref());
    body.nullable_bytes(record.value.as_deref());
    let mut message = BytesMut::with_capacity(16 + body.len());
    message.put_i64(record.offset);
    message.put_i32(4 + body.len() as i32);
    message.put_u32(crc32fast::hash(&body));
    message.extend_from_slice(&body);
    message
}

#[cfg(test)]
mod tests;
