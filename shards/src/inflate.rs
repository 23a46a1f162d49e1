//! Decompressing records within a bound: a batch (or an old-format wrapper message) of a few
//! KiB that inflates to gigabytes is refused once it passes the bound, before it is all in
//! memory. Gzip, LZ4 and zstd are read as streams and cut at the bound; snappy says each block's
//! size before it is decompressed. kafka-protocol's own decompressors have no bound, so every
//! decode of compressed records in the broker goes through `decode_batch` or `inflate`.

use std::io::Read;

use bytes::Bytes;
use kafka_protocol::records::{Compression, RecordBatchDecoder, RecordSet};

/// snappy-java's stream header ("\x82SNAPPY\0", then two version ints), which Kafka's clients
/// put before the blocks of a snappy message set.
const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_BYTES: usize = 16;

/// The decompressed bytes, or why not (the bound is in the message).
pub fn inflate(compressed: &[u8], codec: Compression, limit: usize) -> Result<Bytes, String> {
    match codec {
        Compression::Gzip => read_bounded(flate2::read::GzDecoder::new(compressed), limit),
        Compression::Lz4 => {
            let decoder = lz4::Decoder::new(compressed).map_err(|e| format!("lz4: {e}"))?;
            read_bounded(decoder, limit)
        }
        Compression::Snappy => snappy(compressed, limit),
        Compression::Zstd => {
            let decoder =
                zstd::stream::read::Decoder::new(compressed).map_err(|e| format!("zstd: {e}"))?;
            read_bounded(decoder, limit)
        }
        Compression::None if compressed.len() > limit => Err(too_large(limit)),
        Compression::None => Ok(Bytes::copy_from_slice(compressed)),
    }
}

/// One v2 batch's records, its compressed ones inflated to at most `limit` bytes.
pub fn decode_batch(batch: &mut Bytes, limit: usize) -> anyhow::Result<RecordSet> {
    let bounded = |records: &mut Bytes, codec: Compression| -> anyhow::Result<Bytes> {
        if codec == Compression::None {
            return Ok(records.clone());
        }
        inflate(records, codec, limit).map_err(|e| anyhow::anyhow!(e))
    };
    RecordBatchDecoder::decode_with_custom_compression(batch, Some(bounded))
}

fn too_large(limit: usize) -> String {
    format!("decompresses to more than {limit} bytes (max_frame_bytes)")
}

fn read_bounded(reader: impl Read, limit: usize) -> Result<Bytes, String> {
    let mut out = Vec::new();
    reader
        .take((limit as u64).saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    if out.len() > limit {
        return Err(too_large(limit));
    }
    Ok(out.into())
}

fn snappy(compressed: &[u8], limit: usize) -> Result<Bytes, String> {
    let raw = |block: &[u8], out: &mut Vec<u8>| -> Result<(), String> {
        let len = snap::raw::decompress_len(block).map_err(|e| format!("snappy: {e}"))?;
        if len > limit.saturating_sub(out.len()) {
            return Err(too_large(limit));
        }
        let at = out.len();
        out.resize(at + len, 0);
        snap::raw::Decoder::new()
            .decompress(block, &mut out[at..])
            .map_err(|e| format!("snappy: {e}"))?;
        Ok(())
    };
    let mut out = Vec::new();
    if !compressed.starts_with(XERIAL_MAGIC) {
        raw(compressed, &mut out)?;
        return Ok(out.into());
    }
    let mut rest = compressed.get(XERIAL_HEADER_BYTES..).unwrap_or_default();
    while !rest.is_empty() {
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return Err("snappy: a block length cut short".into());
        };
        let len = u32::from_be_bytes(*len) as usize;
        if len > tail.len() {
            return Err(format!(
                "snappy: a block of {len} bytes, {} left",
                tail.len()
            ));
        }
        raw(&tail[..len], &mut out)?;
        rest = &tail[len..];
    }
    Ok(out.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};
    use kafka_protocol::records::{Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};

    fn compress(codec: Compression, data: &[u8]) -> Bytes {
        let mut out = BytesMut::new();
        let fill = |b: &mut BytesMut| {
            b.extend_from_slice(data);
            Ok(())
        };
        match codec {
            Compression::Gzip => Gzip::compress(&mut out, fill).unwrap(),
            Compression::Snappy => Snappy::compress(&mut out, fill).unwrap(),
            Compression::Lz4 => Lz4::compress(&mut out, fill).unwrap(),
            Compression::Zstd => Zstd::compress(&mut out, fill).unwrap(),
            _ => unreachable!(),
        }
        out.freeze()
    }

    #[test]
    fn what_fits_the_bound_comes_back_whole_and_what_does_not_is_refused() {
        // 4 MiB of zeros compress to a few KiB in every codec.
        let zeros = vec![0u8; 4 << 20];
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let small = compress(codec, &zeros);
            assert!(small.len() < 256 << 10, "{codec:?}: {}", small.len());
            assert_eq!(
                inflate(&small, codec, 4 << 20).unwrap().len(),
                4 << 20,
                "{codec:?}"
            );
            let refused = inflate(&small, codec, 1 << 20).unwrap_err();
            assert!(
                refused.contains("more than 1048576 bytes"),
                "{codec:?}: {refused}"
            );
        }
        assert!(inflate(b"not compressed", Compression::Gzip, 1 << 20).is_err());
        let raw = snap::raw::Encoder::new().compress_vec(&zeros).unwrap();
        assert_eq!(
            inflate(&raw, Compression::Snappy, 4 << 20).unwrap().len(),
            4 << 20
        );
    }

    #[test]
    fn a_batch_whose_records_inflate_past_the_bound_does_not_decode() {
        let record = Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: 0,
            sequence: -1,
            timestamp: 1,
            key: None,
            value: Some(Bytes::from(vec![0u8; 2 << 20])),
            headers: Default::default(),
        };
        for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let mut batch = BytesMut::new();
            let options = RecordEncodeOptions {
                version: 2,
                compression,
            };
            RecordBatchEncoder::encode(&mut batch, [&record], &options).unwrap();
            let batch = batch.freeze();
            let set = decode_batch(&mut batch.clone(), 4 << 20).unwrap();
            assert_eq!(set.records[0].value.as_ref().unwrap().len(), 2 << 20);
            if compression != Compression::None {
                let refused = decode_batch(&mut batch.clone(), 1 << 20).unwrap_err();
                assert!(
                    refused.to_string().contains("more than"),
                    "{compression:?}: {refused}"
                );
            }
        }
    }
}
