use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy};
use kafka_protocol::records::{
    Compression, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::*;

const LIMIT: usize = 1 << 20;

/// A message of `magic` at `offset`, as an old client writes it.
fn message(offset: i64, magic: i8, attributes: i8, key: Option<&[u8]>, value: &[u8]) -> BytesMut {
    let mut body = BytesMut::new();
    body.put_i8(magic);
    body.put_i8(attributes);
    if magic == 1 {
        body.put_i64(1_700_000_000_000 + offset);
    }
    body.nullable_bytes(key);
    body.nullable_bytes(Some(value));
    let mut m = BytesMut::new();
    m.put_i64(offset);
    m.put_i32(4 + body.len() as i32);
    m.put_u32(crc32fast::hash(&body));
    m.extend_from_slice(&body);
    m
}

fn plain_set(magic: i8, n: usize) -> BytesMut {
    let mut set = BytesMut::new();
    for i in 0..n {
        let key = format!("k{i}");
        set.extend_from_slice(&message(
            i as i64,
            magic,
            0,
            Some(key.as_bytes()),
            &[b'v'; 50],
        ));
    }
    set
}

fn compressed(codec: Compression, inner: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    let fill = |b: &mut BytesMut| {
        b.extend_from_slice(inner);
        Ok(())
    };
    match codec {
        Compression::Gzip => Gzip::compress(&mut out, fill).unwrap(),
        Compression::Snappy => Snappy::compress(&mut out, fill).unwrap(),
        Compression::Lz4 => Lz4::compress(&mut out, fill).unwrap(),
        _ => unreachable!(),
    }
    out.freeze()
}

#[test]
fn a_plain_set_of_either_magic_becomes_one_v2_batch_with_the_same_records() {
    for magic in [0, 1] {
        let unpacked = unpack(plain_set(magic, 3).freeze(), LIMIT).unwrap();
        assert_eq!(unpacked.codec, Compression::None);
        let batch = to_batch(&unpacked).unwrap();
        strata_record::batch::validate(&batch, usize::MAX).unwrap();
        let set = RecordBatchDecoder::decode(&mut batch.freeze()).unwrap();
        assert_eq!(set.records.len(), 3);
        for (i, r) in set.records.iter().enumerate() {
            assert_eq!(r.offset, i as i64);
            assert_eq!(
                (r.producer_id, r.sequence),
                (-1, i as i32 - 1),
                "no producer id"
            );
            assert_eq!(r.key.as_deref(), Some(format!("k{i}").as_bytes()));
            let expected_ts = if magic == 1 {
                1_700_000_000_000 + i as i64
            } else {
                -1
            };
            assert_eq!(r.timestamp, expected_ts, "magic {magic}");
        }
    }
}

#[test]
fn compressed_wrappers_are_opened_and_the_batch_keeps_their_codec() {
    for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4] {
        let inner = plain_set(1, 5);
        let mut set = message(4, 1, codec as i8, None, &compressed(codec, &inner));
        // A plain message may follow a compressed one in the same set.
        set.extend_from_slice(&message(5, 1, 0, None, b"after"));
        let unpacked = unpack(set.freeze(), LIMIT).unwrap();
        assert_eq!(unpacked.codec, codec);
        assert_eq!(unpacked.messages.len(), 6);
        assert_eq!(unpacked.messages[5].value.as_deref(), Some(&b"after"[..]));
        let batch = to_batch(&unpacked).unwrap();
        let header = strata_record::batch::validate(&batch, usize::MAX).unwrap();
        assert_eq!(header.compression(), codec as i16);
    }
}

#[test]
fn broken_sets_are_refused_with_what_is_wrong() {
    let mut bad_crc = plain_set(1, 2);
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 1;
    assert!(matches!(
        unpack(bad_crc.freeze(), LIMIT),
        Err(MessageSetError::Corrupt { .. })
    ));

    let mut cut = plain_set(1, 2);
    cut.truncate(cut.len() - 3);
    assert!(matches!(
        unpack(cut.freeze(), LIMIT),
        Err(MessageSetError::Corrupt { .. })
    ));

    let magic2 = message(0, 2, 0, None, b"x");
    assert!(matches!(
        unpack(magic2.freeze(), LIMIT),
        Err(MessageSetError::Invalid(_))
    ));

    let codec7 = message(0, 1, 7, None, b"x");
    assert!(matches!(
        unpack(codec7.freeze(), LIMIT),
        Err(MessageSetError::Invalid(_))
    ));

    let inner = message(
        0,
        1,
        Compression::Gzip as i8,
        None,
        &compressed(Compression::Gzip, &plain_set(1, 1)),
    );
    let nested = message(
        0,
        1,
        Compression::Gzip as i8,
        None,
        &compressed(Compression::Gzip, &inner),
    );
    assert!(matches!(
        unpack(nested.freeze(), LIMIT),
        Err(MessageSetError::Invalid(_))
    ));

    let not_gzip = message(0, 1, Compression::Gzip as i8, None, b"not gzip at all");
    assert!(matches!(
        unpack(not_gzip.freeze(), LIMIT),
        Err(MessageSetError::Corrupt { .. })
    ));

    assert!(matches!(
        unpack(Bytes::new(), LIMIT),
        Err(MessageSetError::Invalid(_))
    ));
}

