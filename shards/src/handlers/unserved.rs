//! APIs that Kafka has and we do not serve yet (SASL). They are not
//! advertised, but a client that sends one anyway gets a response with UNSUPPORTED_VERSION, as
//! Kafka answers an API it has disabled, rather than a dropped connection.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::*;

/// APIs answered with an error; any version kafka-protocol can decode.
pub const UNSERVED: &[ApiKey] = &[ApiKey::SaslHandshake];

pub fn answer(request: RequestKind) -> Option<ResponseKind> {
    let code = ResponseError::UnsupportedVersion.code();
    Some(match request {
        RequestKind::SaslHandshake(_) => {
            ResponseKind::SaslHandshake(SaslHandshakeResponse::default().with_error_code(code))
        }
        _ => return None,
    })
}
