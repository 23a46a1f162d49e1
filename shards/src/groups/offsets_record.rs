//! Kafka's records of committed offsets in `__consumer_offsets`, byte for byte, so that Kafka's
//! own tools (and anything that reads that topic) understand ours: key `OffsetCommitKey`
//! (record type 1: group, topic, partition) and value `OffsetCommitValue` version 3 (offset,
//! leader epoch, metadata, commit time). A null value deletes the key (a tombstone). A group's
//! membership is key `GroupMetadataKey` (type 2: group) and value `GroupMetadataValue` version 3
//! (versions 0-3 read), so that a new coordinator carries on with the group's generation and
//! members. Records of other types (KIP-848's, 3 and up) are recognised and skipped.
//!
//! kafka-protocol has no codec for these coordinator records (they are not wire messages), so
//! the few fields are written here, after Kafka's `OffsetCommitKey.json`/`OffsetCommitValue.json`.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;

use super::offsets::{Committed, OffsetKey};

/// The key's first field: which record this is.
const OFFSET_COMMIT_TYPE: i16 = 1;
/// Kafka's older key type for the same record.
const OFFSET_COMMIT_TYPE_V0: i16 = 0;
/// The value version written: the last one older Kafka readers also understand.
const VALUE_VERSION: i16 = 3;
/// The key type of a group's membership.
const GROUP_METADATA_TYPE: i16 = 2;
/// The group value version written (the last before flexible versions).
const GROUP_VALUE_VERSION: i16 = 3;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RecordError {
    #[error("the record ends before its {0}")]
    Short(&'static str),
    #[error("a string is not UTF-8")]
    NotUtf8,
    #[error("offset commit value version {0} is not one Kafka defines (0-4)")]
    UnknownValueVersion(i16),
    #[error("the record has no key")]
    NoKey,
    #[error("group metadata value version {0} is not one read here (0-3)")]
    UnknownGroupValueVersion(i16),
    #[error("a negative length")]
    NegativeLength,
}

/// A group's membership as written to the offsets topic: what a new coordinator needs to go on
/// with the group's generation (Kafka's GroupMetadataValue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredGroup {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub members: Vec<StoredMember>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    /// Its metadata for the group's protocol.
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// What one record of the offsets topic says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffsetRecord {
    /// A commit, or (None) the deletion of the key's offset.
    Commit(OffsetKey, Option<Committed>),
    /// A group's membership, or (None) the group's deletion.
    Group(String, Option<StoredGroup>),
    /// A record of another type, not ours to read.
    Other(i16),
}

pub fn group_key_bytes(group: &str) -> Bytes {
    let mut b = BytesMut::with_capacity(4 + group.len());
    b.put_i16(GROUP_METADATA_TYPE);
    put_string(&mut b, group);
    b.freeze()
}

pub fn group_value_bytes(g: &StoredGroup, now_ms: i64) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(GROUP_VALUE_VERSION);
    put_string(&mut b, &g.protocol_type);
    b.put_i32(g.generation);
    put_nullable_string(&mut b, g.protocol.as_deref());
    put_nullable_string(&mut b, g.leader.as_deref());
    b.put_i64(now_ms);
    b.put_i32(g.members.len() as i32);
    for m in &g.members {
        put_string(&mut b, &m.member_id);
        put_nullable_string(&mut b, m.instance_id.as_deref());
        put_string(&mut b, &m.client_id);
        put_string(&mut b, &m.client_host);
        b.put_i32(m.rebalance_timeout_ms);
        b.put_i32(m.session_timeout_ms);
        b.put_i32(m.subscription.len() as i32);
        b.put_slice(&m.subscription);
        b.put_i32(m.assignment.len() as i32);
        b.put_slice(&m.assignment);
    }
    b.freeze()
}

fn decode_group(mut v: &[u8]) -> Result<StoredGroup, RecordError> {
    let version = get_i16(&mut v, "group value version")?;
    if !(0..=3).contains(&version) {
        return Err(RecordError::UnknownGroupValueVersion(version));
    }
    let protocol_type = get_string(&mut v, "protocol type")?;
    let generation = get_i32(&mut v, "generation")?;
    let protocol = get_nullable_string(&mut v, "protocol")?;
    let leader = get_nullable_string(&mut v, "leader")?;
    if version >= 2 {
        get_i64(&mut v, "state timestamp")?;
    }
    let count = get_i32(&mut v, "member count")?;
    let mut members = Vec::new();
    for _ in 0..count.max(0) {
        let member_id = get_string(&mut v, "member id")?;
        let instance_id = if version >= 3 {
            get_nullable_string(&mut v, "instance id")?
        } else {
            None
        };
        let client_id = get_string(&mut v, "client id")?;
        let client_host = get_string(&mut v, "client host")?;
        let rebalance_timeout_ms = if version >= 1 {
            get_i32(&mut v, "rebalance timeout")?
        } else {
            -1
        };
        let session_timeout_ms = get_i32(&mut v, "session timeout")?;
        let subscription = get_bytes(&mut v, "subscription")?;
        let assignment = get_bytes(&mut v, "assignment")?;
        let rebalance_timeout_ms = if rebalance_timeout_ms < 0 {
            session_timeout_ms
        } else {
            rebalance_timeout_ms
        };
        members.push(StoredMember {
            member_id,
            instance_id,
            client_id,
            client_host,
            rebalance_timeout_ms,
            session_timeout_ms,
            subscription,
            assignment,
        });
    }
    Ok(StoredGroup {
        protocol_type,
        generation,
        protocol,
        leader,
        members,
    })
}

