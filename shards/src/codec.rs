//! Kafka frames: a 4-byte big-endian length, then a request header and body (kafka-protocol
//! decodes both). Responses go out the same way, at the version of the request.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable};

use crate::error::BrokerError;
use crate::handlers::api_versions::supported_range;
use crate::legacy::{self, Legacy};

pub struct Request {
    pub header: RequestHeader,
    pub api: ApiKey,
    pub body: RequestKind,
    /// Set for a version older than kafka-protocol reads: `body` is the modern request that
    /// serves it (the header carries that version), and this is how to answer at the old one.
    pub legacy: Option<Legacy>,
}

pub enum Decoded {
    Request(Box<Request>),
    /// ApiVersions at a version we lack: answered at v0 with UNSUPPORTED_VERSION, as Kafka does,
    /// so that the client retries with one we have.
    ApiVersionsTooNew {
        correlation_id: i32,
    },
}

/// Decodes one request frame (without its length prefix). An old-format compressed message in it
/// may inflate to at most `max_inflated_bytes` (the broker's max_frame_bytes).
pub fn decode_request(mut frame: Bytes, max_inflated_bytes: usize) -> Result<Decoded, BrokerError> {
    if frame.len() < 8 {
        return Err(BrokerError::BadRequest(format!(
            "frame of {} bytes is too short for a header",
            frame.len()
        )));
    }
    let api_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let api = ApiKey::try_from(api_key)
        .map_err(|_| BrokerError::BadRequest(format!("unknown API key {api_key}")))?;
    // APIs we do not serve are still decoded, to be answered with an error (handlers::unserved).
    let range = supported_range(api).or_else(|| {
        let v = api.valid_versions();
        crate::handlers::unserved::UNSERVED
            .contains(&api)
            .then_some((v.min, v.max))
    });
    let Some((min, max)) = range else {
        return Err(BrokerError::BadRequest(format!(
            "API {api:?} is not supported"
        )));
    };
    if version < min || version > max {
        if api == ApiKey::ApiVersions && version > max {
            return Ok(Decoded::ApiVersionsTooNew { correlation_id });
        }
        return Err(BrokerError::BadRequest(format!(
            "{api:?} v{version} is not supported (we have v{min} to v{max})"
        )));
    }
    let mut header = RequestHeader::decode(&mut frame, api.request_header_version(version))
        .map_err(|e| BrokerError::BadRequest(format!("{api:?} v{version} header: {e}")))?;
    if legacy::serves(api, version) {
        let (body, served_as, legacy) = legacy::decode(api, version, frame, max_inflated_bytes)?;
        header.request_api_version = served_as;
        let legacy = Some(legacy);
        return Ok(Decoded::Request(Box::new(Request {
            header,
            api,
            body,
            legacy,
        })));
    }
    let body = RequestKind::decode(api, &mut frame, version)
        .map_err(|e| BrokerError::BadRequest(format!("{api:?} v{version} body: {e}")))?;
    Ok(Decoded::Request(Box::new(Request {
        header,
        api,
        body,
        legacy: None,
    })))
}

/// Encodes a response frame, length prefix included. `size_hint` is the expected size (the
/// record bytes of a fetch), so that large responses are not copied as the buffer grows.
pub fn encode_response(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
    size_hint: usize,
) -> Result<Bytes, BrokerError> {
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let fail = |e: anyhow::Error| {
        BrokerError::BadRequest(format!("encoding {api:?} v{version} response: {e}"))
    };
    let mut out = BytesMut::with_capacity(size_hint + 512);
    out.put_i32(0);
    header
        .encode(&mut out, api.response_header_version(version))
        .map_err(fail)?;
    body.encode(&mut out, version).map_err(fail)?;
    let size = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&size.to_be_bytes());
    Ok(out.freeze())
}

/// Reads the length prefix of a frame: the body size, checked against `max_frame_bytes`
/// before anything is allocated.
pub fn frame_len(prefix: [u8; 4], max_frame_bytes: usize) -> Result<usize, BrokerError> {
    let len = i32::from_be_bytes(prefix);
    if len < 8 || len as usize > max_frame_bytes {
        return Err(BrokerError::BadRequest(format!(
            "frame length {len} is outside [8, {max_frame_bytes}]"
        )));
    }
    Ok(len as usize)
}
