//! Minimal requests, and full reads of their answers, for the versions kafka-protocol no longer
//! has (Produce v0-v2, Fetch v0-v3, ListOffsets v0, OffsetCommit v0-v1, CreateTopics v0-v1),
//! laid out here from Kafka's protocol guide, apart from the broker's own codec
//! (`strata_shards::legacy`).

#![allow(dead_code)]

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;

pub const TOPIC: &str = "walk-legacy";

fn put_str(b: &mut BytesMut, s: &str) {
    b.put_i16(s.len() as i16);
    b.put_slice(s.as_bytes());
}

fn get_str(b: &mut Bytes) -> String {
    let len = b.get_i16();
    assert!(len >= 0, "null string");
    String::from_utf8(b.split_to(len as usize).to_vec()).unwrap()
}

/// One uncompressed message of `magic` holding `value`.
pub fn message(magic: i8, value: &[u8]) -> BytesMut {
    message_with(magic, 0, value)
}

/// One message of `magic` and `attributes` (the codec in the low bits) holding `value`.
pub fn message_with(magic: i8, attributes: i8, value: &[u8]) -> BytesMut {
    let mut body = BytesMut::new();
    body.put_i8(magic);
    body.put_i8(attributes);
    if magic == 1 {
        body.put_i64(1_700_000_000_000);
    }
    body.put_i32(-1);
    body.put_i32(value.len() as i32);
    body.put_slice(value);
    let mut m = BytesMut::new();
    m.put_i64(0);
    m.put_i32(4 + body.len() as i32);
    m.put_u32(crc32fast::hash(&body));
    m.extend_from_slice(&body);
    m
}

/// A whole request frame: v1 header (key, version, correlation, client id), then `body`.
pub fn frame(api: ApiKey, version: i16, correlation: i32, body: &[u8]) -> BytesMut {
    let mut f = BytesMut::new();
    f.put_i32(0);
    f.put_i16(api as i16);
    f.put_i16(version);
    f.put_i32(correlation);
    put_str(&mut f, "walker");
    f.put_slice(body);
    let len = (f.len() - 4) as i32;
    f[..4].copy_from_slice(&len.to_be_bytes());
    f
}

/// A Produce v0-v2 body (acks=1) carrying `set` to partition 0 of TOPIC.
pub fn produce_body(set: &[u8]) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_i16(1);
    b.put_i32(5_000);
    b.put_i32(1);
    put_str(&mut b, TOPIC);
    b.put_i32(1);
    b.put_i32(0);
    b.put_i32(set.len() as i32);
    b.put_slice(set);
    b
}

/// A Fetch v0-v3 body reading partition 0 of `topic` from offset 0, without waiting.
pub fn fetch_body(version: i16, topic: &str) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_i32(-1);
    b.put_i32(0);
    b.put_i32(0);
    if version >= 3 {
        b.put_i32(1 << 20);
    }
    b.put_i32(1);
    put_str(&mut b, topic);
    b.put_i32(1);
    b.put_i32(0);
    b.put_i64(0);
    b.put_i32(1 << 20);
    b
}

/// The body of a minimal valid request for an old version, or None if `api` has no old version
/// here.
pub fn minimal(api: ApiKey, version: i16) -> Option<BytesMut> {
    let mut b = BytesMut::new();
    match api {
        ApiKey::Produce => {
            let set = message(if version >= 2 { 1 } else { 0 }, b"walked");
            return Some(produce_body(&set));
        }
        ApiKey::Fetch => return Some(fetch_body(version, TOPIC)),
        ApiKey::ListOffsets => {
            b.put_i32(-1);
            b.put_i32(1);
            put_str(&mut b, TOPIC);
            b.put_i32(1);
            b.put_i32(0);
            b.put_i64(-1);
            b.put_i32(1);
        }
        ApiKey::OffsetCommit => {
            put_str(&mut b, "walk-legacy-group");
            if version >= 1 {
                b.put_i32(-1);
                put_str(&mut b, "");
            }
            b.put_i32(1);
            put_str(&mut b, TOPIC);
            b.put_i32(1);
            b.put_i32(0);
            b.put_i64(1);
            if version >= 1 {
                b.put_i64(-1);
            }
            put_str(&mut b, "walked");
        }
        ApiKey::CreateTopics => {
            b.put_i32(1);
            put_str(&mut b, &format!("walk-legacy-created-v{version}"));
            b.put_i32(1);
            b.put_i16(1);
            b.put_i32(0);
            b.put_i32(0);
            b.put_i32(5_000);
            if version >= 1 {
                b.put_i8(0);
            }
        }
        _ => return None,
    }
    Some(b)
}

/// Reads the whole answer (after its correlation id) and returns each partition's (or topic's)
/// error code. Fetch answers also have their records read as messages of the version's magic.
pub fn read_answer(api: ApiKey, version: i16, mut b: Bytes) -> Vec<i16> {
    let mut codes = Vec::new();
    if api == ApiKey::Fetch && version >= 1 {
        b.get_i32();
    }
    for _ in 0..b.get_i32() {
        get_str(&mut b);
        if api == ApiKey::CreateTopics {
            codes.push(b.get_i16());
            if version >= 1 {
                let len = b.get_i16();
                b.advance(len.max(0) as usize);
            }
            continue;
        }
        for _ in 0..b.get_i32() {
            b.get_i32();
            codes.push(b.get_i16());
            match api {
                ApiKey::Produce => {
                    let ok = codes.last() == Some(&0);
                    assert_eq!(b.get_i64() >= 0, ok, "a base offset when accepted, else -1");
                    if version >= 2 {
                        b.get_i64();
                    }
                }
                ApiKey::Fetch => {
                    assert!(b.get_i64() >= 1, "a high watermark");
                    let len = b.get_i32();
                    let records = b.split_to(len as usize);
                    let magic = if version >= 2 { 1 } else { 0 };
                    let expected = usize::from(codes.last() == Some(&0));
                    assert!(read_messages(records, magic) >= expected, "records");
                }
                ApiKey::ListOffsets => {
                    assert_eq!(b.get_i32(), 1, "one offset");
                    assert!(b.get_i64() >= 1, "the latest offset");
                }
                _ => {}
            }
        }
    }
    if api == ApiKey::Produce && version >= 1 {
        b.get_i32();
    }
    assert!(!b.has_remaining(), "{} bytes left over", b.remaining());
    codes
}

/// Counts the messages of a set, checking each one's CRC and magic.
fn read_messages(mut set: Bytes, magic: i8) -> usize {
    let mut n = 0;
    while set.has_remaining() {
        set.get_i64();
        let size = set.get_i32() as usize;
        let mut m = set.split_to(size);
        let crc = m.get_u32();
        assert_eq!(crc, crc32fast::hash(&m), "message CRC");
        assert_eq!(m.get_i8(), magic);
        n += 1;
    }
    n
}