pub fn key_bytes(key: &OffsetKey) -> Bytes {
    let (group, topic, partition) = key;
    let mut b = BytesMut::with_capacity(10 + group.len() + topic.len());
    b.put_i16(OFFSET_COMMIT_TYPE);
    put_string(&mut b, group);
    put_string(&mut b, topic);
    b.put_i32(*partition);
    b.freeze()
}

pub fn value_bytes(c: &Committed, commit_time_ms: i64) -> Bytes {
    let metadata = c.metadata.as_deref().unwrap_or("");
    let mut b = BytesMut::with_capacity(26 + metadata.len());
    b.put_i16(VALUE_VERSION);
    b.put_i64(c.offset);
    b.put_i32(c.leader_epoch);
    put_string(&mut b, metadata);
    b.put_i64(commit_time_ms);
    b.freeze()
}

/// Reads one record's key and value (None: a tombstone).
pub fn decode(key: Option<&[u8]>, value: Option<&[u8]>) -> Result<OffsetRecord, RecordError> {
    let mut k = key.ok_or(RecordError::NoKey)?;
    let kind = get_i16(&mut k, "record type")?;
    if kind == GROUP_METADATA_TYPE {
        let group = get_string(&mut k, "group")?;
        let stored = value.map(decode_group).transpose()?;
        return Ok(OffsetRecord::Group(group, stored));
    }
    if kind != OFFSET_COMMIT_TYPE && kind != OFFSET_COMMIT_TYPE_V0 {
        return Ok(OffsetRecord::Other(kind));
    }
    let group = get_string(&mut k, "group")?;
    let topic = get_string(&mut k, "topic")?;
    let partition = get_i32(&mut k, "partition")?;
    let key = (group, topic, partition);
    let Some(mut v) = value else {
        return Ok(OffsetRecord::Commit(key, None));
    };
    let version = get_i16(&mut v, "value version")?;
    if !(0..=4).contains(&version) {
        return Err(RecordError::UnknownValueVersion(version));
    }
    let offset = get_i64(&mut v, "offset")?;
    let leader_epoch = if version >= 3 {
        get_i32(&mut v, "leader epoch")?
    } else {
        -1
    };
    // Version 4 writes compact strings (flexible versions); 0-3 plain ones.
    let metadata = if version >= 4 {
        get_compact_string(&mut v, "metadata")?
    } else {
        get_string(&mut v, "metadata")?
    };
    // The coordinator keeps no commit time (nor version 1's expiry time, which follows), but a
    // record cut short before it is damaged.
    get_i64(&mut v, "commit time")?;
    Ok(OffsetRecord::Commit(
        key,
        Some(Committed {
            offset,
            leader_epoch,
            metadata: (!metadata.is_empty()).then_some(metadata),
        }),
    ))
}

fn put_string(b: &mut BytesMut, s: &str) {
    // Group ids, topic names and metadata are bounded far below i16::MAX by the handlers
    // (metadata by `offset_metadata_max_bytes`); a longer one would be cut, never mis-framed.
    let bytes = &s.as_bytes()[..s.len().min(i16::MAX as usize)];
    b.put_i16(bytes.len() as i16);
    b.put_slice(bytes);
}

fn put_nullable_string(b: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_string(b, s),
        None => b.put_i16(-1),
    }
}

fn get_nullable_string(b: &mut &[u8], what: &'static str) -> Result<Option<String>, RecordError> {
    let len = get_i16(b, what)?;
    if len < 0 {
        return Ok(None);
    }
    take_string(b, len as usize, what).map(Some)
}

fn get_bytes(b: &mut &[u8], what: &'static str) -> Result<Bytes, RecordError> {
    let len = get_i32(b, what)?;
    let len = usize::try_from(len).map_err(|_| RecordError::NegativeLength)?;
    if b.len() < len {
        return Err(RecordError::Short(what));
    }
    let out = Bytes::copy_from_slice(&b[..len]);
    b.advance(len);
    Ok(out)
}

fn get_i16(b: &mut &[u8], what: &'static str) -> Result<i16, RecordError> {
    b.try_get_i16().map_err(|_| RecordError::Short(what))
}

fn get_i32(b: &mut &[u8], what: &'static str) -> Result<i32, RecordError> {
    b.try_get_i32().map_err(|_| RecordError::Short(what))
}

fn get_i64(b: &mut &[u8], what: &'static str) -> Result<i64, RecordError> {
    b.try_get_i64().map_err(|_| RecordError::Short(what))
}

fn get_string(b: &mut &[u8], what: &'static str) -> Result<String, RecordError> {
    let len = get_i16(b, what)?;
    take_string(b, usize::try_from(len).unwrap_or(0), what)
}

