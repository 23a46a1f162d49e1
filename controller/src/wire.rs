//! What controller nodes send each other: first a hello naming the cluster and the sender,
//! then Raft's messages in raft-rs's own protobuf encoding. A connection whose hello names
//! another cluster, or a node that is not a voter, is refused before any message of it is
//! decoded: rust-protobuf 2's decoder (raft 0.7's) can exhaust its stack on crafted input
//! (RUSTSEC-2024-0437), so only peers may reach it. Every size is bounded.

use protobuf::Message as _;
use raft::eraftpb::Message;

/// The most a hello's cluster id may hold.
const MAX_CLUSTER_ID_BYTES: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("a hello of {0} bytes is malformed")]
    BadHello(usize),
    #[error("a peer of cluster {theirs} called cluster {ours}")]
    OtherCluster { ours: String, theirs: String },
    #[error("node {0} is not a voter of this quorum")]
    NotAVoter(i32),
    #[error("a Raft message of {len} bytes is over the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("a Raft message does not decode: {0}")]
    Undecodable(String),
}

/// The first frame on a connection between controller nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub cluster_id: String,
    pub node_id: i32,
}

impl Hello {
    pub fn encode(&self) -> Vec<u8> {
        let id = &self.cluster_id.as_bytes()[..self.cluster_id.len().min(MAX_CLUSTER_ID_BYTES)];
        let mut out = Vec::with_capacity(5 + id.len());
        out.push(id.len() as u8);
        out.extend_from_slice(id);
        out.extend_from_slice(&self.node_id.to_be_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Hello, WireError> {
        let bad = || WireError::BadHello(bytes.len());
        let (&len, rest) = bytes.split_first().ok_or_else(bad)?;
        let len = len as usize;
        if rest.len() != len + 4 {
            return Err(bad());
        }
        let cluster_id = String::from_utf8(rest[..len].to_vec()).map_err(|_| bad())?;
        let node_id = i32::from_be_bytes(rest[len..].try_into().map_err(|_| bad())?);
        Ok(Hello {
            cluster_id,
            node_id,
        })
    }

    /// Whether a peer with this hello may talk to this node of `cluster_id` and `voters`.
    pub fn accept(&self, cluster_id: &str, voters: &[i32]) -> Result<(), WireError> {
        if self.cluster_id != cluster_id {
            return Err(WireError::OtherCluster {
                ours: cluster_id.to_string(),
                theirs: self.cluster_id.clone(),
            });
        }
        if !voters.contains(&self.node_id) {
            return Err(WireError::NotAVoter(self.node_id));
        }
        Ok(())
    }
}

pub fn encode_message(message: &Message) -> Vec<u8> {
    // A message built by raft-rs always encodes.
    message.write_to_bytes().expect("a Raft message encodes")
}

/// A Raft message from a peer that passed its hello; at most `max_bytes` long.
pub fn decode_message(bytes: &[u8], max_bytes: usize) -> Result<Message, WireError> {
    if bytes.len() > max_bytes {
        return Err(WireError::TooLarge {
            len: bytes.len(),
            max: max_bytes,
        });
    }
    Message::parse_from_bytes(bytes).map_err(|e| WireError::Undecodable(e.to_string()))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use raft::eraftpb::{Entry, MessageType};

    use super::*;

    #[test]
    fn messages_read_back_as_they_were_sent() {
        let mut m = Message::default();
        m.set_msg_type(MessageType::MsgAppend);
        m.from = 1;
        m.to = 2;
        m.term = 3;
        m.index = 7;
        m.commit = 6;
        m.entries = vec![Entry {
            term: 3,
            index: 8,
            data: b"{\"v\":1,\"records\":[]}".to_vec().into(),
            ..Default::default()
        }]
        .into();
        let bytes = encode_message(&m);
        assert_eq!(decode_message(&bytes, 1 << 20).unwrap(), m);
        assert!(matches!(
            decode_message(&bytes, 10),
            Err(WireError::TooLarge { max: 10, .. })
        ));
    }

    #[test]
    fn hellos_from_another_cluster_or_a_stranger_are_refused() {
        let hello = Hello {
            cluster_id: "abc".into(),
            node_id: 2,
        };
        assert_eq!(Hello::decode(&hello.encode()).unwrap(), hello);
        assert!(hello.accept("abc", &[0, 1, 2]).is_ok());
        assert!(matches!(
            hello.accept("xyz", &[0, 1, 2]),
            Err(WireError::OtherCluster { .. })
        ));
        assert_eq!(hello.accept("abc", &[0, 1]), Err(WireError::NotAVoter(2)));
        assert!(Hello::decode(&[3, b'a']).is_err());
        assert!(Hello::decode(&[]).is_err());
    }

    proptest! {
        /// Bytes that are not a hello or a message give an error, never a panic.
        #[test]
        fn garbage_is_an_error_not_a_crash(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Hello::decode(&bytes);
            let _ = decode_message(&bytes, 1 << 20);
        }
    }
}
