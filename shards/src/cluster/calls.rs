//! Calls to the controller, and their answers, as they travel between nodes. Registration and
//! heartbeats are Kafka's own messages (BrokerRegistration, BrokerHeartbeat: KIP-631) in
//! kafka-protocol's encoding; a topic change forwarded to the controller and a metadata fetch
//! (for brokers that run no controller) are ours, in JSON. A leader's change of a partition's
//! in-sync replicas is Kafka's AlterPartition (56).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::future::Either;
use kafka_protocol::messages::{
    AllocateProducerIdsRequest, AllocateProducerIdsResponse, AlterPartitionRequest,
    AlterPartitionResponse, BrokerHeartbeatRequest, BrokerHeartbeatResponse,
    BrokerRegistrationRequest, BrokerRegistrationResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable};
use serde::{Deserialize, Serialize};
use strata_controller::wire::Hello;
use strata_controller::MetadataImage;
use strata_runtime::{self as rt, first};

use super::frames::{self, FrameError};
use crate::router::{AdminOp, AdminResult};

const REGISTER: u8 = 62;
const HEARTBEAT: u8 = 63;
const ALLOCATE_PRODUCER_IDS: u8 = 67;
const ALTER_PARTITION: u8 = 56;
/// Private to Strata, like Raft's messages: never on a client's connection.
const ADMIN: u8 = 200;
const FETCH_IMAGE: u8 = 201;
/// The versions of Kafka's messages this cluster speaks between its nodes.
const REGISTER_VERSION: i16 = 0;
const HEARTBEAT_VERSION: i16 = 0;
const ALLOCATE_VERSION: i16 = 0;
/// The first version that names topics by id, as the metadata does.
const ALTER_PARTITION_VERSION: i16 = 2;

pub enum Call {
    Register(BrokerRegistrationRequest),
    Heartbeat(BrokerHeartbeatRequest),
    AllocateProducerIds(AllocateProducerIdsRequest),
    AlterPartition(AlterPartitionRequest),
    Admin(AdminOp),
    /// The image, if the answering node has applied past `since`.
    FetchImage {
        since: u64,
    },
}

pub enum Answer {
    Register(BrokerRegistrationResponse),
    Heartbeat(BrokerHeartbeatResponse),
    AllocateProducerIds(AllocateProducerIdsResponse),
    AlterPartition(AlterPartitionResponse),
    Admin(AdminAnswer),
    Image(ImageAnswer),
}

#[derive(Debug, Serialize, Deserialize)]
pub enum AdminAnswer {
    /// The outcomes, and the metadata entry that holds the change (0: nothing changed).
    Done {
        outcomes: AdminResult,
        index: u64,
    },
    NotController {
        leader: Option<i32>,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ImageAnswer {
    pub controller: i32,
    pub image: Option<MetadataImage>,
}

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: String, reason: String },
    #[error("no answer from {0} in time")]
    TimedOut(String),
    #[error("the peer closed the connection before answering")]
    Closed,
    #[error("a call or answer does not decode: {0}")]
    Undecodable(String),
}

fn undecodable(e: impl std::fmt::Display) -> CallError {
    CallError::Undecodable(e.to_string())
}

fn kafka_bytes<T: Encodable>(api: u8, message: &T, version: i16) -> Vec<u8> {
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&[api]);
    message
        .encode(&mut buf, version)
        .expect("our own messages encode at the version we chose");
    buf.to_vec()
}

fn json_bytes<T: Serialize>(api: u8, value: &T) -> Vec<u8> {
    let mut out = vec![api];
    out.extend(serde_json::to_vec(value).expect("our own values serialize"));
    out
}

