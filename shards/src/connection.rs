//! One client connection: frames are read, each request is handled in its own task as soon as it
//! arrives, and the responses are written back in request order (Kafka clients rely on it).
//! Group requests (offset commits and fetches, joins, ...) also run one after another in request
//! order, as Kafka runs all of a connection's requests: a later commit must never be applied
//! before an earlier one.
//! Requests in flight are bounded in count (a bounded queue) and in bytes (per connection and
//! per shard), so a slow client stalls only itself and memory stays bounded.

use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::channel::mpsc;
use futures::future::{FutureExt, LocalBoxFuture, Shared};
use futures::io::{AsyncReadExt, AsyncWriteExt};
use futures::{SinkExt, StreamExt};
use strata_runtime as rt;

use crate::client_log::{ClientLog, ConnectionEvent};
use crate::codec::{decode_request, encode_response, Decoded};
use crate::error::BrokerError;
use crate::frame_read::{read_frame, FrameLimits, FrameRead};
use crate::handlers;
use crate::latency;
use crate::shard::Shard;
use strata_runtime::{Budget, Stream};

/// Completes when the broker is asked to stop.
pub type ShutdownSignal = Shared<futures::channel::oneshot::Receiver<()>>;

/// A request's answer: the response frame (None: no response, acks=0), and when it was ready.
type Answer = (Result<Option<Bytes>, BrokerError>, Instant);

/// A request's answer to come, with the request's stage of `latency::request_total` and its
/// first byte's arrival.
type PendingResponse = (LocalBoxFuture<'static, Answer>, &'static str, Instant);

/// Largest frames one connection may hold in memory at once (one being handled while the next
/// is read): its byte budget is this many `max_frame_bytes`.
const FRAMES_READ_AHEAD_PER_CONNECTION: u64 = 2;

pub async fn serve(
    shard: Rc<Shard>,
    stream: Stream,
    shard_bytes: Budget,
    shutdown: ShutdownSignal,
    client_log: Rc<ClientLog>,
) {
    let peer = stream.peer_addr().ok();
    let (mut reader, mut writer) = stream.split();
    let config = shard.config.clone();
    let (mut queue, mut responses) =
        mpsc::channel::<PendingResponse>(config.max_in_flight_requests_per_connection);
    let connection_bytes =
        Budget::new(config.max_frame_bytes as u64 * FRAMES_READ_AHEAD_PER_CONNECTION);

    let writer_log = client_log.clone();
    let writing = rt::spawn(async move {
        while let Some((pending, total_stage, first_byte_at)) = responses.next().await {
            let (answer, ready_at) = pending.await;
            match answer {
                Ok(Some(frame)) => {
                    let writing = Instant::now();
                    rt::timings::record(latency::RESPONSE_QUEUED, writing - ready_at);
                    if let Err(e) = writer.write_all(&frame).await {
                        tracing::debug!(?peer, "write failed: {e}");
                        break;
                    }
                    let written = Instant::now();
                    rt::timings::record(latency::RESPONSE_WRITE, written - writing);
                    rt::timings::record(total_stage, written - first_byte_at);
                }
                Ok(None) => {}
                Err(e) => {
                    let message = format!("closing connection: {e}");
                    writer_log.event(peer, ConnectionEvent::BadFrame, &message);
                    break;
                }
            }
        }
        let _ = writer.close().await;
    });

    // Completes when the newest group request of this connection has been answered.
    let mut group_lane: Option<Shared<futures::channel::oneshot::Receiver<()>>> = None;
    let limits = FrameLimits {
        max_frame_bytes: config.max_frame_bytes,
        idle: Duration::from_millis(config.connections_max_idle_ms),
        read_timeout: Duration::from_millis(config.request_read_timeout_ms),
        connection_bytes: &connection_bytes,
        shard_bytes: &shard_bytes,
    };
    loop {
        let frame = match read_frame(&mut reader, &limits, &shutdown).await {
            FrameRead::Frame(frame) => frame,
            FrameRead::Closed | FrameRead::Shutdown => break,
            FrameRead::Idle => {
                let message = format!(
                    "closing a connection idle for {} ms (connections_max_idle_ms)",
                    config.connections_max_idle_ms
                );
                client_log.event(peer, ConnectionEvent::Idle, &message);
                break;
            }
            FrameRead::Stalled { received, declared } => {
                let message = format!(
                    "closing a connection whose request did not arrive within {} ms \
                     (request_read_timeout_ms): {received} of {} bytes",
                    config.request_read_timeout_ms,
                    declared.map_or("its length's 4".to_string(), |d| d.to_string())
                );
                client_log.event(peer, ConnectionEvent::Stalled, &message);
                break;
            }
            FrameRead::Bad(e) => {
                let message = format!("bad frame, closing the connection: {e}");
                client_log.event(peer, ConnectionEvent::BadFrame, &message);
                break;
            }
        };
        let decoding = Instant::now();
        let first_byte_at = frame.first_byte_at;
        let decoded = decode_request(frame.bytes, config.max_frame_bytes);
        let decoded_at = Instant::now();
        rt::timings::record(latency::DECODE, decoded_at - decoding);
        let pending = match decoded {
            Ok(decoded) => {
                let api = match &decoded {
                    Decoded::Request(r) => Some(r.api),
                    Decoded::ApiVersionsTooNew { .. } => None,
                };
                let total_stage = latency::request_total(api);
                let handle_stage = latency::request_handle(api);
                let shard = shard.clone();
                let permits = frame.permits;
                // A group request waits for the previous one and says when it is done.
                let (previous, done) = if runs_in_group_order(&decoded) {
                    let (done, next) = futures::channel::oneshot::channel::<()>();
                    (group_lane.replace(next.shared()), Some(done))
                } else {
                    (None, None)
                };
                // Detached: a request runs to its end even if the client goes away, so that no
                // append, flush or sync is cut off half-way; its answer is then dropped.
                let (tx, rx) = futures::channel::oneshot::channel();
                rt::spawn_detached(async move {
                    let _permits = permits;
                    if let Some(previous) = previous {
                        // Err only means the previous task ended: it is done either way.
                        let _ = previous.await;
                    }
                    let answer = respond(&shard, decoded, peer).await;
                    let ready_at = Instant::now();
                    rt::timings::record(handle_stage, ready_at - decoded_at);
                    let _ = tx.send((answer, ready_at));
                    drop(done);
                });
                let answer = async move {
                    rx.await.unwrap_or_else(|_| {
                        (
                            Err(BrokerError::BadRequest(
                                "request task ended without an answer".into(),
                            )),
                            Instant::now(),
                        )
                    })
                }
                .boxed_local();
                (answer, total_stage, first_byte_at)
            }
            Err(e) => {
                // Earlier responses still go out; then the connection closes.
                let message = format!("bad request, closing the connection: {e}");
                client_log.event(peer, ConnectionEvent::BadFrame, &message);
                let answer = futures::future::ready((Err(e), Instant::now())).boxed_local();
                let _ = queue
                    .send((answer, latency::request_total(None), first_byte_at))
                    .await;
                break;
            }
        };
        if queue.send(pending).await.is_err() {
            break;
        }
    }
    drop(queue);
    writing.await;
}

