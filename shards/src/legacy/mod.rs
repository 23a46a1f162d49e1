//! Request versions older than kafka-protocol reads, which Kafka 4 removed (KIP-896) but
//! clients still in use send: Produce v0-v2 and Fetch v0-v3 (message formats v0/v1),
//! ListOffsets v0, OffsetCommit v0-v1 and CreateTopics v0-v1 (kafka-go 0.2.1 from Debian, sarama below Kafka
//! 2.1, librdkafka when it cannot ask ApiVersions). Each is decoded here into the modern request
//! its handler already serves, and the handler's answer is encoded back at the old version, so
//! the handlers, and the log, know one version of everything.

mod create_topics;
mod fetch;
mod list_offsets;
mod message_set;
mod offset_commit;
mod produce;
mod wire;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};

use crate::codec::encode_response as encode_modern;
use crate::error::BrokerError;
use wire::WireReader;

/// What answering an old request needs to remember from it.
#[derive(Debug)]
pub enum Legacy {
    Produce {
        version: i16,
        refused: Vec<produce::Refused>,
    },
    Fetch {
        version: i16,
        reads: fetch::Reads,
    },
    ListOffsets,
    OffsetCommit,
    CreateTopics {
        version: i16,
    },
}

/// The lowest version of `api` served, for the APIs whose old versions are served here.
pub fn lowest_version(api: ApiKey) -> Option<i16> {
    matches!(
        api,
        ApiKey::Produce
            | ApiKey::Fetch
            | ApiKey::ListOffsets
            | ApiKey::OffsetCommit
            | ApiKey::CreateTopics
    )
    .then_some(0)
}

/// Whether this version of `api` is decoded here rather than by kafka-protocol.
pub fn serves(api: ApiKey, version: i16) -> bool {
    lowest_version(api).is_some_and(|low| version >= low && version < api.valid_versions().min)
}

/// Decodes an old request's body into the modern request that serves it, the version to serve it
/// as, and what its answer needs. Compressed records (produced messages, stored batches an old
/// fetch converts) may inflate to at most `max_inflated_bytes`.
pub fn decode(
    api: ApiKey,
    version: i16,
    body: Bytes,
    max_inflated_bytes: usize,
) -> Result<(RequestKind, i16, Legacy), BrokerError> {
    let r = WireReader::new(body);
    let bad = |e: wire::WireError| BrokerError::BadRequest(format!("{api:?} v{version} body: {e}"));
    match api {
        ApiKey::Produce => {
            let (request, refused) = produce::decode(r, max_inflated_bytes).map_err(bad)?;
            // v3 is the modern Produce's lowest; the converted batches are v2 as it expects.
            let legacy = Legacy::Produce { version, refused };
            Ok((RequestKind::Produce(request), 3, legacy))
        }
        ApiKey::Fetch => {
            let (request, reads) = fetch::decode(version, r, max_inflated_bytes).map_err(bad)?;
            let legacy = Legacy::Fetch { version, reads };
            Ok((RequestKind::Fetch(request), fetch::SERVED_AS, legacy))
        }
        ApiKey::ListOffsets => {
            let request = list_offsets::decode(r).map_err(bad)?;
            let served_as = list_offsets::SERVED_AS;
            Ok((
                RequestKind::ListOffsets(request),
                served_as,
                Legacy::ListOffsets,
            ))
        }
        ApiKey::OffsetCommit => {
            let request = offset_commit::decode(version, r).map_err(bad)?;
            let served_as = offset_commit::SERVED_AS;
            Ok((
                RequestKind::OffsetCommit(request),
                served_as,
                Legacy::OffsetCommit,
            ))
        }
        ApiKey::CreateTopics => {
            let request = create_topics::decode(version, r).map_err(bad)?;
            let legacy = Legacy::CreateTopics { version };
            Ok((
                RequestKind::CreateTopics(request),
                create_topics::SERVED_AS,
                legacy,
            ))
        }
        _ => Err(BrokerError::BadRequest(format!(
            "{api:?} v{version} is not an old version served here"
        ))),
    }
}

/// Encodes the handler's answer to an old request, length prefix and header (v0) included.
/// `keeps_format(topic)` says whether a topic refuses down-conversion
/// (`message.downconversion.enable=false`): an old fetch of it gets UNSUPPORTED_VERSION.
pub fn encode_response(
    legacy: &Legacy,
    correlation_id: i32,
    body: &ResponseKind,
    keeps_format: &dyn Fn(&str) -> bool,
) -> Result<Bytes, BrokerError> {
    let mut out = BytesMut::with_capacity(512);
    out.put_i32(0);
    out.put_i32(correlation_id);
    match (legacy, body) {
        (Legacy::Produce { version, refused }, ResponseKind::Produce(r)) => {
            produce::encode(&mut out, *version, r, refused)
        }
        (Legacy::Fetch { version, reads }, ResponseKind::Fetch(r)) => {
            fetch::encode(&mut out, *version, r, reads, keeps_format)
        }
        (Legacy::ListOffsets, ResponseKind::ListOffsets(r)) => list_offsets::encode(&mut out, r),
        (Legacy::OffsetCommit, ResponseKind::OffsetCommit(_)) => {
            return encode_modern(
                ApiKey::OffsetCommit,
                offset_commit::SERVED_AS,
                correlation_id,
                body,
                0,
            )
        }
        (Legacy::CreateTopics { version }, ResponseKind::CreateTopics(r)) => {
            create_topics::encode(&mut out, *version, r)
        }
        (legacy, _) => {
            return Err(BrokerError::BadRequest(format!(
                "the answer to an old request ({legacy:?}) is of another API"
            )))
        }
    }
    let size = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&size.to_be_bytes());
    Ok(out.freeze())
}