fn get_compact_string(b: &mut &[u8], what: &'static str) -> Result<String, RecordError> {
    let mut len: u64 = 0;
    for shift in (0..35).step_by(7) {
        let byte = b.try_get_u8().map_err(|_| RecordError::Short(what))?;
        len |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
    }
    take_string(b, len.saturating_sub(1) as usize, what)
}

fn take_string(b: &mut &[u8], len: usize, what: &'static str) -> Result<String, RecordError> {
    if b.len() < len {
        return Err(RecordError::Short(what));
    }
    let (s, rest) = b.split_at(len);
    *b = rest;
    String::from_utf8(s.to_vec()).map_err(|_| RecordError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> OffsetKey {
        ("g".into(), "t".into(), 3)
    }

    #[test]
    fn the_bytes_are_kafkas_layout() {
        // Written out by hand from Kafka's schemas: type 1, "g", "t", partition 3.
        assert_eq!(
            &key_bytes(&key())[..],
            &[0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 3]
        );
        let c = Committed {
            offset: 42,
            leader_epoch: 7,
            metadata: Some("m".into()),
        };
        let mut want = vec![0, 3];
        want.extend_from_slice(&42i64.to_be_bytes());
        want.extend_from_slice(&7i32.to_be_bytes());
        want.extend_from_slice(&[0, 1, b'm']);
        want.extend_from_slice(&1000i64.to_be_bytes());
        assert_eq!(&value_bytes(&c, 1000)[..], &want[..]);
    }

    #[test]
    fn commits_and_tombstones_read_back() {
        let c = Committed {
            offset: 42,
            leader_epoch: 7,
            metadata: None,
        };
        let (k, v) = (key_bytes(&key()), value_bytes(&c, 5));
        assert_eq!(
            decode(Some(&k), Some(&v)),
            Ok(OffsetRecord::Commit(key(), Some(c)))
        );
        assert_eq!(
            decode(Some(&k), None),
            Ok(OffsetRecord::Commit(key(), None))
        );
    }

    #[test]
    fn older_value_versions_and_other_record_types_read() {
        let k = key_bytes(&key());
        // Version 1: offset, metadata, commit time, expiry time; no leader epoch.
        let mut v1 = vec![0, 1];
        v1.extend_from_slice(&9i64.to_be_bytes());
        v1.extend_from_slice(&[0, 2, b'h', b'i']);
        v1.extend_from_slice(&1i64.to_be_bytes());
        v1.extend_from_slice(&2i64.to_be_bytes());
        let want = Committed {
            offset: 9,
            leader_epoch: -1,
            metadata: Some("hi".into()),
        };
        assert_eq!(
            decode(Some(&k), Some(&v1)),
            Ok(OffsetRecord::Commit(key(), Some(want)))
        );
        // A group metadata record (type 2) is a group's; KIP-848's types (3 and up) are not ours.
        assert_eq!(
            decode(Some(&[0, 2, 0, 1, b'g']), None),
            Ok(OffsetRecord::Group("g".into(), None))
        );
        assert_eq!(
            decode(Some(&[0, 3, 0, 1, b'g']), Some(&[0, 0])),
            Ok(OffsetRecord::Other(3))
        );
    }

    #[test]
    fn damaged_records_are_errors_not_panics() {
        let k = key_bytes(&key());
        assert_eq!(decode(None, None), Err(RecordError::NoKey));
        assert!(matches!(
            decode(Some(&k[..5]), None),
            Err(RecordError::Short(_))
        ));
        assert_eq!(
            decode(Some(&k), Some(&[0, 9])),
            Err(RecordError::UnknownValueVersion(9))
        );
        let v = value_bytes(
            &Committed {
                offset: 1,
                leader_epoch: 0,
                metadata: Some("abc".into()),
            },
            0,
        );
        for cut in 0..v.len() {
            assert!(decode(Some(&k), Some(&v[..cut])).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn group_metadata_reads_back_and_a_null_value_deletes_the_group() {
        let g = StoredGroup {
            protocol_type: "consumer".into(),
            generation: 7,
            protocol: Some("range".into()),
            leader: Some("m-1".into()),
            members: vec![StoredMember {
                member_id: "m-1".into(),
                instance_id: None,
                client_id: "rdkafka".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 300_000,
                session_timeout_ms: 45_000,
                subscription: Bytes::from_static(b"sub"),
                assignment: Bytes::from_static(b"assigned"),
            }],
        };
        let key = group_key_bytes("g");
        let value = group_value_bytes(&g, 1_000);
        assert_eq!(
            decode(Some(&key), Some(&value)).unwrap(),
            OffsetRecord::Group("g".into(), Some(g))
        );
        assert_eq!(
            decode(Some(&key), None).unwrap(),
            OffsetRecord::Group("g".into(), None)
        );
        // Cut anywhere, it is refused, never read as something else.
        for cut in 0..value.len() {
            assert!(
                decode(Some(&key), Some(&value[..cut])).is_err(),
                "cut at {cut}"
            );
        }
    }
}
