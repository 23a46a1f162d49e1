//! The topics a consumer group's members subscribe to, read from their `consumer` protocol
//! metadata (Kafka's ConsumerProtocolSubscription), for OffsetDelete: offsets of a topic the
//! group consumes may not be deleted under it.

use std::collections::BTreeSet;

use bytes::{Buf, Bytes};
use kafka_protocol::messages::ConsumerProtocolSubscription;
use kafka_protocol::protocol::Decodable;

/// Highest version of the subscription's schema we decode; newer ones only add fields at the
/// end, so they are read as this one (as Kafka's ConsumerProtocol does).
const NEWEST_SUBSCRIPTION_VERSION: i16 = 3;

/// The topics in one member's subscription metadata, or `None` when it does not decode.
pub fn subscribed_topics(metadata: &Bytes) -> Option<BTreeSet<String>> {
    let mut buf = metadata.clone();
    if buf.remaining() < 2 {
        return None;
    }
    let version = buf.get_i16().min(NEWEST_SUBSCRIPTION_VERSION);
    if version < 0 {
        return None;
    }
    let s = ConsumerProtocolSubscription::decode(&mut buf, version).ok()?;
    Some(s.topics.iter().map(|t| t.to_string()).collect())
}