/// Requests that read or change a group's state: run in request order, each after the last.
fn runs_in_group_order(decoded: &Decoded) -> bool {
    use kafka_protocol::messages::ApiKey as K;
    let Decoded::Request(r) = decoded else {
        return false;
    };
    matches!(
        r.api,
        K::OffsetCommit
            | K::OffsetFetch
            | K::OffsetDelete
            | K::TxnOffsetCommit
            | K::JoinGroup
            | K::SyncGroup
            | K::Heartbeat
            | K::LeaveGroup
            | K::DeleteGroups
            | K::DescribeGroups
            | K::ListGroups
    )
}

async fn respond(
    shard: &Shard,
    decoded: Decoded,
    peer: Option<std::net::SocketAddr>,
) -> Result<Option<Bytes>, BrokerError> {
    match decoded {
        Decoded::ApiVersionsTooNew { correlation_id } => {
            let body = handlers::api_versions::unsupported_version();
            encode_response(
                kafka_protocol::messages::ApiKey::ApiVersions,
                0,
                correlation_id,
                &body,
                0,
            )
            .map(Some)
        }
        Decoded::Request(mut request) => {
            let (api, version, correlation_id) = (
                request.api,
                request.header.request_api_version,
                request.header.correlation_id,
            );
            let legacy = request.legacy.take();
            match (handlers::handle(shard, *request, peer).await?, legacy) {
                (Some((body, _)), Some(legacy)) => {
                    let table = shard.topics();
                    let keeps_format = |topic: &str| {
                        table.topics.get(topic).is_some_and(|t| {
                            t.configs
                                .get("message.downconversion.enable")
                                .is_some_and(|v| v == "false")
                        })
                    };
                    crate::legacy::encode_response(&legacy, correlation_id, &body, &keeps_format)
                        .map(Some)
                }
                (Some((body, hint)), None) => {
                    encode_response(api, version, correlation_id, &body, hint).map(Some)
                }
                (None, _) => Ok(None),
            }
        }
    }
}
