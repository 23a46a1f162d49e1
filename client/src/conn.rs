//! A pipelined Kafka connection: requests go out as they are given, responses are matched to
//! them in order (Kafka answers a connection's requests in order). Frames can be sent pre-encoded,
//! so that a producer's hot path patches and resends one buffer instead of encoding anew.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use bytes::{BufMut, Bytes, BytesMut};
use futures::channel::oneshot;
use futures::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use strata_runtime::{self as rt, Stream};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connecting to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("connection lost: {0}")]
    Lost(String),
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("{0}")]
    Broker(String),
}

type Waiting = VecDeque<(i32, oneshot::Sender<Result<Bytes, ClientError>>)>;

pub struct Connection {
    /// Held across a send so that frames and their places in `waiting` keep one order.
    writer: futures::lock::Mutex<WriteHalf<Stream>>,
    waiting: Rc<RefCell<Waiting>>,
    next_correlation: std::cell::Cell<i32>,
}

impl Connection {
    pub async fn connect(addr: &str) -> Result<Connection, ClientError> {
        let stream = rt::connect(addr)
            .await
            .map_err(|source| ClientError::Connect {
                addr: addr.to_string(),
                source,
            })?;
        let (reader, writer) = stream.split();
        let waiting: Rc<RefCell<Waiting>> = Rc::default();
        rt::spawn_detached(read_responses(reader, waiting.clone()));
        Ok(Connection {
            writer: futures::lock::Mutex::new(writer),
            waiting,
            next_correlation: std::cell::Cell::new(1),
        })
    }

    pub fn next_correlation(&self) -> i32 {
        let c = self.next_correlation.get();
        self.next_correlation.set(c.wrapping_add(1).max(1));
        c
    }

    /// Encodes a request frame (length prefix included) with the given correlation id.
    pub fn encode<R: Encodable>(
        api: ApiKey,
        version: i16,
        correlation: i32,
        body: &R,
    ) -> Result<BytesMut, ClientError> {
        let header = RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation)
            .with_client_id(Some(StrBytes::from_static_str("strata-bench")));
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        header
            .encode(&mut buf, api.request_header_version(version))
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        body.encode(&mut buf, version)
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let len = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&len.to_be_bytes());
        Ok(buf)
    }

    /// Sends a whole frame whose correlation id is `correlation`; returns the receiver of the
    /// response body (header removed). `expect_response` false for acks=0 produce.
    pub async fn send_frame(
        &self,
        correlation: i32,
        frame: &[u8],
        expect_response: bool,
    ) -> Result<Option<oneshot::Receiver<Result<Bytes, ClientError>>>, ClientError> {
        let mut writer = self.writer.lock().await;
        let rx = if expect_response {
            let (tx, rx) = oneshot::channel();
            self.waiting.borrow_mut().push_back((correlation, tx));
            Some(rx)
        } else {
            None
        };
        writer
            .write_all(frame)
            .await
            .map_err(|e| ClientError::Lost(e.to_string()))?;
        Ok(rx)
    }

    /// Sends a request and waits for its decoded response.
    pub async fn request<R: Encodable>(
        &self,
        api: ApiKey,
        version: i16,
        body: &R,
    ) -> Result<ResponseKind, ClientError> {
        let correlation = self.next_correlation();
        let frame = Self::encode(api, version, correlation, body)?;
        let rx = self
            .send_frame(correlation, &frame, true)
            .await?
            .expect("asked for a response");
        let mut bytes = rx
            .await
            .map_err(|_| ClientError::Lost("connection closed".into()))??;
        strip_header(api, version, &mut bytes)?;
        decode_response(api, version, &mut bytes)
    }
}

pub fn decode_response(
    api: ApiKey,
    version: i16,
    body: &mut Bytes,
) -> Result<ResponseKind, ClientError> {
    ResponseKind::decode(api, body, version)
        .map_err(|e| ClientError::Protocol(format!("{api:?} v{version}: {e}")))
}

async fn read_responses(mut reader: ReadHalf<Stream>, waiting: Rc<RefCell<Waiting>>) {
    let fail = |waiting: &Rc<RefCell<Waiting>>, why: String| {
        for (_, tx) in waiting.borrow_mut().drain(..) {
            let _ = tx.send(Err(ClientError::Lost(why.clone())));
        }
    };
    loop {
        let mut len = [0u8; 4];
        if let Err(e) = reader.read_exact(&mut len).await {
            fail(&waiting, e.to_string());
            return;
        }
        let len = i32::from_be_bytes(len);
        if !(4..=1 << 30).contains(&len) {
            fail(&waiting, format!("bad response length {len}"));
            return;
        }
        let mut frame = BytesMut::zeroed(len as usize);
        if let Err(e) = reader.read_exact(&mut frame).await {
            fail(&waiting, e.to_string());
            return;
        }
        let frame = frame.freeze();
        let Some((correlation, tx)) = waiting.borrow_mut().pop_front() else {
            fail(&waiting, "a response nobody asked for".into());
            return;
        };
        // The correlation id leads every response header; the rest is stripped by the caller,
        // which knows the version.
        let got = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
        if got != correlation {
            let _ = tx.send(Err(ClientError::Protocol(format!(
                "response {got} where {correlation} was due"
            ))));
            fail(&waiting, "responses out of order".into());
            return;
        }
        let _ = tx.send(Ok(frame));
    }
}

/// Removes the response header (v0: correlation id; v1: also tagged fields) from a frame.
pub fn strip_header(api: ApiKey, version: i16, frame: &mut Bytes) -> Result<(), ClientError> {
    ResponseHeader::decode(frame, api.response_header_version(version))
        .map_err(|e| ClientError::Protocol(e.to_string()))?;
    Ok(())
}
