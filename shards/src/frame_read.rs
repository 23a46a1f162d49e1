//! Reading one request frame from a client, within limits that keep one client from holding what
//! others need: the wait for a request's first byte is bounded by `connections_max_idle_ms`, and
//! once it has come the whole frame must arrive within `request_read_timeout_ms`. The shard's
//! byte budget is taken as the body arrives (a megabyte ahead at most), not for the length the
//! frame declares, and the buffer grows the same way: a client that declares 100 MB and trickles
//! holds about a megabyte, and only until its deadline.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::future::Either;
use futures::io::{AsyncRead, AsyncReadExt};
use strata_runtime as rt;

use crate::codec::frame_len;
use crate::connection::ShutdownSignal;
use crate::error::BrokerError;
use strata_runtime::{first, Budget, Taken};

/// Budget taken, and buffer grown, ahead of the bytes read.
const STEP_BYTES: usize = 1 << 20;

/// The limits and budgets a connection reads under.
pub struct FrameLimits<'a> {
    pub max_frame_bytes: usize,
    pub idle: Duration,
    pub read_timeout: Duration,
    /// This connection's requests in flight (one frame never waits on another connection's).
    pub connection_bytes: &'a Budget,
    /// The shard's requests in flight.
    pub shard_bytes: &'a Budget,
}

/// A whole frame (without its length prefix) and the budget it holds until its request is done.
pub struct Frame {
    pub bytes: Bytes,
    pub permits: Vec<Taken>,
    /// When its first byte was read.
    pub first_byte_at: Instant,
}

pub enum FrameRead {
    Frame(Frame),
    /// The client closed the connection between requests.
    Closed,
    Shutdown,
    /// No request began within `connections_max_idle_ms`.
    Idle,
    /// A request began but did not arrive whole within `request_read_timeout_ms`.
    Stalled {
        received: usize,
        declared: Option<usize>,
    },
    /// The length prefix is out of bounds, or the socket failed mid-frame.
    Bad(BrokerError),
}

/// Reads into `buf` once, unless `deadline` passes first: `None` on the deadline.
async fn read_until<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut [u8],
    deadline: Instant,
) -> Option<std::io::Result<usize>> {
    let left = deadline.saturating_duration_since(Instant::now());
    match first(reader.read(buf), rt::sleep(left)).await {
        Either::Left(r) => Some(r),
        Either::Right(()) => None,
    }
}

pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    limits: &FrameLimits<'_>,
    shutdown: &ShutdownSignal,
) -> FrameRead {
    let mut prefix = [0u8; 4];
    let idle_deadline = Instant::now() + limits.idle;
    let n = match first(
        read_until(reader, &mut prefix[..1], idle_deadline),
        shutdown.clone(),
    )
    .await
    {
        Either::Right(_) => return FrameRead::Shutdown,
        Either::Left(None) => return FrameRead::Idle,
        Either::Left(Some(Ok(0))) | Either::Left(Some(Err(_))) => return FrameRead::Closed,
        Either::Left(Some(Ok(n))) => n,
    };
    let first_byte_at = Instant::now();
    let deadline = first_byte_at + limits.read_timeout;
    let mut got = n;
    while got < 4 {
        match read_until(reader, &mut prefix[got..], deadline).await {
            None => {
                return FrameRead::Stalled {
                    received: got,
                    declared: None,
                }
            }
            Some(Ok(0)) => return FrameRead::Closed,
            Some(Err(e)) => return FrameRead::Bad(BrokerError::io("reading a frame", e)),
            Some(Ok(n)) => got += n,
        }
    }
    let len = match frame_len(prefix, limits.max_frame_bytes) {
        Ok(len) => len,
        Err(e) => return FrameRead::Bad(e),
    };
    let mut permits = vec![limits.connection_bytes.take(len as u64).await];
    let mut frame = BytesMut::new();
    let mut budgeted = 0usize;
    while frame.len() < len {
        if frame.len() == budgeted {
            let step = STEP_BYTES.min(len - budgeted);
            permits.push(limits.shard_bytes.take(step as u64).await);
            frame.reserve(step);
            budgeted += step;
        }
        let at = frame.len();
        frame.resize(budgeted, 0);
        let read = read_until(reader, &mut frame[at..], deadline).await;
        match read {
            None => {
                return FrameRead::Stalled {
                    received: at,
                    declared: Some(len),
                }
            }
            Some(Ok(0)) => {
                return FrameRead::Bad(BrokerError::BadRequest(format!(
                    "connection closed after {at} of {len} bytes of a frame"
                )))
            }
            Some(Err(e)) => return FrameRead::Bad(BrokerError::io("reading a frame", e)),
            Some(Ok(n)) => frame.truncate(at + n),
        }
    }
    strata_runtime::timings::record_since(crate::latency::FRAME_READ, first_byte_at);
    FrameRead::Frame(Frame {
        bytes: frame.freeze(),
        permits,
        first_byte_at,
    })
}
