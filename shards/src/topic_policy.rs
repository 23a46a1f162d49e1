//! What a topic's configs ask of a produce before its batches reach the log: compacted topics
//! refuse records without a key (Kafka's INVALID_RECORD), and `compression.type` other than
//! `producer` has the broker store batches in that codec, recompressing those that came in
//! another, as Kafka does. Topics with neither (the default) pass their batches through untouched.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{Compression, RecordBatchEncoder, RecordEncodeOptions};
use strata_record::batch;

use crate::inflate::decode_batch;
use crate::topics::TopicSpec;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TopicPolicy {
    /// `cleanup.policy` includes `compact`: every record needs a key.
    pub keys_required: bool,
    /// The codec batches are stored in; None keeps the producer's.
    pub store_as: Option<Compression>,
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("compacted topic cannot accept a record without a key (offset delta {0} of a batch)")]
    MissingKey(i64),
    #[error("records do not decode: {0}")]
    Undecodable(String),
    #[error("records could not be encoded again: {0}")]
    Unencodable(String),
}

impl TopicPolicy {
    pub fn of(spec: &TopicSpec) -> TopicPolicy {
        let keys_required = spec
            .configs
            .get("cleanup.policy")
            .is_some_and(|p| p.split(',').any(|item| item.trim() == "compact"));
        let store_as = match spec.configs.get("compression.type").map(|c| c.trim()) {
            Some("uncompressed") => Some(Compression::None),
            Some("gzip") => Some(Compression::Gzip),
            Some("snappy") => Some(Compression::Snappy),
            Some("lz4") => Some(Compression::Lz4),
            Some("zstd") => Some(Compression::Zstd),
            _ => None,
        };
        TopicPolicy {
            keys_required,
            store_as,
        }
    }

    pub fn passes_through(&self) -> bool {
        *self == TopicPolicy::default()
    }

    /// The batches to append: `records` itself when nothing is to be done, else checked and
    /// (where the codec differs) encoded again. Batches that fail their own checks are passed on
    /// untouched, for the log to refuse them with its precise error. Compressed records may
    /// inflate to at most `max_inflated_bytes`.
    pub fn apply(
        &self,
        records: Bytes,
        max_inflated_bytes: usize,
    ) -> Result<BytesMut, PolicyError> {
        if self.passes_through() {
            return Ok(BytesMut::from(&records[..]));
        }
        let mut out = BytesMut::with_capacity(records.len());
        let mut pos = 0;
        while pos < records.len() {
            let Ok(header) = batch::validate(&records[pos..], usize::MAX) else {
                out.extend_from_slice(&records[pos..]);
                break;
            };
            let one = records.slice(pos..pos + header.size_bytes);
            pos += header.size_bytes;
            let codec_differs = self
                .store_as
                .is_some_and(|c| c as i16 != header.compression());
            if !self.keys_required && !codec_differs {
                out.extend_from_slice(&one);
                continue;
            }
            let set = decode_batch(&mut one.clone(), max_inflated_bytes)
                .map_err(|e| PolicyError::Undecodable(e.to_string()))?;
            if self.keys_required {
                if let Some(r) = set.records.iter().find(|r| r.key.is_none()) {
                    return Err(PolicyError::MissingKey(r.offset - header.base_offset));
                }
            }
            match self.store_as {
                Some(compression) if codec_differs => {
                    let options = RecordEncodeOptions {
                        version: 2,
                        compression,
                    };
                    RecordBatchEncoder::encode(&mut out, &set.records, &options)
                        .map_err(|e| PolicyError::Unencodable(e.to_string()))?;
                }
                _ => out.extend_from_slice(&one),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plain_batch::{self, PlainRecord};
    use kafka_protocol::records::RecordBatchDecoder;
    use std::collections::BTreeMap;

    fn spec(configs: &[(&str, &str)]) -> TopicSpec {
        TopicSpec {
            name: "t".into(),
            partitions: 1,
            topic_id: uuid::Uuid::nil(),
            configs: configs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            places: Vec::new(),
            replication_factor: 1,
        }
    }

    fn batch_of(keys: &[Option<&'static [u8]>], compression: Compression) -> Bytes {
        let records = keys.iter().enumerate().map(|(i, k)| PlainRecord {
            timestamp: 1_000 + i as i64,
            key: k.map(Bytes::from_static),
            value: Some(Bytes::from(vec![b'v'; 200])),
        });
        plain_batch::encode(records, compression).unwrap().freeze()
    }

    #[test]
    fn the_default_policy_passes_batches_through_untouched() {
        let b = batch_of(&[None, None], Compression::Lz4);
        let p = TopicPolicy::of(&spec(&[("retention.ms", "1000")]));
        assert!(p.passes_through());
        assert_eq!(&p.apply(b.clone(), usize::MAX).unwrap()[..], &b[..]);
    }

    #[test]
    fn compacted_topics_refuse_records_without_a_key() {
        let p = TopicPolicy::of(&spec(&[("cleanup.policy", "compact,delete")]));
        let keyed = batch_of(&[Some(b"a"), Some(b"b")], Compression::Gzip);
        assert_eq!(&p.apply(keyed.clone(), usize::MAX).unwrap()[..], &keyed[..]);
        let one_missing = batch_of(&[Some(b"a"), None], Compression::None);
        assert!(matches!(
            p.apply(one_missing, usize::MAX),
            Err(PolicyError::MissingKey(1))
        ));
    }

    #[test]
    fn batches_in_another_codec_are_stored_in_the_topics_and_read_back_the_same() {
        let p = TopicPolicy::of(&spec(&[("compression.type", "zstd")]));
        let sent = batch_of(&[Some(b"a"), None, Some(b"c")], Compression::None);
        let stored = p.apply(sent.clone(), usize::MAX).unwrap().freeze();
        let header = batch::validate(&stored, usize::MAX).unwrap();
        assert_eq!(header.compression(), Compression::Zstd as i16);
        assert_eq!((header.records_count, header.base_sequence), (3, -1));
        assert!(stored.len() < sent.len());
        let back = RecordBatchDecoder::decode(&mut stored.clone()).unwrap();
        let before = RecordBatchDecoder::decode(&mut sent.clone()).unwrap();
        assert_eq!(back.records, before.records);
        // Already in the topic's codec: untouched.
        assert_eq!(
            &p.apply(stored.clone(), usize::MAX).unwrap()[..],
            &stored[..]
        );
    }
}