impl Call {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Call::Register(r) => kafka_bytes(REGISTER, r, REGISTER_VERSION),
            Call::Heartbeat(h) => kafka_bytes(HEARTBEAT, h, HEARTBEAT_VERSION),
            Call::AllocateProducerIds(a) => kafka_bytes(ALLOCATE_PRODUCER_IDS, a, ALLOCATE_VERSION),
            Call::AlterPartition(a) => kafka_bytes(ALTER_PARTITION, a, ALTER_PARTITION_VERSION),
            Call::Admin(op) => json_bytes(ADMIN, op),
            Call::FetchImage { since } => json_bytes(FETCH_IMAGE, since),
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<Call, CallError> {
        let (&api, body) = bytes
            .split_first()
            .ok_or(CallError::Undecodable("empty".into()))?;
        let mut buf = Bytes::copy_from_slice(body);
        Ok(match api {
            REGISTER => Call::Register(
                BrokerRegistrationRequest::decode(&mut buf, REGISTER_VERSION)
                    .map_err(undecodable)?,
            ),
            HEARTBEAT => Call::Heartbeat(
                BrokerHeartbeatRequest::decode(&mut buf, HEARTBEAT_VERSION).map_err(undecodable)?,
            ),
            ALLOCATE_PRODUCER_IDS => Call::AllocateProducerIds(
                AllocateProducerIdsRequest::decode(&mut buf, ALLOCATE_VERSION)
                    .map_err(undecodable)?,
            ),
            ALTER_PARTITION => Call::AlterPartition(
                AlterPartitionRequest::decode(&mut buf, ALTER_PARTITION_VERSION)
                    .map_err(undecodable)?,
            ),
            ADMIN => Call::Admin(serde_json::from_slice(body).map_err(undecodable)?),
            FETCH_IMAGE => Call::FetchImage {
                since: serde_json::from_slice(body).map_err(undecodable)?,
            },
            other => return Err(CallError::Undecodable(format!("call kind {other}"))),
        })
    }

    fn api(&self) -> u8 {
        match self {
            Call::Register(_) => REGISTER,
            Call::Heartbeat(_) => HEARTBEAT,
            Call::AllocateProducerIds(_) => ALLOCATE_PRODUCER_IDS,
            Call::AlterPartition(_) => ALTER_PARTITION,
            Call::Admin(_) => ADMIN,
            Call::FetchImage { .. } => FETCH_IMAGE,
        }
    }
}

impl Answer {
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = match self {
            Answer::Register(r) => kafka_bytes(REGISTER, r, REGISTER_VERSION),
            Answer::Heartbeat(h) => kafka_bytes(HEARTBEAT, h, HEARTBEAT_VERSION),
            Answer::AllocateProducerIds(a) => {
                kafka_bytes(ALLOCATE_PRODUCER_IDS, a, ALLOCATE_VERSION)
            }
            Answer::AlterPartition(a) => kafka_bytes(ALTER_PARTITION, a, ALTER_PARTITION_VERSION),
            Answer::Admin(a) => json_bytes(ADMIN, a),
            Answer::Image(i) => json_bytes(FETCH_IMAGE, i),
        };
        bytes.remove(0);
        bytes
    }

    fn decode(api: u8, body: &[u8]) -> Result<Answer, CallError> {
        let mut buf = Bytes::copy_from_slice(body);
        Ok(match api {
            REGISTER => Answer::Register(
                BrokerRegistrationResponse::decode(&mut buf, REGISTER_VERSION)
                    .map_err(undecodable)?,
            ),
            HEARTBEAT => Answer::Heartbeat(
                BrokerHeartbeatResponse::decode(&mut buf, HEARTBEAT_VERSION)
                    .map_err(undecodable)?,
            ),
            ALLOCATE_PRODUCER_IDS => Answer::AllocateProducerIds(
                AllocateProducerIdsResponse::decode(&mut buf, ALLOCATE_VERSION)
                    .map_err(undecodable)?,
            ),
            ALTER_PARTITION => Answer::AlterPartition(
                AlterPartitionResponse::decode(&mut buf, ALTER_PARTITION_VERSION)
                    .map_err(undecodable)?,
            ),
            ADMIN => Answer::Admin(serde_json::from_slice(body).map_err(undecodable)?),
            _ => Answer::Image(serde_json::from_slice(body).map_err(undecodable)?),
        })
    }
}

/// Makes one call to the node at `addr` on a connection of its own.
pub async fn call(
    addr: &str,
    hello: &Hello,
    call: &Call,
    timeout: Duration,
    max_bytes: usize,
) -> Result<Answer, CallError> {
    let exchange = async {
        let mut stream = rt::connect(addr).await.map_err(|e| CallError::Connect {
            addr: addr.to_string(),
            reason: e.to_string(),
        })?;
        frames::write(&mut stream, frames::HELLO, &hello.encode()).await?;
        frames::write(&mut stream, frames::CALL, &call.encode()).await?;
        match frames::read(&mut stream, max_bytes).await? {
            Some((frames::ANSWER, body)) => Answer::decode(call.api(), &body),
            Some((kind, _)) => Err(CallError::Undecodable(format!("frame kind {kind}"))),
            None => Err(CallError::Closed),
        }
    };
    match first(exchange, rt::sleep(timeout)).await {
        Either::Left(r) => r,
        Either::Right(()) => Err(CallError::TimedOut(addr.to_string())),
    }
}