/// Two stored batches, the second compressed, offsets 10..16.
fn stored() -> BytesMut {
    let mut first = to_batch(&unpack(plain_set(1, 3).freeze(), LIMIT).unwrap()).unwrap();
    strata_record::batch::set_base_offset(&mut first, 10);
    let inner = plain_set(1, 4);
    let wrapped = message(
        3,
        1,
        Compression::Lz4 as i8,
        None,
        &compressed(Compression::Lz4, &inner),
    );
    let mut second = to_batch(&unpack(wrapped.freeze(), LIMIT).unwrap()).unwrap();
    strata_record::batch::set_base_offset(&mut second, 13);
    first.extend_from_slice(&second);
    first
}

#[test]
fn stored_batches_read_back_as_plain_messages_of_the_fetch_magic() {
    let batches = stored();
    for magic in [0, 1] {
        let set = from_batches(&batches, magic, 11, usize::MAX, LIMIT).unwrap();
        let mut r = WireReader::new(set.freeze());
        let mut offsets = Vec::new();
        while r.remaining() > 0 {
            offsets.push(r.i64("offset").unwrap());
            let size = r.i32("size").unwrap();
            let body = r.raw(size as usize).unwrap();
            assert_eq!(
                u32::from_be_bytes(body[..4].try_into().unwrap()),
                crc32fast::hash(&body[4..])
            );
            assert_eq!(body[4] as i8, magic);
            assert_eq!(body[5], 0, "plain, CreateTime");
        }
        assert_eq!(offsets, vec![11, 12, 13, 14, 15, 16], "magic {magic}");
    }
    // And what comes back parses as a produced set would.
    let again = unpack(
        from_batches(&batches, 1, 0, usize::MAX, LIMIT)
            .unwrap()
            .freeze(),
        LIMIT,
    )
    .unwrap();
    assert_eq!(again.messages.len(), 7);
    assert_eq!(again.messages[6].key.as_deref(), Some(&b"k3"[..]));
}

#[test]
fn the_fetch_limit_is_kept_but_one_message_always_goes_out() {
    let batches = stored();
    let one = from_batches(&batches, 1, 10, 1, LIMIT).unwrap();
    assert_eq!(unpack(one.freeze(), LIMIT).unwrap().messages.len(), 1);
    let some = from_batches(&batches, 1, 10, 250, LIMIT).unwrap();
    let n = unpack(some.clone().freeze(), LIMIT).unwrap().messages.len();
    assert!(
        some.len() <= 250 && (2..7).contains(&n),
        "{n} messages in {} bytes",
        some.len()
    );
}

#[test]
fn a_partial_last_batch_and_control_records_are_left_out() {
    let mut batches = stored();
    let whole = batches.len();
    batches.truncate(whole - 5);
    let set = from_batches(&batches, 1, 0, usize::MAX, LIMIT).unwrap();
    assert_eq!(unpack(set.freeze(), LIMIT).unwrap().messages.len(), 3);

    let control = Record {
        transactional: true,
        control: true,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: 1,
        producer_epoch: 0,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: 0,
        key: Some(Bytes::from_static(&[0, 0, 0, 0])),
        value: None,
        headers: Default::default(),
    };
    let mut out = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut out, [&control], &options).unwrap();
    assert!(from_batches(&out, 1, 0, usize::MAX, LIMIT)
        .unwrap()
        .is_empty());
}

#[test]
fn magic_0_lz4_frames_with_kafka_1493_header_checksums_are_read() {
    let inner = plain_set(0, 2);
    let mut frame = BytesMut::from(&compressed(Compression::Lz4, &inner)[..]);
    // As Kafka 0.9 wrote it: the checksum over the magic number and the descriptor.
    let flags = frame[4];
    let checksum_at =
        6 + if flags & 0x08 != 0 { 8 } else { 0 } + if flags & 0x01 != 0 { 4 } else { 0 };
    frame[checksum_at] = (xxhash_rust::xxh32::xxh32(&frame[..checksum_at], 0) >> 8) as u8;
    let old = message(1, 0, Compression::Lz4 as i8, None, &frame);
    assert_eq!(unpack(old.freeze(), LIMIT).unwrap().messages.len(), 2);
    // Message format v1 has no such excuse.
    let v1 = message(1, 1, Compression::Lz4 as i8, None, &frame);
    assert!(matches!(
        unpack(v1.freeze(), LIMIT),
        Err(MessageSetError::Corrupt { .. })
    ));
}
